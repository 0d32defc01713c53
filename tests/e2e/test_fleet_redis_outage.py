"""Ни одно событие не теряется, пока Redis лежит (issue 16): флот на своём redis-server, kill -9 посреди
200 загрузок и 50 удалений, подъём — каждый вебхук доставлен, каждое событие — в журнале аудита, удалённые
файлы query не отдаёт."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from artstore_common.testing import KillableRedis, create_database, drop_database

from .conftest import Hooks, RunningFleet, start_fleet, stop_fleet

pytestmark = pytest.mark.e2e

ADMIN, INGESTER, QUERY = "http://127.0.0.1:8000", "http://127.0.0.1:8020", "http://127.0.0.1:8030"


@pytest.fixture(scope="module")
def outage(tmp_path_factory: pytest.TempPathFactory, pg_admin_url: str) -> Iterator[tuple[RunningFleet, KillableRedis]]:
    redis = KillableRedis(tmp_path_factory.mktemp("redis-outage")).start()
    name, db_url = create_database(pg_admin_url)
    data: Path = tmp_path_factory.mktemp("fleet-outage")
    try:
        fleet = start_fleet(data, {"ARTSTORE_DATABASE_URL": db_url, "ARTSTORE_REDIS_URL": redis.url,
                                   "ARTSTORE_REDIS_NAMESPACE": f"e2e-outage-{name}"})
        try:
            yield fleet, redis
        finally:
            stop_fleet(fleet)
    finally:
        redis.kill()
        drop_database(pg_admin_url, name)


def test_no_event_lost_while_redis_is_down(outage: tuple[RunningFleet, KillableRedis]) -> None:
    fleet, redis = outage
    hooks = Hooks()
    auth = {"Authorization": f"Bearer {fleet.token()}"}
    hooks.subscribe(fleet, ["file_uploaded", "file_deleted"])
    http = httpx.Client(timeout=60)

    def upload(i: int) -> str:
        r = http.post(f"{INGESTER}/api/v1/files/upload", headers=auth,
                      files={"file": (f"перебой-{i}.txt", f"файл {i}".encode(), "text/plain")})
        assert r.status_code == 201, r.text
        return str(r.json()["file_id"])

    def delete(file_id: str) -> None:
        r = http.delete(f"{INGESTER}/api/v1/files/{file_id}", headers=auth)
        assert r.status_code == 204, r.text

    with ThreadPoolExecutor(8) as pool:
        before = list(pool.map(upload, range(50)))
        # query уже знает, где лежат будущие удалённые: их адреса — в его кэшах
        for fid in before[:50]:
            assert http.get(f"{QUERY}/api/v1/files/{fid}", headers=auth).status_code == 200
        redis.kill()  # kill -9 посреди работы: загрузки и удаления продолжаются
        during = list(pool.map(upload, range(50, 150)))
        list(pool.map(delete, before[:25]))
        time.sleep(1)
        redis.start()
        after = list(pool.map(upload, range(150, 200)))
        list(pool.map(delete, before[25:50]))
    uploaded = set(before + during + after)
    deleted = set(before[:50])
    assert len(uploaded) == 200

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if hooks.files("file_uploaded") >= uploaded and hooks.files("file_deleted") >= deleted:
            break
        time.sleep(0.5)
    missing_up = uploaded - hooks.files("file_uploaded")
    missing_del = deleted - hooks.files("file_deleted")
    assert not missing_up and not missing_del, (
        f"без вебхука: загрузок {len(missing_up)}, удалений {len(missing_del)}; доставлено {len(hooks.events)}")
    # ровно по событию на операцию: outbox не дублирует то, что уже перенёс
    assert len(hooks.events) == 250

    # журнал аудита (группа admin-audit того же потока) — тоже без пропусков
    for fid in list(deleted)[:5]:
        actions = [e["action"] for e in httpx.get(f"{ADMIN}/api/v1/audit", params={"file_id": fid}, headers=auth,
                                                  timeout=10).json()["items"]]
        assert actions == ["file.delete", "file.upload"], (fid, actions)
    total = httpx.get(f"{ADMIN}/api/v1/audit", params={"action": "file.*", "limit": 1}, headers=auth,
                      timeout=10).json()["total"]
    assert total == 250

    # удалённые файлы query больше не отдаёт
    for fid in deleted:
        assert http.get(f"{QUERY}/api/v1/files/{fid}", headers=auth).status_code == 404, fid
    http.close()
    hooks.close()
