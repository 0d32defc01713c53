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

from artstore_common import lock_key

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
        self._wake = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"job:{self.name}")

    def wake(self) -> None:
        """Внеочередной шаг (например, после регистрации элемента) — если мы лидер."""
        self._wake.set()

    async def stop(self) -> None:
        # Отмену повторяем, пока задача не завершится: отмена, пришедшая в момент завершения ожидания,
        # в Python 3.11 может потеряться, и однократный cancel + await повисал бы навсегда.
        task = self._task
        while task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError, Exception):
                await asyncio.wait_for(asyncio.shield(task), 1.0)

    async def _sleep(self, seconds: float) -> None:
        # asyncio.timeout, а не wait_for: у wait_for в 3.11 отмена внешней задачи может быть проглочена
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        self._wake.clear()

    async def _run(self) -> None:
        key = lock_key(f"admin-module:job:{self.name}")
        while True:
            conn: AsyncConnection | None = None
            try:
                conn = await self.engine.connect()
                got = bool((await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})).scalar())
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
                    await self._sleep(self.interval())
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
                    await asyncio.shield(self._release(conn, key))

    @staticmethod
    async def _release(conn: AsyncConnection, key: int) -> None:
        with contextlib.suppress(Exception):
            await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            await conn.commit()
        with contextlib.suppress(Exception):
            await conn.close()
