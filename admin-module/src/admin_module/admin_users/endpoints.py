"""/api/v1/admin-auth (вход и самообслуживание) и /api/v1/admin-users (управление, ADMIN)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from artstore_common import Role

from ..accounts import service as accounts
from ..audit import service as audit
from ..deps import (
    Actor,
    AdminActor,
    AnyPrincipal,
    PublisherDep,
    ReaderPrincipal,
    SelfServicePrincipal,
    SessionDep,
    SettingsDep,
)
from ..pagination import Page, PageDep
from . import repository, service
from .schemas import (
    AdminUserCreate,
    AdminUserOut,
    AdminUserUpdate,
    ChangePasswordRequest,
    LoginRequest,
    LoginResponse,
    MeOut,
    RefreshRequest,
    TotpEnrollOut,
    TotpVerifyRequest,
)

auth_router = APIRouter(prefix="/admin-auth", tags=["admin-auth"])
router = APIRouter(prefix="/admin-users", tags=["admin-users"])

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _logins(request: Request) -> service.LoginService:
    logins: service.LoginService = request.app.state.logins
    return logins


@auth_router.post("/login", response_model=LoginResponse, summary="Вход по паролю (+ totp_code, если включён)")
async def login(body: LoginRequest, request: Request, response: Response) -> LoginResponse:
    result = await _logins(request).login(body, _ip(request))
    response.headers.update(_NO_STORE)
    return result


@auth_router.post("/refresh", response_model=LoginResponse, summary="Новая пара токенов (refresh одноразовый)")
async def refresh(body: RefreshRequest, request: Request, response: Response) -> LoginResponse:
    result = await _logins(request).refresh(body.refresh_token, _ip(request))
    response.headers.update(_NO_STORE)
    return result


@auth_router.get("/me", response_model=MeOut, summary="Кто я")
async def me(principal: SelfServicePrincipal, session: SessionDep, settings: SettingsDep) -> MeOut:
    return await service.me(session, settings, principal)


@auth_router.post("/change-password", response_model=MeOut, summary="Сменить свой пароль")
async def change_password(
    body: ChangePasswordRequest, principal: SelfServicePrincipal, session: SessionDep, settings: SettingsDep,
    request: Request,
) -> MeOut:
    user = await service.change_password(session, settings, principal, body.current_password, body.new_password)
    await audit.record(session, Actor.of(principal, request), "admin_user.change_password",
                       target_type="admin_user", target_id=user.id)
    return await service.me(session, settings, principal)


@auth_router.post("/totp/enroll", response_model=TotpEnrollOut, summary="Начать подключение TOTP")
async def totp_enroll(
    principal: AnyPrincipal, session: SessionDep, request: Request, response: Response,
) -> TotpEnrollOut:
    secret, uri = await service.totp_enroll(session, request.app.state.box, principal)
    response.headers.update(_NO_STORE)
    return TotpEnrollOut(secret=secret, otpauth_uri=uri)


@auth_router.post("/totp/verify", response_model=MeOut, summary="Подтвердить код и включить TOTP")
async def totp_verify(
    body: TotpVerifyRequest, principal: AnyPrincipal, session: SessionDep, settings: SettingsDep, request: Request,
) -> MeOut:
    user = await service.totp_verify(session, request.app.state.box, principal, body.code)
    await audit.record(session, Actor.of(principal, request), "admin_user.totp_enable",
                       target_type="admin_user", target_id=user.id)
    return await service.me(session, settings, principal)


# --- /admin-users -----------------------------------------------------------------------------------
@router.get("", response_model=Page[AdminUserOut], summary="Пользователи admin-ui")
@router.get("/", response_model=Page[AdminUserOut], include_in_schema=False)
async def list_users(
    _: ReaderPrincipal, session: SessionDep, settings: SettingsDep, page: PageDep,
    role: Role | None = None, is_active: bool | None = None,
    search: Annotated[str | None, Query(max_length=100)] = None,
) -> Page[AdminUserOut]:
    rows, total = await repository.page(session, limit=page.limit, offset=page.offset,
                                        role=role.value if role else None, is_active=is_active, search=search)
    return Page(items=[service.to_out(u, settings) for u in rows], total=total, limit=page.limit, offset=page.offset)


@router.post("", response_model=AdminUserOut, status_code=201, summary="Создать пользователя")
@router.post("/", response_model=AdminUserOut, status_code=201, include_in_schema=False)
async def create_user(body: AdminUserCreate, actor: AdminActor, session: SessionDep,
                      settings: SettingsDep) -> AdminUserOut:
    user = await service.create_user(session, settings, body)
    await audit.record(session, actor, "admin_user.create", target_type="admin_user", target_id=user.id,
                       details={"username": user.username, "role": user.role})
    return service.to_out(user, settings)


@router.get("/{user_id}", response_model=AdminUserOut, summary="Пользователь")
async def get_user(user_id: str, _: ReaderPrincipal, session: SessionDep, settings: SettingsDep) -> AdminUserOut:
    return service.to_out(await service.get_or_404(session, user_id), settings)


@router.patch("/{user_id}", response_model=AdminUserOut, summary="Изменить: роль, активность, сброс пароля/TOTP")
async def update_user(user_id: str, body: AdminUserUpdate, actor: AdminActor, session: SessionDep,
                      settings: SettingsDep, publisher: PublisherDep) -> AdminUserOut:
    user = await service.get_or_404(session, user_id)
    changes = await service.update_user(session, settings, user, body, actor.id)
    await audit.record(session, actor, "admin_user.update", target_type="admin_user", target_id=user.id,
                       details={"changes": changes})
    active = changes.get("is_active")
    if isinstance(active, dict) and active.get("to") is False:
        await accounts.announce(publisher, "account_suspended", account_id=user.id, name=user.username,
                                kind="admin_user", actor=actor, session=session)
    return service.to_out(user, settings)


@router.delete("/{user_id}", status_code=204, summary="Удалить пользователя")
async def delete_user(user_id: str, actor: AdminActor, session: SessionDep, publisher: PublisherDep) -> Response:
    user = await service.get_or_404(session, user_id)
    await service.delete_user(session, user, actor.id)
    await audit.record(session, actor, "admin_user.delete", target_type="admin_user", target_id=user_id,
                       details={"username": user.username})
    await accounts.announce(publisher, "account_deleted", account_id=user_id, name=user.username,
                            kind="admin_user", actor=actor, session=session)
    return Response(status_code=204)
