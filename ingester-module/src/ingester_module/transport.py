"""Транспорт горячего пути (тела файлов к элементам) на aiohttp.

Почему не ``ServiceClient`` (httpx): на загрузке 64 КиБ при 16 параллельных запросах httpx/httpcore
тратит ~2.4 мс CPU на запрос (обход пула соединений, cookies), aiohttp — ~0.4 мс; цель флота — не
больше 3 мс CPU на загрузку целиком. Предохранитель и сервисный токен — те же, из общей библиотеки:
состояние цели одно для обоих транспортов, размещение видит его через ``ServiceClient.breaker``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from artstore_common import ServiceClient

from .elements import ElementError

HeaderSource = Callable[[], Awaitable[dict[str, str]]]


class FastTransport:
    def __init__(self, http: ServiceClient, auth_headers: HeaderSource, *, timeout: float,
                 max_connections: int = 200) -> None:
        self.http = http
        self.auth_headers = auth_headers
        self.timeout = aiohttp.ClientTimeout(total=None, connect=3.0, sock_read=timeout)
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.max_connections, limit_per_host=self.max_connections,
                                             keepalive_timeout=30, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self.timeout,
                                                  auto_decompress=False, skip_auto_headers=("User-Agent",))
        return self._session

    async def send(self, base: str, method: str, path: str, *, content: Any,
                   headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        """Запрос с телом (bytes или async-итератор): (статус, заголовки, JSON-тело или None)."""
        breaker = self.http.breaker(base)
        if not breaker.allow():
            raise ElementError(0, "upstream_unavailable", f"{base} временно недоступен (предохранитель разомкнут)")
        all_headers = {**await self.auth_headers(), **headers}
        try:
            async with self._get_session().request(method, base.rstrip("/") + path, data=content,
                                                   headers=all_headers) as resp:
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

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

