"""Открытие потока содержимого файла у элемента.

Два транспорта с одним интерфейсом. По умолчанию — aiohttp: его разбор HTTP на C отдаёт тело крупными
порциями, и прокси упирается в сокеты, а не в интерпретатор (httpx/httpcore на том же пути тратит
сотни микросекунд на порцию в 32 КиБ и даёт в разы меньшую скорость). Предохранитель — тот же, что у
ServiceClient для этого элемента, так что состояние цели общее для всех вызовов.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx

from artstore_common import CircuitOpenError, ProblemError, ServiceClient


@dataclass
class Upstream:
    """Ответ элемента: статус, заголовки (без учёта регистра), поток тела и закрытие."""

    status: int
    headers: Any
    chunks: AsyncIterator[bytes]
    _stack: AsyncExitStack
    # целиком одним вызовом транспорта (aiohttp собирает тело без итерации по порциям в Python)
    _read_all: Callable[[], Awaitable[bytes]] | None = None

    async def read(self) -> bytes:
        if self._read_all is not None:
            return await self._read_all()
        return b"".join([c async for c in self.chunks])

    async def aclose(self) -> None:
        await self._stack.aclose()


def _unavailable(base: str, exc: BaseException) -> ProblemError:
    return ProblemError(503, "upstream_unavailable", f"{base} не отвечает: {type(exc).__name__} {exc}",
                        headers={"Retry-After": "5"})


class ContentStreamer:
    def __init__(self, http: ServiceClient, *, transport: str, connect_timeout: float, read_timeout: float,
                 on_unauthorized: Callable[[], None] | None = None) -> None:
        self.http = http
        self.on_unauthorized = on_unauthorized
        self.transport = transport
        # пул — общий с ServiceClient; у потока свои тайм-ауты и крупный буфер чтения (тело идёт
        # крупными порциями, прокси упирается в сокеты, а не в интерпретатор)
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, sock_read=read_timeout)

    async def open(self, base: str, path: str, headers: dict[str, str]) -> Upstream:
        if self.transport == "httpx":
            return await self._open_httpx(base, path, headers)
        breaker = self.http.breaker(base)
        for attempt in range(2):
            if not breaker.allow():
                raise CircuitOpenError(base)
            auth = await self.http.auth_headers() if self.http.auth_headers else {}
            stack = AsyncExitStack()
            try:
                resp = await stack.enter_async_context(
                    # полный адрес в каждом запросе: api_url элемента может содержать путь
                    self.http.session().get(base + path, headers={**auth, **headers}, allow_redirects=False,
                                            timeout=self._timeout, read_bufsize=1 << 20)
                )
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                breaker.record_failure()
                await stack.aclose()
                raise _unavailable(base, exc) from exc
            (breaker.record_failure if resp.status >= 500 else breaker.record_success)()
            if resp.status == 401 and self.on_unauthorized is not None and not attempt:
                # токен отвергнут (смена ключей admin): новый токен и ещё одна попытка
                await stack.aclose()
                self.on_unauthorized()
                continue
            break
        return Upstream(resp.status, resp.headers, resp.content.iter_any(), stack, resp.read)

    async def _open_httpx(self, base: str, path: str, headers: dict[str, str]) -> Upstream:
        stack = AsyncExitStack()
        try:
            resp: httpx.Response = await stack.enter_async_context(self.http.stream(base, "GET", path, headers=headers))
        except BaseException:
            await stack.aclose()
            raise
        return Upstream(resp.status_code, resp.headers, resp.aiter_raw(), stack)
