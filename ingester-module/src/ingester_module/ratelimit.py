"""Ограничение частоты запросов на учётную запись: фиксированное окно в минуту в Redis.

INCR + EXPIRE NX на запрос (одновременные запросы — одним конвейером, RedisBatcher) — окно общее для
всех реплик. Лимит берётся из
claim ``rate_limit`` токена (его задаёт admin-module для аккаунта), иначе из настроек. Redis недоступен —
пропускаем: ограничение защищает флот, а не должно останавливать загрузки вместе с Redis.
"""

from __future__ import annotations

import time
from typing import Any

import redis.asyncio as aioredis
from fastapi import Request
from redis.exceptions import RedisError

from artstore_common import Principal, ProblemError, RedisBatcher

WINDOW = 60


class RateLimiter:
    def __init__(self, redis: aioredis.Redis, namespace: str, default_limit: int) -> None:
        self.redis = redis
        self.namespace = namespace
        self.default_limit = default_limit
        self._batch = RedisBatcher(redis)

    def limit_for(self, principal: Principal) -> int:
        claim = principal.claims.get("rate_limit")
        if isinstance(claim, int | float) and claim > 0:
            return int(claim)
        if isinstance(claim, str) and claim.isascii() and claim.isdigit() and int(claim) > 0:
            return int(claim)
        return self.default_limit

    async def hit(self, principal: Principal, cost: int = 1) -> None:
        limit = self.limit_for(principal)
        if limit <= 0:
            return
        now = time.time()
        window = int(now // WINDOW)
        key = f"{self.namespace}:rl:{principal.subject}:{window}"

        def commands(pipe: Any) -> None:
            pipe.incrby(key, cost)
            pipe.expire(key, WINDOW + 5, nx=True)

        try:
            count, _ = await self._batch.run(commands, 2)
        except (RedisError, OSError):
            return
        if int(count) > limit:
            retry = max(1, int((window + 1) * WINDOW - now) + 1)
            raise ProblemError(
                429, "rate_limited",
                f"превышен лимит {limit} запросов в минуту для учётной записи; повторите через {retry} с",
                headers={"Retry-After": str(retry)}, extra={"limit": limit, "retry_after": retry},
            )


async def enforce_rate_limit(request: Request, principal: Principal, cost: int = 1) -> None:
    limiter: RateLimiter = request.app.state.rate_limiter
    try:
        await limiter.hit(principal, cost)
    except ProblemError:
        request.app.state.metrics.tally["rate_limited_total"] += 1
        raise
