"""Подписка на ``{ns}:file_events``: перемещённый или удалённый файл не должен отдаваться по старому адресу."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from redis.exceptions import RedisError

from artstore_common import events_channel, make_redis, stop_task

from .cache import LocationCache

_log = logging.getLogger("query.events")

# После этих событий файла по прежнему адресу больше нет: сбрасываем и общий ключ в Redis.
GONE = frozenset({"file_deleted", "file_expired"})
# Перенос называет новый адрес. Сбросить ключ было бы мало: пока сага не удалила источник, файл лежит на
# обоих элементах, опрос всех мог первым найти источник — и запомнить его на TTL уже после удаления.
MOVED = frozenset({"file_transferred", "file_finalized"})


class FileEventsListener:
    def __init__(self, redis_url: str, namespace: str, cache: LocationCache, *, reconnect_interval: float = 1.0):
        self.redis_url = redis_url
        self.namespace = namespace
        self.cache = cache
        self.reconnect_interval = reconnect_interval
        self.connected = asyncio.Event()
        self.received = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="file-events-listener")

    async def stop(self) -> None:
        await stop_task(self._task)

    async def health(self) -> str | None:
        return None if self.connected.is_set() else "нет подписки на события файлов; кэш живёт только по TTL"

    async def handle(self, event: dict[str, Any]) -> None:
        data = event.get("data") or {}
        file_id = data.get("file_id")
        if not file_id:
            return
        # Локальную запись сбрасываем на любое событие файла: метаданные могли измениться (restore, finalize,
        # file_corrupted — элемент пометил файл повреждённым, а в кэше ещё «corrupted: false»).
        kind = event.get("type")
        target = data.get("storage_element_id")
        if kind in MOVED and isinstance(target, str) and target:
            # сначала новый адрес в Redis, потом сброс локальной записи: запрос между ними иначе прочёл бы
            # из Redis старый адрес и снова закрепил его локально
            await self.cache.put_redis(str(file_id), target)
            self.cache.drop_local(str(file_id))
        elif kind in GONE or kind in MOVED:
            await self.cache.drop(str(file_id))
        else:
            self.cache.drop_local(str(file_id))
        # счётчик — «обработано», не «получено»: кто ждёт его, видит уже новый адрес
        self.received += 1

    async def _run(self) -> None:
        while True:
            client = make_redis(self.redis_url, socket_connect_timeout=3)
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(events_channel(self.namespace))
                # Пока подписки не было, события могли пропасть — локальный кэш больше не надёжен.
                self.cache.clear_local()
                self.connected.set()
                while True:
                    msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if msg is None:
                        continue
                    try:
                        event = json.loads(msg["data"])
                    except (ValueError, TypeError):
                        _log.warning("непонятное событие в %s: %r", events_channel(self.namespace), msg["data"])
                        continue
                    if isinstance(event, dict):
                        await self.handle(event)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if self.connected.is_set():
                    _log.warning("подписка на события файлов потеряна: %s", exc)
                self.connected.clear()
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                with contextlib.suppress(Exception):
                    await client.aclose()
            await asyncio.sleep(self.reconnect_interval)
