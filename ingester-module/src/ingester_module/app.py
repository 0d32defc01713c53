"""Сборка приложения ingester-module: зависимости в ``app.state``, маршруты по доменам."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import redis.asyncio as aioredis
from fastapi import FastAPI

from artstore_common import (
    DiscoveryClient,
    EventPublisher,
    JWKSVerifier,
    ServiceClient,
    ServiceTokenProvider,
    create_service_app,
    make_engine,
    make_sessionmaker,
    ping,
    setup_logging,
)

from . import batch, files_routes, metrics
from .elements import ElementClient
from .locator import Locator
from .metrics import IngesterMetrics, StatsFlusher
from .placement import Placement
from .ratelimit import RateLimiter
from .settings import Settings, get_settings
from .transfer import routes as transfer_routes
from .transfer.models import TransactionRepo, create_schema
from .transfer.saga import SagaRunner
from .transport import FastTransport
from .tus import routes as tus_routes
from .tus.store import TusStore
from .upload import routes as upload_routes
from .upload.service import UploadService

VERSION = "0.1.0"
_log = logging.getLogger("ingester")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    setup_logging("ingester-module", settings.log_level, settings.log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        st = app.state
        st.settings = settings
        st.jwt_verifier = JWKSVerifier(settings.jwks_url, settings.jwt_issuer, settings.jwt_audience)
        tokens = ServiceTokenProvider(settings.token_url, settings.client_id, settings.client_secret)
        st.http = ServiceClient(auth_headers=tokens.headers, max_connections=200,
                                timeout=httpx.Timeout(settings.element_timeout, connect=3.0),
                                reset_timeout=settings.breaker_reset_timeout)
        st.metrics = IngesterMetrics(st.metrics_registry)
        st.metrics.watch_breakers(lambda: st.http.breakers)
        st.redis = aioredis.from_url(settings.redis_url, socket_timeout=3, socket_connect_timeout=2,
                                     health_check_interval=30)
        ns = settings.redis_namespace
        st.discovery = DiscoveryClient(settings.redis_url, ns, settings.data_dir / "ingester-discovery.json",
                                       registry=st.metrics_registry, reconnect_interval=1.0)
        await st.discovery.start()
        st.publisher = EventPublisher(st.redis, ns)
        st.rate_limiter = RateLimiter(st.redis, ns, settings.rate_limit_per_minute)
        st.fast = FastTransport(st.http, tokens.headers, timeout=settings.element_timeout)
        st.elements = ElementClient(st.http, st.fast)
        st.placement = Placement(st.discovery, st.http, st.metrics)
        st.locator = Locator(st.redis, ns, st.discovery, st.elements)
        st.uploads = UploadService(st.placement, st.elements, st.metrics, st.publisher, f"{ns}:loc:")
        st.tus_store = TusStore(st.redis, ns)
        st.stats = StatsFlusher(st.redis, ns, st.metrics)
        st.stats.start()
        st.engine = make_engine(settings.database_url, pool_size=5)
        await create_schema(st.engine)
        st.transactions = TransactionRepo(st.engine, make_sessionmaker(st.engine))

        async def refresh_saga_counts() -> None:
            with contextlib.suppress(Exception):
                st.metrics.saga_counts = await st.transactions.counts()

        st.refresh_saga_counts = refresh_saga_counts
        st.saga = SagaRunner(st.transactions, st.discovery, st.elements, st.locator, st.publisher,
                             max_attempts=settings.saga_max_attempts, retry_delay=settings.saga_retry_delay,
                             on_change=refresh_saga_counts)
        _add_health(app)
        # незавершённые саги (ingester перезапускался) — продолжить; каждую ведёт одна реплика
        resume = asyncio.create_task(_resume(st.saga, refresh_saga_counts), name="saga-resume")
        try:
            yield
        finally:
            resume.cancel()
            await st.rate_limiter.close()
            await st.saga.stop()
            await st.stats.stop()
            await st.discovery.stop()
            await st.http.aclose()
            await tokens.close()
            await st.jwt_verifier.close()
            await st.redis.aclose()
            await st.engine.dispose()

    app = create_service_app(
        service="ingester-module", version=VERSION, title="ArtStore Ingester",
        description="Загрузка файлов потоком (multipart и tus), удаление, finalize/transfer, пакетные операции.",
        lifespan=lifespan, cors_origins=settings.cors_origins,
    )
    for module in (upload_routes, tus_routes, files_routes, batch, transfer_routes, metrics):
        app.include_router(module.router)
    app.include_router(transfer_routes.legacy)
    upload_routes.register_fast_routes(app.state.fast_routes)
    return app


async def _resume(saga: SagaRunner, refresh: object) -> None:
    try:
        await saga.resume_all()
    except Exception:
        _log.exception("не удалось продолжить незавершённые саги")
    if callable(refresh):
        await refresh()


def _add_health(app: FastAPI) -> None:
    st = app.state

    async def postgres() -> None:
        await ping(st.engine)

    async def redis_check() -> str | None:
        try:
            await st.redis.ping()
        except Exception as exc:
            if st.discovery.elements:
                return f"Redis недоступен ({exc}); работаю из локального снимка discovery"
            raise
        return None

    async def snapshot() -> str | None:
        if not st.discovery.elements:
            raise RuntimeError("снимок discovery пуст: нет ни одного элемента хранения (Redis и локальный файл)")
        return await st.discovery.health()

    st.health.add("postgres", postgres)
    st.health.add("redis", redis_check)
    st.health.add("discovery", snapshot)
