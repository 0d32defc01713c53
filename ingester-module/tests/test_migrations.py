"""Схема ingester — миграциями Alembic со своей таблицей версий (база общая с admin-module)."""

from __future__ import annotations

import asyncio

from sqlalchemy import inspect, text

from artstore_common import make_engine
from ingester_module.transfer.models import create_schema, metadata, transactions


async def _tables(engine) -> set[str]:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


def _columns(conn) -> set[str]:  # type: ignore[no-untyped-def]
    return {c["name"] for c in inspect(conn).get_columns("ingester_transactions")}


async def test_fresh_database_gets_the_table_and_its_own_version_table(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        # две реплики стартуют одновременно: обе доходят до head, таблица создаётся один раз
        await asyncio.gather(create_schema(engine), create_schema(engine))
        assert {"ingester_transactions", "ingester_alembic_version", "ingester_event_outbox"} <= await _tables(engine)
        assert "alembic_version" not in await _tables(engine)  # таблица версий admin-module не тронута
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT version_num FROM ingester_alembic_version"))).scalar() == "0003"
            columns = await conn.run_sync(_columns)
            assert {"requested_by_type", "requested_by_name"} <= columns
    finally:
        await engine.dispose()


async def test_table_made_before_migrations_is_adopted(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        async with engine.begin() as conn:  # так создавал таблицу прежний код (create_all; outbox тогда не было)
            await conn.run_sync(lambda c: metadata.create_all(c, tables=[transactions]))
            await conn.execute(text("INSERT INTO ingester_transactions (id, kind, file_id, source, target, state, "
                                    "step, attempts, created_at, updated_at) VALUES ('t1', 'finalize', 'f', 'a', "
                                    "'b', 'done', 'done', 0, now(), now())"))
        await create_schema(engine)
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM ingester_transactions"))).scalar() == 1
            # 0002 дописывает столбцы «кто запросил» (для actor событий саги), строки остаются
            columns = await conn.run_sync(_columns)
            assert {"requested_by_type", "requested_by_name"} <= columns
            assert (await conn.execute(text("SELECT version_num FROM ingester_alembic_version"))).scalar() == "0003"
    finally:
        await engine.dispose()


async def test_migrations_match_models(database_url: str) -> None:
    """Таблицы кода (журнал саг, outbox событий) и схема после миграций не расходятся."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = make_engine(database_url)
    try:
        await create_schema(engine)
        async with engine.connect() as conn:
            diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), metadata))
        # таблица версий Alembic — не модель
        assert [d for d in diff if not (d[0] == "remove_table" and d[1].name == "ingester_alembic_version")] == []
    finally:
        await engine.dispose()
