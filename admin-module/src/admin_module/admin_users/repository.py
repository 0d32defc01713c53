"""SQL пользователей admin-ui и refresh-токенов."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import AdminUser, RefreshToken
from ..pagination import like_pattern


async def get(session: AsyncSession, user_id: str) -> AdminUser | None:
    return await session.get(AdminUser, user_id)


async def get_for_update(session: AsyncSession, user_id: str) -> AdminUser | None:
    q = select(AdminUser).where(AdminUser.id == user_id).with_for_update()
    return (await session.execute(q)).scalar_one_or_none()


async def by_username(session: AsyncSession, username: str, *, for_update: bool = False) -> AdminUser | None:
    q = select(AdminUser).where(func.lower(AdminUser.username) == username.lower())
    if for_update:
        q = q.with_for_update()
    return (await session.execute(q)).scalar_one_or_none()


async def count_admins(session: AsyncSession) -> int:
    q = select(func.count()).select_from(AdminUser).where(AdminUser.role == "ADMIN", AdminUser.is_active.is_(True))
    return int((await session.execute(q)).scalar_one())


async def page(
    session: AsyncSession, *, limit: int, offset: int, role: str | None, is_active: bool | None, search: str | None,
) -> tuple[Sequence[AdminUser], int]:
    q = select(AdminUser)
    if role:
        q = q.where(AdminUser.role == role)
    if is_active is not None:
        q = q.where(AdminUser.is_active.is_(is_active))
    if search:
        q = q.where(AdminUser.username.ilike(like_pattern(search)))
    total = int((await session.execute(select(func.count()).select_from(q.subquery()))).scalar_one())
    rows = (await session.execute(q.order_by(AdminUser.created_at).limit(limit).offset(offset))).scalars().all()
    return rows, total


def add(session: AsyncSession, obj: AdminUser | RefreshToken) -> None:
    session.add(obj)


async def delete(session: AsyncSession, user: AdminUser) -> None:
    await session.delete(user)


async def refresh_by_hash(session: AsyncSession, token_hash: str) -> RefreshToken | None:
    q = select(RefreshToken).where(RefreshToken.token_hash == token_hash).with_for_update()
    return (await session.execute(q)).scalar_one_or_none()


async def revoke_all_refresh(session: AsyncSession, user_id: str, now: datetime) -> None:
    q = (update(RefreshToken).where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
         .values(revoked_at=now))
    await session.execute(q)
