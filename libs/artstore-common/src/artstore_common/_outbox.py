"""Транзакционный outbox событий в PostgreSQL: событие не теряется, пока Redis недоступен.

``EventPublisher`` с outbox пишет событие строкой таблицы (в транзакции вызывающего, если она дана, — вместе с
изменением состояния, которое событие описывает), а ретранслятор переносит строки в Redis Streams
(``{ns}:events`` и канал ``{ns}:file_events``) по порядку ``seq`` и удаляет перенесённые в той же транзакции.
Переносит одна реплика за раз (транзакционный advisory-lock): порядок событий сохраняется и между репликами.

Общая вставка (без транзакции вызывающего) коммитится с ``synchronous_commit = off``: строка переживает
падение Redis и перезапуск сервиса, но не падение самого PostgreSQL в последние ~0,6 с (WAL ещё не сброшен
на диск). Файл к этому моменту уже зафиксирован элементом; с ожиданием fsync PostgreSQL загрузка 64 КиБ через
ingester шла 149 оп/с (p50 105 мс) против 267 без outbox; без ожидания — 233 и 405 оп/с против 267 и 266 (два
попеременных прогона: разница в шуме машины), CPU ingester +0,15…0,4 мс на загрузку (bench/fleet_bench.py
--small 2000 --large-mib 64).
``synchronous_commit=True`` — полная стойкость. В транзакции вызывающего действует его настройка.

Гарантия — «хотя бы раз»: сбой посреди конвейера XADD откатывает удаление, и уже записанные в поток события
уйдут ещё раз; потребители (вебхуки, аудит admin) дедуплицируют по ``id`` события. У мастера Redis с
репликами (Sentinel) строки удаляются, только когда записи подтвердила хотя бы одна реплика (``WAIT 1``, до
``replica_timeout`` секунд): репликация Redis асинхронна, и событие, которое мастер принял и не успел передать,
пропало бы вместе с ним при переключении. Без реплик WAIT не посылается. Порядок — порядок ``seq``:
для событий одного файла он совпадает с порядком операций (следующая операция с файлом начинается после
того, как строка предыдущей закоммичена).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import BigInteger, Column, DateTime, Identity, MetaData, String, Table, Text, delete, func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from ._db import Executor, try_xact_lock
from ._tasks import stop_task

_log = logging.getLogger("artstore.outbox")
# как часто заново спрашивать мастер Redis о числе реплик
REPLICA_CHECK_S = 5.0


def outbox_table(metadata: MetaData, name: str) -> Table:
    """Таблица outbox сервиса; создаёт её миграция сервиса (тот же набор столбцов)."""
    return Table(
        name, metadata,
        Column("seq", BigInteger, Identity(always=True), primary_key=True),
        Column("event_id", String(64), nullable=False),
        Column("payload", Text, nullable=False),  # JSON события, как он уйдёт в поток
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


class EventOutbox:
    def __init__(self, engine: AsyncEngine, table: Table, redis: aioredis.Redis, namespace: str, *,
                 maxlen: int = 100_000, batch_size: int = 500, idle_interval: float = 1.0,
                 synchronous_commit: bool = False, replica_timeout: float = 1.0) -> None:
        self.engine = engine
        self.table = table
        self.redis = redis
        self.namespace = namespace
        self.maxlen = maxlen
        self.batch_size = batch_size
        # опрос без пробуждения: событие, записанное в чужой транзакции, видно только после её коммита
        self.idle_interval = idle_interval
        self.coalesce = 0.01
        self.synchronous_commit = synchronous_commit
        self.lock = f"artstore:outbox:{table.name}"
        self.relayed = 0
        self._wake = asyncio.Event()
        self._pending: list[tuple[dict[str, str], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        self._closing = False
        self.replica_timeout = replica_timeout
        self._replica_count = 0
        self._replicas_checked = 0.0

    async def add(self, event: dict[str, Any], executor: Executor | None = None) -> None:
        """Строка события; с ``executor`` — в его транзакции (закоммитит вызывающий), иначе — общей.

        Без ``executor`` одновременные события пишутся одной транзакцией (как групповая фиксация): пока одна
        вставка в пути, следующие копятся и уходят следующей целиком. Каждый вызывающий ждёт коммита своей
        строки — событие сохранено до ответа клиенту. Вставка и коммит на каждое событие стоили ingester
        ~1,1 мс CPU на загрузку и вдвое меньше загрузок в секунду (bench/fleet_bench.py, A/B).
        """
        row = {"event_id": str(event["id"]), "payload": json.dumps(event, ensure_ascii=False, default=str)}
        if executor is not None:
            await executor.execute(self.table.insert().values(**row))
            self._wake.set()
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((row, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_pending(), name=f"outbox-write-{self.table.name}")
        await done

    async def _write_pending(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                async with self.engine.begin() as conn:
                    if not self.synchronous_commit:
                        await conn.execute(text("SET LOCAL synchronous_commit TO off"))
                    await conn.execute(self.table.insert(), [row for row, _ in batch])
            except Exception as exc:
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for _, done in batch:
                if not done.done():
                    done.set_result(None)
            self._wake.set()

    async def pending(self) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(self.table))).scalar_one())

    async def health(self) -> str | None:
        """Для /health/ready: пока перенос не удаётся — сколько событий ждут (сервис работает, но «degraded»)."""
        if not self._failing:
            return None
        return (f"события не переносятся в Redis: {await self.pending()} ждут в PostgreSQL (outbox) "
                "и уйдут, когда он вернётся")

    async def relay_once(self) -> int:
        """Переносит до ``batch_size`` самых старых строк; ``-1`` — переносит другая реплика."""
        from ._events import write_commands  # _events → _outbox: только при вызове

        t = self.table
        async with self.engine.begin() as conn:
            if not await try_xact_lock(conn, self.lock):
                return -1
            rows = (await conn.execute(select(t.c.seq, t.c.payload).order_by(t.c.seq).limit(self.batch_size))).all()
            if not rows:
                return 0
            replicas = await self._replicas()
            pipe = self.redis.pipeline(transaction=False)
            for _seq, payload in rows:
                write_commands(pipe, self.namespace, json.loads(payload), payload, self.maxlen)
            if replicas:
                # WAIT — на том же соединении, что и записи: он ждёт подтверждения именно их
                pipe.wait(1, int(self.replica_timeout * 1000))
            # ошибка Redis — исключение здесь: транзакция откатывается, строки останутся до следующей попытки
            replies = await pipe.execute()
            if replicas and int(replies[-1]) < 1:
                # Реплика могла уйти совсем (после переключения у нового мастера реплик нет, пока старый не
                # вернётся): тогда лучше, чем запись на одном мастере, не бывает — как у одиночного Redis.
                self._replicas_checked = 0.0
                replicas = await self._replicas()
            if replicas and int(replies[-1]) < 1:
                raise RedisError(f"ни одна из {replicas} реплик Redis не подтвердила {len(rows)} событий за "
                                 f"{self.replica_timeout:g} с; они остаются в outbox до следующей попытки")
            await conn.execute(delete(t).where(t.c.seq.in_([r.seq for r in rows])))
        self.relayed += len(rows)
        return len(rows)

    async def _replicas(self) -> int:
        """Сколько реплик у мастера Redis (``ROLE``; ответ помнится ``REPLICA_CHECK_S`` секунд)."""
        now = time.monotonic()
        if now - self._replicas_checked > REPLICA_CHECK_S:
            role = await self.redis.role()
            self._replica_count = len(role[2]) if role and role[0] in (b"master", "master") else 0
            self._replicas_checked = now
        return self._replica_count

    def start(self) -> None:
        self._closing = False
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self.table.name}")

    async def stop(self, drain: float = 2.0) -> None:
        """Останов ретранслятора. Перед ним — последняя попытка перенести накопленное (не дольше ``drain``
        секунд): при плановом останове события уходят сейчас, а не после следующего старта. Не вышло (Redis
        лежит, переносит другая реплика) — строки ждут в таблице."""
        if self._task is None:
            return
        # Сначала — мягко: цикл доводит текущий перенос и выходит между пачками. Отмена посреди переноса
        # (XADD уже в Redis, удаление строк ещё не закоммичено) отправила бы пачку второй раз.
        self._closing = True
        self._wake.set()
        await asyncio.wait({self._task}, timeout=drain)
        await stop_task(self._task)
        self._task = None
        if drain > 0:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(drain):
                    while await self.relay_once() > 0:
                        pass

    async def _run(self) -> None:
        backoff = 0.2
        while not self._closing:
            try:
                moved = await self.relay_once()
                if self._failing:
                    _log.warning("outbox %s: Redis снова доступен, события переносятся", self.table.name)
                    self._failing = False
                backoff = 0.2
                if moved == self.batch_size:
                    continue  # отставание: следующая пачка сразу
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, SQLAlchemyError) as exc:
                self._replicas_checked = 0.0  # после сбоя мастер мог смениться: число реплик — заново
                if not self._failing:
                    _log.error("outbox %s: перенос событий не удался (%s); события ждут в PostgreSQL",
                               self.table.name, exc)
                    self._failing = True
                await asyncio.sleep(backoff)
                # не дольше 2 с: вернувшийся Redis (новый мастер Sentinel) получает события сразу
                backoff = min(backoff * 2, 2.0)
                continue
            except Exception:
                _log.exception("outbox %s: перенос событий упал", self.table.name)
                await asyncio.sleep(1.0)
                continue
            # asyncio.timeout, а не wait_for: в Python 3.11 wait_for теряет отмену, пришедшую в тот момент,
            # когда событие уже случилось, — stop() ждал бы задачу вечно (повисал тест элемента)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.idle_interval):
                    await self._wake.wait()
            if self._closing:
                return
            # под нагрузкой пробуждения идут одно за другим: короткая пауза собирает пачку на один перенос
            await asyncio.sleep(self.coalesce)
            self._wake.clear()
