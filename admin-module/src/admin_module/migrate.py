"""Миграции схемы admin-module при старте (Alembic из кода, под advisory-lock: artstore_common.upgrade_schema)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncConnection

from artstore_common import upgrade_schema

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
BOOTSTRAP_LOCK = "admin-module:bootstrap"


async def upgrade(conn: AsyncConnection) -> None:
    """Ждёт замок (вторая реплика — пока первая не закончит) и доводит схему до head в одной транзакции."""
    await upgrade_schema(conn, MIGRATIONS_DIR, lock=BOOTSTRAP_LOCK + ":schema")
