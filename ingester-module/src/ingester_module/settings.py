"""Настройки ingester-module (префикс окружения INGESTER_)."""

from __future__ import annotations

from functools import lru_cache
from typing import ClassVar

from pydantic import field_validator
from pydantic_settings import SettingsConfigDict

from artstore_common import ServiceSettings, parse_size


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INGESTER_", extra="ignore", env_file=".env")
    secret_fields: ClassVar[tuple[str, ...]] = ("client_secret",)

    port: int = 8020
    # сервисный аккаунт, которым ingester ходит к элементам хранения (роль ADMIN)
    client_id: str = "ingester-service"
    client_secret: str = ""

    max_upload_size: int = 10 * 1024**3
    batch_max_files: int = 100
    batch_max_bytes: int = 1024**3
    tus_max_size: int = 10 * 1024**3
    tus_expiry_hours: int = 24
    # кусок PATCH с Upload-Checksum проверяется до отправки элементу, поэтому держится в памяти;
    # ограничение не даёт клиенту раздуть память процесса
    tus_checksum_max_chunk: int = 32 * 1024**2
    default_ttl_days: int = 30
    rate_limit_per_minute: int = 60_000
    # файл не больше этого порога собирается целиком (допустим любой порядок полей формы и повтор на
    # другом элементе); больший — передаётся потоком, и текстовые поля должны идти до него
    multipart_buffer_bytes: int = 1024**2
    element_timeout: float = 30.0
    saga_max_attempts: int = 5
    saga_retry_delay: float = 1.0
    breaker_reset_timeout: float = 15.0

    @field_validator("max_upload_size", "batch_max_bytes", "tus_max_size", "multipart_buffer_bytes",
                     "tus_checksum_max_chunk", mode="before")
    @classmethod
    def _size(cls, value: object) -> object:
        return parse_size(value) if isinstance(value, str) else value


@lru_cache
def get_settings() -> Settings:
    return Settings()
