"""Флот целиком как настоящие процессы, запущенный той же командой, что и у пользователя (scripts/fleet.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
PORTS = {"admin-module": 8000, "storage-element-01": 8010, "storage-element-02": 8011,
         "ingester-module": 8020, "query-module": 8030}


@dataclass
class RunningFleet:
    proc: subprocess.Popen[str]
    ui_port: int
    data_dir: Path
    output: list[str]
    ready_seconds: float

    def secrets(self) -> dict[str, str]:
        import json

        return json.loads((self.data_dir / "secrets.json").read_text())

    def token(self, role_account: dict[str, str] | None = None) -> str:
        creds = role_account or self.secrets()
        r = httpx.post("http://127.0.0.1:8000/api/v1/auth/token", json={
            "client_id": creds["INITIAL_CLIENT_ID"], "client_secret": creds["INITIAL_CLIENT_SECRET"]}, timeout=30)
        r.raise_for_status()
        return str(r.json()["access_token"])


def start_fleet(data_dir: Path, env: dict[str, str], timeout: float = 240) -> RunningFleet:
    from artstore_common.embedded import free_port

    env = {"ARTSTORE_UI_PORT": str(free_port()), **env}
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "fleet.py"), "run", "--data-dir", str(data_dir)],
        env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
    )
    output: list[str] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                raise AssertionError("флот не поднялся:\n" + "".join(output) + _logs(data_dir))
            continue
        output.append(line)
        if "Остановить: Ctrl-C" in line:
            return RunningFleet(proc, int(env["ARTSTORE_UI_PORT"]), data_dir, output, time.monotonic() - started)
    proc.kill()
    raise AssertionError("флот не поднялся вовремя:\n" + "".join(output) + _logs(data_dir))


def _logs(data_dir: Path) -> str:
    out = []
    for f in sorted((data_dir / "logs").glob("*.log")):
        out.append(f"\n--- {f.name} ---\n" + f.read_text(errors="replace")[-3000:])
    return "".join(out)


def stop_fleet(fleet: RunningFleet) -> list[psutil.Process]:
    """Ctrl-C (SIGINT) и проверка, что ни одного дочернего процесса не осталось."""
    children = psutil.Process(fleet.proc.pid).children(recursive=True)
    fleet.proc.send_signal(signal.SIGINT)
    fleet.proc.wait(90)
    _gone, alive = psutil.wait_procs(children, timeout=30)
    for p in alive:
        p.kill()
    return alive


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, pg_admin_url: str, redis_url: str) -> Iterator[RunningFleet]:
    """Флот на серверах тестовой сессии: своя база и свой префикс Redis."""
    from artstore_common.testing import create_database, drop_database

    name, db_url = create_database(pg_admin_url)
    data = tmp_path_factory.mktemp("fleet")
    running = start_fleet(data, {"ARTSTORE_DATABASE_URL": db_url, "ARTSTORE_REDIS_URL": redis_url,
                                 "ARTSTORE_REDIS_NAMESPACE": f"e2e-{name}"})
    try:
        yield running
    finally:
        stop_fleet(running)
        drop_database(pg_admin_url, name)
