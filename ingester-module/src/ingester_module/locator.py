"""Где лежит файл: общий кэш местоположений в Redis (``artstore_common.LocationStore``), при промахе —
опрос элементов из снимка discovery."""

from __future__ import annotations

import asyncio
from typing import Any

from artstore_common import (
    FILE_ID_PATTERN,
    DiscoveryClient,
    ElementClient,
    ElementError,
    LocationStore,
    ProblemError,
    StorageElement,
    valid_file_id,
)


def check_file_id(file_id: str) -> None:
    if not valid_file_id(file_id):
        raise ProblemError(422, "invalid_file_id",
                           f"недопустимый id файла {file_id!r}: ожидается {FILE_ID_PATTERN} без «..»")


class Locator:
    def __init__(self, store: LocationStore, discovery: DiscoveryClient, elements: ElementClient) -> None:
        self.store = store
        self.discovery = discovery
        self.elements = elements

    async def remember(self, file_id: str, element_id: str) -> None:
        await self.store.put(file_id, element_id)

    async def forget(self, file_id: str) -> None:
        await self.store.drop(file_id)

    async def locate(self, file_id: str) -> tuple[StorageElement, dict[str, Any]]:
        """(элемент из снимка, attr файла); 404 ``file_not_found``, если файла нет ни на одном."""
        check_file_id(file_id)
        cached = await self.store.get(file_id)
        el = self.discovery.storage_element(cached) if cached else None
        if el is not None:
            try:
                attr = await self.elements.get_attr(el, file_id)
            except ElementError:
                attr = None
            if attr is not None:
                return el, attr
        found = await self.locate_all(file_id)
        if not found:
            if cached:
                await self.forget(file_id)
            raise ProblemError(404, "file_not_found", f"файл {file_id} не найден ни на одном элементе хранения")
        # во время переноса копия есть на двух элементах: правильный — тот, что принимает запись/удаление
        # по правилам режима; для удаления предпочтителен edit, затем по priority
        found.sort(key=lambda p: (p[0].mode != "edit", p[0].priority))
        el, attr = found[0]
        if el.id != cached:
            await self.remember(file_id, el.id)
        return el, attr

    async def locate_all(self, file_id: str) -> list[tuple[StorageElement, dict[str, Any]]]:
        check_file_id(file_id)
        elements = [e for e in self.discovery.storage_elements if e.status != "offline"]

        async def probe(el: StorageElement) -> tuple[StorageElement, dict[str, Any]] | None:
            try:
                attr = await self.elements.get_attr(el, file_id)
            except ElementError:
                return None
            return (el, attr) if attr is not None else None

        results = await asyncio.gather(*(probe(e) for e in elements))
        return [r for r in results if r is not None]
