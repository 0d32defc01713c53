"""Сроки хранения: предупреждение один раз, удаление истёкших временных только на edit, постоянные — никогда."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis

from storage_element.retention import run_retention

from .conftest import put, running


def _iso(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


async def _events(redis_url: str, ns: str) -> list[dict]:
    r = aioredis.from_url(redis_url)
    try:
        return [json.loads(f[b"event"]) for _, f in await r.xrange(f"{ns}:events")]
    finally:
        await r.aclose()


async def test_retention_job(make_settings, admin, redis_url, redis_namespace) -> None:
    async with running(make_settings(mode="edit", expiring_notice_days=7, retention_days=365)) as (app, c):
        soon = (await put(c, admin, b"soon", retention_policy="temporary", expires_at=_iso(2))).json()
        gone = (await put(c, admin, b"gone", retention_policy="temporary", expires_at=_iso(-1))).json()
        perm = (await put(c, admin, b"perm", retention_policy="permanent", expires_at=_iso(-1))).json()
        later = (await put(c, admin, b"later", retention_policy="temporary", ttl_days=30)).json()
        auto = (await put(c, admin, b"auto", retention_policy="permanent")).json()
        assert auto["expires_at"][:4] == str(datetime.now(UTC).year + 1)
        el = app.state.element
        first = await run_retention(el)
        second = await run_retention(el)
        assert first["expired"] == 1 and second["notified"] == 0 and second["expired"] == 0
        assert (await c.get(f"/api/v1/files/{gone['file_id']}", headers=admin)).status_code == 404
        assert (await c.get(f"/api/v1/files/{perm['file_id']}", headers=admin)).status_code == 200
        assert (await c.get(f"/api/v1/files/{soon['file_id']}", headers=admin)).status_code == 200
        assert (await c.get(f"/api/v1/files/{later['file_id']}", headers=admin)).status_code == 200
        assert "artstore_retention_expired_total 1.0" in (await c.get("/metrics")).text
    events = await _events(redis_url, redis_namespace)
    expiring = sorted(e["data"]["file_id"] for e in events if e["type"] == "file_expiring")
    assert expiring == sorted([soon["file_id"], gone["file_id"], perm["file_id"]])
    soon_ev = next(e for e in events if e["type"] == "file_expiring" and e["data"]["file_id"] == soon["file_id"])
    assert soon_ev["data"]["days_left"] in (1, 2) and soon_ev["data"]["owner_id"] == "u-1"
    assert [e["data"]["file_id"] for e in events if e["type"] == "file_expired"] == [gone["file_id"]]
    # удаляет сам элемент по сроку: в журнале аудита — система, а не чей-то токен
    assert {json.dumps(e["actor"], sort_keys=True) for e in events if e["type"] == "file_expired"} == {
        '{"id": null, "name": "storage-element se-t1", "type": "system"}'}


async def test_no_removal_outside_edit(make_settings, admin, redis_url, redis_namespace) -> None:
    async with running(make_settings(mode="rw")) as (app, c):
        f = (await put(c, admin, b"tmp on rw", retention_policy="temporary", expires_at=_iso(-1))).json()
        result = await run_retention(app.state.element)
        assert result["expired"] == 0
        assert (await c.get(f"/api/v1/files/{f['file_id']}", headers=admin)).status_code == 200


async def test_events_wait_in_postgres_while_redis_is_down(make_settings, admin, tmp_path, redis_namespace) -> None:
    """Redis лежит, а срок файла истёк: элемент удаляет файл, и события file_expiring/file_expired ждут в
    outbox PostgreSQL, пока Redis не вернётся, — вебхук и сброс кэшей query не теряются."""
    from artstore_common.testing import KillableRedis

    server = KillableRedis(tmp_path / "redis").start()
    try:
        async with running(make_settings(mode="edit", redis_url=server.url)) as (app, c):
            gone = (await put(c, admin, b"gone", retention_policy="temporary", expires_at=_iso(-1))).json()
            server.kill()
            assert (await run_retention(app.state.element))["expired"] == 1
            assert (await c.get(f"/api/v1/files/{gone['file_id']}", headers=admin)).status_code == 404
            check: dict = {}
            for _ in range(100):
                check = (await c.get("/health/ready")).json()["checks"]["event_outbox"]
                if check["status"] == "degraded":
                    break
                await asyncio.sleep(0.1)
            assert check["status"] == "degraded" and "2 ждут в PostgreSQL" in check["detail"], check
            server.start()
            types: list[str] = []
            for _ in range(200):  # ретранслятор повторяет перенос с паузой до 5 с
                types = [e["type"] for e in await _events(server.url, redis_namespace)
                         if e["data"]["file_id"] == gone["file_id"]]
                if "file_expired" in types:
                    break
                await asyncio.sleep(0.1)
            assert types == ["file_expiring", "file_expired"], types
    finally:
        server.kill()
