"""Сборка приложения query-module."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from artstore_common import (
    DiscoveryClient,
    ElementClient,
    EventPublisher,
    JWKSVerifier,
    LocationStore,
    RateLimiter,
    ServiceName,
    ServiceTokenProvider,
    create_service_app,
    include_routers,
    make_engine,
    make_redis,
    ping,
    service_state,
    setup_logging,
)

from .cache import LocationCache
from .elements import Elements
from .events import FileEventsListener
from .files.locate import Locator
from .files.routes import router as files_router
from .links import routes as link_routes
from .links.service import AccountEvents, LinkService
from .links.store import LinkStore, create_schema
from .links.token import redact_access_log
from .metrics import QueryMetrics
from .search.routes import router as search_router
from .search.service import SearchService
from .settings import Settings, get_settings
from .stats import router as stats_router

VERSION = "0.1.0"
_log = logging.getLogger("query")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    setup_logging("query-module", settings.log_level, settings.log_format)
    redact_access_log()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        service_state(app).verifier = JWKSVerifier(settings.jwks_url, settings.jwt_issuer, settings.jwt_audience)
        tokens = ServiceTokenProvider(settings.token_url, settings.client_id, settings.client_secret)
        # Тайм-аут чтения — между порциями тела: большой файл качается сколько нужно.
        client = ElementClient(
            tokens, connect_timeout=settings.connect_timeout, read_timeout=settings.download_read_timeout,
            max_connections=settings.max_connections_per_element,
            failure_threshold=settings.breaker_failure_threshold, reset_timeout=settings.breaker_reset_timeout,
        )
        app.state.discovery = DiscoveryClient(
            settings.redis_url, settings.redis_namespace, settings.data_dir / "query-discovery.json",
            registry=service_state(app).registry,
        )
        redis = make_redis(settings.redis_url, socket_timeout=settings.redis_timeout,
                                  socket_connect_timeout=settings.redis_timeout)
        metrics: QueryMetrics = app.state.metrics
        app.state.elements = elements = Elements(app.state.discovery, client, settings.element_timeout)
        metrics.watch_breakers(client, elements.ids)
        # поднявшийся член снова в круге чтения сам, не дожидаясь отказа соседей
        client.start_probing(lambda: [t for e in app.state.discovery.storage_elements for t in e.targets])
        store = LocationStore(redis, settings.redis_namespace, ttl=settings.redis_location_ttl)
        cache = LocationCache(store, metrics, size=settings.location_cache_size, ttl=settings.location_cache_ttl)
        app.state.locator = Locator(elements, cache, metrics)
        app.state.rate_limiter = limiter = RateLimiter(
            redis, settings.redis_namespace, settings.rate_limit_per_minute, scope="query", claim=None,
            on_limited=metrics.rate_limited.inc,
        )
        app.state.search = SearchService(elements, metrics, settings.max_result_window,
                                         settings.element_page_limit)
        app.state.file_events = FileEventsListener(settings.redis_url, settings.redis_namespace, cache)
        await app.state.discovery.start()
        await app.state.file_events.start()
        service_state(app).health.add("discovery", app.state.discovery.health, critical=False)
        service_state(app).health.add("file_events", app.state.file_events.health, critical=False)
        engine = make_engine(settings.database_url, pool_size=5)
        links = asyncio.create_task(_start_links(app, settings, engine, redis), name="links-schema")

        async def postgres() -> str | None:
            if getattr(app.state, "links", None) is None:
                return "временные ссылки ждут PostgreSQL (миграции query_links не применены)"
            await ping(engine)
            return None

        # Чтение (поиск, скачивание по токену) без PostgreSQL работает — без него нет только ссылок.
        service_state(app).health.add("postgres", postgres, critical=False)
        try:
            yield
        finally:
            links.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await links
            if getattr(app.state, "account_events", None) is not None:
                await app.state.account_events.stop()
            await engine.dispose()
            await app.state.file_events.stop()
            await limiter.close()
            await app.state.discovery.stop()
            await client.aclose()
            await redis.aclose()
            await tokens.close()
            await service_state(app).token_verifier().close()

    app = create_service_app(
        service=ServiceName.QUERY, version=VERSION, title="ArtStore Query",
        description="Поиск по всем элементам хранения, метаданные и скачивание файлов.",
        lifespan=lifespan, cors_origins=settings.cors_origins, issuer=settings.jwt_issuer,
    )
    # Метрики регистрируются при сборке: /metrics отвечает и до старта lifespan.
    app.state.metrics = QueryMetrics(service_state(app).registry)
    include_routers(app, search_router, files_router, link_routes.files_router, link_routes.router, stats_router)
    return app


async def _start_links(app: FastAPI, settings: Settings, engine: AsyncEngine, redis: Redis) -> None:
    """Схема ссылок — при старте, а если PostgreSQL ещё нет — повторами в фоне: query не ждёт базу,
    без которой поиск и скачивание по токену обходятся."""
    secret = settings.link_secret
    if not secret:
        # вне development пустой секрет не пропустит проверка настроек (secret_fields)
        secret = secrets.token_urlsafe(32)
        _log.warning("QUERY_LINK_SECRET не задан: ссылки подписываются случайным секретом этого процесса "
                     "и не переживут его перезапуск")
    delay = 1.0
    while True:
        try:
            await create_schema(engine)
            break
        except Exception as exc:
            _log.warning("схема query_links не применена (%s); повтор через %.0f с", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
    app.state.links = LinkService(LinkStore(engine), EventPublisher(redis, settings.redis_namespace),
                                  secret.encode(), settings.link_max_ttl)
    # удалённый или приостановленный в admin аккаунт теряет свои ссылки (docs/links.md)
    app.state.account_events = AccountEvents(settings.redis_url, settings.redis_namespace, app.state.links)
    app.state.account_events.start()
