"""RedisBatcher на настоящем Redis: одновременные запросы уходят общим конвейером, ответы и ошибки —
каждому свои; EventPublisher пишет каждое событие в поток, а в канал — все, кроме file_uploaded."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from artstore_common import EventActor, EventPublisher, RedisBatcher, events_channel, events_stream

SYSTEM = EventActor.system("test")


async def test_concurrent_requests_share_pipelines_and_get_own_replies(redis_url: str, redis_namespace: str) -> None:
    r = aioredis.from_url(redis_url)
    pipelines = 0
    real_pipeline = r.pipeline

    def counting_pipeline(*a: Any, **kw: Any) -> Any:
        nonlocal pipelines
        pipelines += 1
        return real_pipeline(*a, **kw)

    r.pipeline = counting_pipeline  # type: ignore[method-assign]
    batcher = RedisBatcher(r)

    async def one(i: int) -> list[Any]:
        def commands(pipe: Any) -> None:
            pipe.incrby(f"{redis_namespace}:k{i}", i + 1)
            pipe.get(f"{redis_namespace}:k{i}")

        return await batcher.run(commands, 2)

    results = await asyncio.gather(*(one(i) for i in range(50)))
    assert [int(n) for n, _ in results] == [i + 1 for i in range(50)]
    assert [int(v) for _, v in results] == [i + 1 for i in range(50)]
    # первый запрос ушёл сразу, остальные 49 — пачкой следом
    assert pipelines < 10, pipelines
    await r.aclose()


async def test_error_of_one_request_does_not_fail_the_others(redis_url: str, redis_namespace: str) -> None:
    r = aioredis.from_url(redis_url)
    await r.set(f"{redis_namespace}:text", "не число")
    batcher = RedisBatcher(r)

    async def incr(key: str) -> list[Any]:
        return await batcher.run(lambda pipe: pipe.incr(f"{redis_namespace}:{key}"), 1)

    ok1, bad, ok2 = await asyncio.gather(incr("a"), incr("text"), incr("b"), return_exceptions=True)
    assert ok1 == [1] and ok2 == [1]
    assert isinstance(bad, ResponseError)
    await r.aclose()


async def test_redis_down_reaches_every_waiter() -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    from artstore_common.embedded import free_port

    r = aioredis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    batcher = RedisBatcher(r)
    results = await asyncio.gather(*(batcher.run(lambda pipe: pipe.ping(), 1) for _ in range(5)),
                                   return_exceptions=True)
    assert all(isinstance(x, RedisConnectionError | OSError) for x in results), results
    await r.aclose()


@pytest.mark.parametrize("n", [1, 20])
async def test_events_reach_stream_in_order(redis_url: str, redis_namespace: str, n: int) -> None:
    r = aioredis.from_url(redis_url)
    publisher = EventPublisher(r, redis_namespace)
    await asyncio.gather(*(publisher.emit("file_uploaded", {"file_id": f"f{i}"}, actor=SYSTEM) for i in range(n)))
    entries = await r.xrange(events_stream(redis_namespace))
    ids = [json.loads(fields[b"event"])["data"]["file_id"] for _, fields in entries]
    assert ids == [f"f{i}" for i in range(n)]
    await r.aclose()


async def test_cancelled_flusher_fails_every_waiter_with_redis_error(redis_url: str, redis_namespace: str) -> None:
    from redis.exceptions import RedisError

    r = aioredis.from_url(redis_url)
    batcher = RedisBatcher(r)
    # первый конвейер висит (BLPOP без данных), остальные ждут за ним
    first = asyncio.create_task(batcher.run(lambda pipe: pipe.blpop([f"{redis_namespace}:never"], 5), 1))
    await asyncio.sleep(0.05)
    others = [asyncio.create_task(batcher.run(lambda pipe: pipe.ping(), 1)) for _ in range(3)]
    await asyncio.sleep(0.05)
    assert batcher._flusher is not None
    batcher._flusher.cancel()
    results = await asyncio.gather(first, *others, return_exceptions=True)
    assert all(isinstance(x, RedisError) for x in results), results
    await r.aclose()


async def test_stuck_pipeline_times_out_as_oserror(redis_url: str, redis_namespace: str) -> None:
    r = aioredis.from_url(redis_url)
    batcher = RedisBatcher(r, timeout=0.2)
    with pytest.raises(OSError):  # TimeoutError — подкласс OSError: вызывающие ловят (RedisError, OSError)
        await batcher.run(lambda pipe: pipe.blpop([f"{redis_namespace}:never"], 5), 1)
    assert await batcher.run(lambda pipe: pipe.ping(), 1) == [True]
    await r.aclose()


async def test_channel_carries_events_about_existing_files_only(redis_url: str, redis_namespace: str) -> None:
    """file_uploaded и смена режима элемента — только в поток (вебхукам, аудиту), остальные — и в канал,
    которым query сбрасывает кэш."""
    r = aioredis.from_url(redis_url)
    pubsub = r.pubsub()
    await pubsub.subscribe(events_channel(redis_namespace))
    await pubsub.get_message(timeout=1.0)  # подтверждение подписки
    publisher = EventPublisher(r, redis_namespace)
    for event_type in ("file_uploaded", "file_deleted", "file_uploaded", "file_transferred", "element_mode_changed"):
        await publisher.emit(event_type, {"file_id": event_type}, actor=SYSTEM)
    seen = []
    while (msg := await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)) is not None:
        seen.append(json.loads(msg["data"])["type"])
    assert seen == ["file_deleted", "file_transferred"]
    entries = await r.xrange(events_stream(redis_namespace))
    assert [json.loads(f[b"event"])["type"] for _, f in entries] == [
        "file_uploaded", "file_deleted", "file_uploaded", "file_transferred", "element_mode_changed"]
    # кто сделал — в каждом событии потока: по нему admin пишет журнал аудита
    assert {json.dumps(json.loads(f[b"event"])["actor"], sort_keys=True) for _, f in entries} == {
        '{"id": null, "name": "test", "type": "system"}'}
    await pubsub.aclose()
    await r.aclose()
