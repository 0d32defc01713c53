"""Публичная поверхность библиотеки заморожена: изменение — осознанное, вместе с этим тестом."""

import artstore_common


def test_all_is_frozen() -> None:
    assert sorted(artstore_common.__all__) == sorted(
        [
            "EVENT_TYPES", "ACCOUNT_EVENT_TYPES", "EventPublisher", "RedisBatcher", "events_channel", "events_stream",
            "make_event",
            "EventActor", "EventConsumer", "ACTOR_HEADER", "EventOutbox", "outbox_table", "stop_task", "try_xact_lock",
            "PLACEHOLDER_SECRETS", "PROBLEM_CONTENT_TYPE", "AuthError", "CircuitBreaker",
            "CircuitState", "CurrentPrincipal", "DiscoveryClient", "HealthRegistry", "HttpMetrics", "JWKSVerifier",
            "MetricsMiddleware", "Principal", "ProblemError", "RequestContextMiddleware", "Role",
            "ServiceSettings", "ServiceTokenProvider", "advisory_lock", "async_url", "atomic_write",
            "create_service_app", "current_principal", "discovery_channel", "discovery_key", "health_router",
            "install_error_handlers", "instrument_engine", "lock_key", "make_engine", "make_sessionmaker",
            "metrics_router", "new_registry", "parse_size", "ping", "problem_body", "problem_response",
            "publish_snapshot", "request_id_var", "require_roles", "run", "session_scope", "setup_logging",
            "setup_tracing", "tracing_enabled", "user_id_var",
            "FastRoutes", "authorize", "roles",
            # контракт с элементом хранения: клиент, модели, правило id, кэш местоположений, горячие маршруты
            "BreakerCollector", "ElementClient", "ElementError", "ElementResponse", "Member", "StorageElement",
            "Upstream",
            "is_element_failure", "FILE_ID_PATTERN", "FileId", "FileMeta", "content_disposition", "decode_meta",
            "encode_meta", "meta_from_obj", "segment", "valid_file_id", "LocationStore", "decode_location",
            # файл в ответах API (OpenAPI query, ingester и элемента)
            "FileRecord", "UploadResult", "Timestamp",
            "encode_location", "location_key", "ElementSearchPage", "SearchMode", "SearchRequest", "SortBy",
            "SortOrder", "Suggestion", "HotRouter", "include_routers",
                        "AUTH_GUESSING_OUTCOMES", "DOWNLOAD_SERVED_OUTCOMES", "METRIC_HISTOGRAMS", "METRIC_LABELS",
            "NO_STORAGE_ELEMENT", "SAGA_ACTIVE_STATES", "SAGA_STEPS", "SAGA_TERMINAL_STATES", "AuthMethod",
            "AuthOutcome", "CacheName", "CacheResult", "DownloadOutcome", "ElementStatus", "Outcome",
            "PlacementResult", "SagaState", "SagaStep", "ServiceName", "TokenGrant", "UploadOutcome",
            "WalRecoveryAction", "WebhookOutcome", "init_series", "REPLICATION_METRICS", "RepairOutcome",
            "ROLE_SCOPES",
            "try_lock", "unlock", "wait_lock", "xact_lock",
            "fsync_dir",
            "alembic_config", "run_env", "upgrade_schema",
            "RateLimiter",
            # Redis: одна фабрика клиентов для простого Redis и Sentinel
            "make_redis", "parse_sentinels", "sentinel_url",
            # типизированное состояние приложения (create_service_app)
            "ServiceState", "service_state",
        ]
    )


def test_every_name_resolves() -> None:
    for name in artstore_common.__all__:
        assert getattr(artstore_common, name) is not None
