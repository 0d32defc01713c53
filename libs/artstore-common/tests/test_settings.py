"""Настройки: окружение сильнее YAML, общие ARTSTORE_*, отказ от заглушек-секретов вне development."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from artstore_common import ServiceSettings, parse_size


class DemoSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DEMO_", extra="ignore")
    secret_fields: ClassVar[tuple[str, ...]] = ("client_secret",)
    client_secret: str = ""
    port: int = 9999


def test_env_overrides_yaml_and_shared(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "demo.yaml"
    cfg.write_text("port: 1111\nredis_url: redis://yaml:6379/0\nclient_secret: from-yaml-strong\n")
    monkeypatch.setenv("DEMO_CONFIG_FILE", str(cfg))
    monkeypatch.setenv("ARTSTORE_REDIS_URL", "redis://shared:6379/0")
    monkeypatch.setenv("DEMO_PORT", "2222")
    monkeypatch.setenv("LOG_FORMAT", "text")
    s = DemoSettings()
    assert s.port == 2222  # префикс сервиса сильнее YAML
    assert s.redis_url == "redis://shared:6379/0"  # общее ARTSTORE_* сильнее YAML
    assert s.client_secret == "from-yaml-strong"
    assert s.log_format == "text"
    monkeypatch.setenv("DEMO_REDIS_URL", "redis://own:6379/0")
    assert DemoSettings().redis_url == "redis://own:6379/0"


def test_shared_prefix_does_not_leak_into_service_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARTSTORE_PORT", "1")
    monkeypatch.setenv("DEMO_CLIENT_SECRET", "x" * 20)
    assert DemoSettings().port == 9999


@pytest.mark.parametrize("secret", ["", "changeme", "password"])
def test_placeholder_secret_refused_outside_development(monkeypatch: pytest.MonkeyPatch, secret: str) -> None:
    monkeypatch.setenv("DEMO_CLIENT_SECRET", secret)
    monkeypatch.setenv("DEMO_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="client_secret"):
        DemoSettings()
    monkeypatch.setenv("DEMO_ENVIRONMENT", "development")
    assert DemoSettings().client_secret == secret


def test_issuer_is_http_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_CLIENT_SECRET", "x" * 20)
    # умолчание — адрес admin в ./artstore run: iss токенов совпадает с issuer метаданных RFC 8414
    assert DemoSettings().jwt_issuer == "http://127.0.0.1:8000"
    monkeypatch.setenv("ARTSTORE_JWT_ISSUER", "https://artstore.example.org/admin")
    assert DemoSettings().jwt_issuer == "https://artstore.example.org/admin"
    for bad in ("artstore-admin", "ftp://x", "https://x/?a=1", "https://x/#f", "http://"):
        monkeypatch.setenv("ARTSTORE_JWT_ISSUER", bad)
        with pytest.raises(ValidationError, match="RFC 8414"):
            DemoSettings()


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1Gb", 1 << 30), ("512MiB", 512 << 20), ("10 GB", 10 << 30), ("4096", 4096), ("1.5k", 1536), (7, 7)],
)
def test_parse_size(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


def test_parse_size_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="размер"):
        parse_size("много")
