"""Лимит частоты загрузок и удалений на учётную запись — ``artstore_common.RateLimiter``.

Ключи окон — ``{ns}:rl:{sub}:{окно}`` (без scope, как до переноса в библиотеку), лимит — из claim
``rate_limit`` токена, иначе ``INGESTER_RATE_LIMIT_PER_MINUTE``; отклонённые считает ``rate_limited_total``.
"""

from __future__ import annotations

from fastapi import Request

from artstore_common import Principal, RateLimiter


async def enforce_rate_limit(request: Request, principal: Principal, cost: int = 1) -> None:
    limiter: RateLimiter = request.app.state.rate_limiter
    await limiter.hit(principal, cost)
