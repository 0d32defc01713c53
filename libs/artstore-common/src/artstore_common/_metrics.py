"""Метрики Prometheus: свой реестр на каждое приложение (несколько приложений в одном процессе тестов
не конфликтуют), чистый ASGI-middleware (не ломает потоковую передачу и дёшев на горячем пути)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._labels import Outcome, init_series
from ._state import service_state

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_SIZE_BUCKETS = (256, 4096, 65536, 1 << 20, 16 << 20, 128 << 20, 1 << 30, 8 << 30)


def new_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry


class HttpMetrics:
    """Стандартные HTTP-метрики сервиса в переданном реестре."""

    def __init__(self, registry: CollectorRegistry, service: str) -> None:
        self.service = service
        labels = ["service", "method", "route"]
        self.requests = Counter("http_requests_total", "HTTP-запросы", [*labels, "status"], registry=registry)
        self.duration = Histogram(
            "http_request_duration_seconds", "Длительность HTTP-запроса", labels,
            buckets=_LATENCY_BUCKETS, registry=registry,
        )
        self.request_size = Histogram(
            "http_request_size_bytes", "Размер тела запроса", labels, buckets=_SIZE_BUCKETS, registry=registry
        )
        self.response_size = Histogram(
            "http_response_size_bytes", "Размер тела ответа", labels, buckets=_SIZE_BUCKETS, registry=registry
        )
        self.in_progress = Gauge("http_requests_in_progress", "Запросы в работе", ["service"], registry=registry)
        self.token_verifications = Counter(
            "artstore_token_verifications_total", "Проверки JWT", ["outcome"], registry=registry
        )
        init_series(self.token_verifications, Outcome)


class MetricsMiddleware:
    """Считает запросы по шаблону маршрута (ограниченная кардинальность), не по сырому пути."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        m = self.metrics
        started = time.perf_counter()
        state: dict[str, Any] = {"status": 500, "out": 0, "in": 0}

        async def counting_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                state["in"] += len(message.get("body", b""))
            return message

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
            elif message["type"] == "http.response.body":
                state["out"] += len(message.get("body", b""))
            await send(message)

        gauge = m.in_progress.labels(m.service)
        gauge.inc()
        try:
            await self.app(scope, counting_receive, counting_send)
        finally:
            gauge.dec()
            route = scope.get("route")
            path = getattr(route, "path", None) or "<unmatched>"
            method = scope["method"]
            m.requests.labels(m.service, method, path, str(state["status"])).inc()
            m.duration.labels(m.service, method, path).observe(time.perf_counter() - started)
            m.request_size.labels(m.service, method, path).observe(state["in"])
            m.response_size.labels(m.service, method, path).observe(state["out"])


def metrics_router() -> APIRouter:
    router = APIRouter(tags=["metrics"])

    @router.get("/metrics", summary="Метрики Prometheus", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        return Response(generate_latest(service_state(request.app).registry), media_type=CONTENT_TYPE_LATEST)

    return router
