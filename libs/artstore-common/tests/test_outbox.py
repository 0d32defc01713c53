"""Outbox событий на настоящих PostgreSQL и redis-server: пока Redis лежит, события ждут в таблице и
уходят в поток по порядку, когда он вернулся; откат транзакции вызывающего отменяет и событие."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import MetaData

from artstore_common import (
    EventActor,
    EventConsumer,
    EventOutbox,
    EventPublisher,
    events_stream,
    make_engine,
    outbox_table,
)
from artstore_common.embedded import free_port
from artstore_common.testing import KillableRedis

SYSTEM = EventActor.system("test")
@pytest.fixture
def redis_proc(tmp_path: Path) -> Iterator[KillableRedis]:
    server = KillableRedis(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[Any]:
    eng = make_engine(database_url)
    yield eng
    await eng.dispose()


async def _outbox(engine: Any, redis: aioredis.Redis, ns: str) -> EventOutbox:
    metadata = MetaData()
    table = outbox_table(metadata, "test_event_outbox")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    box = EventOutbox(engine, table, redis, ns, idle_interval=0.1, batch_size=7)
    return box


async def _stream(redis: aioredis.Redis, ns: str) -> list[dict[str, Any]]:
    return [json.loads(f[b"event"]) for _, f in await redis.xrange(events_stream(ns))]


async def test_events_wait_in_postgres_while_redis_is_down(engine: Any, redis_proc: KillableRedis,
                                                           redis_namespace: str) -> None:
    redis = aioredis.from_url(redis_proc.url, socket_timeout=2, socket_connect_timeout=1)
    box = await _outbox(engine, redis, redis_namespace)
    publisher = EventPublisher(redis, redis_namespace, outbox=box)
    box.start()
    try:
        sent = [await publisher.emit("file_uploaded", {"file_id": f"f-{i}"}, actor=SYSTEM) for i in range(5)]
        for _ in range(100):
            if await box.pending() == 0:
                break
            await asyncio.sleep(0.05)
        redis_proc.kill()
        # Redis лежит: операции с файлами идут, события — в PostgreSQL, ничего не теряется
        sent += [await publisher.emit("file_deleted" if i % 3 else "file_uploaded", {"file_id": f"f-{i}"},
                                      actor=SYSTEM) for i in range(5, 40)]
        await asyncio.sleep(0.5)
        assert await box.pending() == 35
        assert "35 ждут в PostgreSQL" in (await box.health() or "")
        redis_proc.start()
        for _ in range(200):
            if await box.pending() == 0 and await box.health() is None:
                break
            await asyncio.sleep(0.05)
        assert await box.pending() == 0 and await box.health() is None
        got = await _stream(redis, redis_namespace)
        # каждое событие ровно один раз и в порядке публикации (пачками по batch_size=7)
        assert [e["id"] for e in got] == [e["id"] for e in sent]
        assert got[-1]["actor"] == {"type": "system", "id": None, "name": "test"}
    finally:
        await box.stop()
        await redis.aclose()


async def test_event_commits_with_the_callers_transaction(engine: Any, redis_proc: KillableRedis,
                                                          redis_namespace: str) -> None:
    redis = aioredis.from_url(redis_proc.url)
    box = await _outbox(engine, redis, redis_namespace)
    publisher = EventPublisher(redis, redis_namespace, outbox=box)
    try:
        with pytest.raises(RuntimeError):
            async with engine.begin() as conn:
                await publisher.emit("file_deleted", {"file_id": "rolled-back"}, actor=SYSTEM, executor=conn)
                raise RuntimeError("изменение состояния не удалось")
        async with engine.begin() as conn:
            kept = await publisher.emit("file_deleted", {"file_id": "kept"}, actor=SYSTEM, executor=conn)
        # две «реплики» переносят одновременно: одна ждёт замка, событие уходит один раз
        other = EventOutbox(engine, box.table, redis, redis_namespace)
        results = await asyncio.gather(box.relay_once(), other.relay_once())
        assert sorted(results) in ([-1, 1], [0, 1])
        assert [e["id"] for e in await _stream(redis, redis_namespace)] == [kept["id"]]
        assert await box.relay_once() == 0
    finally:
        await redis.aclose()


async def test_without_postgres_the_event_goes_straight_to_redis(redis_proc: KillableRedis,
                                                                 redis_namespace: str) -> None:
    """Outbox недоступен (PostgreSQL лежит) — событие не пропадает, а уходит сразу в Redis, как без outbox."""
    redis = aioredis.from_url(redis_proc.url)
    dead = make_engine(f"postgresql://postgres@127.0.0.1:{free_port()}/none")
    try:
        box = EventOutbox(dead, outbox_table(MetaData(), "nowhere"), redis, redis_namespace)
        event = await EventPublisher(redis, redis_namespace, outbox=box).emit(
            "file_uploaded", {"file_id": "direct"}, actor=SYSTEM)
        assert [e["id"] for e in await _stream(redis, redis_namespace)] == [event["id"]]
    finally:
        await dead.dispose()
        await redis.aclose()


class Recorder(EventConsumer):
    def __init__(self, url: str, ns: str) -> None:
        super().__init__(url, ns, "test-group", name="test")
        self.seen: list[str] = []

    async def handle_events(self, events: list[dict[str, Any]]) -> None:
        self.seen += [e["id"] for e in events]


async def test_consumer_rereads_a_stream_recreated_after_redis_lost_its_data(redis_proc: KillableRedis,
                                                                             redis_namespace: str) -> None:
    """Redis без данных после перезапуска: группы нет, а outbox уже дописал накопленное — читаем с начала."""
    consumer = Recorder(redis_proc.url, redis_namespace)
    consumer.block_ms = 100
    redis = aioredis.from_url(redis_proc.url)
    try:
        consumer.start()
        for _ in range(100):
            if await redis.exists(events_stream(redis_namespace)):
                break
            await asyncio.sleep(0.05)
        await redis.delete(events_stream(redis_namespace))  # группа пропала вместе с потоком
        backlog = await EventPublisher(redis, redis_namespace).emit("file_deleted", {"file_id": "x"}, actor=SYSTEM)
        for _ in range(100):
            if backlog["id"] in consumer.seen:
                break
            await asyncio.sleep(0.05)
        assert consumer.seen == [backlog["id"]]
    finally:
        await consumer.stop()
        await redis.aclose()


async def test_concurrent_events_share_one_insert(engine: Any, redis_proc: KillableRedis, redis_namespace: str) -> None:
    """Одновременные события — общей вставкой: коммит на пачку, а не на каждое (CPU ingester на загрузку)."""
    from sqlalchemy import event

    redis = aioredis.from_url(redis_proc.url)
    box = await _outbox(engine, redis, redis_namespace)
    publisher = EventPublisher(redis, redis_namespace, outbox=box)
    commits = 0

    def count(_conn: Any) -> None:
        nonlocal commits
        commits += 1

    event.listen(engine.sync_engine, "commit", count)
    try:
        sent = await asyncio.gather(*(publisher.emit("file_uploaded", {"file_id": f"c-{i}"}, actor=SYSTEM)
                                      for i in range(50)))
        assert await box.pending() == 50
        assert commits <= 3, commits  # первая вставка уходит сразу, остальные 49 — следующей (или двумя)
        while await box.relay_once() > 0:
            pass
        assert sorted(e["id"] for e in await _stream(redis, redis_namespace)) == sorted(e["id"] for e in sent)
    finally:
        event.remove(engine.sync_engine, "commit", count)
        await redis.aclose()


async def test_rows_stay_until_a_redis_replica_has_the_events(engine: Any, tmp_path: Path,
                                                              redis_namespace: str) -> None:
    """Мастер с репликой (как под Sentinel): реплика застыла (SIGSTOP) — мастер события принял, но передать их
    не может; при переключении на реплику они бы пропали. Строки остаются в outbox, пока реплика не подтвердит."""
    import signal

    master = KillableRedis(tmp_path / "master").start()
    replica = KillableRedis(tmp_path / "replica").start()
    redis = aioredis.from_url(master.url, socket_timeout=5)
    to_replica = aioredis.from_url(replica.url)
    metadata = MetaData()
    table = outbox_table(metadata, "test_event_outbox_replicated")
    try:
        await to_replica.execute_command("REPLICAOF", "127.0.0.1", str(master.port))
        for _ in range(100):
            if (await to_replica.info("replication")).get("master_link_status") == "up":
                break
            await asyncio.sleep(0.05)
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        box = EventOutbox(engine, table, redis, redis_namespace, replica_timeout=0.3)
        publisher = EventPublisher(redis, redis_namespace, outbox=box)
        first = await publisher.emit("file_uploaded", {"file_id": "f-1"}, actor=SYSTEM)
        assert await box.relay_once() == 1 and await box.pending() == 0  # реплика подтвердила — строки нет

        assert replica.proc is not None
        replica.proc.send_signal(signal.SIGSTOP)
        second = await publisher.emit("file_uploaded", {"file_id": "f-2"}, actor=SYSTEM)
        with pytest.raises(RedisError, match="не подтвердила"):
            await box.relay_once()
        assert await box.pending() == 1  # мастер запись принял, но outbox её не отпустил

        replica.proc.send_signal(signal.SIGCONT)
        for _ in range(50):
            try:
                if await box.relay_once() == 1:
                    break
            except RedisError:
                await asyncio.sleep(0.1)
        assert await box.pending() == 0
        # повтор переноса мог дописать событие в поток ещё раз: потребители отсеют его по id
        ids = [e["id"] for e in await _stream(to_replica, redis_namespace)]
        assert ids[0] == first["id"] and set(ids) == {first["id"], second["id"]}
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)
        await redis.aclose()
        await to_replica.aclose()
        replica.kill()
        master.kill()


async def test_stop_never_hangs_when_an_event_arrives_with_the_cancel(engine: Any, redis_proc: KillableRedis,
                                                                      redis_namespace: str) -> None:
    """Останов ретранслятора сразу после события (как у элемента: смена режима, затем останов процесса) —
    в Python 3.11 ``asyncio.wait_for`` терял такую отмену, и ``stop()`` ждал вечно."""
    redis = aioredis.from_url(redis_proc.url)
    try:
        for i in range(20):
            box = await _outbox(engine, redis, redis_namespace)
            publisher = EventPublisher(redis, redis_namespace, outbox=box)
            box.start()
            await asyncio.sleep(0.02 * (i % 5))
            await publisher.emit("file_uploaded", {"file_id": f"stop-{i}"}, actor=SYSTEM)
            async with asyncio.timeout(10):
                await box.stop()
        assert await box.pending() == 0  # последняя попытка переноса при останове всё унесла
    finally:
        await redis.aclose()
