"""Общие зависимости FastAPI: сессия на запрос, роли, контекст аудита."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from artstore_common import (
    CurrentPrincipal,
    EventActor,
    EventPublisher,
    Principal,
    ProblemError,
    Role,
    require_roles,
    session_scope,
)

from .settings import Settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    # Единственное место коммита/отката запроса: сервисы и репозитории сами не коммитят.
    async with session_scope(request.app.state.sessionmaker) as session:
        yield session


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_maker(request: Request) -> async_sessionmaker[AsyncSession]:
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    return maker


# scope="function": коммит до отправки ответа — клиент не получит 201 за несохранённое изменение,
# а фоновые задачи ответа (публикация снимка) видят уже закоммиченные данные.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


def get_publisher(request: Request) -> EventPublisher:
    publisher: EventPublisher = request.app.state.publisher
    return publisher


# события admin (аккаунт удалён, приостановлен) — с executor=session: строка outbox коммитится с изменением
PublisherDep = Annotated[EventPublisher, Depends(get_publisher)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
MakerDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_maker)]

# Claim токена пользователя, чей пароль истёк или сброшен администратором (выпускает admin_users.service).
PWD_CHANGE_CLAIM = "pwd_change_required"  # noqa: S105 — имя claim, не секрет


async def _full_rights(principal: CurrentPrincipal) -> Principal:
    # must_change_password в ответе входа — только подсказка UI; обойти диалог смены пароля можно, просто
    # не показывая его, поэтому сервер сам не пускает такой токен никуда, кроме самообслуживания.
    if principal.claims.get(PWD_CHANGE_CLAIM):
        raise ProblemError(403, "password_change_required",
                           "срок действия пароля истёк или его сбросил администратор: сначала смените пароль "
                           "(POST /api/v1/admin-auth/change-password) и войдите заново")
    return principal


FullPrincipal = Annotated[Principal, Depends(_full_rights)]


def _roles(*roles: Role) -> Any:
    by_role = require_roles(*roles)

    # by_role — значением по умолчанию: аннотации здесь строки (from __future__), локальное имя FastAPI не найдёт
    async def dependency(_: FullPrincipal, principal: Principal = by_role) -> Principal:
        return principal

    return Depends(dependency)


# Политика ролей: ADMIN — всё; AUDITOR — чтение и аудит; USER/READONLY — только своё (/admin-auth/*).
# Все зависимости, кроме SelfServicePrincipal, отвергают токен с PWD_CHANGE_CLAIM.
AdminPrincipal = Annotated[Principal, _roles(Role.ADMIN)]
ReaderPrincipal = Annotated[Principal, _roles(Role.ADMIN, Role.AUDITOR)]
AnyPrincipal = FullPrincipal
# Только /admin-auth/me и /admin-auth/change-password: их должен видеть и пользователь, обязанный сменить пароль.
SelfServicePrincipal = CurrentPrincipal


@dataclass(frozen=True, slots=True)
class Actor:
    """Кто и откуда: для записей аудита."""

    type: str
    id: str | None
    name: str | None
    ip: str | None

    @classmethod
    def of(cls, principal: Principal | None, request: Request) -> Actor:
        ip = request.client.host if request.client else None
        if principal is None:
            return cls("anonymous", None, None, ip)
        kind = str(principal.claims.get("kind") or "service_account")
        return cls(kind, principal.subject, principal.username, ip)

    @classmethod
    def system(cls, name: str = "admin-module") -> Actor:
        return cls("system", None, name, None)

    def event(self) -> EventActor:
        """Тот же человек или аккаунт — действующим лицом события потока."""
        return EventActor(self.type, self.id, self.name)


def _admin_actor(principal: AdminPrincipal, request: Request) -> Actor:
    return Actor.of(principal, request)


def _reader_actor(principal: ReaderPrincipal, request: Request) -> Actor:
    return Actor.of(principal, request)


# Действие ADMIN с готовым контекстом аудита (роль проверена той же зависимостью).
AdminActor = Annotated[Actor, Depends(_admin_actor)]
ReaderActor = Annotated[Actor, Depends(_reader_actor)]
