"""Журнал аудита: чтение (ADMIN, AUDITOR) и проверка цепочки хэшей."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from ..deps import ReaderPrincipal, SessionDep
from ..pagination import Page, PageDep
from . import repository, service
from .schemas import AuditEntryOut, AuditVerifyOut

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=Page[AuditEntryOut], summary="Журнал аудита (новые сверху)")
@router.get("/", response_model=Page[AuditEntryOut], include_in_schema=False)
async def list_audit(
    _: ReaderPrincipal, session: SessionDep, page: PageDep,
    action: Annotated[str | None, Query(description="Действие; * — любой хвост, напр. auth.*")] = None,
    actor: Annotated[str | None, Query(description="id или имя действующего лица")] = None,
    target_type: str | None = None, target_id: str | None = None,
    file_id: Annotated[str | None, Query(
        max_length=200, description="id файла: загрузка, удаление, перенос и прочие операции с ним")] = None,
    outcome: Annotated[str | None, Query(pattern="^(success|failure)$")] = None,
    since: datetime | None = None, until: datetime | None = None,
) -> Page[AuditEntryOut]:
    rows, total = await repository.page(
        session, limit=page.limit, offset=page.offset, action=action, actor=actor, target_type=target_type,
        target_id=target_id, outcome=outcome, since=since, until=until, file_id=file_id,
    )
    return Page(items=[AuditEntryOut.model_validate(r, from_attributes=True) for r in rows], total=total,
                limit=page.limit, offset=page.offset)


@router.get("/verify", response_model=AuditVerifyOut, summary="Проверить цепочку хэшей журнала")
async def verify_audit(_: ReaderPrincipal, session: SessionDep) -> AuditVerifyOut:
    valid, checked, bad = await service.verify(session)
    return AuditVerifyOut(valid=valid, checked=checked, first_bad_id=bad)
