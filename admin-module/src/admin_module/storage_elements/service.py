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

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from artstore_common import (
    ElementClient,
    ElementError,
    ElementStatus,
    Outcome,
    ProblemError,
    TokenGrant,
    publish_snapshot,
    session_scope,
)
from artstore_common import StorageElement as StorageElementRef

from ..db import StorageElement, StorageElementMember
from ..keys.service import KeyManager
from ..metrics import AdminMetrics
from ..settings import Settings
from . import replication, repository
from .replication import as_int
from .schemas import ElementOut, SummaryOut

_log = logging.getLogger("admin_module.registry")
INTERNAL_SUBJECT = "admin-module"
INFO_TOKEN_TTL = 300


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def _expiring(e: StorageElement) -> int | None:
    return as_int((e.info or {}).get("expiring_soon"))


def to_out(e: StorageElement) -> ElementOut:
    return ElementOut(
        id=e.id, name=e.name, api_url=e.api_url, priority=e.priority, mode=e.mode, status=e.status,
        storage_type=e.storage_type, capacity_bytes=e.capacity_bytes, used_bytes=e.used_bytes,
        free_bytes=e.free_bytes, file_count=e.file_count, expiring_soon=_expiring(e),
        retention_days=e.retention_days, version=e.version,
        last_seen_at=e.last_seen_at, last_health_check=e.last_seen_at, last_error=e.last_error,
        registered_at=e.registered_at, updated_at=e.updated_at,
        replication=replication.to_out(e) if e.members else None,
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
    replicated = [e for e in elements if e.members]
    return SummaryOut(
        total=len(elements), online=by_status["online"], degraded=by_status["degraded"],
        offline=by_status["offline"], capacity_bytes=capacity, used_bytes=used,
        free_bytes=sum(e.free_bytes or 0 for e in elements), file_count=files,
        expiring_soon=sum(_expiring(e) or 0 for e in elements), replicated=len(replicated),
        under_replicated=sum(replication.under_replicated(e) or 0 for e in replicated), by_mode=by_mode,
        by_status=by_status,
        total_elements=len(elements), online_elements=by_status["online"], total_capacity_bytes=capacity,
        total_used_bytes=used, total_files=files,
    )


def snapshot_entry(e: StorageElement) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": e.id, "name": e.name, "api_url": e.api_url, "mode": e.mode, "status": e.status,
        "priority": e.priority, "storage_type": e.storage_type, "capacity_bytes": e.capacity_bytes,
        "used_bytes": e.used_bytes, "free_bytes": e.free_bytes, "file_count": e.file_count,
        "retention_days": e.retention_days, "last_seen_at": _iso(e.last_seen_at),
    }
    if e.members:
        # старые читатели видят обычный элемент по адресу первого члена (docs/replication.md §2)
        entry["replication"] = replication.snapshot_block(e)
    return entry


class InternalTokens:
    """Собственный сервисный токен admin для вызовов элементов: выпускаем сами, без похода на свой /auth/token."""

    def __init__(self, keys: KeyManager, role: str, ttl: int | None = None) -> None:
        self.keys = keys
        self.role = role
        self.ttl = ttl
        self._token: tuple[str, float] | None = None

    async def headers(self) -> dict[str, str]:
        if self._token is None or self._token[1] < time.monotonic():
            token, ttl = await self.keys.issue(subject=INTERNAL_SUBJECT, client_id=INTERNAL_SUBJECT, role=self.role,
                                               name=INTERNAL_SUBJECT, grant=TokenGrant.INTERNAL,
                                               extra={"kind": "service_account"}, ttl=self.ttl)
            self._token = (token, time.monotonic() + min(ttl - 120, ttl / 2))
        return {"Authorization": f"Bearer {self._token[0]}"}

    def invalidate(self) -> None:
        self._token = None


