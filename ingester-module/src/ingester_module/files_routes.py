"""Удаление файлов: одиночное и пакетное. Только на элементах в режиме edit (docs/architecture.md §4.3)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from artstore_common import ElementError, EventActor, FileId, Principal, ProblemError, Role, require_roles

from .locator import Locator
from .ratelimit import enforce_rate_limit
from .schemas import BatchDeleteResult

router = APIRouter(prefix="/api/v1", tags=["files"])


async def delete_one(request: Request, principal: Principal, file_id: str) -> dict[str, Any]:
    state = request.app.state
    locator: Locator = state.locator
    el, attr = await locator.locate(file_id)
    if principal.role is not Role.ADMIN and attr.get("created_by_id") != principal.subject:
        raise ProblemError(403, "forbidden", "пользователь может удалять только свои файлы")
    if el.mode != "edit":
        raise ProblemError(409, "mode_forbids_operation",
                           f"файл на элементе {el.id} в режиме {el.mode}: удаление возможно только "
                           "в режиме edit (permanent-файлы не удаляются)")
    try:
        await state.elements.delete_file(el, file_id)
    except ElementError as exc:
        raise exc.to_problem() from exc
    await locator.forget(file_id)
    await state.publisher.emit("file_deleted", {
        "file_id": file_id, "storage_element_id": el.id, "owner_id": attr.get("created_by_id"),
        "original_filename": attr.get("original_filename"), "deleted_by": principal.subject,
    }, actor=EventActor.of(principal))
    state.metrics.tally["deletes_total"] += 1
    return {"file_id": file_id, "storage_element_id": el.id}


@router.delete("/files/{file_id}", status_code=204, summary="Удалить файл (только режим edit)")
async def delete_file(file_id: FileId, request: Request,
                      principal: Principal = require_roles(Role.ADMIN, Role.USER)) -> Response:
    await enforce_rate_limit(request, principal)
    await delete_one(request, principal, file_id)
    return Response(status_code=204)


class BatchDelete(BaseModel):
    file_ids: list[str] = Field(min_length=1, max_length=100)


@router.post("/batch/delete", summary="Удалить до 100 файлов; результат по каждому", response_model=None,
             responses={200: {"model": BatchDeleteResult}})
async def batch_delete(body: BatchDelete, request: Request,
                       principal: Principal = require_roles(Role.ADMIN, Role.USER)) -> dict[str, Any]:
    await enforce_rate_limit(request, principal, len(body.file_ids))
    request.app.state.metrics.tally["batch_requests_total"] += 1
    results: list[dict[str, Any]] = []
    for index, file_id in enumerate(body.file_ids):
        try:
            await delete_one(request, principal, file_id)
            results.append({"index": index, "file_id": file_id, "status": "deleted"})
        except ProblemError as exc:
            results.append({"index": index, "file_id": file_id, "status": "error",
                            "error": {"status": exc.status, "code": exc.code, "detail": exc.detail}})
    ok = sum(1 for r in results if r["status"] == "deleted")
    return {"results": results, "succeeded": ok, "failed": len(results) - ok}
