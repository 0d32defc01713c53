"""Общие зависимости FastAPI: сессия на запрос, роли, контекст аудита."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from artstore_common import CurrentPrincipal, Principal, Role, require_roles, session_scope

from .settings import Settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    # Единственное место коммита/отката запроса: сервисы и репозитории сами не коммитят.
    async with session_scope(request.app.state.sessionmaker) as session:
        yield session


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_maker(request: Request) -> async_sessionmaker[AsyncSession]:
    return request.app.state.sessionmaker


# scope="function": коммит до отправки ответа — клиент не получит 201 за несохранённое изменение,
# а фоновые задачи ответа (публикация снимка) видят уже закоммиченные данные.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
MakerDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_maker)]

# Политика ролей: ADMIN — всё; AUDITOR — чтение и аудит; USER/READONLY — только своё (/admin-auth/*).
AdminPrincipal = Annotated[Principal, require_roles(Role.ADMIN)]
ReaderPrincipal = Annotated[Principal, require_roles(Role.ADMIN, Role.AUDITOR)]
AnyPrincipal = CurrentPrincipal


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


def _admin_actor(principal: AdminPrincipal, request: Request) -> Actor:
    return Actor.of(principal, request)


def _reader_actor(principal: ReaderPrincipal, request: Request) -> Actor:
    return Actor.of(principal, request)


# Действие ADMIN с готовым контекстом аудита (роль проверена той же зависимостью).
AdminActor = Annotated[Actor, Depends(_admin_actor)]
ReaderActor = Annotated[Actor, Depends(_reader_actor)]
