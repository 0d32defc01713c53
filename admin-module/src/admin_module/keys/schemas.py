"""Схемы ключей подписи."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class JwtKeyOut(BaseModel):
    kid: str
    status: str
    algorithm: str
    created_at: datetime
    activated_at: datetime | None
    retired_at: datetime | None
    remove_after: datetime | None
    age_seconds: float | None


class JwtKeysOut(BaseModel):
    items: list[JwtKeyOut]
    active_kid: str | None
    next_rotation_at: datetime | None
    rotation_hours: float


class RotateOut(BaseModel):
    active_kid: str
    next_kid: str
    retired_kid: str | None
