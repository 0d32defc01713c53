"""Миграции схемы каждого сервиса — Alembic из кода, под advisory-lock (реплики стартуют одновременно).

Файла alembic.ini нет: каталог миграций, соединение и таблицу версий передаёт сервис. Сервисы делят одну
базу, поэтому у каждого своя таблица версий (``version_table``): admin — ``alembic_version``, ingester —
``ingester_alembic_version``, элемент — ``{prefix}_alembic_version``. ``env.py`` сервиса — одна строка:
``run_env(metadata)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, MetaData
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ._db import xact_lock


def alembic_config(script_location: Path, *, connection: Connection | None = None,
                   version_table: str = "alembic_version", **attributes: Any) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.attributes.update(attributes, connection=connection, version_table=version_table)
    return cfg


async def upgrade_schema(target: AsyncEngine | AsyncConnection, script_location: Path, *, lock: str,
                         version_table: str = "alembic_version", **attributes: Any) -> None:
    """Довести схему до head в одной транзакции; вторая реплика ждёт замок, пока первая не закончит.
    ``attributes`` доступны миграциям как ``op.get_context().config.attributes`` (например, префикс таблиц)."""

    def _upgrade(connection: Connection) -> None:
        command.upgrade(alembic_config(script_location, connection=connection, version_table=version_table,
                                       **attributes), "head")

    if isinstance(target, AsyncEngine):
        async with target.connect() as conn:
            await upgrade_schema(conn, script_location, lock=lock, version_table=version_table, **attributes)
        return
    await xact_lock(target, lock)
    await target.run_sync(_upgrade)
    await target.commit()


def run_env(metadata: MetaData | None) -> None:
    """Тело ``env.py`` каждого сервиса: соединение и таблицу версий даёт ``upgrade_schema``."""
    from alembic import context

    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("миграции ArtStore запускаются из кода сервиса (artstore_common.upgrade_schema)")
    context.configure(connection=connection, target_metadata=metadata, compare_type=True,
                      version_table=context.config.attributes.get("version_table", "alembic_version"))
    with context.begin_transaction():
        context.run_migrations()
