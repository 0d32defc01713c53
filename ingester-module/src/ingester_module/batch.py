"""``POST /api/v1/batch/upload``: много частей ``file`` в одной форме, результат по каждой.

Текстовые поля формы (retention_policy, tags, …) действуют на все файлы после них. Каждый файл
размещается отдельно: отказ по одному (нет места, ошибка элемента) не отменяет остальные.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from starlette.requests import ClientDisconnect

from artstore_common import Principal, ProblemError, Role, UploadOutcome, require_roles

from .ratelimit import enforce_rate_limit
from .schemas import BatchUploadResult
from .upload.form import FilePart, read_file
from .upload.multipart import Event, Field, FileEnd, FileStart, MultipartStream, boundary_of
from .upload.options import element_meta, expected_sha256, parse_options, upload_result
from .upload.service import ClientBodyError, StreamBody, UploadService

router = APIRouter(prefix="/api/v1", tags=["batch"])


async def _skip_file(events: AsyncIterator[Event]) -> None:
    async for ev in events:
        if isinstance(ev, FileEnd):
            return


def _error(exc: ProblemError) -> dict[str, Any]:
    return {"status": exc.status, "code": exc.code, "detail": exc.detail}


@router.post("/batch/upload", summary="Загрузить до 100 файлов / 1 ГиБ одной формой; результат по каждому",
             response_model=None, responses={200: {"model": BatchUploadResult}},
             openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                 "type": "object", "properties": {"file": {"type": "array", "items": {
                     "type": "string", "format": "binary"}}}}}}}})
async def batch_upload(request: Request,
                       principal: Principal = require_roles(Role.ADMIN, Role.USER)) -> dict[str, Any]:
    state = request.app.state
    settings = state.settings
    await enforce_rate_limit(request, principal)
    state.metrics.tally["batch_requests_total"] += 1
    declared = request.headers.get("content-length")
    too_big = settings.batch_max_bytes + 1024 * 1024
    if declared and declared.isascii() and declared.isdigit() and int(declared) > too_big:
        raise ProblemError(413, "batch_too_large", f"пакет больше {settings.batch_max_bytes} байт")
    service: UploadService = state.uploads
    events = MultipartStream(request.stream(), boundary_of(request.headers.get("content-type"))).events()
    fields: dict[str, str] = {}
    results: list[dict[str, Any]] = []
    total = 0
    try:
        async for ev in events:
            if isinstance(ev, Field):
                fields[ev.name] = ev.value
                continue
            if not isinstance(ev, FileStart):
                continue
            index = len(results)
            item: dict[str, Any] = {"index": index, "filename": ev.filename}
            results.append(item)
            if index >= settings.batch_max_files:
                await _skip_file(events)
                item.update(status="error", error=_error(ProblemError(
                    413, "batch_too_many_files", f"в пакете не больше {settings.batch_max_files} файлов")))
                continue
            started = time.perf_counter()
            part: FilePart | None = None
            try:
                opts = parse_options(fields, settings.default_ttl_days)
                part = await read_file(events, ev, buffer_limit=settings.multipart_buffer_bytes,
                                       max_size=min(settings.max_upload_size, settings.batch_max_bytes - total),
                                       single=False, fields=fields)
                meta = element_meta(opts, principal, ev.filename, ev.content_type)
                sha = expected_sha256(ev.headers.get("repr-digest"), ev.headers.get("content-digest"))
                attr = await service.place(opts.retention_policy, meta, part.body, size_hint=None,
                                           expected_sha256=sha)
            except ProblemError as exc:
                state.metrics.upload_failed(UploadOutcome.REJECTED if exc.status < 500 else UploadOutcome.FAILED)
                item.update(status="error", error=_error(exc))
                if exc.code in ("file_too_large", "malformed_multipart"):
                    break
                if part is None or (isinstance(part.body, StreamBody) and not part.body.finished):
                    await _skip_file(events)
                continue
            total += int(attr.get("file_size") or 0)
            await service.announce(attr, principal)
            state.metrics.upload_ok(int(attr.get("file_size") or 0), time.perf_counter() - started)
            item.update(status="created", file=upload_result(attr))
    except ClientBodyError as exc:
        results.append({"index": len(results), "filename": None, "status": "error", "error": _error(exc.problem)})
    except ClientDisconnect as exc:
        raise ProblemError(400, "client_disconnected", "клиент оборвал передачу пакета") from exc
    if not results:
        raise ProblemError(422, "validation_error", "file: в форме нет ни одного файла")
    ok = sum(1 for r in results if r["status"] == "created")
    return {"results": results, "succeeded": ok, "failed": len(results) - ok}
