"""Частичные загрузки (tus в ingester) поверх `.uploads/` элемента."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect

from artstore_common import ProblemError, Role, require_roles

from ..models import UploadCreate
from ..uploads import Uploads

router = APIRouter(prefix="/api/v1/uploads", tags=["uploads"], dependencies=[require_roles(Role.ADMIN)])


def _uploads(request: Request) -> Uploads:
    uploads: Uploads = request.app.state.uploads
    return uploads


@router.post("", status_code=201, summary="Начать частичную загрузку")
@router.post("/", status_code=201, include_in_schema=False)
async def create(req: UploadCreate, request: Request) -> dict[str, Any]:
    return await _uploads(request).create(req)


@router.get("/{upload_id}", summary="Состояние загрузки")
async def status(upload_id: str, request: Request) -> dict[str, Any]:
    return await _uploads(request).status(upload_id)


@router.head("/{upload_id}", summary="Смещение загрузки в заголовках")
async def head(upload_id: str, request: Request) -> Response:
    info = await _uploads(request).status(upload_id)
    return Response(status_code=200, headers={"Upload-Offset": str(info["offset"]),
                                              "Upload-Length": str(info["length"]), "Cache-Control": "no-store"})


@router.patch("/{upload_id}", summary="Дописать данные с указанного смещения")
async def append(upload_id: str, request: Request, upload_offset: int = Header(..., ge=0)) -> JSONResponse:
    try:
        result = await _uploads(request).append(upload_id, upload_offset, request.stream())
    except ClientDisconnect as exc:
        # принятое до обрыва сохранено; клиент узнает смещение через HEAD
        raise ProblemError(400, "client_disconnected", "передача оборвана клиентом; смещение — в HEAD") from exc
    return JSONResponse(result, headers={"Upload-Offset": str(result["offset"])})


@router.post("/{upload_id}/commit", status_code=201, summary="Зафиксировать как файл")
async def commit(upload_id: str, request: Request) -> JSONResponse:
    status_code, attr = await _uploads(request).commit(upload_id)
    return JSONResponse(attr, status_code=status_code)


@router.delete("/{upload_id}", status_code=204, summary="Отменить загрузку")
async def cancel(upload_id: str, request: Request) -> Response:
    await _uploads(request).cancel(upload_id)
    return Response(status_code=204)
