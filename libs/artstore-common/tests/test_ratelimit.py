"""Лимит частоты по локальному счёту со сверкой через Redis (настоящий Redis, две «реплики»)."""

from __future__ import annotations

import time

import pytest
import redis.asyncio as aioredis

from artstore_common import Principal, ProblemError, RateLimiter, Role

WINDOW = RateLimiter.WINDOW


def _principal(sub: str, limit: int) -> Principal:
    return Principal(subject=sub, client_id=sub, role=Role.USER, name=sub, token_id=None,
                     claims={"rate_limit": limit})


async def _hits(limiter: RateLimiter, who: Principal, n: int) -> list[int]:
    codes = []
    for _ in range(n):
        try:
            await limiter.hit(who)
            codes.append(200)
        except ProblemError as exc:
            assert int(exc.headers["Retry-After"]) >= 1
            codes.append(exc.status)
    return codes


@pytest.fixture(autouse=True)
def _not_at_window_edge() -> None:
    # окно минутное: тест, начатый в последние секунды окна, мерил бы два окна
    if WINDOW - time.time() % WINDOW < 3:
        time.sleep(WINDOW - time.time() % WINDOW + 0.1)


async def test_replicas_share_the_window_through_redis(redis_url: str, redis_namespace: str) -> None:
    redis = aioredis.from_url(redis_url)
    a = RateLimiter(redis, redis_namespace, 1000, sync_interval=3600)  # сверка — только явная
    b = RateLimiter(redis, redis_namespace, 1000, sync_interval=3600)
    who = _principal("shared-account", 10)
    try:
        # одна реплика считает точно и без Redis на каждом запросе
        assert await _hits(a, who, 6) == [200] * 6
        assert await redis.get(f"{redis_namespace}:rl:shared-account:{int(time.time() // WINDOW)}") is None
        await a.sync()
        # вторая после своей сверки видит счёт первой: из оставшихся 4 — не больше 4
        assert await _hits(b, who, 1) == [200]
        await b.sync()
        assert await _hits(b, who, 4) == [200, 200, 200, 429]
        await b.sync()
        await a.sync()
        assert await _hits(a, who, 1) == [429]  # и первая узнаёт о попаданиях второй
        # другая учётная запись — своё окно
        assert await _hits(a, _principal("other", 10), 3) == [200] * 3
    finally:
        await a.close()
        await b.close()
        await redis.aclose()


async def test_keeps_limiting_while_redis_is_down(redis_namespace: str) -> None:
    dead = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    limiter = RateLimiter(dead, redis_namespace, 1000, sync_interval=0.01)
    who = _principal("offline", 3)
    try:
        assert await _hits(limiter, who, 4) == [200, 200, 200, 429]
        await limiter.sync()  # Redis недоступен: ошибка не наружу, счёт остаётся локальным
        assert await _hits(limiter, who, 1) == [429]
    finally:
        await limiter.close()
        await dead.aclose()


async def test_scopes_keep_separate_windows_and_claim_can_be_ignored(redis_url: str, redis_namespace: str) -> None:
    # чтение через query не расходует лимит загрузок ingester: своё окно (scope) и свой лимит (без claim)
    redis = aioredis.from_url(redis_url)
    limited: list[int] = []
    uploads = RateLimiter(redis, redis_namespace, 1000, sync_interval=3600)
    reads = RateLimiter(redis, redis_namespace, 3, scope="query", claim=None,
                        on_limited=lambda: limited.append(1), sync_interval=3600)
    who = _principal("reader", 1)  # claim rate_limit=1 относится к загрузкам
    try:
        assert await _hits(uploads, who, 2) == [200, 429]
        assert await _hits(reads, who, 4) == [200, 200, 200, 429]
        assert limited == [1]
        await uploads.sync()
        await reads.sync()
        window = int(time.time() // WINDOW)
        assert int(await redis.get(f"{redis_namespace}:rl:reader:{window}")) == 2
        assert int(await redis.get(f"{redis_namespace}:rl:query:reader:{window}")) == 4
    finally:
        await uploads.close()
        await reads.close()
        await redis.aclose()
