"""PostgreSQL из нескольких хостов: движок находит новый primary после promote без перезапуска."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from artstore_common import async_url, make_engine
from artstore_common.embedded_ha import StreamingPostgres


def test_multihost_url_becomes_sqlalchemy_form() -> None:
    url = "postgresql://u:p@10.0.0.1:5432,10.0.0.2:5433/artstore?target_session_attrs=read-write"
    assert async_url(url) == (
        "postgresql+asyncpg://u:p@/artstore?host=10.0.0.1:5432&host=10.0.0.2:5433&target_session_attrs=read-write")
    assert async_url("postgresql://u@h:5432/db") == "postgresql+asyncpg://u@h:5432/db"
    with pytest.raises(ValueError, match="нет порта"):
        async_url("postgresql://u@h1,h2:5432/db")


async def test_engine_reconnects_to_promoted_standby(tmp_path: Path) -> None:
    pg = await asyncio.to_thread(StreamingPostgres(tmp_path / "pg").start)
    engine = make_engine(pg.url(), pool_size=2)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id int PRIMARY KEY)"))
            await conn.execute(text("INSERT INTO t VALUES (1)"))
        await asyncio.to_thread(pg.promote_standby)
        await asyncio.to_thread(pg.stop_primary)
        started = time.monotonic()
        last: Exception | None = None
        while time.monotonic() - started < 30:
            try:
                async with engine.begin() as conn:
                    await conn.execute(text("INSERT INTO t VALUES (2)"))
                    port = (await conn.execute(text("SELECT current_setting('port')"))).scalar()
                break
            except Exception as exc:  # обрыв старого соединения — ожидаемая, чистая ошибка транзакции
                last = exc
                await asyncio.sleep(0.2)
        else:
            raise AssertionError(f"движок не нашёл новый primary за 30 с: {last!r}")
        assert int(str(port)) == pg.ports[1]
        async with engine.connect() as conn:
            assert sorted((await conn.execute(text("SELECT id FROM t"))).scalars()) == [1, 2]
    finally:
        await engine.dispose()
        await asyncio.to_thread(pg.stop)
