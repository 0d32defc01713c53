"""Advisory-lock PostgreSQL — один набор помощников на все сервисы (настоящий PostgreSQL)."""

from __future__ import annotations

import asyncio

from artstore_common import advisory_lock, make_engine, try_lock, unlock, xact_lock


async def test_session_lock_is_held_by_one_connection_at_a_time(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=4)
    try:
        async with advisory_lock(engine, "job:x") as first:
            assert first
            async with advisory_lock(engine, "job:x") as second:
                assert not second  # вторая реплика не лидер
            async with advisory_lock(engine, "job:y") as other:
                assert other  # другое имя — другой замок
        async with advisory_lock(engine, "job:x") as again:
            assert again  # снят по выходу из блока
        async with engine.connect() as a, engine.connect() as b:
            assert await try_lock(a, "job:z") and not await try_lock(b, "job:z")
            await unlock(a, "job:z")
            assert await try_lock(b, "job:z")
    finally:
        await engine.dispose()


async def test_waiting_and_transaction_locks_serialise(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=4)
    order: list[str] = []

    async def holder() -> None:
        async with engine.begin() as conn:
            await xact_lock(conn, "schema")
            order.append("first in")
            await asyncio.sleep(0.3)
            order.append("first out")

    async def waiter() -> None:
        await asyncio.sleep(0.1)
        async with advisory_lock(engine, "boot", wait=True) as got:
            assert got
        async with engine.begin() as conn:
            await xact_lock(conn, "schema")  # ждёт, пока первая транзакция не закончится
            order.append("second in")

    try:
        await asyncio.gather(holder(), waiter())
        assert order == ["first in", "first out", "second in"]
    finally:
        await engine.dispose()
