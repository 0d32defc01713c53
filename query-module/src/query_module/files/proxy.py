"""Потоковая передача тела файла от элемента клиенту: без буферизации и без работы на каждой порции,
кроме пересылки; соединение с элементом возвращается в пул, когда ответ закончен или клиент ушёл."""

from __future__ import annotations

import unicodedata
from collections.abc import AsyncIterator, Callable
from urllib.parse import quote

from starlette.responses import StreamingResponse
from starlette.types import Message, Receive, Scope, Send

from .upstream import Upstream

# Заголовки запроса клиента, которые решают, что отдаст элемент (диапазон, условные запросы).
FORWARD_REQUEST = ("range", "if-range", "if-none-match", "if-match", "if-modified-since", "if-unmodified-since")
# Заголовки ответа элемента, которые клиент должен увидеть как есть.
FORWARD_RESPONSE = ("content-type", "content-length", "content-range", "etag", "repr-digest", "accept-ranges",
                    "content-disposition", "last-modified", "cache-control", "content-encoding")


_RU = dict(zip("абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
               ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "y", "k", "l", "m", "n", "o", "p", "r", "s",
                "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "", "y", "", "e", "yu", "ya"], strict=True))


def _translit(text: str) -> str:
    out = []
    for ch in text:
        low = ch.lower()
        if low in _RU:
            sub = _RU[low]
            out.append(sub.capitalize() if ch != low else sub)
        else:
            out.append(ch)
    return "".join(out)


def _ascii(text: str) -> str:
    # Запасное имя для клиентов без RFC 8187 — транслитерация, чтобы «Отчёт.pdf» не стал «_____.pdf».
    text = unicodedata.normalize("NFKD", _translit(text)).encode("ascii", "ignore").decode()
    return "".join(c if 32 <= ord(c) < 127 and c not in '"\\;' else "_" for c in text).strip(" ._")


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """RFC 6266 + RFC 8187: ASCII-запасное имя для старых клиентов и точное UTF-8 в filename*."""
    stem, dot, ext = filename.rpartition(".")
    if not dot:
        stem, ext = filename, ""
    ascii_ext = _ascii(ext)
    fallback = (_ascii(stem) or "download") + (f".{ascii_ext}" if ascii_ext else "")
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def forward_headers(upstream: Upstream) -> dict[str, str]:
    return {name: upstream.headers[name] for name in FORWARD_RESPONSE if name in upstream.headers}


class UpstreamStreamResponse(StreamingResponse):
    """Ответ, тело которого — сырые байты ответа элемента (без перекодирования и перенарезки).
    ``on_done(outcome, sent)`` вызывается ровно один раз, что бы ни случилось."""

    def __init__(self, upstream: Upstream, headers: dict[str, str], on_done: Callable[[str, int], None]) -> None:
        self._upstream = upstream
        self._close = upstream.aclose
        self._on_done = on_done
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
        outcome = "error"
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
                outcome = "aborted"  # клиент ушёл раньше конца
            elif self.status_code == 206:
                outcome = "range"
            elif self.status_code == 304:
                outcome = "not_modified"
            else:
                outcome = "ok"
        finally:
            self._on_done(outcome, self.sent)
            await self._close()
