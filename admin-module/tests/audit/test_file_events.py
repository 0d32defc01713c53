"""Файловые операции в журнале аудита: события потока {ns}:events (настоящий Redis) → группа admin-audit →
строки audit_log (настоящий PostgreSQL) с actor; фильтр по file_id; повтор события не дублирует строку."""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis

from admin_module.audit.events import GROUP, AuditEventConsumer
from artstore_common import EventActor, EventPublisher, events_stream

from ..conftest import Admin

USER = EventActor("user", "u-42", "Иванова")
SERVICE = EventActor("service_account", "sa-7", "ingest-bot")


def _file(file_id: str, **extra: Any) -> dict[str, Any]:
    return {"file_id": file_id, "storage_element_id": "se-01", "owner_id": "sa-7", "original_filename": "акт.pdf",
            **extra}


async def _audit(admin: Admin, auth: dict[str, str], **params: Any) -> dict[str, Any]:
    r = await admin.client.get("/api/v1/audit", params=params, headers=auth)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _wait_total(admin: Admin, auth: dict[str, str], n: int, **params: Any) -> dict[str, Any]:
    page: dict[str, Any] = {}
    for _ in range(200):
        page = await _audit(admin, auth, **params)
        if page["total"] >= n:
            return page
        await asyncio.sleep(0.05)
    raise AssertionError(f"в журнале нет {n} записей {params}: {page}")


async def test_file_operations_reach_audit_with_actor(admin: Admin, auth: dict[str, str], redis_url: str,
                                                      redis_namespace: str) -> None:
    redis = aioredis.from_url(redis_url)
    events = EventPublisher(redis, redis_namespace)
    try:
        # группа admin-audit создаётся потребителем при старте; ждём её, чтобы событие не ушло мимо
        for _ in range(100):
            groups = await redis.xinfo_groups(events_stream(redis_namespace))
            if any(g["name"] in (GROUP, GROUP.encode()) for g in groups):
                break
            await asyncio.sleep(0.05)
        uploaded = await events.emit("file_uploaded", _file("f-a", file_size=10), actor=SERVICE)
        await events.emit("file_uploaded", _file("f-b"), actor=SERVICE)
        await events.emit("file_expiring", _file("f-a", days_left=3), actor=EventActor.system("storage-element se-01"))
        await events.emit("restore_failed", _file("f-a", reason="лента"), actor=USER)
        await events.emit("file_deleted", _file("f-a", deleted_by="u-42"), actor=USER)
        await events.emit("element_mode_changed", {"storage_element_id": "se-01", "from": "rw", "to": "ro"},
                          actor=USER)
    finally:
        await redis.aclose()

    page = await _wait_total(admin, auth, 3, file_id="f-a")
    # предупреждение о сроке — не действие с файлом, в журнал не идёт; чужой файл f-b — не в выборке
    assert [e["action"] for e in page["items"]] == ["file.delete", "file.restore", "file.upload"]
    deleted, restore, upload = page["items"]
    assert (deleted["actor_type"], deleted["actor_id"], deleted["actor_name"]) == ("user", "u-42", "Иванова")
    assert (upload["actor_type"], upload["actor_id"], upload["actor_name"]) == ("service_account", "sa-7",
                                                                                "ingest-bot")
    assert upload["target_type"] == "file" and upload["target_id"] == "f-a" and upload["event_id"] == uploaded["id"]
    assert upload["details"]["original_filename"] == "акт.pdf" and upload["details"]["file_size"] == 10
    assert restore["outcome"] == "failure" and restore["details"]["reason"] == "лента"
    # время записи — время события, а не разбора потока
    assert abs(__import__("datetime").datetime.fromisoformat(upload["occurred_at"]).timestamp()
               - uploaded["occurred_at"]) < 0.001

    mode = await _wait_total(admin, auth, 1, action="storage_element.mode_changed")
    assert mode["items"][0]["target_id"] == "se-01" and mode["items"][0]["actor_id"] == "u-42"
    assert mode["items"][0]["details"]["to"] == "ro"
    by_actor = await _audit(admin, auth, actor="ingest-bot", action="file.*")
    assert {e["target_id"] for e in by_actor["items"]} == {"f-a", "f-b"}
    # записи из событий — в той же цепочке хэшей
    assert (await admin.client.get("/api/v1/audit/verify", headers=auth)).json()["valid"] is True


async def test_redelivered_event_is_recorded_once(admin: Admin, auth: dict[str, str], redis_url: str,
                                                  redis_namespace: str) -> None:
    """At-least-once: одно событие, прочитанное дважды (повтор после сбоя, две реплики сразу), — одна строка."""
    st = admin.app.state
    await st.audit_events.stop()  # живой потребитель не должен разобрать события раньше теста
    redis = aioredis.from_url(redis_url)
    try:
        events = EventPublisher(redis, redis_namespace)
        for n in range(3):
            await events.emit("file_uploaded", _file(f"f-dup-{n}"), actor=SERVICE)
        entries = await redis.xrange(events_stream(redis_namespace))
    finally:
        await redis.aclose()
    first = AuditEventConsumer(redis_url, redis_namespace, st.sessionmaker)
    second = AuditEventConsumer(redis_url, redis_namespace, st.sessionmaker)
    try:
        await first.ensure_group()
        await asyncio.gather(first.handle_messages(entries), second.handle_messages(entries))
        await first.handle_messages(entries)
    finally:
        await first.stop()
        await second.stop()
    page = await _audit(admin, auth, action="file.upload")
    assert sorted(e["target_id"] for e in page["items"]) == ["f-dup-0", "f-dup-1", "f-dup-2"]
    assert (await admin.client.get("/api/v1/audit/verify", headers=auth)).json()["valid"] is True


async def test_file_id_filter_validates(admin: Admin, auth: dict[str, str]) -> None:
    r = await admin.client.get("/api/v1/audit", params={"file_id": "x" * 201}, headers=auth)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert (await _audit(admin, auth, file_id="нет-такого"))["total"] == 0


def test_link_events_become_audit_entries_with_outcome_of_the_download() -> None:
    """Временные ссылки query: создание, каждое использование (и отказ) и отзыв — записи журнала о файле."""
    from admin_module.audit.events import entry_of
    from artstore_common import make_event

    holder = {"type": "link", "id": "lnk-1", "name": None}
    created = make_event("link_created", {"link_id": "lnk-1", "file_id": "f-1", "owner_id": "u-1"})
    created["actor"] = {"type": "account", "id": "u-1", "name": "ivanov"}
    used = make_event("link_used", {"link_id": "lnk-1", "file_id": "f-1", "status": 206, "bytes_sent": 10})
    used["actor"] = holder
    refused = make_event("link_used", {"link_id": "lnk-1", "file_id": "f-1", "status": 410})
    refused["actor"] = holder
    revoked = make_event("link_revoked", {"link_ids": ["lnk-1"], "file_id": "f-1"})
    entries = [entry_of(e) for e in (created, used, refused, revoked)]
    assert all(e is not None for e in entries)
    got = [(e.action, e.outcome, e.target_id) for e in entries if e is not None]
    assert got == [("file.link_create", "success", "f-1"), ("file.link_download", "success", "f-1"),
                   ("file.link_download", "failure", "f-1"), ("file.link_revoke", "success", "f-1")]
    assert entries[1] is not None and entries[1].actor.type == "link" and entries[1].actor.id == "lnk-1"
