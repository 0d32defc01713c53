"""Вход людей в admin-ui: пароль, TOTP, refresh с ротацией, смена пароля, блокировка; CRUD пользователей."""

from __future__ import annotations

import time
from collections.abc import Callable

import jwt
import pyotp
from sqlalchemy import text

from admin_module.settings import Settings
from artstore_common import AuthMethod, AuthOutcome, session_scope

from ..conftest import INITIAL_ADMIN_PASSWORD, Admin, running


async def _login(admin: Admin, username: str = "admin", password: str = INITIAL_ADMIN_PASSWORD,
                 **extra: str) -> dict[str, object]:
    r = await admin.client.post("/api/v1/admin-auth/login", json={"username": username, "password": password, **extra})
    assert r.status_code == 200, r.text
    return r.json()


async def test_login_me_refresh(admin: Admin) -> None:
    c = admin.client
    body = await _login(admin)
    assert body["token_type"] == "Bearer" and body["expires_in"] == 1800 and body["must_change_password"] is False
    claims = jwt.decode(str(body["access_token"]), options={"verify_signature": False})
    assert claims["kind"] == "user" and claims["name"] == "admin" and claims["role"] == "ADMIN"
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    me = (await c.get("/api/v1/admin-auth/me", headers=headers)).json()
    assert me["username"] == "admin" and me["id"] == claims["sub"] and me["totp_enabled"] is False
    assert me["password_expires_at"]

    r = await c.post("/api/v1/admin-auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert r.status_code == 200
    second = r.json()
    assert second["refresh_token"] != body["refresh_token"]
    # refresh одноразовый; повтор старого — признак кражи: гаснут и новые
    r = await c.post("/api/v1/admin-auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert r.status_code == 401 and r.json()["code"] == "invalid_refresh_token"
    r = await c.post("/api/v1/admin-auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert r.status_code == 401

    r = await c.post("/api/v1/admin-auth/login", json={"username": "admin", "password": "wrong-password-1"})
    assert r.status_code == 401 and r.json()["code"] == "invalid_credentials"


async def test_totp_flow(admin: Admin) -> None:
    c = admin.client
    body = await _login(admin)
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    enroll = (await c.post("/api/v1/admin-auth/totp/enroll", headers=headers)).json()
    assert enroll["otpauth_uri"].startswith("otpauth://totp/")
    totp = pyotp.TOTP(enroll["secret"])
    r = await c.post("/api/v1/admin-auth/totp/verify", json={"code": "000000" if totp.now() != "000000" else "111111"},
                     headers=headers)
    assert r.status_code == 400 and r.json()["code"] == "invalid_totp"
    r = await c.post("/api/v1/admin-auth/totp/verify", json={"code": totp.now()}, headers=headers)
    assert r.status_code == 200 and r.json()["totp_enabled"] is True

    r = await c.post("/api/v1/admin-auth/login", json={"username": "admin", "password": INITIAL_ADMIN_PASSWORD})
    assert r.status_code == 401 and r.json()["code"] == "totp_required"
    r = await c.post("/api/v1/admin-auth/login", json={"username": "admin", "password": INITIAL_ADMIN_PASSWORD,
                                                       "totp_code": "12345x"})
    assert r.status_code == 401 and r.json()["code"] == "invalid_totp"
    # код, которым подтверждали подключение, уже израсходован
    r = await c.post("/api/v1/admin-auth/login", json={"username": "admin", "password": INITIAL_ADMIN_PASSWORD,
                                                       "totp_code": totp.now()})
    assert r.status_code == 401 and r.json()["code"] == "invalid_totp"
    # следующий шаг (в пределах допуска ±30 с) принимается — но только один раз
    code = totp.at(time.time() + 30)
    await _login(admin, totp_code=code)
    r = await c.post("/api/v1/admin-auth/login", json={"username": "admin", "password": INITIAL_ADMIN_PASSWORD,
                                                       "totp_code": code})
    assert r.status_code == 401 and r.json()["code"] == "invalid_totp"
    # как и код более раннего шага
    r = await c.post("/api/v1/admin-auth/login", json={"username": "admin", "password": INITIAL_ADMIN_PASSWORD,
                                                       "totp_code": totp.now()})
    assert r.status_code == 401 and r.json()["code"] == "invalid_totp"


async def test_change_password_policy_and_expiry(admin: Admin) -> None:
    c = admin.client
    headers = {"Authorization": f"Bearer {(await _login(admin))['access_token']}"}
    r = await c.post("/api/v1/admin-auth/change-password",
                     json={"current_password": INITIAL_ADMIN_PASSWORD, "new_password": "short"}, headers=headers)
    assert r.status_code == 422 and r.json()["code"] == "weak_password"
    r = await c.post("/api/v1/admin-auth/change-password",
                     json={"current_password": "not-the-password", "new_password": "Another-Long-Pass-9"},
                     headers=headers)
    assert r.status_code == 400 and r.json()["code"] == "invalid_current_password"
    r = await c.post("/api/v1/admin-auth/change-password",
                     json={"current_password": INITIAL_ADMIN_PASSWORD, "new_password": "Another-Long-Pass-9"},
                     headers=headers)
    assert r.status_code == 200
    await _login(admin, password="Another-Long-Pass-9")

    async with session_scope(admin.app.state.sessionmaker) as s:
        await s.execute(text("UPDATE admin_users SET password_changed_at = now() - interval '91 days'"))
    body = await _login(admin, password="Another-Long-Pass-9")
    assert body["must_change_password"] is True

    # сервисный аккаунт не меняет «свой пароль»
    r = await c.post("/api/v1/admin-auth/change-password",
                     json={"current_password": "a", "new_password": "Another-Long-Pass-10"},
                     headers=await admin.headers())
    assert r.status_code == 403 and r.json()["code"] == "not_a_user"


async def test_lockout_after_five_failures(make_settings: Callable[..., Settings]) -> None:
    async with running(make_settings(lockout_threshold=5, lockout_minutes=15)) as a:
        codes = []
        for _ in range(5):
            r = await a.client.post("/api/v1/admin-auth/login", json={"username": "admin", "password": "bad-pass"})
            codes.append(r.status_code)
        assert codes == [401, 401, 401, 401, 429]
        r = await a.client.post("/api/v1/admin-auth/login",
                                json={"username": "admin", "password": INITIAL_ADMIN_PASSWORD})
        assert r.status_code == 429 and r.json()["code"] == "account_locked"
        assert 800 < int(r.headers["retry-after"]) <= 900
        # администратор снимает блокировку
        auth = await a.headers()
        users = (await a.client.get("/api/v1/admin-users", headers=auth)).json()
        uid = users["items"][0]["id"]
        assert users["items"][0]["locked_until"]
        r = await a.client.patch(f"/api/v1/admin-users/{uid}", json={"unlock": True}, headers=auth)
        assert r.status_code == 200 and r.json()["locked_until"] is None
        await _login(a)
        audit = (await a.client.get("/api/v1/audit", params={"action": "auth.login", "outcome": "failure"},
                                    headers=auth)).json()
        assert audit["total"] == 6


async def test_login_and_refresh_attempts_are_counted(make_settings: Callable[..., Settings]) -> None:
    """Вход admin-ui виден алерту AuthFailuresSpike: раньше его попытки не считались вовсе."""
    async with running(make_settings(lockout_threshold=3, lockout_minutes=15)) as a:
        body = await _login(a)
        for _ in range(4):  # третья неудача блокирует вход, четвёртая — отказ ограничителя
            await a.client.post("/api/v1/admin-auth/login", json={"username": "ghost-user", "password": "bad-pass"})
        r = await a.client.post("/api/v1/admin-auth/refresh", json={"refresh_token": "not-a-token"})
        assert r.status_code == 401
        r = await a.client.post("/api/v1/admin-auth/refresh", json={"refresh_token": body["refresh_token"]})
        assert r.status_code == 200
        metrics = (await a.client.get("/metrics")).text
    for method, outcome, count in (
        (AuthMethod.PASSWORD, AuthOutcome.SUCCESS, 1), (AuthMethod.PASSWORD, AuthOutcome.BAD_CREDENTIALS, 3),
        (AuthMethod.PASSWORD, AuthOutcome.THROTTLED, 1), (AuthMethod.REFRESH, AuthOutcome.BAD_CREDENTIALS, 1),
        (AuthMethod.REFRESH, AuthOutcome.SUCCESS, 1),
    ):
        assert f'artstore_auth_attempts_total{{method="{method}",outcome="{outcome}"}} {count:.1f}' in metrics


async def test_admin_users_crud(admin: Admin, auth: dict[str, str]) -> None:
    c = admin.client
    r = await c.post("/api/v1/admin-users", json={"username": "auditor1", "password": "Auditor-Pass-123",
                                                  "role": "AUDITOR"}, headers=auth)
    assert r.status_code == 201, r.text
    uid = r.json()["id"]
    r = await c.post("/api/v1/admin-users/", json={"username": "weak", "password": "123"}, headers=auth)
    assert r.status_code == 422
    r = await c.post("/api/v1/admin-users", json={"username": "auditor1", "password": "Auditor-Pass-123"},
                     headers=auth)
    assert r.status_code == 409
    page = (await c.get("/api/v1/admin-users", params={"role": "AUDITOR"}, headers=auth)).json()
    assert page["total"] == 1 and page["items"][0]["username"] == "auditor1"
    body = await _login(admin, "auditor1", "Auditor-Pass-123")
    aud = {"Authorization": f"Bearer {body['access_token']}"}
    assert (await c.get("/api/v1/audit", headers=aud)).status_code == 200
    assert (await c.post("/api/v1/admin-users", json={"username": "x1", "password": "Auditor-Pass-123"},
                         headers=aud)).status_code == 403
    # сброс пароля администратором: вход работает, но смена обязательна
    r = await c.patch(f"/api/v1/admin-users/{uid}", json={"password": "Reset-By-Admin-77"}, headers=auth)
    assert r.status_code == 200 and r.json()["must_change_password"] is True
    assert (await _login(admin, "auditor1", "Reset-By-Admin-77"))["must_change_password"] is True
    assert (await c.delete(f"/api/v1/admin-users/{uid}", headers=auth)).status_code == 204
    # последнего ADMIN не удалить и не понизить
    me = (await c.get("/api/v1/admin-users", params={"search": "admin"}, headers=auth)).json()["items"][0]
    r = await c.delete(f"/api/v1/admin-users/{me['id']}", headers=auth)
    assert r.status_code == 409 and r.json()["code"] == "last_admin"


# 40 кириллических букв — 80 байт UTF-8: больше предела bcrypt (72 байта)
LONG_CYRILLIC = "Длинная-Парольная-Фраза-Кириллицей-Ёжик!"


async def test_long_unicode_password_create_login_change(admin: Admin, auth: dict[str, str]) -> None:
    assert len(LONG_CYRILLIC.encode()) > 72
    c = admin.client
    r = await c.post("/api/v1/admin-users", json={"username": "longpass", "password": LONG_CYRILLIC,
                                                  "role": "AUDITOR"}, headers=auth)
    assert r.status_code == 201, r.text
    uid = r.json()["id"]
    body = await _login(admin, "longpass", LONG_CYRILLIC)
    # различие после 72-го байта значимо: bcrypt не обрезает фразу молча
    r = await c.post("/api/v1/admin-auth/login", json={"username": "longpass", "password": LONG_CYRILLIC[:-1] + "?"})
    assert r.status_code == 401
    newer = LONG_CYRILLIC + "-и-ещё-длиннее-" + "щ" * 200
    r = await c.post("/api/v1/admin-auth/change-password",
                     json={"current_password": LONG_CYRILLIC, "new_password": newer},
                     headers={"Authorization": f"Bearer {body['access_token']}"})
    assert r.status_code == 200, r.text
    await _login(admin, "longpass", newer)
    r = await c.patch(f"/api/v1/admin-users/{uid}", json={"password": LONG_CYRILLIC + "2"}, headers=auth)
    assert r.status_code == 200, r.text
    await _login(admin, "longpass", LONG_CYRILLIC + "2")


async def test_long_initial_admin_password(make_settings: Callable[..., Settings]) -> None:
    # фоновые задачи не нужны; их остановка сразу после старта иногда зависает (LeaderJob.stop, см. отчёт)
    async with running(make_settings(initial_admin_password=LONG_CYRILLIC, jobs_enabled=False)) as a:
        await _login(a, password=LONG_CYRILLIC)


def test_legacy_bcrypt_hashes_still_verify() -> None:
    import bcrypt

    from admin_module.security import check_secret, hash_secret

    legacy = bcrypt.hashpw(b"Old-Style-Pass-1", bcrypt.gensalt(4)).decode()
    assert check_secret("Old-Style-Pass-1", legacy) and not check_secret("Old-Style-Pass-2", legacy)
    assert not check_secret(LONG_CYRILLIC, legacy)
    fresh = hash_secret("Old-Style-Pass-1", 4)
    assert check_secret("Old-Style-Pass-1", fresh) and len(fresh) <= 100
    # по base64(sha256) без самого пароля не войти
    import base64
    import hashlib

    digest = base64.b64encode(hashlib.sha256(b"Old-Style-Pass-1").digest()).decode()
    assert not check_secret(digest, fresh)


async def test_change_password_revokes_refresh_tokens(admin: Admin) -> None:
    c = admin.client
    stolen = await _login(admin)  # другая сессия (например, украденная)
    own = await _login(admin)
    r = await c.post("/api/v1/admin-auth/change-password",
                     json={"current_password": INITIAL_ADMIN_PASSWORD, "new_password": "Brand-New-Pass-314"},
                     headers={"Authorization": f"Bearer {own['access_token']}"})
    assert r.status_code == 200, r.text
    for pair in (stolen, own):
        r = await c.post("/api/v1/admin-auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert r.status_code == 401 and r.json()["code"] == "invalid_refresh_token"
    fresh = await _login(admin, password="Brand-New-Pass-314")
    r = await c.post("/api/v1/admin-auth/refresh", json={"refresh_token": fresh["refresh_token"]})
    assert r.status_code == 200


async def test_password_change_required_token_is_limited(admin: Admin) -> None:
    import re

    c = admin.client
    async with session_scope(admin.app.state.sessionmaker) as s:
        await s.execute(text("UPDATE admin_users SET password_changed_at = now() - interval '91 days'"))
    body = await _login(admin)
    assert body["must_change_password"] is True
    claims = jwt.decode(str(body["access_token"]), options={"verify_signature": False})
    assert claims["pwd_change_required"] is True and claims["role"] == "ADMIN"
    assert body["expires_in"] == 600 and claims["exp"] - claims["iat"] == 600
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    me = await c.get("/api/v1/admin-auth/me", headers=headers)
    assert me.status_code == 200 and me.json()["must_change_password"] is True
    # refresh не снимает ограничение, пока пароль не сменён
    r = await c.post("/api/v1/admin-auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert r.status_code == 200
    assert jwt.decode(r.json()["access_token"], options={"verify_signature": False})["pwd_change_required"] is True

    # все прочие эндпоинты /api/v1 с токеном отвечают 403 password_change_required
    allowed = {"/api/v1/admin-auth/me", "/api/v1/admin-auth/change-password", "/api/v1/admin-auth/refresh",
               "/api/v1/admin-auth/login", "/api/v1/auth/token"}
    checked = 0
    for route_path, operations in admin.app.openapi()["paths"].items():
        if not route_path.startswith("/api/v1/") or route_path in allowed:
            continue
        path = re.sub(r"\{[^}]+\}", "x", route_path)
        for method in operations:
            r = await c.request(method.upper(), path, headers=headers, json={})
            assert r.status_code == 403 and r.json()["code"] == "password_change_required", (method, path, r.text)
            checked += 1
    assert checked > 20

    r = await c.post("/api/v1/admin-auth/change-password",
                     json={"current_password": INITIAL_ADMIN_PASSWORD, "new_password": "Changed-After-Expiry-1"},
                     headers=headers)
    assert r.status_code == 200 and r.json()["must_change_password"] is False
    fresh = await _login(admin, password="Changed-After-Expiry-1")
    assert fresh["must_change_password"] is False and fresh["expires_in"] == 1800
    assert "pwd_change_required" not in jwt.decode(str(fresh["access_token"]), options={"verify_signature": False})
    r = await c.get("/api/v1/admin-users", headers={"Authorization": f"Bearer {fresh['access_token']}"})
    assert r.status_code == 200


async def test_unknown_username_locks_like_known(make_settings: Callable[..., Settings]) -> None:
    """По 429 нельзя отличить существующее имя от выдуманного."""
    async with running(make_settings(lockout_threshold=3, lockout_minutes=15)) as a:
        answers: dict[str, list[tuple[int, str, str | None]]] = {}
        for username in ("admin", "ghost-user"):
            seen = []
            for _ in range(4):
                r = await a.client.post("/api/v1/admin-auth/login",
                                        json={"username": username, "password": "bad-pass"})
                seen.append((r.status_code, r.json()["code"], r.json()["detail"]))
                if r.status_code == 429:
                    assert 800 < int(r.headers["retry-after"]) <= 900
            answers[username] = seen
        assert answers["admin"] == answers["ghost-user"]
        assert [s[0] for s in answers["admin"]] == [401, 401, 429, 429]
        # имя без учёта регистра — тот же счётчик, как у настоящих пользователей
        r = await a.client.post("/api/v1/admin-auth/login", json={"username": "GHOST-user", "password": "x"})
        assert r.status_code == 429 and r.json()["code"] == "account_locked"
