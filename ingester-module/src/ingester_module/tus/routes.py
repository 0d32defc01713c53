"""tus 1.0 на ``/api/v1/uploads``: core + creation, creation-with-upload, termination, checksum, expiration.

Каждый PATCH передаётся потоком в частичную загрузку элемента; смещение знает элемент (он — источник
истины), поэтому HEAD через любую реплику отвечает верно. Кусок с ``Upload-Checksum`` сначала
проверяется целиком (ограниченный буфер): элемент не должен получить ни байта неверного куска.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import time
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

from fastapi import APIRouter, Request, Response

from artstore_common import ElementError, Member, PlacementResult, Principal, ProblemError, Role, require_roles

from ..ratelimit import enforce_rate_limit
from ..upload.options import element_meta, parse_options, upload_result
from ..upload.service import ClientBodyError, LimitedStream
from .store import TusStore, TusUpload, parse_upload_metadata

router = APIRouter(prefix="/api/v1", tags=["tus"])
TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,creation-with-upload,termination,checksum,expiration"
ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "md5": hashlib.md5}
OCTET = "application/offset+octet-stream"


def _base_headers(upload: TusUpload | None = None) -> dict[str, str]:
    headers = {"Tus-Resumable": TUS_VERSION, "Cache-Control": "no-store"}
    if upload is not None:
        headers["Upload-Expires"] = format_datetime(datetime.fromtimestamp(upload.expires_ts, UTC), usegmt=True)
        if upload.result is not None:
            # Браузерному клиенту (tus-js-client) нужен id файла из ответа на последний PATCH.
            headers["X-File-Id"] = str(upload.result["file_id"])
    return headers


def _check_version(request: Request) -> None:
    version = request.headers.get("tus-resumable")
    if version != TUS_VERSION:
        raise ProblemError(412, "unsupported_tus_version", f"нужен заголовок Tus-Resumable: {TUS_VERSION}",
                           headers={"Tus-Version": TUS_VERSION})


def _owned(upload: TusUpload, principal: Principal) -> None:
    if principal.role is not Role.ADMIN and upload.owner_id != principal.subject:
        raise ProblemError(404, "upload_not_found", f"загрузка {upload.upload_id} не найдена или истекла")


@router.options("/uploads", include_in_schema=False)
@router.options("/uploads/", include_in_schema=False)
@router.options("/uploads/{upload_id}", include_in_schema=False)
async def tus_options(request: Request) -> Response:
    settings = request.app.state.settings
    return Response(status_code=204, headers={
        "Tus-Resumable": TUS_VERSION, "Tus-Version": TUS_VERSION, "Tus-Extension": EXTENSIONS,
        "Tus-Max-Size": str(settings.tus_max_size), "Tus-Checksum-Algorithm": ",".join(ALGORITHMS)})


@router.post("/uploads", status_code=201, summary="tus: создать загрузку (можно сразу с первым куском)")
@router.post("/uploads/", status_code=201, include_in_schema=False)
async def tus_create(request: Request, principal: Principal = require_roles(Role.ADMIN, Role.USER)) -> Response:
    _check_version(request)
    state = request.app.state
    settings = state.settings
    await enforce_rate_limit(request, principal)
    raw_length = request.headers.get("upload-length")
    if raw_length is None or not (raw_length.isascii() and raw_length.isdigit()):
        raise ProblemError(400, "upload_length_required", "нужен Upload-Length (отложенная длина не поддерживается)")
    length = int(raw_length)
    if length > settings.tus_max_size:
        raise ProblemError(413, "file_too_large", f"Upload-Length больше Tus-Max-Size {settings.tus_max_size}")
    fields = parse_upload_metadata(request.headers.get("upload-metadata"))
    opts = parse_options(fields, settings.default_ttl_days)
    filename = fields.get("filename") or fields.get("name") or "file"
    ctype = fields.get("filetype") or fields.get("content_type") or "application/octet-stream"
    upload_id = str(uuid.uuid4())
    meta = element_meta(opts, principal, filename, ctype)
    meta["file_id"] = upload_id
    ttl = settings.tus_expiry_hours * 3600
    candidates = state.placement.candidates(opts.retention_policy, length)
    chosen = None
    member: dict[str, str] = {}
    for el in candidates:
        try:
            created = await state.elements.create_upload(el, upload_id, length, meta, ttl)
        except ElementError as exc:
            state.placement.record(el.id, PlacementResult.INSUFFICIENT_STORAGE if exc.status == 507
                                   else PlacementResult.FAILED)
            if exc.retry_elsewhere:
                continue
            raise exc.to_problem() from exc
        state.placement.record(el.id, PlacementResult.SELECTED)
        chosen = el
        member = created.get("member") or {}
        break
    if chosen is None:
        raise state.placement.no_space(opts.retention_policy, length)
    expires = datetime.now(UTC) + timedelta(seconds=ttl)
    upload = TusUpload(upload_id, chosen.id, member.get("api_url") or chosen.api_url, principal.subject,
                       principal.username, length, expires.isoformat(), expires.timestamp(), meta,
                       member_id=member.get("id"))
    store: TusStore = state.tus_store
    await store.save(upload, ttl)
    offset = 0
    if request.headers.get("content-type", "").startswith(OCTET):  # creation-with-upload
        offset = await _append(request, upload, principal, 0)
    elif length == 0:
        await _complete(request, upload, principal)
    headers = {**_base_headers(upload), "Location": f"/api/v1/uploads/{upload_id}", "Upload-Offset": str(offset)}
    return Response(status_code=201, headers=headers)


@router.head("/uploads/{upload_id}", summary="tus: текущее смещение")
async def tus_head(upload_id: str, request: Request, principal: Principal = require_roles(Role.ADMIN, Role.USER)
                   ) -> Response:
    upload = await request.app.state.tus_store.load(upload_id)
    _owned(upload, principal)
    offset = await _offset(request, upload, principal)
    return Response(status_code=200, headers={**_base_headers(upload), "Upload-Offset": str(offset),
                                              "Upload-Length": str(upload.length)})


@router.get("/uploads/{upload_id}", summary="Состояние загрузки (JSON; после завершения — данные файла)")
async def tus_status(upload_id: str, request: Request,
                     principal: Principal = require_roles(Role.ADMIN, Role.USER)) -> dict[str, object]:
    upload = await request.app.state.tus_store.load(upload_id)
    _owned(upload, principal)
    return {"upload_id": upload_id, "offset": await _offset(request, upload, principal), "length": upload.length,
            "expires_at": upload.expires_at, "storage_element_id": upload.element_id,
            "completed": upload.result is not None, "file": upload.result}


async def _offset(request: Request, upload: TusUpload, principal: Principal) -> int:
    if upload.result is not None:
        return upload.length
    try:
        st = await request.app.state.elements.upload_state(upload.target, upload.upload_id)
    except ElementError as exc:
        raise exc.to_problem() from exc
    if st is None:
        if await _recover_commit(request, upload, principal):
            return upload.length
        raise ProblemError(404, "upload_not_found", f"загрузка {upload.upload_id} не найдена или истекла")
    offset = int(st["offset"])
    if offset >= upload.length:
        # Все байты на элементе, а фиксации не было: реплика, принявшая последний кусок, умерла до commit.
        # Клиент tus по Upload-Offset == Upload-Length считает загрузку законченной и больше не придёт —
        # фиксируем сейчас, через любую реплику.
        await _complete(request, upload, principal)
    return offset


async def _recover_commit(request: Request, upload: TusUpload, principal: Principal) -> bool:
    """Частичной загрузки на элементе нет — возможно, её уже зафиксировали, а реплика умерла до записи
    результата в Redis (обрыв между commit и save). Файл с id загрузки на элементе — значит, так и было:
    доводим завершение (результат, местоположение, событие). ``False`` — файла нет, загрузка пропала."""
    try:
        attr = await request.app.state.elements.get_attr(upload.target, upload.upload_id)
    except ElementError:
        return False
    if not attr or int(attr.get("file_size") or -1) != upload.length:
        return False
    await _finish(request, upload, principal, attr)
    return True


@router.patch("/uploads/{upload_id}", status_code=204, summary="tus: дописать кусок")
async def tus_patch(upload_id: str, request: Request,
                    principal: Principal = require_roles(Role.ADMIN, Role.USER)) -> Response:
    _check_version(request)
    if not request.headers.get("content-type", "").startswith(OCTET):
        raise ProblemError(415, "unsupported_media_type", f"PATCH tus требует Content-Type: {OCTET}")
    raw = request.headers.get("upload-offset")
    if raw is None or not (raw.isascii() and raw.isdigit()):
        raise ProblemError(400, "upload_offset_required", "нужен заголовок Upload-Offset")
    upload = await request.app.state.tus_store.load(upload_id)
    _owned(upload, principal)
    offset = await _append(request, upload, principal, int(raw))
    return Response(status_code=204, headers={**_base_headers(upload), "Upload-Offset": str(offset)})


async def _append(request: Request, upload: TusUpload, principal: Principal, offset: int) -> int:
    state = request.app.state
    if upload.result is not None:
        if offset == upload.length:
            return offset
        raise ProblemError(409, "offset_mismatch", f"загрузка завершена; смещение {upload.length}")
    if upload.expires_ts < time.time():
        raise ProblemError(410, "upload_expired", "срок загрузки истёк")
    declared = request.headers.get("content-length")
    size = int(declared) if declared and declared.isascii() and declared.isdigit() else None
    if size is not None and offset + size > upload.length:
        raise ProblemError(413, "upload_exceeds_length", "кусок выходит за Upload-Length")
    checksum = request.headers.get("upload-checksum")
    stream: LimitedStream | None = None
    content: Any
    if checksum:
        content = await _verified_chunk(request, checksum, state.settings.tus_checksum_max_chunk)
        size = len(content)
    else:
        stream = LimitedStream(request.stream(), upload.length - offset)
        content = stream.iterate()
    try:
        new_offset = await state.elements.patch_upload(upload.target, upload.upload_id, offset, content, size)
    except ClientBodyError as exc:
        raise exc.problem from exc
    except ElementError as exc:
        if stream is not None and stream.error is not None:
            raise stream.error.problem from exc
        if exc.status == 404 and await _recover_commit(request, upload, principal):
            return int(upload.length)
        if exc.status == 409:
            raise ProblemError(409, "offset_mismatch", f"Upload-Offset не совпадает: {exc.detail}") from exc
        raise exc.to_problem() from exc
    if new_offset >= upload.length:
        await _complete(request, upload, principal)
    return int(new_offset)


async def _verified_chunk(request: Request, header: str, limit: int) -> bytes:
    algo, _, value = header.strip().partition(" ")
    factory = ALGORITHMS.get(algo.lower())
    if factory is None:
        raise ProblemError(400, "unsupported_checksum_algorithm", f"алгоритм {algo} не поддерживается")
    parts: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise ProblemError(413, "chunk_too_large", f"кусок с Upload-Checksum не больше {limit} байт")
        parts.append(chunk)
    data = b"".join(parts)
    try:
        expected = base64.b64decode(value.strip(), validate=True)
    except ValueError as exc:
        raise ProblemError(400, "invalid_checksum", "Upload-Checksum: значение не base64") from exc
    if factory(data).digest() != expected:
        raise ProblemError(460, "checksum_mismatch", "Upload-Checksum не совпал: кусок отброшен",
                           title="Checksum Mismatch")
    return data


async def _complete(request: Request, upload: TusUpload, principal: Principal) -> None:
    state = request.app.state
    try:
        attr = await state.elements.commit_upload(upload.target, upload.upload_id)
    except ElementError as exc:
        # параллельный HEAD через другую реплику мог зафиксировать первым
        if exc.status == 404 and await _recover_commit(request, upload, principal):
            return
        raise exc.to_problem() from exc
    if upload.member_id is not None:
        await _replicate(request, upload, attr)
    await _finish(request, upload, principal, attr)


async def _finish(request: Request, upload: TusUpload, principal: Principal, attr: dict[str, Any]) -> None:
    state = request.app.state
    upload.result = upload_result(attr)
    await state.tus_store.save(upload, max(int(upload.expires_ts - time.time()), 60))
    await state.locations.put(str(attr.get("file_id")), upload.element_id)
    await state.uploads.announce(attr, principal)
    state.metrics.upload_ok(int(attr.get("file_size") or 0), 0.0)
    state.metrics.tally["tus_uploads_total"] += 1


async def _replicate(request: Request, upload: TusUpload, attr: dict[str, Any]) -> None:
    """Файл зафиксирован на одном члене: остальные забирают его (pull), ответ — после кворума
    (docs/replication.md §3). Без кворума запись откатана везде — загрузку начинать заново."""
    state = request.app.state
    file_id = str(attr.get("file_id"))
    source = Member(id=str(upload.member_id), api_url=upload.api_url)
    el = state.placement.element(upload.element_id)
    try:
        if el is None or not el.replicated:
            with contextlib.suppress(ElementError):
                await state.elements.retract(source, file_id)
            raise ProblemError(503, "storage_unavailable",
                               f"элемента {upload.element_id} с членами больше нет в снимке discovery: копию не "
                               "раздать остальным членам, запись откатана. Начните загрузку заново.",
                               headers={"Retry-After": "5"})
        await state.elements.replicate(el, file_id, source, size=int(attr.get("file_size") or 0))
    except ElementError as exc:
        await state.tus_store.delete(upload.upload_id)
        problem = exc.to_problem()
        problem.detail += " Частичная загрузка израсходована: начните загрузку заново."
        raise problem from exc
    except ProblemError:
        await state.tus_store.delete(upload.upload_id)
        raise


@router.delete("/uploads/{upload_id}", status_code=204, summary="tus: отменить загрузку (termination)")
async def tus_delete(upload_id: str, request: Request,
                     principal: Principal = require_roles(Role.ADMIN, Role.USER)) -> Response:
    _check_version(request)
    state = request.app.state
    upload = await state.tus_store.load(upload_id)
    _owned(upload, principal)
    if upload.result is None:
        try:
            await state.elements.delete_upload(upload.target, upload_id)
        except ElementError as exc:
            raise exc.to_problem() from exc
    await state.tus_store.delete(upload_id)
    return Response(status_code=204, headers={"Tus-Resumable": TUS_VERSION})
