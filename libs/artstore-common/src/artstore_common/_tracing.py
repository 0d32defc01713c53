"""OpenTelemetry: выключено, пока не задан экспортёр стандартными переменными OTEL_*."""

from __future__ import annotations

import logging
import os
from typing import Any

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

_log = logging.getLogger("artstore.tracing")
_instrumented_libs = False
_processors: set[int] = set()


def tracing_enabled() -> bool:
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "").lower()
    if exporter == "none" or os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    return bool(exporter or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
                or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def _default_processor() -> SpanProcessor:
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").lower()
    if exporter == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return BatchSpanProcessor(ConsoleSpanExporter())
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return BatchSpanProcessor(OTLPSpanExporter())


def setup_tracing(
    app: FastAPI, service_name: str, version: str, *, processor: SpanProcessor | None = None,
    engine: Any | None = None,
) -> bool:
    """Включает трассировку приложения. ``processor`` передают тесты (InMemorySpanExporter).

    Возвращает True, если трассировка включена.
    """
    if processor is None and not tracing_enabled():
        return False
    global _instrumented_libs
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service_name),
                                    "service.version": version})
        provider = TracerProvider(resource=resource)
        trace.set_tracer_provider(provider)
    chosen = processor or _default_processor()
    if id(chosen) not in _processors:
        # несколько приложений одного процесса (тесты) делят провайдер: один процессор — один раз
        _processors.add(id(chosen))
        provider.add_span_processor(chosen)

    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=provider, excluded_urls="/metrics,/health/live,/health/ready"
    )
    if not _instrumented_libs:
        # Клиентские библиотеки инструментируются на процесс один раз.
        # aiohttp и «голый» asyncpg — на горячих путях (тела файлов, строки кэша элемента): без них след
        # загрузки рвался бы между ingester и элементом и не доходил бы до PostgreSQL.
        from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
        from opentelemetry.instrumentation.redis import RedisInstrumentor

        HTTPXClientInstrumentor().instrument(tracer_provider=provider)
        AioHttpClientInstrumentor().instrument(tracer_provider=provider)
        AsyncPGInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
        RedisInstrumentor().instrument(tracer_provider=provider)
        _instrumented_libs = True
    if engine is not None:
        instrument_engine(engine, provider)
    _log.info("трассировка OpenTelemetry включена для %s", service_name)
    return True


def instrument_engine(engine: Any, provider: Any | None = None) -> None:
    """Спаны SQL для движка SQLAlchemy (async-движок инструментируется через sync_engine)."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    sync_engine = getattr(engine, "sync_engine", engine)
    SQLAlchemyInstrumentor().instrument(engine=sync_engine, tracer_provider=provider or trace.get_tracer_provider())
