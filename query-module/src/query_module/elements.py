"""Элементы хранения глазами query-module: кто читаем по снимку discovery и параллельный опрос всех."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from artstore_common import DiscoveryClient, ProblemError, ServiceClient

_log = logging.getLogger("query.elements")
T = TypeVar("T")

# ar тоже читаем: метаданные архивных файлов остаются доступны для поиска.
READABLE_MODES = frozenset({"edit", "rw", "ro", "ar"})


@dataclass(frozen=True, slots=True)
class Element:
    id: str
    api_url: str
    mode: str
    status: str

    @classmethod
    def from_snapshot(cls, raw: dict[str, Any]) -> Element:
        return cls(id=str(raw["id"]), api_url=str(raw.get("api_url", "")).rstrip("/"),
                   mode=str(raw.get("mode", "")), status=str(raw.get("status", "online")))


class ElementError(Exception):
    """Элемент не ответил как положено: для поиска это «неполный результат», а не отказ запроса."""


class Elements:
    def __init__(self, discovery: DiscoveryClient, http: ServiceClient, timeout: float,
                 on_unauthorized: Callable[[], None] | None = None) -> None:
        self.discovery = discovery
        self.http = http
        self.timeout = timeout
        # Элемент отверг сервисный токен (например, ключи admin сменились): берём новый и повторяем раз.
        self.on_unauthorized = on_unauthorized

    def all(self) -> list[Element]:
        return [Element.from_snapshot(e) for e in self.discovery.elements if e.get("id") and e.get("api_url")]

    def readable(self) -> tuple[list[Element], list[Element]]:
        """(опрашиваемые, недоступные по снимку). Элементы в offline не опрашиваем, но честно называем."""
        live: list[Element] = []
        down: list[Element] = []
        for el in self.all():
            if el.mode not in READABLE_MODES:
                continue
            (down if el.status == "offline" else live).append(el)
        return live, down

    def get(self, element_id: str) -> Element | None:
        raw = self.discovery.element(element_id)
        return Element.from_snapshot(raw) if raw and raw.get("api_url") else None

    def targets(self) -> list[tuple[str, str]]:
        return [(e.id, e.api_url) for e in self.all()]

    async def call_json(self, el: Element, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Запрос к элементу с тайм-аутом на элемент; сетевые сбои и 5xx → ElementError."""
        kwargs.setdefault("timeout", httpx.Timeout(self.timeout, connect=min(self.timeout, 1.0)))
        for attempt in range(2):
            try:
                resp = await asyncio.wait_for(self.http.request(el.api_url, method, path, **kwargs),
                                              self.timeout * 3 + 1)
            except ProblemError as exc:
                raise ElementError(f"{el.id}: {exc.detail}") from exc
            except (TimeoutError, httpx.HTTPError) as exc:
                raise ElementError(f"{el.id}: {type(exc).__name__}") from exc
            if resp.status_code != 401 or self.on_unauthorized is None or attempt:
                break
            self.on_unauthorized()
        if resp.status_code == 401:
            raise ElementError(f"{el.id}: элемент не принял сервисный токен query-module")
        if resp.status_code >= 500:
            raise ElementError(f"{el.id}: HTTP {resp.status_code}")
        return resp

    async def fan_out(
        self, elements: list[Element], call: Callable[[Element], Awaitable[T]],
    ) -> tuple[dict[str, T], list[str]]:
        """Параллельно вызывает ``call`` на каждом элементе; сбой одного не роняет остальные."""

        async def one(el: Element) -> tuple[Element, T | None, BaseException | None]:
            try:
                return el, await call(el), None
            except (ElementError, ProblemError, httpx.HTTPError, TimeoutError, ValueError) as exc:
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
