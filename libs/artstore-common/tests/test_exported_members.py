"""Публичная поверхность библиотеки заморожена: изменение — осознанное, вместе с этим тестом."""

import artstore_common


def test_all_is_frozen() -> None:
    assert sorted(artstore_common.__all__) == sorted(
        [
            "EVENT_TYPES", "EventPublisher", "RedisBatcher", "events_channel", "events_stream", "make_event",
            "PLACEHOLDER_SECRETS", "PROBLEM_CONTENT_TYPE", "AuthError", "CircuitBreaker", "CircuitOpenError",
            "CircuitState", "CurrentPrincipal", "DiscoveryClient", "HealthRegistry", "HttpMetrics", "JWKSVerifier",
            "MetricsMiddleware", "Principal", "ProblemError", "RequestContextMiddleware", "Role", "ServiceClient",
            "ServiceSettings", "ServiceTokenProvider", "advisory_lock", "async_url", "atomic_write",
            "create_service_app", "current_principal", "discovery_channel", "discovery_key", "health_router",
            "install_error_handlers", "instrument_engine", "lock_key", "make_engine", "make_sessionmaker",
            "metrics_router", "new_registry", "parse_size", "ping", "problem_body", "problem_response",
            "publish_snapshot", "request_id_var", "require_roles", "run", "session_scope", "setup_logging",
            "setup_tracing", "tracing_enabled", "user_id_var",
            "FastRoutes", "authorize", "query_flag", "roles",
        ]
    )


def test_every_name_resolves() -> None:
    for name in artstore_common.__all__:
        assert getattr(artstore_common, name) is not None
