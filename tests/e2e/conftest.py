"""Флот целиком как настоящие процессы, запущенный той же командой, что и у пользователя (scripts/fleet.py)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

import httpx
import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
PORTS = {"admin-module": 8000, "storage-element-01": 8010, "storage-element-02": 8011,
         "ingester-module": 8020, "query-module": 8030}
# члены se-r1 флота ``--replicated 3`` (scripts/fleet.py): заняты только в таком флоте
REPLICATED_PORTS = {"se-r1-a": 8012, "se-r1-b": 8013, "se-r1-c": 8014}


def wait_for(what: str, check: Callable[[], tuple[bool, object]], timeout: float = 60.0) -> object:
    """Ждём, пока check() вернёт (True, значение); иначе падаем с последним увиденным состоянием."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            ok, last = check()
            if ok:
                return last
        except httpx.HTTPError as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.5)
    raise AssertionError(f"за {timeout:.0f} с не дождались: {what}; последнее состояние: {last}")


def sha256_file(path: Path) -> str:
    """sha256 файла потоком: большие файлы тестов (100 МиБ и больше) в память целиком не читаются."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


@dataclass
class RunningFleet:
    proc: subprocess.Popen[str]
    ui_port: int
    data_dir: Path
    output: list[str]
    ready_seconds: float
    lock: IO[bytes] | None = None

    def wait_output(self, text: str, timeout: float = 120, since: int = 0) -> str:
        """Ждёт строку вывода fleet.py (его читает фоновый поток) и возвращает её."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.output[since:]:
                if text in line:
                    return line
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"нет строки {text!r} в выводе флота:\n" + "".join(self.output[-60:]))

    def secrets(self) -> dict[str, str]:
        import json

        return json.loads((self.data_dir / "secrets.json").read_text())

    def token(self, role_account: dict[str, str] | None = None) -> str:
        creds = role_account or self.secrets()
        r = httpx.post("http://127.0.0.1:8000/api/v1/auth/token", json={
            "client_id": creds["INITIAL_CLIENT_ID"], "client_secret": creds["INITIAL_CLIENT_SECRET"]}, timeout=30)
        r.raise_for_status()
        return str(r.json()["access_token"])


FLEET_LOCK = Path(tempfile.gettempdir()) / "artstore-fleet-ports.lock"


def lock_fleet_ports(timeout: float = 900) -> IO[bytes]:
    """Порты флота фиксированы (8000–8030): тесты, поднимающие флот, идут строго по одному — и внутри
    прогона, и между прогонами из разных рабочих копий на этой машине (блокировка файла в /tmp
    снимается сама, даже если процесс теста убит). Заодно ждём, пока чужой флот освободит порты."""
    fh = open(FLEET_LOCK, "ab")  # noqa: SIM115 - держим до остановки флота
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() > deadline:
                fh.close()
                raise AssertionError(f"порты флота заняты другим тестом дольше {timeout:g} с ({FLEET_LOCK})") from None
            time.sleep(0.5)
    while busy := [p for p in (*PORTS.values(), *REPLICATED_PORTS.values()) if _listening(p)]:
        if time.monotonic() > deadline:
            fh.close()
            raise AssertionError(f"порты флота {busy} заняты чужим процессом дольше {timeout:g} с")
        time.sleep(1)
    return fh


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def start_fleet(data_dir: Path, env: dict[str, str], timeout: float = 240, args: tuple[str, ...] = ()) -> RunningFleet:
    from artstore_common.embedded import free_port

    lock = lock_fleet_ports()
    env = {"ARTSTORE_UI_PORT": str(free_port()), **env}
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "fleet.py"), "run", "--data-dir", str(data_dir), *args],
        env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
    )
    output: list[str] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                if proc.poll() is not None:
                    raise AssertionError("флот не поднялся:\n" + "".join(output) + _logs(data_dir))
                continue
            output.append(line)
            if "Остановить: Ctrl-C" in line:
                # дальше вывод читает поток: иначе строки о перезапусках переполнили бы канал и fleet.py встал бы
                threading.Thread(target=_drain, args=(proc.stdout, output), daemon=True).start()
                return RunningFleet(proc, int(env["ARTSTORE_UI_PORT"]), data_dir, output,
                                    time.monotonic() - started, lock)
        raise AssertionError("флот не поднялся вовремя:\n" + "".join(output) + _logs(data_dir))
    except BaseException:
        _stop_quietly(proc)
        lock.close()
        raise


def _drain(stream: IO[str], output: list[str]) -> None:
    for line in stream:
        output.append(line)


def _stop_quietly(proc: subprocess.Popen[str]) -> None:
    """Не поднявшийся флот — тоже Ctrl-C: fleet.py сам погасит всё, что успел запустить."""
    if proc.poll() is None:
        children = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        for p in psutil.wait_procs(children, timeout=20)[1]:
            p.kill()


def _logs(data_dir: Path) -> str:
    out = []
    for f in sorted((data_dir / "logs").glob("*.log")):
        out.append(f"\n--- {f.name} ---\n" + f.read_text(errors="replace")[-3000:])
    return "".join(out)


def stop_fleet(fleet: RunningFleet) -> list[psutil.Process]:
    """Ctrl-C (SIGINT) и проверка, что ни одного дочернего процесса не осталось."""
    try:
        children = psutil.Process(fleet.proc.pid).children(recursive=True)
        fleet.proc.send_signal(signal.SIGINT)
        fleet.proc.wait(90)
        _gone, alive = psutil.wait_procs(children, timeout=30)
        for p in alive:
            p.kill()
        return alive
    finally:
        if fleet.lock is not None:
            fleet.lock.close()


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


class Hooks:
    """Приёмник вебхуков на loopback: тела событий по id (повтор доставки — тот же id)."""

    def __init__(self) -> None:
        self.events: dict[str, dict[str, Any]] = {}
        self.posts = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                event = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                outer.posts += 1
                outer.events[event["id"]] = event
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def subscribe(self, fleet: RunningFleet, events: list[str], admin: str = "http://127.0.0.1:8000") -> None:
        """Вебхук на аккаунт INITIAL_CLIENT_ID флота: его токеном идёт нагрузка теста."""
        auth = {"Authorization": f"Bearer {fleet.token()}"}
        account = httpx.get(f"{admin}/api/v1/service-accounts", params={"search": fleet.secrets()["INITIAL_CLIENT_ID"]},
                            headers=auth, timeout=10).json()["items"][0]
        r = httpx.post(f"{admin}/api/v1/service-accounts/{account['id']}/webhooks", headers=auth, timeout=10,
                       json={"url": self.url, "events": events})
        assert r.status_code == 201, r.text

    def files(self, event_type: str) -> set[str]:
        return {e["data"]["file_id"] for e in list(self.events.values()) if e["type"] == event_type}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
