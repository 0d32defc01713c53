"""Счётчики панели: приращение, которое как раз летит в Redis, не пропадает из `GET /stats`."""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from ingester_module.metrics import IngesterMetrics, StatsFlusher


async def test_read_during_flush_sees_the_increment(redis_url: str, redis_namespace: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    metrics = IngesterMetrics(CollectorRegistry())
    flusher = StatsFlusher(client, redis_namespace, metrics)
    real_pipeline = client.pipeline

    def slow_pipeline(*args: Any, **kwargs: Any) -> Any:
        # настоящий Redis, только ответ на сброс приходит позже — так на CI выглядит нагруженная машина
        pipe = real_pipeline(*args, **kwargs)
        execute = pipe.execute

        async def late_execute(*a: Any, **kw: Any) -> Any:
            await asyncio.sleep(0.3)
            return await execute(*a, **kw)

        pipe.execute = late_execute  # type: ignore[method-assign]
        return pipe

    client.pipeline = slow_pipeline  # type: ignore[method-assign]
    try:
        metrics.upload_ok(5, 0.01)
        flushing = asyncio.create_task(flusher.flush())
        await asyncio.sleep(0.05)
        totals = await flusher.read()
        assert totals["uploads_total"] == 1 and totals["upload_bytes_total"] == 5
        await flushing
        assert (await flusher.read())["uploads_total"] == 1
    finally:
        await client.delete(flusher.key)
        await client.aclose()
