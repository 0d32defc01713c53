"""Сборка приложения query-module."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import redis.asyncio as aioredis
from fastapi import FastAPI

from artstore_common import (
    DiscoveryClient,
    JWKSVerifier,
    ServiceClient,
    ServiceTokenProvider,
    create_service_app,
    setup_logging,
)

from .cache import LocationCache
from .elements import Elements
from .events import FileEventsListener
from .files.locate import Locator
from .files.routes import register_fast_routes
from .files.routes import router as files_router
from .files.upstream import ContentStreamer
from .metrics import QueryMetrics
from .search.routes import router as search_router
from .search.service import SearchService
from .settings import Settings, get_settings
from .stats import router as stats_router

VERSION = "0.1.0"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    setup_logging("query-module", settings.log_level, settings.log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.jwt_verifier = JWKSVerifier(settings.jwks_url, settings.jwt_issuer, settings.jwt_audience)
        tokens = ServiceTokenProvider(settings.token_url, settings.client_id, settings.client_secret)
        # Тайм-аут чтения — между порциями тела: большой файл качается сколько нужно.
        app.state.http = http = ServiceClient(
            auth_headers=tokens.headers,
            timeout=httpx.Timeout(settings.download_read_timeout, connect=settings.connect_timeout),
            max_connections=settings.max_connections_per_element,
            failure_threshold=settings.breaker_failure_threshold,
            reset_timeout=settings.breaker_reset_timeout,
        )
        app.state.streamer = ContentStreamer(
            http, transport=settings.download_transport, connect_timeout=settings.connect_timeout,
            read_timeout=settings.download_read_timeout,
            on_unauthorized=tokens.invalidate,
        )
        app.state.discovery = DiscoveryClient(
            settings.redis_url, settings.redis_namespace, settings.data_dir / "query-discovery.json",
            registry=app.state.metrics_registry,
        )
        redis = aioredis.from_url(settings.redis_url, socket_timeout=settings.redis_timeout,
                                  socket_connect_timeout=settings.redis_timeout)
        metrics: QueryMetrics = app.state.metrics
        elements = Elements(app.state.discovery, http, settings.element_timeout, on_unauthorized=tokens.invalidate)
        metrics.watch_breakers(http, elements.targets)
        cache = LocationCache(redis, settings.redis_namespace, metrics, size=settings.location_cache_size,
                              ttl=settings.location_cache_ttl, redis_ttl=settings.redis_location_ttl)
        app.state.locator = Locator(elements, cache, metrics)
        app.state.search = SearchService(elements, metrics, settings.max_result_window,
                                         settings.element_page_limit)
        app.state.file_events = FileEventsListener(settings.redis_url, settings.redis_namespace, cache)
        await app.state.discovery.start()
        await app.state.file_events.start()
        app.state.health.add("discovery", app.state.discovery.health, critical=False)
        app.state.health.add("file_events", app.state.file_events.health, critical=False)
        try:
            yield
        finally:
            await app.state.file_events.stop()
            await app.state.discovery.stop()
            await http.aclose()
            await redis.aclose()
            await tokens.close()
            await app.state.jwt_verifier.close()

    app = create_service_app(
        service="query-module", version=VERSION, title="ArtStore Query",
        description="Поиск по всем элементам хранения, метаданные и скачивание файлов.",
        lifespan=lifespan, cors_origins=settings.cors_origins,
    )
    # Метрики регистрируются при сборке: /metrics отвечает и до старта lifespan.
    app.state.metrics = QueryMetrics(app.state.metrics_registry)
    app.include_router(search_router)
    app.include_router(files_router)
    register_fast_routes(app.state.fast_routes)
    app.include_router(stats_router)
    return app
