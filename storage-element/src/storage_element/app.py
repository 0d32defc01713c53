"""Сборка приложения элемента хранения: при старте — кэш-таблица, восстановление по WAL, фоновые задачи."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from artstore_common import (
    EventPublisher,
    JWKSVerifier,
    ServiceName,
    create_service_app,
    include_routers,
    make_engine,
    make_redis,
    ping,
    service_state,
    setup_logging,
)

from .archive import archive_all
from .backends import make_backend
from .element import Element
from .events import open_outbox
from .reconcile import rebuild, recover
from .replication import Replication
from .retention import run_retention
from .routes import admin, files, replication, search, uploads
from .scrub import scrub
from .settings import Settings, get_settings
from .uploads import Uploads

VERSION = admin.VERSION
_log = logging.getLogger("storage_element")


async def _periodic(name: str, hours: float, job: Callable[[], Awaitable[Any]], first_delay: float) -> None:
    """Повторять задачу; сбой одной итерации не останавливает следующие."""
    if hours <= 0:
        return
    await asyncio.sleep(first_delay)
    while True:
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception:
            _log.exception("фоновая задача %s завершилась ошибкой", name)
        await asyncio.sleep(hours * 3600)


async def _writable(path: Any) -> str | None:
    if not await asyncio.to_thread(os.access, path, os.W_OK):
        raise OSError(f"каталог {path} недоступен для записи")
    return None


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    setup_logging("storage-element", settings.log_level, settings.log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        service_state(app).verifier = JWKSVerifier(settings.jwks_url, settings.jwt_issuer, settings.jwt_audience)
        engine = make_engine(settings.database_url)
        redis = make_redis(settings.redis_url)
        backend = make_backend(settings)
        await backend.start()
        outbox = await open_outbox(settings, engine, redis)
        el = Element(settings, backend, engine, EventPublisher(redis, settings.redis_namespace, outbox=outbox),
                     service_state(app).registry)
        app.state.element = el
        await el.cache.create()
        await el.cache.start(settings.database_url)
        outbox.start()
        outcome = await recover(el)
        if outcome["completed"] or outcome["rolled_back"]:
            _log.warning("восстановление по WAL: доведено %(completed)d, откатано %(rolled_back)d", outcome)
        if outcome["quarantined"]:
            _log.error("восстановление по WAL: %d записей отложено в карантин %s — разберите их вручную",
                       outcome["quarantined"], el.wal.dir / "quarantine")
        await el.refresh_totals()
        if el.fresh_disk and el.file_count and settings.storage_type == "local":
            # диск пуст (заменён), а кэш-таблица в PostgreSQL помнит его файлы: правда — attr.json на диске;
            # член с таким диском иначе считал бы файлы своими и не забрал бы их у соседей
            _log.warning("каталог %s новый, а кэш помнит %d файлов — кэш пересобирается по диску",
                         el.data_dir, el.file_count)
            await rebuild(el, "full")
        if settings.replicated:
            el.replication = Replication(el, settings, service_state(app).registry)
        app.state.uploads = Uploads(el)
        service_state(app).health.add("database", lambda: ping(engine))
        service_state(app).health.add("storage", backend.health)
        service_state(app).health.add("wal", lambda: _writable(el.wal.dir))

        async def _redis() -> str | None:
            await redis.ping()
            return None

        # без Redis элемент пишет и читает, а его события ждут в outbox PostgreSQL
        service_state(app).health.add("redis", _redis, critical=False)
        service_state(app).health.add("event_outbox", outbox.health, critical=False)
        async def _scrub_job() -> None:
            async with el.maintenance:
                await scrub(el)

        tasks = [
            el.spawn(_periodic("retention", settings.retention_interval_hours, lambda: run_retention(el), 30)),
            el.spawn(_periodic("scrub", settings.scrub_interval_hours, _scrub_job, 600)),
            el.spawn(_periodic("uploads-expiry", 1.0, app.state.uploads.expire, 60)),
        ]
        if el.mode == "ar":
            tasks.append(el.spawn(archive_all(el)))
        if el.replication is not None:
            tasks += [el.spawn(el.replication.run()), el.spawn(el.replication.lead())]
        _log.info("элемент %s запущен: режим %s, хранилище %s, файлов %d", settings.element_id, el.mode,
                  settings.storage_type, el.file_count)
        try:
            yield
        finally:
            for task in list(el.background):
                task.cancel()
            for task in list(el.background):
                with contextlib.suppress(BaseException):
                    await task
            el.wal.close()
            if el.replication is not None:
                await el.replication.aclose()
            await outbox.stop()
            await el.cache.close()
            await backend.close()
            await redis.aclose()
            await engine.dispose()
            await service_state(app).token_verifier().close()

    app = create_service_app(
        service=ServiceName.STORAGE_ELEMENT, version=VERSION, title="ArtStore Storage Element",
        description="Элемент хранения: файлы и attr.json, локальный WAL, кэш в PostgreSQL, поиск по кэшу.",
        lifespan=lifespan, cors_origins=settings.cors_origins, issuer=settings.jwt_issuer,
    )
    include_routers(app, admin.router, files.router, replication.router, search.router, uploads.router)
    return app
