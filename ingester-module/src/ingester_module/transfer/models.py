"""Журнал саг переноса в PostgreSQL (таблица ``ingester_transactions``): переживает перезапуск ingester."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from artstore_common import (
    SAGA_ACTIVE_STATES,
    SAGA_TERMINAL_STATES,
    EventActor,
    SagaState,
    SagaStep,
    advisory_lock,
    outbox_table,
    session_scope,
    upgrade_schema,
)

metadata = MetaData()
transactions = Table(
    "ingester_transactions", metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(16), nullable=False),  # finalize | transfer
    Column("file_id", String(64), nullable=False, index=True),
    Column("source", String(64), nullable=False),
    Column("target", String(64), nullable=False),
    # pending → running → done | compensated | failed
    Column("state", String(16), nullable=False, index=True),
    # copy → verify → switch → delete_source → done (или compensate)
    Column("step", String(24), nullable=False),
    Column("error", Text),
    Column("attempts", Integer, nullable=False, default=0),
    Column("checksum", String(64)),
    Column("requested_by", String(128)),
    Column("requested_by_type", String(32)),  # EventActor.type: user | service_account
    Column("requested_by_name", String(200)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
# события ingester ждут здесь, пока Redis недоступен (artstore_common.EventOutbox)
event_outbox = outbox_table(metadata, "ingester_event_outbox")
ACTIVE = SAGA_ACTIVE_STATES
TERMINAL = SAGA_TERMINAL_STATES


def now() -> datetime:
    return datetime.now(UTC)


def as_dict(row: Any) -> dict[str, Any]:
    data = dict(row._mapping)
    for key in ("created_at", "updated_at"):
        if data.get(key) is not None:
            data[key] = data[key].isoformat()
    return data


MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


async def create_schema(engine: AsyncEngine) -> None:
    """Схема — миграциями Alembic (своя таблица версий: база общая с admin); реплики ждут одна другую."""
    await upgrade_schema(engine, MIGRATIONS_DIR, lock="ingester-schema", version_table="ingester_alembic_version")


class TransactionRepo:
    def __init__(self, engine: AsyncEngine, maker: async_sessionmaker[AsyncSession]) -> None:
        self.engine = engine
        self.maker = maker

    async def create(self, kind: str, file_id: str, source: str, target: str, checksum: str | None,
                     requested_by: EventActor) -> dict[str, Any]:
        ts = now()
        row = {"id": str(uuid.uuid4()), "kind": kind, "file_id": file_id, "source": source, "target": target,
               "state": SagaState.PENDING, "step": SagaStep.COPY, "error": None, "attempts": 0, "checksum": checksum,
               "requested_by": requested_by.id, "requested_by_type": requested_by.type,
               "requested_by_name": requested_by.name, "created_at": ts, "updated_at": ts}
        async with session_scope(self.maker) as s:
            await s.execute(transactions.insert().values(**row))
        return {**row, "created_at": ts.isoformat(), "updated_at": ts.isoformat()}

    async def get(self, tx_id: str) -> dict[str, Any] | None:
        async with self.maker() as s:
            row = (await s.execute(select(transactions).where(transactions.c.id == tx_id))).first()
        return as_dict(row) if row else None

    async def active_for(self, file_id: str) -> dict[str, Any] | None:
        async with self.maker() as s:
            row = (await s.execute(select(transactions).where(
                transactions.c.file_id == file_id, transactions.c.state.in_(ACTIVE)))).first()
        return as_dict(row) if row else None

    async def update(self, tx_id: str, **values: Any) -> None:
        async with session_scope(self.maker) as s:
            await s.execute(update(transactions).where(transactions.c.id == tx_id).values(updated_at=now(), **values))

    async def unfinished(self) -> list[str]:
        async with self.maker() as s:
            rows = await s.execute(select(transactions.c.id).where(transactions.c.state.in_(ACTIVE)))
        return [r[0] for r in rows]

    async def list(self, *, state: str | None, file_id: str | None, requested_by: str | None, limit: int,
                   offset: int) -> tuple[list[dict[str, Any]], int]:
        conds = []
        if state:
            conds.append(transactions.c.state == state)
        if file_id:
            conds.append(transactions.c.file_id == file_id)
        if requested_by:
            conds.append(transactions.c.requested_by == requested_by)
        async with self.maker() as s:
            total = (await s.execute(select(func.count()).select_from(transactions).where(*conds))).scalar_one()
            rows = await s.execute(select(transactions).where(*conds)
                                   .order_by(transactions.c.created_at.desc()).limit(limit).offset(offset))
        return [as_dict(r) for r in rows], int(total)

    async def counts(self) -> dict[str, int]:
        async with self.maker() as s:
            rows = await s.execute(select(transactions.c.state, func.count()).group_by(transactions.c.state))
        return {state: int(n) for state, n in rows}

    def lock(self, tx_id: str) -> Any:
        return advisory_lock(self.engine, f"ingester-saga:{tx_id}")


def requester(tx: dict[str, Any]) -> EventActor:
    """Кто запросил перенос — для actor события; строки до миграции 0002 знают только id."""
    return EventActor(tx.get("requested_by_type") or "service_account", tx.get("requested_by"),
                      tx.get("requested_by_name"))
