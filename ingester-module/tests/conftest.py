"""Стенд для тестов ingester: настоящие storage-element (в процессе через UvicornThread или отдельными
процессами), настоящие PostgreSQL и Redis, выдача сервисных токенов и снимок discovery в Redis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from artstore_common import discovery_channel, discovery_key
from artstore_common.testing import (
    TEST_AUDIENCE,
    TEST_ISSUER,
    JWKSServer,
    TokenFactory,
    TokenServer,
    UvicornThread,
    create_database,
    drop_database,
    free_port,
    wait_http,
)


@dataclass
class ElementHandle:
    id: str
    mode: str
    url: str
    data_dir: Path
    priority: int
    env: dict[str, str] = field(default_factory=dict)
    kw: dict[str, Any] = field(default_factory=dict)
    thread: UvicornThread | None = None
    proc: subprocess.Popen[bytes] | None = None

    def stop(self) -> None:
        if self.thread is not None:
            self.thread.__exit__(None, None, None)
            self.thread = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class Fleet:
    def __init__(self, tmp: Path, database_url: str, redis_url: str, namespace: str) -> None:
        self.tmp = tmp
        self.database_url = database_url
        self.redis_url = redis_url
        self.namespace = namespace
        self.factory = TokenFactory()
        self.jwks = JWKSServer(self.factory)
        self.issuer = TokenServer(self.factory, sub="ingester-service", name="ingester")
        self.elements: dict[str, ElementHandle] = {}
        self.ingesters: list[UvicornThread] = []
        self.version = 0

    # --- элементы ---------------------------------------------------------------------------------
    def _element_kwargs(self, eid: str, mode: str, max_size: str, priority: int, port: int) -> dict[str, Any]:
        return {"element_id": eid, "name": f"Элемент {eid}", "mode": mode, "port": port,
                "data_dir": str(self.tmp / eid), "max_size": max_size,
                "table_prefix": "se_" + eid.replace("-", "_"), "priority": priority,
                "database_url": self.database_url, "redis_url": self.redis_url,
                "redis_namespace": self.namespace, "jwks_url": self.jwks.url, "jwt_issuer": TEST_ISSUER,
                "jwt_audience": TEST_AUDIENCE, "environment": "development", "log_format": "text",
                "log_level": "WARNING"}

    def add_element(self, eid: str, mode: str, *, max_size: str = "1GiB", priority: int = 100,
                    process: bool = False) -> ElementHandle:
        port = free_port()
        kw = self._element_kwargs(eid, mode, max_size, priority, port)
        handle = ElementHandle(eid, mode, f"http://127.0.0.1:{port}", Path(kw["data_dir"]), priority, kw=kw)
        if process:
            handle.env = {**os.environ, **{f"SE_{k.upper()}": str(v) for k, v in kw.items()}}
            self.start_process(handle)
        else:
            self.start_thread(handle)
        self.elements[eid] = handle
        return handle

    def start_thread(self, handle: ElementHandle) -> None:
        """Элемент в этом процессе (быстрее процесса); повторный вызов — «перезапуск» на том же порту."""
        from storage_element.app import create_app
        from storage_element.settings import Settings

        handle.thread = UvicornThread(create_app(Settings(**handle.kw)), port=handle.kw["port"]).__enter__()

    def start_process(self, handle: ElementHandle) -> None:
        log = open(self.tmp / f"{handle.id}.log", "ab")  # noqa: SIM115
        handle.proc = subprocess.Popen([sys.executable, "-m", "storage_element"], env=handle.env,
                                       stdout=log, stderr=log)
        wait_http(handle.url + "/health/live")

    def publish(self, overrides: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
        """Снимок discovery как у admin-module: из /info каждого элемента."""
        items = []
        for h in self.elements.values():
            info = httpx.get(h.url + "/api/v1/info", headers=self.factory.headers("READONLY"), timeout=10).json()
            item = {k: info.get(k) for k in ("id", "name", "mode", "storage_type", "capacity_bytes",
                                             "used_bytes", "free_bytes", "file_count", "retention_days")}
            item.update(api_url=h.url, status="online", priority=h.priority)
            item.update((overrides or {}).get(h.id, {}))
            items.append(item)
        self.version += 1
        snap = {"version": self.version, "published_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "storage_elements": items}
        client = redis.Redis.from_url(self.redis_url)
        try:
            client.set(discovery_key(self.namespace), json.dumps(snap, ensure_ascii=False))
            client.publish(discovery_channel(self.namespace), json.dumps({"event": "updated"}))
        finally:
            client.close()
        return snap

    # --- ingester ---------------------------------------------------------------------------------
    def ingester_settings(self, **overrides: Any) -> Any:
        from ingester_module.settings import Settings

        kw: dict[str, Any] = {
            "database_url": self.database_url, "redis_url": self.redis_url, "redis_namespace": self.namespace,
            "jwks_url": self.jwks.url, "token_url": self.issuer.url, "jwt_issuer": TEST_ISSUER,
            "jwt_audience": TEST_AUDIENCE, "client_id": "ingester-service", "client_secret": "test-secret-42",
            "environment": "test", "log_format": "text", "log_level": "WARNING",
            "data_dir": str(self.tmp / f"ingester-{uuid.uuid4().hex[:6]}"), "saga_retry_delay": 0.3,
            "breaker_reset_timeout": 1.0,
        }
        kw.update(overrides)
        return Settings(**kw)

    def ingester(self, **overrides: Any) -> str:
        from ingester_module.app import create_app

        server = UvicornThread(create_app(self.ingester_settings(**overrides))).__enter__()
        self.ingesters.append(server)
        wait_http(server.url + "/health/ready")
        return server.url

    def headers(self, role: str = "USER", sub: str = "user-1", name: str = "ivanov", **kw: Any) -> dict[str, str]:
        return self.factory.headers(role, sub=sub, name=name, **kw)

    def close(self) -> None:
        for s in self.ingesters:
            s.__exit__(None, None, None)
        for h in self.elements.values():
            h.stop()
        self.jwks.close()
        self.issuer.close()


@pytest.fixture
def fleet(tmp_path: Path, database_url: str, redis_url: str, redis_namespace: str) -> Iterator[Fleet]:
    f = Fleet(tmp_path, database_url, redis_url, redis_namespace)
    try:
        yield f
    finally:
        f.close()


@pytest.fixture
def fleet_factory(tmp_path: Path, database_url: str) -> Iterator[Any]:
    """Стенд со своим Redis (например, встроенным, который тест останавливает)."""
    made: list[Fleet] = []

    def make(redis_url: str, namespace: str = "artstore-own") -> Fleet:
        f = Fleet(tmp_path, database_url, redis_url, namespace)
        made.append(f)
        return f

    try:
        yield make
    finally:
        for f in made:
            f.close()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, pg_admin_url: str, redis_url: str) -> Iterator[Fleet]:
    """Общий стенд модуля: edit-элемент, rw-элемент и один ingester."""
    name, url = create_database(pg_admin_url)
    f = Fleet(tmp_path_factory.mktemp("fleet"), url, redis_url, f"artstore-test-{uuid.uuid4().hex[:10]}")
    try:
        f.add_element("se-edit", "edit", priority=10)
        f.add_element("se-rw", "rw", priority=10)
        f.publish()
        f.url = f.ingester()  # type: ignore[attr-defined]
        yield f
    finally:
        f.close()
        drop_database(pg_admin_url, name)
