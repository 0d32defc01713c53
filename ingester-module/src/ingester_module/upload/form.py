"""Разбор формы загрузки: текстовые поля, файл (буфер или поток), хвост формы после файла.

Порядок полей любой, если файл не больше ``multipart_buffer_bytes`` (он собирается целиком, и поля
после него ещё успевают попасть в метаданные). Больший файл передаётся потоком — тогда его метаданные
уходят элементу в заголовке до первого байта, и текстовые поля обязаны идти ДО файла (curl -F шлёт части
в порядке командной строки). Поле после большого файла обрывает передачу — элемент ничего не
записывает, клиент получает 422 ``field_after_file``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from artstore_common import ProblemError

from .multipart import Event, Field, FileEnd, FileStart
from .service import StreamBody


@dataclass(slots=True)
class FilePart:
    start: FileStart
    body: bytes | StreamBody


async def read_fields_until_file(events: AsyncIterator[Event], fields: dict[str, str]) -> FileStart | None:
    async for ev in events:
        if isinstance(ev, Field):
            fields[ev.name] = ev.value
        elif isinstance(ev, FileStart):
            return ev
    return None


async def read_file(events: AsyncIterator[Event], start: FileStart, *, buffer_limit: int, max_size: int,
                    single: bool, fields: dict[str, str]) -> FilePart:
    """Читает начало файла; маленький — целиком (bytes), большой — ``StreamBody`` на остаток."""
    head: list[bytes] = []
    size = 0
    async for ev in events:
        if isinstance(ev, bytes):
            head.append(ev)
            size += len(ev)
            if size > max_size:
                raise ProblemError(413, "file_too_large", f"файл больше допустимых {max_size} байт")
            if size > buffer_limit:
                break
        elif isinstance(ev, FileEnd):
            if single:
                await read_tail(events, fields)
            return FilePart(start, head[0] if len(head) == 1 else b"".join(head))
    else:
        raise ProblemError(400, "malformed_multipart", "часть file оборвана")

    async def tail() -> None:
        extra: dict[str, str] = {}
        await read_tail(events, extra)
        if extra:
            raise ProblemError(
                422, "field_after_file",
                "поля " + ", ".join(sorted(extra)) + " пришли после большого файла; для файлов больше "
                f"{buffer_limit} байт текстовые поля формы должны идти до поля file. Файл не записан.")

    return FilePart(start, StreamBody(head, events, max_size, tail if single else None))


async def read_tail(events: AsyncIterator[Event], fields: dict[str, str]) -> None:
    async for ev in events:
        if isinstance(ev, Field):
            fields[ev.name] = ev.value
        elif isinstance(ev, FileStart):
            raise ProblemError(422, "multiple_files",
                               "в /files/upload один файл; для нескольких — POST /api/v1/batch/upload")
