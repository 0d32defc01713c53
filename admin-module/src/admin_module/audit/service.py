"""Журнал аудита с цепочкой хэшей: ``hash = sha256(prev_hash + канонический JSON строки)``."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from artstore_common import session_scope

from ..db import AuditEntry
from ..deps import Actor
from . import repository


def canonical(entry: AuditEntry) -> str:
    body = {
        "id": entry.id,
        "occurred_at": entry.occurred_at.astimezone(UTC).isoformat(),
        "actor_type": entry.actor_type,
        "actor_id": entry.actor_id,
        "actor_name": entry.actor_name,
        "ip": entry.ip,
        "action": entry.action,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "outcome": entry.outcome,
        "details": entry.details,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def compute_hash(prev_hash: str, entry: AuditEntry) -> str:
    return hashlib.sha256((prev_hash + canonical(entry)).encode()).hexdigest()


async def record(
    session: AsyncSession, actor: Actor, action: str, *, target_type: str | None = None,
    target_id: str | None = None, outcome: str = "success", details: dict[str, Any] | None = None,
) -> None:
    """Запись в транзакции запроса: откатится вместе с действием, которое она описывает."""
    await repository.lock_chain(session)
    prev = await repository.last_hash(session)
    entry = AuditEntry(
        id=await repository.next_id(session),
        # микросекунды — столько хранит timestamptz, значит хэш сходится после чтения из БД
        occurred_at=datetime.now(UTC),
        actor_type=actor.type, actor_id=actor.id, actor_name=actor.name, ip=actor.ip,
        action=action, target_type=target_type, target_id=target_id, outcome=outcome,
        details=json.loads(json.dumps(details or {}, default=str)),
        prev_hash=prev,
    )
    entry.hash = compute_hash(prev, entry)
    repository.add(session, entry)


async def record_detached(
    maker: async_sessionmaker[AsyncSession], actor: Actor, action: str, **kwargs: Any,
) -> None:
    """Запись в своей транзакции: отказ (неверный пароль и т. п.) откатывает запрос, но не след в аудите."""
    async with session_scope(maker) as session:
        await record(session, actor, action, **kwargs)


async def verify(session: AsyncSession) -> tuple[bool, int, int | None]:
    prev = repository.GENESIS
    checked = 0
    async for entry in repository.iterate(session):
        checked += 1
        if entry.prev_hash != prev or compute_hash(prev, entry) != entry.hash:
            return False, checked, entry.id
        prev = entry.hash
    return True, checked, None
