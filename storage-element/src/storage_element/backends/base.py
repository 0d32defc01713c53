"""Общий интерфейс хранилища: писатель, чтение диапазонов, перечисление, холодное хранение.

Хэширование и сжатие делает не хранилище, а переданное ему преобразование (`Transform`):
локальное хранилище вызывает его в том же потоке, где пишет/читает, — один переход в поток на
пачку данных вместо двух.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

READ_CHUNK = 1024 * 1024
# пачка входящих данных, после которой запись уходит в поток (меньше — копим в памяти)
WRITE_BATCH = 1024 * 1024

Transform = Callable[[list[bytes]], list[bytes]]


@dataclass(frozen=True, slots=True)
class Stamp:
    """Отпечаток сохранённых байт: меняется, когда байты перезаписаны (см. fixity.py).

    local — (mtime_ns, ctime_ns, inode, устройство), S3 — (ETag,); размер — у обоих."""

    size: int
    version: tuple[int | str, ...]


class Sink(abc.ABC):
    """Данные одного файла в пути к месту назначения; до `publish` не видны как файл."""

    stored_size: int = 0

    @abc.abstractmethod
    async def write(self, batch: list[bytes], process: Transform) -> None: ...

    @abc.abstractmethod
    async def finish(self, batch: list[bytes], process: Transform, final: Callable[[], list[bytes]]) -> None:
        """Последняя пачка + хвост преобразования; после возврата данные устойчивы (fsync/части)."""

    @abc.abstractmethod
    async def abort(self) -> None: ...


class Backend(abc.ABC):
    kind: str = ""

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def health(self) -> str | None:
        """None — хранилище доступно; исключение — нет (готовность 503 с причиной)."""
        return None

    @abc.abstractmethod
    def open_sink(self, key: str, op_id: str) -> Sink: ...

    @abc.abstractmethod
    async def publish(self, sink: Sink, key: str, attr: bytes) -> Stamp:
        """Точка фиксации: данные и attr.json на своих местах и устойчивы; возвращает отпечаток данных."""

    @abc.abstractmethod
    async def read_attr(self, key: str) -> bytes | None: ...

    @abc.abstractmethod
    async def write_attr(self, key: str, attr: bytes) -> None: ...

    @abc.abstractmethod
    async def data_size(self, key: str) -> int | None:
        """Размер данных в горячем хранилище или None, если их там нет."""

    @abc.abstractmethod
    async def stamp(self, key: str) -> Stamp | None:
        """Отпечаток данных в горячем хранилище или None, если их там нет."""

    @abc.abstractmethod
    def iter_range(self, key: str, start: int, end: int, transform: Callable[[bytes], bytes] | None = None,
                   on_stamp: Callable[[Stamp], None] | None = None) -> AsyncIterator[bytes]:
        """Байты [start, end) сохранённой формы кусками по READ_CHUNK; `on_stamp` получает отпечаток
        именно того, что читается (до первого куска)."""

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Сначала attr.json (файл перестаёт существовать), потом данные; повтор безопасен."""

    @abc.abstractmethod
    async def rollback(self, key: str, op_id: str) -> None:
        """Убрать следы незавершённой записи: временные файлы, данные без attr.json, attr без данных."""

    @abc.abstractmethod
    async def cleanup_tmp(self) -> int: ...

    @abc.abstractmethod
    def list_keys(self) -> AsyncIterator[list[str]]:
        """Все ключи горячего хранилища (данные и attr.json) пачками."""

    @abc.abstractmethod
    async def archive(self, key: str) -> None:
        """Перенести данные в холодное хранение (attr.json остаётся — метаданные ищутся)."""

    @abc.abstractmethod
    async def restore(self, key: str) -> None:
        """Вернуть копию данных из холодного хранения в горячее."""

    @abc.abstractmethod
    async def in_cold(self, key: str) -> bool: ...

    @abc.abstractmethod
    def disk_free(self) -> int | None:
        """Свободно на носителе данных; None — ограничено только max_size (S3)."""
