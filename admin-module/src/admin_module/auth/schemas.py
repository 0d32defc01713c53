"""Схемы эндпоинта токенов (RFC 6749 §5.1)."""

from __future__ import annotations

from pydantic import BaseModel


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 — тип токена, не секрет
    expires_in: int
    # роли токена через пробел (RFC 6749 §5.1): ``admin user auditor readonly``, ``user readonly`` …
    scope: str


class OAuthError(BaseModel):
    error: str
    error_description: str | None = None
