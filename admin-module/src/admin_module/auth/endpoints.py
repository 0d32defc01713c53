"""POST /api/v1/auth/token (и /api/auth/token): OAuth 2.0 client credentials, RFC 6749 §4.4.

Ошибки — в формате RFC 6749 §5.2 (``{"error", "error_description"}``), а не problem+json: этого ждут
OAuth-клиенты. Учётные данные — HTTP Basic или в теле формы (§2.3.1), либо JSON (пример пользователя).
Запрошенный ``scope`` сужает роль токена (см. ``scopes``); выданный scope всегда в ответе.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote_plus

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from artstore_common import AuthMethod, AuthOutcome, Role, TokenGrant, session_scope

from ..audit import service as audit
from ..deps import Actor
from .schemas import OAuthError, TokenResponse
from .scopes import SCOPES_SUPPORTED, narrow, scope_string
from .service import ClientAuthFailure

router = APIRouter(tags=["auth"])

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_BASIC_CHALLENGE = 'Basic realm="artstore"'

# В схеме — только форма RFC 6749 §4.4: так просит токен любой клиент OAuth (и кнопка Authorize в /docs).
# JSON-тело ({client_id, client_secret}) принимается тоже, для старых скриптов, но в схеме не объявлено:
# генератор клиентов openapi-python-client на теле с двумя типами содержимого собирает неимпортируемый
# код (openapi-generators/openapi-python-client#1451).
_OPENAPI = {
    "requestBody": {
        "required": True,
        "description": "Форма RFC 6749 §4.4; учётные данные — в форме или в HTTP Basic. "
                       "Принимается и JSON {client_id, client_secret, scope}.",
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object", "required": ["grant_type"],
                    "properties": {
                        "grant_type": {"type": "string", "enum": ["client_credentials"]},
                        "client_id": {"type": "string"}, "client_secret": {"type": "string"},
                        "scope": {"type": "string"},
                    },
                }
            },
        },
    },
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "invalid_request / unsupported_grant_type / invalid_scope", "model": OAuthError},
    401: {"description": "invalid_client", "model": OAuthError},
    429: {"description": "слишком много неудачных попыток (Retry-After)", "model": OAuthError},
}


def _oauth_error(status: int, error: str, description: str, *, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status,
                        headers={**_NO_STORE, **(headers or {})})


def _basic(header: str | None) -> tuple[str, str] | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ClientAuthFailure("invalid_request", "заголовок Authorization: Basic не разобран", AuthOutcome.MALFORMED,
                                status=400) from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise ClientAuthFailure("invalid_request", "в Basic нет разделителя ':'", AuthOutcome.MALFORMED, status=400)
    # RFC 6749 §2.3.1: id и секрет перед Basic кодируются application/x-www-form-urlencoded
    return unquote_plus(client_id), unquote_plus(secret)


async def _credentials(request: Request) -> tuple[AuthMethod, str, str, str | None]:
    """→ (способ, client_id, client_secret, scope) либо ClientAuthFailure 400/401."""
    basic = _basic(request.headers.get("authorization"))
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body: dict[str, Any]
    if ctype == "application/json":
        try:
            parsed = await request.json()
        except ValueError as exc:
            raise ClientAuthFailure("invalid_request", "тело — не JSON", AuthOutcome.MALFORMED, status=400) from exc
        if not isinstance(parsed, dict):
            raise ClientAuthFailure("invalid_request", "ожидается JSON-объект", AuthOutcome.MALFORMED, status=400)
        body = parsed
        grant = body.get("grant_type", "client_credentials")
        method = AuthMethod.JSON
    elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form()
        body = {k: v for k, v in form.items() if isinstance(v, str)}
        grant = body.get("grant_type")
        method = AuthMethod.CLIENT_SECRET_POST
        if not grant:
            raise ClientAuthFailure("invalid_request", "параметр grant_type обязателен",
                                    AuthOutcome.MALFORMED, status=400)
    else:
        raise ClientAuthFailure(
            "invalid_request", "ожидается application/x-www-form-urlencoded или application/json",
            AuthOutcome.MALFORMED,
            status=400)
    if grant != "client_credentials":
        raise ClientAuthFailure("unsupported_grant_type", f"поддерживается только client_credentials, не {grant!r}",
                                AuthOutcome.UNSUPPORTED_GRANT, status=400)
    body_id, body_secret = body.get("client_id"), body.get("client_secret")
    scope = body.get("scope")
    if scope is not None and not isinstance(scope, str):
        raise ClientAuthFailure("invalid_scope", "scope — строка значений через пробел", AuthOutcome.INVALID_SCOPE,
                                status=400)
    if basic is not None:
        if body_secret:
            raise ClientAuthFailure("invalid_request", "учётные данные переданы двумя способами сразу",
                                    AuthOutcome.MALFORMED,
                                    status=400)
        if body_id and body_id != basic[0]:
            raise ClientAuthFailure("invalid_request", "client_id в теле не совпадает с Basic", AuthOutcome.MALFORMED,
                                    status=400)
        return AuthMethod.CLIENT_SECRET_BASIC, basic[0], basic[1], scope
    if not isinstance(body_id, str) or not isinstance(body_secret, str) or not body_id or not body_secret:
        raise ClientAuthFailure("invalid_client", "нужны client_id и client_secret (Basic или в теле)",
                                AuthOutcome.MISSING)
    return method, body_id, body_secret, scope


@router.post("/api/v1/auth/token", response_model=TokenResponse, openapi_extra=_OPENAPI, responses=_RESPONSES,
             summary="Токен доступа по client credentials (RFC 6749 §4.4)")
@router.post("/api/auth/token", response_model=TokenResponse, openapi_extra=_OPENAPI, responses=_RESPONSES,
             include_in_schema=False)
async def issue_token(request: Request) -> JSONResponse:
    st = request.app.state
    ip = request.client.host if request.client else None
    basic_used = request.headers.get("authorization", "").lower().startswith("basic ")
    method = AuthMethod.CLIENT_SECRET_BASIC if basic_used else AuthMethod.UNKNOWN
    client_id = ""
    try:
        method, client_id, secret, requested = await _credentials(request)
        async with session_scope(st.sessionmaker) as session:
            account = await st.authenticator.authenticate(session, client_id, secret, ip)
            # после проверки секрета: чужой клиент не узнаёт по ответу, какие роли бывают у аккаунта
            role = narrow(Role(account.role), requested)
            token, ttl = await st.keys.issue(
                subject=account.id, client_id=account.client_id, role=role.value, name=account.name,
                grant=TokenGrant.CLIENT_CREDENTIALS,
                extra={"kind": "service_account", "rate_limit": account.rate_limit},
            )
            now = datetime.now(UTC)
            # last_used_at — не чаще раза в минуту: запись на каждый токен блокировала бы строку аккаунта
            if account.last_used_at is None or now - account.last_used_at > timedelta(minutes=1):
                account.last_used_at = now
        st.audit_buffer.submit(Actor("service_account", account.id, account.name, ip), "auth.token",
                               target_type="service_account", target_id=account.id,
                               details={"method": method, "grant": "client_credentials", "role": role.value})
    except ClientAuthFailure as fail:
        st.admin_metrics.auth_attempts.labels(method, fail.reason).inc()
        if fail.status == 401:
            await audit.record_detached(
                st.sessionmaker, Actor("service_account", None, client_id or None, ip), "auth.token",
                outcome="failure", details={"method": method, "reason": fail.reason, "client_id": client_id},
            )
        headers: dict[str, str] = {}
        if fail.status == 401:
            headers["WWW-Authenticate"] = _BASIC_CHALLENGE
        if fail.retry_after is not None:
            headers["Retry-After"] = str(fail.retry_after)
        return _oauth_error(fail.status, fail.error, fail.description, headers=headers)
    st.admin_metrics.auth_attempts.labels(method, AuthOutcome.SUCCESS).inc()
    return JSONResponse({"access_token": token, "token_type": "Bearer", "expires_in": ttl,
                         "scope": scope_string(role)}, headers=_NO_STORE)


@router.get("/.well-known/oauth-authorization-server",
            summary="Метаданные сервера авторизации (RFC 8414): адреса токенов и ключей, способы входа")
async def authorization_server_metadata(request: Request) -> JSONResponse:
    issuer = request.app.state.settings.jwt_issuer
    base = issuer.rstrip("/")
    # Адреса — от issuer, а не от Host запроса: метаданные кэшируются, и чужой Host не должен попасть в них.
    return JSONResponse({
        "issuer": issuer,
        "token_endpoint": f"{base}/api/v1/auth/token",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        # authorization endpoint нет (только client credentials) — и типов ответа у него нет
        "response_types_supported": [],
        "scopes_supported": list(SCOPES_SUPPORTED),
        "service_documentation": f"{base}/docs",
    }, headers={"Cache-Control": "public, max-age=300"})
