"""Элементы хранения глазами query-module: кто читаем по снимку discovery и параллельный опрос всех.

Сам разговор с элементом — общий ``artstore_common.ElementClient`` (токен и его обновление, повторы,
предохранитель); здесь — только кого спрашивать и как собрать ответы.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from artstore_common import DiscoveryClient, ElementClient, ElementError, ProblemError, StorageElement

_log = logging.getLogger("query.elements")
T = TypeVar("T")

# ar тоже читаем: метаданные архивных файлов остаются доступны для поиска.
READABLE_MODES = frozenset({"edit", "rw", "ro", "ar"})


class Elements:
    def __init__(self, discovery: DiscoveryClient, client: ElementClient, timeout: float) -> None:
        self.discovery = discovery
        self.client = client
        # сколько ждать один элемент при поиске и поиске файла: медленный не держит весь ответ
        self.timeout = timeout

    def readable(self) -> tuple[list[StorageElement], list[StorageElement]]:
        """(опрашиваемые, недоступные по снимку). Элементы в offline не опрашиваем, но честно называем."""
        live: list[StorageElement] = []
        down: list[StorageElement] = []
        for el in self.discovery.storage_elements:
            if el.mode not in READABLE_MODES:
                continue
            (down if el.status == "offline" else live).append(el)
        return live, down

    def get(self, element_id: str) -> StorageElement | None:
        return self.discovery.storage_element(element_id)

    def ids(self) -> list[str]:
        """Ключи предохранителей: id элементов, у реплицированного — id его членов."""
        return [t.id for e in self.discovery.storage_elements for t in e.targets]

    async def fan_out(
        self, elements: list[StorageElement], call: Callable[[StorageElement], Awaitable[T]],
    ) -> tuple[dict[str, T], list[str]]:
        """Параллельно вызывает ``call`` на каждом элементе; сбой одного не роняет остальные."""

        async def one(el: StorageElement) -> tuple[StorageElement, T | None, BaseException | None]:
            try:
                return el, await call(el), None
            except (ElementError, ProblemError, TimeoutError, ValueError) as exc:
                return el, None, exc

        ok: dict[str, T] = {}
        failed: list[str] = []
        for el, value, exc in await asyncio.gather(*(one(e) for e in elements)):
            if exc is not None:
                _log.warning("элемент %s не ответил: %s", el.id, exc)
                failed.append(el.id)
            else:
                ok[el.id] = value  # type: ignore[assignment]
        return ok, failed
