"""Настройки admin-module (префикс окружения ADMIN_; INITIAL_* — без префикса, как в документе пользователя)."""

from __future__ import annotations

from functools import lru_cache
from typing import ClassVar

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from artstore_common import ServiceSettings


def _bare(name: str) -> AliasChoices:
    # Переменные INITIAL_* пользователь задаёт без префикса сервиса; префиксный вариант тоже понимаем.
    return AliasChoices(name, f"ADMIN_{name}")


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ADMIN_", extra="ignore", env_file=".env", populate_by_name=True)
    secret_fields: ClassVar[tuple[str, ...]] = ("key_encryption_key",)

    port: int = 8000
    # Ключ шифрования закрытых ключей JWT и секретов вебхуков в БД (любая строка высокой энтропии).
    key_encryption_key: str = ""

    token_ttl_seconds: int = 1800
    # Токен пользователя, обязанного сменить пароль, годен только для смены пароля — и живёт недолго.
    password_change_token_ttl_seconds: int = 600
    key_rotation_hours: float = 24.0
    # Запас сверх срока жизни токена, пока выведенный ключ ещё публикуется в JWKS.
    key_retire_margin_seconds: int = 300
    key_size: int = 2048
    poll_interval_seconds: float = 10.0
    snapshot_max_age_seconds: float = 30.0
    element_timeout_seconds: float = 5.0
    refresh_token_days: int = 7
    password_max_age_days: int = 90
    password_min_length: int = 12
    secret_max_age_days: int = 90
    secret_warning_days: int = 14
    lockout_threshold: int = 5
    lockout_minutes: int = 15
    # Подбор секретов на /auth/token: столько неудач на пару client_id+IP за окно — дальше 429.
    token_throttle_attempts: int = 10
    token_throttle_window_seconds: int = 300
    bcrypt_rounds: int = 12
    # Сколько секунд помнить успешную проверку секрета (bcrypt дорог намеренно).
    secret_cache_seconds: float = 300.0
    webhook_max_attempts: int = 8
    webhook_backoff_seconds: float = 10.0
    webhook_timeout_seconds: float = 10.0
    webhook_worker_interval_seconds: float = 2.0
    jobs_enabled: bool = True
    job_tick_seconds: float = 60.0

    initial_account_enabled: bool = Field(True, validation_alias=_bare("INITIAL_ACCOUNT_ENABLED"))
    initial_account_name: str = Field("admin-service", validation_alias=_bare("INITIAL_ACCOUNT_NAME"))
    initial_client_id: str = Field("", validation_alias=_bare("INITIAL_CLIENT_ID"))
    initial_client_secret: str = Field("", validation_alias=_bare("INITIAL_CLIENT_SECRET"))
    initial_account_role: str = Field("ADMIN", validation_alias=_bare("INITIAL_ACCOUNT_ROLE"))
    initial_account_description: str = Field(
        "Системный сервисный аккаунт, созданный при первом запуске",
        validation_alias=_bare("INITIAL_ACCOUNT_DESCRIPTION"),
    )
    initial_admin_username: str = Field("admin", validation_alias=_bare("INITIAL_ADMIN_USERNAME"))
    initial_admin_password: str = Field("", validation_alias=_bare("INITIAL_ADMIN_PASSWORD"))


@lru_cache
def get_settings() -> Settings:
    return Settings()
