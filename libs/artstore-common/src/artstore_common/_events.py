"""События файлов между сервисами (docs/architecture.md §8: Redis Streams вместо Kafka).

Каждое событие пишется в поток ``{ns}:events`` (его читает admin-module группой потребителей и
доставляет вебхуки — не теряется, пока admin лежит). В канал ``{ns}:file_events`` (query-module по нему
сразу сбрасывает свои кэши местоположения) публикуются события об уже существовавших файлах:
``file_uploaded`` туда не идёт — нового файла ни в чьём кэше быть не может, а разбор этого сообщения
стоил query-module 0,15–0,28 мс CPU на каждую загрузку.

У события есть ``actor`` — кто сделал (субъект токена запроса или система): по нему admin пишет журнал
аудита файловых операций (группа ``admin-audit``), не спрашивая сервисы, что и от чьего имени произошло.
"""

from __future__ import annotations

import abc
import asyncio
import base64
import contextlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError
from sqlalchemy.exc import SQLAlchemyError

from ._db import Executor
from ._outbox import EventOutbox
from ._redis import make_redis
from ._redis_batch import RedisBatcher
from ._tasks import stop_task

if TYPE_CHECKING:  # _auth → _labels → _events: только для аннотации
    from ._auth import Principal

_log = logging.getLogger("artstore.events")

FILE_EVENT_TYPES = frozenset(
    {"file_uploaded", "file_deleted", "file_expiring", "file_restored", "restore_failed",
     "file_finalized", "file_transferred", "file_expired", "file_corrupted", "element_mode_changed"}
)
# Временные ссылки на скачивание (query-module, docs/links.md): создание, каждое использование, отзыв —
# записи аудита в потоке. Файл от них не меняется, поэтому в канал сброса кэшей они не идут.
LINK_EVENT_TYPES = frozenset({"link_created", "link_used", "link_revoked"})
# Аккаунт удалён или приостановлен (admin-module): query отзывает его временные ссылки — как presigned URL S3
# перестаёт работать, когда удалён ключ, которым он подписан (docs/links.md).
ACCOUNT_EVENT_TYPES = frozenset({"account_deleted", "account_suspended"})
EVENT_TYPES = FILE_EVENT_TYPES | LINK_EVENT_TYPES | ACCOUNT_EVENT_TYPES


# события, после которых закэшированное о файле может устареть; остальные — только в поток
# (смена режима элемента — не о файле: кэшам query в ней нечего сбрасывать)
CHANNEL_EVENT_TYPES = FILE_EVENT_TYPES - {"file_uploaded", "element_mode_changed"}

# Заголовок запроса сервиса к элементу: от чьего имени действие (восстановление из ar идёт через query своим
# сервисным токеном, а в журнале аудита должен быть пользователь). base64url(JSON EventActor).
ACTOR_HEADER = "X-Artstore-Actor"


@dataclass(frozen=True, slots=True)
class EventActor:
    """Кто сделал то, о чём событие: ``type`` — ``user`` (admin-ui), ``service_account`` или ``system``
    (задача самого сервиса: сроки хранения, скраб); ``id`` — субъект токена, ``name`` — его имя."""

    type: str
    id: str | None
    name: str | None

    @classmethod
    def of(cls, principal: Principal) -> EventActor:
        kind = str(principal.claims.get("kind") or "service_account")
        return cls(kind, principal.subject, principal.username)

    @classmethod
    def on_behalf(cls, principal: Principal, header: str | None) -> EventActor:
        """Действующее лицо запроса сервиса к элементу: из ``ACTOR_HEADER``, если его прислал сервис (роль
        ADMIN — сервисные токены флота), иначе — сам владелец токена. Пользователь подставить чужое имя
        не может: его токен не ADMIN."""
        if principal.role == "ADMIN":
            told = cls.decode(header)
            if told is not None:
                return told
        return cls.of(principal)

    @classmethod
    def system(cls, name: str) -> EventActor:
        return cls("system", None, name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: object) -> EventActor | None:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("type"), str):
            return None
        ident, name = raw.get("id"), raw.get("name")
        return cls(str(raw["type"]), str(ident) if ident is not None else None,
                   str(name) if name is not None else None)

    def encode(self) -> str:
        """Для заголовка ``ACTOR_HEADER``: только ASCII, как и всё в заголовках HTTP."""
        raw = json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str | None) -> EventActor | None:
        """Разбор заголовка; испорченный — ``None`` (действие не отменяется из-за подписи в журнале)."""
        if not value or len(value) > 2000:
            return None
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            return cls.from_dict(json.loads(raw))
        except (ValueError, TypeError):
            return None


