"""Значения меток метрик Prometheus — одно перечисление на весь флот.

Сервисы передают в ``.labels(...)`` только члены этих перечислений; алерты (monitoring/prometheus/alerts.yml),
дашборды Grafana и их тесты сверяются с ``METRIC_LABELS``. Опечатка или выдуманное значение в PromQL
не даёт ошибки — алерт просто молчит, поэтому перечень и проверки живут в одном месте с кодом.

``StrEnum``: член равен своей строке и хэшируется как она, так что ``"done" in SAGA_TERMINAL_STATES`` и
значение из базы сравниваются без преобразований, а prometheus_client пишет в метку саму строку.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Iterable, Mapping
from typing import Any

from ._events import EVENT_TYPES


class ServiceName(enum.StrEnum):
    """Метка ``service`` HTTP-метрик (и имя сервиса в /health)."""

    ADMIN = "admin-module"
    STORAGE_ELEMENT = "storage-element"
    INGESTER = "ingester-module"
    QUERY = "query-module"


class Outcome(enum.StrEnum):
    """Двузначный исход: проверка JWT, публикация снимка discovery."""

    SUCCESS = "success"
    FAILURE = "failure"


class AuthMethod(enum.StrEnum):
    """Как клиент предъявил учётные данные (``artstore_auth_attempts_total{method}``)."""

    CLIENT_SECRET_BASIC = "client_secret_basic"  # noqa: S105 — имя способа, не секрет
    CLIENT_SECRET_POST = "client_secret_post"  # noqa: S105
    JSON = "json"
    UNKNOWN = "unknown"  # запрос не разобран раньше, чем стал ясен способ
    PASSWORD = "password"  # noqa: S105 — вход пользователя admin-ui
    REFRESH = "refresh"  # обмен refresh-токена пользователя admin-ui


class AuthOutcome(enum.StrEnum):
    """Исход попытки аутентификации; всё, кроме ``success``, — отказ с причиной."""

    SUCCESS = "success"
    MALFORMED = "malformed"
    UNSUPPORTED_GRANT = "unsupported_grant"
    MISSING = "missing"
    BAD_CREDENTIALS = "bad_credentials"
    THROTTLED = "throttled"
    SUSPENDED = "suspended"
    SECRET_EXPIRED = "secret_expired"  # noqa: S105
    TOTP_REQUIRED = "totp_required"
    INVALID_TOTP = "invalid_totp"
    EXPIRED = "expired"
    REUSED = "reused"
    INVALID_SCOPE = "invalid_scope"


# Признаки подбора: неверный секрет, пароль или код и отказы ограничителя попыток (AuthFailuresSpike).
AUTH_GUESSING_OUTCOMES: frozenset[AuthOutcome] = frozenset(
    {AuthOutcome.BAD_CREDENTIALS, AuthOutcome.INVALID_TOTP, AuthOutcome.THROTTLED})


class TokenGrant(enum.StrEnum):
    CLIENT_CREDENTIALS = "client_credentials"
    PASSWORD = "password"  # noqa: S105
    INTERNAL = "internal"


class WebhookOutcome(enum.StrEnum):
    SUCCESS = "success"
    RETRY = "retry"  # будет повтор по расписанию
    FAILED = "failed"  # повторы исчерпаны, подписчик не получил событие


class ElementStatus(enum.StrEnum):
    """Состояние элемента в реестре admin-module (``artstore_storage_elements{status}``)."""

    ONLINE = "online"
    DEGRADED = "degraded"
    OFFLINE = "offline"


class UploadOutcome(enum.StrEnum):
    SUCCESS = "success"
    TOO_LARGE = "too_large"
    REJECTED = "rejected"  # ошибка клиента (4xx)
    CLIENT_DISCONNECTED = "client_disconnected"
    FAILED = "failed"  # ошибка на нашей стороне (5xx)


class PlacementResult(enum.StrEnum):
    SELECTED = "selected"
    SKIPPED_FULL = "skipped_full"  # по снимку discovery места под файл нет
    INSUFFICIENT_STORAGE = "insufficient_storage"  # элемент сам ответил 507
    MODE_CHANGED = "mode_changed"
    FAILED = "failed"
    NO_CANDIDATE = "no_candidate"  # разместить негде: клиент получает 507


# storage_element у решения, когда элемента нет вовсе (результат no_candidate).
NO_STORAGE_ELEMENT = "none"


class SagaState(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    COMPENSATED = "compensated"
    FAILED = "failed"


SAGA_ACTIVE_STATES: tuple[SagaState, ...] = (SagaState.PENDING, SagaState.RUNNING)
SAGA_TERMINAL_STATES: tuple[SagaState, ...] = (SagaState.DONE, SagaState.COMPENSATED, SagaState.FAILED)


class SagaStep(enum.StrEnum):
    COPY = "copy"
    VERIFY = "verify"
    SWITCH = "switch"
    DELETE_SOURCE = "delete_source"
    DONE = "done"
    COMPENSATE = "compensate"


# Порядок шагов саги вперёд; compensate — боковой выход из copy/verify.
SAGA_STEPS: tuple[SagaStep, ...] = (SagaStep.COPY, SagaStep.VERIFY, SagaStep.SWITCH, SagaStep.DELETE_SOURCE,
                                    SagaStep.DONE)


class DownloadOutcome(enum.StrEnum):
    OK = "ok"
    RANGE = "range"
    NOT_MODIFIED = "not_modified"
    ABORTED = "aborted"  # клиент ушёл раньше конца тела
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    RANGE_NOT_SATISFIABLE = "range_not_satisfiable"
    ERROR = "error"


# Скачивание состоялось: клиент получил то, что просил (весь файл, диапазон или «не изменился»).
DOWNLOAD_SERVED_OUTCOMES: tuple[DownloadOutcome, ...] = (
    DownloadOutcome.OK, DownloadOutcome.RANGE, DownloadOutcome.NOT_MODIFIED)


class CacheName(enum.StrEnum):
    LOCAL = "local"
    REDIS = "redis"


class CacheResult(enum.StrEnum):
    HIT = "hit"
    MISS = "miss"


class WalRecoveryAction(enum.StrEnum):
    COMPLETED = "completed"
    ROLLED_BACK = "rolled_back"
    QUARANTINED = "quarantined"  # запись WAL не разобрать (OSError): отложена, элемент стартует


class RepairOutcome(enum.StrEnum):
    """Починка копии члена реплицированного элемента (anti-entropy, скраб; docs/replication.md §5)."""

    DONE = "done"
    FAILED = "failed"  # сосед недоступен, sha256 не сошёлся, запись не удалась — попытка повторится
    CONFLICT = "conflict"  # равные версии, разные sha256, большинства нет: ничего не тронуто, решает человек


def _values(enum_or_set: Iterable[str]) -> frozenset[str]:
    return frozenset(str(v) for v in enum_or_set)


_HTTP = {"service": _values(ServiceName), "method": None, "route": None}
_ELEMENT = {"storage_element": None}
# storage_element — id логического элемента, member — id члена (SE_MEMBER_ID)
_MEMBER = {"storage_element": None, "member": None}

# Метрика (имя, как его видит Prometheus) → метка → допустимые значения; None — значение не из
# перечня (идентификатор элемента, маршрут, код ответа). Гистограммы — в METRIC_HISTOGRAMS.
METRIC_LABELS: Mapping[str, Mapping[str, frozenset[str] | None]] = {
    # все сервисы
    "http_requests_total": {**_HTTP, "status": None},
    "http_request_duration_seconds": _HTTP,
    "http_request_size_bytes": _HTTP,
    "http_response_size_bytes": _HTTP,
    "http_requests_in_progress": {"service": _values(ServiceName)},
    "artstore_token_verifications_total": {"outcome": _values(Outcome)},
    "artstore_discovery_fallback_active": {},
    "artstore_circuit_breaker_open": _ELEMENT,
    # admin-module
    "artstore_auth_attempts_total": {"method": _values(AuthMethod), "outcome": _values(AuthOutcome)},
    "artstore_tokens_issued_total": {"grant": _values(TokenGrant)},
    "artstore_jwt_signing_key_age_seconds": {},
    "artstore_webhook_deliveries_total": {"event": _values(EVENT_TYPES), "outcome": _values(WebhookOutcome)},
    "artstore_storage_elements": {"status": _values(ElementStatus)},
    "artstore_discovery_publications_total": {"outcome": _values(Outcome)},
    # ingester-module
    "artstore_uploads_total": {"outcome": _values(UploadOutcome)},
    "artstore_upload_bytes_total": {},
    "artstore_upload_duration_seconds": {},
    "artstore_placement_decisions_total": {**_ELEMENT, "result": _values(PlacementResult)},
    "artstore_saga_transactions": {"state": _values(SagaState)},
    # query-module
    "artstore_downloads_total": {"outcome": _values(DownloadOutcome)},
    "artstore_download_bytes_total": {},
    "artstore_location_fanouts_total": {},
    "artstore_rate_limited_total": {},
    "artstore_search_duration_seconds": _ELEMENT,
    "artstore_cache_requests_total": {"cache": _values(CacheName), "result": _values(CacheResult)},
    # storage-element
    "artstore_storage_capacity_bytes": _ELEMENT,
    "artstore_storage_used_bytes": _ELEMENT,
    "artstore_storage_files": _ELEMENT,
    "artstore_storage_disk_free_bytes": _ELEMENT,
    "artstore_wal_recoveries_total": {"action": _values(WalRecoveryAction)},
    "artstore_scrub_runs_total": {},
    "artstore_scrub_corruptions_total": {},
    "artstore_retention_expired_total": {},
    # член реплицированного элемента
    "artstore_replication_lag_seconds": _MEMBER,
    "artstore_under_replicated_files": _MEMBER,
    "artstore_replication_repairs_total": {**_MEMBER, "outcome": _values(RepairOutcome)},
}
# Их отдают только члены реплицированных элементов: флот без такого элемента этих рядов не имеет.
REPLICATION_METRICS: frozenset[str] = frozenset({
    "artstore_replication_lag_seconds", "artstore_under_replicated_files", "artstore_replication_repairs_total",
})
METRIC_HISTOGRAMS: frozenset[str] = frozenset({
    "http_request_duration_seconds", "http_request_size_bytes", "http_response_size_bytes",
    "artstore_upload_duration_seconds", "artstore_search_duration_seconds",
})


def init_series(metric: Any, *label_values: Iterable[str]) -> None:
    """Заводит нулевой ряд для каждого сочетания значений меток.

    Ряд, который появляется только с первым событием, ``increase()`` не видит: первое значение для
    Prometheus — начало ряда, а не прирост. Поэтому алерт на первый же отказ (no_candidate, failed)
    молчал бы до второго; нулевые ряды с запуска процесса это исключают.
    """
    for combo in itertools.product(*(list(v) for v in label_values)):
        metric.labels(*combo)
