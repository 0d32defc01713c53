"""Строки кэш-таблицы в памяти элемента: повторное чтение не идёт в PostgreSQL, а каждая правка через
Cache (вставка, пометка повреждения, удаление, пересборка) видна следующему же чтению — в том числе
правка, зафиксированная, пока чтение из СУБД было в пути."""

from __future__ import annotations

import asyncio
from typing import Any

from storage_element.cache import row_to_attr

from .conftest import put, running


class CountingPool:
    """Обёртка пула asyncpg: считает чтения строк и умеет задержать одно из них."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.fetches = 0
        self.hold: asyncio.Event | None = None
        self.started = asyncio.Event()

    async def fetchrow(self, *args: Any) -> Any:
        self.fetches += 1
        row = await self.pool.fetchrow(*args)
        if self.hold is not None:
            self.started.set()
            await self.hold.wait()  # строка прочитана до правки, вернётся — после
        return row

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pool, name)


async def test_rows_are_served_from_memory_and_forgotten_on_every_change(make_settings, admin) -> None:
    async with running(make_settings(mode="edit")) as (app, c):
        fid = (await put(c, admin, b"row cache")).json()["file_id"]
        cache = app.state.element.cache
        counting = CountingPool(cache.pool)
        cache.pool = counting

        first = await cache.get(fid)
        assert first is not None and counting.fetches == 1
        first["description"] = "правка вызывающего"  # словарь вызывающего — не память кэша
        again = await cache.get(fid)
        assert counting.fetches == 1 and again is not None and again.get("description") != "правка вызывающего"
        for _ in range(3):
            assert (await c.get(f"/api/v1/files/{fid}/content", headers=admin)).content == b"row cache"
        assert counting.fetches == 1

        await cache.set_corrupted(fid, True)
        assert (await cache.get(fid))["_corrupted"] is True and counting.fetches == 2
        await cache.set_corrupted(fid, False)

        # правка, зафиксированная, пока чтение было в пути: прочитанное до неё в память не попадает
        await cache.get(fid)
        cache.forget(fid)
        counting.hold = asyncio.Event()
        reader = asyncio.create_task(cache.get(fid))
        await counting.started.wait()
        await cache.upsert({**(await _fresh(cache, fid)), "description": "новое описание"})
        counting.hold.set()
        await reader
        counting.hold = None
        assert (await cache.get(fid))["description"] == "новое описание"

        await cache.delete(fid)
        assert await cache.get(fid) is None
        assert (await c.get(f"/api/v1/files/{fid}/content", headers=admin)).status_code == 404


async def _fresh(cache: Any, fid: str) -> dict[str, Any]:
    row = await cache.pool.pool.fetchrow(f"SELECT * FROM {cache.table} WHERE file_id = $1", fid)
    return row_to_attr(row)
