"""Реестр реплицированных элементов (docs/replication.md §1, §2, §8) на настоящем HTTP: каждый член — свой
сервер на loopback, отвечающий /info члена; снимок discovery — в настоящем Redis, члены — в PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from admin_module.db import Base
from artstore_common import DiscoveryClient, discovery_key, service_state

from ..conftest import Admin, FakeElement

API = "/api/v1/storage-elements"
# ключи записи автономного элемента в снимке до реплицированных элементов — у них не должно меняться ничего
STANDALONE_KEYS = {"id", "name", "api_url", "mode", "status", "priority", "storage_type", "capacity_bytes",
                   "used_bytes", "free_bytes", "file_count", "retention_days", "last_seen_at"}


@pytest.fixture
def members() -> Iterator[list[FakeElement]]:
    started = [FakeElement("se-r1", f"se-r1-{suffix}") for suffix in "abc"]
    for m in started:
        m.__enter__()
    try:
        for m in started:
            m.info["name"] = "Реплицированный архив"
            m.info["priority"] = 50
            m.set_peers(started)
        yield started
    finally:
        for m in started:
            m.__exit__(None, None, None)


async def _snapshot(redis_url: str, namespace: str) -> dict[str, Any]:
    redis = aioredis.from_url(redis_url)
    try:
        return json.loads(await redis.get(discovery_key(namespace)))
    finally:
        await redis.aclose()


def _entry(snapshot: dict[str, Any], element_id: str) -> dict[str, Any]:
    return next(e for e in snapshot["storage_elements"] if e["id"] == element_id)


async def test_any_member_registers_the_whole_element(
    admin: Admin, auth: dict[str, str], members: list[FakeElement], fake_element: FakeElement, redis_url: str,
    redis_namespace: str, tmp_path: Any,
) -> None:
    a, b, c = members
    c_ = admin.client
    assert (await c_.post(API, json={"api_url": fake_element.url}, headers=auth)).status_code == 201
    # регистрация по второму члену: логический элемент — весь, адрес — первого члена из peers
    r = await c_.post(API, json={"api_url": b.url + "/"}, headers=auth)
    assert r.status_code == 201, r.text
    el = r.json()
    assert el["id"] == "se-r1" and el["name"] == "Реплицированный архив" and el["priority"] == 50
    assert el["api_url"] == a.url and el["status"] == "online"
    repl = el["replication"]
    assert repl["mode"] == "sync" and repl["quorum"] == 2 and repl["interval_s"] == 30
    assert [(m["id"], m["api_url"], m["status"]) for m in repl["members"]] == [
        ("se-r1-a", a.url, "online"), ("se-r1-b", b.url, "online"), ("se-r1-c", c.url, "online")]
    assert all(m.info_hits >= 1 for m in members), "admin опросил каждого члена"

    # повторная регистрация другого члена дополняет список (200), а не дублирует и не отказывает
    r = await c_.post(API, json={"api_url": c.url}, headers=auth)
    assert r.status_code == 200, r.text
    assert [m["id"] for m in r.json()["replication"]["members"]] == ["se-r1-a", "se-r1-b", "se-r1-c"]
    # автономный элемент с тем же id по-прежнему — 409
    assert (await c_.post(API, json={"api_url": fake_element.url}, headers=auth)).status_code == 409

    page = (await c_.get(API, headers=auth)).json()
    assert page["total"] == 2
    listed = {e["id"]: e for e in page["items"]}
    assert len(listed["se-r1"]["replication"]["members"]) == 3 and listed["se-test-01"]["replication"] is None
    got = (await c_.get(f"{API}/se-r1", headers=auth)).json()
    assert got["replication"]["members"][2]["api_url"] == c.url

    # снимок: как docs/replication.md §2; автономный элемент — ровно прежние ключи
    snapshot = await _snapshot(redis_url, redis_namespace)
    standalone = _entry(snapshot, "se-test-01")
    assert set(standalone) == STANDALONE_KEYS
    entry = _entry(snapshot, "se-r1")
    assert set(entry) == STANDALONE_KEYS | {"replication"}
    assert entry["api_url"] == a.url and entry["status"] == "online" and entry["priority"] == 50
    assert entry["replication"] == {"mode": "sync", "quorum": 2, "members": [
        {"id": m.info["member_id"], "api_url": m.url, "status": "online", "lag_seconds": 0, "under_replicated": 0}
        for m in members]}
    discovery = DiscoveryClient(redis_url, redis_namespace, tmp_path / "d.json")
    await discovery.refresh()
    assert discovery.element("se-r1")["replication"]["quorum"] == 2  # type: ignore[index]
    await discovery.stop()

    audit = (await c_.get("/api/v1/audit", params={"action": "storage_element.*"}, headers=auth)).json()
    actions = [(e["action"], e["target_id"]) for e in audit["items"]]
    assert ("storage_element.register", "se-r1") in actions and ("storage_element.members", "se-r1") in actions


async def test_status_free_space_and_under_replicated_come_from_members(
    admin: Admin, auth: dict[str, str], members: list[FakeElement], redis_url: str, redis_namespace: str,
) -> None:
    a, b, c = members
    c_ = admin.client
    assert (await c_.post(API, json={"api_url": a.url}, headers=auth)).status_code == 201
    a.info["free_bytes"], b.info["free_bytes"], c.info["free_bytes"] = 900, 500, 100
    a.info["file_count"], b.info["file_count"], c.info["file_count"] = 7, 6, 7
    a.info["replication"]["under_replicated"] = 2
    b.info["replication"].update(lag_seconds=12.5, under_replicated=0)
    c.info["replication"]["under_replicated"] = 5

    el = (await c_.post(f"{API}/se-r1/sync", headers=auth)).json()
    assert el["status"] == "online" and el["free_bytes"] == 100 and el["file_count"] == 7
    assert el["replication"]["under_replicated"] == 5

    # член не в сети: элемент degraded, место — наименьшее среди оставшихся, у члена — нули не выдумываются
    c.fail_info = True
    el = (await c_.post(f"{API}/se-r1/sync", headers=auth)).json()
    assert el["status"] == "degraded" and el["free_bytes"] == 500 and "se-r1-c" in el["last_error"]
    by_id = {m["id"]: m for m in el["replication"]["members"]}
    assert by_id["se-r1-c"]["status"] == "offline" and by_id["se-r1-c"]["last_error"]
    assert by_id["se-r1-b"]["lag_seconds"] == 12.5
    assert el["replication"]["under_replicated"] == 2
    entry = _entry(await _snapshot(redis_url, redis_namespace), "se-r1")
    assert entry["status"] == "degraded" and entry["free_bytes"] == 500
    assert entry["replication"]["members"][2] == {"id": "se-r1-c", "api_url": c.url, "status": "offline",
                                                  "lag_seconds": None, "under_replicated": None}
    assert entry["replication"]["members"][1]["lag_seconds"] == 12.5

    summary = (await c_.get(f"{API}/stats/summary", headers=auth)).json()
    assert summary["replicated"] == 1 and summary["under_replicated"] == 2 and summary["degraded"] == 1

    # по адресу члена ответил чужой процесс — член не в сети, его сведения в сводку не идут
    c.fail_info = False
    c.info["member_id"] = "se-r9-z"
    c.info["free_bytes"] = 1
    el = (await c_.post(f"{API}/se-r1/sync", headers=auth)).json()
    by_id = {m["id"]: m for m in el["replication"]["members"]}
    assert by_id["se-r1-c"]["status"] == "offline" and "se-r9-z" in by_id["se-r1-c"]["last_error"]
    assert el["free_bytes"] == 500
    c.info["member_id"] = "se-r1-c"

    # никого нет — offline; последние известные ёмкости не обнуляются
    for m in members:
        m.fail_info = True
    el = (await c_.post(f"{API}/se-r1/sync", headers=auth)).json()
    assert el["status"] == "offline" and el["free_bytes"] == 500
    assert all(m["status"] == "offline" for m in el["replication"]["members"])
    assert _entry(await _snapshot(redis_url, redis_namespace), "se-r1")["status"] == "offline"

    # удалять нельзя, пока хоть у одного члена есть файлы (счётчик — у самого полного члена)
    for m in members:
        m.fail_info = False
        m.info["file_count"] = 0
    b.info["file_count"] = 1
    r = await c_.delete(f"{API}/se-r1", headers=auth)
    assert r.status_code == 409 and r.json()["code"] == "storage_element_not_empty"
    b.info["file_count"] = 0
    assert (await c_.delete(f"{API}/se-r1", headers=auth)).status_code == 204
    # члены ушли вместе с элементом: тот же член регистрируется заново
    assert (await c_.post(API, json={"api_url": c.url}, headers=auth)).status_code == 201


async def test_mode_and_maintenance_reach_every_member(
    admin: Admin, auth: dict[str, str], members: list[FakeElement],
) -> None:
    a, b, c = members
    c_ = admin.client
    assert (await c_.post(API, json={"api_url": a.url}, headers=auth)).status_code == 201

    # один член команду не выполнил: 502 с исходом каждого, остальные уже в ro
    c.fail_commands = True
    r = await c_.post(f"{API}/se-r1/mode", json={"mode": "ro"}, headers=auth)
    assert r.status_code == 502 and r.json()["code"] == "replication_incomplete", r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "se-r1-c" in r.json()["detail"]
    outcome = {m["id"]: m["ok"] for m in r.json()["members"]}
    assert outcome == {"se-r1-a": True, "se-r1-b": True, "se-r1-c": False}
    assert (a.info["mode"], b.info["mode"], c.info["mode"]) == ("ro", "ro", "rw")
    el = (await c_.post(f"{API}/se-r1/sync", headers=auth)).json()
    assert el["mode"] == "ro" and "разных режимах" in el["last_error"]

    # повтор, когда член снова выполняет команды: выполнившим он не вредит
    c.fail_commands = False
    r = await c_.post(f"{API}/se-r1/mode", json={"mode": "ro"}, headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["mode"] == "ro" and [m["ok"] for m in r.json()["members"]] == [True, True, True]
    assert all(m.info["mode"] == "ro" for m in members)
    for m in members:  # каждый член получил команду с токеном ADMIN, проверяемым JWKS admin
        principal = await service_state(admin.app).token_verifier().verify(m.auth_headers[-1].removeprefix("Bearer "))
        assert principal.role.value == "ADMIN"
    # недопустимый переход отвергли все — та же ошибка, что у автономного элемента
    r = await c_.post(f"{API}/se-r1/mode", json={"mode": "rw"}, headers=auth)
    assert r.status_code == 409 and r.json()["code"] == "invalid_mode_transition"
    assert len(r.json()["members"]) == 3

    for m in members:
        m.commands.clear()
    b.fail_commands = True
    r = await c_.post(f"{API}/se-r1/scrub", headers=auth)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["complete"] is False
    assert [(m["id"], m["ok"]) for m in report["members"]] == [("se-r1-a", True), ("se-r1-b", False),
                                                                ("se-r1-c", True)]
    assert report["members"][0]["result"]["corrupted"] == [] and report["members"][1]["error"]["status"] == 502
    r = await c_.post(f"{API}/se-r1/cache/rebuild", params={"mode": "full"}, headers=auth)
    assert r.status_code == 200 and r.json()["members"][2]["result"]["mode"] == "full"
    b.fail_commands = False
    r = await c_.get(f"{API}/se-r1/cache/consistency", headers=auth)
    assert r.status_code == 200 and r.json()["complete"] is True
    assert all(m["result"]["checked"] == 3 for m in r.json()["members"])
    for m in members:
        assert m.commands == ["POST /api/v1/scrub", "POST /api/v1/cache/rebuild", "GET /api/v1/cache/consistency"]

    # ни один член не ответил — ошибка, а не пустой отчёт
    for m in members:
        m.fail_commands = True
    r = await c_.post(f"{API}/se-r1/scrub", headers=auth)
    assert r.status_code == 502 and r.json()["code"] == "maintenance" and len(r.json()["members"]) == 3
    audit = (await c_.get("/api/v1/audit", params={"action": "storage_element.mode"}, headers=auth)).json()
    assert sorted(e["outcome"] for e in audit["items"]) == ["failure", "failure", "success"]


async def test_bad_member_info_and_conflicts_write_nothing(
    admin: Admin, auth: dict[str, str], members: list[FakeElement],
) -> None:
    a, b, c = members
    c_ = admin.client
    # член не перечислил себя среди членов
    a.info["replication"]["peers"] = [p for p in a.info["replication"]["peers"] if p["id"] != "se-r1-a"]
    r = await c_.post(API, json={"api_url": a.url}, headers=auth)
    assert r.status_code == 502 and r.json()["code"] == "element_bad_info" and "SE_REPLICATION_PEERS" in r.text
    a.info["replication"]["peers"] = [{"id": "se-r1-a", "api_url": "ftp://x"}]
    r = await c_.post(API, json={"api_url": a.url}, headers=auth)
    assert r.status_code == 502 and "негоден" in r.json()["detail"]
    a.info["replication"]["peers"] = "se-r1-a"
    assert (await c_.post(API, json={"api_url": a.url}, headers=auth)).status_code == 502
    assert (await c_.get(API, headers=auth)).json()["total"] == 0
    a.set_peers(members)

    assert (await c_.post(API, json={"api_url": a.url}, headers=auth)).status_code == 201
    # другой логический элемент объявил члена se-r1-c своим: id членов уникальны во флоте
    with FakeElement("se-r2", "se-r2-a") as other:
        other.info["replication"]["peers"] = [{"id": "se-r2-a", "api_url": other.url},
                                              {"id": "se-r1-c", "api_url": c.url}]
        r = await c_.post(API, json={"api_url": other.url}, headers=auth)
        assert r.status_code == 409 and r.json()["code"] == "storage_member_exists"
    assert (await c_.get(f"{API}/se-r2", headers=auth)).status_code == 404

    # адрес реплицированного элемента — у членов, не у элемента
    r = await c_.patch(f"{API}/se-r1", json={"api_url": "http://127.0.0.1:9"}, headers=auth)
    assert r.status_code == 409 and r.json()["code"] == "replicated_element_address"
    # член переехал: его повторная регистрация по новому адресу обновляет адрес члена
    with FakeElement("se-r1", "se-r1-a") as moved:
        moved.set_peers([moved, b, c])
        r = await c_.post(API, json={"api_url": moved.url}, headers=auth)
        assert r.status_code == 200 and r.json()["api_url"] == moved.url
        assert r.json()["replication"]["members"][0] == {**r.json()["replication"]["members"][0],
                                                         "id": "se-r1-a", "api_url": moved.url, "status": "online"}

    # вывод члена из реестра; последний член не убирается
    r = await c_.delete(f"{API}/se-r1/members/se-r1-a", headers=auth)
    assert r.status_code == 204
    el = (await c_.get(f"{API}/se-r1", headers=auth)).json()
    assert [m["id"] for m in el["replication"]["members"]] == ["se-r1-b", "se-r1-c"] and el["api_url"] == b.url
    assert (await c_.delete(f"{API}/se-r1/members/se-r1-x", headers=auth)).status_code == 404
    assert (await c_.delete(f"{API}/se-r1/members/se-r1-b", headers=auth)).status_code == 204
    r = await c_.delete(f"{API}/se-r1/members/se-r1-c", headers=auth)
    assert r.status_code == 409 and r.json()["code"] == "last_storage_member"


def _diff(connection: Connection) -> list[Any]:
    return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))


async def test_migrations_match_models(admin: Admin) -> None:
    # таблицу членов создаёт миграция 0003: модель и схема не должны разойтись
    async with admin.app.state.engine.connect() as conn:
        assert await conn.run_sync(_diff) == []
