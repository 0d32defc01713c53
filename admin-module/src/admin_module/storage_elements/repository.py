"""SQL реестра элементов хранения."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import StorageElement


async def get(session: AsyncSession, element_id: str) -> StorageElement | None:
    return await session.get(StorageElement, element_id)


async def all_elements(session: AsyncSession) -> Sequence[StorageElement]:
    q = select(StorageElement).order_by(StorageElement.priority.desc(), StorageElement.id)
    return (await session.execute(q)).scalars().all()


async def page(session: AsyncSession, *, limit: int, offset: int, mode: str | None,
               status: str | None) -> tuple[Sequence[StorageElement], int]:
    q = select(StorageElement)
    if mode:
        q = q.where(StorageElement.mode == mode)
    if status:
        q = q.where(StorageElement.status == status)
    total = int((await session.execute(select(func.count()).select_from(q.subquery()))).scalar_one())
    q = q.order_by(StorageElement.priority.desc(), StorageElement.id).limit(limit).offset(offset)
    return (await session.execute(q)).scalars().all(), total


def add(session: AsyncSession, element: StorageElement) -> None:
    session.add(element)


async def delete(session: AsyncSession, element: StorageElement) -> None:
    await session.delete(element)
