"""Проверки конфигурации мониторинга (monitoring/): то, что ломается молча.

Опечатка в имени метрики не даёт ошибки ни в Prometheus, ни в Grafana — алерт просто никогда не
сработает, а панель останется пустой. Поэтому выражения сверяются со списком метрик, которые
сервисы действительно отдают (ARCHITECTURE.md §6 и артефакт задачи мониторинга).

promtool и amtool — из пакетов Debian `prometheus` и `prometheus-alertmanager`; CI их ставит.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MON = ROOT / "monitoring"
PROM = MON / "prometheus"
ALERTS = PROM / "alerts.yml"
ALERTMANAGER = MON / "alertmanager" / "alertmanager.yml"
DASHBOARDS = sorted((MON / "grafana" / "dashboards").glob("*.json"))
DATASOURCES = MON / "grafana" / "provisioning" / "datasources" / "prometheus.yml"

FLEET_JOBS = {"admin-module", "storage-element", "ingester-module", "query-module"}

# Метрики, которые отдают сервисы. Гистограммы дополнительно дают _bucket/_sum/_count.
_HISTOGRAMS = {
    "http_request_duration_seconds",
    "http_request_size_bytes",
    "http_response_size_bytes",
    "artstore_upload_duration_seconds",
    "artstore_search_duration_seconds",
}
_PLAIN = {
    "http_requests_total",
    "http_requests_in_progress",
    "artstore_uploads_total",
    "artstore_upload_bytes_total",
    "artstore_downloads_total",
    "artstore_download_bytes_total",
    "artstore_placement_decisions_total",
    "artstore_cache_requests_total",
    "artstore_storage_capacity_bytes",
    "artstore_storage_used_bytes",
    "artstore_storage_files",
    "artstore_storage_disk_free_bytes",
    "artstore_auth_attempts_total",
    "artstore_token_verifications_total",
    "artstore_tokens_issued_total",
    "artstore_jwt_signing_key_age_seconds",
    "artstore_discovery_fallback_active",
    "artstore_wal_recoveries_total",
    "artstore_scrub_corruptions_total",
    "artstore_scrub_runs_total",
    "artstore_webhook_deliveries_total",
    "artstore_saga_transactions",
    "artstore_circuit_breaker_open",
    "artstore_retention_expired_total",
    "up",
}
KNOWN_METRICS = _PLAIN | {h + s for h in _HISTOGRAMS for s in ("_bucket", "_sum", "_count")}
# Стандартные: process_* из реестра каждого сервиса, node_* из node-exporter.
KNOWN_PREFIXES = ("process_", "node_")

# Алерты, которые обещаны в задаче мониторинга; остальные — дополнительные.
REQUIRED_ALERTS = {
    "ServiceDown",
    "HighErrorRate",
    "HighLatencyP95",
    "StorageElementNearlyFull",
    "LowDiskSpace",
    "DiscoveryFallbackActive",
    "ScrubCorruptionDetected",
    "WebhookDeliveryFailures",
    "JwtSigningKeyTooOld",
    "CircuitBreakerOpen",
    "SagaStuck",
    "AuthFailuresSpike",
}

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
# Идентификатор, за которым не следует "(" (иначе это функция), и не хвост числа/переменной.
_IDENT = re.compile(r"(?<![\w:.$])([a-zA-Z_:][\w:]*)\b(?!\s*\()")
_KEYWORDS = {
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "inf",
    "nan",
}
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(?P<series>.+),\s*)?(?P<label>\w+)\s*\)\s*$", re.S)


def metric_names(expr: str) -> set[str]:
    """Имена метрик в выражении PromQL: без строк, матчеров, диапазонов и группировок остаются
    только селекторы, функции и ключевые слова; функции отсекаются по следующей скобке."""
    m = _LABEL_VALUES.match(expr)
    if m:
        return metric_names(m["series"]) if m["series"] else set()
    text = _STRINGS.sub('""', expr)
    text = _MATCHERS.sub("", text)
    text = _RANGES.sub("", text)
    text = _GROUPING.sub("", text)
    return {n for n in _IDENT.findall(text) if n.lower() not in _KEYWORDS}


def unknown_metrics(expr: str) -> set[str]:
    return {n for n in metric_names(expr) if n not in KNOWN_METRICS and not n.startswith(KNOWN_PREFIXES)}


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} не найден в PATH: установите Debian-пакет `{package}` (apt-get install -y {package})")
    return path


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120, check=False)


def _assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"{' '.join(result.args)}\n{result.stdout}\n{result.stderr}"


def _alert_rules() -> list[dict]:
    groups = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def _dashboards() -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in DASHBOARDS]


def _panels(dashboard: dict) -> list[dict]:
    out = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))  # свёрнутые строки хранят панели внутри себя
    return out


def _dashboard_queries() -> list[tuple[str, str, str]]:
    """(дашборд, где, выражение) для каждого запроса панелей и переменных."""
    out = []
    for d in _dashboards():
        for panel in _panels(d):
            for target in panel.get("targets", []):
                out.append((d["uid"], f"панель «{panel['title']}» {target['refId']}", target["expr"]))
        for var in d["templating"]["list"]:
            if var["type"] == "query":
                query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
                out.append((d["uid"], f"переменная {var['name']}", query))
    return out


def _scrape_jobs(config: Path) -> dict[str, list[str]]:
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    return {
        job["job_name"]: [t for sc in job.get("static_configs", []) for t in sc["targets"]]
        for job in data["scrape_configs"]
    }


# --- promtool / amtool --------------------------------------------------------------------------


@pytest.mark.parametrize("config", ["prometheus.yml", "prometheus.local.yml"])
def test_prometheus_config_is_valid(config: str) -> None:
    _assert_ok(_run(_tool("promtool", "prometheus"), "check", "config", PROM / config))


def test_alert_rules_are_valid() -> None:
    _assert_ok(_run(_tool("promtool", "prometheus"), "check", "rules", ALERTS))


def test_alert_rules_unit_tests_pass() -> None:
    _assert_ok(_run(_tool("promtool", "prometheus"), "test", "rules", PROM / "alerts.test.yml"))


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    # promtool не умеет проверять отдельное выражение, но проверяет правила: каждый запрос
    # дашборда становится правилом записи. Переменные Grafana подменяются допустимыми значениями.
    rules = []
    for i, (_, _, expr) in enumerate(_dashboard_queries()):
        if _LABEL_VALUES.match(expr):
            continue
        expr = expr.replace("$__rate_interval", "1m").replace("$__range", "1h").replace("$__interval", "1m")
        expr = re.sub(r"\$\{?\w+\}?", ".*", expr)
        rules.append({"record": f"dashboard:query_{i}", "expr": expr})
    assert rules
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}), encoding="utf-8")
    _assert_ok(_run(_tool("promtool", "prometheus"), "check", "rules", path))


def test_alertmanager_config_is_valid() -> None:
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.skip("amtool не найден: он в Debian-пакете prometheus-alertmanager")
    _assert_ok(_run(amtool, "check-config", ALERTMANAGER))
    for severity, receiver in (("critical", "artstore-critical"), ("warning", "artstore-warning")):
        result = _run(
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={ALERTMANAGER}",
            f"severity={severity}",
            "alertname=Test",
        )
        _assert_ok(result)
        assert result.stdout.strip() == receiver


# --- prometheus.yml и prometheus.local.yml -------------------------------------------------------


def test_local_config_has_same_jobs_on_loopback() -> None:
    compose, local = _scrape_jobs(PROM / "prometheus.yml"), _scrape_jobs(PROM / "prometheus.local.yml")
    assert set(compose) >= FLEET_JOBS
    # Алерты и дашборды опираются на job: имена должны совпадать, кроме node-exporter.
    assert set(local) == set(compose) - {"node-exporter"}
    assert all(t.startswith("127.0.0.1:") for targets in local.values() for t in targets)
    assert compose["storage-element"] == [
        "storage-element-01:8010",
        "storage-element-02:8011",
        "storage-element-03:8012",
    ]
    assert local["storage-element"] == ["127.0.0.1:8010", "127.0.0.1:8011"]
    for job, port in (("admin-module", 8000), ("ingester-module", 8020), ("query-module", 8030)):
        assert compose[job] == [f"{job}:{port}"]
        assert local[job] == [f"127.0.0.1:{port}"]
    assert compose["node-exporter"] == ["node-exporter:9100"]


# --- алерты ---------------------------------------------------------------------------------------


def test_required_alerts_present() -> None:
    assert {rule["alert"] for rule in _alert_rules()} >= REQUIRED_ALERTS


@pytest.mark.parametrize("rule", _alert_rules(), ids=lambda r: f"{r['alert']}-{r['labels']['severity']}")
def test_alert_is_complete(rule: dict) -> None:
    assert "for" in rule
    assert rule["labels"]["severity"] in {"critical", "warning"}
    for key in ("summary", "description"):
        assert re.search("[а-яё]", rule["annotations"][key], re.I), f"{key} должно быть по-русски"
    assert not unknown_metrics(rule["expr"]), f"неизвестные метрики: {unknown_metrics(rule['expr'])}"


# --- дашборды Grafana ---------------------------------------------------------------------------


def test_dashboards_exist_with_unique_uids() -> None:
    uids = [d["uid"] for d in _dashboards()]
    assert {"artstore-overview", "artstore-storage"} <= set(uids)
    assert len(uids) == len(set(uids))


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_structure(path: Path) -> None:
    d = json.loads(path.read_text(encoding="utf-8"))
    ds_uid = yaml.safe_load(DATASOURCES.read_text(encoding="utf-8"))["datasources"][0]["uid"]
    assert d["schemaVersion"] >= 39
    assert d["uid"] and d["title"]
    panels = _panels(d)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "id панелей должны быть уникальны"
    for panel in panels:
        assert {"h", "w", "x", "y"} <= panel["gridPos"].keys()
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": ds_uid}, panel["title"]
        assert panel["targets"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == ds_uid, panel["title"]
    for var in d["templating"]["list"]:
        assert var["datasource"]["uid"] == ds_uid


def test_dashboard_queries_use_known_metrics() -> None:
    queries = _dashboard_queries()
    assert queries
    bad = [(uid, where, unknown_metrics(expr)) for uid, where, expr in queries if unknown_metrics(expr)]
    assert not bad


def test_metric_name_extraction() -> None:
    # Проверка самого разборщика: если он начнёт возвращать пустоту, проверки выше станут пустыми.
    expr = (
        "histogram_quantile(0.95, sum by (service, le) (rate(http_request_duration_seconds_bucket"
        '{route!~"/metrics|.*upload.*", service=~"$service"}[$__rate_interval]))) > 0.5 '
        "and on (service) sum without (instance) (increase(http_requests_total[5m] offset 1h)) > 1e3 "
        "unless ignoring(job) artstore_storage_used_bytes / (artstore_storage_capacity_bytes > 0)"
    )
    assert metric_names(expr) == {
        "http_request_duration_seconds_bucket",
        "http_requests_total",
        "artstore_storage_used_bytes",
        "artstore_storage_capacity_bytes",
    }
    assert metric_names("label_values(http_requests_total, service)") == {"http_requests_total"}
    assert unknown_metrics("rate(artstore_uploadz_total[5m]) + process_cpu_seconds_total") == {"artstore_uploadz_total"}
