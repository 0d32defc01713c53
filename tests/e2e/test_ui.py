"""Панель администратора в браузере против настоящего флота: admin-ui/e2e/run.mjs в системном Chromium.

Сценарий (вход, обзор, регистрация элемента по URL, загрузка с прогрессом, поиск по словоформе,
скачивание байт в байт, финализация, удаление, смена секрета, вебхук, аудит) описан в самом run.mjs;
здесь — сборка панели, флот, дополнительный элемент хранения для регистрации и запуск раннера.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
UI = ROOT / "admin-ui"
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
# Флот делит с раннером одну машину: на медленном CI вход, tus на 9 МиБ и сага финализации укладываются с запасом.
RUNNER_TIMEOUT = 15 * 60


def _ensure_ui_built() -> None:
    """node_modules (как ./artstore test: npm ci) и свежая production-сборка, которую раздаёт fleet.py."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("нет npm (Node.js): браузерные тесты admin-ui без него не запустить")
    if not (UI / "node_modules" / "playwright-core").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=UI, check=True, timeout=900)
    # dist не в git и мог остаться от другой ревизии исходников: собираем, если он старше хоть одного исходника
    # (scripts/test.sh только что собрал — тогда второй раз не нужно).
    index = UI / "dist" / "admin-ui" / "browser" / "index.html"
    sources = [p for d in ("src", "public") for p in (UI / d).rglob("*") if p.is_file()]
    sources += [UI / "angular.json", UI / "package-lock.json"]
    if index.exists() and all(p.stat().st_mtime <= index.stat().st_mtime for p in sources):
        return
    build = subprocess.run([npm, "exec", "--", "ng", "build", "--configuration", "production"], cwd=UI,
                           capture_output=True, text=True, timeout=900)
    if build.returncode != 0:
        pytest.fail(f"сборка admin-ui не удалась:\n{build.stdout[-4000:]}\n{build.stderr[-4000:]}")


def _fleet_env(fleet: object) -> dict[str, str]:
    """База, Redis и префикс флота — из окружения его процесса: фикстура fleet их не хранит."""
    env = psutil.Process(fleet.proc.pid).environ()  # type: ignore[attr-defined]
    return {k: env[k] for k in ("ARTSTORE_DATABASE_URL", "ARTSTORE_REDIS_URL", "ARTSTORE_REDIS_NAMESPACE")}


def _start_element(fleet_env: dict[str, str], data_dir: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Ещё один настоящий storage-element (edit) — его панель зарегистрирует по URL."""
    from artstore_common.embedded import free_port

    port = free_port()
    env = {
        **os.environ, **fleet_env,
        "SE_PORT": str(port), "SE_ELEMENT_ID": "se-e2e", "SE_MODE": "edit", "SE_DATA_DIR": str(data_dir),
        "SE_TABLE_PREFIX": "storage_elem_e2e", "ARTSTORE_ENVIRONMENT": "development",
        "ARTSTORE_JWKS_URL": "http://127.0.0.1:8000/.well-known/jwks.json",
    }
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "storage_element"], env=env, stdout=out,
                                stderr=subprocess.STDOUT, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"storage-element se-e2e завершился при старте:\n{log.read_text(errors='replace')[-4000:]}")
        try:
            if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    _stop(proc)
    pytest.fail(f"storage-element se-e2e не стал ready за 90 с:\n{log.read_text(errors='replace')[-4000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def test_admin_ui_in_browser(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    # Без браузера — провал, а не пропуск: иначе CI молча перестанет проверять панель.
    if not CHROMIUM.exists():
        pytest.fail(f"нет {CHROMIUM}: установите Chromium из Debian (apt-get install -y chromium), "
                    "как делает .ci/run, или укажите CHROMIUM_PATH")
    _ensure_ui_built()
    # Флот поднимаем после сборки: fleet.py раздаёт панель из dist, только если index.html уже есть.
    fleet = request.getfixturevalue("fleet")
    secrets = fleet.secrets()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    element, se_url = _start_element(_fleet_env(fleet), tmp_path / "se-e2e", tmp_path / "se-e2e.log")
    try:
        env = {
            **os.environ,
            "UI_URL": f"http://127.0.0.1:{fleet.ui_port}",
            "ADMIN_USER": secrets["INITIAL_ADMIN_USERNAME"],
            "ADMIN_PASSWORD": secrets["INITIAL_ADMIN_PASSWORD"],
            "SE_URL": se_url,
            "SCREENSHOT_DIR": str(SCREENSHOTS),
            "CHROMIUM_PATH": str(CHROMIUM),
        }
        run = subprocess.run(["node", str(UI / "e2e" / "run.mjs")], cwd=UI, env=env, capture_output=True,
                             text=True, timeout=RUNNER_TIMEOUT)
    finally:
        _stop(element)
    output = run.stdout + run.stderr
    # Замеры (время до карточек обзора, размер сборки) — в вывод pytest даже при успехе (-rP / -s).
    for line in output.splitlines():
        if line.startswith(("METRICS", "обзор:")):
            print(line)
    assert run.returncode == 0, (
        f"admin-ui e2e: код {run.returncode}\n{output[-20000:]}\n--- se-e2e ---\n"
        f"{(tmp_path / 'se-e2e.log').read_text(errors='replace')[-3000:]}"
    )
