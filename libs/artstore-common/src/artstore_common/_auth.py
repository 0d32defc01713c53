"""Проверка JWT по JWKS администратора: только RS256, поиск ключа по ``kid``, проверка exp/iss/aud.

Неизвестный ``kid`` вызывает перечитывание JWKS не чаще ``min_refresh_interval`` — так ротация ключей
подхватывается сразу, а поток поддельных токенов не превращается в поток запросов к admin-module.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx
import jwt
from fastapi import Depends, Request
from jwt.algorithms import RSAAlgorithm

from ._errors import ProblemError
from ._labels import Outcome
from ._state import service_state

_log = logging.getLogger("artstore.auth")
ALGORITHM = "RS256"


class Role(enum.StrEnum):
    ADMIN = "ADMIN"
    USER = "USER"
    AUDITOR = "AUDITOR"
    READONLY = "READONLY"


# Словарь scope токена (RFC 6749 §3.3): роль и все роли, чьи права в неё входят. Выдаёт admin-module,
# проверяет каждый сервис; сужение scope при выдаче токена — это выбор меньшей роли.
ROLE_SCOPES: dict[Role, frozenset[str]] = {
    Role.ADMIN: frozenset({"admin", "user", "auditor", "readonly"}),
    Role.USER: frozenset({"user", "readonly"}),
    Role.AUDITOR: frozenset({"auditor", "readonly"}),
    Role.READONLY: frozenset({"readonly"}),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """Кто делает запрос: сервисный аккаунт или человек из admin-ui."""

    subject: str
    client_id: str | None
    role: Role
    name: str
    token_id: str | None
    claims: dict[str, Any] = field(repr=False)

    @property
    def username(self) -> str:
        return self.name or self.client_id or self.subject


class AuthError(ProblemError):
    def __init__(self, detail: str, error: str = "invalid_token") -> None:
        super().__init__(
            401, "unauthorized", detail,
            # Заголовок — только ASCII (latin-1 в HTTP); человеческое сообщение — в теле problem+json.
            headers={"WWW-Authenticate": f'Bearer realm="artstore", error="{error}"' if error
                     else 'Bearer realm="artstore"'},
        )


class JWKSVerifier:
    """Кэш публичных ключей из JWKS и проверка токенов."""

    def __init__(
        self,
        jwks_url: str,
        issuer: str,
        audience: str,
        *,
        min_refresh_interval: float = 10.0,
        max_key_age: float = 300.0,
        leeway: float = 5.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.jwks_url = jwks_url
        self.issuer = issuer
        self.audience = audience
        self.min_refresh_interval = min_refresh_interval
        # JWKS перечитывается и без неизвестного kid: ключ, отозванный в admin, перестаёт действовать
        self.max_key_age = max_key_age
        self.leeway = leeway
        self._background: asyncio.Task[None] | None = None
        self._keys: dict[str, Any] = {}
        self._last_fetch = 0.0
        self._lock = asyncio.Lock()
        self._http = http or httpx.AsyncClient(timeout=5.0)
        self._own_http = http is None
        self.fetches = 0
        # Проверенные токены: подпись RSA не пересчитывается на каждом запросе того же клиента.
        self._verified: dict[str, tuple[float, str, Principal]] = {}

    async def close(self) -> None:
        if self._background is not None and not self._background.done():
            self._background.cancel()
        if self._own_http:
            await self._http.aclose()

    async def refresh(self) -> None:
        resp = await self._http.get(self.jwks_url)
        resp.raise_for_status()
        keys: dict[str, Any] = {}
        for jwk in resp.json().get("keys", []):
            if jwk.get("kty") != "RSA" or not jwk.get("kid") or jwk.get("alg", ALGORITHM) != ALGORITHM:
                continue
            try:
                keys[jwk["kid"]] = RSAAlgorithm.from_jwk(jwk)
            except (jwt.PyJWTError, ValueError, TypeError) as exc:  # один битый ключ не ломает остальные
                _log.warning("ключ %s в JWKS пропущен: %s", jwk.get("kid"), exc)
        self._keys = keys
        self._last_fetch = time.monotonic()
        self.fetches += 1

    async def _key_for(self, kid: str) -> Any:
        key = self._keys.get(kid)
        if key is not None:
            return key
        async with self._lock:
            key = self._keys.get(kid)
            if key is None and time.monotonic() - self._last_fetch >= self.min_refresh_interval:
                try:
                    await self.refresh()
                except (httpx.HTTPError, ValueError) as exc:
                    _log.warning("не удалось обновить JWKS с %s: %s", self.jwks_url, exc)
                    self._last_fetch = time.monotonic()
                key = self._keys.get(kid)
        if key is None:
            raise AuthError("токен подписан неизвестным ключом (kid)")
        return key

    async def _refresh_quietly(self) -> None:
        async with self._lock:
            try:
                await self.refresh()
            except (httpx.HTTPError, ValueError) as exc:
                _log.warning("не удалось обновить JWKS с %s: %s", self.jwks_url, exc)
                self._last_fetch = time.monotonic()

    async def verify(self, token: str) -> Principal:
        if self._keys and time.monotonic() - self._last_fetch > self.max_key_age and (
                self._background is None or self._background.done()):
            self._background = asyncio.create_task(self._refresh_quietly())
        cached = self._verified.get(token)
        if cached is not None:
            # ключ мог исчезнуть из JWKS (отзыв) — тогда токен проверяется заново и будет отвергнут
            if cached[0] > time.time() and cached[1] in self._keys:
                return cached[2]
            self._verified.pop(token, None)
        principal, kid = await self._verify(token)
        if len(self._verified) >= 10_000:
            self._verified.clear()
        self._verified[token] = (float(principal.claims["exp"]), kid, principal)
        return principal

    async def _verify(self, token: str) -> tuple[Principal, str]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthError("токен не разобран: это не JWT") from exc
        if header.get("alg") != ALGORITHM:
            raise AuthError("допускаются только токены RS256")
        kid = header.get("kid")
        if not kid:
            raise AuthError("в заголовке токена нет kid")
        key = await self._key_for(str(kid))
        try:
            claims = jwt.decode(
                token, key, algorithms=[ALGORITHM], audience=self.audience, issuer=self.issuer,
                leeway=self.leeway, options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("срок действия токена истёк; получите новый в /api/v1/auth/token") from exc
        except jwt.InvalidAudienceError as exc:
            raise AuthError("токен выпущен для другой аудитории (aud)") from exc
        except jwt.InvalidIssuerError as exc:
            raise AuthError("токен выпущен другим издателем (iss)") from exc
        except jwt.PyJWTError as exc:
            raise AuthError(f"токен недействителен: {exc}") from exc
        try:
            role = Role(claims.get("role", ""))
        except ValueError as exc:
            raise AuthError("в токене нет допустимой роли") from exc
        scope = claims.get("scope")
        if scope is not None and (not isinstance(scope, str) or frozenset(scope.split()) != ROLE_SCOPES[role]):
            # Роль решает проверки доступа; scope, не совпадающий с ней, — выпуск не нашим admin или подделка.
            raise AuthError(f"scope токена не соответствует роли {role.value}")
        principal = Principal(
            subject=str(claims["sub"]), client_id=claims.get("client_id"), role=role,
            name=str(claims.get("name") or ""), token_id=claims.get("jti"), claims=claims,
        )
        return principal, str(kid)


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise AuthError("нужен заголовок Authorization: Bearer <токен>", error="")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("ожидается схема Bearer", error="invalid_request")
    return token.strip()


async def current_principal(request: Request) -> Principal:
    """Зависимость: любой действительный токен."""
    state = service_state(request.app)
    metrics = state.http_metrics
    try:
        principal = await state.token_verifier().verify(_bearer(request))
    except AuthError:
        metrics.token_verifications.labels(Outcome.FAILURE).inc()
        raise
    metrics.token_verifications.labels(Outcome.SUCCESS).inc()
    request.state.principal = principal
    return principal


def check_role(principal: Principal, allowed: frozenset[Role]) -> Principal:
    """403 с понятной причиной, если роли токена нет среди разрешённых."""
    if principal.role not in allowed:
        raise ProblemError(
            403, "forbidden",
            f"роль {principal.role.value} не может выполнить это действие; нужна одна из: "
            + ", ".join(sorted(r.value for r in allowed)),
        )
    return principal


async def authorize(request: Request, allowed: frozenset[Role] | None = None) -> Principal:
    """То же, что зависимости ``CurrentPrincipal``/``require_roles``, для маршрутов без FastAPI (FastRoutes)."""
    principal = await current_principal(request)
    return principal if allowed is None else check_role(principal, allowed)


def roles(*names: Role | str) -> frozenset[Role]:
    return frozenset(Role(r) for r in names)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*names: Role | str) -> Any:
    """Зависимость: токен с одной из ролей; иначе 403 с понятной причиной."""
    allowed = roles(*names)

    async def dependency(principal: CurrentPrincipal) -> Principal:
        return check_role(principal, allowed)

    return Depends(dependency)


class ServiceTokenProvider:
    """Токен сервисного аккаунта для вызовов между сервисами; обновляется до истечения."""

    def __init__(self, token_url: str, client_id: str, client_secret: str, *, http: httpx.AsyncClient | None = None,
                 refresh_margin: float = 60.0) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_margin = refresh_margin
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self._http = http or httpx.AsyncClient(timeout=10.0)
        self._own_http = http is None

    async def close(self) -> None:
        if self._own_http:
            await self._http.aclose()

    def invalidate(self) -> None:
        self._token = None

    async def token(self) -> str:
        if self._token and time.monotonic() < self._expires_at - self.refresh_margin:
            return self._token
        async with self._lock:
            if self._token and time.monotonic() < self._expires_at - self.refresh_margin:
                return self._token
            resp = await self._http.post(
                self.token_url,
                data={"grant_type": "client_credentials"},
                auth=(self.client_id, self.client_secret),
            )
            if resp.status_code != 200:
                raise ProblemError(
                    503, "service_auth_failed",
                    f"сервис не получил токен в {self.token_url}: HTTP {resp.status_code}",
                )
            body = resp.json()
            self._token = body["access_token"]
            self._expires_at = time.monotonic() + float(body.get("expires_in", 1800))
            return self._token

    async def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.token()}"}
