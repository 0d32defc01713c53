"""``POST /api/v1/files/upload``: поток клиент → ingester → элемент, без буфера файла на диске."""

from __future__ import annotations

import time
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from artstore_common import HotRouter, Principal, ProblemError, Role, UploadOutcome, UploadResult, roles

from ..ratelimit import enforce_rate_limit
from .form import read_fields_until_file, read_file
from .multipart import MultipartStream, boundary_of
from .options import element_meta, expected_sha256, parse_options, upload_result
from .service import ClientBodyError, UploadService

router = HotRouter(prefix="/api/v1", tags=["upload"])
_UPLOADERS = roles(Role.ADMIN, Role.USER)

_FORM_SCHEMA: dict[str, Any] = {
    "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file"],
        "properties": {
            "description": {"type": "string"},
            "retention_policy": {"type": "string", "enum": ["temporary", "permanent"], "default": "temporary"},
            "ttl_days": {"type": "integer", "description": "только для temporary"},
            "metadata": {"type": "string", "description": "JSON-объект строкой"},
            "tags": {"type": "string", "description": "через запятую или JSON-массив"},
            "compress": {"type": "boolean"},
            "compression_algorithm": {"type": "string", "enum": ["gzip", "brotli"]},
            "file": {"type": "string", "format": "binary",
                     "description": "для файлов больше 1 МиБ текстовые поля должны идти до file"},
        }}}}},
}


def _declared_size(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    return int(raw) if raw and raw.isascii() and raw.isdigit() else None


@router.hot("/files/upload", methods=["POST"], roles=_UPLOADERS, status_code=201, openapi_extra=_FORM_SCHEMA,
            summary="Загрузить файл (multipart, потоком на элемент хранения)",
            responses={201: {"model": UploadResult, "description": "файл принят и записан на элемент"}})
async def upload_file(request: Request, principal: Principal) -> JSONResponse:
    started = time.perf_counter()
    state = request.app.state
    settings = state.settings
    await enforce_rate_limit(request, principal)
    declared = _declared_size(request)
    if declared is not None and declared > settings.max_upload_size + 1024 * 1024:
        state.metrics.upload_failed(UploadOutcome.TOO_LARGE)
        raise ProblemError(413, "file_too_large", f"файл больше допустимых {settings.max_upload_size} байт")
    service: UploadService = state.uploads
    events = MultipartStream(request.stream(), boundary_of(request.headers.get("content-type"))).events()
    fields: dict[str, str] = {}
    try:
        start = await read_fields_until_file(events, fields)
        if start is None:
            raise ProblemError(422, "validation_error", "file: обязательное поле формы (файл) не передано",
                               extra={"errors": [{"field": "file", "message": "обязательное поле"}]})
        opts = parse_options(fields, settings.default_ttl_days)  # ошибки полей — до записи
        part = await read_file(events, start, buffer_limit=settings.multipart_buffer_bytes,
                               max_size=settings.max_upload_size, single=True, fields=fields)
        if isinstance(part.body, bytes):
            opts = parse_options(fields, settings.default_ttl_days)  # поля могли прийти после файла
        sha = expected_sha256(start.headers.get("repr-digest"), start.headers.get("content-digest"),
                              request.headers.get("repr-digest"), request.headers.get("content-digest"))
        meta = element_meta(opts, principal, start.filename, start.content_type)
        attr = await service.place(opts.retention_policy, meta, part.body, size_hint=declared,
                                   expected_sha256=sha)
    except ClientBodyError as exc:
        state.metrics.upload_failed(UploadOutcome.REJECTED)
        raise exc.problem from exc
    except ClientDisconnect as exc:
        state.metrics.upload_failed(UploadOutcome.CLIENT_DISCONNECTED)
        raise ProblemError(400, "client_disconnected", "клиент оборвал передачу; файл не записан") from exc
    except ProblemError as exc:
        state.metrics.upload_failed(UploadOutcome.REJECTED if exc.status < 500 else UploadOutcome.FAILED)
        raise
    await service.announce(attr, principal)
    state.metrics.upload_ok(int(attr.get("file_size") or 0), time.perf_counter() - started)
    return JSONResponse(upload_result(attr), status_code=201)

