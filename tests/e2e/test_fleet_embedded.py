"""Команда запуска на «чистой» машине: встроенные PostgreSQL и Valkey, чистая остановка по Ctrl-C."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from .conftest import start_fleet, stop_fleet

pytestmark = pytest.mark.e2e


@pytest.mark.slow
def test_embedded_defaults_and_clean_shutdown(tmp_path: Path) -> None:
    """Без ARTSTORE_DATABASE_URL/REDIS_URL — встроенные серверы; Ctrl-C не оставляет процессов."""
    env = {"ARTSTORE_DATABASE_URL": "", "ARTSTORE_REDIS_URL": "",
           "ARTSTORE_EMBEDDED_PG_PORT": "55433", "ARTSTORE_EMBEDDED_REDIS_PORT": "56380"}
    running = start_fleet(tmp_path / "data", env)
    try:
        assert httpx.get("http://127.0.0.1:8020/health/ready", timeout=5).status_code == 200
    finally:
        alive = stop_fleet(running)
    assert alive == [], f"после Ctrl-C остались процессы: {alive}"
    assert (tmp_path / "data" / "postgres" / "PG_VERSION").exists()
