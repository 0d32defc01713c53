"""finalize (temporary → permanent) и transfer; журнал транзакций для UI."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from artstore_common import CurrentPrincipal, EventActor, FileId, Principal, ProblemError, Role, require_roles

from ..schemas import Transaction, TransactionPage
from .models import TERMINAL, TransactionRepo

router = APIRouter(prefix="/api/v1", tags=["transfer"])
legacy = APIRouter(prefix="/api", tags=["transfer"], include_in_schema=False)


class TransferRequest(BaseModel):
    target_storage_element_id: str


async def _start(request: Request, principal: Principal, kind: str, file_id: str, target_id: str | None,
                 wait: bool) -> JSONResponse:
    state = request.app.state
    repo: TransactionRepo = state.transactions
    if await repo.active_for(file_id):
        raise ProblemError(409, "transaction_in_progress", f"для файла {file_id} уже идёт перенос")
    src, attr = await state.locator.locate(file_id)
    if principal.role is not Role.ADMIN and attr.get("created_by_id") != principal.subject:
        raise ProblemError(403, "forbidden", "пользователь может переносить только свои файлы")
    if kind == "finalize":
        if attr.get("retention_policy") == "permanent" or src.mode != "edit":
            raise ProblemError(409, "already_permanent", f"файл {file_id} уже permanent (элемент {src.id})")
        candidates = state.placement.candidates("permanent", attr.get("file_size"))
        if not candidates:
            raise state.placement.no_space("permanent", attr.get("file_size"))
        target = candidates[0]
    else:
        target = state.placement.element(target_id or "")
        if target is None:
            raise ProblemError(404, "storage_element_not_found", f"элемента {target_id} нет в реестре")
        if target.id == src.id:
            raise ProblemError(409, "same_storage_element", "файл уже на этом элементе")
        if target.mode not in ("edit", "rw"):
            raise ProblemError(409, "mode_forbids_operation",
                               f"элемент {target.id} в режиме {target.mode} не принимает запись")
    tx = await repo.create(kind, file_id, src.id, target.id, attr.get("checksum"),
                          EventActor.of(principal))
    state.metrics.tally["finalize_total" if kind == "finalize" else "transfers_total"] += 1
    state.saga.spawn(tx["id"])
    await state.refresh_saga_counts()
    if wait:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            current = await repo.get(tx["id"])
            if current and current["state"] in TERMINAL:
                return JSONResponse(current, status_code=200)
            await asyncio.sleep(0.1)
    return JSONResponse(tx, status_code=202, headers={"Location": f"/api/v1/transactions/{tx['id']}"})


_SAGA: dict[int | str, dict[str, Any]] = {
    200: {"model": Transaction, "description": "сага уже завершилась (wait=true)"},
    202: {"model": Transaction, "description": "сага начата; Location — её адрес"}}


@router.post("/finalize/{file_id}", status_code=202, summary="temporary → permanent (сага переноса на rw)",
             responses=_SAGA)
async def finalize(file_id: FileId, request: Request, wait: bool = False,
                   principal: Principal = require_roles(Role.ADMIN, Role.USER)) -> JSONResponse:
    return await _start(request, principal, "finalize", file_id, None, wait)


@router.post("/files/{file_id}/transfer", status_code=202, summary="Перенести файл на другой элемент",
             responses=_SAGA)
async def transfer(file_id: FileId, body: TransferRequest, request: Request, wait: bool = False,
                   principal: Principal = require_roles(Role.ADMIN)) -> JSONResponse:
    return await _start(request, principal, "transfer", file_id, body.target_storage_element_id, wait)


@router.get("/transactions", summary="Журнал саг переноса", response_model=None,
            responses={200: {"model": TransactionPage}})
@router.get("/transactions/", include_in_schema=False)
@legacy.get("/transactions")
async def list_transactions(request: Request, principal: CurrentPrincipal, state: str | None = None,
                            file_id: str | None = None, limit: int = Query(50, ge=1, le=500),
                            offset: int = Query(0, ge=0, le=2**63 - 1)) -> dict[str, Any]:
    owner = None if principal.role in (Role.ADMIN, Role.AUDITOR) else principal.subject
    items, total = await request.app.state.transactions.list(
        state=state, file_id=file_id, requested_by=owner, limit=limit, offset=offset)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get("/transactions/{tx_id}", summary="Состояние саги", response_model=None,
            responses={200: {"model": Transaction}})
@legacy.get("/transactions/{tx_id}")
async def get_transaction(tx_id: str, request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
    tx: dict[str, Any] | None = await request.app.state.transactions.get(tx_id)
    if tx is None or (principal.role not in (Role.ADMIN, Role.AUDITOR) and tx["requested_by"] != principal.subject):
        raise ProblemError(404, "transaction_not_found", f"транзакция {tx_id} не найдена")
    return tx
