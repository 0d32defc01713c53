"""Проверка учётных данных клиента (client credentials): bcrypt, кэш успешных проверок, защита от подбора."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from artstore_common import AuthOutcome

from ..accounts import repository as accounts
from ..db import ServiceAccount
from ..security import check_secret, hash_secret
from ..settings import Settings

_log = logging.getLogger("admin_module.auth")


@dataclass
class ClientAuthFailure(Exception):
    """Отказ с кодом RFC 6749 §5.2 и причиной для аудита (клиенту причина не раскрывается)."""

    error: str
    description: str
    reason: AuthOutcome
    status: int = 401
    retry_after: int | None = None


class VerificationCache:
    """Помнит HMAC успешно проверенного секрета несколько минут: повторный запрос токена не жжёт bcrypt.

    Ключ HMAC живёт только в памяти процесса; в запись входит хэш секрета из БД — после ротации
    секрета (на любой реплике) старая запись перестаёт совпадать сразу.
    """

    def __init__(self, ttl: float, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._key = secrets.token_bytes(32)
        self._entries: dict[str, tuple[bytes, float]] = {}

    def _digest(self, account: ServiceAccount, secret: str) -> bytes:
        msg = f"{account.id}\0{account.secret_hash}\0{secret}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).digest()

    def hit(self, account: ServiceAccount, secret: str) -> bool:
        entry = self._entries.get(account.id)
        if entry is None or entry[1] < time.monotonic():
            return False
        return hmac.compare_digest(entry[0], self._digest(account, secret))

    def remember(self, account: ServiceAccount, secret: str) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[account.id] = (self._digest(account, secret), time.monotonic() + self.ttl)


class Throttle:
    """Счётчик неудач на пару (ключ, IP) в Redis; без Redis — не блокирует (вход важнее защиты)."""

    def __init__(self, redis: aioredis.Redis, namespace: str, attempts: int, window: int) -> None:
        self.redis = redis
        self.namespace = namespace
        self.attempts = attempts
        self.window = window

    def _key(self, kind: str, subject: str, ip: str | None) -> str:
        digest = hashlib.sha256(f"{subject}\0{ip}".encode()).hexdigest()[:32]
        return f"{self.namespace}:throttle:{kind}:{digest}"

    async def retry_after(self, kind: str, subject: str, ip: str | None) -> int | None:
        key = self._key(kind, subject, ip)
        try:
            count = await self.redis.get(key)
            if count is None or int(count) < self.attempts:
                return None
            ttl = await self.redis.ttl(key)
        except (RedisError, OSError) as exc:
            _log.warning("счётчик подбора недоступен (%s): проверка без ограничения", exc)
            return None
        return max(1, int(ttl)) if ttl and ttl > 0 else self.window

    async def failure(self, kind: str, subject: str, ip: str | None) -> None:
        key = self._key(kind, subject, ip)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, self.window, nx=True)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            _log.warning("счётчик подбора недоступен: %s", exc)

    async def success(self, kind: str, subject: str, ip: str | None) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self.redis.delete(self._key(kind, subject, ip))


class ClientAuthenticator:
    def __init__(self, settings: Settings, throttle: Throttle, cache: VerificationCache) -> None:
        self.settings = settings
        self.throttle = throttle
        self.cache = cache

    async def authenticate(self, session: AsyncSession, client_id: str, secret: str, ip: str | None) -> ServiceAccount:
        account = await accounts.by_client_id(session, client_id)
        if account is not None and self.cache.hit(account, secret):
            # секрет уже проверен bcrypt (а хэш в БД тот же): подбором это быть не может — без Redis
            return self._usable(account)
        retry = await self.throttle.retry_after("client", client_id, ip)
        if retry is not None:
            raise ClientAuthFailure("slow_down", f"слишком много неудачных попыток; повторите через {retry} с",
                                    AuthOutcome.THROTTLED, status=429, retry_after=retry)
        ok = False
        if account is not None:
            if await asyncio.to_thread(check_secret, secret, account.secret_hash):
                ok = True
                self.cache.remember(account, secret)
        else:
            # одинаковое время ответа для несуществующего client_id: не подсказываем, какие есть
            await asyncio.to_thread(check_secret, secret, _dummy_hash(self.settings.bcrypt_rounds))
        if account is None or not ok:
            await self.throttle.failure("client", client_id, ip)
            raise ClientAuthFailure("invalid_client", "неверный client_id или client_secret",
                                    AuthOutcome.BAD_CREDENTIALS)
        await self.throttle.success("client", client_id, ip)
        return self._usable(account)

    @staticmethod
    def _usable(account: ServiceAccount) -> ServiceAccount:
        if account.status != "active":
            raise ClientAuthFailure("invalid_client", "сервисный аккаунт приостановлен", AuthOutcome.SUSPENDED)
        if account.secret_expires_at is not None and account.secret_expires_at <= datetime.now(UTC):
            raise ClientAuthFailure(
                "invalid_client", "срок действия секрета истёк; администратор должен выпустить новый (rotate-secret)",
                AuthOutcome.SECRET_EXPIRED)
        return account


@functools.lru_cache(maxsize=4)
def _dummy_hash(rounds: int) -> str:
    # Хэш случайной строки той же стоимости: ответ по несуществующему client_id не быстрее настоящего.
    return hash_secret(secrets.token_urlsafe(16), rounds)
