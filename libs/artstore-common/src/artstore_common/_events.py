"""События файлов между сервисами (ARCHITECTURE.md §9: Redis Streams вместо Kafka).

Каждое событие пишется в поток ``{ns}:events`` (его читает admin-module группой потребителей и
доставляет вебхуки — не теряется, пока admin лежит). В канал ``{ns}:file_events`` (query-module по нему
сразу сбрасывает свои кэши местоположения) публикуются события об уже существовавших файлах:
``file_uploaded`` туда не идёт — нового файла ни в чьём кэше быть не может, а разбор этого сообщения
стоил query-module 0,15–0,28 мс CPU на каждую загрузку.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ._redis_batch import RedisBatcher

_log = logging.getLogger("artstore.events")

EVENT_TYPES = frozenset(
    {"file_uploaded", "file_deleted", "file_expiring", "file_restored", "restore_failed",
     "file_finalized", "file_transferred", "file_expired"}
)


# события, после которых закэшированное о файле может устареть; остальные — только в поток
CHANNEL_EVENT_TYPES = EVENT_TYPES - {"file_uploaded"}


def events_stream(namespace: str) -> str:
    return f"{namespace}:events"


def events_channel(namespace: str) -> str:
    return f"{namespace}:file_events"


def make_event(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    if event_type not in EVENT_TYPES:
        raise ValueError(f"неизвестный тип события {event_type}")
    return {"id": os.urandom(16).hex(), "type": event_type, "occurred_at": time.time(), "data": data}


class EventPublisher:
    """Публикует события; сбой Redis не роняет операцию с файлом (файл уже сохранён), а пишется в журнал."""

    def __init__(self, redis: aioredis.Redis, namespace: str, *, maxlen: int = 100_000) -> None:
        self.redis = redis
        self.namespace = namespace
        self.maxlen = maxlen
        self._batch = RedisBatcher(redis)

    async def emit(self, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
        event = make_event(event_type, data)
        payload = json.dumps(event, ensure_ascii=False, default=str)
        stream, channel = events_stream(self.namespace), events_channel(self.namespace)

        to_channel = event_type in CHANNEL_EVENT_TYPES

        def commands(pipe: Any) -> None:
            pipe.xadd(stream, {"event": payload}, maxlen=self.maxlen, approximate=True)
            if to_channel:
                pipe.publish(channel, payload)

        try:
            # одновременные события уходят одним конвейером; ждём подтверждения своего, как и раньше
            await self._batch.run(commands, 2 if to_channel else 1)
        except (RedisError, OSError) as exc:
            _log.error("событие %s не опубликовано: %s", event_type, exc, extra={"event": event})
        return event
