"""Бизнес-метрики query-module и счётчики для панели admin-ui (/api/v1/stats)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from artstore_common import CircuitState, ServiceClient

_SEARCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5)


@dataclass
class Stats:
    """Простые счётчики процесса: Prometheus-клиент не даёт дешёвого чтения значений для JSON."""

    searches_total: int = 0
    downloads_total: int = 0
    download_bytes_total: int = 0
    errors_total: int = 0
    cache_hits: int = 0
    cache_lookups: int = 0

    def as_dict(self) -> dict[str, float | int]:
        ratio = self.cache_hits / self.cache_lookups if self.cache_lookups else 0.0
        return {
            "searches_total": self.searches_total,
            "downloads_total": self.downloads_total,
            "download_bytes_total": self.download_bytes_total,
            "errors_total": self.errors_total,
            "cache_hit_ratio": round(ratio, 4),
        }


class _BreakerCollector(Collector):
    """Состояние предохранителей читается в момент опроса — без обновления gauge на каждом запросе."""

    def __init__(self, http: ServiceClient, targets: Callable[[], list[tuple[str, str]]]) -> None:
        self.http = http
        self.targets = targets

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("artstore_circuit_breaker_open",
                                   "1 — предохранитель к элементу хранения разомкнут", labels=["target"])
        for element_id, api_url in self.targets():
            breaker = self.http.breakers.get(api_url.rstrip("/"))
            is_open = breaker is not None and breaker.state is CircuitState.OPEN
            family.add_metric([element_id], 1.0 if is_open else 0.0)
        yield family


class QueryMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.stats = Stats()
        self.search_duration = Histogram(
            "artstore_search_duration_seconds", "Время ответа элемента на поиск", ["storage_element"],
            buckets=_SEARCH_BUCKETS, registry=registry,
        )
        self.cache_requests = Counter(
            "artstore_cache_requests", "Обращения к кэшу местоположений", ["cache", "result"], registry=registry,
        )
        self.downloads = Counter("artstore_downloads", "Скачивания по исходу", ["outcome"], registry=registry)
        self.download_bytes = Counter("artstore_download_bytes", "Отданные байты файлов", registry=registry)

    def watch_breakers(self, http: ServiceClient, targets: Callable[[], list[tuple[str, str]]]) -> None:
        self.registry.register(_BreakerCollector(http, targets))

    def cache(self, cache: str, hit: bool) -> None:
        self.cache_requests.labels(cache, "hit" if hit else "miss").inc()

    def download_done(self, outcome: str, sent: int) -> None:
        self.downloads.labels(outcome).inc()
        if sent:
            self.download_bytes.inc(sent)
        self.stats.downloads_total += 1
        self.stats.download_bytes_total += sent
        if outcome == "error":
            self.stats.errors_total += 1
