"""Схемы сервисных аккаунтов."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from artstore_common import Role

from ..request_model import RequestModel

AccountStatus = Literal["active", "suspended"]


class AccountCreate(RequestModel):
    name: str = Field(min_length=1, max_length=200)
    role: Role = Role.USER
    description: str | None = Field(None, max_length=2000)
    rate_limit: int = Field(100, ge=1, le=1_000_000, description="Запросов в минуту; попадает в токен")
    client_id: str | None = Field(None, min_length=3, max_length=200, pattern=r"^[A-Za-z0-9_.\-]+$")


class AccountUpdate(RequestModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    role: Role | None = None
    status: AccountStatus | None = None
    description: str | None = Field(None, max_length=2000)
    rate_limit: int | None = Field(None, ge=1, le=1_000_000)


class AccountOut(BaseModel):
    id: str
    name: str
    client_id: str
    role: Role
    status: AccountStatus
    description: str | None
    rate_limit: int
    is_system: bool
    created_at: datetime
    updated_at: datetime
    last_used_at: datetime | None
    secret_rotated_at: datetime
    secret_expires_at: datetime | None
    days_until_expiry: int | None
    secret_expiring_soon: bool


class AccountWithSecret(AccountOut):
    client_secret: str = Field(description="Показывается один раз: сохраните его сейчас")
