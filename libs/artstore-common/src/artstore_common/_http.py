"""HTTP-клиент между сервисами: пул соединений на цель, тайм-ауты, повторы идемпотентных запросов,
предохранитель на цель. Потоковые запросы (тела файлов) не повторяются — их нельзя перечитать."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx

from ._circuit import CircuitBreaker
from ._errors import ProblemError

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRY_STATUSES = frozenset({502, 503, 504})
HeaderSource = Callable[[], Awaitable[dict[str, str]]]


class CircuitOpenError(ProblemError):
    def __init__(self, target: str) -> None:
        super().__init__(503, "upstream_unavailable",
                         f"{target} временно недоступен (предохранитель разомкнут); повторите позже",
                         headers={"Retry-After": "5"})


class ServiceClient:
    """Пул клиентов ``httpx.AsyncClient`` по базовым адресам."""

    def __init__(
        self,
        *,
        timeout: httpx.Timeout | float = httpx.Timeout(10.0, connect=3.0),
        retries: int = 2,
        backoff: float = 0.1,
        failure_threshold: int = 5,
        reset_timeout: float = 15.0,
        auth_headers: HeaderSource | None = None,
        max_connections: int = 100,
    ) -> None:
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self.auth_headers = auth_headers
        self.limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._clients: dict[str, httpx.AsyncClient] = {}
        self.breakers: dict[str, CircuitBreaker] = {}

    def client(self, base_url: str) -> httpx.AsyncClient:
        base = base_url.rstrip("/")
        c = self._clients.get(base)
        if c is None:
            c = httpx.AsyncClient(base_url=base, timeout=self.timeout, limits=self.limits)
            self._clients[base] = c
        return c

    def breaker(self, base_url: str) -> CircuitBreaker:
        base = base_url.rstrip("/")
        b = self.breakers.get(base)
        if b is None:
            b = CircuitBreaker(base, failure_threshold=self.failure_threshold, reset_timeout=self.reset_timeout)
            self.breakers[base] = b
        return b

    async def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = dict(await self.auth_headers()) if self.auth_headers else {}
        if extra:
            headers.update(extra)
        return headers

    async def request(self, base_url: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Запрос с повторами (только идемпотентные методы без потокового тела) и предохранителем.

        Ответы 4xx считаются успехом цели (она работает, просто отказала); 5xx и сетевые ошибки — сбоем.
        """
        method = method.upper()
        breaker = self.breaker(base_url)
        client = self.client(base_url)
        streaming_body = "content" in kwargs and not isinstance(kwargs["content"], bytes | str)
        attempts = 1 + (self.retries if method in IDEMPOTENT and not streaming_body else 0)
        last_exc: Exception | None = None
        for attempt in range(attempts):
            if not breaker.allow():
                raise CircuitOpenError(base_url)
            try:
                headers = await self._headers(kwargs.pop("headers", None))
                kwargs["headers"] = headers
                resp = await client.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                breaker.record_failure()
                last_exc = exc
            else:
                if resp.status_code in RETRY_STATUSES:
                    breaker.record_failure()
                    if attempt + 1 < attempts:
                        await resp.aclose()
                        await asyncio.sleep(self.backoff * (2**attempt) * (0.5 + random.random()))
                        continue
                    return resp
                breaker.record_success()
                return resp
            if attempt + 1 < attempts:
                await asyncio.sleep(self.backoff * (2**attempt) * (0.5 + random.random()))
        raise ProblemError(503, "upstream_unavailable", f"{base_url} не отвечает: {last_exc}",
                           headers={"Retry-After": "5"})

    @asynccontextmanager
    async def stream(self, base_url: str, method: str, url: str, **kwargs: Any) -> AsyncIterator[httpx.Response]:
        """Потоковый ответ (скачивание) без повторов, но с учётом предохранителя."""
        breaker = self.breaker(base_url)
        if not breaker.allow():
            raise CircuitOpenError(base_url)
        client = self.client(base_url)
        kwargs["headers"] = await self._headers(kwargs.pop("headers", None))
        request = client.build_request(method, url, **kwargs)
        try:
            resp = await client.send(request, stream=True)
        except httpx.TransportError as exc:
            breaker.record_failure()
            raise ProblemError(503, "upstream_unavailable", f"{base_url} не отвечает: {exc}",
                               headers={"Retry-After": "5"}) from exc
        if resp.status_code >= 500:
            breaker.record_failure()
        else:
            breaker.record_success()
        try:
            yield resp
        finally:
            await resp.aclose()

    async def aclose(self) -> None:
        await asyncio.gather(*(c.aclose() for c in self._clients.values()), return_exceptions=True)
        self._clients.clear()
