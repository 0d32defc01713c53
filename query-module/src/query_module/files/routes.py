"""Маршруты файлов: метаданные, скачивание (Range/If-Range), восстановление из архива."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

import aiohttp
import httpx
from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response

from artstore_common import FastRoutes, ProblemError, Role, authorize, request_id_var, require_roles, roles

from ..elements import Element, ElementError
from .locate import Location, Locator, not_found
from .proxy import FORWARD_REQUEST, UpstreamStreamResponse, content_disposition, forward_headers
from .upstream import ContentStreamer, Upstream

router = APIRouter(prefix="/api/v1/files", tags=["files"])
_READ_ROLES = roles(Role.ADMIN, Role.USER, Role.AUDITOR, Role.READONLY)
READERS = require_roles(*_READ_ROLES)
WRITERS = require_roles(Role.ADMIN, Role.USER)
FILE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
FileId = Annotated[str, Path(pattern=FILE_ID_PATTERN, description="Идентификатор файла")]
_FILE_ID = re.compile(FILE_ID_PATTERN)


# Порог тела, которое query читает у элемента целиком (тот же, что у элемента для отдачи одним куском).
SMALL_BODY = 1024 * 1024
_OUTCOME = {200: "ok", 206: "range", 304: "not_modified"}


class _NotHere(Exception):
    """Элемент из кэша ответил 404: файл переехал или удалён — ищем заново."""


def _locator(request: Request) -> Locator:
    locator: Locator = request.app.state.locator
    return locator


def _with_location(meta: dict[str, Any], el: Element) -> dict[str, Any]:
    return {**meta, "storage_element_id": meta.get("storage_element_id") or el.id, "storage_element_mode": el.mode}


def _archived(file_id: str, el: Element) -> ProblemError:
    return ProblemError(
        409, "file_archived",
        f"Файл {file_id} на архивном элементе {el.id} (режим ar): данные в холодном хранении. "
        f"Чтобы скачать, восстановите его: POST /api/v1/files/{file_id}/restore (роль ADMIN или USER), "
        "дождитесь события file_restored и повторите скачивание.",
        extra={"storage_element_id": el.id, "restore_url": f"/api/v1/files/{file_id}/restore"},
    )


def _upstream_problem(file_id: str, el: Element, status: int, body: Any) -> ProblemError:
    body = body if isinstance(body, dict) else {}
    code = str(body.get("code") or "upstream_error")
    if status == 409 and code == "file_archived":
        return _archived(file_id, el)
    detail = str(body.get("detail") or f"элемент {el.id} ответил HTTP {status}")
    return ProblemError(status if status < 500 else 502, code, detail)


@router.get("/{file_id}", dependencies=[READERS], summary="Метаданные файла (attr.json + элемент)")
async def file_metadata(file_id: FileId, request: Request) -> dict[str, Any]:
    meta, el = await _locator(request).metadata(file_id)
    return _with_location(meta, el)


async def _open(request: Request, file_id: str, loc: Location) -> Response:
    app = request.app
    headers = {k: v for k in FORWARD_REQUEST if (v := request.headers.get(k)) is not None}
    # identity: элемент не должен сжимать ответ, иначе диапазоны байт перестают совпадать с файлом
    headers["accept-encoding"] = "identity"
    headers["x-request-id"] = request_id_var.get() or ""
    streamer: ContentStreamer = app.state.streamer
    upstream = await streamer.open(loc.element.api_url, f"/api/v1/files/{file_id}/content", headers)
    try:
        status = upstream.status
        if status == 404:
            raise _NotHere
        if status in (200, 206, 304):
            out = forward_headers(upstream)
            if "content-disposition" not in out and loc.meta and loc.meta.get("original_filename"):
                out["content-disposition"] = content_disposition(str(loc.meta["original_filename"]))
            length = out.get("content-length")
            if status == 304 or (length is not None and length.isdigit() and int(length) <= SMALL_BODY):
                return await _buffered(app, upstream, status, out)
            return UpstreamStreamResponse(upstream, out, app.state.metrics.download_done)
        body = await upstream.read()
        if status == 416:
            out = {k: v for k, v in forward_headers(upstream).items() if k in ("content-range", "content-type")}
            app.state.metrics.download_done("range_not_satisfiable", 0)
            return Response(body, status_code=416, headers=out)
        try:
            parsed = json.loads(body) if body else {}
        except ValueError:
            parsed = {}
        raise _upstream_problem(file_id, loc.element, status, parsed)
    except BaseException:
        await upstream.aclose()
        raise


async def _buffered(app: Any, upstream: Upstream, status: int, headers: dict[str, str]) -> Response:
    """Малое тело (64 КиБ, хвост 1 МиБ по Range) — целиком и одним Response: потоковый ответ со своей
    группой задач, слежением за обрывом и отправкой по порциям стоит больше самой пересылки."""
    try:
        body = await upstream.read()
    except (aiohttp.ClientError, httpx.HTTPError, TimeoutError, OSError) as exc:
        # элемент оборвал тело (например, хэш не сошёлся): неполные байты клиенту не отдаём;
        # исход в метриках учтёт обработчик ProblemError в download
        raise ProblemError(502, "upstream_error", f"элемент оборвал ответ: {type(exc).__name__} {exc}") from exc
    finally:
        await upstream.aclose()
    app.state.metrics.download_done(_OUTCOME.get(status, "ok"), len(body))
    return Response(body, status_code=status, headers=headers)


@router.get("/{file_id}/download", dependencies=[READERS], summary="Скачать файл (Range, If-Range, ETag)",
            response_class=Response)
async def download(file_id: FileId, request: Request) -> Response:
    locator = _locator(request)
    metrics = request.app.state.metrics
    try:
        loc = await locator.locate(file_id)
        try:
            return await _open(request, file_id, loc)
        except _NotHere:
            if not loc.cached:
                raise not_found(file_id) from None
            await locator.cache.drop(file_id)
            loc = await locator.locate(file_id, fresh=True)
            try:
                return await _open(request, file_id, loc)
            except _NotHere:
                raise not_found(file_id) from None
    except ProblemError as exc:
        outcome = {404: "not_found", 409: "conflict"}.get(exc.status, "error")
        metrics.download_done(outcome, 0)
        raise


@router.post("/{file_id}/restore", dependencies=[WRITERS], status_code=202,
             summary="Вернуть файл архивного элемента из холодного хранения")
async def restore(file_id: FileId, request: Request) -> JSONResponse:
    locator = _locator(request)
    for attempt in range(2):
        loc = await locator.locate(file_id, fresh=attempt > 0)
        try:
            resp = await locator.elements.call_json(loc.element, "POST", f"/api/v1/files/{file_id}/restore")
        except ElementError as exc:
            raise ProblemError(503, "storage_element_unavailable", str(exc), headers={"Retry-After": "5"}) from exc
        if resp.status_code == 404 and loc.cached and attempt == 0:
            await locator.cache.drop(file_id)
            continue
        if resp.status_code == 404:
            raise not_found(file_id)
        try:
            body = resp.json() if resp.content else {}
        except ValueError:
            body = {}
        if resp.status_code >= 400:
            raise _upstream_problem(file_id, loc.element, resp.status_code, body)
        locator.cache.drop_local(file_id)
        payload = body if isinstance(body, dict) else {}
        return JSONResponse({"file_id": file_id, "storage_element_id": loc.element.id, "status": "restoring",
                             **payload}, status_code=202)
    raise not_found(file_id)


async def _fast_download(request: Request) -> Response:
    await authorize(request, _READ_ROLES)
    file_id = request.path_params["file_id"]
    if not _FILE_ID.match(file_id):
        message = f"ожидается строка по шаблону {FILE_ID_PATTERN}"
        raise ProblemError(422, "validation_error", f"Запрос не прошёл проверку: file_id: {message}",
                           extra={"errors": [{"field": "file_id", "message": message}]})
    return await download(file_id, request)


def register_fast_routes(fast: FastRoutes) -> None:
    """Скачивание — мимо маршрутизатора FastAPI (см. artstore_common._fastpath)."""
    fast.add("GET", "/api/v1/files/{file_id}/download", _fast_download)
