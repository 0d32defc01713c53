"""Общие фикстуры тестов admin-module: настоящие PostgreSQL и Redis, приложение в процессе."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from admin_module.app import create_app
from admin_module.settings import Settings

INITIAL_CLIENT_ID = "admin-service-test"
INITIAL_CLIENT_SECRET = "initial-secret-for-tests-0123456789"
INITIAL_ADMIN_PASSWORD = "Initial-Admin-Pass-42"


@pytest.fixture
def make_settings(database_url: str, redis_url: str, redis_namespace: str, tmp_path: Any) -> Callable[..., Settings]:
    def factory(**overrides: Any) -> Settings:
        values: dict[str, Any] = dict(
            environment="test", database_url=database_url, redis_url=redis_url, redis_namespace=redis_namespace,
            key_encryption_key="test-kek-" + redis_namespace, bcrypt_rounds=4, log_format="text",
            data_dir=tmp_path, initial_client_id=INITIAL_CLIENT_ID, initial_client_secret=INITIAL_CLIENT_SECRET,
            initial_admin_password=INITIAL_ADMIN_PASSWORD, key_size=2048, webhook_worker_interval_seconds=0.2,
        )
        values.update(overrides)
        return Settings(**values)

    return factory


@dataclass
class Admin:
    """Запущенное приложение и клиент к нему с готовыми токенами."""

    app: FastAPI
    client: httpx.AsyncClient

    async def token(self, client_id: str = INITIAL_CLIENT_ID, secret: str = INITIAL_CLIENT_SECRET) -> str:
        r = await self.client.post("/api/v1/auth/token", json={"client_id": client_id, "client_secret": secret})
        assert r.status_code == 200, r.text
        return r.json()["access_token"]

    async def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.token()}"}


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Admin]:
    app = create_app(settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://admin"
    ) as client:
        yield Admin(app, client)


@pytest.fixture
async def admin(make_settings: Callable[..., Settings]) -> AsyncIterator[Admin]:
    async with running(make_settings()) as a:
        yield a


@pytest.fixture
async def auth(admin: Admin) -> dict[str, str]:
    return await admin.headers()


class FakeElement:
    """Настоящий HTTP storage-element на loopback с минимумом API, который зовёт admin-module.

    С ``member_id`` — член реплицированного элемента: /info отвечает ещё ``member_id`` и блоком
    ``replication`` (docs/replication.md §1); его peers задаёт тест, когда известны адреса всех членов.
    """

    def __init__(self, element_id: str = "se-test-01", member_id: str | None = None) -> None:

        self.info: dict[str, Any] = {
            "id": element_id, "name": "Тестовый элемент", "mode": "rw", "storage_type": "local", "status": "ok",
            "capacity_bytes": 1 << 30, "used_bytes": 1234, "free_bytes": (1 << 30) - 1234,
            "disk_free_bytes": 1 << 33, "file_count": 0, "retention_days": 30, "priority": 100,
            "api_url": "", "version": "0.1.0",
        }
        if member_id is not None:
            self.info["member_id"] = member_id
            self.info["replication"] = {"mode": "sync", "quorum": 2, "interval_s": 30, "peers": [],
                                        "lag_seconds": 0, "under_replicated": 0}
        self.info_hits = 0
        self.auth_headers: list[str] = []
        self.info_auth_headers: list[str] = []
        self.fail_info = False
        # команды ADMIN (режим, кэш, скраб) отвечают 503 — член есть в сети, но команду не выполняет
        self.fail_commands = False
        self.commands: list[str] = []
        app = FastAPI()

        @app.middleware("http")
        async def commands(request: Request, call_next: Any) -> Any:
            if request.url.path != "/api/v1/info":
                self.commands.append(f"{request.method} {request.url.path}")
                if self.fail_commands:
                    from fastapi.responses import JSONResponse

                    return JSONResponse({"code": "maintenance", "detail": "член занят"}, status_code=503,
                                        media_type="application/problem+json")
            return await call_next(request)

        @app.get("/api/v1/info")
        async def info(request: Request) -> Any:
            # как настоящий элемент: без Bearer — 401 (подпись проверяет тест через JWKS admin)
            header = request.headers.get("authorization", "")
            if not header.startswith("Bearer "):
                from fastapi.responses import JSONResponse

                return JSONResponse({"code": "unauthorized", "detail": "нужен токен"}, status_code=401,
                                    headers={"WWW-Authenticate": "Bearer"})
            self.info_auth_headers.append(header)
            self.info_hits += 1
            if self.fail_info:
                from fastapi.responses import JSONResponse

                return JSONResponse({"detail": "down"}, status_code=503)
            return self.info

        @app.post("/api/v1/mode")
        async def mode(request: Request) -> Any:
            self.auth_headers.append(request.headers.get("authorization", ""))
            body = await request.json()
            # как настоящий элемент: тот же режим — не ошибка (повтор команды после частичного отказа)
            allowed = {("rw", "ro"), ("ro", "ar"), (self.info["mode"], self.info["mode"])}
            if (self.info["mode"], body["mode"]) not in allowed:
                from fastapi.responses import JSONResponse

                return JSONResponse({"code": "invalid_mode_transition", "detail": "нельзя"}, status_code=409,
                                    media_type="application/problem+json")
            self.info["mode"] = body["mode"]
            return {"mode": body["mode"]}

        @app.get("/api/v1/cache/consistency")
        async def consistency(request: Request) -> Any:
            self.auth_headers.append(request.headers.get("authorization", ""))
            return {"orphan_data": [], "orphan_attr": [], "stale_rows": [], "mismatches": [], "checked": 3}

        @app.post("/api/v1/cache/rebuild")
        async def rebuild(request: Request) -> Any:
            self.auth_headers.append(request.headers.get("authorization", ""))
            return {"scanned": 3, "inserted": 0, "updated": 0, "removed": 0, "errors": 0,
                    "mode": request.query_params.get("mode")}

        @app.post("/api/v1/scrub")
        async def scrub(request: Request) -> Any:
            self.auth_headers.append(request.headers.get("authorization", ""))
            return {"checked": 3, "corrupted": [], "missing": [], "duration_s": 0.01}

        from artstore_common.testing import UvicornThread

        self.server = UvicornThread(app)
        self.url = self.server.url
        self.info["api_url"] = self.url

    def set_peers(self, members: list[FakeElement]) -> None:
        assert "replication" in self.info
        self.info["replication"]["peers"] = [{"id": m.info["member_id"], "api_url": m.url} for m in members]

    def __enter__(self) -> FakeElement:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.__exit__(*exc)


@pytest.fixture
def fake_element() -> Any:
    with FakeElement() as element:
        yield element
