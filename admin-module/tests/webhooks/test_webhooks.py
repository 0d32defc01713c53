"""Вебхуки: событие из потока Redis → подписанная доставка на настоящий HTTP-приёмник, повтор после 500."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import redis.asyncio as aioredis

from admin_module.settings import Settings
from artstore_common import EventActor, EventPublisher

from ..conftest import running

SYSTEM = EventActor.system("test")


class Receiver:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.fail_first: set[str] = set()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.requests.append((self.path, dict(self.headers), body))
                status = 200
                if self.path in outer.fail_first:
                    outer.fail_first.discard(self.path)
                    status = 500
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def on(self, path: str) -> list[tuple[str, dict[str, str], bytes]]:
        return [r for r in self.requests if r[0] == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


async def _wait(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if cond():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("не дождались")


async def test_signed_delivery_with_retry(make_settings: Callable[..., Settings], receiver: Receiver,
                                          redis_url: str, redis_namespace: str) -> None:
    async with running(make_settings(webhook_backoff_seconds=0.3, webhook_worker_interval_seconds=0.1)) as a:
        c = a.client
        auth = await a.headers()
        owner = (await c.post("/api/v1/service-accounts", json={"name": "owner"}, headers=auth)).json()
        other = (await c.post("/api/v1/service-accounts", json={"name": "other"}, headers=auth)).json()
        system = (await c.get("/api/v1/service-accounts", params={"search": "admin-service"},
                              headers=auth)).json()["items"][0]
        r = await c.post(f"/api/v1/service-accounts/{owner['id']}/webhooks",
                         json={"url": receiver.url + "/owner", "events": ["file_uploaded", "file_expiring"]},
                         headers=auth)
        assert r.status_code == 201, r.text
        hook = r.json()
        assert len(hook["secret"]) >= 40
        await c.post(f"/api/v1/service-accounts/{other['id']}/webhooks",
                     json={"url": receiver.url + "/other", "events": ["file_uploaded"]}, headers=auth)
        await c.post(f"/api/v1/service-accounts/{system['id']}/webhooks/",
                     json={"url": receiver.url + "/admin", "events": ["file_deleted"]}, headers=auth)
        listed = (await c.get(f"/api/v1/service-accounts/{owner['id']}/webhooks", headers=auth)).json()
        assert listed["total"] == 1 and "secret" not in listed["items"][0]

        receiver.fail_first.add("/owner")
        redis = aioredis.from_url(redis_url)
        events = EventPublisher(redis, redis_namespace)
        uploaded = await events.emit("file_uploaded", {"file_id": "f-1", "storage_element_id": "se-01",
                                                       "owner_id": owner["id"], "original_filename": "отчёт.pdf"},
                                     actor=SYSTEM)
        await events.emit("file_deleted", {"file_id": "f-2", "storage_element_id": "se-01",
                                           "owner_id": other["id"], "original_filename": "x"}, actor=SYSTEM)
        await redis.aclose()

        await _wait(lambda: len(receiver.on("/owner")) >= 2 and len(receiver.on("/admin")) >= 1)
        first, second = receiver.on("/owner")[:2]
        assert first[2] == second[2]  # повтор — то же тело и та же доставка
        _, headers, body = second
        headers = {k.lower(): v for k, v in headers.items()}
        expected = "sha256=" + hmac.new(hook["secret"].encode(), body, hashlib.sha256).hexdigest()
        assert headers["x-artstore-signature"] == expected
        assert headers["x-artstore-event"] == "file_uploaded"
        assert headers["x-artstore-delivery"] == dict((k.lower(), v) for k, v in first[1].items())[
            "x-artstore-delivery"]
        payload = json.loads(body)
        assert payload["id"] == uploaded["id"] and payload["data"]["original_filename"] == "отчёт.pdf"
        # не владелец и не ADMIN — не получает; ADMIN получает события любых владельцев
        assert receiver.on("/other") == []

        async def delivered() -> dict[str, Any]:
            return (await c.get(f"/api/v1/service-accounts/{owner['id']}/webhooks/{hook['id']}/deliveries",
                                headers=auth)).json()

        for _ in range(100):
            page = await delivered()
            if page["items"] and page["items"][0]["status"] == "delivered":
                break
            await asyncio.sleep(0.05)
        d = page["items"][0]
        assert page["total"] == 1 and d["status"] == "delivered" and d["attempts"] == 2
        assert [x["status_code"] for x in d["attempt_log"]] == [500, 200]
        metrics = (await c.get("/metrics")).text
        assert 'artstore_webhook_deliveries_total{event="file_uploaded",outcome="retry"} 1.0' in metrics
        assert 'artstore_webhook_deliveries_total{event="file_uploaded",outcome="success"} 1.0' in metrics

        r = await c.patch(f"/api/v1/service-accounts/{owner['id']}/webhooks/{hook['id']}",
                          json={"is_active": False}, headers=auth)
        assert r.status_code == 200 and r.json()["is_active"] is False
        r = await c.delete(f"/api/v1/service-accounts/{owner['id']}/webhooks/{hook['id']}", headers=auth)
        assert r.status_code == 204


async def test_stale_pending_event_is_claimed(make_settings: Callable[..., Settings], receiver: Receiver,
                                              redis_url: str, redis_namespace: str) -> None:
    """Реплика прочитала событие и упала, не подтвердив: другая забирает его (XAUTOCLAIM) и доставляет."""
    from admin_module.webhooks.service import GROUP, WebhookDispatcher
    from artstore_common import events_stream

    async with running(make_settings()) as a:
        c = a.client
        auth = await a.headers()
        system = (await c.get("/api/v1/service-accounts", headers=auth)).json()["items"][0]
        await c.post(f"/api/v1/service-accounts/{system['id']}/webhooks",
                     json={"url": receiver.url + "/admin", "events": ["restore_failed"]}, headers=auth)
        st = a.app.state
        await st.webhooks.stop()  # живой потребитель не должен перехватить событие
        redis = aioredis.from_url(redis_url)
        try:
            await EventPublisher(redis, redis_namespace).emit(
                "restore_failed", {"file_id": "f-9", "storage_element_id": "se-01", "owner_id": "u-1",
                                   "original_filename": "a", "reason": "tape"}, actor=SYSTEM)
            stream = events_stream(redis_namespace)
            got = await redis.xreadgroup(GROUP, "dead-replica", {stream: ">"}, count=10)
            assert got and len(got[0][1]) == 1
            rescuer = WebhookDispatcher(st.settings, st.sessionmaker, redis_url, st.box, st.admin_metrics)
            rescuer.claim_idle_ms = 50
            await asyncio.sleep(0.1)
            await rescuer.claim_stale()
            assert await rescuer.deliver_due() == 1
            await rescuer.stop()
            assert len(receiver.on("/admin")) == 1
            pending = await redis.xpending(stream, GROUP)
            assert pending["pending"] == 0
        finally:
            await redis.aclose()


async def test_batch_of_events_enqueues_deliveries_in_chunks(make_settings: Callable[..., Settings],
                                                             receiver: Receiver, redis_url: str,
                                                             redis_namespace: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Пачка событий × много подписчиков — вставка частями (предел параметров запроса PostgreSQL), а чужой
    владелец не получает событие: подписчики пачки — её владельцы и ADMIN."""
    from admin_module.webhooks import repository

    monkeypatch.setattr(repository, "ENQUEUE_CHUNK", 3)
    async with running(make_settings(webhook_worker_interval_seconds=0.1)) as a:
        c = a.client
        auth = await a.headers()
        owner = (await c.post("/api/v1/service-accounts", json={"name": "owner-b"}, headers=auth)).json()
        other = (await c.post("/api/v1/service-accounts", json={"name": "other-b"}, headers=auth)).json()
        for i in range(4):
            r = await c.post(f"/api/v1/service-accounts/{owner['id']}/webhooks",
                             json={"url": f"{receiver.url}/o{i}", "events": ["file_uploaded"]}, headers=auth)
            assert r.status_code == 201, r.text
        await c.post(f"/api/v1/service-accounts/{other['id']}/webhooks",
                     json={"url": receiver.url + "/other", "events": ["file_uploaded"]}, headers=auth)
        st = a.app.state
        await st.webhooks.stop()  # пачку разбираем сами, одним вызовом
        redis = aioredis.from_url(redis_url)
        try:
            publisher = EventPublisher(redis, redis_namespace)
            for n in range(3):
                await publisher.emit("file_uploaded", {"file_id": f"f-{n}", "storage_element_id": "se-01",
                                                       "owner_id": owner["id"], "original_filename": "a"}, actor=SYSTEM)
            from admin_module.webhooks.service import WebhookDispatcher

            worker = WebhookDispatcher(st.settings, st.sessionmaker, redis_url, st.box, st.admin_metrics)
            await worker.ensure_group()
            entries = await redis.xrange(f"{redis_namespace}:events")
            await worker.handle_messages(entries)
            delivered = 0
            for _ in range(10):
                delivered += await worker.deliver_due(limit=50)
            await worker.stop()
        finally:
            await redis.aclose()
        assert delivered == 12  # 3 события × 4 вебхука владельца, вставлено частями по 3
        assert sorted({r[0] for r in receiver.requests}) == [f"/o{i}" for i in range(4)]
