"""Кэш местоположений файлов: локальный LRU (элемент + метаданные) → общий кэш в Redis
(``artstore_common.LocationStore``: тот же ключ и формат, что пишет ingester после загрузки).

Метаданные живут лишь в локальном кэше процесса: их сбрасывают события файлов (``events.py``).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from artstore_common import CacheName, LocationStore

from .metrics import QueryMetrics


@dataclass(slots=True)
class CachedLocation:
    element_id: str
    meta: dict[str, Any] | None
    expires_at: float


class LocationCache:
    def __init__(self, store: LocationStore, metrics: QueryMetrics, *, size: int, ttl: float) -> None:
        self.store = store
        self.metrics = metrics
        self.size = size
        self.ttl = ttl
        self._local: OrderedDict[str, CachedLocation] = OrderedDict()

    # --- локальный уровень ------------------------------------------------------------------------
    def get_local(self, file_id: str) -> CachedLocation | None:
        entry = self._local.get(file_id)
        if entry is not None and entry.expires_at < time.monotonic():
            self._local.pop(file_id, None)
            entry = None
        if entry is not None:
            self._local.move_to_end(file_id)
        self.metrics.cache(CacheName.LOCAL, entry is not None)
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
    async def get_redis(self, file_id: str) -> str | None:
        element_id = await self.store.get(file_id)
        self.metrics.cache(CacheName.REDIS, element_id is not None)
        return element_id

    async def put_redis(self, file_id: str, element_id: str) -> None:
        await self.store.put(file_id, element_id)

    async def drop(self, file_id: str) -> None:
        # сначала общий ключ: запрос между двумя шагами иначе вернул бы старый адрес из Redis в локальный кэш
        await self.store.drop(file_id)
        self.drop_local(file_id)
