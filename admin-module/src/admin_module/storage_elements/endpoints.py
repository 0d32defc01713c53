"""/api/v1/storage-elements: реестр, discover, синхронизация, сводка, прокси команд элементу (ADMIN)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response

from artstore_common import ACTOR_HEADER, EventActor, ProblemError

from ..audit import service as audit
from ..db import StorageElement, StorageElementMember
from ..deps import AdminActor, ReaderPrincipal, SessionDep
from ..pagination import Page, PageDep
from . import replication, repository
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
from .service import Registry, fan_out_failure, summary, to_out

router = APIRouter(prefix="/storage-elements", tags=["storage-elements"])


def _registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


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
    response: Response,
) -> ElementOut:
    """Автономный элемент или член реплицированного: тогда заводится весь логический элемент со всеми членами
    из replication.peers; повторная регистрация другого (или того же) члена дополняет список членов — 200."""
    registry = _registry(request)
    url = body.api_url.rstrip("/")
    info = await registry.fetch_info(url)
    element_id = str(info["id"])
    ident = replication.identity(info, url)
    element = await repository.get(session, element_id)
    if element is not None and ident is None:
        raise ProblemError(409, "storage_element_exists", f"элемент {element_id} уже зарегистрирован")
    now = datetime.now(UTC)
    created = element is None
    if element is None:
        element = StorageElement(
            id=element_id, name=body.name or str(info.get("name") or element_id), api_url=url,
            priority=body.priority if body.priority is not None else int(info.get("priority") or 100),
            status="offline", registered_at=now, updated_at=now, members=[],
        )
        repository.add(session, element)
    details: dict[str, Any] = {"api_url": url, "name": element.name}
    if ident is None:
        registry.apply_info(element, info, now)
    else:
        await _claim_members(session, element_id, ident)
        details["members"] = [p.id for p in ident.peers]
        details["added"] = replication.upsert_members(element, ident, url, now)
        await registry.poll_members(element)
    if created:
        await audit.record(session, actor, "storage_element.register", target_type="storage_element",
                           target_id=element_id, details=details)
    else:
        response.status_code = 200
        await audit.record(session, actor, "storage_element.members", target_type="storage_element",
                           target_id=element_id, details=details)
    _publish_after_commit(background, request)
    return to_out(element)


async def _claim_members(session: SessionDep, element_id: str, ident: replication.Identity) -> None:
    """id члена уникален во флоте: член чужого логического элемента — ошибка конфигурации, а не перенос."""
    for peer in ident.peers:
        other = await session.get(StorageElementMember, peer.id)
        if other is not None and other.element_id != element_id:
            raise ProblemError(409, "storage_member_exists",
                               f"член {peer.id} уже зарегистрирован в элементе {other.element_id}; у членов разных "
                               "элементов должны быть разные SE_MEMBER_ID")


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
            if element.members:
                raise ProblemError(409, "replicated_element_address",
                                   f"у реплицированного элемента {element.id} адреса — у членов: зарегистрируйте "
                                   "переехавшего члена по новому адресу (POST /storage-elements)")
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


@router.delete("/{element_id}/members/{member_id}", status_code=204, summary="Убрать члена из реестра")
async def delete_member(element_id: str, member_id: str, actor: AdminActor, session: SessionDep, request: Request,
                        background: BackgroundTasks) -> Response:
    """Только реестр: член, выведенный из SE_REPLICATION_PEERS остальных, больше не опрашивается."""
    element = await _get(session, element_id)
    member = next((m for m in element.members if m.member_id == member_id), None)
    if member is None:
        raise ProblemError(404, "storage_member_not_found", f"у элемента {element_id} нет члена {member_id}")
    if len(element.members) == 1:
        raise ProblemError(409, "last_storage_member",
                           f"{member_id} — последний член элемента {element_id}: снимайте с регистрации весь элемент")
    element.members.remove(member)
    replication.renumber(element)
    replication.aggregate(element, datetime.now(UTC))
    await audit.record(session, actor, "storage_element.member_delete", target_type="storage_element",
                       target_id=element_id, details={"member": member_id, "api_url": member.api_url})
    _publish_after_commit(background, request)
    return Response(status_code=204)


@router.post("/{element_id}/mode", summary="Сменить режим элемента (rw→ro, ro→ar)")
async def change_mode(element_id: str, body: ModeRequest, actor: AdminActor, session: SessionDep,
                      request: Request, background: BackgroundTasks) -> dict[str, Any]:
    element = await _get(session, element_id)
    registry = _registry(request)
    before = element.mode
    members: list[dict[str, Any]] | None = None
    # элемент публикует element_mode_changed от имени того, кто менял режим здесь, а не сервисного токена admin
    on_behalf = {ACTOR_HEADER: EventActor(actor.type, actor.id, actor.name).encode()}
    try:
        if element.members:
            # каждому члену: член в прежнем режиме после возврата в сеть принимал бы то, что остальные уже не берут
            members = await registry.fan_out(element, "POST", "/mode", json={"mode": body.mode}, headers=on_behalf)
            if not all(r["ok"] for r in members):
                raise fan_out_failure(element, members, "смену режима")
            result = next(r["result"] for r in members)
        else:
            result = await registry.proxy(element, "POST", "/mode", json={"mode": body.mode}, headers=on_behalf)
    except ProblemError as exc:
        await audit.record_detached(request.app.state.sessionmaker, actor, "storage_element.mode",
                                    target_type="storage_element", target_id=element.id, outcome="failure",
                                    details={"from": before, "to": body.mode, "error": exc.code,
                                             **_member_outcomes(members)})
        # кто из членов успел сменить режим, реестр узнает при следующем опросе (poll_interval_seconds)
        raise
    await registry.poll_one(element)
    await audit.record(session, actor, "storage_element.mode", target_type="storage_element", target_id=element.id,
                       details={"from": before, "to": body.mode, **_member_outcomes(members)})
    _publish_after_commit(background, request)
    out: dict[str, Any] = {"id": element.id, "mode": element.mode, "previous_mode": before, "element": result}
    if members is not None:
        out["members"] = members
    return out


def _member_outcomes(results: list[dict[str, Any]] | None) -> dict[str, Any]:
    if results is None:
        return {}
    return {"members": {r["id"]: "ok" if r["ok"] else r["error"]["code"] for r in results}}


async def _maintenance(registry: Registry, element: StorageElement, method: str, path: str, what: str,
                       **kwargs: Any) -> tuple[Any, list[dict[str, Any]] | None]:
    """Обслуживание автономного элемента — как было; реплицированного — у каждого члена: отчёт по каждому,
    если ответил хоть один (неполный — complete: false), иначе ошибка. → (ответ, исходы членов)."""
    if not element.members:
        return await registry.proxy(element, method, path, **kwargs), None
    results = await registry.fan_out(element, method, path, **kwargs)
    if not any(r["ok"] for r in results):
        raise fan_out_failure(element, results, what)
    return {"id": element.id, "complete": all(r["ok"] for r in results), "members": results}, results


@router.get("/{element_id}/cache/consistency", summary="Проверка согласованности кэша элемента")
async def cache_consistency(element_id: str, _: ReaderPrincipal, session: SessionDep, request: Request) -> Any:
    result, _members = await _maintenance(_registry(request), await _get(session, element_id), "GET",
                                          "/cache/consistency", "проверку кэша")
    return result


@router.post("/{element_id}/cache/rebuild", summary="Перестроить кэш элемента из attr.json")
async def cache_rebuild(
    element_id: str, actor: AdminActor, session: SessionDep, request: Request,
    mode: Annotated[str, Query(pattern="^(full|incremental)$")] = "incremental",
) -> Any:
    element = await _get(session, element_id)
    result, members = await _maintenance(_registry(request), element, "POST", "/cache/rebuild",
                                         "перестроение кэша", params={"mode": mode})
    await audit.record(session, actor, "storage_element.cache_rebuild", target_type="storage_element",
                       target_id=element.id, details={"mode": mode, **_member_outcomes(members)})
    return result


@router.post("/{element_id}/scrub", summary="Сверить данные элемента с attr.json (sha256)")
async def scrub(element_id: str, actor: AdminActor, session: SessionDep, request: Request) -> Any:
    element = await _get(session, element_id)
    result, members = await _maintenance(_registry(request), element, "POST", "/scrub", "scrub")
    reports = [r["result"] for r in members if r["ok"]] if members is not None else [result]
    corrupted = [len(r.get("corrupted", [])) for r in reports if isinstance(r, dict)]
    await audit.record(session, actor, "storage_element.scrub", target_type="storage_element", target_id=element.id,
                       details={"corrupted": sum(corrupted) if corrupted else None, **_member_outcomes(members)})
    return result
