"""Настоящий Prometheus поверх настоящего флота: конфиг из monitoring/prometheus/prometheus.local.yml
опрашивает все сервисы ArtStore, видит рост бизнес-метрик после загрузок и загружает правила алертов
без ошибок; алерты и панели дашбордов вычисляются над рядами, которые флот действительно отдал.

Юнит-тесты правил (alerts.test.yml) проверяют алерты на рядах, написанных руками, — и прошли бы на
выдуманных значениях меток. Здесь ряды сняты с работающих сервисов после настоящих событий
(законченная сага, неудачные входы, загрузка, которой некуда лечь, оборванное скачивание)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from artstore_common import (
    DOWNLOAD_SERVED_OUTCOMES,
    REPLICATION_METRICS,
    AuthMethod,
    DownloadOutcome,
    SagaState,
)

from ..monitoring_rules import alert_rules, dashboards, metric_labels, panels, parse, queries, rule_id
from .conftest import PORTS, ROOT, RunningFleet, wait_for

pytestmark = pytest.mark.e2e

ADMIN = "http://127.0.0.1:8000"
INGESTER = "http://127.0.0.1:8020"
QUERY = "http://127.0.0.1:8030"
MONITORING = ROOT / "monitoring" / "prometheus"
# только задания сервисов ArtStore: сам Prometheus на :9090 и Alertmanager на :9093 в тесте не запущены
SERVICE_JOBS = ("admin-module", "storage-element", "ingester-module", "query-module")
EXPECTED_TARGETS = 5  # admin, два элемента хранения, ingester, query


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


@dataclass
class Prometheus:
    url: str
    proc: subprocess.Popen[bytes]
    log: IO[str]

    def log_tail(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-3000:]

    def query(self, expr: str) -> list[dict[str, Any]]:
        r = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        assert r.status_code == 200, f"{expr}: {r.text}"
        result: list[dict[str, Any]] = r.json()["data"]["result"]
        return result

    def value(self, expr: str) -> float | None:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None


@pytest.fixture(scope="module")
def prometheus(fleet: RunningFleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    from artstore_common.embedded import free_port

    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("не найден бинарник prometheus в PATH: CI ставит Debian-пакет prometheus (см. .ci/run), "
                    "локально — `apt-get install prometheus`")
    tmp = tmp_path_factory.mktemp("prometheus")
    port = free_port()
    config = build_config(tmp)
    log = (tmp / "prometheus.log").open("w+")
    proc = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT, cwd=tmp,
    )
    prom = Prometheus(f"http://127.0.0.1:{port}", proc, log)
    try:
        def ready() -> tuple[bool, object]:
            assert proc.poll() is None, f"prometheus завершился с кодом {proc.returncode}:\n{prom.log_tail()}"
            r = httpx.get(f"{prom.url}/-/ready", timeout=2)
            return r.status_code == 200, r.status_code

        wait_for("готовности Prometheus (/-/ready)", ready)
        yield prom
    finally:
        # останавливаем только свой процесс: SIGTERM, ожидание, при необходимости SIGKILL
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def test_prometheus_scrapes_fleet_counts_uploads_and_loads_alerts(fleet: RunningFleet, prometheus: Prometheus) -> None:
    prom = prometheus
    query = prom.value

    # (1) все пять целей опрашиваются и здоровы
    def targets_up() -> tuple[bool, object]:
        active = httpx.get(f"{prom.url}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
        seen = {t["scrapeUrl"]: (t["labels"]["job"], t["health"], t.get("lastError", "")) for t in active}
        return len(active) == EXPECTED_TARGETS and all(h == "up" for _, h, _ in seen.values()), seen

    targets = wait_for(f"все {EXPECTED_TARGETS} целей в состоянии up", targets_up)
    assert isinstance(targets, dict)
    assert sorted(job for job, _, _ in targets.values()) == sorted(
        ["admin-module", "storage-element", "storage-element", "ingester-module", "query-module"])

    # (2) загрузки через ingester видны в Prometheus
    bytes_expr = 'sum(artstore_upload_bytes_total{job="ingester-module"})'
    uploads_expr = 'sum(artstore_uploads_total{job="ingester-module"})'
    # ряды исходов заведены нулём с запуска, счётчик байт без меток — тоже: ждём первого опроса
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
        groups = httpx.get(f"{prom.url}/api/v1/rules", timeout=5).json()["data"]["groups"]
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


# --- алерты над рядами настоящего флота -----------------------------------------------------------

BREAKER = "artstore_circuit_breaker_open"
# Алерты, чьё условие после сценария ниже обязано выполниться / не выполниться; остальные
# (латентность, доля 5xx, место на диске машины) зависят от машины и здесь не утверждаются.
MUST_FIRE = {"NoWritableStorageElement-critical", "AuthFailuresSpike-warning-login"}
MUST_STAY_SILENT = {
    "SagaStuck-warning",  # сага закончена (done) — это не зависшая сага
    "ServiceDown-critical", "CircuitBreakerOpen-warning", "DiscoveryFallbackActive-warning",
    "StorageElementNearlyFull-warning", "ScrubCorruptionDetected-critical", "WebhookDeliveryFailures-warning",
    "JwtSigningKeyTooOld-warning", "AuthFailuresSpike-warning-token", "MonitoringTargetDown-warning",
    "ReplicationLagHigh-warning", "ReplicationLagHigh-critical", "UnderReplicatedFiles-warning",
    "ReplicationRepairsFailing-warning", "ReplicationConflict-critical",
}
BRUTE_FORCE_ATTEMPTS = 25  # порог алерта — больше 20 за 5 минут по способу входа


def _scrape(port: int) -> list[Any]:
    r = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    r.raise_for_status()
    return list(text_string_to_metric_families(r.text))


def _scraped_label_errors(families: list[Any], service: str) -> list[str]:
    """Ряды /metrics сервиса против перечня: имя, набор меток, значения перечисляемых меток."""
    errors = []
    for family in families:
        for sample in family.samples:
            name, labels = sample.name, sample.labels
            if not name.startswith(("artstore_", "http_")) or name.endswith("_created") or name == BREAKER:
                continue
            expected = metric_labels(name)
            if expected is None:
                errors.append(f"{service}: {name} нет в METRIC_LABELS")
            elif set(labels) != set(expected):
                errors.append(f"{service}: {name} с метками {sorted(labels)}, в перечне {sorted(expected)}")
            else:
                errors.extend(f"{service}: {name}{{{k}={v!r}}} — значения нет в перечне"
                              for k, v in labels.items() if (allowed := expected[k]) is not None and v not in allowed)
    return errors


def _drive_conditions(fleet: RunningFleet) -> dict[str, str]:
    """События, ради которых существуют алерты и панели; → id файлов."""
    headers = {"Authorization": f"Bearer {fleet.token()}"}

    def upload(name: str, body: bytes) -> str:
        r = httpx.post(f"{INGESTER}/api/v1/files/upload", headers=headers, timeout=120,
                       files={"file": (name, body, "application/octet-stream")})
        assert r.status_code == 201, r.text
        return str(r.json()["file_id"])

    small = upload("сага.txt", "законченная сага\n".encode() * 20)
    big = upload("большой.bin", os.urandom(32 * 1024 * 1024))

    # законченная сага: finalize переносит файл на rw и доходит до done
    r = httpx.post(f"{INGESTER}/api/v1/finalize/{small}", params={"wait": "true"}, headers=headers, timeout=150)
    assert r.status_code == 200 and r.json()["state"] == SagaState.DONE, r.text

    # скачивания: целиком, диапазон, несуществующий файл, клиент ушёл посреди тела
    assert httpx.get(f"{QUERY}/api/v1/files/{small}/download", headers=headers, timeout=30).status_code == 200
    r = httpx.get(f"{QUERY}/api/v1/files/{small}/download", headers={**headers, "Range": "bytes=0-3"}, timeout=30)
    assert r.status_code == 206
    assert httpx.get(f"{QUERY}/api/v1/files/no-such-file-0/download", headers=headers,
                     timeout=30).status_code == 404
    with httpx.stream("GET", f"{QUERY}/api/v1/files/{big}/download", headers=headers, timeout=30) as r:
        assert r.status_code == 200
        next(r.iter_raw(65536))
    assert httpx.post(f"{QUERY}/api/v1/search", json={"query": "сага"}, headers=headers,
                      timeout=30).status_code == 200

    # подбор: секрет несуществующего клиента (чужой client_id — ограничитель не тронет сервисы флота)
    # и пароль выдуманного пользователя admin-ui; после порога — отказы ограничителя
    for _ in range(BRUTE_FORCE_ATTEMPTS):
        r = httpx.post(f"{ADMIN}/api/v1/auth/token", timeout=30,
                       json={"client_id": "prom-brute-force", "client_secret": "угадай"})
        assert r.status_code in (401, 429), r.text
        r = httpx.post(f"{ADMIN}/api/v1/admin-auth/login", timeout=30,
                       json={"username": "prom-ghost", "password": "угадай-пароль"})
        assert r.status_code in (401, 429), r.text

    # загрузке некуда лечь: Upload-Length в допустимых для tus пределах, но больше места edit-элемента
    r = httpx.post(f"{INGESTER}/api/v1/uploads", timeout=30, headers={
        **headers, "Tus-Resumable": "1.0.0", "Upload-Length": str(10 * 1024**3)})
    assert r.status_code == 507, r.text
    return {"small": small, "big": big}


def test_alerts_and_panels_over_series_scraped_from_fleet(fleet: RunningFleet, prometheus: Prometheus) -> None:
    prom = prometheus
    # ряды алертов заведены нулём при старте сервисов: Prometheus должен увидеть ноль до событий,
    # иначе increase() первого события не заметит — ровно как в эксплуатации
    zero = 'artstore_placement_decisions_total{result="no_candidate"}'
    wait_for(f"нулевого ряда {zero} в Prometheus", lambda: (prom.value(f"sum({zero})") == 0, prom.query(zero)))

    # (1) что сервисы отдают на /metrics — ровно перечень artstore_common
    errors = [e for name, port in PORTS.items() for e in _scraped_label_errors(_scrape(port), name)]
    assert not errors, "\n".join(errors)

    _drive_conditions(fleet)
    expected_seen = {
        'max(artstore_saga_transactions{state="done"})': 1,
        'sum(artstore_placement_decisions_total{result="no_candidate"})': 1,
        f'sum(artstore_auth_attempts_total{{method="{AuthMethod.JSON}"}})': BRUTE_FORCE_ATTEMPTS,
        f'sum(artstore_auth_attempts_total{{method="{AuthMethod.PASSWORD}"}})': BRUTE_FORCE_ATTEMPTS,
        **{f'sum(artstore_downloads_total{{outcome="{o}"}})': 1 for o in (
            DownloadOutcome.OK, DownloadOutcome.RANGE, DownloadOutcome.NOT_FOUND, DownloadOutcome.ABORTED)},
    }

    def scraped() -> tuple[bool, object]:
        values = {expr: prom.value(expr) or 0.0 for expr in expected_seen}
        return all(values[e] >= n for e, n in expected_seen.items()), values

    wait_for("событий сценария в рядах Prometheus", scraped)

    # (2) каждый алерт — над настоящими рядами (условие выражения; for здесь не ждём)
    state = {rule_id(rule): prom.query(rule["expr"]) for rule in alert_rules()}
    print("условие выполнено:", {k: [r["metric"] for r in v] for k, v in state.items() if v})
    assert state.keys() >= MUST_FIRE | MUST_STAY_SILENT, sorted(state)
    wrong = {k: "не сработал" for k in sorted(MUST_FIRE) if not state[k]}
    wrong |= {k: f"сработал зря: {[r['metric'] for r in state[k]]}" for k in sorted(MUST_STAY_SILENT) if state[k]}
    login = {r["metric"].get("method") for r in state["AuthFailuresSpike-warning-login"]}
    if not {AuthMethod.JSON, AuthMethod.PASSWORD} <= login:
        wrong["AuthFailuresSpike-warning-login"] = f"подбор виден не по всем способам входа: {sorted(login)}"
    # законченная сага в рядах есть (проверено выше), и SagaStuck всё равно молчит

    # (3) панель неуспешных скачиваний: обрыв и 404 — да, состоявшиеся отдачи — нет
    storage = next(d for d in dashboards() if d["uid"] == "artstore-storage")
    failed = next(p for p in panels(storage) if p["title"] == "Неуспешные загрузки и скачивания")
    expr = next(t["expr"] for t in failed["targets"] if t["refId"] == "B").replace("$__rate_interval", "5m")
    shown = {r["metric"]["outcome"]: float(r["value"][1]) for r in prom.query(expr)}
    if set(shown) & set(DOWNLOAD_SERVED_OUTCOMES) or not (
            {o for o, v in shown.items() if v > 0} >= {DownloadOutcome.ABORTED, DownloadOutcome.NOT_FOUND}):
        wrong["панель «Неуспешные загрузки и скачивания» B"] = f"показывает {shown}"

    # (4) каждый селектор алертов и дашбордов, сведённый к матчерам по перечисляемым меткам,
    # находит ряды, которые флот отдал: выдуманное значение не нашло бы ничего. Рядов репликации у флота
    # без реплицированного элемента нет — их селекторы сверяет tests/e2e/test_fleet_replicated.py
    for q in queries():
        for sel in _enumerated_selectors(q.expr, skip=REPLICATION_METRICS):
            if not prom.query(f"count({sel})"):
                wrong[f"{q.where}: {sel}"] = "селектор не находит ни одного ряда флота"
    assert not wrong, "\n".join(f"{k}: {v}" for k, v in wrong.items())


def _enumerated_selectors(expr: str, skip: frozenset[str] = frozenset()) -> list[str]:
    out = []
    for sel in parse(expr).selectors:
        labels = metric_labels(sel.metric) if sel.metric else None
        if labels is None or sel.metric in skip:
            continue  # up, process_*, node_* — не из нашего перечня
        keep = [m for m in sel.matchers if labels.get(m.label) is not None and not m.has_variable]
        out.append(sel.render(keep=keep))
    return out


def test_breaker_is_labelled_by_element_id(fleet: RunningFleet, prometheus: Prometheus) -> None:
    seen: dict[str, set[tuple[tuple[str, str], ...]]] = {}
    for name in ("ingester-module", "query-module"):
        for family in _scrape(PORTS[name]):
            for sample in family.samples:
                if sample.name == BREAKER:
                    seen.setdefault(name, set()).add(tuple(sorted(sample.labels.items())))
    assert seen.keys() == {"ingester-module", "query-module"}, seen
    for name, series in seen.items():
        assert series <= {(("storage_element", e),) for e in ("se-01", "se-02")}, (name, series)
