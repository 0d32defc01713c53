"""Маршруты члена реплицированного элемента (docs/replication.md §3–§6): откат, опись, копия, ремонт.

Их зовут пишущие сервисы (откат, pull после tus), query (ремонт после чтения) и соседи-члены (опись, копия);
всем нужен сервисный токен (ADMIN). У автономного элемента маршруты есть, но отвечают 409 ``not_replicated``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from artstore_common import FILE_ID_PATTERN, ProblemError, Role, require_roles, valid_file_id

from ..element import Element
from ..models import PullRequest, RepairRequest
from ..replication import Replication
from ..writer import remove
from . import element

router = APIRouter(prefix="/api/v1", tags=["replication"], dependencies=[require_roles(Role.ADMIN)])


def replication(el: Annotated[Element, Depends(element)]) -> Replication:
    if el.replication is None:
        raise ProblemError(409, "not_replicated",
                           f"элемент {el.settings.element_id} автономный (SE_REPLICATION_MODE=none): откат, опись и "
                           "копии есть только у членов реплицированного элемента")
    return el.replication


@router.post("/files/{file_id}/retract", summary="Откатить неподтверждённую запись (член реплицированного элемента)")
async def retract(file_id: str, el: Annotated[Element, Depends(element)],
                  rep: Annotated[Replication, Depends(replication)]) -> dict[str, Any]:
    attr = await el.cache.get(file_id) if valid_file_id(file_id) else None
    if attr is None:
        raise ProblemError(404, "file_not_found", f"файла {file_id} нет на члене {rep.me}")
    if not el.retractable(file_id):
        raise ProblemError(409, "retract_window_passed",
                           f"файл {file_id} записан на члене {rep.me} не этим процессом или больше "
                           f"{el.settings.retract_window:.0f} с назад: откат — только для свежей неподтверждённой "
                           "записи; удаляйте файл обычным DELETE")
    await remove(el, file_id, check_mode=False, tombstone="retracted")
    return {"file_id": file_id, "retracted": True, "member_id": rep.me}


@router.get("/replication/inventory", summary="Опись члена: файлы и надгробия по возрастанию file_id")
async def inventory(rep: Annotated[Replication, Depends(replication)],
                    after: Annotated[str, Query(max_length=128, pattern=r"^$|" + FILE_ID_PATTERN,
                                                description="file_id, после которого начать (пусто — сначала)")] = "",
                    limit: Annotated[int, Query(ge=1, le=5000)] = 1000) -> dict[str, Any]:
    return await rep.inventory(after, limit)


@router.post("/replication/pull", summary="Забрать копию файла у соседа-члена",
             responses={200: {"description": "такая копия уже была"}, 201: {"description": "скопирован"}})
async def pull(req: PullRequest, el: Annotated[Element, Depends(element)],
               rep: Annotated[Replication, Depends(replication)]) -> JSONResponse:
    status, attr = await rep.pull(req.file_id, rep.peer(req.source))
    if status == 201:
        # копию по просьбе пишущего сервиса (tus в sync) он же откатит, если кворум не наберётся
        el.written(req.file_id)
    return JSONResponse(attr, status_code=status)


@router.post("/replication/repair", status_code=202, summary="Починить свою копию с соседа (в фоне)")
async def repair(req: RepairRequest, rep: Annotated[Replication, Depends(replication)]) -> dict[str, Any]:
    scheduled = rep.schedule_repair(req.file_id)
    return {"file_id": req.file_id, "status": "scheduled" if scheduled else "in_progress"}


@router.post("/replication/sync", summary="Проход anti-entropy сейчас (отчёт прохода)")
async def sync_now(rep: Annotated[Replication, Depends(replication)]) -> dict[str, Any]:
    return await rep.anti_entropy()
