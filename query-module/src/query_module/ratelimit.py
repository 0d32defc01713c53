"""Лимит частоты чтения на учётную запись: поиск (POST и GET), подсказки, метаданные, скачивание.

``artstore_common.RateLimiter`` со своим окном (scope ``query``) и своим лимитом
``QUERY_RATE_LIMIT_PER_MINUTE``. Claim ``rate_limit`` токена здесь не действует: это лимит загрузок
ingester (у нового аккаунта — 100 в минуту), а одно открытие документа — это поиск, метаданные и
скачивание; чтение не должно отнимать лимит у записи.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request

from artstore_common import Principal, RateLimiter, Role, require_roles


async def limit_read(request: Request, principal: Principal) -> None:
    """429 problem+json с Retry-After, если учётная запись исчерпала лимит чтения этой минуты."""
    limiter: RateLimiter = request.app.state.rate_limiter
    await limiter.hit(principal)


def limited_readers(allowed: frozenset[Role]) -> Any:
    """Зависимость маршрута чтения: роль из ``allowed`` и лимит частоты учётной записи."""
    checked = require_roles(*allowed)

    async def dependency(request: Request, principal: Principal = checked) -> Principal:
        await limit_read(request, principal)
        return principal

    return Depends(dependency)
