"""Потоковый разбор multipart/form-data прямо из ``request.stream()``.

Тело не собирается в память и не пишется на диск: парсер python-multipart получает куски по мере
прихода и отдаёт события по порядку — текстовое поле целиком, начало файла, куски файла, конец файла.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header

from artstore_common import ProblemError

MAX_FIELD_BYTES = 64 * 1024


@dataclass(slots=True)
class Field:
    name: str
    value: str


@dataclass(slots=True)
class FileStart:
    name: str
    filename: str
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class FileEnd:
    pass


Event = Field | FileStart | bytes | FileEnd


def boundary_of(content_type: str | None) -> bytes:
    ctype, params = parse_options_header(content_type or "")
    if ctype != b"multipart/form-data" or not params.get(b"boundary"):
        raise ProblemError(415, "unsupported_media_type",
                           "ожидается multipart/form-data с boundary (curl -F file=@путь)")
    return params[b"boundary"]


def _filename(params: dict[bytes, bytes]) -> str:
    star = params.get(b"filename*")
    if star:  # RFC 5987: UTF-8''%D0%BE…
        charset, _, rest = star.decode("latin-1").partition("''")
        return urllib.parse.unquote(rest, encoding=charset or "utf-8", errors="replace")
    raw = params.get(b"filename", b"")
    # браузеры и curl шлют имя в UTF-8 «как есть»
    return raw.decode("utf-8", errors="replace")


class MultipartStream:
    def __init__(self, chunks: AsyncIterator[bytes], boundary: bytes) -> None:
        self._chunks = chunks
        self._events: list[Event] = []
        self._headers: dict[str, str] = {}
        self._hname = bytearray()
        self._hvalue = bytearray()
        self._current: FileStart | Field | None = None
        self._buf = bytearray()
        self._parser = MultipartParser(boundary, {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda d, s, e: self._hname.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._hvalue.extend(d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        })

    def _part_begin(self) -> None:
        self._headers = {}
        self._current = None

    def _header_end(self) -> None:
        self._headers[self._hname.decode("latin-1").lower()] = self._hvalue.decode("utf-8", errors="replace")
        self._hname.clear()
        self._hvalue.clear()

    def _headers_finished(self) -> None:
        disp = self._headers.get("content-disposition", "")
        _, params = parse_options_header(disp.encode("utf-8"))
        name = params.get(b"name", b"").decode("utf-8", errors="replace")
        if b"filename" in params or b"filename*" in params:
            start = FileStart(name, _filename(params), self._headers.get("content-type", "application/octet-stream"),
                              self._headers)
            self._current = start
            self._events.append(start)
        else:
            self._current = Field(name, "")
            self._buf.clear()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if isinstance(self._current, FileStart):
            self._events.append(bytes(data[start:end]))
        else:
            self._buf.extend(data[start:end])
            if len(self._buf) > MAX_FIELD_BYTES:
                raise ProblemError(413, "field_too_large", f"текстовое поле формы длиннее {MAX_FIELD_BYTES} байт")

    def _part_end(self) -> None:
        if isinstance(self._current, FileStart):
            self._events.append(FileEnd())
        elif isinstance(self._current, Field):
            self._current.value = self._buf.decode("utf-8", errors="replace")
            self._events.append(self._current)
        self._current = None

    async def events(self) -> AsyncIterator[Event]:
        async for chunk in self._chunks:
            if not chunk:
                continue
            try:
                self._parser.write(chunk)
            except MultipartParseError as exc:
                raise ProblemError(400, "malformed_multipart", f"тело multipart повреждено: {exc}") from exc
            if not self._events:
                continue
            events, self._events = self._events, []
            # соседние куски файла склеиваются: меньше мелких записей в сокет элемента
            pending: list[bytes] = []
            for ev in events:
                if isinstance(ev, bytes):
                    pending.append(ev)
                    continue
                if pending:
                    yield pending[0] if len(pending) == 1 else b"".join(pending)
                    pending = []
                yield ev
            if pending:
                yield pending[0] if len(pending) == 1 else b"".join(pending)
        if self._current is not None or self._parser.state != MultipartState.END:
            raise ProblemError(400, "malformed_multipart", "тело multipart оборвано до завершающей границы")
        self._parser.finalize()
        for ev in self._events:
            yield ev
        self._events = []
