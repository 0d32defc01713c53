"""/api/v1/storage-elements: реестр, discover, синхронизация, сводка, прокси команд элементу (ADMIN)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response

from artstore_common import ProblemError

from ..audit import service as audit
from ..db import StorageElement
from ..deps import AdminActor, ReaderPrincipal, SessionDep
from ..pagination import Page, PageDep
from . import repository
from .schemas import (
    DiscoverRequest,
    ElementOut,
    ElementUpdate,
    Mode,
    ModeRequest,
    RegisterRequest,
    Status,
    SummaryOut,
)
from .service import Registry, summary, to_out

router = APIRouter(prefix="/storage-elements", tags=["storage-elements"])


def _registry(request: Request) -> Registry:
    return request.app.state.registry


async def _get(session: SessionDep, element_id: str) -> StorageElement:
    element = await repository.get(session, element_id)
    if element is None:
        raise ProblemError(404, "storage_element_not_found", f"элемент хранения {element_id} не зарегистрирован")
    return element


def _publish_after_commit(background: BackgroundTasks, request: Request) -> None:
    # Фоновая задача выполняется после коммита сессии запроса: снимок видит уже сохранённые изменения.
    background.add_task(_registry(request).publish, force=True)


@router.get("", response_model=Page[ElementOut], summary="Зарегистрированные элементы хранения")
@router.get("/", response_model=Page[ElementOut], include_in_schema=False)
async def list_elements(
    _: ReaderPrincipal, session: SessionDep, page: PageDep, mode: Mode | None = None, status: Status | None = None,
) -> Page[ElementOut]:
    rows, total = await repository.page(session, limit=page.limit, offset=page.offset, mode=mode, status=status)
    return Page(items=[to_out(e) for e in rows], total=total, limit=page.limit, offset=page.offset)


@router.get("/stats/summary", response_model=SummaryOut, summary="Сводка по реестру")
async def stats_summary(_: ReaderPrincipal, session: SessionDep) -> SummaryOut:
    return summary(await repository.all_elements(session))


@router.post("/discover", summary="Прочитать /api/v1/info элемента (без регистрации)")
async def discover(body: DiscoverRequest, _: AdminActor, request: Request) -> dict[str, Any]:
    return await _registry(request).fetch_info(body.api_url)


@router.post("", response_model=ElementOut, status_code=201, summary="Зарегистрировать элемент по api_url")
@router.post("/", response_model=ElementOut, status_code=201, include_in_schema=False)
async def register(
    body: RegisterRequest, actor: AdminActor, session: SessionDep, request: Request, background: BackgroundTasks,
) -> ElementOut:
    registry = _registry(request)
    info = await registry.fetch_info(body.api_url)
    element_id = str(info["id"])
    if await repository.get(session, element_id) is not None:
        raise ProblemError(409, "storage_element_exists", f"элемент {element_id} уже зарегистрирован")
    now = datetime.now(UTC)
    element = StorageElement(
        id=element_id, name=body.name or str(info.get("name") or element_id), api_url=body.api_url.rstrip("/"),
        priority=body.priority if body.priority is not None else int(info.get("priority") or 100),
        status="offline", registered_at=now, updated_at=now,
    )
    registry.apply_info(element, info, now)
    repository.add(session, element)
    await audit.record(session, actor, "storage_element.register", target_type="storage_element",
                       target_id=element_id, details={"api_url": element.api_url, "name": element.name})
    _publish_after_commit(background, request)
    return to_out(element)


@router.get("/{element_id}", response_model=ElementOut, summary="Элемент хранения")
async def get_element(element_id: str, _: ReaderPrincipal, session: SessionDep) -> ElementOut:
    return to_out(await _get(session, element_id))


@router.patch("/{element_id}", response_model=ElementOut, summary="Изменить имя, приоритет, адрес")
async def update_element(element_id: str, body: ElementUpdate, actor: AdminActor, session: SessionDep,
                         request: Request, background: BackgroundTasks) -> ElementOut:
    element = await _get(session, element_id)
    changes: dict[str, Any] = {}
    for field, value in body.model_dump(exclude_unset=True, exclude_none=True).items():
        if field == "api_url":
            value = value.rstrip("/")
            info = await _registry(request).fetch_info(value)
            if str(info.get("id")) != element.id:
                raise ProblemError(409, "element_id_mismatch",
                                   f"по адресу {value} отвечает элемент {info.get('id')}, а не {element.id}")
        if getattr(element, field) != value:
            changes[field] = {"from": getattr(element, field), "to": value}
            setattr(element, field, value)
    element.updated_at = datetime.now(UTC)
    await audit.record(session, actor, "storage_element.update", target_type="storage_element",
                       target_id=element.id, details={"changes": changes})
    _publish_after_commit(background, request)
    return to_out(element)


@router.delete("/{element_id}", status_code=204, summary="Снять с регистрации (только пустой)")
async def delete_element(
    element_id: str, actor: AdminActor, session: SessionDep, request: Request, background: BackgroundTasks,
) -> Response:
    element = await _get(session, element_id)
    # свежий счётчик: сохранённый мог устареть с последнего опроса (недоступный элемент — по последнему)
    await _registry(request).poll_one(element)
    if (element.file_count or 0) > 0:
        raise ProblemError(409, "storage_element_not_empty",
                           f"на элементе {element.id} {element.file_count} файл(ов): перенесите их, потом снимайте "
                           "с регистрации")
    await repository.delete(session, element)
    await audit.record(session, actor, "storage_element.delete", target_type="storage_element",
                       target_id=element_id, details={"api_url": element.api_url})
    _publish_after_commit(background, request)
    return Response(status_code=204)


@router.post("/{element_id}/sync", response_model=ElementOut, summary="Опросить элемент сейчас")
async def sync_element(
    element_id: str, _: AdminActor, session: SessionDep, request: Request, background: BackgroundTasks,
) -> ElementOut:
    element = await _get(session, element_id)
    await _registry(request).poll_one(element)
    _publish_after_commit(background, request)
    return to_out(element)


@router.post("/{element_id}/mode", summary="Сменить режим элемента (rw→ro, ro→ar)")
async def change_mode(element_id: str, body: ModeRequest, actor: AdminActor, session: SessionDep,
                      request: Request, background: BackgroundTasks) -> dict[str, Any]:
    element = await _get(session, element_id)
    registry = _registry(request)
    before = element.mode
    try:
        result = await registry.proxy(element, "POST", "/mode", json={"mode": body.mode})
    except ProblemError as exc:
        await audit.record_detached(request.app.state.sessionmaker, actor, "storage_element.mode",
                                    target_type="storage_element", target_id=element.id, outcome="failure",
                                    details={"from": before, "to": body.mode, "error": exc.code})
        raise
    await registry.poll_one(element)
    await audit.record(session, actor, "storage_element.mode", target_type="storage_element", target_id=element.id,
                       details={"from": before, "to": body.mode})
    _publish_after_commit(background, request)
    return {"id": element.id, "mode": element.mode, "previous_mode": before, "element": result}


@router.get("/{element_id}/cache/consistency", summary="Проверка согласованности кэша элемента")
async def cache_consistency(element_id: str, _: ReaderPrincipal, session: SessionDep, request: Request) -> Any:
    return await _registry(request).proxy(await _get(session, element_id), "GET", "/cache/consistency")


@router.post("/{element_id}/cache/rebuild", summary="Перестроить кэш элемента из attr.json")
async def cache_rebuild(
    element_id: str, actor: AdminActor, session: SessionDep, request: Request,
    mode: Annotated[str, Query(pattern="^(full|incremental)$")] = "incremental",
) -> Any:
    element = await _get(session, element_id)
    result = await _registry(request).proxy(element, "POST", "/cache/rebuild", params={"mode": mode})
    await audit.record(session, actor, "storage_element.cache_rebuild", target_type="storage_element",
                       target_id=element.id, details={"mode": mode})
    return result


@router.post("/{element_id}/scrub", summary="Сверить данные элемента с attr.json (sha256)")
async def scrub(element_id: str, actor: AdminActor, session: SessionDep, request: Request) -> Any:
    element = await _get(session, element_id)
    result = await _registry(request).proxy(element, "POST", "/scrub")
    await audit.record(session, actor, "storage_element.scrub", target_type="storage_element", target_id=element.id,
                       details={"corrupted": len(result.get("corrupted", [])) if isinstance(result, dict) else None})
    return result
