"""Реестр элементов: discover/регистрация по настоящему HTTP, снимок discovery в Redis, прокси команд."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import redis.asyncio as aioredis

from admin_module.settings import Settings
from artstore_common import DiscoveryClient, discovery_key, service_state

from ..conftest import Admin, FakeElement, running


async def test_discover_register_snapshot_and_delete(admin: Admin, auth: dict[str, str], fake_element: FakeElement,
                                                     redis_url: str, redis_namespace: str, tmp_path: object) -> None:
    c = admin.client
    r = await c.post("/api/v1/storage-elements/discover", json={"api_url": fake_element.url}, headers=auth)
    assert r.status_code == 200 and r.json()["id"] == "se-test-01" and r.json()["mode"] == "rw"
    # /info элемента требует токен: admin шлёт свой, действительный для JWKS, но лишь роли READONLY —
    # адрес для discover вводит человек, и ADMIN-токен туда уходить не должен
    header = fake_element.info_auth_headers[-1]
    principal = await service_state(admin.app).token_verifier().verify(header.removeprefix("Bearer "))
    assert principal.role.value == "READONLY" and principal.subject == "admin-module"
    assert principal.claims["exp"] - principal.claims["iat"] <= 300
    r = await c.post("/api/v1/storage-elements/discover", json={"api_url": "http://127.0.0.1:9"}, headers=auth)
    assert r.status_code == 502 and r.json()["code"] == "element_unreachable"
    # логин:пароль в адресе — 422 с причиной, а не 500 от HTTP-клиента (нашёл фаззер tests/e2e/test_fuzz.py)
    for path in ("/api/v1/storage-elements/discover", "/api/v1/storage-elements"):
        r = await c.post(path, json={"api_url": "http://u:p@127.0.0.1:9"}, headers=auth)
        assert r.status_code == 422 and "логина и пароля" in r.text, r.text

    r = await c.post("/api/v1/storage-elements", json={"api_url": fake_element.url, "priority": 50}, headers=auth)
    assert r.status_code == 201, r.text
    el = r.json()
    assert el["id"] == "se-test-01" and el["name"] == "Тестовый элемент" and el["priority"] == 50
    assert el["status"] == "online" and el["capacity_bytes"] == 1 << 30 and el["last_seen_at"]
    r = await c.post("/api/v1/storage-elements/", json={"api_url": fake_element.url}, headers=auth)
    assert r.status_code == 409 and r.json()["code"] == "storage_element_exists"

    # снимок в формате internal-api.md, читается DiscoveryClient остальных сервисов
    redis = aioredis.from_url(redis_url)
    snapshot = json.loads(await redis.get(discovery_key(redis_namespace)))
    await redis.aclose()
    assert snapshot["version"] >= 1 and snapshot["published_at"].endswith("Z")
    entry = snapshot["storage_elements"][0]
    assert {"id", "name", "api_url", "mode", "status", "priority", "storage_type", "capacity_bytes", "used_bytes",
            "free_bytes", "file_count", "retention_days", "last_seen_at"} <= set(entry)
    discovery = DiscoveryClient(redis_url, redis_namespace, tmp_path / "d.json")  # type: ignore[operator]
    await discovery.refresh()
    assert discovery.element("se-test-01")["priority"] == 50  # type: ignore[index]
    await discovery.stop()

    page = (await c.get("/api/v1/storage-elements", params={"mode": "rw"}, headers=auth)).json()
    assert page["total"] == 1 and page["items"][0]["id"] == "se-test-01"
    r = await c.patch("/api/v1/storage-elements/se-test-01", json={"name": "Оперативное"}, headers=auth)
    assert r.status_code == 200 and r.json()["name"] == "Оперативное"

    fake_element.info["file_count"] = 3
    fake_element.info["mode"] = "ro"
    fake_element.info["expiring_soon"] = 2
    r = await c.post("/api/v1/storage-elements/se-test-01/sync", headers=auth)
    assert r.status_code == 200 and r.json()["file_count"] == 3 and r.json()["mode"] == "ro"
    summary = (await c.get("/api/v1/storage-elements/stats/summary", headers=auth)).json()
    assert summary["total"] == 1 and summary["online"] == 1 and summary["file_count"] == 3
    assert summary["expiring_soon"] == 2
    assert summary["by_mode"] == {"ro": 1} and summary["capacity_bytes"] == 1 << 30

    r = await c.delete("/api/v1/storage-elements/se-test-01", headers=auth)
    assert r.status_code == 409 and r.json()["code"] == "storage_element_not_empty"

    fake_element.fail_info = True
    r = await c.post("/api/v1/storage-elements/se-test-01/sync", headers=auth)
    assert r.json()["status"] == "offline" and r.json()["last_error"]
    fake_element.fail_info = False

    # удаление опрашивает элемент заново: сохранённый счётчик (3) устарел, файлов уже нет
    fake_element.info["file_count"] = 0
    assert (await c.delete("/api/v1/storage-elements/se-test-01", headers=auth)).status_code == 204
    assert (await c.get("/api/v1/storage-elements/se-test-01", headers=auth)).status_code == 404
    audit = (await c.get("/api/v1/audit", params={"action": "storage_element.*"}, headers=auth)).json()
    assert {e["action"] for e in audit["items"]} >= {"storage_element.register", "storage_element.delete"}


async def test_mode_and_maintenance_proxies(admin: Admin, auth: dict[str, str], fake_element: FakeElement) -> None:
    c = admin.client
    assert (await c.post("/api/v1/storage-elements", json={"api_url": fake_element.url},
                         headers=auth)).status_code == 201
    r = await c.post("/api/v1/storage-elements/se-test-01/mode", json={"mode": "ro"}, headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["mode"] == "ro" and r.json()["previous_mode"] == "rw"
    # элемент получил сервисный токен admin с ролью ADMIN, проверяемый тем же JWKS
    header = fake_element.auth_headers[-1]
    principal = await service_state(admin.app).token_verifier().verify(header.removeprefix("Bearer "))
    assert principal.role.value == "ADMIN"

    r = await c.post("/api/v1/storage-elements/se-test-01/mode", json={"mode": "rw"}, headers=auth)
    assert r.status_code == 409 and r.json()["code"] == "invalid_mode_transition"

    r = await c.get("/api/v1/storage-elements/se-test-01/cache/consistency", headers=auth)
    assert r.status_code == 200 and r.json()["checked"] == 3
    r = await c.post("/api/v1/storage-elements/se-test-01/cache/rebuild", params={"mode": "full"}, headers=auth)
    assert r.status_code == 200 and r.json()["mode"] == "full"
    r = await c.post("/api/v1/storage-elements/se-test-01/scrub", headers=auth)
    assert r.status_code == 200 and r.json()["corrupted"] == []
    modes = (await c.get("/api/v1/audit", params={"action": "storage_element.mode"}, headers=auth)).json()
    assert sorted(e["outcome"] for e in modes["items"]) == ["failure", "success"]


async def test_background_polling_publishes_changes(make_settings: Callable[..., Settings],
                                                    fake_element: FakeElement, redis_url: str,
                                                    redis_namespace: str) -> None:
    async with running(make_settings(poll_interval_seconds=0.2)) as a:
        auth = await a.headers()
        await a.client.post("/api/v1/storage-elements", json={"api_url": fake_element.url}, headers=auth)
        redis = aioredis.from_url(redis_url)
        try:
            fake_element.info["used_bytes"] = 999_999
            for _ in range(50):
                snap = json.loads(await redis.get(discovery_key(redis_namespace)))
                if snap["storage_elements"][0]["used_bytes"] == 999_999:
                    break
                await asyncio.sleep(0.1)
            assert snap["storage_elements"][0]["used_bytes"] == 999_999
            fake_element.fail_info = True
            for _ in range(50):
                snap = json.loads(await redis.get(discovery_key(redis_namespace)))
                if snap["storage_elements"][0]["status"] == "offline":
                    break
                await asyncio.sleep(0.1)
            assert snap["storage_elements"][0]["status"] == "offline"
        finally:
            await redis.aclose()
