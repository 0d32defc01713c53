"""Бизнес-метрики admin-module (в реестре приложения: несколько приложений в тестах не конфликтуют)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from artstore_common import (
    AUTH_GUESSING_OUTCOMES,
    EVENT_TYPES,
    AuthMethod,
    Outcome,
    TokenGrant,
    WebhookOutcome,
    init_series,
)


class AdminMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.auth_attempts = Counter(
            "artstore_auth_attempts_total", "Попытки аутентификации", ["method", "outcome"], registry=registry)
        self.webhook_deliveries = Counter(
            "artstore_webhook_deliveries_total", "Попытки доставки вебхуков", ["event", "outcome"], registry=registry)
        self.elements = Gauge(
            "artstore_storage_elements", "Элементы хранения в реестре по статусу", ["status"], registry=registry)
        self.tokens_issued = Counter(
            "artstore_tokens_issued_total", "Выпущенные токены доступа", ["grant"], registry=registry)
        self.key_age = Gauge(
            "artstore_jwt_signing_key_age_seconds", "Возраст активного ключа подписи", registry=registry)
        self.snapshot_publications = Counter(
            "artstore_discovery_publications_total", "Публикации снимка discovery", ["outcome"], registry=registry)
        # нулевые ряды для того, на что смотрят алерты (AuthFailuresSpike, WebhookDeliveryFailures)
        init_series(self.auth_attempts, AuthMethod, AUTH_GUESSING_OUTCOMES)
        init_series(self.webhook_deliveries, sorted(EVENT_TYPES), WebhookOutcome)
        init_series(self.tokens_issued, TokenGrant)
        init_series(self.snapshot_publications, Outcome)
