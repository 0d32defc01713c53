"""`python -m admin_module`: стартует на заданном порту, создаёт схему, печатает начальные секреты один раз."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from artstore_common.testing import free_port, wait_http


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "admin_module"], env=env, stdout=out,
                                stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(20)


def test_module_entrypoint_prints_initial_credentials_once(database_url: str, redis_url: str, redis_namespace: str,
                                                          tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ADMIN_", "INITIAL_", "ARTSTORE_"))}
    env.update({"ADMIN_ENVIRONMENT": "development", "ADMIN_DATABASE_URL": database_url, "ADMIN_REDIS_URL": redis_url,
                "ADMIN_REDIS_NAMESPACE": redis_namespace, "ADMIN_PORT": str(port), "ADMIN_LOG_FORMAT": "text",
                "ADMIN_DATA_DIR": str(tmp_path / "data"), "ADMIN_BCRYPT_ROUNDS": "4"})
    first_log = tmp_path / "first.log"
    proc = _start(env, first_log)
    try:
        wait_http(f"http://127.0.0.1:{port}/health/ready", timeout=60)
    finally:
        _stop(proc)
    text = first_log.read_text(encoding="utf-8")
    lines = dict(line.strip().split(":", 1) for line in text.splitlines() if line.strip().startswith(
        ("client_id:", "client_secret:", "пароль:")))
    client_id, secret = lines["client_id"].strip(), lines["client_secret"].strip()
    assert len(secret) >= 40 and lines["пароль"].strip()
    assert (tmp_path / "data" / "admin-kek.txt").is_file()  # development-ключ KEK сохранён

    second_log = tmp_path / "second.log"
    proc = _start(env, second_log)
    try:
        wait_http(f"http://127.0.0.1:{port}/health/ready", timeout=60)
        r = httpx.post(f"http://127.0.0.1:{port}/api/v1/auth/token", data={"grant_type": "client_credentials"},
                       auth=(client_id, secret))
        assert r.status_code == 200, r.text
    finally:
        _stop(proc)
    assert "client_secret:" not in second_log.read_text(encoding="utf-8")
