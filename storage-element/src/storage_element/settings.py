"""Настройки элемента хранения (префикс окружения SE_)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from artstore_common import ServiceSettings, parse_size

Mode = Literal["edit", "rw", "ro", "ar"]


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SE_", extra="ignore", env_file=".env")
    # секрет S3 проверяется на заглушки только когда backend действительно S3 (см. валидатор ниже)
    secret_fields: ClassVar[tuple[str, ...]] = ()

    element_id: str = "se-01"
    name: str = "Элемент хранения"
    mode: Mode = "edit"
    port: int = 8010
    api_url: str = ""
    storage_type: Literal["local", "s3"] = "local"
    data_dir: Path = Path(".data/se-01")
    cold_dir: Path | None = None
    s3_endpoint_url: str | None = None
    s3_bucket: str = "artstore"
    s3_cold_bucket: str = "artstore-cold"
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_region: str = "us-east-1"
    max_size: int = 10 * 1024**3
    table_prefix: str = "storage_elem_01"
    retention_days: int = 0
    expiring_notice_days: int = 7
    priority: int = 100
    scrub_interval_hours: float = 168.0
    retention_interval_hours: float = 24.0
    # незавершённые частичные загрузки живут столько, если клиент не задал иное
    upload_expires_hours: float = 24.0
    # сколько места на диске оставлять свободным сверх max_size (ФС не должна заполняться до нуля)
    disk_reserve_bytes: int = 64 * 1024**2

    @field_validator("max_size", mode="before")
    @classmethod
    def _size(cls, value: object) -> int:
        return parse_size(value if isinstance(value, int | str) else str(value))

    @field_validator("table_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        # префикс попадает в SQL как идентификатор — допускаем только безопасные символы
        if not value or not value.replace("_", "").isalnum() or not value.isascii() or value[0].isdigit():
            raise ValueError("table_prefix: только латиница, цифры и _, не с цифры (например storage_elem_01)")
        return value.lower()

    @model_validator(mode="after")
    def _derive(self) -> Settings:
        if not self.api_url:
            self.api_url = f"http://127.0.0.1:{self.port}"
        if self.cold_dir is None:
            self.cold_dir = self.data_dir.parent / f"{self.data_dir.name}-cold"
        if self.environment != "development" and self.storage_type == "s3" and self.s3_secret_key.lower() in (
            "", "changeme", "minioadmin", "secret", "password"
        ):
            raise ValueError("SE_S3_SECRET_KEY не задан или оставлен заглушкой вне development")
        return self

    @property
    def files_table(self) -> str:
        return f"{self.table_prefix}_files"


@lru_cache
def get_settings() -> Settings:
    return Settings()
