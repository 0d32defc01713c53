"""Файлы: потоковая запись, метаданные, содержимое с Range, удаление, восстановление из `ar`."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect

from artstore_common import (
    ACTOR_HEADER,
    CurrentPrincipal,
    EventActor,
    FileRecord,
    HotRouter,
    Principal,
    ProblemError,
    Role,
    decode_meta,
    require_roles,
    roles,
    valid_file_id,
)

from .. import modes
from ..archive import restore_file
from ..element import Element
from ..reader import content_response
from ..writer import remove, store
from . import element

router = HotRouter(prefix="/api/v1/files", tags=["files"])
_WRITERS = roles(Role.ADMIN)
_SHA = re.compile(r"^[0-9a-fA-F]{64}$")


async def _attr(el: Element, file_id: str) -> dict[str, Any]:
    if not valid_file_id(file_id):
        raise ProblemError(404, "file_not_found", f"файла {file_id!r} нет на элементе {el.settings.element_id}")
    attr = await el.cache.get(file_id)
    if attr is None:
        raise ProblemError(404, "file_not_found", f"файла {file_id} нет на элементе {el.settings.element_id}")
    return attr


def _public(attr: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attr.items() if not k.startswith("_")}


@router.hot("/{file_id}", methods=["PUT"], roles=_WRITERS, status_code=201, summary="Записать файл потоком",
            responses={200: {"description": "повтор того же содержимого", "model": FileRecord},
                       201: {"description": "записан", "model": FileRecord}})
async def put_file(request: Request, file_id: str) -> JSONResponse:
    # id проверяется здесь, а не типом параметра: у элемента свой код ошибки (invalid_id), его ждут ingester и сага
    el: Element = request.app.state.element
    if not valid_file_id(file_id):
        raise ProblemError(422, "invalid_id", f"недопустимый file_id {file_id!r}: латиница, цифры, '-', '_', '.'")
    meta = decode_meta(request.headers.get("x-artstore-meta"))
    expected = request.headers.get("x-expected-sha256")
    if expected is not None and not _SHA.match(expected.strip()):
        raise ProblemError(422, "invalid_checksum", "X-Expected-SHA256 должен быть 64 hex-символа")
    length_header = request.headers.get("content-length")
    try:
        length = int(length_header) if length_header is not None else None
    except ValueError as exc:
        raise ProblemError(400, "bad_request", "Content-Length не число") from exc
    try:
        status, attr = await store(el, file_id, meta, request.stream(), length, expected.strip() if expected else None)
    except ClientDisconnect as exc:
        # клиент оборвал передачу: всё записанное откатано, это не ошибка сервиса
        raise ProblemError(400, "client_disconnected", "передача тела оборвана клиентом; файл не сохранён") from exc
    return JSONResponse(attr, status_code=status)


@router.get("/{file_id}", summary="Метаданные файла (attr.json)", response_model=None,
             responses={200: {"model": FileRecord}})
async def get_file(file_id: str, _: CurrentPrincipal, el: Element = Depends(element)) -> dict[str, Any]:
    attr = await _attr(el, file_id)
    out = _public(attr)
    out["corrupted"] = bool(attr.get("_corrupted") or file_id in el.corrupt)
    if el.mode == "ar":
        out["archived"] = file_id not in el.restored
    return out


@router.hot("/{file_id}/content", methods=["GET", "HEAD"], summary="Содержимое файла (Range, ETag, Repr-Digest)",
            response_class=Response)
async def get_content(request: Request, file_id: str,
                      raw: Annotated[bool, Query(description="сохранённая (сжатая) форма")] = False) -> Response:
    # элемент — прямо из состояния приложения: синхронная зависимость FastAPI уходит в пул потоков,
    # и на горячем пути скачивания это был лишний переход поток↔цикл событий на каждый запрос
    el: Element = request.app.state.element
    # If-Match на отсутствующий файл — 404, как без него: RFC 9110 §13.2.1 велит не проверять условия,
    # когда ответ и без них был бы не 2xx
    return await content_response(el, request, await _attr(el, file_id), raw)




@router.delete("/{file_id}", status_code=204, summary="Удалить файл (только режим edit)",
               dependencies=[require_roles(Role.ADMIN)])
async def delete_file(file_id: str, el: Element = Depends(element)) -> Response:
    modes.check(el.mode, "delete")
    await _attr(el, file_id)
    await remove(el, file_id)
    return Response(status_code=204)


@router.post("/{file_id}/restore", status_code=202, summary="Вернуть файл из холодного хранения (режим ar)")
async def restore(file_id: str, request: Request, el: Element = Depends(element),
                  principal: Principal = require_roles(Role.ADMIN)) -> dict[str, Any]:
    attr = await _attr(el, file_id)
    if el.mode != "ar":
        raise ProblemError(409, "mode_forbids_operation",
                           f"элемент в режиме {el.mode}: восстановление нужно только в режиме ar; "
                           f"разрешено: {modes.allowed_text(el.mode)}")
    if file_id in el.restored:
        return {"file_id": file_id, "status": "restored"}
    el.spawn(restore_file(el, attr, EventActor.on_behalf(principal, request.headers.get(ACTOR_HEADER))))
    return {"file_id": file_id, "status": "restoring"}

