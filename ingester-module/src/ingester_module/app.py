"""Сборка приложения ingester-module: зависимости в ``app.state``, маршруты по доменам."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from artstore_common import (
    DiscoveryClient,
    ElementClient,
    EventOutbox,
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
    make_sessionmaker,
    ping,
    service_state,
    setup_logging,
)

from . import batch, files_routes, metrics
from .locator import Locator
from .metrics import IngesterMetrics, StatsFlusher
from .placement import Placement
from .settings import Settings, get_settings
from .transfer import routes as transfer_routes
from .transfer.models import TransactionRepo, create_schema, event_outbox
from .transfer.saga import SagaRunner
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
        service_state(app).verifier = JWKSVerifier(settings.jwks_url, settings.jwt_issuer, settings.jwt_audience)
        tokens = ServiceTokenProvider(settings.token_url, settings.client_id, settings.client_secret)
        st.elements = ElementClient(tokens, max_connections=200, read_timeout=settings.element_timeout,
                                    reset_timeout=settings.breaker_reset_timeout)
        st.metrics = IngesterMetrics(service_state(app).registry)
        st.redis = make_redis(settings.redis_url, socket_timeout=3, socket_connect_timeout=2,
                                     health_check_interval=30)
        ns = settings.redis_namespace
        st.discovery = DiscoveryClient(settings.redis_url, ns, settings.data_dir / "ingester-discovery.json",
                                       registry=service_state(app).registry, reconnect_interval=1.0)
        await st.discovery.start()
        # предохранители — по адресатам: у реплицированного элемента по одному на члена
        st.metrics.watch(st.elements, lambda: [t.id for e in st.discovery.storage_elements for t in e.targets])
        # поднявшийся элемент или член возвращается в размещение сам, не дожидаясь отказа соседей
        st.elements.start_probing(lambda: [t for e in st.discovery.storage_elements for t in e.targets])
        st.engine = make_engine(settings.database_url, pool_size=5)
        await create_schema(st.engine)
        # событие сначала в PostgreSQL: при недоступном Redis оно дождётся его там, а не пропадёт
        st.outbox = EventOutbox(st.engine, event_outbox, st.redis, ns)
        st.outbox.start()
        st.publisher = EventPublisher(st.redis, ns, outbox=st.outbox)

        def count_limited() -> None:
            st.metrics.tally["rate_limited_total"] += 1

        st.rate_limiter = RateLimiter(st.redis, ns, settings.rate_limit_per_minute, on_limited=count_limited)
        st.locations = LocationStore(st.redis, ns)
        st.placement = Placement(st.discovery, st.elements, st.metrics)
        st.locator = Locator(st.locations, st.discovery, st.elements)
        st.uploads = UploadService(st.placement, st.elements, st.metrics, st.publisher, st.locations)
        st.tus_store = TusStore(st.redis, ns)
        st.stats = StatsFlusher(st.redis, ns, st.metrics)
        st.stats.start()
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
            await st.outbox.stop()
            await st.stats.stop()
            await st.discovery.stop()
            await st.elements.aclose()
            await tokens.close()
            await service_state(app).token_verifier().close()
            await st.redis.aclose()
            await st.engine.dispose()

    app = create_service_app(
        service=ServiceName.INGESTER, version=VERSION, title="ArtStore Ingester",
        description="Загрузка файлов потоком (multipart и tus), удаление, finalize/transfer, пакетные операции.",
        lifespan=lifespan, cors_origins=settings.cors_origins, issuer=settings.jwt_issuer,
    )
    include_routers(app, upload_routes.router, tus_routes.router, files_routes.router, batch.router,
                    transfer_routes.router, metrics.router, transfer_routes.legacy)
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
        detail: str | None = await st.discovery.health()
        return detail

    service_state(app).health.add("postgres", postgres)
    service_state(app).health.add("redis", redis_check)
    service_state(app).health.add("discovery", snapshot)
    # события, которые ждут Redis в outbox: сервис работает («degraded»), но вебхуки и кэши query отстают
    service_state(app).health.add("event_outbox", st.outbox.health, critical=False)
