"""Журнал аудита: цепочка хэшей сходится, подделка строки прямо в SQL обнаруживается."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from artstore_common import session_scope

from ..conftest import Admin


async def test_chain_verifies_and_detects_tampering(admin: Admin, auth: dict[str, str]) -> None:
    c = admin.client
    # параллельные записи с разных соединений: цепочка всё равно линейна (advisory xact lock)
    await asyncio.gather(*(c.post("/api/v1/service-accounts", json={"name": f"a{i}"}, headers=auth)
                           for i in range(8)))
    await c.post("/api/v1/auth/token", json={"client_id": "nobody", "client_secret": "bad"})
    r = await c.get("/api/v1/audit/verify", headers=auth)
    body = r.json()
    assert body["valid"] is True and body["first_bad_id"] is None and body["checked"] >= 12

    page = (await c.get("/api/v1/audit", params={"action": "service_account.create", "limit": 3}, headers=auth)).json()
    assert page["total"] == 9 and len(page["items"]) == 3  # 8 + системный аккаунт при первом запуске
    item = page["items"][0]
    assert item["actor_name"] == "admin-service" and item["outcome"] == "success" and item["hash"]
    assert item["ip"] and item["target_type"] == "service_account"
    failures = (await c.get("/api/v1/audit", params={"outcome": "failure"}, headers=auth)).json()
    assert failures["items"][0]["details"]["reason"] == "bad_credentials"

    victim = page["items"][1]["id"]
    original = page["items"][1]["details"]
    maker = admin.app.state.sessionmaker
    # прямой UPDATE запрещён триггером…
    with pytest.raises(DBAPIError, match="append-only"):
        async with session_scope(maker) as s:
            await s.execute(text("UPDATE audit_log SET outcome = 'failure' WHERE id = :i"), {"i": victim})
    # …но владелец БД может его снять — тогда подделку выдаёт цепочка хэшей
    async with session_scope(maker) as s:
        await s.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
        await s.execute(text("UPDATE audit_log SET details = '{\"name\": \"evil\"}' WHERE id = :i"), {"i": victim})
    body = (await c.get("/api/v1/audit/verify", headers=auth)).json()
    assert body == {"valid": False, "checked": body["checked"], "first_bad_id": victim}

    # вернули как было — цепочка снова сходится: хэш покрывает именно содержимое строки
    async with session_scope(maker) as s:
        await s.execute(text("UPDATE audit_log SET details = CAST(:d AS json) WHERE id = :i"),
                        {"d": json.dumps(original), "i": victim})
    assert (await c.get("/api/v1/audit/verify", headers=auth)).json()["valid"] is True


async def test_filters_and_auditor_access(admin: Admin, auth: dict[str, str]) -> None:
    c = admin.client
    r = await c.get("/api/v1/audit/", params={"action": "auth.*", "limit": 5}, headers=auth)
    assert r.status_code == 200 and r.json()["limit"] == 5
    assert all(e["action"].startswith("auth.") for e in r.json()["items"])
    r = await c.get("/api/v1/audit", params={"outcome": "maybe"}, headers=auth)
    assert r.status_code == 422
