"""Первый запуск: схема, ключи подписи, системный сервисный аккаунт и первый администратор из INITIAL_*.

Всё под advisory-lock: две реплики, стартующие одновременно, не создадут дубликатов.
"""

from __future__ import annotations

import logging
import secrets
import sys

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from artstore_common import Role, advisory_lock, session_scope

from . import migrate
from .accounts import repository as accounts_repo
from .accounts import service as accounts
from .accounts.schemas import AccountCreate
from .admin_users import service as users
from .admin_users.schemas import AdminUserCreate
from .audit import service as audit
from .db import AdminUser
from .deps import Actor
from .keys.service import KeyManager
from .settings import Settings

_log = logging.getLogger("admin_module.bootstrap")


def _announce(lines: list[str]) -> None:
    # Секреты — только в stdout и только один раз (при создании); в журнал — лишь факт.
    banner = "=" * 72
    print("\n".join([banner, *lines, "Сохраните их сейчас: повторно они не выводятся.", banner]), file=sys.stdout,
          flush=True)


async def _seed_account(session: AsyncSession, settings: Settings) -> list[str]:
    if not settings.initial_account_enabled:
        return []
    if await accounts_repo.by_name(session, settings.initial_account_name) is not None:
        return []
    if await accounts_repo.any_system(session) is not None:
        return []
    # model_construct: значения оператора из INITIAL_* принимаем как есть (их формат — его решение)
    data = AccountCreate.model_construct(
        name=settings.initial_account_name, role=Role(settings.initial_account_role.upper()),
        description=settings.initial_account_description, client_id=settings.initial_client_id or None,
        rate_limit=10_000)
    account, secret = await accounts.create(session, settings, data, is_system=True,
                                            secret=settings.initial_client_secret or None)
    # секрет системного аккаунта — забота оператора (INITIAL_CLIENT_SECRET); автоматически он не истекает,
    # иначе через 90 дней флот остался бы без управления
    account.secret_expires_at = None
    await audit.record(session, Actor.system(), "service_account.create", target_type="service_account",
                       target_id=account.id, details={"name": account.name, "initial": True})
    _log.warning("создан системный сервисный аккаунт %s (client_id %s)", account.name, account.client_id)
    if settings.initial_client_secret:
        return []
    return [f"Системный сервисный аккаунт: {account.name}", f"  client_id:     {account.client_id}",
            f"  client_secret: {secret}"]


async def _seed_admin(session: AsyncSession, settings: Settings) -> list[str]:
    if (await session.execute(select(AdminUser.id).limit(1))).first() is not None:
        return []
    password = settings.initial_admin_password or secrets.token_urlsafe(18)
    generated = not settings.initial_admin_password
    if not generated and len(password) < settings.password_min_length:
        _log.warning("INITIAL_ADMIN_PASSWORD короче %d символов: смените пароль после первого входа",
                     settings.password_min_length)
    user = await users.create_user(
        session, settings, AdminUserCreate(username=settings.initial_admin_username, password=password,
                                           role=Role.ADMIN),
        is_system=True, force_change=generated or len(password) < settings.password_min_length,
        enforce_policy=False)
    await audit.record(session, Actor.system(), "admin_user.create", target_type="admin_user", target_id=user.id,
                       details={"username": user.username, "initial": True})
    _log.warning("создан первый администратор admin-ui: %s", user.username)
    if not generated:
        return []
    return [f"Администратор admin-ui: {user.username}", f"  пароль: {password}"]


async def run(engine: AsyncEngine, maker: async_sessionmaker[AsyncSession], settings: Settings,
              keys: KeyManager) -> None:
    async with engine.connect() as conn:
        await migrate.upgrade(conn)
    async with advisory_lock(engine, migrate.BOOTSTRAP_LOCK, wait=True):
        async with session_scope(maker) as session:
            await keys.ensure_keys(session)
            lines = await _seed_account(session, settings)
            lines += await _seed_admin(session, settings)
        if lines:
            _announce(["ArtStore admin-module: начальные учётные данные", *lines])
