"""Потоковая передача тела файла от элемента клиенту: без буферизации и без работы на каждой порции,
кроме пересылки; соединение с элементом возвращается в пул, когда ответ закончен или клиент ушёл."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.responses import StreamingResponse
from starlette.types import Message, Receive, Scope, Send

from artstore_common import DownloadOutcome, Upstream

_log = logging.getLogger("query.download")

# Заголовки запроса клиента, которые решают, что отдаст элемент (диапазон, условные запросы).
FORWARD_REQUEST = ("range", "if-range", "if-none-match", "if-match", "if-modified-since", "if-unmodified-since")
# Заголовки ответа элемента, которые клиент должен увидеть как есть.
FORWARD_RESPONSE = ("content-type", "content-length", "content-range", "etag", "repr-digest", "accept-ranges",
                    "content-disposition", "last-modified", "cache-control", "content-encoding")


def forward_headers(upstream: Upstream) -> dict[str, str]:
    return {name: upstream.headers[name] for name in FORWARD_RESPONSE if name in upstream.headers}


class UpstreamStreamResponse(StreamingResponse):
    """Ответ, тело которого — сырые байты ответа элемента (без перекодирования и перенарезки).
    ``on_done(outcome, sent)`` вызывается ровно один раз, что бы ни случилось; ``after(status, outcome,
    sent)`` (учёт временной ссылки) — после него, когда соединение с элементом уже возвращено в пул."""

    def __init__(self, upstream: Upstream, headers: dict[str, str],
                 on_done: Callable[[DownloadOutcome, int], None],
                 after: Callable[[int, DownloadOutcome, int], Awaitable[None]] | None = None) -> None:
        self._upstream = upstream
        self._close = upstream.aclose
        self._on_done = on_done
        self._after = after
        self.sent = 0
        self._disconnected = False
        length = headers.get("content-length")
        self._expected = int(length) if length and length.isdigit() else None
        super().__init__(self._chunks(), status_code=upstream.status, headers=headers)

    async def _chunks(self) -> AsyncIterator[bytes]:
        async for chunk in self._upstream.chunks:
            if self._disconnected:
                break  # клиент ушёл: дочитывать файл у элемента незачем
            self.sent += len(chunk)
            yield chunk

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        outcome = DownloadOutcome.ERROR
        self._disconnected = False

        # uvicorn молча глотает send после обрыва, поэтому уход клиента узнаём по http.disconnect
        async def watching_receive() -> Message:
            message = await receive()
            if message["type"] == "http.disconnect":
                self._disconnected = True
            return message

        try:
            await super().__call__(scope, watching_receive, send)
            if self._disconnected or (self._expected is not None and self.sent < self._expected):
                outcome = DownloadOutcome.ABORTED  # клиент ушёл раньше конца: его право, не ошибка сервиса
                _log.info("скачивание прервано клиентом: отдано %d из %s байт", self.sent, self._expected or "?",
                          extra={"outcome": outcome, "sent_bytes": self.sent, "expected_bytes": self._expected})
            elif self.status_code == 206:
                outcome = DownloadOutcome.RANGE
            elif self.status_code == 304:
                outcome = DownloadOutcome.NOT_MODIFIED
            else:
                outcome = DownloadOutcome.OK
        finally:
            self._on_done(outcome, self.sent)
            try:
                await self._close()
            finally:
                if self._after is not None:
                    await self._after(self.status_code, outcome, self.sent)
