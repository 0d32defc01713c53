"""Ключи подписи RS256: выпуск токенов, JWKS, ротация с перекрытием, проверка собственных токенов.

Жизненный цикл ключа: ``next`` (уже в JWKS — все сервисы успевают его узнать) → ``active`` (подписывает)
→ ``retired`` (только в JWKS, пока жив последний подписанный им токен) → удалён.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from artstore_common import JWKSVerifier, Role, TokenGrant, session_scope, xact_lock

from ..auth.scopes import scope_string
from ..db import JwtKey
from ..metrics import AdminMetrics
from ..security import SecretBox
from ..settings import Settings
from . import repository

_log = logging.getLogger("admin_module.keys")
ALGORITHM = "RS256"
KEYS_LOCK = "admin-module:jwt-keys"


def _now() -> datetime:
    return datetime.now(UTC)


def published_jwk(jwk: dict[str, Any]) -> dict[str, Any]:
    """Ключ для JWKS: ``use: sig`` без ``key_ops`` — вместе их ставить не следует (RFC 7517 §4.3).

    PyJWT кладёт ``key_ops``, и ключи, созданные до этого правила, хранят его в БД: убирается при отдаче.
    """
    return {k: v for k, v in jwk.items() if k != "key_ops"}


def new_key(box: SecretBox, status: str, key_size: int) -> JwtKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    kid = f"{datetime.now(UTC):%Y%m%d}-{uuid.uuid4().hex[:12]}"
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    jwk = published_jwk(json.loads(RSAAlgorithm.to_jwk(private.public_key())))
    jwk.update({"kid": kid, "alg": ALGORITHM, "use": "sig"})
    now = _now()
    return JwtKey(kid=kid, status=status, algorithm=ALGORITHM, private_key_enc=box.encrypt(pem), public_jwk=jwk,
                  created_at=now, activated_at=now if status == "active" else None)


class KeyManager:
    """Подпись токенов активным ключом; кэш ключа короткий — ротацию на другой реплике видно за секунды."""

    def __init__(self, settings: Settings, box: SecretBox, maker: async_sessionmaker[AsyncSession],
                 metrics: AdminMetrics) -> None:
        self.settings = settings
        self.box = box
        self.maker = maker
        self._signing: tuple[float, str, Any, datetime] | None = None
        self.tokens_issued = metrics.tokens_issued
        metrics.key_age.set_function(self._key_age)

    def _key_age(self) -> float:
        if self._signing is None:
            return 0.0
        return max(0.0, (_now() - self._signing[3]).total_seconds())

    def invalidate(self) -> None:
        self._signing = None

    async def _signing_key(self) -> tuple[str, Any]:
        cached = self._signing
        if cached is not None and cached[0] > time.monotonic():
            return cached[1], cached[2]
        async with session_scope(self.maker) as session:
            key = await repository.active(session)
        if key is None:
            raise RuntimeError("нет активного ключа подписи JWT (ротация ещё не создала ключ)")
        private = serialization.load_pem_private_key(self.box.decrypt(key.private_key_enc), password=None)
        self._signing = (time.monotonic() + 5.0, key.kid, private, key.activated_at or key.created_at)
        return key.kid, private

    async def issue(self, *, subject: str, role: str, name: str, grant: TokenGrant, client_id: str | None = None,
                    extra: dict[str, Any] | None = None, ttl: int | None = None) -> tuple[str, int]:
        kid, private = await self._signing_key()
        now = int(time.time())
        # Дольше обычного нельзя: на это рассчитан срок публикации выведенного ключа в JWKS.
        ttl = min(ttl, self.settings.token_ttl_seconds) if ttl else self.settings.token_ttl_seconds
        claims: dict[str, Any] = {
            "iss": self.settings.jwt_issuer, "aud": self.settings.jwt_audience, "sub": subject, "role": role,
            "scope": scope_string(Role(role)), "name": name, "jti": uuid.uuid4().hex, "iat": now, "nbf": now,
            "exp": now + ttl,
        }
        if client_id is not None:
            claims["client_id"] = client_id
        claims.update(extra or {})
        token = jwt.encode(claims, private, algorithm=ALGORITHM, headers={"kid": kid, "typ": "at+jwt"})
        self.tokens_issued.labels(grant).inc()
        return token, ttl

    async def jwks(self) -> dict[str, Any]:
        async with session_scope(self.maker) as session:
            keys = await repository.all_keys(session)
        return {"keys": [published_jwk(k.public_jwk) for k in keys]}

    # --- ротация ------------------------------------------------------------------------------------
    async def ensure_keys(self, session: AsyncSession) -> None:
        """Есть активный и следующий ключ (первый запуск или ключи удалили)."""
        # Ручная ротация и задача на другой реплике не должны ротировать одновременно.
        await xact_lock(session, KEYS_LOCK)
        if await repository.active(session) is None:
            pending = await repository.by_status(session, "next")
            if pending:
                pending[-1].status = "active"
                pending[-1].activated_at = _now()
            else:
                repository.add(session, new_key(self.box, "active", self.settings.key_size))
        if not await repository.by_status(session, "next"):
            repository.add(session, new_key(self.box, "next", self.settings.key_size))
        await session.flush()

    async def rotate(self, session: AsyncSession) -> tuple[str, str, str | None]:
        """next → active, active → retired (до истечения последнего токена + запас), новый next."""
        await self.ensure_keys(session)
        current = await repository.active(session)
        nxt = (await repository.by_status(session, "next"))[-1]
        now = _now()
        retired_kid = None
        if current is not None:
            current.status = "retired"
            current.retired_at = now
            current.remove_after = now + timedelta(
                seconds=self.settings.token_ttl_seconds + self.settings.key_retire_margin_seconds)
            retired_kid = current.kid
        nxt.status = "active"
        nxt.activated_at = now
        fresh = new_key(self.box, "next", self.settings.key_size)
        repository.add(session, fresh)
        await session.flush()
        self.invalidate()
        _log.info("ротация ключей JWT: активен %s, следующий %s, выведен %s", nxt.kid, fresh.kid, retired_kid)
        return nxt.kid, fresh.kid, retired_kid

    async def rotation_due(self, session: AsyncSession) -> bool:
        current = await repository.active(session)
        if current is None:
            return True
        started = current.activated_at or current.created_at
        return _now() - started >= timedelta(hours=self.settings.key_rotation_hours)

    async def tick(self, session: AsyncSession) -> dict[str, Any]:
        """Шаг задачи ротации (выполняет один лидер): при необходимости ротирует и чистит старые ключи."""
        await self.ensure_keys(session)
        result: dict[str, Any] = {}
        if await self.rotation_due(session):
            active, nxt, retired = await self.rotate(session)
            result = {"rotated": True, "active_kid": active, "next_kid": nxt, "retired_kid": retired}
        removed = await repository.delete_expired(session, _now())
        if removed:
            _log.info("удалены выведенные ключи JWT: %s", ", ".join(removed))
            result["removed"] = removed
        return result


class LocalKeyVerifier(JWKSVerifier):
    """Те же проверки, что у сервисов (RS256, kid, iss, aud, exp), но ключи — прямо из своей БД."""

    def __init__(self, maker: async_sessionmaker[AsyncSession], issuer: str, audience: str) -> None:
        super().__init__("db://jwt_keys", issuer, audience, min_refresh_interval=1.0)
        self.maker = maker

    async def refresh(self) -> None:
        try:
            async with session_scope(self.maker) as session:
                keys = await repository.all_keys(session)
        except (SQLAlchemyError, OSError) as exc:
            # ValueError базовый класс ловит и журналирует — токен получит 401, а не 500
            raise ValueError(f"ключи не прочитаны из БД: {exc}") from exc
        self._keys = {k.kid: RSAAlgorithm.from_jwk(k.public_jwk) for k in keys}
        self._last_fetch = time.monotonic()
        self.fetches += 1