class Registry:
    def __init__(self, settings: Settings, maker: async_sessionmaker[AsyncSession], redis: aioredis.Redis,
                 keys: KeyManager, metrics: AdminMetrics) -> None:
        self.settings = settings
        self.maker = maker
        self.redis = redis
        self.keys = keys
        self.metrics = metrics
        # /info элемента требует токен, но адрес для discover вводит человек: туда уходит отдельный короткий
        # токен роли READONLY, а не ADMIN-токен команд — чужой сервер по ошибочному адресу не получит права ADMIN.
        self.info_client = ElementClient(InternalTokens(keys, "READONLY", INFO_TOKEN_TTL), retries=0,
                                         read_timeout=settings.element_timeout_seconds)
        self.client = ElementClient(InternalTokens(keys, "ADMIN"), retries=1, read_timeout=120.0)
        self._last_fingerprint: str | None = None
        self._last_publish = 0.0
        self.publications = 0

    async def aclose(self) -> None:
        await self.info_client.aclose()
        await self.client.aclose()

    # --- опрос ---------------------------------------------------------------------------------------
    async def fetch_info(self, api_url: str) -> dict[str, Any]:
        url = api_url.rstrip("/") + "/api/v1/info"
        # id ещё не известен (адрес ввёл человек): предохранитель и метрики — по адресу
        target = StorageElementRef(api_url, api_url)
        try:
            resp = await self.info_client.request(target, "GET", "/api/v1/info")
        except ElementError as exc:
            raise ProblemError(502, "element_unreachable", f"элемент {api_url} не отвечает: {exc.detail}") from exc
        if resp.status != 200:
            raise ProblemError(502, "element_unreachable", f"{url} ответил HTTP {resp.status}")
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
        e.status = replication.element_status(info)
        e.storage_type = info.get("storage_type") or e.storage_type
        e.capacity_bytes = as_int(info.get("capacity_bytes"))
        e.used_bytes = as_int(info.get("used_bytes"))
        e.free_bytes = as_int(info.get("free_bytes"))
        e.file_count = as_int(info.get("file_count"))
        e.retention_days = as_int(info.get("retention_days"))
        e.version = str(info["version"]) if info.get("version") is not None else None
        e.info = info
        e.last_seen_at = now
        e.last_error = None
        e.updated_at = now

    async def poll_one(self, e: StorageElement) -> None:
        if e.members:
            await self.poll_members(e)
            return
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

    async def poll_member(self, e: StorageElement, m: StorageElementMember) -> None:
        try:
            info = await self.fetch_info(m.api_url)
        except ProblemError as exc:
            if m.status != "offline":
                _log.warning("член %s элемента %s недоступен: %s", m.member_id, e.id, exc.detail)
            replication.member_unreachable(m, exc.detail, _now())
            return
        replication.apply_member_info(e, m, info, _now())

    async def poll_members(self, e: StorageElement) -> None:
        """Каждый член опрашивается сам по себе; состояние логического элемента — сводка их ответов."""
        await asyncio.gather(*(self.poll_member(e, m) for m in e.members))
        replication.aggregate(e, _now())

    async def poll_all(self) -> None:
        async with session_scope(self.maker) as session:
            elements = await repository.all_elements(session)
            await asyncio.gather(*(self.poll_one(e) for e in elements))
            for status in ElementStatus:
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
            self.metrics.snapshot_publications.labels(Outcome.FAILURE).inc()
            _log.warning("снимок discovery не опубликован (Redis): %s", exc)
            return False
        self.metrics.snapshot_publications.labels(Outcome.SUCCESS).inc()
        self._last_fingerprint = fingerprint
        self._last_publish = time.monotonic()
        self.publications += 1
        return True

    # --- прокси команд -----------------------------------------------------------------------------
    async def proxy(self, e: StorageElement | StorageElementRef, method: str, path: str, **kwargs: Any) -> Any:
        try:
            resp = await self.client.request(e, method, "/api/v1" + path, **kwargs)
        except ElementError as exc:
            raise ProblemError(503, "upstream_unavailable", exc.detail, headers={"Retry-After": "5"}) from exc
        try:
            body = resp.json()
        except ValueError:
            body = None
        if resp.status >= 400:
            code = body.get("code") if isinstance(body, dict) else None
            detail = body.get("detail") if isinstance(body, dict) else None
            status = resp.status if resp.status < 500 else 502
            raise ProblemError(status, str(code or "element_error"),
                               f"элемент {e.id} ответил HTTP {resp.status}: {detail or resp.text[:300]}")
        return body

    async def fan_out(self, e: StorageElement, method: str, path: str, **kwargs: Any) -> list[dict[str, Any]]:
        """Команда каждому члену сразу (§3: режим, кэш, скраб); исход — по каждому члену, без исключений."""
        async def one(m: StorageElementMember) -> dict[str, Any]:
            # предохранитель — свой у каждого члена: ключ — id члена, а не логического элемента
            target = StorageElementRef(m.member_id, m.api_url)
            head = {"id": m.member_id, "api_url": m.api_url}
            try:
                return {**head, "ok": True, "result": await self.proxy(target, method, path, **kwargs)}
            except ProblemError as exc:
                return {**head, "ok": False, "error": {"status": exc.status, "code": exc.code, "detail": exc.detail}}

        return list(await asyncio.gather(*(one(m) for m in e.members)))


def fan_out_failure(e: StorageElement, results: list[dict[str, Any]], what: str) -> ProblemError:
    """Отказ рассылки: ни один член не выполнил — его же ошибка (как у автономного элемента); часть
    выполнила — 502 с тем, кто как ответил (повтор выполнившим не вредит: команды идемпотентны)."""
    failed = [r for r in results if not r["ok"]]
    done = [r["id"] for r in results if r["ok"]]
    reasons = "; ".join(f"{r['id']} — {r['error']['detail']}" for r in failed)
    extra = {"members": results}
    if done:
        return ProblemError(502, "replication_incomplete",
                            f"{what} элемента {e.id}: выполнили {', '.join(done)}, не выполнили {reasons}. "
                            "Повторите команду, когда члены будут в сети", extra=extra)
    errors = [r["error"] for r in failed]
    status = errors[0]["status"] if len({x["status"] for x in errors}) == 1 else 502
    code = errors[0]["code"] if len({x["code"] for x in errors}) == 1 else "members_failed"
    headers = {"Retry-After": "5"} if status == 503 else None
    return ProblemError(status, code, f"{what} элемента {e.id} не выполнил ни один член: {reasons}",
                        headers=headers, extra=extra)
