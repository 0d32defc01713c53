"""POST /api/v1/auth/token: три способа передать учётные данные, ошибки RFC 6749 §5.2, защита от подбора."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

import jwt

from admin_module.settings import Settings

from ..conftest import INITIAL_CLIENT_ID, INITIAL_CLIENT_SECRET, Admin, running


def _basic(cid: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{cid}:{secret}".encode()).decode()}


def _check_token(body: dict[str, Any], resp_headers: Any) -> dict[str, Any]:
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 1800
    assert resp_headers["cache-control"] == "no-store"
    assert resp_headers["pragma"] == "no-cache"
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "RS256" and header["typ"] == "at+jwt" and header["kid"]
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    for claim in ("iss", "aud", "sub", "client_id", "role", "name", "jti", "iat", "nbf", "exp", "rate_limit"):
        assert claim in claims, claim
    assert claims["client_id"] == INITIAL_CLIENT_ID and claims["role"] == "ADMIN"
    assert claims["exp"] - claims["iat"] == 1800
    return claims


async def test_basic_form_body_and_json(admin: Admin) -> None:
    c = admin.client
    r = await c.post("/api/v1/auth/token", data={"grant_type": "client_credentials"},
                     headers=_basic(INITIAL_CLIENT_ID, INITIAL_CLIENT_SECRET))
    assert r.status_code == 200, r.text
    _check_token(r.json(), r.headers)

    r = await c.post("/api/v1/auth/token", data={"grant_type": "client_credentials", "client_id": INITIAL_CLIENT_ID,
                                                 "client_secret": INITIAL_CLIENT_SECRET})
    assert r.status_code == 200, r.text
    _check_token(r.json(), r.headers)

    # JSON — как в curl-примере пользователя, и по пути из его документа
    r = await c.post("/api/auth/token", json={"client_id": INITIAL_CLIENT_ID, "client_secret": INITIAL_CLIENT_SECRET})
    assert r.status_code == 200, r.text
    _check_token(r.json(), r.headers)


async def test_wrong_credentials_and_bad_requests(admin: Admin) -> None:
    c = admin.client
    r = await c.post("/api/v1/auth/token", data={"grant_type": "client_credentials"},
                     headers=_basic(INITIAL_CLIENT_ID, "wrong"))
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_client"
    assert r.headers["www-authenticate"] == 'Basic realm="artstore"'
    assert r.headers["cache-control"] == "no-store"

    r = await c.post("/api/v1/auth/token", json={"client_id": "nobody", "client_secret": "x"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"

    r = await c.post("/api/v1/auth/token", data={"grant_type": "password", "username": "a", "password": "b"})
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"

    r = await c.post("/api/v1/auth/token", data={"client_id": INITIAL_CLIENT_ID})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"

    # два способа аутентификации сразу запрещены (RFC 6749 §2.3)
    r = await c.post("/api/v1/auth/token", headers=_basic(INITIAL_CLIENT_ID, INITIAL_CLIENT_SECRET),
                     data={"grant_type": "client_credentials", "client_secret": INITIAL_CLIENT_SECRET})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"

    r = await c.post("/api/v1/auth/token", content=b"{oops", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"

    audit = await c.get("/api/v1/audit", params={"action": "auth.token", "outcome": "failure"},
                        headers=await admin.headers())
    assert audit.json()["total"] >= 2


async def test_suspended_account_refused(admin: Admin, auth: dict[str, str]) -> None:
    c = admin.client
    r = await c.post("/api/v1/service-accounts", json={"name": "ingester", "role": "USER"}, headers=auth)
    acc = r.json()
    creds = {"client_id": acc["client_id"], "client_secret": acc["client_secret"]}
    assert (await c.post("/api/v1/auth/token", json=creds)).status_code == 200
    r = await c.patch(f"/api/v1/service-accounts/{acc['id']}", json={"status": "suspended"}, headers=auth)
    assert r.status_code == 200 and r.json()["status"] == "suspended"
    r = await c.post("/api/v1/auth/token", json=creds)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


async def test_throttling_per_client_and_ip(make_settings: Callable[..., Settings]) -> None:
    async with running(make_settings(token_throttle_attempts=3, token_throttle_window_seconds=60)) as a:
        for _ in range(3):
            r = await a.client.post("/api/v1/auth/token", json={"client_id": INITIAL_CLIENT_ID, "client_secret": "x"})
            assert r.status_code == 401
        r = await a.client.post("/api/v1/auth/token",
                                json={"client_id": INITIAL_CLIENT_ID, "client_secret": INITIAL_CLIENT_SECRET})
        assert r.status_code == 429
        assert 0 < int(r.headers["retry-after"]) <= 60
        # другой клиент с того же адреса не затронут
        r = await a.client.post("/api/v1/auth/token", json={"client_id": "other", "client_secret": "x"})
        assert r.status_code == 401
        metrics = (await a.client.get("/metrics")).text
        # ряд заведён нулём с запуска, поэтому проверяется значение, а не наличие
        assert 'artstore_auth_attempts_total{method="json",outcome="throttled"} 1.0' in metrics
        assert 'artstore_auth_attempts_total{method="json",outcome="bad_credentials"} 4.0' in metrics


async def test_verification_cache_makes_repeat_requests_cheap(make_settings: Callable[..., Settings]) -> None:
    """bcrypt стоимости 12 — сотни мс; повторные запросы того же клиента идут из кэша проверки."""
    async with running(make_settings(bcrypt_rounds=10)) as a:
        creds = {"client_id": INITIAL_CLIENT_ID, "client_secret": INITIAL_CLIENT_SECRET}
        started = time.perf_counter()
        assert (await a.client.post("/api/v1/auth/token", json=creds)).status_code == 200
        first = time.perf_counter() - started
        started = time.perf_counter()
        n = 20
        for _ in range(n):
            assert (await a.client.post("/api/v1/auth/token", json=creds)).status_code == 200
        per_token = (time.perf_counter() - started) / n
        assert per_token < first / 3, (first, per_token)
        metrics = (await a.client.get("/metrics")).text
        assert 'artstore_tokens_issued_total{grant="client_credentials"} 21.0' in metrics


async def test_successful_issuance_is_audited(admin: Admin) -> None:
    await admin.token()
    await admin.app.state.audit_buffer.flush()  # выдача токена пишется в аудит пачками
    auth = await admin.headers()
    await admin.app.state.audit_buffer.flush()
    page = (await admin.client.get("/api/v1/audit", params={"action": "auth.token", "outcome": "success"},
                                   headers=auth)).json()
    assert page["total"] >= 2
    entry = page["items"][0]
    assert entry["actor_name"] == "admin-service" and entry["details"]["method"] == "json"
    assert (await admin.client.get("/api/v1/audit/verify", headers=auth)).json()["valid"] is True
