"""Кэш местоположений файлов: локальный LRU (элемент + метаданные) → Redis ``{ns}:loc:{file_id}``.

Ключ в Redis общий с ingester (он пишет его при загрузке), поэтому значение — только
``{"storage_element_id": ...}``; метаданные живут лишь в локальном кэше процесса.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from .metrics import QueryMetrics

_log = logging.getLogger("query.cache")


def location_key(namespace: str, file_id: str) -> str:
    return f"{namespace}:loc:{file_id}"


@dataclass(slots=True)
class CachedLocation:
    element_id: str
    meta: dict[str, Any] | None
    expires_at: float


class LocationCache:
    def __init__(self, redis: aioredis.Redis, namespace: str, metrics: QueryMetrics, *,
                 size: int, ttl: float, redis_ttl: int) -> None:
        self.redis = redis
        self.namespace = namespace
        self.metrics = metrics
        self.size = size
        self.ttl = ttl
        self.redis_ttl = redis_ttl
        self._local: OrderedDict[str, CachedLocation] = OrderedDict()

    # --- локальный уровень ------------------------------------------------------------------------
    def get_local(self, file_id: str) -> CachedLocation | None:
        entry = self._local.get(file_id)
        if entry is not None and entry.expires_at < time.monotonic():
            self._local.pop(file_id, None)
            entry = None
        if entry is not None:
            self._local.move_to_end(file_id)
        self.metrics.cache("local", entry is not None)
        return entry

    def put_local(self, file_id: str, element_id: str, meta: dict[str, Any] | None) -> None:
        if self.size <= 0 or self.ttl <= 0:
            return
        self._local[file_id] = CachedLocation(element_id, meta, time.monotonic() + self.ttl)
        self._local.move_to_end(file_id)
        while len(self._local) > self.size:
            self._local.popitem(last=False)

    def drop_local(self, file_id: str) -> None:
        self._local.pop(file_id, None)

    def clear_local(self) -> None:
        self._local.clear()

    # --- Redis ------------------------------------------------------------------------------------
    # Сбой Redis — промах кэша, а не ошибка запроса: файл всё равно найдётся опросом элементов.
    async def get_redis(self, file_id: str) -> str | None:
        try:
            raw = await self.redis.get(location_key(self.namespace, file_id))
        except (RedisError, OSError) as exc:
            _log.warning("Redis недоступен для кэша местоположений: %s", exc)
            raw = None
        element_id: str | None = None
        if raw:
            try:
                element_id = str(json.loads(raw)["storage_element_id"])
            except (ValueError, KeyError, TypeError):
                element_id = None
        self.metrics.cache("redis", element_id is not None)
        return element_id

    async def put_redis(self, file_id: str, element_id: str) -> None:
        try:
            await self.redis.set(location_key(self.namespace, file_id),
                                 json.dumps({"storage_element_id": element_id}), ex=self.redis_ttl)
        except (RedisError, OSError) as exc:
            _log.warning("не удалось записать местоположение в Redis: %s", exc)

    async def drop(self, file_id: str) -> None:
        self.drop_local(file_id)
        try:
            await self.redis.delete(location_key(self.namespace, file_id))
        except (RedisError, OSError) as exc:
            _log.warning("не удалось сбросить местоположение в Redis: %s", exc)
