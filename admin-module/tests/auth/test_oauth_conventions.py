"""OAuth 2.0 как его ждут сторонние клиенты: метаданные RFC 8414, iss-URL, JWKS по RFC 7517, сужение scope."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from authlib.integrations.starlette_client import OAuth
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from sqlalchemy import text

from admin_module.app import create_app
from admin_module.settings import Settings
from artstore_common import session_scope
from artstore_common.embedded import free_port
from artstore_common.testing import UvicornThread

from ..conftest import INITIAL_CLIENT_ID, INITIAL_CLIENT_SECRET, Admin

METADATA = "/.well-known/oauth-authorization-server"


async def test_authlib_discovers_server_and_pyjwkclient_verifies(make_settings: Callable[..., Settings]) -> None:
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    settings = make_settings(jwt_issuer=issuer)
    with UvicornThread(create_app(settings), port=port) as server:
        async with httpx.AsyncClient(base_url=server.url) as c:
            r = await c.get(METADATA)  # без токена, как JWKS
            assert r.status_code == 200 and r.headers["cache-control"] == "public, max-age=300"
            meta = r.json()
        assert meta["issuer"] == issuer
        assert meta["token_endpoint"] == f"{issuer}/api/v1/auth/token"
        assert meta["jwks_uri"] == f"{issuer}/.well-known/jwks.json"
        assert meta["grant_types_supported"] == ["client_credentials"]
        assert meta["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post"]
        assert meta["response_types_supported"] == []
        assert meta["scopes_supported"] == ["admin", "user", "auditor", "readonly"]
        checked = AuthorizationServerMetadata(meta)
        # authlib целиком (validate()) требует непустой response_types_supported, RFC 8414 — лишь массив:
        # у сервера без authorization endpoint он пуст. Остальное — валидаторами authlib.
        for name in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri", "scopes_supported",
                     "grant_types_supported", "token_endpoint_auth_methods_supported", "service_documentation"):
            getattr(checked, f"validate_{name}")()

        oauth = OAuth()
        client: Any = oauth.register("artstore", client_id=INITIAL_CLIENT_ID, client_secret=INITIAL_CLIENT_SECRET,
                                     server_metadata_url=f"{server.url}{METADATA}",
                                     client_kwargs={"scope": "auditor"})
        token = await client.fetch_access_token(grant_type="client_credentials")
        assert token["token_type"] == "Bearer" and token["scope"] == "auditor readonly"

        signing_key = jwt.PyJWKClient(meta["jwks_uri"]).get_signing_key_from_jwt(token["access_token"])
        claims = jwt.decode(token["access_token"], signing_key.key, algorithms=["RS256"],
                            audience=settings.jwt_audience, issuer=meta["issuer"])
        assert claims["iss"] == meta["issuer"]
        assert claims["role"] == "AUDITOR" and claims["scope"] == "auditor readonly"
        assert claims["client_id"] == INITIAL_CLIENT_ID


async def test_jwks_keys_carry_use_without_key_ops(admin: Admin) -> None:
    # ключ, созданный до правила (PyJWT кладёт key_ops), отдаётся без key_ops
    async with session_scope(admin.app.state.sessionmaker) as session:
        await session.execute(text(
            "UPDATE jwt_keys SET public_jwk = (public_jwk::jsonb || '{\"key_ops\": [\"verify\"]}'::jsonb)::json"))
    keys = (await admin.client.get("/.well-known/jwks.json")).json()["keys"]
    assert len(keys) == 2
    for key in keys:
        assert key["use"] == "sig" and "key_ops" not in key
    assert jwt.PyJWKSet.from_dict({"keys": keys}).keys  # PyJWT разбирает набор


async def _token(c: httpx.AsyncClient, client_id: str, secret: str, scope: str | None) -> httpx.Response:
    data = {"grant_type": "client_credentials"} | ({"scope": scope} if scope is not None else {})
    return await c.post("/api/v1/auth/token", data=data, auth=(client_id, secret))


@pytest.mark.parametrize(("scope", "granted", "role"), [
    (None, "admin user auditor readonly", "ADMIN"),
    ("", "admin user auditor readonly", "ADMIN"),
    ("admin", "admin user auditor readonly", "ADMIN"),
    ("readonly", "readonly", "READONLY"),
    ("user", "user readonly", "USER"),
    ("readonly  user files:write", "user readonly", "USER"),  # чужое отброшено, user покрывает readonly
])
async def test_admin_scope_narrowed(admin: Admin, scope: str | None, granted: str, role: str) -> None:
    r = await _token(admin.client, INITIAL_CLIENT_ID, INITIAL_CLIENT_SECRET, scope)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["scope"] == granted
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["scope"] == granted and claims["role"] == role


async def test_narrowed_token_only_allowed_its_scope(admin: Admin, auth: dict[str, str]) -> None:
    c = admin.client
    auditor = (await _token(c, INITIAL_CLIENT_ID, INITIAL_CLIENT_SECRET, "auditor")).json()["access_token"]
    readonly = (await _token(c, INITIAL_CLIENT_ID, INITIAL_CLIENT_SECRET, "readonly")).json()["access_token"]
    as_auditor = {"Authorization": f"Bearer {auditor}"}
    assert (await c.get("/api/v1/jwt-keys", headers=as_auditor)).status_code == 200
    r = await c.post("/api/v1/jwt-keys/rotate", headers=as_auditor)
    assert r.status_code == 403 and "AUDITOR" in r.json()["detail"]
    r = await c.get("/api/v1/jwt-keys", headers={"Authorization": f"Bearer {readonly}"})
    assert r.status_code == 403
    me = (await c.get("/api/v1/admin-auth/me", headers={"Authorization": f"Bearer {readonly}"})).json()
    assert me["role"] == "READONLY"
    assert (await c.post("/api/v1/jwt-keys/rotate", headers=auth)).status_code == 200  # полный токен может


async def test_scope_beyond_account_is_invalid_scope(admin: Admin, auth: dict[str, str]) -> None:
    c = admin.client
    acc = (await c.post("/api/v1/service-accounts", json={"name": "reader", "role": "USER"}, headers=auth)).json()
    cid, secret = acc["client_id"], acc["client_secret"]
    r = await _token(c, cid, secret, "admin user")
    assert r.status_code == 200 and r.json()["scope"] == "user readonly"
    for scope in ("admin", "auditor", "files:read"):
        r = await _token(c, cid, secret, scope)
        assert r.status_code == 400, (scope, r.text)
        assert r.json()["error"] == "invalid_scope" and "user readonly" in r.json()["error_description"]
        assert r.headers["cache-control"] == "no-store"
    # две роли, ни одна не покрывает другую: в токене одна роль
    r = await _token(c, INITIAL_CLIENT_ID, INITIAL_CLIENT_SECRET, "user auditor")
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"
    r = await _token(c, INITIAL_CLIENT_ID, INITIAL_CLIENT_SECRET, 'user "x"')
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"
    # JSON-тело: scope — строка
    r = await c.post("/api/v1/auth/token", json={"client_id": cid, "client_secret": secret, "scope": ["user"]})
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"
    r = await c.post("/api/v1/auth/token", json={"client_id": cid, "client_secret": secret, "scope": "readonly"})
    assert r.status_code == 200 and r.json()["scope"] == "readonly"
    # неверный секрет — invalid_client, а не подсказка о scope
    r = await _token(c, cid, "wrong-secret", "admin")
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
