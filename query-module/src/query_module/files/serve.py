"""Отдача файла клиенту — общая для скачивания по токену и по временной ссылке (docs/links.md).

Где файл, что переслать элементу (Range, условные заголовки), как отдать ответ (малый — одним куском,
большой — потоком) и что записать в метрики — одно место. Ссылке нужно ещё два шага, и они передаются
как ``DownloadGate``: допустить отдачу, когда длина ответа известна, и учесть отданное, когда он кончился.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from fastapi import Request
from fastapi.responses import Response

from artstore_common import (
    DownloadOutcome,
    ElementClient,
    ElementError,
    ProblemError,
    StorageElement,
    Upstream,
    content_disposition,
    request_id_var,
)

from .locate import Location, Locator, not_found
from .proxy import FORWARD_REQUEST, UpstreamStreamResponse, forward_headers

# Порог тела, которое query читает у элемента целиком (тот же, что у элемента для отдачи одним куском).
SMALL_BODY = 1024 * 1024
_OUTCOME = {200: DownloadOutcome.OK, 206: DownloadOutcome.RANGE, 304: DownloadOutcome.NOT_MODIFIED}


_BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
_HEADERS = {
    "ETag": "сильный ETag — sha256 файла в кавычках", "Repr-Digest": "sha-256=:base64: (RFC 9530)",
    "Accept-Ranges": "bytes", "Content-Length": "длина тела", "Content-Disposition": "attachment; имя по RFC 6266",
}


def _headers(*extra: str) -> dict[str, Any]:
    names = {**_HEADERS, **{n: "bytes start-end/size" for n in extra}}
    return {name: {"description": text, "schema": {"type": "string"}} for name, text in names.items()}


# Скачивание в OpenAPI (и по токену, и по ссылке): тело — байты, статусы и заголовки — какие бывают.
DOWNLOAD_OPENAPI: dict[str, Any] = {"parameters": [
    {"name": "Range", "in": "header", "required": False, "schema": {"type": "string"},
     "description": "один диапазон: bytes=N-M, bytes=N- или bytes=-N → 206; вне файла → 416"},
    {"name": "If-Range", "in": "header", "required": False, "schema": {"type": "string"},
     "description": "ETag: диапазон — только если файл тот же, иначе весь файл (200)"},
    {"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"},
     "description": "ETag: совпал — 304 без тела"},
]}
DOWNLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Файл целиком", "content": _BINARY, "headers": _headers()},
    206: {"description": "Запрошенный диапазон", "content": _BINARY, "headers": _headers("Content-Range")},
    304: {"description": "Не изменился (If-None-Match)"},
    416: {"description": "Диапазон вне файла; Content-Range: bytes */size"},
}


class DownloadGate(Protocol):
    """Что ссылка добавляет к скачиванию. ``admit`` бросает ProblemError, если отдавать нельзя;
    ``done`` вызывается ровно один раз после каждого допущенного ответа, что бы ни случилось."""

    async def admit(self, status: int, length: int) -> None: ...

    async def done(self, status: int, outcome: DownloadOutcome, sent: int) -> None: ...


class _NotHere(Exception):
    """Элемент из кэша ответил 404: файл переехал или удалён — ищем заново."""


def archived(file_id: str, el: StorageElement) -> ProblemError:
    return ProblemError(
        409, "file_archived",
        f"Файл {file_id} на архивном элементе {el.id} (режим ar): данные в холодном хранении. "
        f"Чтобы скачать, восстановите его: POST /api/v1/files/{file_id}/restore (роль ADMIN или USER), "
        "дождитесь события file_restored и повторите скачивание.",
        extra={"storage_element_id": el.id, "restore_url": f"/api/v1/files/{file_id}/restore"},
    )


def upstream_problem(file_id: str, el: StorageElement, status: int, body: Any) -> ProblemError:
    body = body if isinstance(body, dict) else {}
    code = str(body.get("code") or "upstream_error")
    if status == 409 and code == "file_archived":
        return archived(file_id, el)
    detail = str(body.get("detail") or f"элемент {el.id} ответил HTTP {status}")
    return ProblemError(status if status < 500 else 502, code, detail)


async def _open(request: Request, file_id: str, loc: Location, gate: DownloadGate | None) -> Response:
    app = request.app
    headers = {k: v for k in FORWARD_REQUEST if (v := request.headers.get(k)) is not None}
    # identity: элемент не должен сжимать ответ, иначе диапазоны байт перестают совпадать с файлом
    headers["accept-encoding"] = "identity"
    headers["x-request-id"] = request_id_var.get() or ""
    client: ElementClient = app.state.elements.client
    try:
        upstream = await client.open_content(loc.element, file_id, method=request.method, headers=headers)
    except ElementError as exc:
        raise ProblemError(503, "storage_element_unavailable", exc.detail, headers={"Retry-After": "5"}) from exc
    try:
        status = upstream.status
        if status == 404:
            raise _NotHere
        if status in (200, 206, 304):
            out = forward_headers(upstream)
            if "content-disposition" not in out and loc.meta and loc.meta.get("original_filename"):
                out["content-disposition"] = content_disposition(str(loc.meta["original_filename"]))
            if request.method == "HEAD":
                await upstream.aclose()  # HEAD — не скачивание: в счётчики скачиваний не идёт
                return Response(status_code=status, headers=out)
            length = out.get("content-length")
            size = int(length) if length is not None and length.isdigit() else None
            if gate is not None:
                # без длины резервировать нечего — элемент всегда её шлёт; на всякий случай считаем 0
                await gate.admit(status, 0 if status == 304 else size or 0)
            if status == 304 or (size is not None and size <= SMALL_BODY):
                return await _buffered(app, upstream, status, out, gate)
            return UpstreamStreamResponse(upstream, out, app.state.metrics.download_done,
                                          after=gate.done if gate is not None else None)
        body = await upstream.read()
        if status == 416:
            out = {k: v for k, v in forward_headers(upstream).items() if k in ("content-range", "content-type")}
            app.state.metrics.download_done(DownloadOutcome.RANGE_NOT_SATISFIABLE, 0)
            return Response(body, status_code=416, headers=out)
        try:
            parsed = json.loads(body) if body else {}
        except ValueError:
            parsed = {}
        raise upstream_problem(file_id, loc.element, status, parsed)
    except BaseException:
        await upstream.aclose()
        raise


async def _buffered(app: Any, upstream: Upstream, status: int, headers: dict[str, str],
                    gate: DownloadGate | None) -> Response:
    """Малое тело (64 КиБ, хвост 1 МиБ по Range) — целиком и одним Response: потоковый ответ со своей
    группой задач, слежением за обрывом и отправкой по порциям стоит больше самой пересылки."""
    outcome, body = DownloadOutcome.ERROR, b""
    try:
        try:
            body = await upstream.read()
        except ElementError as exc:
            # элемент оборвал тело (например, хэш не сошёлся): неполные байты клиенту не отдаём;
            # исход в метриках учтёт обработчик ProblemError в serve_download
            raise ProblemError(502, "upstream_error", exc.detail) from exc
        finally:
            await upstream.aclose()
        outcome = _OUTCOME.get(status, DownloadOutcome.OK)
        app.state.metrics.download_done(outcome, len(body))
    finally:
        if gate is not None:
            await gate.done(status, outcome, len(body))
    return Response(body, status_code=status, headers=headers)


async def serve_download(request: Request, file_id: str, gate: DownloadGate | None = None) -> Response:
    """Файл с любого читаемого элемента: адрес из кэша, при 404 — ещё раз по свежему поиску."""
    locator: Locator = request.app.state.locator
    metrics = request.app.state.metrics
    try:
        loc = await locator.locate(file_id)
        try:
            return await _open(request, file_id, loc, gate)
        except _NotHere:
            if not loc.cached:
                raise not_found(file_id) from None
            await locator.cache.drop(file_id)
            loc = await locator.locate(file_id, fresh=True)
            try:
                return await _open(request, file_id, loc, gate)
            except _NotHere:
                raise not_found(file_id) from None
    except ProblemError as exc:
        outcome = {404: DownloadOutcome.NOT_FOUND, 409: DownloadOutcome.CONFLICT}.get(exc.status, DownloadOutcome.ERROR)
        metrics.download_done(outcome, 0)
        raise
