"""/api/v1/service-accounts: CRUD, ротация секрета (ADMIN; чтение — ещё AUDITOR)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from artstore_common import Role

from ..audit import service as audit
from ..deps import AdminActor, PublisherDep, ReaderPrincipal, SessionDep, SettingsDep
from ..pagination import Page, PageDep
from . import repository, service
from .schemas import AccountCreate, AccountOut, AccountStatus, AccountUpdate, AccountWithSecret

router = APIRouter(prefix="/service-accounts", tags=["service-accounts"])


@router.get("", response_model=Page[AccountOut], summary="Список сервисных аккаунтов")
@router.get("/", response_model=Page[AccountOut], include_in_schema=False)
async def list_accounts(
    _: ReaderPrincipal, session: SessionDep, settings: SettingsDep, page: PageDep,
    role: Role | None = None, status: AccountStatus | None = None,
    search: Annotated[str | None, Query(max_length=200, description="Подстрока имени, client_id, описания")] = None,
) -> Page[AccountOut]:
    rows, total = await repository.page(session, limit=page.limit, offset=page.offset,
                                        role=role.value if role else None, status=status, search=search)
    return Page(items=[service.to_out(a, settings) for a in rows], total=total, limit=page.limit,
                offset=page.offset)


@router.post("", response_model=AccountWithSecret, status_code=201, summary="Создать аккаунт (секрет — один раз)")
@router.post("/", response_model=AccountWithSecret, status_code=201, include_in_schema=False)
async def create_account(
    body: AccountCreate, actor: AdminActor, session: SessionDep, settings: SettingsDep,
) -> AccountWithSecret:
    account, secret = await service.create(session, settings, body)
    await audit.record(session, actor, "service_account.create", target_type="service_account",
                       target_id=account.id, details={"name": account.name, "role": account.role,
                                                      "client_id": account.client_id})
    return AccountWithSecret(**service.to_out(account, settings).model_dump(), client_secret=secret)


@router.get("/{account_id}", response_model=AccountOut, summary="Сервисный аккаунт")
async def get_account(account_id: str, _: ReaderPrincipal, session: SessionDep, settings: SettingsDep) -> AccountOut:
    return service.to_out(await service.get_or_404(session, account_id), settings)


@router.patch("/{account_id}", response_model=AccountOut, summary="Изменить аккаунт")
async def update_account(
    account_id: str, body: AccountUpdate, actor: AdminActor, session: SessionDep, settings: SettingsDep,
    publisher: PublisherDep,
) -> AccountOut:
    account = await service.get_or_404(session, account_id)
    changes = await service.update(session, account, body)
    await audit.record(session, actor, "service_account.update", target_type="service_account",
                       target_id=account.id, details={"changes": changes})
    status = changes.get("status")
    if isinstance(status, dict) and status.get("to") == "suspended":
        await service.announce(publisher, "account_suspended", account_id=account.id, name=account.name,
                               kind="service_account", actor=actor, session=session)
    return service.to_out(account, settings)


@router.delete("/{account_id}", status_code=204, summary="Удалить аккаунт")
async def delete_account(account_id: str, actor: AdminActor, session: SessionDep,
                         publisher: PublisherDep) -> Response:
    account = await service.get_or_404(session, account_id)
    await service.delete(session, account)
    await audit.record(session, actor, "service_account.delete", target_type="service_account",
                       target_id=account_id, details={"name": account.name})
    await service.announce(publisher, "account_deleted", account_id=account_id, name=account.name,
                           kind="service_account", actor=actor, session=session)
    return Response(status_code=204)


@router.post("/{account_id}/rotate-secret", response_model=AccountWithSecret,
             summary="Новый секрет (старый перестаёт работать сразу)")
async def rotate_secret(
    account_id: str, actor: AdminActor, session: SessionDep, settings: SettingsDep,
) -> AccountWithSecret:
    account = await service.get_or_404(session, account_id)
    secret = await service.rotate_secret(session, settings, account)
    await audit.record(session, actor, "service_account.rotate_secret", target_type="service_account",
                       target_id=account.id)
    return AccountWithSecret(**service.to_out(account, settings).model_dump(), client_secret=secret)
