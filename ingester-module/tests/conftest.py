"""Стенд для тестов ingester: настоящие storage-element (в процессе через UvicornThread или отдельными
процессами), настоящие PostgreSQL и Redis, выдача сервисных токенов и снимок discovery в Redis."""

from __future__ import annotations

import contextlib
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
    member_of: str | None = None  # член реплицированного элемента (docs/replication.md): id логического

    @property
    def running(self) -> bool:
        return self.thread is not None or (self.proc is not None and self.proc.poll() is None)

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
        self.replication: dict[str, dict[str, Any]] = {}  # логический id → {mode, quorum}

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
                    process: bool = False, member_of: str | None = None, port: int | None = None,
                    extra: dict[str, Any] | None = None) -> ElementHandle:
        port = port or free_port()
        kw = {**self._element_kwargs(eid, mode, max_size, priority, port), **(extra or {})}
        if member_of is not None:
            kw["element_id"] = member_of  # у всех членов id логического элемента, у каждого свои каталог и таблица
        handle = ElementHandle(eid, mode, f"http://127.0.0.1:{port}", Path(kw["data_dir"]), priority, kw=kw,
                               member_of=member_of)
        if process:
            handle.env = {**os.environ, **{f"SE_{k.upper()}": str(v) for k, v in kw.items()}}
            self.start_process(handle)
        else:
            self.start_thread(handle)
        self.elements[eid] = handle
        return handle

    def add_replicated(self, eid: str, mode: str, members: int = 3, *, replication_mode: str = "sync",
                       quorum: int | None = None, priority: int = 100, process: bool = False,
                       max_size: str = "1GiB", interval: float = 3600) -> list[ElementHandle]:
        """Реплицированный элемент: ``members`` обычных storage-element с общим SE_ELEMENT_ID; в снимке —
        одна запись с блоком ``replication`` (docs/replication.md §2)."""
        ids = [f"{eid}-{letter}" for letter in "abcdefgh"[:members]]
        ports = {m: free_port() for m in ids}
        quorum = quorum or members // 2 + 1
        peers = [{"id": m, "api_url": f"http://127.0.0.1:{p}"} for m, p in ports.items()]
        handles = []
        for m in ids:
            # член настоящий: знает соседей, берёт токен для их описи и копий; anti-entropy по умолчанию —
            # только по просьбе теста (POST /replication/sync), чтобы не дописывать копии, которых тест ждёт
            # отсутствующими
            extra = {"member_id": m, "replication_mode": replication_mode, "replication_quorum": quorum,
                     "replication_interval": interval, "token_url": self.issuer.url, "client_id": "test-member",
                     "client_secret": "test-member-secret"}
            if process:
                extra["replication_peers"] = json.dumps(peers)
            else:
                extra["replication_peers"] = peers
            handles.append(self.add_element(m, mode, max_size=max_size, priority=priority, process=process,
                                            member_of=eid, port=ports[m], extra=extra))
        self.replication[eid] = {"mode": replication_mode, "quorum": quorum}
        return handles

    def members(self, eid: str) -> list[ElementHandle]:
        return [h for h in self.elements.values() if h.member_of == eid]

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
            if h.member_of is not None:
                continue
            info = httpx.get(h.url + "/api/v1/info", headers=self.factory.headers("READONLY"), timeout=10).json()
            item = {k: info.get(k) for k in ("id", "name", "mode", "storage_type", "capacity_bytes",
                                             "used_bytes", "free_bytes", "file_count", "retention_days")}
            item.update(api_url=h.url, status="online", priority=h.priority)
            item.update((overrides or {}).get(h.id, {}))
            items.append(item)
        for eid, rep in self.replication.items():
            items.append(self._replicated_item(eid, rep, overrides or {}))
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

    def _replicated_item(self, eid: str, rep: dict[str, Any], overrides: dict[str, dict[str, Any]]
                         ) -> dict[str, Any]:
        """Запись реплицированного элемента, как её собирает admin-module (docs/replication.md §2); член,
        не ответивший на /info, — offline, ``overrides[member_id]`` правит запись члена."""
        members, infos = [], []
        for h in self.members(eid):
            info = None
            if h.running:
                with contextlib.suppress(httpx.HTTPError):
                    info = httpx.get(h.url + "/api/v1/info", headers=self.factory.headers("READONLY"),
                                     timeout=10).json()
            member = {"id": h.id, "api_url": h.url, "status": "online" if info else "offline",
                      "lag_seconds": 0 if info else None, "under_replicated": 0 if info else None}
            member.update(overrides.get(h.id, {}))
            members.append(member)
            if info and member["status"] == "online":
                infos.append(info)
        online = sum(1 for m in members if m["status"] == "online")
        first = self.members(eid)[0]
        item: dict[str, Any] = {
            "id": eid, "name": f"Элемент {eid}", "mode": first.mode, "storage_type": "local",
            "api_url": first.url, "priority": first.priority,
            "status": "online" if online == len(members) else "degraded" if online else "offline",
            "free_bytes": min((i["free_bytes"] for i in infos), default=None),
            "file_count": max((i["file_count"] for i in infos), default=0),
            "replication": {**rep, "members": members}}
        item.update(overrides.get(eid, {}))
        return item

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

    def events(self, event_type: str, file_id: str, timeout: float = 10.0) -> list[dict[str, Any]]:
        """События потока {ns}:events данного типа о файле — в порядке публикации. Ждёт первого: событие
        идёт через outbox в PostgreSQL, и в поток его переносит ретранслятор, а не сам запрос."""
        client = redis.Redis.from_url(self.redis_url)
        deadline = time.monotonic() + timeout
        try:
            while True:
                entries: Any = client.xrange(f"{self.namespace}:events")
                events = [json.loads(fields[b"event"]) for _, fields in entries]
                mine = [e for e in events if e["type"] == event_type and e["data"].get("file_id") == file_id]
                if mine or time.monotonic() > deadline:
                    return mine
                time.sleep(0.05)
        finally:
            client.close()

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
