"""Настоящий Prometheus поверх настоящего флота: конфиг из monitoring/prometheus/prometheus.local.yml
опрашивает все сервисы ArtStore, видит рост бизнес-метрик после загрузок и загружает правила алертов
без ошибок."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from .conftest import ROOT, RunningFleet

pytestmark = pytest.mark.e2e

INGESTER = "http://127.0.0.1:8020"
MONITORING = ROOT / "monitoring" / "prometheus"
# только задания сервисов ArtStore: сам Prometheus на :9090 и Alertmanager на :9093 в тесте не запущены
SERVICE_JOBS = ("admin-module", "storage-element", "ingester-module", "query-module")
EXPECTED_TARGETS = 5  # admin, два элемента хранения, ingester, query
WAIT = 60.0  # верхняя граница любого ожидания


def build_config(tmp: Path) -> Path:
    """Локальный конфиг с интервалами в 1 с, без Alertmanager и с абсолютным путём к alerts.yml."""
    cfg: dict[str, Any] = yaml.safe_load((MONITORING / "prometheus.local.yml").read_text())
    cfg["global"]["scrape_interval"] = "1s"
    cfg["global"]["scrape_timeout"] = "1s"  # таймаут не может превышать интервал опроса
    cfg["global"]["evaluation_interval"] = "1s"
    cfg.pop("alerting", None)
    cfg["rule_files"] = [str((MONITORING / "alerts.yml").resolve())]
    jobs = [j for j in cfg["scrape_configs"] if j["job_name"] in SERVICE_JOBS]
    assert sorted(j["job_name"] for j in jobs) == sorted(SERVICE_JOBS), "в prometheus.local.yml нет заданий сервисов"
    cfg["scrape_configs"] = jobs
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False))
    return path


def wait_for(what: str, check: Callable[[], tuple[bool, object]], timeout: float = WAIT) -> object:
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


def test_prometheus_scrapes_fleet_counts_uploads_and_loads_alerts(fleet: RunningFleet, tmp_path: Path) -> None:
    from artstore_common.embedded import free_port

    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("не найден бинарник prometheus в PATH: CI ставит Debian-пакет prometheus (см. .ci/run), "
                    "локально — `apt-get install prometheus`")

    port = free_port()
    prom = f"http://127.0.0.1:{port}"
    config = build_config(tmp_path)
    log = (tmp_path / "prometheus.log").open("w+")
    proc = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
    )

    def prom_log() -> str:
        log.flush()
        log.seek(0)
        return log.read()[-3000:]

    def query(expr: str) -> float | None:
        r = httpx.get(f"{prom}/api/v1/query", params={"query": expr}, timeout=5)
        r.raise_for_status()
        result = r.json()["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    try:
        def ready() -> tuple[bool, object]:
            assert proc.poll() is None, f"prometheus завершился с кодом {proc.returncode}:\n{prom_log()}"
            r = httpx.get(f"{prom}/-/ready", timeout=2)
            return r.status_code == 200, r.status_code

        wait_for("готовности Prometheus (/-/ready)", ready)

        # (1) все пять целей опрашиваются и здоровы
        def targets_up() -> tuple[bool, object]:
            active = httpx.get(f"{prom}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
            seen = {t["scrapeUrl"]: (t["labels"]["job"], t["health"], t.get("lastError", "")) for t in active}
            return len(active) == EXPECTED_TARGETS and all(h == "up" for _, h, _ in seen.values()), seen

        targets = wait_for(f"все {EXPECTED_TARGETS} целей в состоянии up", targets_up)
        assert isinstance(targets, dict)
        assert sorted(job for job, _, _ in targets.values()) == sorted(
            ["admin-module", "storage-element", "storage-element", "ingester-module", "query-module"])

        # (2) загрузки через ingester видны в Prometheus
        bytes_expr = 'sum(artstore_upload_bytes_total{job="ingester-module"})'
        uploads_expr = 'sum(artstore_uploads_total{job="ingester-module"})'
        # счётчик без загрузок может ещё не иметь рядов (метки outcome появляются с первой загрузкой) — это 0;
        # счётчик байт без меток существует сразу, ждём его первого опроса
        bytes_before = wait_for("первого значения artstore_upload_bytes_total",
                                lambda: ((v := query(bytes_expr)) is not None, v))
        assert isinstance(bytes_before, float)
        uploads_before = query(uploads_expr) or 0.0

        headers = {"Authorization": f"Bearer {fleet.token()}"}
        for i in range(3):
            r = httpx.post(f"{INGESTER}/api/v1/files/upload", headers=headers, timeout=60,
                           files={"file": (f"prom-{i}.txt", f"метрики prometheus #{i}\n".encode() * 10,
                                           "text/plain")})
            assert r.status_code == 201, r.text

        def uploads_grew() -> tuple[bool, object]:
            uploads, sent = query(uploads_expr) or 0.0, query(bytes_expr) or 0.0
            return uploads - uploads_before >= 3 and sent > bytes_before, {"uploads": uploads, "bytes": sent}

        after = wait_for(f"роста artstore_uploads_total на 3 (было {uploads_before}) и "
                         f"artstore_upload_bytes_total (было {bytes_before})", uploads_grew)
        print(f"artstore_uploads_total: {uploads_before} -> {after}; bytes было {bytes_before}")

        # (3) правила алертов загружены и вычисляются без ошибок
        def rules_loaded() -> tuple[bool, object]:
            groups = httpx.get(f"{prom}/api/v1/rules", timeout=5).json()["data"]["groups"]
            alerts = [r for g in groups for r in g["rules"] if r["type"] == "alerting"]
            evaluated = all(not r.get("lastEvaluation", "0001").startswith("0001") for r in alerts)
            return len(alerts) >= 10 and evaluated, groups

        groups = wait_for("загрузки и первого вычисления правил алертов", rules_loaded)
        assert isinstance(groups, list)
        names = {g["name"] for g in groups}
        assert {"artstore-availability", "artstore-http", "artstore-storage"} <= names, names
        rules = [r for g in groups for r in g["rules"]]
        broken = [(r["name"], r.get("lastError")) for r in rules if r["health"] == "err"]
        assert not broken, f"правила с ошибкой вычисления: {broken}"
        alerts = [r for r in rules if r["type"] == "alerting"]
        assert len(alerts) >= 10, [r["name"] for r in alerts]
        firing = sorted({r["name"] for r in alerts if r["state"] != "inactive"})
        print(f"групп {len(groups)}, алертов {len(alerts)}, не inactive: {firing}")
    finally:
        # останавливаем только свой процесс: SIGTERM, ожидание, при необходимости SIGKILL
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
