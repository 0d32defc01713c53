"""Маршруты файлов: метаданные, скачивание (Range/If-Range), восстановление из архива."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from artstore_common import (
    ElementError,
    EventActor,
    FileId,
    FileRecord,
    HotRouter,
    Principal,
    ProblemError,
    Role,
    StorageElement,
    require_roles,
    roles,
)

from ..ratelimit import limit_read, limited_readers
from .locate import Locator, not_found
from .serve import DOWNLOAD_OPENAPI, DOWNLOAD_RESPONSES, serve_download, upstream_problem

router = HotRouter(prefix="/api/v1/files", tags=["files"])
_READ_ROLES = roles(Role.ADMIN, Role.USER, Role.AUDITOR, Role.READONLY)
READERS = limited_readers(_READ_ROLES)
WRITERS = require_roles(Role.ADMIN, Role.USER)


def _locator(request: Request) -> Locator:
    locator: Locator = request.app.state.locator
    return locator


def _with_location(meta: dict[str, Any], el: StorageElement) -> dict[str, Any]:
    return {**meta, "storage_element_id": meta.get("storage_element_id") or el.id, "storage_element_mode": el.mode}


@router.get("/{file_id}", dependencies=[READERS], summary="Метаданные файла (attr.json + элемент)",
            operation_id="getFileMetadata", response_model=None, responses={200: {"model": FileRecord}})
async def file_metadata(file_id: FileId, request: Request) -> dict[str, Any]:
    meta, el = await _locator(request).metadata(file_id)
    return _with_location(meta, el)


@router.hot("/{file_id}/download", methods=["GET", "HEAD"], roles=_READ_ROLES,
            summary="Скачать файл (Range, If-Range, If-Match, ETag)", response_class=Response,
            operation_id="downloadFile", responses={**DOWNLOAD_RESPONSES, 409: {"description": "Файл в архиве "
            "(file_archived, restore_url) или повреждён"}}, openapi_extra=DOWNLOAD_OPENAPI)
async def download(request: Request, file_id: FileId, principal: Principal) -> Response:
    await limit_read(request, principal)
    return await serve_download(request, file_id)


@router.post("/{file_id}/restore", status_code=202, operation_id="restoreFile",
             summary="Вернуть файл архивного элемента из холодного хранения")
async def restore(file_id: FileId, request: Request, principal: Principal = WRITERS) -> JSONResponse:
    locator = _locator(request)
    for attempt in range(2):
        loc = await locator.locate(file_id, fresh=attempt > 0)
        try:
            # элемент публикует file_restored от имени пользователя, а не сервисного токена query
            payload = await locator.elements.client.restore(loc.element, file_id, actor=EventActor.of(principal))
        except ElementError as exc:
            if exc.unavailable:
                raise ProblemError(503, "storage_element_unavailable", exc.detail,
                                   headers={"Retry-After": "5"}) from exc
            if exc.status == 404 and loc.cached and attempt == 0:
                await locator.cache.drop(file_id)
                continue
            if exc.status == 404:
                raise not_found(file_id) from exc
            raise upstream_problem(file_id, loc.element, exc.status, exc.body) from exc
        locator.cache.drop_local(file_id)
        return JSONResponse({"file_id": file_id, "storage_element_id": loc.element.id, "status": "restoring",
                             **payload}, status_code=202)
    raise not_found(file_id)

