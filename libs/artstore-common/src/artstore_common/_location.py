"""Общий кэш местоположений файлов в Redis: ключ ``{ns}:loc:{file_id}``, значение
``{"storage_element_id": "..."}``.

Пишет его ingester (после загрузки и переноса), читают и пишут query и ingester. Формат один на всех:
раньше ingester клал голый id, а query — JSON, и каждая сторона промахивалась мимо чужих записей (а
ingester ещё и удалял записи query), так что скачивание только что загруженного файла опрашивало все
элементы. Сбой Redis здесь — промах, а не ошибка запроса: файл найдётся опросом элементов.
"""

from __future__ import annotations

import json
import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ._redis_batch import RedisBatcher

_log = logging.getLogger("artstore.location")
LOCATION_TTL = 7 * 24 * 3600


def location_key(namespace: str, file_id: str) -> str:
    return f"{namespace}:loc:{file_id}"


def encode_location(element_id: str) -> str:
    return json.dumps({"storage_element_id": element_id}, separators=(",", ":"))


def decode_location(raw: bytes | str | None) -> str | None:
    """id элемента из значения ключа; ``None`` — записи нет или она непонятна (читается как промах)."""
    if not raw:
        return None
    text = raw.decode() if isinstance(raw, bytes) else raw
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, dict) and isinstance(value.get("storage_element_id"), str):
        return value["storage_element_id"] or None
    return None


class LocationStore:
    """Чтение и запись общего кэша местоположений; ошибки Redis не выходят наружу."""

    def __init__(self, redis: aioredis.Redis, namespace: str, *, ttl: int = LOCATION_TTL) -> None:
        self.redis = redis
        self.namespace = namespace
        self.ttl = ttl
        # запись после каждой загрузки: одновременные уходят одним конвейером Redis
        self._batch = RedisBatcher(redis)

    async def get(self, file_id: str) -> str | None:
        try:
            raw = await self.redis.get(location_key(self.namespace, file_id))
        except (RedisError, OSError) as exc:
            _log.warning("Redis недоступен для кэша местоположений: %s", exc)
            return None
        return decode_location(raw)

    async def put(self, file_id: str, element_id: str) -> None:
        try:
            key, value = location_key(self.namespace, file_id), encode_location(element_id)
            await self._batch.run(lambda pipe: pipe.set(key, value, ex=self.ttl), 1)
        except (RedisError, OSError) as exc:
            _log.warning("не удалось записать местоположение %s в Redis: %s", file_id, exc)

    async def drop(self, file_id: str) -> None:
        try:
            await self.redis.delete(location_key(self.namespace, file_id))
        except (RedisError, OSError) as exc:
            _log.warning("не удалось сбросить местоположение %s в Redis: %s", file_id, exc)
