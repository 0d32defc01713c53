"""Реестр элементов хранения: опрос /info, статусы, снимок discovery в Redis, прокси команд элементу."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from artstore_common import ProblemError, ServiceClient, publish_snapshot, session_scope

from ..db import StorageElement
from ..keys.service import KeyManager
from ..metrics import AdminMetrics
from ..settings import Settings
from . import repository
from .schemas import ElementOut, SummaryOut

_log = logging.getLogger("admin_module.registry")
_ONLINE = frozenset({"ok", "online", "healthy", "ready"})
INTERNAL_SUBJECT = "admin-module"
INFO_TOKEN_TTL = 300


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _expiring(e: StorageElement) -> int | None:
    return _int((e.info or {}).get("expiring_soon"))


def to_out(e: StorageElement) -> ElementOut:
    return ElementOut(
        id=e.id, name=e.name, api_url=e.api_url, priority=e.priority, mode=e.mode, status=e.status,
        storage_type=e.storage_type, capacity_bytes=e.capacity_bytes, used_bytes=e.used_bytes,
        free_bytes=e.free_bytes, file_count=e.file_count, expiring_soon=_expiring(e),
        retention_days=e.retention_days, version=e.version,
        last_seen_at=e.last_seen_at, last_health_check=e.last_seen_at, last_error=e.last_error,
        registered_at=e.registered_at, updated_at=e.updated_at,
    )


def summary(elements: Sequence[StorageElement]) -> SummaryOut:
    by_status = {"online": 0, "degraded": 0, "offline": 0}
    by_mode: dict[str, int] = {}
    for e in elements:
        by_status[e.status] = by_status.get(e.status, 0) + 1
        if e.mode:
            by_mode[e.mode] = by_mode.get(e.mode, 0) + 1
    capacity = sum(e.capacity_bytes or 0 for e in elements)
    used = sum(e.used_bytes or 0 for e in elements)
    files = sum(e.file_count or 0 for e in elements)
    return SummaryOut(
        total=len(elements), online=by_status["online"], degraded=by_status["degraded"],
        offline=by_status["offline"], capacity_bytes=capacity, used_bytes=used,
        free_bytes=sum(e.free_bytes or 0 for e in elements), file_count=files,
        expiring_soon=sum(_expiring(e) or 0 for e in elements), by_mode=by_mode, by_status=by_status,
        total_elements=len(elements), online_elements=by_status["online"], total_capacity_bytes=capacity,
        total_used_bytes=used, total_files=files,
    )


def snapshot_entry(e: StorageElement) -> dict[str, Any]:
    return {
        "id": e.id, "name": e.name, "api_url": e.api_url, "mode": e.mode, "status": e.status,
        "priority": e.priority, "storage_type": e.storage_type, "capacity_bytes": e.capacity_bytes,
        "used_bytes": e.used_bytes, "free_bytes": e.free_bytes, "file_count": e.file_count,
        "retention_days": e.retention_days, "last_seen_at": _iso(e.last_seen_at),
    }


class Registry:
    def __init__(self, settings: Settings, maker: async_sessionmaker[AsyncSession], redis: aioredis.Redis,
                 keys: KeyManager, metrics: AdminMetrics) -> None:
        self.settings = settings
        self.maker = maker
        self.redis = redis
        self.keys = keys
        self.metrics = metrics
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(settings.element_timeout_seconds, connect=3.0))
        self.client = ServiceClient(auth_headers=self._auth_headers, retries=1,
                                    timeout=httpx.Timeout(120.0, connect=3.0))
        self._token: tuple[str, float] | None = None
        self._info_token: tuple[str, float] | None = None
        self._last_fingerprint: str | None = None
        self._last_publish = 0.0
        self.publications = 0

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.client.aclose()

    async def _auth_headers(self) -> dict[str, str]:
        # Собственный сервисный токен admin: выпускаем сами, без похода на свой /auth/token.
        if self._token is None or self._token[1] < time.monotonic():
            token, ttl = await self.keys.issue(subject=INTERNAL_SUBJECT, client_id=INTERNAL_SUBJECT, role="ADMIN",
                                               name=INTERNAL_SUBJECT, grant="internal",
                                               extra={"kind": "service_account"})
            self._token = (token, time.monotonic() + ttl - 120)
        return {"Authorization": f"Bearer {self._token[0]}"}

    async def _info_headers(self) -> dict[str, str]:
        # /info элемента требует токен, но адрес для discover вводит человек: туда уходит отдельный короткий
        # токен роли READONLY, а не ADMIN-токен команд — чужой сервер по ошибочному адресу не получит права ADMIN.
        if self._info_token is None or self._info_token[1] < time.monotonic():
            token, ttl = await self.keys.issue(subject=INTERNAL_SUBJECT, client_id=INTERNAL_SUBJECT, role="READONLY",
                                               name=INTERNAL_SUBJECT, grant="internal",
                                               extra={"kind": "service_account"}, ttl=INFO_TOKEN_TTL)
            self._info_token = (token, time.monotonic() + ttl / 2)
        return {"Authorization": f"Bearer {self._info_token[0]}"}

    # --- опрос ---------------------------------------------------------------------------------------
    async def fetch_info(self, api_url: str) -> dict[str, Any]:
        url = api_url.rstrip("/") + "/api/v1/info"
        try:
            resp = await self.http.get(url, headers=await self._info_headers())
        except httpx.HTTPError as exc:
            raise ProblemError(502, "element_unreachable", f"элемент {api_url} не отвечает: {exc!r}") from exc
        if resp.status_code != 200:
            raise ProblemError(502, "element_unreachable", f"{url} ответил HTTP {resp.status_code}")
        try:
            info = resp.json()
        except ValueError as exc:
            raise ProblemError(502, "element_bad_info", f"{url} вернул не JSON") from exc
        if not isinstance(info, dict) or not info.get("id"):
            raise ProblemError(502, "element_bad_info", f"{url}: в ответе нет id элемента — это точно storage-element?")
        return info

    @staticmethod
    def apply_info(e: StorageElement, info: dict[str, Any], now: datetime) -> None:
        e.mode = str(info.get("mode")) if info.get("mode") else e.mode
        raw_status = str(info.get("status") or "ok").lower()
        e.status = "online" if raw_status in _ONLINE else "degraded"
        e.storage_type = info.get("storage_type") or e.storage_type
        e.capacity_bytes = _int(info.get("capacity_bytes"))
        e.used_bytes = _int(info.get("used_bytes"))
        e.free_bytes = _int(info.get("free_bytes"))
        e.file_count = _int(info.get("file_count"))
        e.retention_days = _int(info.get("retention_days"))
        e.version = str(info["version"]) if info.get("version") is not None else None
        e.info = info
        e.last_seen_at = now
        e.last_error = None
        e.updated_at = now

    async def poll_one(self, e: StorageElement) -> None:
        now = _now()
        try:
            info = await self.fetch_info(e.api_url)
        except ProblemError as exc:
            if e.status != "offline":
                _log.warning("элемент %s недоступен: %s", e.id, exc.detail)
            e.status = "offline"
            e.last_error = exc.detail
            e.updated_at = now
            return
        if str(info.get("id")) != e.id:
            e.status = "degraded"
            e.last_error = f"по адресу {e.api_url} отвечает другой элемент ({info.get('id')})"
            e.updated_at = now
            return
        self.apply_info(e, info, now)

    async def poll_all(self) -> None:
        async with session_scope(self.maker) as session:
            elements = await repository.all_elements(session)
            await asyncio.gather(*(self.poll_one(e) for e in elements))
            for status in ("online", "degraded", "offline"):
                self.metrics.elements.labels(status).set(sum(1 for e in elements if e.status == status))

    async def step(self) -> None:
        """Шаг задачи опроса (только лидер): опросить всех и опубликовать снимок при изменении."""
        await self.poll_all()
        await self.publish()

    # --- снимок --------------------------------------------------------------------------------------
    async def publish(self, *, force: bool = False) -> bool:
        async with session_scope(self.maker) as session:
            elements = [snapshot_entry(e) for e in await repository.all_elements(session)]
        stable = [{k: v for k, v in e.items() if k != "last_seen_at"} for e in elements]
        fingerprint = hashlib.sha256(json.dumps(stable, sort_keys=True, default=str).encode()).hexdigest()
        stale = time.monotonic() - self._last_publish >= self.settings.snapshot_max_age_seconds
        if not force and not stale and fingerprint == self._last_fingerprint:
            return False
        ns = self.settings.redis_namespace
        try:
            version = int(await self.redis.incr(f"{ns}:storage_elements:version"))
            snapshot = {"version": version, "published_at": _iso(_now()), "storage_elements": elements}
            await publish_snapshot(self.redis, ns, snapshot)
        except (RedisError, OSError) as exc:
            self.metrics.snapshot_publications.labels("failure").inc()
            _log.warning("снимок discovery не опубликован (Redis): %s", exc)
            return False
        self.metrics.snapshot_publications.labels("success").inc()
        self._last_fingerprint = fingerprint
        self._last_publish = time.monotonic()
        self.publications += 1
        return True

    # --- прокси команд -----------------------------------------------------------------------------
    async def proxy(self, e: StorageElement, method: str, path: str, **kwargs: Any) -> Any:
        resp = await self.client.request(e.api_url, method, "/api/v1" + path, **kwargs)
        try:
            body = resp.json()
        except ValueError:
            body = None
        if resp.status_code >= 400:
            code = body.get("code") if isinstance(body, dict) else None
            detail = body.get("detail") if isinstance(body, dict) else None
            status = resp.status_code if resp.status_code < 500 else 502
            raise ProblemError(status, str(code or "element_error"),
                               f"элемент {e.id} ответил HTTP {resp.status_code}: {detail or resp.text[:300]}")
        return body
