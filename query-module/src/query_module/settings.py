"""Настройки query-module (префикс окружения QUERY_)."""

from __future__ import annotations

from functools import lru_cache
from typing import ClassVar, Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from artstore_common import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="QUERY_", extra="ignore", env_file=".env")
    secret_fields: ClassVar[tuple[str, ...]] = ("client_secret",)

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
    # Транспорт скачивания: aiohttp (быстрый разбор на C) или httpx (через ServiceClient.stream).
    download_transport: Literal["aiohttp", "httpx"] = "aiohttp"
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


@lru_cache
def get_settings() -> Settings:
    return Settings()
