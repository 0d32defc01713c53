"""Сборка приложения query-module."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from artstore_common import (
    DiscoveryClient,
    JWKSVerifier,
    ServiceClient,
    ServiceTokenProvider,
    create_service_app,
    setup_logging,
)

from .settings import Settings, get_settings

VERSION = "0.1.0"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    setup_logging("query-module", settings.log_level, settings.log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.jwt_verifier = JWKSVerifier(settings.jwks_url, settings.jwt_issuer, settings.jwt_audience)
        tokens = ServiceTokenProvider(settings.token_url, settings.client_id, settings.client_secret)
        app.state.http = ServiceClient(auth_headers=tokens.headers)
        app.state.discovery = DiscoveryClient(
            settings.redis_url, settings.redis_namespace, settings.data_dir / "query-discovery.json",
            registry=app.state.metrics_registry,
        )
        await app.state.discovery.start()
        app.state.health.add("discovery", app.state.discovery.health, critical=False)
        try:
            yield
        finally:
            await app.state.discovery.stop()
            await app.state.http.aclose()
            await tokens.close()
            await app.state.jwt_verifier.close()

    app = create_service_app(
        service="query-module", version=VERSION, title="ArtStore Query",
        description="Поиск по всем элементам хранения, метаданные и скачивание файлов.",
        lifespan=lifespan, cors_origins=settings.cors_origins,
    )
    return app
