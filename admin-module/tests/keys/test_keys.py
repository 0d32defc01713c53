"""JWKS и проверка токенов так, как это делают остальные сервисы (JWKSVerifier по HTTP), и ротация ключей."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from sqlalchemy import text

from admin_module.app import create_app
from admin_module.settings import Settings
from artstore_common import AuthError, JWKSVerifier, session_scope
from artstore_common.testing import UvicornThread

from ..conftest import INITIAL_CLIENT_ID, INITIAL_CLIENT_SECRET, Admin


async def test_tokens_verify_against_real_loopback_jwks(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    with UvicornThread(create_app(settings)) as server:
        async with httpx.AsyncClient(base_url=server.url) as c:
            r = await c.get("/.well-known/jwks.json")
            assert r.status_code == 200
            assert r.headers["cache-control"] == "public, max-age=300"
            keys = r.json()["keys"]
            assert len(keys) == 2  # active + next: следующий ключ опубликован заранее
            assert all(k["kty"] == "RSA" and k["alg"] == "RS256" and k["kid"] and "d" not in k for k in keys)
            r = await c.post("/api/v1/auth/token", data={"grant_type": "client_credentials"},
                             auth=(INITIAL_CLIENT_ID, INITIAL_CLIENT_SECRET))
            token = r.json()["access_token"]
            verifier = JWKSVerifier(f"{server.url}/.well-known/jwks.json", settings.jwt_issuer, settings.jwt_audience)
            try:
                principal = await verifier.verify(token)
                assert principal.client_id == INITIAL_CLIENT_ID
                assert principal.role.value == "ADMIN"
                assert principal.name == "admin-service"
                # чужой issuer/audience не принимается
                strict = JWKSVerifier(f"{server.url}/.well-known/jwks.json", "someone-else", settings.jwt_audience)
                with pytest.raises(AuthError):
                    await strict.verify(token)
                await strict.close()
            finally:
                await verifier.close()
            # admin сам принимает свой токен (ключи из БД) и отвергает HS256-подделку
            r = await c.get("/api/v1/jwt-keys", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200
            forged = jwt.encode({"sub": "x", "role": "ADMIN", "iss": settings.jwt_issuer, "aud": "artstore",
                                 "exp": 9999999999, "iat": 1}, "k" * 32, algorithm="HS256",
                                headers={"kid": r.json()["active_kid"]})
            r = await c.get("/api/v1/jwt-keys", headers={"Authorization": f"Bearer {forged}"})
            assert r.status_code == 401


async def test_rotation_keeps_old_tokens_valid_until_expiry(admin: Admin, auth: dict[str, str]) -> None:
    c = admin.client
    old_token = await admin.token()
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    before = (await c.get("/api/v1/jwt-keys", headers=auth)).json()
    next_kid = next(k["kid"] for k in before["items"] if k["status"] == "next")

    r = await c.post("/api/v1/jwt-keys/rotate", headers=auth)
    assert r.status_code == 200
    body = r.json()
    assert body == {"active_kid": next_kid, "next_kid": body["next_kid"], "retired_kid": old_kid}

    new_token = await admin.token()
    assert jwt.get_unverified_header(new_token)["kid"] == next_kid
    jwks = (await c.get("/.well-known/jwks.json")).json()
    assert {k["kid"] for k in jwks["keys"]} == {old_kid, next_kid, body["next_kid"]}
    # старый токен (подписан выведенным ключом) по-прежнему принимается
    for token in (old_token, new_token):
        assert (await c.get("/api/v1/jwt-keys", headers={"Authorization": f"Bearer {token}"})).status_code == 200
    keys = (await c.get("/api/v1/jwt-keys", headers=auth)).json()["items"]
    retired = next(k for k in keys if k["kid"] == old_kid)
    assert retired["status"] == "retired"
    remove_after = datetime.fromisoformat(retired["remove_after"])
    assert remove_after >= datetime.now(UTC) + timedelta(seconds=1800)

    # когда последний токен старого ключа истёк, задача ротации удаляет ключ из JWKS
    async with session_scope(admin.app.state.sessionmaker) as s:
        await s.execute(text("UPDATE jwt_keys SET remove_after = now() - interval '1 second' WHERE kid = :k"),
                        {"k": old_kid})
    async with session_scope(admin.app.state.sessionmaker) as s:
        result = await admin.app.state.keys.tick(s)
    assert result["removed"] == [old_kid]
    jwks = (await c.get("/.well-known/jwks.json")).json()
    assert old_kid not in {k["kid"] for k in jwks["keys"]}
    audit = (await c.get("/api/v1/audit", params={"action": "jwt_key.*"}, headers=auth)).json()
    assert audit["total"] >= 1


async def test_automatic_rotation_by_age(make_settings: Callable[..., Settings]) -> None:
    from ..conftest import running

    async with running(make_settings(key_rotation_hours=1.0, jobs_enabled=False)) as a:
        async with session_scope(a.app.state.sessionmaker) as s:
            await s.execute(text("UPDATE jwt_keys SET activated_at = now() - interval '2 hours' "
                                 "WHERE status = 'active'"))
        async with session_scope(a.app.state.sessionmaker) as s:
            result = await a.app.state.keys.tick(s)
        assert result["rotated"] is True
        async with session_scope(a.app.state.sessionmaker) as s:
            assert await a.app.state.keys.tick(s) == {}
        metrics = (await a.client.get("/metrics")).text
        assert "artstore_jwt_signing_key_age_seconds" in metrics
