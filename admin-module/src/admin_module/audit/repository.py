"""SQL журнала аудита."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from sqlalchemy import Select, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from artstore_common import xact_lock

from ..db import AuditEntry

AUDIT_LOCK = "admin-module:audit-chain"
GENESIS = "0" * 64
# target_type записей о файловых операциях (из потока событий): по нему фильтр ``file_id``
FILE_TARGET = "file"


async def lock_chain(session: AsyncSession) -> None:
    # Транзакционный замок: цепочка линейна при любом числе реплик, освобождается коммитом.
    await xact_lock(session, AUDIT_LOCK)


async def last_hash(session: AsyncSession) -> str:
    value = (await session.execute(select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1))).scalar()
    return value or GENESIS


async def next_ids(session: AsyncSession, n: int) -> list[int]:
    q = text("SELECT nextval('audit_log_id_seq') FROM generate_series(1, :n)")
    return sorted(int(v) for v in (await session.execute(q, {"n": n})).scalars().all())


async def existing_event_ids(session: AsyncSession, event_ids: list[str]) -> set[str]:
    q = select(AuditEntry.event_id).where(AuditEntry.event_id.in_(event_ids))
    return {str(v) for v in (await session.execute(q)).scalars().all()}


def add(session: AsyncSession, entry: AuditEntry) -> None:
    session.add(entry)


def _filtered(
    *, action: str | None, actor: str | None, target_type: str | None, target_id: str | None,
    outcome: str | None, since: datetime | None, until: datetime | None, file_id: str | None = None,
) -> Select[AuditEntry]:
    q = select(AuditEntry)
    if file_id:
        q = q.where(AuditEntry.target_type == FILE_TARGET, AuditEntry.target_id == file_id)
    if action:
        q = q.where(AuditEntry.action.like(action.replace("*", "%")))
    if actor:
        q = q.where((AuditEntry.actor_id == actor) | (AuditEntry.actor_name == actor))
    if target_type:
        q = q.where(AuditEntry.target_type == target_type)
    if target_id:
        q = q.where(AuditEntry.target_id == target_id)
    if outcome:
        q = q.where(AuditEntry.outcome == outcome)
    if since:
        q = q.where(AuditEntry.occurred_at >= since)
    if until:
        q = q.where(AuditEntry.occurred_at < until)
    return q


async def page(
    session: AsyncSession, *, limit: int, offset: int, **filters: object,
) -> tuple[Sequence[AuditEntry], int]:
    q = _filtered(**filters)  # type: ignore[arg-type]
    total = int((await session.execute(select(func.count()).select_from(q.subquery()))).scalar_one())
    rows = (await session.execute(q.order_by(AuditEntry.id.desc()).limit(limit).offset(offset))).scalars().all()
    return rows, total


async def iterate(session: AsyncSession, batch: int = 1000) -> AsyncIterator[AuditEntry]:
    last = 0
    while True:
        rows = (
            await session.execute(select(AuditEntry).where(AuditEntry.id > last).order_by(AuditEntry.id).limit(batch))
        ).scalars().all()
        if not rows:
            return
        for row in rows:
            yield row
        last = rows[-1].id
        session.expunge_all()
