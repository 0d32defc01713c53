"""Outbox событий элемента (docs/architecture.md §6): ``file_corrupted``, ``file_expiring``, ``file_expired``,
``file_restored``, ``restore_failed`` сначала ложатся строкой в PostgreSQL и переносятся в Redis ретранслятором.

Без него событие, выпущенное, пока Redis лежит, терялось: вебхук истёкшего файла не приходил, а кэши query
продолжали считать испорченный файл целым. Таблица — своя у каждого элемента (у члена реплицированного — своя,
как и кэш-таблица): ретранслятор пишет в пространство имён Redis своего элемента, а элементы одной базы могут
жить в разных пространствах.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from sqlalchemy import MetaData, Table
from sqlalchemy.ext.asyncio import AsyncEngine

from artstore_common import EventOutbox, outbox_table, xact_lock

from .settings import Settings


def outbox_name(settings: Settings) -> str:
    return f"{settings.table_prefix}_event_outbox"


async def open_outbox(settings: Settings, engine: AsyncEngine, redis: aioredis.Redis) -> EventOutbox:
    """Таблица (если её ещё нет) и ретранслятор; запускает его вызывающий (``start``)."""
    table: Table = outbox_table(MetaData(), outbox_name(settings))
    async with engine.begin() as conn:
        # элементы делят базу: DDL сериализуем тем же замком, что и схему кэш-таблиц
        await xact_lock(conn, "storage-element:cache-schema")
        await conn.run_sync(lambda sync: table.create(sync, checkfirst=True))
    return EventOutbox(engine, table, redis, settings.redis_namespace)