def events_stream(namespace: str) -> str:
    return f"{namespace}:events"


def events_channel(namespace: str) -> str:
    return f"{namespace}:file_events"


def make_event(event_type: str, data: dict[str, Any], actor: EventActor | None = None, *,
               event_id: str | None = None) -> dict[str, Any]:
    if event_type not in EVENT_TYPES:
        raise ValueError(f"неизвестный тип события {event_type}")
    return {"id": event_id or os.urandom(16).hex(), "type": event_type, "occurred_at": time.time(),
            "actor": actor.to_dict() if actor is not None else None, "data": data}


def write_commands(pipe: Any, namespace: str, event: dict[str, Any], payload: str, maxlen: int) -> int:
    """Команды публикации одного события в конвейер; возвращает, сколько ответов они дадут."""
    pipe.xadd(events_stream(namespace), {"event": payload}, maxlen=maxlen, approximate=True)
    if event.get("type") in CHANNEL_EVENT_TYPES:
        pipe.publish(events_channel(namespace), payload)
        return 2
    return 1


class EventPublisher:
    """Публикует события; сбой Redis не роняет операцию с файлом (файл уже сохранён).

    С ``outbox`` событие сначала пишется в PostgreSQL (``EventOutbox``) и переносится в Redis ретранслятором:
    пока Redis лежит, события ждут в таблице. Без outbox (или когда недоступен и PostgreSQL) — сразу в Redis,
    а сбой Redis пишется в журнал ошибкой.
    """

    def __init__(self, redis: aioredis.Redis, namespace: str, *, maxlen: int = 100_000,
                 outbox: EventOutbox | None = None) -> None:
        self.redis = redis
        self.namespace = namespace
        self.maxlen = maxlen
        self.outbox = outbox
        self._batch = RedisBatcher(redis)

    async def emit(self, event_type: str, data: dict[str, Any], *, actor: EventActor,
                   executor: Executor | None = None, event_id: str | None = None) -> dict[str, Any]:
        """``executor`` — транзакция вызывающего: событие закоммитится вместе с изменением состояния.
        ``event_id`` — свой id (повтор шага саги после перезапуска даёт то же событие, потребители отсеют)."""
        event = make_event(event_type, data, actor, event_id=event_id)
        if self.outbox is not None:
            try:
                await self.outbox.add(event, executor)
                return event
            except (SQLAlchemyError, OSError) as exc:
                if executor is not None:
                    raise  # транзакция вызывающего и так не закоммитится: решает он
                _log.warning("outbox недоступен (%s): событие %s — сразу в Redis", exc, event_type)
        payload = json.dumps(event, ensure_ascii=False, default=str)

        def commands(pipe: Any) -> None:
            write_commands(pipe, self.namespace, event, payload, self.maxlen)

        try:
            # одновременные события уходят одним конвейером; ждём подтверждения своего, как и раньше
            await self._batch.run(commands, 2 if event_type in CHANNEL_EVENT_TYPES else 1)
        except (RedisError, OSError) as exc:
            _log.error("событие %s не опубликовано: %s", event_type, exc, extra={"event": event})
        return event


