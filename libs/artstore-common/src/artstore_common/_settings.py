"""Фрагменты настроек, общие для всех сервисов.

Порядок источников (первый выигрывает): аргументы конструктора → переменные окружения с
префиксом сервиса (``ADMIN_``, ``SE_`` …) → общие переменные ``ARTSTORE_*`` (только для полей из
``shared_fields``) → переменные без префикса для ``LOG_LEVEL``/``LOG_FORMAT``/``ENVIRONMENT`` →
файл ``.env`` → YAML-файл из ``{PREFIX}CONFIG_FILE`` → значения по умолчанию.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from ._redis import is_sentinel_url, sentinel_url

# Значения, которые нельзя оставлять вне разработки: их знает каждый, кто читал README.
PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "secret", "password", "admin", "dev-secret", "auto-generated", "minioadmin"}
)


class _FilteredEnvSource(EnvSettingsSource):
    """Источник окружения с другим префиксом, ограниченный набором полей."""

    def __init__(self, settings_cls: type[BaseSettings], prefix: str, fields: frozenset[str]) -> None:
        super().__init__(settings_cls, env_prefix=prefix, case_sensitive=False)
        self._fields = fields

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        if field_name not in self._fields:
            return None, field_name, False
        return super().get_field_value(field, field_name)


class ServiceSettings(BaseSettings):
    """База настроек сервиса. Наследник задаёт ``model_config`` с ``env_prefix``."""

    model_config = SettingsConfigDict(extra="ignore", env_file=".env", env_file_encoding="utf-8")

    # Поля, которые можно задать один раз для всего флота через ARTSTORE_<ИМЯ>.
    shared_fields: ClassVar[frozenset[str]] = frozenset(
        {"database_url", "redis_url", "redis_namespace", "redis_sentinels", "redis_sentinel_master",
         "jwks_url", "jwt_issuer", "jwt_audience", "environment", "cors_origins", "token_url", "data_dir",
         "host"}
    )
    # Поля, которые читаются и без префикса (как в документе пользователя: LOG_LEVEL, LOG_FORMAT).
    bare_fields: ClassVar[frozenset[str]] = frozenset({"log_level", "log_format", "environment"})
    # Поля-секреты: проверяются на заглушки вне development.
    secret_fields: ClassVar[tuple[str, ...]] = ()

    environment: Literal["development", "test", "production"] = "production"
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"
    host: str = "127.0.0.1"
    port: int = 8000
    cors_origins: list[str] = Field(default_factory=list)
    # Общие для флота зависимости (можно задать один раз через ARTSTORE_*).
    database_url: str = "postgresql://postgres@127.0.0.1:5432/artstore"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_namespace: str = "artstore"
    # Redis Sentinel: «host:port,host:port» — тогда redis_url становится адресом redis+sentinel://
    # (пароль и номер базы берутся из redis_url). Пусто — обычный Redis по redis_url (по умолчанию).
    redis_sentinels: str = ""
    redis_sentinel_master: str = "mymaster"
    # Идентификатор издателя (RFC 8414 §2, RFC 9068): публичный адрес admin-module. Метаданные сервера
    # авторизации лежат в {issuer}/.well-known/oauth-authorization-server и называют этот же адрес.
    jwt_issuer: str = "http://127.0.0.1:8000"
    jwt_audience: str = "artstore"
    jwks_url: str = "http://127.0.0.1:8000/.well-known/jwks.json"
    token_url: str = "http://127.0.0.1:8000/api/v1/auth/token"  # noqa: S105 - адрес, не пароль
    data_dir: Path = Path(".data")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        prefix = str(settings_cls.model_config.get("env_prefix", ""))
        sources: list[PydanticBaseSettingsSource] = [
            init_settings,
            env_settings,
            _FilteredEnvSource(settings_cls, "ARTSTORE_", cls.shared_fields),
            _FilteredEnvSource(settings_cls, "", cls.bare_fields),
            dotenv_settings,
        ]
        yaml_path = os.environ.get(f"{prefix}CONFIG_FILE")
        if yaml_path and Path(yaml_path).is_file():
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=yaml_path))
        return tuple(sources)

    @field_validator("jwt_issuer")
    @classmethod
    def _issuer_is_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(
                f"jwt_issuer {value!r}: нужен адрес http(s) admin-module без query и fragment "
                "(RFC 8414 §2), например https://artstore.example.org; он же — iss в токенах")
        return value

    @model_validator(mode="after")
    def _redis_via_sentinel(self) -> ServiceSettings:
        # Один носитель — redis_url: фабрика make_redis и все, кому его передают (discovery, подписки),
        # видят Sentinel без отдельных параметров.
        if self.redis_sentinels.strip() and not is_sentinel_url(self.redis_url):
            self.redis_url = sentinel_url(self.redis_sentinels, self.redis_sentinel_master, self.redis_url)
        return self

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> ServiceSettings:
        if self.environment == "development":
            return self
        bad = [name for name in self.secret_fields if str(getattr(self, name, "") or "").lower() in PLACEHOLDER_SECRETS]
        if bad:
            raise ValueError(
                "секреты не заданы или оставлены заглушками вне development: "
                + ", ".join(bad)
                + " — задайте их в окружении или установите ENVIRONMENT=development"
            )
        return self


def parse_size(value: str | int) -> int:
    """Размер вида ``1Gb``, ``512MiB``, ``10 GB`` или число байт → байты (степени 1024)."""
    if isinstance(value, int):
        return value
    text = value.strip().lower().replace(" ", "")
    units = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
    num = text.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = text[len(num):].replace("ib", "").replace("b", "") if text[len(num):] not in ("", "b") else ""
    if unit not in units or not num:
        raise ValueError(f"не понимаю размер {value!r}: ожидается число и единица (например 10GiB)")
    try:
        return int(float(num) * units[unit])
    except ValueError as exc:
        raise ValueError(f"не понимаю размер {value!r}: ожидается число и единица (например 10GiB)") from exc
