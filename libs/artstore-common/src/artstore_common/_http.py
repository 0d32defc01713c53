"""HTTP-клиент между сервисами: пул соединений на цель, тайм-ауты, повторы идемпотентных запросов,
предохранитель на цель. Потоковые запросы (тела файлов) не повторяются — их нельзя перечитать.

Обычные запросы идут через aiohttp (разбор HTTP на C), а отдаются вызывающему как ``httpx.Response`` с
прочитанным телом: py-spy показал, что httpx/httpcore тратит ~2 мс CPU на запрос (anyio, h11, куки) —
две трети CPU query-module на поиске с тремя элементами. ``stream()`` остаётся на httpx: там накладные
расходы на запрос тонут в передаче тела.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
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
        self.max_connections = max_connections
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._session: aiohttp.ClientSession | None = None
        self.breakers: dict[str, CircuitBreaker] = {}

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # keep-alive короче, чем у uvicorn (5 с): иначе запрос может уйти в соединение, которое
            # сервер как раз закрывает, и неидемпотентный POST не повторить
            # Предел соединений — на каждую цель (как было с пулом httpx на цель), а не общий: зависшая цель
            # не должна занять весь пул и остановить запросы к остальным. Прокси из окружения не читаем:
            # трафик между сервисами флота — внутренний, а trust_env разбирал бы окружение на каждом запросе.
            # Этот же пул — у потоковых транспортов тел файлов (ingester FastTransport, query ContentStreamer).
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, limit_per_host=self.max_connections, keepalive_timeout=4),
                # тело разжимает httpx.Response по Content-Encoding, как и раньше
                timeout=_aiohttp_timeout(self.timeout), auto_decompress=False,
            )
        return self._session

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
        streaming_body = "content" in kwargs and not isinstance(kwargs["content"], bytes | str)
        attempts = 1 + (self.retries if method in IDEMPOTENT and not streaming_body else 0)
        last_exc: Exception | None = None
        for attempt in range(attempts):
            if not breaker.allow():
                raise CircuitOpenError(base_url)
            try:
                headers = await self._headers(kwargs.pop("headers", None))
                kwargs["headers"] = headers
                resp = await self._send(base_url, method, url, **kwargs)
            except (aiohttp.ClientError, httpx.TransportError, TimeoutError, OSError) as exc:
                # httpx.TransportError — из получения сервисного токена (его клиент на httpx)
                breaker.record_failure()
                last_exc = exc
            else:
                if resp.status_code in RETRY_STATUSES:
                    breaker.record_failure()
                    if attempt + 1 < attempts:
                        await asyncio.sleep(self.backoff * (2**attempt) * (0.5 + random.random()))
                        continue
                    return resp
                breaker.record_success()
                return resp
            if attempt + 1 < attempts:
                await asyncio.sleep(self.backoff * (2**attempt) * (0.5 + random.random()))
        raise ProblemError(503, "upstream_unavailable", f"{base_url} не отвечает: {last_exc}",
                           headers={"Retry-After": "5"})

    async def _send(self, base_url: str, method: str, url: str, *, headers: dict[str, str],
                    params: Any = None, json: Any = None, content: Any = None, data: Any = None,
                    timeout: httpx.Timeout | float | None = None) -> httpx.Response:
        full = base_url.rstrip("/") + url
        kw: dict[str, Any] = {"headers": headers, "allow_redirects": False}
        if params is not None:
            kw["params"] = _query_pairs(params)
        if json is not None:
            kw["json"] = json
        body = content if content is not None else data
        if body is not None:
            kw["data"] = body.encode() if isinstance(body, str) else body
        if timeout is not None:
            kw["timeout"] = _aiohttp_timeout(timeout)
        async with self.session().request(method, full, **kw) as r:
            raw = await r.read()
            return httpx.Response(r.status, headers=list(r.raw_headers), content=raw,
                                  request=httpx.Request(method, str(r.url)))

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
        if self._session is not None:
            await self._session.close()
            self._session = None


def _aiohttp_timeout(timeout: httpx.Timeout | float) -> aiohttp.ClientTimeout:
    """connect у aiohttp — ожидание соединения из пула вместе с установкой (у httpx это pool),
    sock_connect — только установка TCP."""
    if isinstance(timeout, httpx.Timeout):
        return aiohttp.ClientTimeout(total=None, connect=timeout.pool, sock_connect=timeout.connect,
                                     sock_read=timeout.read)
    return aiohttp.ClientTimeout(total=None, connect=timeout, sock_connect=timeout, sock_read=timeout)


def _query_pairs(params: Any) -> list[tuple[str, str]]:
    """Параметры адреса так же, как их кодирует httpx: списки — повтором ключа, bool — true/false."""

    def text(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        return "" if v is None else str(v)

    items = params.items() if isinstance(params, dict) else params
    out: list[tuple[str, str]] = []
    for k, v in items:
        for one in (v if isinstance(v, list | tuple) else [v]):
            out.append((str(k), text(one)))
    return out
