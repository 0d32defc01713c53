"""Ограничение частоты запросов на учётную запись: фиксированное окно в минуту, общее для всех реплик.

Решение принимается по локальному счёту, без обмена с Redis на каждый запрос: реплика считает свои
попадания в окне и через ``sync_interval`` (100 мс) после попадания отправляет их одной командой INCRBY
на ключ окна, получая в ответ общий счёт всех реплик. Запрос отклоняется, если «общий счёт на последней сверке +
свои неотправленные попадания» больше лимита. Одна реплика считает точно; несколько могут вместе
пропустить сверх лимита не больше того, что другие успели принять за последние 100 мс, — для
минутного окна это доли процента. Раньше каждый запрос ждал свой INCR + EXPIRE (обмен с Redis на
критическом пути, ~6 % CPU ingester при загрузках 64 КиБ).

Лимит берётся из claim токена (``claim``; у ingester — ``rate_limit``, его задаёт admin-module для
аккаунта), иначе из настроек сервиса; ``claim=None`` — только из настроек. Redis недоступен — реплика
продолжает ограничивать по своему счёту, а неотправленное уйдёт при следующей удачной сверке: ограничение
защищает флот, но не должно останавливать загрузки и чтение вместе с Redis.

``scope`` разводит окна сервисов: у query своё окно на учётную запись (``{ns}:rl:query:{sub}:{окно}``),
чтение не расходует лимит загрузок. Без ``scope`` ключ — ``{ns}:rl:{sub}:{окно}``, как у ingester до
переноса сюда: счёт реплик разных версий при обновлении не расходится.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ._auth import Principal
from ._errors import ProblemError
from ._redis_batch import RedisBatcher
from ._tasks import stop_task

WINDOW = 60
SYNC_INTERVAL = 0.1
_log = logging.getLogger("artstore.ratelimit")


class _Window:
    __slots__ = ("known", "pending")

    def __init__(self) -> None:
        self.known = 0  # общий счёт окна в Redis на последней сверке (все реплики)
        self.pending = 0  # свои попадания, ещё не отправленные в Redis


class RateLimiter:
    """``default_limit`` — запросов в минуту на учётную запись (0 — без ограничения); ``on_limited``
    вызывается на каждый отклонённый запрос (счётчик сервиса)."""

    WINDOW = WINDOW

    def __init__(self, redis: aioredis.Redis, namespace: str, default_limit: int, *, scope: str = "",
                 claim: str | None = "rate_limit", on_limited: Callable[[], None] | None = None,
                 sync_interval: float = SYNC_INTERVAL) -> None:
        self.redis = redis
        self.namespace = namespace
        self.default_limit = default_limit
        self.claim = claim
        self.on_limited = on_limited
        self.sync_interval = sync_interval
        self._prefix = f"{namespace}:rl:{scope}:" if scope else f"{namespace}:rl:"
        self._batch = RedisBatcher(redis)
        self._windows: dict[tuple[str, int], _Window] = {}
        self._sync_task: asyncio.Task[None] | None = None

    def limit_for(self, principal: Principal) -> int:
        if self.claim is None:
            return self.default_limit
        claim = principal.claims.get(self.claim)
        if isinstance(claim, int | float) and claim > 0:
            return int(claim)
        if isinstance(claim, str) and claim.isascii() and claim.isdigit() and int(claim) > 0:
            return int(claim)
        return self.default_limit

    def _key(self, subject: str, window: int) -> str:
        return f"{self._prefix}{subject}:{window}"

    async def hit(self, principal: Principal, cost: int = 1) -> None:
        limit = self.limit_for(principal)
        if limit <= 0:
            return
        now = time.time()
        window = int(now // WINDOW)
        slot = (principal.subject, window)
        counter = self._windows.get(slot)
        if counter is None:
            counter = self._windows[slot] = _Window()
        # как и прежде (INCR до проверки), отклонённые запросы тоже входят в счёт окна
        counter.pending += cost
        if self._sync_task is None or self._sync_task.done():
            self._sync_task = asyncio.create_task(self._sync_soon())
        if counter.known + counter.pending > limit:
            if self.on_limited is not None:
                self.on_limited()
            retry = max(1, int((window + 1) * WINDOW - now) + 1)
            raise ProblemError(
                429, "rate_limited",
                f"превышен лимит {limit} запросов в минуту для учётной записи; повторите через {retry} с",
                headers={"Retry-After": str(retry)}, extra={"limit": limit, "retry_after": retry},
            )

    async def _sync_soon(self) -> None:
        await asyncio.sleep(self.sync_interval)
        await self.sync()

    async def sync(self) -> None:
        """Отправить свои попадания и узнать общий счёт каждого окна этой минуты, где они были
        (и где их не было с прошлой сверки — INCRBY 0: счёт других реплик нужен и там)."""
        current = int(time.time() // WINDOW)
        # прошедшие окна не решают ничего (в том числе у других реплик) — их счёт не нужен и не отправляется
        for slot in [s for s in self._windows if s[1] < current]:
            del self._windows[slot]
        sent = [(slot, counter, counter.pending) for slot, counter in self._windows.items()]
        if not sent:
            return

        def commands(pipe: Any) -> None:
            for (subject, window), _, n in sent:
                key = self._key(subject, window)
                pipe.incrby(key, n)
                pipe.expire(key, WINDOW + 5, nx=True)

        try:
            replies = await self._batch.run(commands, 2 * len(sent))
        except (RedisError, OSError) as exc:
            _log.debug("счёт лимита частоты не сверен с Redis: %s", exc)
            return  # неотправленное остаётся в pending и уйдёт со следующей сверкой
        for (_, counter, n), total in zip(sent, replies[::2], strict=True):
            counter.pending -= n
            counter.known = int(total)

    async def close(self) -> None:
        await stop_task(self._sync_task)

