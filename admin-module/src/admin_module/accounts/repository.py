"""SQL сервисных аккаунтов."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import ServiceAccount
from ..pagination import like_pattern


async def get(session: AsyncSession, account_id: str) -> ServiceAccount | None:
    return await session.get(ServiceAccount, account_id)


async def by_client_id(session: AsyncSession, client_id: str) -> ServiceAccount | None:
    q = select(ServiceAccount).where(ServiceAccount.client_id == client_id)
    return (await session.execute(q)).scalar_one_or_none()


async def by_name(session: AsyncSession, name: str) -> ServiceAccount | None:
    return (await session.execute(select(ServiceAccount).where(ServiceAccount.name == name))).scalar_one_or_none()


async def any_system(session: AsyncSession) -> ServiceAccount | None:
    q = select(ServiceAccount).where(ServiceAccount.is_system.is_(True)).limit(1)
    return (await session.execute(q)).scalar_one_or_none()


async def page(
    session: AsyncSession, *, limit: int, offset: int, role: str | None, status: str | None, search: str | None,
) -> tuple[Sequence[ServiceAccount], int]:
    q = select(ServiceAccount)
    if role:
        q = q.where(ServiceAccount.role == role)
    if status:
        q = q.where(ServiceAccount.status == status)
    if search:
        pattern = like_pattern(search)
        q = q.where(or_(ServiceAccount.name.ilike(pattern), ServiceAccount.client_id.ilike(pattern),
                        ServiceAccount.description.ilike(pattern)))
    total = int((await session.execute(select(func.count()).select_from(q.subquery()))).scalar_one())
    rows = (await session.execute(q.order_by(ServiceAccount.created_at).limit(limit).offset(offset))).scalars().all()
    return rows, total


def add(session: AsyncSession, account: ServiceAccount) -> None:
    session.add(account)


async def delete(session: AsyncSession, account: ServiceAccount) -> None:
    await session.delete(account)
