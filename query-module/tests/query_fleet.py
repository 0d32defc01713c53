"""Флот на loopback для тестов query-module: настоящие storage-element (``storage_element.app``) в потоках,
снимок discovery в Redis (как публикует admin-module), сервисные токены и сам query."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import redis

from artstore_common import discovery_channel, discovery_key, events_channel, make_event
from artstore_common.testing import TEST_ISSUER, JWKSServer, TokenFactory, TokenServer, UvicornThread
from query_module.app import create_app
from query_module.settings import Settings
from storage_element.app import create_app as create_element
from storage_element.settings import Settings as ElementSettings


class Element:
    def __init__(self, element_id: str, mode: str, thread: UvicornThread) -> None:
        self.id = element_id
        self.mode = mode
        self.thread = thread
        self.running = True

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
        self.admin_headers = factory.headers("ADMIN", name="ingester")
        self.http = httpx.Client(timeout=30)

    # --- элементы ---------------------------------------------------------------------------------
    def add_element(self, element_id: str, mode: str = "edit") -> Element:
        settings = ElementSettings(
            environment="development", element_id=element_id, mode=mode, data_dir=self.tmp / element_id,
            database_url=self.database_url, redis_url=self.redis_url, redis_namespace=self.ns,
            jwks_url=self.jwks.url, jwt_issuer=TEST_ISSUER, table_prefix=element_id.replace("-", "_"),
            log_format="text", log_level="WARNING",
        )
        app = create_element(settings)
        thread = UvicornThread(app).__enter__()
        el = Element(element_id, mode, thread)
        self.elements[element_id] = el
        return el

    def publish(self, extra: list[dict[str, Any]] | None = None, **overrides: dict[str, Any]) -> None:
        """Снимок discovery, как его публикует admin-module."""
        items = list(extra or [])
        for el in self.elements.values():
            item = {"id": el.id, "name": el.id, "api_url": el.url, "mode": el.mode, "status": "online",
                    "priority": 100, "storage_type": "local"}
            item.update(overrides.get(el.id, {}))
            items.append(item)
        snapshot = {"version": uuid.uuid4().int % 10**6, "storage_elements": items}
        self.redis.set(discovery_key(self.ns), json.dumps(snapshot))
        self.redis.publish(discovery_channel(self.ns), json.dumps({"event": "updated"}))

    def put(self, element_id: str, filename: str, data: bytes, *, tags: list[str] | None = None,
            description: str = "", content_type: str = "application/octet-stream",
            username: str = "ivanov", file_id: str | None = None) -> str:
        file_id = file_id or str(uuid.uuid4())
        meta = {"original_filename": filename, "content_type": content_type, "created_by_id": "u-1",
                "created_by_username": username, "description": description, "tags": tags or [],
                "metadata": {}, "retention_policy": "temporary", "ttl_days": 30}
        header = base64.urlsafe_b64encode(json.dumps(meta).encode()).decode().rstrip("=")
        r = self.http.put(f"{self.elements[element_id].url}/api/v1/files/{file_id}", content=data,
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
        settings = Settings(
            environment="development", redis_url=self.redis_url, redis_namespace=self.ns,
            jwks_url=self.jwks.url, jwt_issuer=TEST_ISSUER, token_url=self.tokens.url,
            client_id="query", client_secret="query-secret", data_dir=self.tmp / "query",
            log_format="text", log_level="WARNING", **overrides,
        )
        self.query_app = create_app(settings)
        self.query = UvicornThread(self.query_app).__enter__()
        return self.query

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
