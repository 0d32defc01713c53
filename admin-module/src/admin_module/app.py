"""Сборка приложения admin-module."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from artstore_common import (
    EventOutbox,
    EventPublisher,
    ServiceName,
    create_service_app,
    make_engine,
    make_redis,
    make_sessionmaker,
    ping,
    service_state,
    session_scope,
    setup_logging,
)

from . import bootstrap
from .accounts.endpoints import router as accounts_router
from .admin_users.endpoints import auth_router as admin_auth_router
from .admin_users.endpoints import router as admin_users_router
from .admin_users.service import LoginService
from .audit import service as audit
from .audit.endpoints import router as audit_router
from .audit.events import AuditEventConsumer
from .auth.endpoints import router as token_router
from .auth.service import ClientAuthenticator, Throttle, VerificationCache
from .db import event_outbox
from .deps import Actor
from .jobs import LeaderJob
from .keys.endpoints import jwks_router
from .keys.endpoints import router as keys_router
from .keys.service import KeyManager, LocalKeyVerifier
from .metrics import AdminMetrics
from .security import SecretBox, resolve_kek
from .settings import Settings, get_settings
from .storage_elements.endpoints import router as elements_router
from .storage_elements.service import Registry
from .webhooks.endpoints import router as webhooks_router
from .webhooks.service import WebhookDispatcher

VERSION = "0.1.0"

TAGS = [
    {"name": "auth", "description": "OAuth 2.0 client credentials → RS256 JWT"},
    {"name": "jwks", "description": "Публичные ключи для проверки токенов"},
    {"name": "admin-auth", "description": "Вход людей в admin-ui: пароль, TOTP, refresh"},
    {"name": "service-accounts", "description": "Сервисные аккаунты"},
    {"name": "webhooks", "description": "Вебхуки событий файлов"},
    {"name": "admin-users", "description": "Пользователи admin-ui"},
    {"name": "storage-elements", "description": "Реестр элементов хранения"},
    {"name": "jwt-keys", "description": "Ключи подписи и их ротация"},
    {"name": "audit", "description": "Журнал аудита с цепочкой хэшей"},
]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    setup_logging("admin-module", settings.log_level, settings.log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        st = app.state
        st.settings = settings
        st.box = box = SecretBox(resolve_kek(settings.key_encryption_key, settings.environment, settings.data_dir))
        st.engine = engine = make_engine(settings.database_url)
        st.sessionmaker = maker = make_sessionmaker(engine)
        st.redis = redis = make_redis(settings.redis_url, socket_timeout=5, socket_connect_timeout=3)
        metrics: AdminMetrics = st.admin_metrics
        st.keys = keys = KeyManager(settings, box, maker, metrics)
        jobs: list[LeaderJob] = []
        dispatcher: WebhookDispatcher | None = None
        audit_events: AuditEventConsumer | None = None
        registry: Registry | None = None
        audit_buffer: audit.AuditBuffer | None = None
        outbox: EventOutbox | None = None
        try:
            await bootstrap.run(engine, maker, settings, keys)
            st.audit_buffer = audit_buffer = audit.AuditBuffer(maker)
            audit_buffer.start()
            service_state(app).verifier = LocalKeyVerifier(maker, settings.jwt_issuer, settings.jwt_audience)
            st.authenticator = ClientAuthenticator(
                settings,
                Throttle(redis, settings.redis_namespace, settings.token_throttle_attempts,
                         settings.token_throttle_window_seconds),
                VerificationCache(settings.secret_cache_seconds),
            )
            st.logins = LoginService(settings, maker, keys, box, redis, metrics)
            st.registry = registry = Registry(settings, maker, redis, keys, metrics)
            st.webhooks = dispatcher = WebhookDispatcher(settings, maker, settings.redis_url, box, metrics)
            st.audit_events = audit_events = AuditEventConsumer(settings.redis_url, settings.redis_namespace, maker)
            # события admin (аккаунт удалён, приостановлен) — через outbox: ретранслятор переносит строки в Redis
            st.outbox = outbox = EventOutbox(engine, event_outbox, redis, settings.redis_namespace)
            st.publisher = EventPublisher(redis, settings.redis_namespace, outbox=outbox)
            outbox.start()

            async def rotate_step() -> None:
                async with session_scope(maker) as session:
                    result = await keys.tick(session)
                    if result:
                        await audit.record(session, Actor.system("key-rotation"), "jwt_key.rotate",
                                           target_type="jwt_key", target_id=result.get("active_kid"),
                                           details=result)

            rotation_every = max(0.5, min(settings.job_tick_seconds, settings.key_rotation_hours * 3600 / 10))
            jobs = [LeaderJob(engine, "key-rotation", lambda: rotation_every, rotate_step),
                    LeaderJob(engine, "registry-poll", lambda: settings.poll_interval_seconds, registry.step)]
            st.jobs = {job.name: job for job in jobs}

            async def pg_check() -> str | None:
                await ping(engine)
                return None

            async def redis_check() -> str | None:
                try:
                    await redis.ping()
                except Exception as exc:
                    return (f"Redis недоступен ({type(exc).__name__}): токены выдаются, но снимок discovery "
                            "не публикуется и вебхуки ждут")
                return None

            service_state(app).health.add("postgres", pg_check)
            service_state(app).health.add("redis", redis_check, critical=False)
            service_state(app).health.add("event_outbox", outbox.health, critical=False)
            if settings.jobs_enabled:
                for job in jobs:
                    job.start()
                dispatcher.start()
                audit_events.start()
            yield
        finally:
            for job in jobs:
                await job.stop()
            if outbox is not None:
                await outbox.stop()
            if dispatcher is not None:
                await dispatcher.stop()
            if audit_events is not None:
                await audit_events.stop()
            if registry is not None:
                await registry.aclose()
            if audit_buffer is not None:
                await audit_buffer.stop()
            verifier = service_state(app).verifier
            if verifier is not None:
                await verifier.close()
            await redis.aclose()
            await engine.dispose()

    app = create_service_app(
        service=ServiceName.ADMIN, version=VERSION, title="ArtStore Admin",
        description="Токены и ключи, сервисные аккаунты, пользователи admin-ui, реестр элементов хранения, "
                    "вебхуки и журнал аудита.",
        lifespan=lifespan, cors_origins=settings.cors_origins, issuer=settings.jwt_issuer, openapi_tags=TAGS,
    )
    app.state.settings = settings
    app.state.admin_metrics = AdminMetrics(service_state(app).registry)
    api = APIRouter(prefix="/api/v1")
    for router in (admin_auth_router, accounts_router, webhooks_router, admin_users_router, elements_router,
                   keys_router, audit_router):
        api.include_router(router)
    app.include_router(token_router)
    app.include_router(jwks_router)
    app.include_router(api)
    return app
