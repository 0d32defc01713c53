"""Присмотр ``./artstore run`` за процессами, настоящими процессами и настоящим ``kill -9``: упавший сервис
поднимается снова, остальные всё это время отвечают; сервис, который падает сразу после запуска,
оставляется после предела попыток — только он; встроенные PostgreSQL и Redis тоже перезапускаются.
Учётные данные из окружения — те, что флот использует, печатает и сохраняет."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from .conftest import PORTS, RunningFleet, start_fleet, stop_fleet

pytestmark = pytest.mark.e2e

ADMIN, INGESTER, QUERY = "http://127.0.0.1:8000", "http://127.0.0.1:8020", "http://127.0.0.1:8030"


def _token(client_id: str, secret: str) -> dict[str, str]:
    r = httpx.post(f"{ADMIN}/api/v1/auth/token", data={"grant_type": "client_credentials"},
                   auth=(client_id, secret), timeout=30)
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _upload(headers: dict[str, str], name: str, content: bytes) -> str:
    r = httpx.post(f"{INGESTER}/api/v1/files/upload", headers=headers, timeout=60,
                   files={"file": (name, content, "application/octet-stream")})
    assert r.status_code == 201, r.text
    assert r.json()["checksum"] == hashlib.sha256(content).hexdigest()
    return str(r.json()["file_id"])


def _download_sha(headers: dict[str, str], file_id: str) -> str:
    r = httpx.get(f"{QUERY}/api/v1/files/{file_id}/download", headers=headers, timeout=60)
    assert r.status_code == 200, r.text
    return hashlib.sha256(r.content).hexdigest()


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _service_proc(fleet: RunningFleet, module: str) -> psutil.Process | None:
    for child in psutil.Process(fleet.proc.pid).children():
        try:
            if child.cmdline()[-1:] == [module] and child.status() != psutil.STATUS_ZOMBIE:
                return child
        except psutil.NoSuchProcess:
            continue
    return None


def _gone(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.3)
    raise AssertionError(f"не дождались: {what}")


@pytest.fixture
def env_fleet(tmp_path: Path, pg_admin_url: str, redis_url: str) -> Iterator[tuple[RunningFleet, dict[str, str]]]:
    """Флот с учётными данными оператора в окружении (как в production) на серверах тестовой сессии."""
    from artstore_common.testing import create_database, drop_database

    name, db_url = create_database(pg_admin_url)
    creds = {"INITIAL_CLIENT_ID": f"svc-{name[-8:]}", "INITIAL_CLIENT_SECRET": "env-secret-" + os.urandom(8).hex(),
             "INITIAL_ADMIN_PASSWORD": "env-password-" + os.urandom(6).hex(),
             "ADMIN_KEY_ENCRYPTION_KEY": "env-kek-" + os.urandom(16).hex()}
    running = start_fleet(tmp_path / "data", {"ARTSTORE_DATABASE_URL": db_url, "ARTSTORE_REDIS_URL": redis_url,
                                              "ARTSTORE_REDIS_NAMESPACE": f"e2e-{name}", **creds})
    try:
        yield running, creds
    finally:
        alive = stop_fleet(running)
        drop_database(pg_admin_url, name)
    assert alive == [], f"после Ctrl-C остались процессы: {alive}"


def test_environment_credentials_and_killed_service_comes_back(env_fleet: tuple[RunningFleet, dict[str, str]]) -> None:
    fleet, creds = env_fleet
    # что задано в окружении — тем флот и пользуется, это и сохранено; секреты оператора не печатаются
    saved = fleet.secrets()
    assert {k: saved[k] for k in creds} == creds
    out = "".join(fleet.output)
    assert f"client_id      {creds['INITIAL_CLIENT_ID']}" in out
    for key in ("INITIAL_CLIENT_SECRET", "INITIAL_ADMIN_PASSWORD", "ADMIN_KEY_ENCRYPTION_KEY"):
        assert creds[key] not in out, f"{key} напечатан"
    headers = _token(creds["INITIAL_CLIENT_ID"], creds["INITIAL_CLIENT_SECRET"])
    before = _upload(headers, "до сбоя.bin", os.urandom(50_000))

    # kill -9 query-module. fleet.py на это время заморожен (SIGSTOP): окно «query лежит» держим открытым
    # сами, а не надеемся успеть за паузу перезапуска
    query = _service_proc(fleet, "query_module")
    assert query is not None
    fleet.proc.send_signal(signal.SIGSTOP)
    try:
        query.kill()
        # процесс уже убит, но забрать его некому (fleet.py заморожен): зомби
        _wait(lambda: _gone(query), 10, "query-module убит")
        assert not _ready(PORTS["query-module"])
        content = os.urandom(200_000)
        during = _upload(headers, "пока query лежит.bin", content)  # ingester принимает без query
        for name in ("admin-module", "storage-element-01", "storage-element-02", "ingester-module"):
            assert _ready(PORTS[name]), name
        assert _service_proc(fleet, "query_module") is None
    finally:
        fleet.proc.send_signal(signal.SIGCONT)
    line = fleet.wait_output("query-module завершился (сигнал SIGKILL)")
    assert "перезапуск через 1 с" in line and "query-module.log" in line
    fleet.wait_output("query-module (http://127.0.0.1:8030) снова готов после перезапуска")
    assert _download_sha(headers, during) == hashlib.sha256(content).hexdigest()
    _download_sha(headers, before)

    # второй kill -9 вскоре после первого — снова подъём, пауза уже вдвое больше
    since = len(fleet.output)
    query = _service_proc(fleet, "query_module")
    assert query is not None
    query.kill()
    line = fleet.wait_output("query-module завершился (сигнал SIGKILL)", since=since)
    assert "перезапуск через 2 с" in line and "сбой 2 подряд" in line
    fleet.wait_output("query-module (http://127.0.0.1:8030) снова готов", since=since)
    assert _ready(PORTS["query-module"])
    assert fleet.proc.poll() is None


def test_crash_loop_gives_up_that_service_only(tmp_path: Path, pg_admin_url: str, redis_url: str) -> None:
    """query-module с негодной настройкой падает сразу после каждого запуска: паузы 1, 2, 4, 8 с, после
    пятого сбоя подряд — сообщение с журналом; admin, элементы и ingester работают, загрузка проходит."""
    from artstore_common.testing import create_database, drop_database

    name, db_url = create_database(pg_admin_url)
    running = start_fleet(tmp_path / "data", {
        "ARTSTORE_DATABASE_URL": db_url, "ARTSTORE_REDIS_URL": redis_url, "ARTSTORE_REDIS_NAMESPACE": f"e2e-{name}",
        "QUERY_ELEMENT_TIMEOUT": "-1"})
    try:
        out = "".join(running.output)
        log_path = running.data_dir / "logs" / "query-module.log"
        restarts = [line for line in running.output if "query-module завершился (код" in line]
        assert [d for d in ("через 1 с", "через 2 с", "через 4 с", "через 8 с") if any(d in x for x in restarts)] == [
            "через 1 с", "через 2 с", "через 4 с", "через 8 с"], out
        give_up = running.wait_output("query-module упал 5 раз подряд")
        assert "больше не перезапускаю" in give_up and "остальные сервисы продолжают работать" in give_up
        assert str(log_path) in give_up
        assert "element_timeout" in out  # хвост журнала в сообщении: причина видна сразу
        assert f"query-module     НЕ РАБОТАЕТ — см. {log_path}" in out
        for other in ("admin-module", "storage-element-01", "storage-element-02", "ingester-module"):
            assert _ready(PORTS[other]), other
        assert running.proc.poll() is None and _service_proc(running, "query_module") is None
        headers = _token(running.secrets()["INITIAL_CLIENT_ID"], running.secrets()["INITIAL_CLIENT_SECRET"])
        _upload(headers, "query лежит.txt", b"payload")
        # больше его не трогают: ни новых попыток, ни остановки флота
        seen = len(running.output)
        time.sleep(3)
        assert not any("query-module" in line for line in running.output[seen:])
    finally:
        alive = stop_fleet(running)
        drop_database(pg_admin_url, name)
    assert alive == [] and running.proc.returncode == 0


@pytest.mark.slow
def test_embedded_postgres_and_redis_are_restarted(tmp_path: Path) -> None:
    """kill -9 встроенного Valkey и postmaster встроенного PostgreSQL: оба поднимаются снова, сервисы
    переподключаются сами, загрузка и скачивание снова работают; Ctrl-C гасит и сервер базы."""
    running = start_fleet(tmp_path / "data", {"ARTSTORE_DATABASE_URL": "", "ARTSTORE_REDIS_URL": "",
                                              "ARTSTORE_EMBEDDED_PG_PORT": "55434",
                                              "ARTSTORE_EMBEDDED_REDIS_PORT": "56381"})
    pid_file = tmp_path / "data" / "postgres" / "postmaster.pid"
    try:
        creds = running.secrets()
        headers = _token(creds["INITIAL_CLIENT_ID"], creds["INITIAL_CLIENT_SECRET"])
        valkey = next(p for p in psutil.Process(running.proc.pid).children() if "valkey-server" in p.name())
        valkey.kill()
        running.wait_output("redis завершился (сигнал SIGKILL)")
        running.wait_output("Valkey/Redis (127.0.0.1:56381) снова готов")

        postmaster = psutil.Process(int(pid_file.read_text().split()[0]))
        postmaster.kill()
        running.wait_output("postgresql завершился (процесс пропал)", timeout=60)
        running.wait_output("PostgreSQL (127.0.0.1:55434) снова готов", timeout=120)
        new_pid = int(pid_file.read_text().split()[0])
        assert new_pid != postmaster.pid and psutil.pid_exists(new_pid)

        # сервисы переподключаются сами (после сбоя базы они могли и перезапуститься — это тоже присмотр)
        _wait(lambda: all(_ready(p) for p in PORTS.values()), 120, "готовность всех сервисов после сбоя базы")
        content = os.urandom(100_000)
        file_id = _upload(headers, "после сбоя базы.bin", content)
        assert _download_sha(headers, file_id) == hashlib.sha256(content).hexdigest()
    finally:
        alive = stop_fleet(running)
    assert alive == []
    assert not pid_file.exists(), "PostgreSQL пережил Ctrl-C"
    with contextlib.suppress(psutil.NoSuchProcess):
        psutil.Process(new_pid).wait(10)  # pid-файл удалён последним делом: процесс вот-вот выйдет
    assert json.loads((tmp_path / "data" / "secrets.json").read_text())["INITIAL_CLIENT_ID"]
