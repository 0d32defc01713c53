"""Сервисные аккаунты: CRUD, фильтры и страницы, секрет один раз, ротация секрета, системный аккаунт."""

from __future__ import annotations

import jwt
from sqlalchemy import text

from artstore_common import session_scope

from ..conftest import INITIAL_CLIENT_ID, Admin


async def test_crud_pagination_filters(admin: Admin, auth: dict[str, str]) -> None:
    c = admin.client
    created = []
    for i, role in enumerate(["USER", "USER", "AUDITOR", "READONLY"]):
        r = await c.post("/api/v1/service-accounts/", json={"name": f"svc-{i}", "role": role, "rate_limit": 50 + i,
                                                            "description": f"тест {i}"}, headers=auth)
        assert r.status_code == 201, r.text
        body = r.json()
        assert len(body["client_secret"]) >= 40
        assert body["days_until_expiry"] in (89, 90) and body["secret_expires_at"]
        created.append(body)
    r = await c.post("/api/v1/service-accounts", json={"name": "svc-0"}, headers=auth)
    assert r.status_code == 409 and r.json()["code"] == "service_account_exists"

    page = (await c.get("/api/v1/service-accounts", params={"limit": 2, "offset": 1}, headers=auth)).json()
    assert page["total"] == 5 and page["limit"] == 2 and page["offset"] == 1 and len(page["items"]) == 2
    assert "client_secret" not in page["items"][0] and "secret_hash" not in page["items"][0]
    users = (await c.get("/api/v1/service-accounts", params={"role": "USER"}, headers=auth)).json()
    assert users["total"] == 2
    found = (await c.get("/api/v1/service-accounts/", params={"search": "svc-3"}, headers=auth)).json()
    assert [a["name"] for a in found["items"]] == ["svc-3"]

    acc = created[0]
    r = await c.patch(f"/api/v1/service-accounts/{acc['id']}", json={"role": "ADMIN", "rate_limit": 7}, headers=auth)
    assert r.status_code == 200 and r.json()["role"] == "ADMIN" and r.json()["rate_limit"] == 7
    token = await admin.token(acc["client_id"], acc["client_secret"])
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["rate_limit"] == 7 and claims["role"] == "ADMIN" and claims["name"] == "svc-0"

    assert (await c.delete(f"/api/v1/service-accounts/{acc['id']}", headers=auth)).status_code == 204
    r = await c.get(f"/api/v1/service-accounts/{acc['id']}", headers=auth)
    assert r.status_code == 404 and r.json()["code"] == "service_account_not_found"


async def test_rotate_secret_old_refused_at_once(admin: Admin, auth: dict[str, str]) -> None:
    c = admin.client
    acc = (await c.post("/api/v1/service-accounts", json={"name": "rot", "role": "USER"}, headers=auth)).json()
    old = {"client_id": acc["client_id"], "client_secret": acc["client_secret"]}
    assert (await c.post("/api/v1/auth/token", json=old)).status_code == 200  # попадает в кэш проверки
    r = await c.post(f"/api/v1/service-accounts/{acc['id']}/rotate-secret", headers=auth)
    assert r.status_code == 200
    new_secret = r.json()["client_secret"]
    assert new_secret != old["client_secret"]
    r = await c.post("/api/v1/auth/token", json=old)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = await c.post("/api/v1/auth/token", json={"client_id": acc["client_id"], "client_secret": new_secret})
    assert r.status_code == 200


async def test_expired_secret_refused(admin: Admin, auth: dict[str, str]) -> None:
    c = admin.client
    acc = (await c.post("/api/v1/service-accounts", json={"name": "old", "role": "USER"}, headers=auth)).json()
    async with session_scope(admin.app.state.sessionmaker) as s:
        await s.execute(text("UPDATE service_accounts SET secret_expires_at = now() - interval '1 day' "
                             "WHERE id = :i"), {"i": acc["id"]})
    r = await c.post("/api/v1/auth/token", json={"client_id": acc["client_id"], "client_secret": acc["client_secret"]})
    assert r.status_code == 401 and "rotate-secret" in r.json()["error_description"]
    got = (await c.get(f"/api/v1/service-accounts/{acc['id']}", headers=auth)).json()
    assert got["days_until_expiry"] < 0 and got["secret_expiring_soon"] is True


