"""Бизнес-метрики query-module и счётчики для панели admin-ui (/api/v1/stats)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram

from artstore_common import (
    BreakerCollector,
    CacheName,
    CacheResult,
    DownloadOutcome,
    ElementClient,
    init_series,
)

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
        self.location_fanouts = Counter(
            "artstore_location_fanouts", "Поиски файла опросом всех элементов (промах локального кэша и Redis)",
            registry=registry,
        )
        init_series(self.cache_requests, CacheName, CacheResult)
        init_series(self.downloads, DownloadOutcome)
        self.rate_limited = Counter("artstore_rate_limited", "Чтения, отклонённые лимитом частоты (429)",
                                    registry=registry)

    def watch_breakers(self, elements: ElementClient, element_ids: Callable[[], Iterable[str]]) -> None:
        self.registry.register(BreakerCollector(elements, element_ids))

    def cache(self, cache: CacheName, hit: bool) -> None:
        self.cache_requests.labels(cache, CacheResult.HIT if hit else CacheResult.MISS).inc()

    def download_done(self, outcome: DownloadOutcome, sent: int) -> None:
        self.downloads.labels(outcome).inc()
        if sent:
            self.download_bytes.inc(sent)
        self.stats.downloads_total += 1
        self.stats.download_bytes_total += sent
        if outcome is DownloadOutcome.ERROR:
            self.stats.errors_total += 1
