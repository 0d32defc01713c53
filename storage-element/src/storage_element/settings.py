"""Настройки элемента хранения (префикс окружения SE_)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from artstore_common import ServiceSettings, parse_size

Mode = Literal["edit", "rw", "ro", "ar"]
ReplicationMode = Literal["none", "sync", "async"]


class Peer(BaseModel):
    """Член реплицированного элемента из SE_REPLICATION_PEERS (docs/replication.md §1)."""

    id: str
    api_url: str


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SE_", extra="ignore", env_file=".env")
    # секрет S3 проверяется на заглушки только когда backend действительно S3, секрет аккаунта — только у
    # члена реплицированного элемента (см. валидатор ниже)
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
    # Реплицированный элемент (docs/replication.md §1): element_id — логический, member_id — свой
    member_id: str = ""
    replication_mode: ReplicationMode = "none"
    replication_peers: list[Peer] = Field(default_factory=list)
    replication_quorum: int = 0  # 0 — большинство: N // 2 + 1
    replication_interval: float = 30.0
    tombstone_days: int = 30
    retract_window: float = 600.0
    # сервисный аккаунт члена: опись и копии соседей — за токеном, как любой запрос к элементу
    client_id: str = ""
    client_secret: str = ""

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
        if self.replication_mode != "none":
            self._check_replication()
        if self.cold_dir is None:
            self.cold_dir = self.data_dir.parent / f"{self.data_dir.name}-cold"
        if self.environment != "development" and self.storage_type == "s3" and self.s3_secret_key.lower() in (
            "", "changeme", "minioadmin", "secret", "password"
        ):
            raise ValueError("SE_S3_SECRET_KEY не задан или оставлен заглушкой вне development")
        return self

    def _check_replication(self) -> None:
        ids = [p.id for p in self.replication_peers]
        if not self.member_id:
            raise ValueError("SE_REPLICATION_MODE задан, а SE_MEMBER_ID нет: у каждого члена свой id (se-r1-a)")
        if self.member_id not in ids:
            raise ValueError(f"SE_REPLICATION_PEERS {ids} не называет сам член {self.member_id}: "
                             "список перечисляет всех членов, включая себя")
        if len(set(ids)) != len(ids):
            raise ValueError(f"id членов в SE_REPLICATION_PEERS повторяются: {ids}")
        if not 0 <= self.replication_quorum <= len(ids):
            raise ValueError(f"SE_REPLICATION_QUORUM {self.replication_quorum}: от 1 до {len(ids)} (0 — большинство)")
        if self.replication_interval <= 0:
            raise ValueError("SE_REPLICATION_INTERVAL должен быть больше нуля (секунды)")
        if not self.client_id or (self.environment != "development" and self.client_secret.lower() in (
                "", "changeme", "secret", "password")):
            raise ValueError("члену нужен сервисный аккаунт для описи и копий соседей: задайте SE_CLIENT_ID и "
                             "SE_CLIENT_SECRET")

    @property
    def replicated(self) -> bool:
        return self.replication_mode != "none"

    @property
    def quorum(self) -> int:
        return self.replication_quorum or len(self.replication_peers) // 2 + 1

    @property
    def files_table(self) -> str:
        return f"{self.table_prefix}_files"


@lru_cache
def get_settings() -> Settings:
    return Settings()
