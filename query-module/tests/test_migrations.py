"""Схема query (временные ссылки) — миграциями Alembic со своей таблицей версий: база общая с admin и ingester."""

from __future__ import annotations

import asyncio

from sqlalchemy import inspect, text

from artstore_common import make_engine
from query_module.links.store import create_schema


async def test_fresh_database_gets_links_table_and_own_version_table(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        # две реплики стартуют одновременно: обе доходят до head, таблица создаётся один раз
        await asyncio.gather(create_schema(engine), create_schema(engine))
        async with engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
            assert {"query_links", "query_alembic_version"} <= tables
            assert "alembic_version" not in tables  # таблица версий admin-module не тронута
            assert (await conn.execute(text("SELECT version_num FROM query_alembic_version"))).scalar() == "0001"
    finally:
        await engine.dispose()
