"""Матрица ролей × эндпоинтов: обходит ``app.routes``, поэтому новый эндпоинт проверяется автоматически.

Политика: публичны только здоровье, метрики, JWKS, метаданные OAuth, выдача токенов, вход и refresh;
``/admin-auth/*`` — любая роль (самообслуживание); прочие GET — ADMIN и AUDITOR; всё остальное — только ADMIN.
"""

from __future__ import annotations

import re

from fastapi.routing import APIRoute, iter_route_contexts

from .conftest import Admin

PUBLIC = {
    "/health/live", "/health/ready", "/metrics", "/.well-known/jwks.json", "/api/v1/auth/token", "/api/auth/token",
    "/api/v1/admin-auth/login", "/api/v1/admin-auth/refresh", "/.well-known/oauth-authorization-server",
}
SELF_SERVICE_PREFIX = "/api/v1/admin-auth/"


def _allowed(path: str, method: str) -> set[str]:
    if path.startswith(SELF_SERVICE_PREFIX):
        return {"ADMIN", "AUDITOR", "USER", "READONLY"}
    if method in ("GET", "HEAD"):
        return {"ADMIN", "AUDITOR"}
    return {"ADMIN"}


async def test_every_endpoint_enforces_roles(admin: Admin) -> None:
    app = admin.app
    tokens = {}
    for role in ("ADMIN", "AUDITOR", "USER", "READONLY"):
        token, _ = await app.state.keys.issue(subject=f"matrix-{role.lower()}", role=role, name=f"m-{role}",
                                              grant="test", extra={"kind": "user"})
        tokens[role] = {"Authorization": f"Bearer {token}"}
    checked = 0
    # FastAPI 0.165 хранит подключённые роутеры узлами; iter_route_contexts раскрывает их в полные пути
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or route.path in PUBLIC:
            continue
        path = re.sub(r"\{[^}]+\}", "no-such-id", route.path)
        for method in sorted((route.methods or set()) - {"HEAD", "OPTIONS"}):
            checked += 1
            r = await admin.client.request(method, path)
            assert r.status_code == 401, f"{method} {route.path} без токена → {r.status_code}"
            assert r.headers.get("www-authenticate", "").startswith("Bearer"), route.path
            bad = await admin.client.request(method, path, headers={"Authorization": "Bearer not-a-jwt"})
            assert bad.status_code == 401, f"{method} {route.path} с мусорным токеном → {bad.status_code}"
            allowed = _allowed(route.path, method)
            for role, headers in tokens.items():
                r = await admin.client.request(method, path, headers=headers)
                if role in allowed:
                    assert r.status_code not in (401, 403), f"{method} {route.path} {role} → {r.status_code} {r.text}"
                else:
                    assert r.status_code == 403, f"{method} {route.path} {role} → {r.status_code}"
                    assert r.json()["code"] == "forbidden"
    assert checked >= 40, checked


async def test_public_endpoints_need_no_token(admin: Admin) -> None:
    for path in ("/health/live", "/health/ready", "/.well-known/jwks.json", "/.well-known/oauth-authorization-server",
                 "/metrics", "/openapi.json"):
        r = await admin.client.get(path)
        assert r.status_code == 200, path
    ready = (await admin.client.get("/health/ready")).json()
    assert ready["checks"]["postgres"]["critical"] is True
    assert ready["checks"]["redis"]["critical"] is False
