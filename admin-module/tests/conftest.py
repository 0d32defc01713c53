"""Общие фикстуры тестов admin-module: настоящие PostgreSQL и Redis, приложение в процессе."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

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