async def test_system_account_protected(admin: Admin, auth: dict[str, str]) -> None:
    c = admin.client
    system = (await c.get("/api/v1/service-accounts", params={"search": "admin-service"}, headers=auth)).json()
    acc = system["items"][0]
    assert acc["is_system"] is True and acc["role"] == "ADMIN"
    r = await c.delete(f"/api/v1/service-accounts/{acc['id']}", headers=auth)
    assert r.status_code == 409 and r.json()["code"] == "system_account_protected"
    r = await c.patch(f"/api/v1/service-accounts/{acc['id']}", json={"role": "USER"}, headers=auth)
    assert r.status_code == 409
    r = await c.patch(f"/api/v1/service-accounts/{acc['id']}", json={"status": "suspended"}, headers=auth)
    assert r.status_code == 409
    r = await c.patch(f"/api/v1/service-accounts/{acc['id']}", json={"description": "ок"}, headers=auth)
    assert r.status_code == 200


async def test_suspend_and_delete_are_events_for_the_link_revocation(admin: Admin, auth: dict[str, str],
                                                                    redis_url: str, redis_namespace: str) -> None:
    """Приостановка и удаление аккаунта — события потока (через outbox, в транзакции изменения): по ним query
    отзывает ссылки аккаунта. Прочие правки (роль, лимит) и неудачное удаление событий не дают."""
    import asyncio
    import json

    import redis.asyncio as aioredis

    from artstore_common import events_stream

    c = admin.client
    kept = (await c.post("/api/v1/service-accounts", json={"name": "остаётся"}, headers=auth)).json()
    gone = (await c.post("/api/v1/service-accounts", json={"name": "уходит"}, headers=auth)).json()
    assert (await c.patch(f"/api/v1/service-accounts/{kept['id']}", json={"rate_limit": 9},
                          headers=auth)).status_code == 200
    assert (await c.patch(f"/api/v1/service-accounts/{kept['id']}", json={"status": "suspended"},
                          headers=auth)).status_code == 200
    assert (await c.patch(f"/api/v1/service-accounts/{kept['id']}", json={"status": "suspended"},
                          headers=auth)).status_code == 200  # уже приостановлен: второго события нет
    assert (await c.delete(f"/api/v1/service-accounts/{gone['id']}", headers=auth)).status_code == 204
    system = (await c.get("/api/v1/service-accounts", params={"search": INITIAL_CLIENT_ID}, headers=auth)).json()
    assert any(acc["is_system"] for acc in system["items"])
    for acc in system["items"]:
        if acc["is_system"]:
            assert (await c.delete(f"/api/v1/service-accounts/{acc['id']}", headers=auth)).status_code == 409
    # пользователи admin-ui тоже выдают ссылки (sub их токенов — id пользователя)
    users = []
    for name in ("ivanov", "petrov"):
        r = await c.post("/api/v1/admin-users", json={"username": name, "password": "Strong-Pass-123456"},
                         headers=auth)
        assert r.status_code == 201, r.text
        users.append(r.json())
    assert (await c.patch(f"/api/v1/admin-users/{users[0]['id']}", json={"is_active": False},
                          headers=auth)).status_code == 200
    assert (await c.delete(f"/api/v1/admin-users/{users[1]['id']}", headers=auth)).status_code == 204
    r = aioredis.from_url(redis_url)
    try:
        seen: list[tuple[str, str, str]] = []
        for _ in range(100):
            events = [json.loads(f[b"event"]) for _, f in await r.xrange(events_stream(redis_namespace))]
            seen = [(e["type"], e["data"]["account_id"], e["data"]["kind"]) for e in events
                    if e["type"].startswith("account_")]
            if len(seen) >= 4:
                break
            await asyncio.sleep(0.05)
        assert seen == [("account_suspended", kept["id"], "service_account"),
                        ("account_deleted", gone["id"], "service_account"),
                        ("account_suspended", users[0]["id"], "admin_user"),
                        ("account_deleted", users[1]["id"], "admin_user")]
        actor = next(e for e in events if e["type"] == "account_deleted")["actor"]
        assert actor["type"] == "service_account" and actor["name"]
    finally:
        await r.aclose()
