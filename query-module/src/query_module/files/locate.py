"""Где лежит файл: локальный LRU → общий кэш в Redis → опрос всех читаемых элементов (первый ответивший 200).

Опрос всех — дорогой путь (запрос к каждому элементу); счётчик ``artstore_location_fanouts_total``
показывает, как часто до него доходит: для только что загруженного файла — никогда, ingester кладёт
его адрес в общий кэш.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from artstore_common import ElementError, ProblemError, StorageElement

from ..cache import LocationCache
from ..elements import READABLE_MODES, Elements
from ..metrics import QueryMetrics


@dataclass(slots=True)
class Location:
    element: StorageElement
    meta: dict[str, Any] | None
    cached: bool


def not_found(file_id: str) -> ProblemError:
    return ProblemError(404, "file_not_found", f"Файл {file_id} не найден ни на одном элементе хранения")


class Locator:
    def __init__(self, elements: Elements, cache: LocationCache, metrics: QueryMetrics) -> None:
        self.elements = elements
        self.cache = cache
        self.metrics = metrics

    async def locate(self, file_id: str, *, fresh: bool = False) -> Location:
        """``fresh`` — адрес из кэша оказался неверным (404), ищем заново у всех элементов."""
        stats = self.metrics.stats
        stats.cache_lookups += 1
        if not fresh:
            entry = self.cache.get_local(file_id)
            el = self.elements.get(entry.element_id) if entry else None
            if entry is not None and el is not None:
                stats.cache_hits += 1
                return Location(el, entry.meta, cached=True)
            element_id = await self.cache.get_redis(file_id)
            el = self.elements.get(element_id) if element_id else None
            if el is not None and el.mode in READABLE_MODES:
                stats.cache_hits += 1
                self.cache.put_local(file_id, el.id, None)
                return Location(el, None, cached=True)
        return await self._fan_out(file_id)

    async def fetch_meta(self, el: StorageElement, file_id: str) -> dict[str, Any] | None:
        """attr.json с элемента; None — файла там нет."""
        return await self.elements.client.get_attr(el, file_id, timeout=self.elements.timeout)

    async def _fan_out(self, file_id: str) -> Location:
        self.metrics.location_fanouts.inc()
        live, down = self.elements.readable()
        failed = [e.id for e in down]

        async def probe(el: StorageElement) -> tuple[StorageElement, dict[str, Any] | None, bool]:
            try:
                return el, await self.fetch_meta(el, file_id), True
            except (ElementError, ProblemError, ValueError):
                return el, None, False

        tasks = [asyncio.create_task(probe(el)) for el in live]
        try:
            # Первый нашедший отвечает сразу: медленный элемент не задерживает скачивание.
            for fut in asyncio.as_completed(tasks):
                el, meta, ok = await fut
                if not ok:
                    failed.append(el.id)
                elif meta is not None:
                    self.cache.put_local(file_id, el.id, meta)
                    await self.cache.put_redis(file_id, el.id)
                    return Location(el, meta, cached=False)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if failed:
            self.metrics.stats.errors_total += 1
            raise ProblemError(
                503, "storage_element_unavailable",
                f"Файл {file_id} не найден на доступных элементах; недоступны: {', '.join(sorted(failed))}. "
                "Повторите позже.",
                headers={"Retry-After": "5"}, extra={"unavailable_storage_elements": sorted(failed)},
            )
        raise not_found(file_id)

    async def metadata(self, file_id: str) -> tuple[dict[str, Any], StorageElement]:
        loc = await self.locate(file_id)
        if loc.meta is not None:
            return loc.meta, loc.element
        try:
            meta = await self.fetch_meta(loc.element, file_id)
        except ElementError:
            meta = None  # элемент из кэша не ответил — ищем у остальных
        if meta is None:
            await self.cache.drop(file_id)
            loc = await self.locate(file_id, fresh=True)
            return loc.meta or {}, loc.element
        self.cache.put_local(file_id, loc.element.id, meta)
        return meta, loc.element