class EventConsumer(abc.ABC):
    """Группа потребителей потока ``{ns}:events``: «хотя бы раз» для каждого события.

    Сообщение подтверждается (XACK) только после того, как ``handle_events`` закончился без ошибки (то есть
    результат записан); зависшие у упавшей реплики сообщения забираются XAUTOCLAIM. Событие может прийти
    повторно — обработчик дедуплицирует по ``id`` события. Группы независимы: вебхуки и аудит читают один
    поток каждый своей группой и не мешают друг другу.
    """

    def __init__(self, redis_url: str, namespace: str, group: str, *, name: str) -> None:
        self.stream = events_stream(namespace)
        self.group = group
        self.name = name
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        # отдельное соединение: XREADGROUP блокируется, ему нужен свой тайм-аут сокета
        self.redis = make_redis(redis_url, socket_timeout=15, socket_connect_timeout=3)
        self.block_ms = 1000
        self.claim_idle_ms = 60_000
        # Пауза после неполной пачки: за неё копится следующая. Разбор пачки (XREADGROUP, сессия, запрос,
        # XACK) стоит одинаково при 10 и при 50 событиях: при 230 загрузках/с 50 мс давали 0,54 мс CPU admin
        # на загрузку, 250 мс — 0,21 мс (fleet-замер, bench/README, сессия 12). Первое событие после затишья
        # не ждёт (XREADGROUP отдаёт его сразу), остальные — не дольше паузы.
        self.batch_pause = 0.25
        self.batch_size = 100
        self._had_group = False
        self._tasks: list[asyncio.Task[None]] = []

    @abc.abstractmethod
    async def handle_events(self, events: list[dict[str, Any]]) -> None:
        """Обработать разобранные события пачки; исключение — пачка не подтверждается и придёт снова."""

    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._consume_loop(), name=f"{self.name}-consumer"))

    async def stop(self) -> None:
        for task in self._tasks:
            await stop_task(task)
        self._tasks = []
        with contextlib.suppress(Exception):
            await self.redis.aclose()

    async def ensure_group(self) -> None:
        # Первый запуск — с конца потока (история до нас не наша). Группа, которую этот процесс уже читал,
        # пропала — Redis потерял данные (перезапуск без AOF), а ретранслятор outbox мог уже дописать в новый
        # поток накопленные события: «$» их пропустил бы. Такую группу — с начала потока; повторы отсеет id.
        start = "0" if self._had_group else "$"
        try:
            await self.redis.xgroup_create(self.stream, self.group, id=start, mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._had_group = True

    async def _consume_loop(self) -> None:
        last_claim = 0.0
        group_ready = False
        while True:
            try:
                if not group_ready:
                    await self.ensure_group()
                    group_ready = True
                if time.monotonic() - last_claim > self.claim_idle_ms / 1000:
                    last_claim = time.monotonic()
                    await self.claim_stale()
                resp: Any = await self.redis.xreadgroup(self.group, self.consumer, {self.stream: ">"},
                                                        count=self.batch_size, block=self.block_ms)
                for _stream, messages in resp or []:
                    await self.handle_messages(messages)
                got = sum(len(messages) for _stream, messages in resp or [])
                if 0 < got < self.batch_size:
                    # под нагрузкой события идут потоком, и без паузы каждая пачка — одно событие со своей
                    # транзакцией; за паузу копится пачка. Полная пачка — отставание: читаем без паузы.
                    await asyncio.sleep(self.batch_pause)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                group_ready = False
                _log.warning("%s: поток событий недоступен: %s; повтор через 2 с", self.name, exc)
                await asyncio.sleep(2)
            except Exception:
                _log.exception("%s: обработка событий упала", self.name)
                await asyncio.sleep(2)

    async def claim_stale(self) -> None:
        """Сообщения, которые другая (упавшая) реплика прочитала, но не подтвердила."""
        start = "0-0"
        while True:
            result: Any = await self.redis.xautoclaim(self.stream, self.group, self.consumer, self.claim_idle_ms,
                                                      start_id=start, count=100)
            start, messages = result[0], result[1]
            if messages:
                _log.info("%s: забрано %d зависших событий", self.name, len(messages))
                await self.handle_messages(messages)
            if not messages or start in (b"0-0", "0-0"):
                return

    async def handle_messages(self, messages: list[tuple[Any, dict[Any, Any]]]) -> None:
        ids = []
        events: list[dict[str, Any]] = []
        for msg_id, fields in messages:
            ids.append(msg_id)
            if not fields:  # запись потока удалена (XTRIM), а в списке ожидающих осталась
                continue
            raw = fields.get(b"event") or fields.get("event")
            try:
                event = json.loads(raw or b"")
                if not isinstance(event, dict) or not isinstance(event.get("id"), str) or "type" not in event:
                    raise ValueError("не событие")
                events.append(event)
            except (TypeError, ValueError):
                _log.error("%s: событие %s в потоке не разобрано — пропущено", self.name, msg_id)
        if events:
            await self.handle_events(events)
        # подтверждаем только после обработки: упади мы раньше — событие перечитается
        if ids:
            await self.redis.xack(self.stream, self.group, *ids)
