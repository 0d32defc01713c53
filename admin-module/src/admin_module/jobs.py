"""Фоновые задачи «один раз на весь флот реплик»: лидер держит session-level advisory lock.

Замок берётся на выделенном соединении и держится, пока жив процесс; остальные реплики раз в несколько
секунд пробуют его взять и подхватывают задачу, когда лидер пропал (соединение закрылось — замок снят).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from artstore_common import stop_task, try_lock, unlock

_log = logging.getLogger("admin_module.jobs")


class LeaderJob:
    def __init__(self, engine: AsyncEngine, name: str, interval: Callable[[], float],
                 step: Callable[[], Awaitable[None]], *, retry_lock_every: float = 2.0) -> None:
        self.engine = engine
        self.name = name
        self.interval = interval
        self.step = step
        self.retry_lock_every = retry_lock_every
        self.is_leader = False
        self.runs = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"job:{self.name}")

    async def stop(self) -> None:
        await stop_task(self._task)

    async def _run(self) -> None:
        name = f"admin-module:job:{self.name}"
        while True:
            conn: AsyncConnection | None = None
            try:
                conn = await self.engine.connect()
                got = await try_lock(conn, name)
                await conn.commit()
                if not got:
                    await conn.close()
                    conn = None
                    await asyncio.sleep(self.retry_lock_every)
                    continue
                self.is_leader = True
                _log.info("задача %s: эта реплика — лидер", self.name)
                while True:
                    try:
                        await self.step()
                        self.runs += 1
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        _log.exception("задача %s: шаг упал", self.name)
                    await asyncio.sleep(self.interval())
                    # соединение с замком живо? иначе замок уже мог взять другой
                    await conn.execute(text("SELECT 1"))
                    await conn.commit()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _log.warning("задача %s: потеряно соединение с замком (%s), переизбрание", self.name, exc)
                await asyncio.sleep(self.retry_lock_every)
            finally:
                self.is_leader = False
                if conn is not None:
                    # соединение вернётся в пул: замок надо снять явно, иначе он переживёт задачу
                    await asyncio.shield(self._release(conn, name))

    @staticmethod
    async def _release(conn: AsyncConnection, name: str) -> None:
        with contextlib.suppress(Exception):
            await unlock(conn, name)
            await conn.commit()
        with contextlib.suppress(Exception):
            await conn.close()
