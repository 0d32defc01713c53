"""JWT по JWKS: только RS256, kid, exp/iss/aud, ротация и ограниченная частота перечитывания."""

from __future__ import annotations

import base64
import json
import time

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI

from artstore_common import JWKSVerifier, Principal, Role, create_service_app, require_roles, service_state
from artstore_common.testing import JWKSServer, TokenFactory


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def verifier(server: JWKSServer, factory: TokenFactory, **kw: float) -> JWKSVerifier:
    return JWKSVerifier(server.url, factory.issuer, factory.audience, **kw)


async def test_valid_token_accepted(token_factory: TokenFactory, jwks_server: JWKSServer) -> None:
    v = verifier(jwks_server, token_factory)
    p = await v.verify(token_factory.issue("USER", sub="sa-1", name="ivanov"))
    assert (p.subject, p.role, p.username) == ("sa-1", Role.USER, "ivanov")
    await v.close()


async def test_scope_must_match_role(token_factory: TokenFactory, jwks_server: JWKSServer) -> None:
    v = verifier(jwks_server, token_factory)
    p = await v.verify(token_factory.issue("USER", scope="readonly user"))
    assert p.role is Role.USER
    # ADMIN, суженный до readonly, выпускается с ролью READONLY; роль ADMIN при scope readonly — не наш токен
    for role, scope in (("ADMIN", "readonly"), ("READONLY", "admin user auditor readonly"), ("USER", 42)):
        with pytest.raises(Exception, match="scope"):
            await v.verify(token_factory.issue(role, scope=scope))
    await v.close()


async def test_unknown_key_rejected(token_factory: TokenFactory, jwks_server: JWKSServer) -> None:
    stranger = TokenFactory()  # свой ключ, которого нет в JWKS
    v = verifier(jwks_server, token_factory)
    with pytest.raises(Exception, match="неизвестным ключом"):
        await v.verify(stranger.issue())
    await v.close()


async def test_expired_token_rejected(token_factory: TokenFactory, jwks_server: JWKSServer) -> None:
    v = verifier(jwks_server, token_factory, leeway=0)
    with pytest.raises(Exception, match="истёк"):
        await v.verify(token_factory.issue(ttl=-10))
    await v.close()


async def test_wrong_audience_and_issuer_rejected(token_factory: TokenFactory, jwks_server: JWKSServer) -> None:
    v = verifier(jwks_server, token_factory)
    with pytest.raises(Exception, match="аудитории"):
        await v.verify(token_factory.issue(aud="someone-else"))
    with pytest.raises(Exception, match="издателем"):
        await v.verify(token_factory.issue(iss="evil"))
    await v.close()


async def test_alg_none_rejected(token_factory: TokenFactory, jwks_server: JWKSServer) -> None:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": token_factory.current_kid}).encode())
    now = int(time.time())
    payload = _b64(json.dumps({"sub": "x", "role": "ADMIN", "iss": token_factory.issuer,
                               "aud": token_factory.audience, "iat": now, "exp": now + 60}).encode())
    v = verifier(jwks_server, token_factory)
    with pytest.raises(Exception, match="RS256"):
        await v.verify(f"{header}.{payload}.")
    await v.close()


async def test_hs256_signed_with_public_key_rejected(token_factory: TokenFactory, jwks_server: JWKSServer) -> None:
    """Классическая атака подмены алгоритма: HMAC с публичным ключом как секретом."""
    public_pem = token_factory.keys[token_factory.current_kid].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(time.time())
    claims = {"sub": "x", "role": "ADMIN", "iss": token_factory.issuer, "aud": token_factory.audience,
              "iat": now, "exp": now + 60}
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": token_factory.current_kid}).encode())
    body = _b64(json.dumps(claims).encode())
    import hashlib
    import hmac

    sig = _b64(hmac.new(public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest())
    v = verifier(jwks_server, token_factory)
    with pytest.raises(Exception, match="RS256"):
        await v.verify(f"{header}.{body}.{sig}")
    await v.close()


async def test_rotated_jwks_picked_up(token_factory: TokenFactory, jwks_server: JWKSServer) -> None:
    v = verifier(jwks_server, token_factory, min_refresh_interval=0)
    old = token_factory.issue()
    await v.verify(old)
    token_factory.rotate()
    new = token_factory.issue()
    assert (await v.verify(new)).role is Role.ADMIN
    assert (await v.verify(old)).role is Role.ADMIN  # старый ключ ещё в JWKS — старые токены живут
    assert v.fetches == 2
    await v.close()


async def test_unknown_kid_refresh_is_rate_limited(token_factory: TokenFactory, jwks_server: JWKSServer) -> None:
    v = verifier(jwks_server, token_factory, min_refresh_interval=60)
    await v.verify(token_factory.issue())
    for _ in range(20):
        with pytest.raises(Exception, match="неизвестным"):
            await v.verify(TokenFactory().issue())
    assert jwks_server.requests <= 2
    await v.close()


def _app(factory: TokenFactory, server: JWKSServer) -> FastAPI:
    app = create_service_app(service="t", version="0", title="t", description="t")
    service_state(app).verifier = JWKSVerifier(server.url, factory.issuer, factory.audience)

    @app.get("/admin-only")
    async def admin_only(p: Principal = require_roles(Role.ADMIN)) -> dict[str, str]:
        return {"sub": p.subject}

    return app


async def test_role_dependency_401_and_403(token_factory: TokenFactory, jwks_server: JWKSServer) -> None:
    app = _app(token_factory, jwks_server)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.get("/admin-only")
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert r.headers["content-type"] == "application/problem+json"
        r = await c.get("/admin-only", headers={"Authorization": "Bearer garbage"})
        assert r.status_code == 401
        r = await c.get("/admin-only", headers=token_factory.headers("READONLY"))
        assert r.status_code == 403
        assert "READONLY" in r.json()["detail"]
        r = await c.get("/admin-only", headers=token_factory.headers("ADMIN", sub="boss"))
        assert r.status_code == 200 and r.json() == {"sub": "boss"}


def test_pyjwt_version_supports_rs256_only_policy() -> None:
    major, minor = (int(x) for x in jwt.__version__.split(".")[:2])
    assert (major, minor) >= (2, 13)


async def test_key_removed_from_jwks_stops_working(token_factory: TokenFactory, jwks_server: JWKSServer) -> None:
    """Отзыв ключа: даже уже проверенный (закэшированный) токен перестаёт приниматься."""
    v = verifier(jwks_server, token_factory, max_key_age=0, min_refresh_interval=0)
    old_kid = token_factory.current_kid
    token = token_factory.issue()
    await v.verify(token)
    token_factory.rotate()
    del token_factory.keys[old_kid]
    await v.refresh()
    with pytest.raises(Exception, match="неизвестным ключом"):
        await v.verify(token)
    await v.close()


async def test_periodic_refresh_without_unknown_kid(token_factory: TokenFactory, jwks_server: JWKSServer) -> None:
    import asyncio

    v = verifier(jwks_server, token_factory, max_key_age=0)
    token = token_factory.issue()
    await v.verify(token)
    before = jwks_server.requests
    await v.verify(token)
    await asyncio.sleep(0.2)  # фоновое перечитывание
    assert jwks_server.requests > before
    await v.close()
