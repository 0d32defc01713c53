"""Сервисные аккаунты: создание, изменение, ротация секрета, защита системного аккаунта."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from artstore_common import EventPublisher, ProblemError, Role

from ..db import ServiceAccount
from ..deps import Actor
from ..security import hash_secret, new_secret
from ..settings import Settings
from . import repository
from .schemas import AccountCreate, AccountOut, AccountUpdate


def to_out(account: ServiceAccount, settings: Settings) -> AccountOut:
    days = None
    soon = False
    if account.secret_expires_at is not None:
        days = (account.secret_expires_at - datetime.now(UTC)).days
        soon = days < settings.secret_warning_days
    return AccountOut(
        id=account.id, name=account.name, client_id=account.client_id, role=Role(account.role),
        status=account.status,
        description=account.description, rate_limit=account.rate_limit, is_system=account.is_system,
        created_at=account.created_at, updated_at=account.updated_at, last_used_at=account.last_used_at,
        secret_rotated_at=account.secret_rotated_at, secret_expires_at=account.secret_expires_at,
        days_until_expiry=days, secret_expiring_soon=soon,
    )


async def get_or_404(session: AsyncSession, account_id: str) -> ServiceAccount:
    account = await repository.get(session, account_id)
    if account is None:
        raise ProblemError(404, "service_account_not_found", f"сервисный аккаунт {account_id} не найден")
    return account


async def _hash(secret: str, settings: Settings) -> str:
    # bcrypt держит процессор сотни миллисекунд — не в цикле событий
    return await asyncio.to_thread(hash_secret, secret, settings.bcrypt_rounds)


def _secret_expiry(now: datetime, settings: Settings) -> datetime | None:
    return now + timedelta(days=settings.secret_max_age_days) if settings.secret_max_age_days > 0 else None


async def create(
    session: AsyncSession, settings: Settings, data: AccountCreate, *, is_system: bool = False,
    secret: str | None = None,
) -> tuple[ServiceAccount, str]:
    if await repository.by_name(session, data.name) is not None:
        raise ProblemError(409, "service_account_exists", f"сервисный аккаунт с именем {data.name!r} уже есть")
    client_id = data.client_id or f"sa_{secrets.token_hex(8)}"
    if await repository.by_client_id(session, client_id) is not None:
        raise ProblemError(409, "client_id_exists", f"client_id {client_id!r} уже занят")
    secret = secret or new_secret()
    now = datetime.now(UTC)
    account = ServiceAccount(
        id=str(uuid.uuid4()), name=data.name, client_id=client_id, secret_hash=await _hash(secret, settings),
        role=data.role.value, status="active", description=data.description, rate_limit=data.rate_limit,
        is_system=is_system, secret_rotated_at=now, secret_expires_at=_secret_expiry(now, settings),
        created_at=now, updated_at=now,
    )
    repository.add(session, account)
    await session.flush()
    return account, secret


async def update(session: AsyncSession, account: ServiceAccount, data: AccountUpdate) -> dict[str, object]:
    changes = data.model_dump(exclude_unset=True)
    if account.is_system:
        if "role" in changes and changes["role"] is not None and Role(changes["role"]) != Role(account.role):
            raise ProblemError(409, "system_account_protected",
                               "роль системного аккаунта менять нельзя: на нём держится управление флотом")
        if changes.get("status") == "suspended":
            raise ProblemError(409, "system_account_protected", "системный аккаунт нельзя приостановить")
    if "name" in changes and changes["name"] != account.name:
        other = await repository.by_name(session, str(changes["name"]))
        if other is not None:
            raise ProblemError(409, "service_account_exists", f"имя {changes['name']!r} уже занято")
    applied: dict[str, object] = {}
    for field, value in changes.items():
        if value is None and field != "description":
            continue
        value = value.value if isinstance(value, Role) else value
        if getattr(account, field) != value:
            applied[field] = {"from": getattr(account, field), "to": value}
            setattr(account, field, value)
    account.updated_at = datetime.now(UTC)
    await session.flush()
    return applied


async def delete(session: AsyncSession, account: ServiceAccount) -> None:
    if account.is_system:
        raise ProblemError(409, "system_account_protected",
                           "системный аккаунт удалить нельзя; заведите другой аккаунт ADMIN, если он не нужен")
    await repository.delete(session, account)


async def announce(publisher: EventPublisher, event_type: str, *, account_id: str, name: str, kind: str,
                   actor: Actor, session: AsyncSession) -> None:
    """Событие об учётной записи (сервисный аккаунт или пользователь admin-ui — ``sub`` их токенов) в транзакции
    запроса: query по нему отзывает временные ссылки записи. Строка outbox коммитится вместе с изменением —
    откат запроса отменяет и событие, лежащий Redis его не теряет."""
    await publisher.emit(event_type, {"account_id": account_id, "owner_id": account_id, "name": name,
                                      "kind": kind}, actor=actor.event(), executor=session)


async def rotate_secret(session: AsyncSession, settings: Settings, account: ServiceAccount) -> str:
    """Новый секрет; старый перестаёт работать сразу (хэш заменён, кэш проверок сверяет хэш)."""
    secret = new_secret()
    now = datetime.now(UTC)
    account.secret_hash = await _hash(secret, settings)
    account.secret_rotated_at = now
    account.secret_expires_at = _secret_expiry(now, settings)
    account.updated_at = now
    await session.flush()
    return secret
