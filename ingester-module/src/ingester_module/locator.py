"""Где лежит файл: кэш `{ns}:loc:{file_id}` в Redis, при промахе — опрос элементов из снимка discovery."""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from artstore_common import DiscoveryClient, ProblemError

from .elements import ElementClient, ElementError

LOC_TTL = 7 * 24 * 3600
# Такой же формат id, как у элемента: id вне его не может существовать, а попав в URL запроса к элементу
# (с сервисным токеном ADMIN), переписал бы путь (%3F, %23) или уронил клиент (NUL, \n).
FILE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def check_file_id(file_id: str) -> None:
    if not FILE_ID.fullmatch(file_id) or ".." in file_id:
        raise ProblemError(404, "file_not_found", "файла с таким id нет: id — латиница, цифры, «-», «_», «.»")


class Locator:
    def __init__(self, redis: aioredis.Redis, namespace: str, discovery: DiscoveryClient,
                 elements: ElementClient) -> None:
        self.redis = redis
        self.prefix = f"{namespace}:loc:"
        self.discovery = discovery
        self.elements = elements

    async def remember(self, file_id: str, element_id: str) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self.redis.set(self.prefix + file_id, element_id, ex=LOC_TTL)

    async def forget(self, file_id: str) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self.redis.delete(self.prefix + file_id)

    async def _cached(self, file_id: str) -> str | None:
        try:
            raw = await self.redis.get(self.prefix + file_id)
        except (RedisError, OSError):
            return None
        return raw.decode() if isinstance(raw, bytes) else raw

    async def locate(self, file_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """(элемент из снимка, attr файла); 404 ``file_not_found``, если файла нет ни на одном."""
        check_file_id(file_id)
        cached = await self._cached(file_id)
        if cached:
            el = self.discovery.element(cached)
            if el is not None:
                try:
                    attr = await self.elements.get_attr(el["api_url"], file_id)
                except ElementError:
                    attr = None
                if attr is not None:
                    return el, attr
            await self.forget(file_id)
        found = await self.locate_all(file_id)
        if not found:
            raise ProblemError(404, "file_not_found", f"файл {file_id} не найден ни на одном элементе хранения")
        # во время переноса копия есть на двух элементах: правильный — тот, что принимает запись/удаление
        # по правилам режима; для удаления предпочтителен edit, затем по priority
        found.sort(key=lambda p: (p[0].get("mode") != "edit", p[0].get("priority", 100)))
        el, attr = found[0]
        await self.remember(file_id, el["id"])
        return el, attr

    async def locate_all(self, file_id: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        check_file_id(file_id)
        elements = [e for e in self.discovery.elements if e.get("api_url") and e.get("status") != "offline"]

        async def probe(el: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
            try:
                attr = await self.elements.get_attr(el["api_url"], file_id)
            except ElementError:
                return None
            return (el, attr) if attr is not None else None

        results = await asyncio.gather(*(probe(e) for e in elements))
        return [r for r in results if r is not None]
