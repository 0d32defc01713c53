"""Миграции схемы при старте: Alembic из кода под advisory-lock (две реплики стартуют одновременно)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection

from artstore_common import lock_key

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
BOOTSTRAP_LOCK = "admin-module:bootstrap"


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


async def upgrade(conn: AsyncConnection) -> None:
    """Ждёт замок (вторая реплика — пока первая не закончит) и доводит схему до head в одной транзакции."""
    await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(BOOTSTRAP_LOCK + ":schema")})
    await conn.run_sync(_upgrade)
    await conn.commit()
