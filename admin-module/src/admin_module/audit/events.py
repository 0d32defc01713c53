"""Файловые операции в журнале аудита: поток ``{ns}:events`` → группа ``admin-audit`` → строки audit_log.

Загрузку, удаление, перенос, сроки хранения и восстановление делают ingester и элементы хранения; каждое
такое действие уже публикуется событием с ``actor`` (кто сделал). Своя группа потребителей — не та, что у
вебхуков: журнал не ждёт доставок и не зависит от подписок. Строка пишется в той же транзакции, что
и проверка «этого события ещё нет» (уникальный ``event_id``), и поток подтверждается после коммита: событие
не теряется, пока admin лежит, и не пишется дважды при повторной доставке.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from artstore_common import EventActor, EventConsumer, session_scope

from ..deps import Actor
from . import service
from .repository import FILE_TARGET

GROUP = "admin-audit"


@dataclass(frozen=True, slots=True)
class AuditAction:
    action: str
    outcome: str = "success"
    target_type: str = FILE_TARGET
    # исход — по HTTP-статусу из события (скачивание по ссылке: отказ 403/410 — тоже запись журнала)
    outcome_from_status: bool = False


# Тип события → запись журнала. ``file_expiring`` — предупреждение о сроке, а не действие с файлом: в журнал
# не идёт (иначе по строке на каждый временный файл за N дней до срока).
ACTIONS: dict[str, AuditAction] = {
    "file_uploaded": AuditAction("file.upload"),
    "file_deleted": AuditAction("file.delete"),
    "file_finalized": AuditAction("file.finalize"),
    "file_transferred": AuditAction("file.transfer"),
    "file_expired": AuditAction("file.expire"),
    "file_restored": AuditAction("file.restore"),
    "restore_failed": AuditAction("file.restore", outcome="failure"),
    "file_corrupted": AuditAction("file.corruption_detected"),
    "element_mode_changed": AuditAction("storage_element.mode_changed", target_type="storage_element"),
    # временные ссылки query (docs/links.md): создание, каждое использование и отзыв
    "link_created": AuditAction("file.link_create"),
    "link_used": AuditAction("file.link_download", outcome_from_status=True),
    "link_revoked": AuditAction("file.link_revoke"),
}


def _occurred_at(event: dict[str, Any]) -> datetime:
    try:
        return datetime.fromtimestamp(float(event["occurred_at"]), UTC)
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        return datetime.now(UTC)


def entry_of(event: dict[str, Any]) -> service.PendingEntry | None:
    """Запись журнала по событию; ``None`` — событие не о действии (или тип неизвестен этой версии admin)."""
    spec = ACTIONS.get(str(event.get("type")))
    raw_data = event.get("data")
    data: dict[str, Any] = dict(raw_data) if isinstance(raw_data, dict) else {}
    if spec is None:
        return None
    who = EventActor.from_dict(event.get("actor"))
    # событие без actor (издатель старой версии) — всё равно в журнал: что и с каким файлом, важнее кто
    actor = Actor(who.type, who.id, who.name, None) if who else Actor("system", None, None, None)
    target = data.pop("file_id", None) if spec.target_type == FILE_TARGET else data.get("storage_element_id")
    outcome = spec.outcome
    if spec.outcome_from_status:
        try:
            outcome = "failure" if int(data.get("status") or 200) >= 400 else "success"
        except (TypeError, ValueError):
            outcome = "failure"
    return service.PendingEntry(
        actor=actor, action=spec.action, occurred_at=_occurred_at(event), target_type=spec.target_type,
        target_id=str(target) if target is not None else None, outcome=outcome,
        details={"event_type": event.get("type"), **data}, event_id=str(event["id"]),
    )


class AuditEventConsumer(EventConsumer):
    def __init__(self, redis_url: str, namespace: str, maker: async_sessionmaker[AsyncSession]) -> None:
        super().__init__(redis_url, namespace, GROUP, name="audit-events")
        self.maker = maker

    async def handle_events(self, events: list[dict[str, Any]]) -> None:
        entries = [e for e in map(entry_of, events) if e is not None]
        if not entries:
            return
        async with session_scope(self.maker) as session:
            await service.record_many(session, entries)
