"""Схемы реестра элементов хранения."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel, Field, field_validator

from ..request_model import RequestModel

Mode = Literal["edit", "rw", "ro", "ar"]
Status = Literal["online", "degraded", "offline"]


def valid_api_url(value: str | None) -> str | None:
    """Адрес элемента разбирается так же, как его потом разберёт HTTP-клиент: мусор — 422, а не 500."""
    if value is None:
        return None
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise ValueError(f"не URL: {exc}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("нужен адрес вида http://хост:порт")
    if url.query or url.fragment:
        raise ValueError("в адресе элемента не должно быть ?query и #fragment")
    # элемент проверяет токен admin, а логин:пароль в адресе HTTP-клиент не совмещает с заголовком Authorization
    if url.userinfo:
        raise ValueError("в адресе элемента не должно быть логина и пароля (user:pass@): доступ — по токену admin")
    return value.rstrip("/")


class DiscoverRequest(RequestModel):
    api_url: str = Field(min_length=8, max_length=500, pattern=r"^https?://", description="Базовый адрес элемента")

    @field_validator("api_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return valid_api_url(value)


class RegisterRequest(DiscoverRequest):
    name: str | None = Field(None, min_length=1, max_length=200)
    priority: int | None = Field(None, ge=0, le=1_000_000)


class ElementUpdate(RequestModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    priority: int | None = Field(None, ge=0, le=1_000_000)
    api_url: str | None = Field(None, min_length=8, max_length=500, pattern=r"^https?://")

    @field_validator("api_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return valid_api_url(value)


class ModeRequest(RequestModel):
    mode: Mode


class MemberOut(BaseModel):
    """Член реплицированного элемента: его собственный опрос и его /info (docs/replication.md §1)."""

    id: str
    api_url: str
    status: str
    mode: str | None
    # null, пока член не в сети: отставание и недореплицированные известны только от живого члена
    lag_seconds: float | None
    under_replicated: int | None
    file_count: int | None
    free_bytes: int | None
    version: str | None
    last_seen_at: datetime | None
    last_error: str | None


class ReplicationOut(BaseModel):
    mode: str | None
    quorum: int | None
    interval_s: float | None
    # наибольшее среди членов в сети: один и тот же файл считают все члены, у которых он есть
    under_replicated: int | None
    members: list[MemberOut]


class ElementOut(BaseModel):
    id: str
    name: str
    api_url: str
    priority: int
    mode: str | None
    status: str
    storage_type: str | None
    capacity_bytes: int | None
    used_bytes: int | None
    free_bytes: int | None
    file_count: int | None
    # файлов, истекающих в ближайшие дни (окно — SE_EXPIRING_NOTICE_DAYS элемента)
    expiring_soon: int | None = None
    retention_days: int | None
    version: str | None
    last_seen_at: datetime | None
    # то же, что last_seen_at: под этим именем поле ждёт admin-ui
    last_health_check: datetime | None
    last_error: str | None
    registered_at: datetime
    updated_at: datetime
    # только у реплицированного элемента
    replication: ReplicationOut | None = None


class SummaryOut(BaseModel):
    total: int
    online: int
    degraded: int
    offline: int
    capacity_bytes: int
    used_bytes: int
    free_bytes: int
    file_count: int
    expiring_soon: int
    # реплицированных элементов и файлов, копий которых меньше, чем членов (по всем таким элементам)
    replicated: int
    under_replicated: int
    by_mode: dict[str, int]
    by_status: dict[str, int]
    # синонимы для admin-ui (StorageSummary)
    total_elements: int
    online_elements: int
    total_capacity_bytes: int
    total_used_bytes: int
    total_files: int


DiscoveredInfo = dict[str, Any]
