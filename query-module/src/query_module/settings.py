"""Настройки query-module (префикс окружения QUERY_)."""

from __future__ import annotations

from functools import lru_cache
from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from artstore_common import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="QUERY_", extra="ignore", env_file=".env")
    secret_fields: ClassVar[tuple[str, ...]] = ("client_secret",)

    port: int = 8030
    # учётные данные сервисного аккаунта для вызовов элементов хранения
    client_id: str = ""
    client_secret: str = ""


@lru_cache
def get_settings() -> Settings:
    return Settings()
