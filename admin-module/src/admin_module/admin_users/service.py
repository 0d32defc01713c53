"""Пользователи admin-ui: вход по паролю (+TOTP), refresh-токены с ротацией, политика паролей, блокировка."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import uuid
from datetime import UTC, datetime, timedelta

import pyotp
import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from artstore_common import AuthMethod, AuthOutcome, Principal, ProblemError, Role, TokenGrant, session_scope

from ..audit import service as audit
from ..db import AdminUser, RefreshToken
from ..deps import PWD_CHANGE_CLAIM, Actor
from ..keys.service import KeyManager
from ..metrics import AdminMetrics
from ..security import SecretBox, check_secret, hash_secret, sha256_hex
from ..settings import Settings
from . import repository
from .schemas import AdminUserCreate, AdminUserOut, AdminUserUpdate, LoginRequest, LoginResponse, MeOut

TOTP_ISSUER = "ArtStore"
_log = logging.getLogger("admin_module.admin_users")


def _now() -> datetime:
    return datetime.now(UTC)


def _accept_totp(user: AdminUser, secret: str, code: str) -> bool:
    """Код текущего или соседнего шага (±30 с на рассинхрон часов), но не старше уже принятого.

    Без памяти о шаге подсмотренный или перехваченный код годился бы ещё до полутора минут (RFC 6238 §5.2).
    Строку пользователя вызывающий держит под FOR UPDATE — два одновременных входа одним кодом не пройдут оба.
    """
    totp = pyotp.TOTP(secret)
    code = code.strip().replace(" ", "")
    now = _now()
    for offset in (-1, 0, 1):
        at = now + timedelta(seconds=offset * totp.interval)
        if hmac.compare_digest(totp.at(at), code):
            step = totp.timecode(at)
            if user.totp_last_step is not None and step <= user.totp_last_step:
                return False
            user.totp_last_step = step
            return True
    return False


def password_expires_at(user: AdminUser, settings: Settings) -> datetime | None:
    if settings.password_max_age_days <= 0:
        return None
    return user.password_changed_at + timedelta(days=settings.password_max_age_days)


def must_change(user: AdminUser, settings: Settings) -> bool:
    expires = password_expires_at(user, settings)
    return expires is not None and expires <= _now()


def to_out(user: AdminUser, settings: Settings) -> AdminUserOut:
    return AdminUserOut(
        id=user.id, username=user.username, role=Role(user.role), is_active=user.is_active, is_system=user.is_system,
        totp_enabled=user.totp_enabled, failed_attempts=user.failed_attempts, locked_until=user.locked_until,
        password_changed_at=user.password_changed_at, password_expires_at=password_expires_at(user, settings),
        must_change_password=must_change(user, settings), last_login_at=user.last_login_at,
        created_at=user.created_at, updated_at=user.updated_at,
    )


def check_policy(password: str, username: str, settings: Settings) -> None:
    problems = []
    if len(password) < settings.password_min_length:
        problems.append(f"не короче {settings.password_min_length} символов")
    if username and username.lower() in password.lower():
        problems.append("не содержать имя пользователя")
    if len(set(password)) < 5:
        problems.append("не состоять из повторов нескольких символов")
    if problems:
        raise ProblemError(422, "weak_password", "Пароль должен " + ", ".join(problems))


async def _hash(password: str, settings: Settings) -> str:
    return await asyncio.to_thread(hash_secret, password, settings.bcrypt_rounds)


async def _check(password: str, hashed: str) -> bool:
    return await asyncio.to_thread(check_secret, password, hashed)


async def create_user(session: AsyncSession, settings: Settings, data: AdminUserCreate, *,
                      is_system: bool = False, force_change: bool = False, enforce_policy: bool = True) -> AdminUser:
    if enforce_policy:
        check_policy(data.password, data.username, settings)
    if await repository.by_username(session, data.username) is not None:
        raise ProblemError(409, "admin_user_exists", f"пользователь {data.username!r} уже есть")
    now = _now()
    changed = now - timedelta(days=settings.password_max_age_days) if force_change else now
    user = AdminUser(
        id=str(uuid.uuid4()), username=data.username, password_hash=await _hash(data.password, settings),
        role=data.role.value, is_active=data.is_active, is_system=is_system, totp_enabled=False, failed_attempts=0,
        password_changed_at=changed, created_at=now, updated_at=now,
    )
    repository.add(session, user)
    await session.flush()
    return user


# --- вход ---------------------------------------------------------------------------------------------
class PhantomLockout:
    """Блокировка входа для несуществующих имён — тот же порог и срок, что у настоящих пользователей.

    Иначе 429 account_locked выдавал бы, что имя существует: настоящий пользователь после N неудач
    блокируется, а выдуманное имя отвечало бы 401 бесконечно. Счётчик живёт в Redis (строк в БД под
    произвольные имена не заводим) и забывается через COUNTER_TTL без неудач; без Redis — просто 401.
    """

    COUNTER_TTL = 7 * 24 * 3600

    def __init__(self, redis: aioredis.Redis, namespace: str, threshold: int, minutes: int) -> None:
        self.redis = redis
        self.namespace = namespace
        self.threshold = threshold
        self.lock_ms = minutes * 60_000

    def _key(self, kind: str, username: str) -> str:
        digest = hashlib.sha256(username.lower().encode()).hexdigest()[:32]
        return f"{self.namespace}:admin-login:{kind}:{digest}"

    async def locked_for(self, username: str) -> float | None:
        """Сколько секунд ещё действует блокировка; None — не заблокировано."""
        try:
            left = int(await self.redis.pttl(self._key("locked", username)))
        except (RedisError, OSError) as exc:
            _log.warning("счётчик неудачных входов недоступен: %s", exc)
            return None
        return left / 1000 if left > 0 else None

    async def failure(self, username: str) -> bool:
        """Учесть неудачу; True — порог достигнут, блокировка включена (счётчик сброшен, как у пользователя)."""
        counter = self._key("failures", username)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.incr(counter)
                pipe.expire(counter, self.COUNTER_TTL)
                count, _ = await pipe.execute()
            if int(count) < self.threshold:
                return False
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.set(self._key("locked", username), "1", px=self.lock_ms)
                pipe.delete(counter)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            _log.warning("счётчик неудачных входов недоступен: %s", exc)
            return False
        return True


# Причина отказа в аудите подробнее, чем метка метрики: выдуманное имя и неверный пароль для
# Prometheus одно и то же (подбор), а блокировка входа — тот же отказ ограничителя, что и у токенов.
_LOGIN_OUTCOME = {
    "unknown_user": AuthOutcome.BAD_CREDENTIALS, "bad_password": AuthOutcome.BAD_CREDENTIALS,
    "unknown_user_locked": AuthOutcome.THROTTLED, "locked": AuthOutcome.THROTTLED,
    "disabled": AuthOutcome.SUSPENDED, "totp_required": AuthOutcome.TOTP_REQUIRED,
    "invalid_totp": AuthOutcome.INVALID_TOTP,
}
_REFRESH_OUTCOME = {
    "unknown": AuthOutcome.BAD_CREDENTIALS, "reused": AuthOutcome.REUSED, "expired": AuthOutcome.EXPIRED,
    "disabled": AuthOutcome.SUSPENDED,
}


class LoginService:
    def __init__(self, settings: Settings, maker: async_sessionmaker[AsyncSession], keys: KeyManager,
                 box: SecretBox, redis: aioredis.Redis, metrics: AdminMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.maker = maker
        self.keys = keys
        self.box = box
        self.phantom = PhantomLockout(redis, settings.redis_namespace, settings.lockout_threshold,
                                      settings.lockout_minutes)
        self._dummy = hash_secret(secrets.token_urlsafe(8), settings.bcrypt_rounds)

    async def _issue(self, session: AsyncSession, user: AdminUser) -> LoginResponse:
        forced = must_change(user, self.settings)
        extra: dict[str, object] = {"kind": "user"}
        ttl = None
        if forced:
            # Флаг в ответе — лишь подсказка UI; сервер ограничивает сам токен: с этим claim admin-module пускает
            # только на /admin-auth/me и /admin-auth/change-password (deps.FullPrincipal), а жизнь токена короткая.
            extra[PWD_CHANGE_CLAIM] = True
            ttl = self.settings.password_change_token_ttl_seconds
        token, ttl = await self.keys.issue(subject=user.id, role=user.role, name=user.username,
                                           grant=TokenGrant.PASSWORD, extra=extra, ttl=ttl)
        raw = secrets.token_urlsafe(48)
        now = _now()
        repository.add(session, RefreshToken(
            id=str(uuid.uuid4()), user_id=user.id, token_hash=sha256_hex(raw), created_at=now,
            expires_at=now + timedelta(days=self.settings.refresh_token_days)))
        return LoginResponse(access_token=token, refresh_token=raw, expires_in=ttl, must_change_password=forced,
                             password_expires_at=password_expires_at(user, self.settings))

    def _totp_ok(self, user: AdminUser, code: str) -> bool:
        if user.totp_secret_enc is None:
            return False
        return _accept_totp(user, self.box.decrypt(user.totp_secret_enc).decode(), code)

    async def login(self, req: LoginRequest, ip: str | None) -> LoginResponse:
        """Своя транзакция: счётчик неудач и запись аудита сохраняются и при отказе."""
        error: ProblemError | None = None
        result: LoginResponse | None = None
        async with session_scope(self.maker) as session:
            user = await repository.by_username(session, req.username, for_update=True)
            actor = Actor("user", user.id if user else None, req.username, ip)
            now = _now()
            reason = None
            if user is None:
                # Ответы для выдуманного имени неотличимы от настоящего: тот же bcrypt, тот же счётчик и 429.
                left = await self.phantom.locked_for(req.username)
                if left is not None:
                    reason = "unknown_user_locked"
                    error = self._locked(left)
                else:
                    await _check(req.password, self._dummy)
                    reason = "unknown_user"
                    error = (self._lockout() if await self.phantom.failure(req.username)
                             else ProblemError(401, "invalid_credentials", "неверное имя пользователя или пароль"))
            elif user.locked_until is not None and user.locked_until > now:
                reason = "locked"
                error = self._locked((user.locked_until - now).total_seconds())
            elif not await _check(req.password, user.password_hash):
                reason = "bad_password"
                error = self._failure(user, now)
            elif not user.is_active:
                reason = "disabled"
                error = ProblemError(403, "account_disabled", "учётная запись отключена администратором")
            elif user.totp_enabled and not req.totp_code:
                reason = "totp_required"
                error = ProblemError(401, "totp_required", "введите код из приложения-аутентификатора (totp_code)")
            elif user.totp_enabled and not self._totp_ok(user, req.totp_code or ""):
                reason = "invalid_totp"
                error = self._failure(user, now, code="invalid_totp", detail="неверный или устаревший код TOTP")
            else:
                user.failed_attempts = 0
                user.locked_until = None
                user.last_login_at = now
                result = await self._issue(session, user)
            await audit.record(session, actor, "auth.login", target_type="admin_user",
                               target_id=user.id if user else None,
                               outcome="success" if error is None else "failure",
                               details={"reason": reason} if reason else {})
        outcome = AuthOutcome.SUCCESS if reason is None else _LOGIN_OUTCOME[reason]
        self.metrics.auth_attempts.labels(AuthMethod.PASSWORD, outcome).inc()
        if error is not None:
            raise error
        assert result is not None
        return result

    def _locked(self, left_seconds: float) -> ProblemError:
        retry = int(left_seconds) + 1
        return ProblemError(429, "account_locked",
                            f"вход заблокирован после {self.settings.lockout_threshold} неудачных попыток; "
                            f"повторите через {retry // 60 + 1} мин "
                            "или попросите администратора снять блокировку",
                            headers={"Retry-After": str(retry)})

    def _lockout(self) -> ProblemError:
        return ProblemError(
            429, "account_locked",
            f"слишком много неудачных попыток: вход заблокирован на {self.settings.lockout_minutes} мин",
            headers={"Retry-After": str(self.settings.lockout_minutes * 60)})

    def _failure(self, user: AdminUser, now: datetime, *, code: str = "invalid_credentials",
                 detail: str = "неверное имя пользователя или пароль") -> ProblemError:
        user.failed_attempts += 1
        if user.failed_attempts >= self.settings.lockout_threshold:
            user.locked_until = now + timedelta(minutes=self.settings.lockout_minutes)
            user.failed_attempts = 0
            return self._lockout()
        return ProblemError(401, code, detail)

    async def refresh(self, raw: str, ip: str | None) -> LoginResponse:
        error: ProblemError | None = None
        result: LoginResponse | None = None
        async with session_scope(self.maker) as session:
            now = _now()
            row = await repository.refresh_by_hash(session, sha256_hex(raw))
            user = await repository.get(session, row.user_id) if row else None
            reason = None
            if row is None or user is None:
                reason = "unknown"
            elif row.revoked_at is not None:
                # повторное использование уже обменянного токена — вероятна кража: гасим все сессии
                reason = "reused"
                await repository.revoke_all_refresh(session, user.id, now)
            elif row.expires_at <= now:
                reason = "expired"
            elif not user.is_active:
                reason = "disabled"
            if reason is not None:
                error = ProblemError(401, "invalid_refresh_token",
                                     "refresh-токен недействителен или истёк; войдите заново",
                                     headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
                await audit.record(session, Actor("user", user.id if user else None,
                                                  user.username if user else None, ip),
                                   "auth.refresh", outcome="failure", details={"reason": reason})
            else:
                assert row is not None and user is not None
                row.revoked_at = now
                result = await self._issue(session, user)
                await audit.record(session, Actor("user", user.id, user.username, ip), "auth.refresh",
                                   target_type="admin_user", target_id=user.id)
        outcome = AuthOutcome.SUCCESS if reason is None else _REFRESH_OUTCOME[reason]
        self.metrics.auth_attempts.labels(AuthMethod.REFRESH, outcome).inc()
        if error is not None:
            raise error
        assert result is not None
        return result


# --- самообслуживание ------------------------------------------------------------------------------
def _user_id(principal: Principal) -> str:
    if principal.claims.get("kind") != "user":
        raise ProblemError(403, "not_a_user", "действие доступно только пользователям admin-ui, не сервисным аккаунтам")
    return principal.subject


async def me(session: AsyncSession, settings: Settings, principal: Principal) -> MeOut:
    if principal.claims.get("kind") != "user":
        return MeOut(id=principal.subject, username=principal.username, role=principal.role, kind="service_account")
    user = await repository.get(session, principal.subject)
    if user is None:
        raise ProblemError(404, "admin_user_not_found", "пользователь из токена удалён")
    return MeOut(id=user.id, username=user.username, role=Role(user.role), kind="user", is_active=user.is_active,
                 totp_enabled=user.totp_enabled, password_expires_at=password_expires_at(user, settings),
                 must_change_password=must_change(user, settings), last_login_at=user.last_login_at)


async def _own_user(session: AsyncSession, principal: Principal) -> AdminUser:
    user = await repository.get_for_update(session, _user_id(principal))
    if user is None:
        raise ProblemError(404, "admin_user_not_found", "пользователь из токена удалён")
    return user


async def change_password(session: AsyncSession, settings: Settings, principal: Principal, current: str,
                          new: str) -> AdminUser:
    user = await _own_user(session, principal)
    if not await _check(current, user.password_hash):
        raise ProblemError(400, "invalid_current_password", "текущий пароль указан неверно")
    if current == new:
        raise ProblemError(422, "weak_password", "новый пароль должен отличаться от текущего")
    check_policy(new, user.username, settings)
    user.password_hash = await _hash(new, settings)
    user.password_changed_at = _now()
    user.updated_at = _now()
    # Смена пароля — обычная реакция на подозрение в краже: украденные refresh-токены должны умереть вместе со
    # старым паролем, иначе вор продлевает сессию сколько угодно. Все сессии пользователя войдут заново.
    await repository.revoke_all_refresh(session, user.id, _now())
    return user


async def totp_enroll(session: AsyncSession, box: SecretBox, principal: Principal) -> tuple[str, str]:
    user = await _own_user(session, principal)
    if user.totp_enabled:
        raise ProblemError(409, "totp_already_enabled",
                           "TOTP уже включён; чтобы перевыпустить, попросите администратора сбросить его")
    secret = pyotp.random_base32()
    user.totp_secret_enc = box.encrypt(secret.encode())
    user.totp_last_step = None
    user.updated_at = _now()
    return secret, pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=TOTP_ISSUER)


async def totp_verify(session: AsyncSession, box: SecretBox, principal: Principal, code: str) -> AdminUser:
    user = await _own_user(session, principal)
    if user.totp_secret_enc is None:
        raise ProblemError(409, "totp_not_enrolled", "сначала POST /api/v1/admin-auth/totp/enroll")
    secret = box.decrypt(user.totp_secret_enc).decode()
    # код подтверждения тоже расходуется: его нельзя тут же повторить при входе
    if not _accept_totp(user, secret, code):
        raise ProblemError(400, "invalid_totp", "неверный код TOTP; проверьте время на устройстве")
    user.totp_enabled = True
    user.updated_at = _now()
    return user


# --- управление (ADMIN) ----------------------------------------------------------------------------
async def get_or_404(session: AsyncSession, user_id: str) -> AdminUser:
    user = await repository.get(session, user_id)
    if user is None:
        raise ProblemError(404, "admin_user_not_found", f"пользователь {user_id} не найден")
    return user


async def _ensure_admin_remains(session: AsyncSession, user: AdminUser) -> None:
    if user.role == Role.ADMIN.value and user.is_active and await repository.count_admins(session) <= 1:
        raise ProblemError(409, "last_admin", "это последний активный ADMIN: без него управлять флотом будет некому")


async def update_user(session: AsyncSession, settings: Settings, user: AdminUser, data: AdminUserUpdate,
                      actor_id: str | None) -> dict[str, object]:
    changes: dict[str, object] = {}
    demote = data.role is not None and data.role.value != user.role
    disable = data.is_active is False and user.is_active
    if demote or disable:
        if user.id == actor_id:
            raise ProblemError(409, "self_lockout", "нельзя понизить или отключить самого себя")
        await _ensure_admin_remains(session, user)
    if data.role is not None and data.role.value != user.role:
        changes["role"] = {"from": user.role, "to": data.role.value}
        user.role = data.role.value
    if data.is_active is not None and data.is_active != user.is_active:
        changes["is_active"] = {"from": user.is_active, "to": data.is_active}
        user.is_active = data.is_active
    if data.password is not None:
        check_policy(data.password, user.username, settings)
        user.password_hash = await _hash(data.password, settings)
        # пароль, заданный администратором, пользователь обязан сменить при входе
        user.password_changed_at = _now() - timedelta(days=settings.password_max_age_days)
        await repository.revoke_all_refresh(session, user.id, _now())
        changes["password"] = "reset"  # noqa: S105 — отметка для аудита
    if data.totp_enabled is False and (user.totp_enabled or user.totp_secret_enc is not None):
        user.totp_enabled = False
        user.totp_secret_enc = None
        user.totp_last_step = None
        changes["totp"] = "reset"
    elif data.totp_enabled is True and not user.totp_enabled:
        raise ProblemError(422, "totp_self_enroll", "включить TOTP может только сам пользователь (enroll + verify)")
    if data.unlock:
        user.failed_attempts = 0
        user.locked_until = None
        changes["unlock"] = True
    user.updated_at = _now()
    await session.flush()
    return changes


async def delete_user(session: AsyncSession, user: AdminUser, actor_id: str | None) -> None:
    if user.id == actor_id:
        raise ProblemError(409, "self_lockout", "нельзя удалить самого себя")
    await _ensure_admin_remains(session, user)
    await repository.delete(session, user)
