"""Общие фикстуры тестов элемента: настройки на tmp-каталоге, S3 через moto (server mode), клиент API."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from moto.server import ThreadedMotoServer

from artstore_common.testing import TEST_ISSUER, JWKSServer, free_port
from storage_element.app import create_app
from storage_element.settings import Settings


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(params=["local", "s3"])
def backend_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_settings(tmp_path: Path, database_url: str, redis_url: str, redis_namespace: str,
                  jwks_server: JWKSServer, moto_url: str) -> Callable[..., Settings]:
    bucket = f"se-{uuid.uuid4().hex[:10]}"

    def factory(**overrides: Any) -> Settings:
        base: dict[str, Any] = dict(
            environment="development", log_format="text", log_level="WARNING",
            element_id="se-t1", data_dir=tmp_path / "data", cold_dir=tmp_path / "cold",
            database_url=database_url, redis_url=redis_url, redis_namespace=redis_namespace,
            jwks_url=jwks_server.url, jwt_issuer=TEST_ISSUER, jwt_audience="artstore",
            table_prefix="storage_elem_t1", max_size="1GiB",
            s3_endpoint_url=moto_url, s3_bucket=bucket, s3_cold_bucket=bucket + "-cold",
            s3_access_key="testing", s3_secret_key="testing",
            scrub_interval_hours=0, retention_interval_hours=0,
        )
        base.update(overrides)
        return Settings(**base)

    return factory


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://se",
                                                                   timeout=60) as client:
        yield app, client


@pytest.fixture
def admin(token_factory: Any) -> dict[str, str]:
    return token_factory.headers("ADMIN")


def meta_header(**meta: Any) -> str:
    meta.setdefault("original_filename", "отчёт.pdf")
    meta.setdefault("created_by_username", "ivanov")
    meta.setdefault("created_by_id", "u-1")
    raw = json.dumps(meta, ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def put(client: httpx.AsyncClient, headers: dict[str, str], data: bytes, file_id: str | None = None,
              **meta: Any) -> httpx.Response:
    file_id = file_id or str(uuid.uuid4())
    return await client.put(f"/api/v1/files/{file_id}", content=data,
                            headers={**headers, "X-Artstore-Meta": meta_header(**meta)})
