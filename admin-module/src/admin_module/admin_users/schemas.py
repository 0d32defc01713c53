"""Схемы пользователей admin-ui и их входа."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from artstore_common import Role

from ..request_model import RequestModel


class LoginRequest(RequestModel):
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)
    totp_code: str | None = Field(None, max_length=12)


class RefreshRequest(RequestModel):
    refresh_token: str = Field(min_length=1, max_length=500)


class LoginResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "Bearer"  # noqa: S105 — тип токена, не секрет
    expires_in: int
    must_change_password: bool = False
    password_expires_at: datetime | None = None


class MeOut(BaseModel):
    id: str
    username: str
    role: Role
    kind: str
    is_active: bool = True
    totp_enabled: bool = False
    password_expires_at: datetime | None = None
    must_change_password: bool = False
    last_login_at: datetime | None = None


class ChangePasswordRequest(RequestModel):
    current_password: str = Field(min_length=1, max_length=1000)
    new_password: str = Field(min_length=1, max_length=1000)


class TotpEnrollOut(BaseModel):
    secret: str
    otpauth_uri: str


class TotpVerifyRequest(RequestModel):
    code: str = Field(min_length=6, max_length=12)


class AdminUserCreate(RequestModel):
    username: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.@\-]+$")
    password: str = Field(min_length=1, max_length=1000)
    role: Role = Role.ADMIN
    is_active: bool = True


class AdminUserUpdate(RequestModel):
    role: Role | None = None
    is_active: bool | None = None
    password: str | None = Field(None, min_length=1, max_length=1000, description="Сброс пароля администратором")
    totp_enabled: bool | None = Field(None, description="Только false: сбросить TOTP пользователя")
    unlock: bool | None = Field(None, description="true — снять блокировку после неудачных входов")


class AdminUserOut(BaseModel):
    id: str
    username: str
    role: Role
    is_active: bool
    is_system: bool
    totp_enabled: bool
    failed_attempts: int
    locked_until: datetime | None
    password_changed_at: datetime
    password_expires_at: datetime | None
    must_change_password: bool
    last_login_at: datetime | None
    created_at: datetime
    updated_at: datetime
