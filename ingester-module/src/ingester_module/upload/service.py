"""Размещение файла на элементе: выбор кандидата, потоковая передача, повтор на следующем элементе,
событие ``file_uploaded``. Общая часть для multipart, tus и пакетной загрузки."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.requests import ClientDisconnect

from artstore_common import (
    ElementClient,
    ElementError,
    EventActor,
    EventPublisher,
    LocationStore,
    PlacementResult,
    Principal,
    ProblemError,
)

from ..metrics import IngesterMetrics
from ..placement import Placement
from .multipart import Event, FileEnd

COALESCE = 512 * 1024


class ClientBodyError(Exception):
    """Ошибка во входящем теле клиента во время передачи элементу: элемент получает обрыв и ничего не
    записывает, а клиенту уходит ``problem``. Не ``ProblemError`` — чтобы не спутать с отказом элемента."""

    def __init__(self, problem: ProblemError) -> None:
        super().__init__(problem.detail)
        self.problem = problem


class StreamBody:
    """Тело файла из multipart: уже прочитанное начало в памяти (ограничено) + остаток из потока.

    Пока остаток не тронут, тело можно отдать другому элементу заново — повтор размещения возможен.
    """

    def __init__(self, head: list[bytes], events: AsyncIterator[Event], max_size: int,
                 tail: Callable[[], Awaitable[None]] | None = None) -> None:
        self.head = head
        self.events = events
        self.max_size = max_size
        self.tail = tail
        self.size = sum(len(b) for b in head)
        self.consumed = False
        self.finished = False
        # ошибка тела клиента: транспорт может обернуть её в свою, поэтому запоминаем оригинал
        self.error: ClientBodyError | None = None

    async def iterate(self) -> AsyncIterator[bytes]:
        for chunk in self.head:
            yield chunk
        if self.consumed:
            raise ClientBodyError(ProblemError(502, "upstream_failed", "повтор передачи невозможен"))
        self.consumed = True
        try:
            # куски сокета (~64 КиБ) склеиваются до COALESCE: меньше записей и вызовов на обеих сторонах
            pending: list[bytes] = []
            pending_size = 0
            async for ev in self.events:
                if isinstance(ev, bytes):
                    self.size += len(ev)
                    if self.size > self.max_size:
                        raise ProblemError(413, "file_too_large",
                                           f"файл больше допустимых {self.max_size} байт; ничего не записано")
                    pending.append(ev)
                    pending_size += len(ev)
                    if pending_size >= COALESCE:
                        yield pending[0] if len(pending) == 1 else b"".join(pending)
                        pending, pending_size = [], 0
                elif isinstance(ev, FileEnd):
                    self.finished = True
                    break
            else:
                raise ProblemError(400, "malformed_multipart", "часть file оборвана")
            if pending:
                yield b"".join(pending)
            # элемент фиксирует файл только после конца тела: хвост формы разбирается до этого
            if self.tail is not None:
                await self.tail()
        except ProblemError as exc:
            self.error = ClientBodyError(exc)
            raise self.error from exc
        except (OSError, ClientDisconnect) as exc:  # обрыв соединения клиента
            self.error = ClientBodyError(ProblemError(400, "client_disconnected", "клиент оборвал передачу"))
            raise self.error from exc


class LimitedStream:
    """Тело PATCH от клиента к элементу с пределом длины; ошибка клиента запоминается (см. StreamBody)."""

    def __init__(self, chunks: AsyncIterator[bytes], remaining: int) -> None:
        self.chunks = chunks
        self.remaining = remaining
        self.error: ClientBodyError | None = None

    async def iterate(self) -> AsyncIterator[bytes]:
        sent = 0
        try:
            async for chunk in self.chunks:
                sent += len(chunk)
                if sent > self.remaining:
                    raise ProblemError(413, "upload_exceeds_length", "кусок выходит за Upload-Length")
                yield chunk
        except ProblemError as exc:
            self.error = ClientBodyError(exc)
            raise self.error from exc
        except (OSError, ClientDisconnect) as exc:
            # элемент получит обрыв и сохранит принятое: клиент продолжит с нового смещения (HEAD)
            self.error = ClientBodyError(ProblemError(400, "client_disconnected", "клиент оборвал передачу"))
            raise self.error from exc


class UploadService:
    def __init__(self, placement: Placement, elements: ElementClient, metrics: IngesterMetrics,
                 publisher: EventPublisher, locations: LocationStore) -> None:
        self.placement = placement
        self.elements = elements
        self.metrics = metrics
        self.publisher = publisher
        self.locations = locations

    async def place(self, retention_policy: str, meta: dict[str, Any], body: bytes | StreamBody, *,
                    size_hint: int | None, expected_sha256: str | None,
                    file_id: str | None = None) -> dict[str, Any]:
        """Записывает файл на первый подходящий элемент; 507 — когда места нет нигде."""
        file_id = file_id or str(uuid.uuid4())
        size = len(body) if isinstance(body, bytes) else size_hint
        candidates = self.placement.candidates(retention_policy, size)
        if not candidates:
            raise self.placement.no_space(retention_policy, size)
        last: ElementError | None = None
        for el in candidates:
            if isinstance(body, StreamBody) and body.consumed:
                break
            content: Any = body if isinstance(body, bytes) else body.iterate()
            try:
                attr = await self.elements.put_file(
                    el, file_id, meta, content,
                    length=len(body) if isinstance(body, bytes) else None, expected_sha256=expected_sha256)
            except ElementError as exc:
                if isinstance(body, StreamBody) and body.error is not None:
                    raise body.error from exc
                last = exc
                if exc.status == 507:
                    self.placement.record(el.id, PlacementResult.INSUFFICIENT_STORAGE)
                    continue
                if exc.retry_elsewhere:
                    self.placement.record(el.id, PlacementResult.MODE_CHANGED if exc.status == 409
                                          else PlacementResult.FAILED)
                    continue
                raise exc.to_problem() from exc
            self.placement.record(el.id, PlacementResult.SELECTED)
            # query найдёт только что загруженный файл по общему кэшу, не опрашивая все элементы
            await self.locations.put(file_id, el.id)
            return attr
        if last is None or last.status == 507:
            if isinstance(body, StreamBody) and body.consumed and last is not None:
                raise ProblemError(507, "insufficient_storage",
                                   "элемент хранения заполнился во время передачи; файл не записан, "
                                   "повторите загрузку", headers={"Retry-After": "5"})
            raise self.placement.no_space(retention_policy, size)
        raise last.to_problem()

    async def announce(self, attr: dict[str, Any], principal: Principal) -> None:
        await self.publisher.emit("file_uploaded", {
            "file_id": attr.get("file_id"), "storage_element_id": attr.get("storage_element_id"),
            "owner_id": principal.subject, "original_filename": attr.get("original_filename"),
            "file_size": attr.get("file_size"), "checksum": attr.get("checksum"),
            "retention_policy": attr.get("retention_policy"), "expires_at": attr.get("expires_at"),
        }, actor=EventActor.of(principal))
