"""SQL ключей подписи JWT."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import JwtKey


async def all_keys(session: AsyncSession) -> Sequence[JwtKey]:
    return (await session.execute(select(JwtKey).order_by(JwtKey.created_at))).scalars().all()


async def by_status(session: AsyncSession, status: str) -> Sequence[JwtKey]:
    q = select(JwtKey).where(JwtKey.status == status).order_by(JwtKey.created_at.desc())
    return (await session.execute(q)).scalars().all()


async def active(session: AsyncSession) -> JwtKey | None:
    rows = await by_status(session, "active")
    return rows[0] if rows else None


def add(session: AsyncSession, key: JwtKey) -> None:
    session.add(key)


async def delete_expired(session: AsyncSession, now: datetime) -> list[str]:
    q = delete(JwtKey).where(JwtKey.status == "retired", JwtKey.remove_after < now).returning(JwtKey.kid)
    return list((await session.execute(q)).scalars().all())
