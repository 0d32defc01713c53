"""SQL вебхуков и их доставок."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import ServiceAccount, Webhook, WebhookDelivery


async def get(session: AsyncSession, account_id: str, webhook_id: str) -> Webhook | None:
    q = select(Webhook).where(Webhook.id == webhook_id, Webhook.account_id == account_id)
    return (await session.execute(q)).scalar_one_or_none()


async def page(session: AsyncSession, account_id: str, *, limit: int, offset: int) -> tuple[Sequence[Webhook], int]:
    q = select(Webhook).where(Webhook.account_id == account_id)
    total = int((await session.execute(select(func.count()).select_from(q.subquery()))).scalar_one())
    rows = (await session.execute(q.order_by(Webhook.created_at).limit(limit).offset(offset))).scalars().all()
    return rows, total


def add(session: AsyncSession, webhook: Webhook) -> None:
    session.add(webhook)


async def delete(session: AsyncSession, webhook: Webhook) -> None:
    await session.delete(webhook)


async def subscribers(session: AsyncSession, owners: set[str]) -> Sequence[tuple[Webhook, str]]:
    """Активные вебхуки активных аккаунтов, которым могут достаться события пачки: владельцев файлов и
    всех ADMIN. Один запрос на пачку; тип события и владельца конкретного события сверяет сервис."""
    cond = ServiceAccount.role == "ADMIN"
    if owners:
        cond = or_(cond, ServiceAccount.id.in_(sorted(owners)))
    q = (select(Webhook, ServiceAccount.role).join(ServiceAccount, ServiceAccount.id == Webhook.account_id)
         .where(Webhook.is_active.is_(True), ServiceAccount.status == "active", cond))
    return [(w, str(role)) for w, role in (await session.execute(q)).all()]


# Строк доставок на одну вставку: 10 столбцов × 1000 строк — далеко от предела 32 767 параметров запроса
ENQUEUE_CHUNK = 1000


async def enqueue(session: AsyncSession, rows: list[dict[str, object]]) -> int:
    """Идемпотентно: повторная обработка того же события (at-least-once из Redis) не дублирует доставку.
    Пачка событий может дать тысячи доставок — вставляются частями, в той же транзакции."""
    created = 0
    for start in range(0, len(rows), ENQUEUE_CHUNK):
        q = insert(WebhookDelivery).values(rows[start:start + ENQUEUE_CHUNK]).on_conflict_do_nothing(
            constraint="uq_webhook_deliveries_webhook_event").returning(WebhookDelivery.id)
        created += len((await session.execute(q)).scalars().all())
    return created


async def claim_due(session: AsyncSession, now: datetime, limit: int) -> Sequence[tuple[WebhookDelivery, Webhook]]:
    # SKIP LOCKED: реплики разбирают очередь, не мешая друг другу и не беря одну доставку дважды
    q = (select(WebhookDelivery, Webhook).join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
         .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
         .order_by(WebhookDelivery.next_attempt_at).limit(limit).with_for_update(of=WebhookDelivery, skip_locked=True))
    return [(d, w) for d, w in (await session.execute(q)).all()]


async def get_delivery(session: AsyncSession, delivery_id: str) -> WebhookDelivery | None:
    return await session.get(WebhookDelivery, delivery_id)


async def deliveries_page(session: AsyncSession, webhook_id: str, *, limit: int, offset: int,
                          status: str | None) -> tuple[Sequence[WebhookDelivery], int]:
    q = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
    if status:
        q = q.where(WebhookDelivery.status == status)
    total = int((await session.execute(select(func.count()).select_from(q.subquery()))).scalar_one())
    q = q.order_by(WebhookDelivery.created_at.desc()).limit(limit).offset(offset)
    return (await session.execute(q)).scalars().all(), total
