"""Бизнес-метрики ingester и счётчики для панели admin-ui (`GET /api/v1/stats`).

Счётчики панели копятся в памяти и раз в несколько секунд сбрасываются в хэш Redis одной командой:
панель видит сумму по всем репликам, а горячий путь загрузки не платит лишним походом в Redis.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter as TallyCounter
from collections.abc import Callable, Iterable
from typing import Any

import redis.asyncio as aioredis
from fastapi import APIRouter, Request
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from artstore_common import (
    NO_STORAGE_ELEMENT,
    BreakerCollector,
    CurrentPrincipal,
    ElementClient,
    PlacementResult,
    SagaState,
    StorageElement,
    UploadOutcome,
    init_series,
    stop_task,
)

_log = logging.getLogger("ingester.metrics")
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)
STAT_FIELDS = ("uploads_total", "upload_bytes_total", "errors_total", "deletes_total", "tus_uploads_total",
               "batch_requests_total", "finalize_total", "transfers_total", "rate_limited_total")


class _SagaCollector(Collector):
    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily("artstore_saga_transactions", "Транзакции переноса по состояниям",
                                   labels=["state"])
        # каждое состояние — рядом, даже пустое: иначе «зависших нет» и «метрики нет» неразличимы
        counts: dict[str, int] = {**dict.fromkeys(SagaState, 0), **self._counts()}
        for state, count in sorted(counts.items()):
            family.add_metric([state], float(count))
        yield family


class IngesterMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.uploads = Counter("artstore_uploads", "Загрузки по исходу", ["outcome"], registry=registry)
        self.upload_bytes = Counter("artstore_upload_bytes", "Байты принятых файлов", registry=registry)
        self.upload_duration = Histogram("artstore_upload_duration_seconds", "Длительность загрузки",
                                         buckets=_DURATION_BUCKETS, registry=registry)
        self.placement = Counter("artstore_placement_decisions", "Решения о размещении",
                                 ["storage_element", "result"], registry=registry)
        init_series(self.uploads, UploadOutcome)
        init_series(self.placement, [NO_STORAGE_ELEMENT], [PlacementResult.NO_CANDIDATE])
        self.registry = registry
        self.saga_counts: dict[str, int] = {}
        self.tally: TallyCounter[str] = TallyCounter()

    def watch(self, elements: ElementClient, element_ids: Callable[[], Iterable[str]]) -> None:
        self.registry.register(BreakerCollector(elements, element_ids))
        self.registry.register(_SagaCollector(lambda: self.saga_counts))

    def upload_ok(self, size: int, seconds: float) -> None:
        self.uploads.labels(UploadOutcome.SUCCESS).inc()
        self.upload_bytes.inc(size)
        self.upload_duration.observe(seconds)
        self.tally["uploads_total"] += 1
        self.tally["upload_bytes_total"] += size

    def upload_failed(self, outcome: UploadOutcome) -> None:
        self.uploads.labels(outcome).inc()
        self.tally["errors_total"] += 1


class StatsFlusher:
    """Периодически переносит накопленные приращения в хэш `{ns}:ingester:stats`."""

    def __init__(self, redis: aioredis.Redis, namespace: str, metrics: IngesterMetrics, interval: float = 2.0):
        self.redis = redis
        self.key = f"{namespace}:ingester:stats"
        self.metrics = metrics
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        # пока приращения летят в Redis, их нет ни в памяти, ни в хэше: чтение ждёт конца сброса,
        # иначе панель на миг видит «0 загрузок» сразу после загрузки
        self._flushing = asyncio.Lock()

    async def flush(self) -> None:
        async with self._flushing:
            pending = self.metrics.tally
            if not pending:
                return
            self.metrics.tally = TallyCounter()
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for name, value in pending.items():
                        pipe.hincrby(self.key, name, value)
                    await pipe.execute()
            except (RedisError, OSError) as exc:
                # Redis недоступен — вернём приращения, чтобы не потерять их при следующей попытке
                self.metrics.tally.update(pending)
                _log.debug("счётчики не сброшены в Redis: %s", exc)

    async def read(self) -> dict[str, int]:
        totals = dict.fromkeys(STAT_FIELDS, 0)
        async with self._flushing:
            try:
                raw = await self.redis.hgetall(self.key)
                for k, v in raw.items():
                    totals[k.decode() if isinstance(k, bytes) else k] = int(v)
            except (RedisError, OSError):
                pass
        for name, value in self.metrics.tally.items():
            totals[name] = totals.get(name, 0) + value
        return totals

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.flush()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="stats-flusher")

    async def stop(self) -> None:
        await stop_task(self._task)
        await self.flush()


# --- GET /api/v1/stats: счётчики для панели admin-ui (сумма по всем репликам через Redis) ---
router = APIRouter(prefix="/api/v1", tags=["stats"])


@router.get("/stats", summary="Счётчики загрузок, ошибок и переносов")
async def stats(request: Request, _: CurrentPrincipal) -> dict[str, Any]:
    state = request.app.state
    totals: dict[str, Any] = await state.stats.read()
    totals["saga_transactions"] = dict(state.metrics.saga_counts)
    totals["discovery_fallback_active"] = state.discovery.fallback_active
    totals["storage_elements"] = [_element_stats(state.elements, e) for e in state.discovery.storage_elements]
    return totals


_SEVERITY = {"closed": 0, "half_open": 1, "open": 2}


def _element_stats(elements: ElementClient, el: StorageElement) -> dict[str, Any]:
    """Предохранитель реплицированного элемента — у каждого члена; ``circuit`` элемента — худший из них."""
    circuits = {t.id: elements.breaker(t.id).state.value for t in el.targets}
    out: dict[str, Any] = {"id": el.id, "mode": el.mode, "status": el.status, "free_bytes": el.free_bytes,
                           "circuit": max(circuits.values(), key=_SEVERITY.__getitem__)}
    if el.replicated:
        out["members"] = [{"id": m.id, "status": m.status, "circuit": circuits[m.id]} for m in el.members]
    return out
