"""Флот на loopback для тестов query-module: настоящие storage-element (``storage_element.app``) в потоках,
снимок discovery в Redis (как публикует admin-module), сервисные токены и сам query."""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import redis

from artstore_common import discovery_channel, discovery_key, events_channel, make_event
from artstore_common.testing import TEST_ISSUER, JWKSServer, TokenFactory, TokenServer, UvicornThread, free_port
from query_module.app import create_app
from query_module.settings import Settings
from storage_element.app import create_app as create_element
from storage_element.settings import Settings as ElementSettings


class Element:
    def __init__(self, element_id: str, mode: str, thread: UvicornThread, data_dir: Path | None = None,
                 member_of: str | None = None) -> None:
        self.id = element_id
        self.mode = mode
        self.thread = thread
        self.running = True
        self.data_dir = data_dir
        self.member_of = member_of  # член реплицированного элемента (docs/replication.md): id логического

    @property
    def url(self) -> str:
        return self.thread.url

    def stop(self) -> None:
        if self.running:
            self.thread.__exit__(None, None, None)
            self.running = False


class Fleet:
    def __init__(self, tmp: Path, database_url: str, redis_url: str, namespace: str,
                 factory: TokenFactory, jwks: JWKSServer, tokens: TokenServer) -> None:
        self.tmp = tmp
        self.database_url = database_url
        self.redis_url = redis_url
        self.ns = namespace
        self.factory = factory
        self.jwks = jwks
        self.tokens = tokens
        self.redis = redis.Redis.from_url(redis_url)
        self.elements: dict[str, Element] = {}
        self.query: UvicornThread | None = None
        self.replication: dict[str, dict[str, Any]] = {}
        self.admin_headers = factory.headers("ADMIN", name="ingester")
        self.http = httpx.Client(timeout=30)

    # --- элементы ---------------------------------------------------------------------------------
    def add_element(self, element_id: str, mode: str = "edit", *, member_of: str | None = None,
                    port: int | None = None, extra: dict[str, Any] | None = None) -> Element:
        settings = ElementSettings(
            environment="development", element_id=member_of or element_id, mode=mode,
            data_dir=self.tmp / element_id, database_url=self.database_url, redis_url=self.redis_url,
            redis_namespace=self.ns, jwks_url=self.jwks.url, jwt_issuer=TEST_ISSUER,
            table_prefix=element_id.replace("-", "_"), log_format="text", log_level="WARNING",
            **(extra or {}),
        )
        app = create_element(settings)
        thread = UvicornThread(app, port=port).__enter__() if port else UvicornThread(app).__enter__()
        el = Element(element_id, mode, thread, settings.data_dir, member_of)
        self.elements[element_id] = el
        return el

    def add_replicated(self, element_id: str, mode: str = "edit", members: int = 3, *,
                       replication_mode: str = "sync") -> list[Element]:
        """Реплицированный элемент: члены — обычные storage-element с общим SE_ELEMENT_ID."""
        ids = [f"{element_id}-{c}" for c in "abcdefgh"[:members]]
        ports = {m: free_port() for m in ids}
        peers = [{"id": m, "api_url": f"http://127.0.0.1:{p}"} for m, p in ports.items()]
        # члены настоящие (знают соседей, берут токен); anti-entropy — только по просьбе теста
        made = [self.add_element(m, mode, member_of=element_id, port=ports[m], extra={
            "member_id": m, "replication_mode": replication_mode, "replication_peers": peers,
            "replication_interval": 3600, "token_url": self.tokens.url, "client_id": "test-member",
            "client_secret": "test-member-secret"}) for m in ids]
        self.replication[element_id] = {"mode": replication_mode, "quorum": members // 2 + 1}
        return made

    def members(self, element_id: str) -> list[Element]:
        return [e for e in self.elements.values() if e.member_of == element_id]

    def publish(self, extra: list[dict[str, Any]] | None = None, **overrides: dict[str, Any]) -> None:
        """Снимок discovery, как его публикует admin-module."""
        items = list(extra or [])
        for el in self.elements.values():
            if el.member_of is not None:
                continue
            item = {"id": el.id, "name": el.id, "api_url": el.url, "mode": el.mode, "status": "online",
                    "priority": 100, "storage_type": "local"}
            item.update(overrides.get(el.id, {}))
            items.append(item)
        for element_id, rep in self.replication.items():
            members = [{"id": m.id, "api_url": m.url, "status": "online", **overrides.get(m.id, {})}
                       for m in self.members(element_id)]
            online = sum(m["status"] == "online" for m in members)
            item = {"id": element_id, "name": element_id, "api_url": members[0]["api_url"],
                    "mode": self.members(element_id)[0].mode, "priority": 100, "storage_type": "local",
                    "status": "online" if online == len(members) else "degraded" if online else "offline",
                    "replication": {**rep, "members": members}}
            item.update(overrides.get(element_id, {}))
            items.append(item)
        snapshot = {"version": uuid.uuid4().int % 10**6, "storage_elements": items}
        self.redis.set(discovery_key(self.ns), json.dumps(snapshot))
        self.redis.publish(discovery_channel(self.ns), json.dumps({"event": "updated"}))

    def put(self, element_id: str, filename: str, data: bytes, *, tags: list[str] | None = None,
            description: str = "", content_type: str = "application/octet-stream",
            username: str = "ivanov", file_id: str | None = None, on: list[str] | None = None) -> str:
        """Файл на элемент; у реплицированного — на членов ``on`` (по умолчанию на всех) с одним created_at,
        как пишет тройник ingester."""
        file_id = file_id or str(uuid.uuid4())
        meta = {"original_filename": filename, "content_type": content_type, "created_by_id": "u-1",
                "created_by_username": username, "description": description, "tags": tags or [],
                "metadata": {}, "retention_policy": "temporary", "ttl_days": 30,
                "created_at": datetime.now(UTC).isoformat()}
        header = base64.urlsafe_b64encode(json.dumps(meta).encode()).decode().rstrip("=")
        targets = on or ([m.id for m in self.members(element_id)] or [element_id])
        for target in targets:
            r = self.http.put(f"{self.elements[target].url}/api/v1/files/{file_id}", content=data,
                              headers={**self.admin_headers, "X-Artstore-Meta": header})
            assert r.status_code in (200, 201), r.text
        return file_id

    def delete(self, element_id: str, file_id: str) -> None:
        r = self.http.delete(f"{self.elements[element_id].url}/api/v1/files/{file_id}", headers=self.admin_headers)
        assert r.status_code == 204, r.text

    def emit(self, event_type: str, file_id: str, element_id: str) -> None:
        event = make_event(event_type, {"file_id": file_id, "storage_element_id": element_id})
        self.redis.publish(events_channel(self.ns), json.dumps(event))

    # --- query --------------------------------------------------------------------------------------
    def start_query(self, **overrides: Any) -> UvicornThread:
        settings = Settings(**{
            "environment": "development", "redis_url": self.redis_url, "redis_namespace": self.ns,
            "jwks_url": self.jwks.url, "jwt_issuer": TEST_ISSUER, "token_url": self.tokens.url,
            "client_id": "query", "client_secret": "query-secret", "data_dir": self.tmp / "query",
            "database_url": self.database_url, "link_secret": "query-link-test-secret",
            "log_format": "text", "log_level": "WARNING", **overrides,
        })
        self.query_app = create_app(settings)
        self.query = UvicornThread(self.query_app).__enter__()
        return self.query

    def wait_links(self, timeout: float = 30) -> None:
        """Схема ссылок применяется в фоне после старта query: ждём, пока маршруты ссылок готовы."""
        deadline = time.monotonic() + timeout
        while getattr(self.query_app.state, "links", None) is None:
            assert time.monotonic() < deadline, "схема query_links не применилась"
            time.sleep(0.05)

    def q(self, method: str, path: str, role: str = "READONLY", **kwargs: Any) -> httpx.Response:
        assert self.query is not None
        headers = {**self.factory.headers(role), **kwargs.pop("headers", {})}
        return self.http.request(method, f"{self.query.url}{path}", headers=headers, **kwargs)

    def close(self) -> None:
        if self.query is not None:
            self.query.__exit__(None, None, None)
        for el in self.elements.values():
            el.stop()
        self.http.close()
        self.redis.close()
