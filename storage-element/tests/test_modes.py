"""Режимы: переходы, сохранение между перезапусками, проверки операций, холодное хранение и restore."""

from __future__ import annotations

import asyncio
import json

import redis.asyncio as aioredis

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
        assert (await c.post(f"/api/v1/files/{fid}/restore", headers=admin)).status_code == 202
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
        assert (await c.post(f"/api/v1/files/{fid}/restore", headers=admin)).status_code == 202
        for _ in range(100):
            if any(e["type"] == "restore_failed" for e in await _events(redis_url, redis_namespace)):
                break
            await asyncio.sleep(0.05)
    failed = [e for e in await _events(redis_url, redis_namespace) if e["type"] == "restore_failed"]
    assert failed and failed[0]["data"]["reason"]
