"""Режимы: переходы, сохранение между перезапусками, проверки операций, холодное хранение и restore."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from artstore_common import ACTOR_HEADER, EventActor
from storage_element.modes import JsonSet

from .conftest import put, running


async def _events(redis_url: str, ns: str) -> list[dict]:
    r = aioredis.from_url(redis_url)
    try:
        return [json.loads(f[b"event"]) for _, f in await r.xrange(f"{ns}:events")]
    finally:
        await r.aclose()


async def test_transitions_and_persistence(make_settings, admin) -> None:
    settings = make_settings(mode="rw")
    async with running(settings) as (_, c):
        r = await c.post("/api/v1/mode", json={"mode": "edit"}, headers=admin)
        assert r.status_code == 409 and r.json()["code"] == "invalid_mode_transition"
        assert (await c.post("/api/v1/mode", json={"mode": "bogus"}, headers=admin)).status_code == 422
        assert (await c.post("/api/v1/mode", json={"mode": "ro"}, headers=admin)).json()["mode"] == "ro"
        r = await put(c, admin, b"x")
        assert r.status_code == 409 and r.json()["code"] == "mode_forbids_operation"
        assert "ro" in r.json()["detail"] and "чтение" in r.json()["detail"]
    # перезапуск с прежней конфигурацией rw: сохранённый ro сильнее
    async with running(make_settings(mode="rw")) as (_, c):
        assert (await c.get("/api/v1/info", headers=admin)).json()["mode"] == "ro"


async def test_archive_and_restore(make_settings, backend_kind, admin, redis_url, redis_namespace) -> None:
    settings = make_settings(mode="rw", storage_type=backend_kind)
    async with running(settings) as (app, c):
        fid = (await put(c, admin, b"cold data", retention_policy="permanent",
                         original_filename="архив.txt")).json()["file_id"]
        await c.post("/api/v1/mode", json={"mode": "ro"}, headers=admin)
        assert (await c.post("/api/v1/mode", json={"mode": "ar"}, headers=admin)).json()["mode"] == "ar"
        for task in list(app.state.element.background):
            if not task.get_coro().__name__.startswith("_periodic"):
                await task
        r = await c.get(f"/api/v1/files/{fid}/content", headers=admin)
        assert r.status_code == 409 and r.json()["code"] == "file_archived"
        assert f"/files/{fid}/restore" in r.json()["detail"]
        found = (await c.post("/api/v1/search", json={"query": "архив"}, headers=admin)).json()
        assert found["total_count"] == 1
        # query восстанавливает своим сервисным токеном от имени пользователя: в событии — пользователь
        on_behalf = {ACTOR_HEADER: EventActor("user", "u-9", "Петров").encode()}
        assert (await c.post(f"/api/v1/files/{fid}/restore", headers={**admin, **on_behalf})).status_code == 202
        for _ in range(100):
            if fid in app.state.element.restored:
                break
            await asyncio.sleep(0.05)
        r = await c.get(f"/api/v1/files/{fid}/content", headers=admin)
        assert r.status_code == 200 and r.content == b"cold data"
        assert (await put(c, admin, b"x")).status_code == 409
    events = await _events(redis_url, redis_namespace)
    restored = [e for e in events if e["type"] == "file_restored"]
    assert restored and restored[0]["data"]["file_id"] == fid
    assert restored[0]["data"]["storage_element_id"] == "se-t1"
    assert restored[0]["actor"] == {"type": "user", "id": "u-9", "name": "Петров"}
    # смена режима — событие с тем, кто менял (журнал аудита admin), без рассылки в канал кэшей query
    changes = [(e["data"]["from"], e["data"]["to"], e["actor"]["type"]) for e in events
               if e["type"] == "element_mode_changed"]
    assert changes == [("rw", "ro", "service_account"), ("ro", "ar", "service_account")]
    # выход из ar только сменой конфигурации
    async with running(make_settings(mode="ar", storage_type=backend_kind)) as (_, c):
        assert (await c.get("/api/v1/info", headers=admin)).json()["mode"] == "ar"
    async with running(make_settings(mode="ro", storage_type=backend_kind)) as (_, c):
        assert (await c.get("/api/v1/info", headers=admin)).json()["mode"] == "ro"


async def test_restore_failed_event(make_settings, admin, redis_url, redis_namespace, tmp_path) -> None:
    settings = make_settings(mode="rw")
    async with running(settings) as (app, c):
        fid = (await put(c, admin, b"gone", retention_policy="permanent")).json()["file_id"]
        await c.post("/api/v1/mode", json={"mode": "ro"}, headers=admin)
        await c.post("/api/v1/mode", json={"mode": "ar"}, headers=admin)
        for task in list(app.state.element.background):
            if not task.get_coro().__name__.startswith("_periodic"):
                await task
        for p in (tmp_path / "cold").rglob("*"):
            if p.is_file():
                p.unlink()
        # query восстанавливает своим сервисным токеном от имени пользователя: в событии — пользователь
        on_behalf = {ACTOR_HEADER: EventActor("user", "u-9", "Петров").encode()}
        assert (await c.post(f"/api/v1/files/{fid}/restore", headers={**admin, **on_behalf})).status_code == 202
        for _ in range(100):
            if any(e["type"] == "restore_failed" for e in await _events(redis_url, redis_namespace)):
                break
            await asyncio.sleep(0.05)
    failed = [e for e in await _events(redis_url, redis_namespace) if e["type"] == "restore_failed"]
    assert failed and failed[0]["data"]["reason"]


def test_damaged_state_set_is_kept_aside_not_silently_emptied(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "corrupt.json"
    JsonSet(path).add("f-1", "sha256 mismatch")
    assert JsonSet(path).items == {"f-1": "sha256 mismatch"}
    path.write_bytes(b'{"f-1": "sha')  # оборванная запись
    with caplog.at_level("ERROR", logger="storage_element.modes"):
        fresh = JsonSet(path)
    assert fresh.items == {}
    assert not path.exists()
    kept = list(tmp_path.glob("corrupt.json.damaged-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == b'{"f-1": "sha'
    assert "повреждён" in caplog.text
    fresh.add("f-2")
    assert JsonSet(path).items == {"f-2": ""}
