"""Схемы журнала аудита."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class AuditEntryOut(BaseModel):
    id: int
    occurred_at: datetime
    actor_type: str
    actor_id: str | None
    actor_name: str | None
    ip: str | None
    action: str
    target_type: str | None
    target_id: str | None
    outcome: str
    details: dict[str, Any]
    prev_hash: str
    hash: str
    event_id: str | None = None


class AuditVerifyOut(BaseModel):
    valid: bool
    checked: int
    first_bad_id: int | None
