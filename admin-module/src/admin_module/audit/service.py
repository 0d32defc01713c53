"""Журнал аудита с цепочкой хэшей: ``hash = sha256(prev_hash + канонический JSON строки)``."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from artstore_common import session_scope, stop_task

from ..db import AuditEntry
from ..deps import Actor
from . import repository

_log = logging.getLogger("admin_module.audit")


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
    # id события — только у записей из потока событий; у прежних строк ключа нет, их хэши не меняются
    if entry.event_id is not None:
        body["event_id"] = entry.event_id
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def compute_hash(prev_hash: str, entry: AuditEntry) -> str:
    return hashlib.sha256((prev_hash + canonical(entry)).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class PendingEntry:
    actor: Actor
    action: str
    occurred_at: datetime
    target_type: str | None = None
    target_id: str | None = None
    outcome: str = "success"
    details: dict[str, Any] = field(default_factory=dict)
    event_id: str | None = None


async def record_many(session: AsyncSession, items: list[PendingEntry]) -> None:
    """Дописывает записи в цепочку: замок, последний хэш и id — один раз на пачку.

    Запись с ``event_id``, который уже есть в журнале (событие доставлено повторно), пропускается: проверка
    идёт под замком цепочки, поэтому две реплики не запишут одно событие дважды.
    """
    if not items:
        return
    await repository.lock_chain(session)
    event_ids = [i.event_id for i in items if i.event_id is not None]
    if event_ids:
        seen = await repository.existing_event_ids(session, event_ids)
        unique: list[PendingEntry] = []
        for item in items:
            if item.event_id is not None:
                if item.event_id in seen:
                    continue
                seen.add(item.event_id)
            unique.append(item)
        items = unique
        if not items:
            return
    prev = await repository.last_hash(session)
    ids = await repository.next_ids(session, len(items))
    for entry_id, item in zip(ids, items, strict=True):
        entry = AuditEntry(
            id=entry_id,
            # микросекунды — столько хранит timestamptz, значит хэш сходится после чтения из БД
            occurred_at=item.occurred_at,
            actor_type=item.actor.type, actor_id=item.actor.id, actor_name=item.actor.name, ip=item.actor.ip,
            action=item.action, target_type=item.target_type, target_id=item.target_id, outcome=item.outcome,
            details=json.loads(json.dumps(item.details, default=str)),
            prev_hash=prev, event_id=item.event_id,
        )
        entry.hash = compute_hash(prev, entry)
        prev = entry.hash
        repository.add(session, entry)


async def record(
    session: AsyncSession, actor: Actor, action: str, *, target_type: str | None = None,
    target_id: str | None = None, outcome: str = "success", details: dict[str, Any] | None = None,
) -> None:
    """Запись в транзакции запроса: откатится вместе с действием, которое она описывает."""
    await record_many(session, [PendingEntry(actor, action, datetime.now(UTC), target_type, target_id, outcome,
                                             details or {})])


class AuditBuffer:
    """Пакетная запись частых событий (успешная выдача токена): запрос не ждёт замка цепочки и fsync.

    Замок цепочки сериализует транзакции всех реплик; держать его в каждом запросе токена значило бы
    ограничить выдачу одним коммитом за раз. Пачка пишется одной транзакцией раз в ``interval`` секунд;
    при штатной остановке буфер дописывается. Отказы и изменения пишутся синхронно (record/record_detached).
    """

    def __init__(self, maker: async_sessionmaker[AsyncSession], *, interval: float = 0.05,
                 max_batch: int = 500) -> None:
        self.maker = maker
        self.interval = interval
        self.max_batch = max_batch
        self._items: list[PendingEntry] = []
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="audit-buffer")

    def submit(self, actor: Actor, action: str, **kwargs: Any) -> None:
        self._items.append(PendingEntry(actor, action, datetime.now(UTC), **kwargs))

    async def flush(self) -> None:
        async with self._lock:
            while self._items:
                batch, self._items = self._items[: self.max_batch], self._items[self.max_batch:]
                try:
                    async with session_scope(self.maker) as session:
                        await record_many(session, batch)
                except Exception:
                    # вернуть в очередь: запись аудита не теряем из-за кратковременного сбоя БД
                    self._items[:0] = batch
                    raise

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                _log.exception("пачка записей аудита не записана; повтор")
                await asyncio.sleep(1.0)

    async def stop(self) -> None:
        await stop_task(self._task)
        try:
            await self.flush()
        except Exception:
            _log.exception("при остановке не записано %d событий аудита", len(self._items))


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
