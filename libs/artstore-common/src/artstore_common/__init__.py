"""Общая библиотека ArtStore. Публичная поверхность — только имена из ``__all__``."""

from ._app import RequestContextMiddleware, create_service_app, run
from ._auth import (
    AuthError,
    CurrentPrincipal,
    JWKSVerifier,
    Principal,
    Role,
    ServiceTokenProvider,
    authorize,
    current_principal,
    require_roles,
    roles,
)
from ._circuit import CircuitBreaker, CircuitState
from ._db import advisory_lock, async_url, lock_key, make_engine, make_sessionmaker, ping, session_scope
from ._discovery import DiscoveryClient, atomic_write, discovery_channel, discovery_key, publish_snapshot
from ._errors import (
    PROBLEM_CONTENT_TYPE,
    ProblemError,
    install_error_handlers,
    problem_body,
    problem_response,
)
from ._events import EVENT_TYPES, EventPublisher, events_channel, events_stream, make_event
from ._fastpath import FastRoutes, query_flag
from ._health import HealthRegistry, health_router
from ._http import CircuitOpenError, ServiceClient
from ._logging import request_id_var, setup_logging, user_id_var
from ._metrics import HttpMetrics, MetricsMiddleware, metrics_router, new_registry
from ._redis_batch import RedisBatcher
from ._settings import PLACEHOLDER_SECRETS, ServiceSettings, parse_size
from ._tracing import instrument_engine, setup_tracing, tracing_enabled

__all__ = [
    "EVENT_TYPES",
    "PLACEHOLDER_SECRETS",
    "PROBLEM_CONTENT_TYPE",
    "AuthError",
    "CircuitBreaker",
    "CircuitOpenError",
    "CircuitState",
    "CurrentPrincipal",
    "DiscoveryClient",
    "EventPublisher",
    "FastRoutes",
    "HealthRegistry",
    "HttpMetrics",
    "JWKSVerifier",
    "MetricsMiddleware",
    "Principal",
    "ProblemError",
    "RedisBatcher",
    "RequestContextMiddleware",
    "Role",
    "ServiceClient",
    "ServiceSettings",
    "ServiceTokenProvider",
    "advisory_lock",
    "async_url",
    "atomic_write",
    "authorize",
    "create_service_app",
    "current_principal",
    "discovery_channel",
    "discovery_key",
    "events_channel",
    "events_stream",
    "health_router",
    "install_error_handlers",
    "instrument_engine",
    "lock_key",
    "make_engine",
    "make_event",
    "make_sessionmaker",
    "metrics_router",
    "new_registry",
    "parse_size",
    "ping",
    "problem_body",
    "problem_response",
    "publish_snapshot",
    "query_flag",
    "request_id_var",
    "require_roles",
    "roles",
    "run",
    "session_scope",
    "setup_logging",
    "setup_tracing",
    "tracing_enabled",
    "user_id_var",
]
