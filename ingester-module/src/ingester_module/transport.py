"""Транспорт горячего пути (тела файлов к элементам): запрос без повторов (тело потоковое) и без
обёртки в httpx.Response — статус, заголовки и сырое тело. Пул соединений, предохранитель и сервисный
токен — общие с ``ServiceClient``: состояние цели одно, размещение видит его через ``ServiceClient.breaker``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from artstore_common import ServiceClient

from .elements import ElementError

HeaderSource = Callable[[], Awaitable[dict[str, str]]]


class FastTransport:
    def __init__(self, http: ServiceClient, auth_headers: HeaderSource, *, timeout: float) -> None:
        self.http = http
        self.auth_headers = auth_headers
        self.timeout = aiohttp.ClientTimeout(total=None, connect=3.0, sock_read=timeout)

    async def send(self, base: str, method: str, path: str, *, content: Any,
                   headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        """Запрос с телом (bytes или async-итератор): (статус, заголовки, JSON-тело или None)."""
        breaker = self.http.breaker(base)
        if not breaker.allow():
            raise ElementError(0, "upstream_unavailable", f"{base} временно недоступен (предохранитель разомкнут)")
        all_headers = {**await self.auth_headers(), **headers}
        try:
            async with self.http.session().request(method, base.rstrip("/") + path, data=content,
                                                   headers=all_headers, timeout=self.timeout) as resp:
                raw = await resp.read()
                status, resp_headers = resp.status, dict(resp.headers)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            breaker.record_failure()
            raise ElementError(0, "upstream_failed", f"{base}: {type(exc).__name__}: {exc}") from exc
        if status >= 500 and status != 507:
            breaker.record_failure()
        else:
            breaker.record_success()
        return status, resp_headers, raw
