"""Настройки query-module (префикс окружения QUERY_)."""

from __future__ import annotations

from functools import lru_cache
from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from artstore_common import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="QUERY_", extra="ignore", env_file=".env")
    secret_fields: ClassVar[tuple[str, ...]] = ("client_secret", "link_secret")

    port: int = 8030
    # учётные данные сервисного аккаунта для вызовов элементов хранения
    client_id: str = ""
    client_secret: str = ""

    # Сколько ждать один элемент при поиске/поиске файла: медленный элемент не должен держать весь ответ,
    # его результаты помечаются как неполные (partial).
    element_timeout: float = Field(2.0, gt=0)
    connect_timeout: float = Field(1.0, gt=0)
    # Тайм-аут чтения при скачивании — между порциями данных, а не на весь файл.
    download_read_timeout: float = Field(60.0, gt=0)
    max_connections_per_element: int = Field(200, ge=1)
    breaker_failure_threshold: int = Field(5, ge=1)
    breaker_reset_timeout: float = Field(15.0, gt=0)

    # Локальный LRU местоположений и метаданных; события file_events сбрасывают записи сразу,
    # TTL — страховка на случай пропущенного события (например, при переподключении к Redis).
    location_cache_size: int = Field(100_000, ge=0)
    location_cache_ttl: float = Field(300.0, ge=0)
    # Общий с ingester ключ {ns}:loc:{file_id} в Redis.
    redis_location_ttl: int = Field(7 * 24 * 3600, ge=1)
    redis_timeout: float = Field(0.5, gt=0)

    # Глубина пагинации: каждый элемент отдаёт offset+limit строк, поэтому окно ограничено.
    max_result_window: int = Field(10_000, ge=1)
    # Сколько строк элемент отдаёт за один запрос поиска (его limit ≤ 1000 по контракту).
    element_page_limit: int = Field(1000, ge=1, le=1000)
    suggest_max_limit: int = Field(50, ge=1)

    # Чтений (поиск, подсказки, метаданные, скачивание) в минуту на учётную запись, общее окно реплик
    # через Redis; 0 — без ограничения. Щедро: защищает флот от одного клиента, а не дозирует работу.
    rate_limit_per_minute: int = Field(600_000, ge=0)

    # Временные ссылки на скачивание (docs/links.md). Секрет подписи HMAC-SHA256 — общий у всех реплик
    # query; смена секрета делает недействительными все выданные ссылки. В development пустой секрет
    # заменяется случайным на время жизни процесса (ссылки не переживут перезапуск).
    link_secret: str = ""
    # Самый долгий срок ссылки, с (по умолчанию неделя, как у presigned URL S3 с SigV4).
    link_max_ttl: int = Field(7 * 24 * 3600, ge=60)
    # Публичный адрес query для ссылок (за балансировщиком или nginx admin-ui); пусто — адрес запроса.
    public_url: str = ""


@lru_cache
def get_settings() -> Settings:
    return Settings()
