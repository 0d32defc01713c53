"""Схемы вебхуков."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from ..request_model import RequestModel

EventType = Literal["file_uploaded", "file_deleted", "file_expiring", "file_restored", "restore_failed",
                    "file_finalized", "file_transferred", "file_expired", "element_mode_changed"]


class WebhookCreate(RequestModel):
    url: str = Field(min_length=8, max_length=1000, pattern=r"^https?://")
    events: list[EventType] = Field(min_length=1)
    is_active: bool = True


class WebhookUpdate(RequestModel):
    url: str | None = Field(None, min_length=8, max_length=1000, pattern=r"^https?://")
    events: list[EventType] | None = Field(None, min_length=1)
    is_active: bool | None = None


class WebhookOut(BaseModel):
    id: str
    account_id: str
    url: str
    events: list[str]
    is_active: bool
    created_at: datetime
    updated_at: datetime


class WebhookWithSecret(WebhookOut):
    secret: str = Field(description="Ключ HMAC подписи X-ArtStore-Signature; показывается один раз")


class DeliveryOut(BaseModel):
    id: str
    webhook_id: str
    event_id: str
    event_type: str
    status: str
    attempts: int
    attempt_log: list[dict[str, Any]]
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
