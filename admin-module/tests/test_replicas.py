"""Две реплики admin на одной БД: одновременный старт без дублей, фоновые задачи — ровно у одного лидера."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AsyncExitStack

from sqlalchemy import text

from admin_module.settings import Settings
from artstore_common import session_scope

from .conftest import FakeElement, running


async def test_two_instances_run_jobs_once(make_settings: Callable[..., Settings], fake_element: FakeElement) -> None:
    settings = make_settings(poll_interval_seconds=0.2)
    async with AsyncExitStack() as stack:
        # одновременный старт: миграции и начальные данные под advisory-lock
        first, second = await asyncio.gather(*(stack.enter_async_context(running(settings)) for _ in range(2)))
        maker = first.app.state.sessionmaker
        async with session_scope(maker) as s:
            counts = (await s.execute(text(
                "SELECT (SELECT count(*) FROM service_accounts), (SELECT count(*) FROM admin_users), "
                "(SELECT count(*) FROM jwt_keys WHERE status = 'active'), "
                "(SELECT count(*) FROM jwt_keys WHERE status = 'next')"))).one()
        assert tuple(counts) == (1, 1, 1, 1)

        auth = await first.headers()
        r = await second.client.post("/api/v1/storage-elements", json={"api_url": fake_element.url}, headers=auth)
        assert r.status_code == 201  # токен одной реплики принимает другая

        await asyncio.sleep(0.5)
        for name in ("key-rotation", "registry-poll"):
            leaders = [a.app.state.jobs[name].is_leader for a in (first, second)]
            assert sorted(leaders) == [False, True], (name, leaders)
        polls_before = [a.app.state.jobs["registry-poll"].runs for a in (first, second)]
        hits_before = fake_element.info_hits
        await asyncio.sleep(1.0)
        polls = [a.app.state.jobs["registry-poll"].runs - b for a, b in zip((first, second), polls_before, strict=True)]
        hits = fake_element.info_hits - hits_before
        # опрашивает только лидер: у второй реплики — ни одного опроса (без порогов по времени: под нагрузкой
        # число опросов за секунду плавает, а «ровно один опрашивающий» от нагрузки не зависит)
        assert min(polls) == 0 and max(polls) >= 1, polls
        assert max(polls) <= hits <= max(polls) + 1, (hits, polls)

        # лидер ушёл — задачу подхватывает другая реплика
        leader = first if first.app.state.jobs["registry-poll"].is_leader else second
        follower = second if leader is first else first
        for job in leader.app.state.jobs.values():
            await job.stop()
        for _ in range(60):
            if follower.app.state.jobs["registry-poll"].is_leader:
                break
            await asyncio.sleep(0.1)
        assert follower.app.state.jobs["registry-poll"].is_leader
