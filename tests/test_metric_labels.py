"""Метрики сервисов совпадают с перечнем artstore_common (METRIC_LABELS): те же имена, те же метки,
значения перечисляемых меток — из перечислений; ряды, на которые смотрят алерты, есть с запуска.

Здесь — реестры метрик, собранные в процессе; то же по /metrics настоящего флота проверяет
tests/e2e/test_prometheus.py (там и storage-element, которому для метрик нужен живой элемент)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from admin_module.metrics import AdminMetrics
from artstore_common import (
    AUTH_GUESSING_OUTCOMES,
    EVENT_TYPES,
    NO_STORAGE_ELEMENT,
    AuthMethod,
    DownloadOutcome,
    ElementClient,
    HttpMetrics,
    PlacementResult,
    SagaState,
    ServiceName,
    UploadOutcome,
    WebhookOutcome,
)
from ingester_module.metrics import IngesterMetrics
from query_module.metrics import QueryMetrics

from .monitoring_rules import metric_labels


def _samples(registry: CollectorRegistry) -> list[tuple[str, dict[str, str], float]]:
    return [(s.name, dict(s.labels), s.value) for family in registry.collect() for s in family.samples
            if not s.name.endswith("_created")]


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    HttpMetrics(registry, ServiceName.QUERY)
    AdminMetrics(registry)
    ingester = IngesterMetrics(registry)
    ingester.watch(ElementClient(), list)  # без предохранителей: их ряды — в сквозном тесте
    ingester.saga_counts = {"done": 3}
    ingester.upload_failed(UploadOutcome.CLIENT_DISCONNECTED)
    QueryMetrics(registry)
    return registry


def test_registered_metrics_match_the_enumeration() -> None:
    errors = []
    for name, labels, _ in _samples(_registry()):
        if not name.startswith(("artstore_", "http_")):
            continue
        expected = metric_labels(name)
        if expected is None:
            errors.append(f"{name}: нет в METRIC_LABELS")
            continue
        if set(labels) != set(expected):
            errors.append(f"{name}: метки {sorted(labels)}, в перечне {sorted(expected)}")
            continue
        for label, value in labels.items():
            allowed = expected[label]
            if allowed is not None and value not in allowed:
                errors.append(f"{name}{{{label}={value!r}}}: значения нет в перечне {sorted(allowed)}")
    assert not errors


def test_alert_series_exist_from_start() -> None:
    """Нулевые ряды с запуска: increase() по ряду, родившемуся с первым событием, этого события не видит."""
    seen = {(name, tuple(sorted(labels.items()))): value for name, labels, value in _samples(_registry())}

    def value(name: str, **labels: str) -> float | None:
        return seen.get((name, tuple(sorted(labels.items()))))

    assert value("artstore_placement_decisions_total", storage_element=NO_STORAGE_ELEMENT,
                 result=PlacementResult.NO_CANDIDATE) == 0
    for upload in UploadOutcome:
        assert value("artstore_uploads_total", outcome=upload) == (upload is UploadOutcome.CLIENT_DISCONNECTED)
    for download in DownloadOutcome:
        assert value("artstore_downloads_total", outcome=download) == 0
    for state in SagaState:  # каждое состояние — и пустое тоже
        assert value("artstore_saga_transactions", state=state) == (3 if state is SagaState.DONE else 0)
    for method in AuthMethod:
        for outcome in AUTH_GUESSING_OUTCOMES:
            assert value("artstore_auth_attempts_total", method=method, outcome=outcome) == 0
    for event in EVENT_TYPES:
        assert value("artstore_webhook_deliveries_total", event=event, outcome=WebhookOutcome.FAILED) == 0
    assert value("artstore_token_verifications_total", outcome="failure") == 0

