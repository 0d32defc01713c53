"""Сборка FastAPI-приложения сервиса: ошибки, метрики, журнал запросов, CORS, здоровье, трассировка."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._errors import install_error_handlers, problem_response
from ._fastpath import FastPathMiddleware, FastRoutes
from ._health import HealthRegistry, health_router
from ._logging import request_id_var
from ._metrics import HttpMetrics, MetricsMiddleware, metrics_router, new_registry
from ._openapi import install_openapi
from ._state import ServiceState
from ._tracing import setup_tracing

_access = logging.getLogger("artstore.access")
_QUIET_PATHS = frozenset({"/metrics", "/health/live", "/health/ready"})


def _has_nul(scope: Scope) -> bool:
    raw = scope.get("raw_path") or b""
    return "\x00" in scope["path"] or b"%00" in raw or b"%00" in scope.get("query_string", b"")


class RequestContextMiddleware:
    """request_id из ``X-Request-ID`` (или новый), в ответ и в журнал; строка журнала на запрос."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                rid = value.decode("latin-1")[:128]
                break
        # 32 hex-символа, как uuid4().hex, но без конструктора UUID (~30 мкс на запрос на этой машине)
        rid = rid or os.urandom(16).hex()
        if _has_nul(scope):
            # NUL в пути или параметрах не бывает законным: PostgreSQL его не хранит, ФС не принимает —
            # отказ здесь один раз за все сервисы, а не 500 в глубине каждого.
            response = problem_response(400, "bad_request", "символ NUL (%00) в адресе запроса недопустим",
                                        headers={"X-Request-ID": rid})
            await response(scope, receive, send)
            return
        token = request_id_var.set(rid)
        started = time.perf_counter()
        status = {"code": 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if scope["path"] not in _QUIET_PATHS and _access.isEnabledFor(logging.INFO):
                _access.info(
                    "%s %s → %s", scope["method"], scope["path"], status["code"],
                    extra={"http_method": scope["method"], "http_path": scope["path"], "status": status["code"],
                           "duration_ms": round((time.perf_counter() - started) * 1000, 2)},
                )
            request_id_var.reset(token)


Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


# Сборщик циклов в сервисе под нагрузкой (замер: 3 000 загрузок по 64 КиБ, 16 параллельно):
# - полная сборка (поколение 2) обходила ~145 тыс. объектов, созданных при старте (FastAPI, pydantic,
#   SQLAlchemy), — ~100 мс остановки всего сервиса каждая, 2–4 раза за прогон;
# - порог поколения 0 в 700 объектов запускал сборку 300–600 раз (0,25 с CPU на процесс), хотя почти
#   всё молодое и так освобождается счётчиком ссылок.
# После старта замораживаем кучу (gc.freeze: эти объекты в сборках не участвуют) и поднимаем порог:
# сборки почти исчезают, а мусор из циклов всё равно собирается — просто пачками крупнее.
GC_GEN0_THRESHOLD = 10_000
_gc_tuning = False


def _tune_gc_after_startup() -> None:
    if not _gc_tuning:  # только в процессе сервиса (run), не во встроенных в тесты приложениях
        return
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


# Куски тел файлов (1–4 МиБ) glibc по умолчанию выделяет через mmap и при освобождении сразу
# возвращает системе: каждый следующий такой же кусок — снова mmap и 256 страничных отказов на МиБ
# с обнулением страниц (замер: ~480 отказов на итерацию «выделить и скопировать 1 МиБ»; динамический
# порог glibc равен размеру освобождённого куска и потому не помогает). query на 1 МиБ по Range тратил
# на это ~25 % CPU. Порог mmap выше самого крупного куска, а запас и порог возврата вершины кучи —
# умеренные: свободная память сверх 32 МиБ по-прежнему возвращается системе.
MALLOC_MMAP_THRESHOLD = 8 << 20
MALLOC_TRIM_THRESHOLD = 32 << 20
MALLOC_TOP_PAD = 8 << 20
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3


def tune_malloc() -> bool:
    """Настроить glibc malloc под потоковые куски; False — не glibc (musl, macOS): ничего не меняем."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return all(mallopt(param, value) == 1 for param, value in (
        (_M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD), (_M_TRIM_THRESHOLD, MALLOC_TRIM_THRESHOLD),
        (_M_TOP_PAD, MALLOC_TOP_PAD)))


def create_service_app(
    *,
    service: str,
    version: str,
    title: str,
    description: str,
    lifespan: Lifespan | None = None,
    cors_origins: list[str] | None = None,
    openapi_tags: list[dict[str, Any]] | None = None,
    issuer: str | None = None,
) -> FastAPI:
    """Приложение со всем общим; доменные маршруты и проверки готовности добавляет сервис."""

    @asynccontextmanager
    async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
        if lifespan is None:
            _tune_gc_after_startup()
            yield
            return
        async with lifespan(app):
            _tune_gc_after_startup()
            yield

    app = FastAPI(title=title, description=description, version=version, lifespan=_lifespan,
                  openapi_tags=openapi_tags)
    registry = new_registry()
    state = ServiceState(service=service, registry=registry, http_metrics=HttpMetrics(registry, service),
                         health=HealthRegistry(), fast_routes=FastRoutes(), issuer=issuer)
    app.state.artstore = state
    install_error_handlers(app)
    install_openapi(app)
    app.include_router(health_router(service, version))
    app.include_router(metrics_router())
    # горячие маршруты сервиса (service_state(app).fast_routes) — внутри журнала, метрик и CORS
    app.add_middleware(FastPathMiddleware, routes=state.fast_routes, exception_handlers=app.exception_handlers)
    if cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=cors_origins, allow_credentials=True,
            allow_methods=["*"], allow_headers=["*"],
            expose_headers=["Location", "Upload-Offset", "Upload-Length", "Tus-Resumable", "Tus-Version",
                            "Tus-Extension", "Tus-Max-Size", "Upload-Expires", "Content-Disposition",
                            "Content-Range", "ETag", "Repr-Digest", "X-Request-ID", "Retry-After", "X-File-Id",
                            "Upload-Metadata"],
        )
    app.add_middleware(MetricsMiddleware, metrics=state.http_metrics)
    app.add_middleware(RequestContextMiddleware)
    setup_tracing(app, service, version)
    return app


def run(app_path: str, host: str, port: int, *, log_level: str = "info") -> None:
    """Запуск под uvicorn (uvloop + httptools, без собственного access-журнала uvicorn)."""
    import uvicorn

    global _gc_tuning
    _gc_tuning = True
    tune_malloc()
    from ._protocol import ProblemHttpToolsProtocol

    uvicorn.run(app_path, host=host, port=port, factory=True, access_log=False, log_config=None,
                log_level=log_level.lower(), timeout_graceful_shutdown=10, proxy_headers=True,
                http=ProblemHttpToolsProtocol)
