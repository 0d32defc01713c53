"""Проверки конфигурации мониторинга (monitoring/): то, что ломается молча.

Опечатка в имени метрики или значении метки не даёт ошибки ни в Prometheus, ни в Grafana — алерт
просто никогда не сработает, а панель останется пустой или покажет не то. Поэтому выражения
сверяются с перечнем метрик и значений меток, который сервисы используют в коде
(artstore_common: METRIC_LABELS и перечисления), а каждый алерт прогоняется по всем значениям
своей метки. Те же выражения над рядами настоящего флота — tests/e2e/test_prometheus.py.

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

from artstore_common import (
    AUTH_GUESSING_OUTCOMES,
    DOWNLOAD_SERVED_OUTCOMES,
    METRIC_HISTOGRAMS,
    METRIC_LABELS,
    NO_STORAGE_ELEMENT,
    SAGA_ACTIVE_STATES,
    CacheResult,
    DownloadOutcome,
    Outcome,
    PlacementResult,
    RepairOutcome,
    UploadOutcome,
    WebhookOutcome,
)

from ..monitoring_rules import (
    ALERTS,
    DASHBOARDS,
    MON,
    PROM,
    Query,
    alert_rules,
    dashboard_queries,
    dashboards,
    enumerated_value_errors,
    panels,
    parse,
    promql_of,
    queries,
    rule_id,
    rule_test_series,
    selected_values,
)

ALERTMANAGER = MON / "alertmanager" / "alertmanager.yml"
DATASOURCES = MON / "grafana" / "provisioning" / "datasources" / "prometheus.yml"

FLEET_JOBS = {"admin-module", "storage-element", "ingester-module", "query-module"}

# Метрики, которые отдают сервисы, — из перечня artstore_common; гистограммы дают _bucket/_sum/_count.
KNOWN_METRICS = ({m for m in METRIC_LABELS if m not in METRIC_HISTOGRAMS} | {"up"}
                 | {h + s for h in METRIC_HISTOGRAMS for s in ("_bucket", "_sum", "_count")})
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
    # реплицированные элементы (issue 15)
    "ReplicationLagHigh",
    "UnderReplicatedFiles",
    "ReplicationRepairsFailing",
}


def metric_names(expr: str) -> set[str]:
    """Имена метрик в выражении PromQL (запрос Grafana label_values — по его ряду)."""
    series = promql_of(expr)
    return {s.metric for s in parse(series).selectors if s.metric} if series else set()


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
    for i, (_, _, expr) in enumerate(dashboard_queries()):
        if promql_of(expr) != expr:  # label_values(...) — не PromQL
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
        "storage-element-r1-a:8013",
        "storage-element-r1-b:8014",
        "storage-element-r1-c:8015",
    ]
    assert local["storage-element"] == ["127.0.0.1:8010", "127.0.0.1:8011"]
    for job, port in (("admin-module", 8000), ("ingester-module", 8020), ("query-module", 8030)):
        assert compose[job] == [f"{job}:{port}"]
        assert local[job] == [f"127.0.0.1:{port}"]
    assert compose["node-exporter"] == ["node-exporter:9100"]


# --- алерты ---------------------------------------------------------------------------------------


def test_required_alerts_present() -> None:
    assert {rule["alert"] for rule in alert_rules()} >= REQUIRED_ALERTS


@pytest.mark.parametrize("rule", alert_rules(), ids=rule_id)
def test_alert_is_complete(rule: dict) -> None:
    assert "for" in rule
    assert rule["labels"]["severity"] in {"critical", "warning"}
    for key in ("summary", "description"):
        assert re.search("[а-яё]", rule["annotations"][key], re.I), f"{key} должно быть по-русски"
    assert not unknown_metrics(rule["expr"]), f"неизвестные метрики: {unknown_metrics(rule['expr'])}"


# --- дашборды Grafana ---------------------------------------------------------------------------


def test_dashboards_exist_with_unique_uids() -> None:
    uids = [d["uid"] for d in dashboards()]
    assert {"artstore-overview", "artstore-storage"} <= set(uids)
    assert len(uids) == len(set(uids))


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_structure(path: Path) -> None:
    d = json.loads(path.read_text(encoding="utf-8"))
    ds_uid = yaml.safe_load(DATASOURCES.read_text(encoding="utf-8"))["datasources"][0]["uid"]
    assert d["schemaVersion"] >= 39
    assert d["uid"] and d["title"]
    found = panels(d)
    ids = [p["id"] for p in found]
    assert len(ids) == len(set(ids)), "id панелей должны быть уникальны"
    for panel in found:
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
    found = dashboard_queries()
    assert found
    bad = [(uid, where, unknown_metrics(expr)) for uid, where, expr in found if unknown_metrics(expr)]
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


def test_selector_parsing() -> None:
    parsed = parse(
        'sum by (method) (increase(artstore_auth_attempts_total{outcome=~"a|b", method!="x"}[5m])) > 20 '
        "and on (job) max without (instance) ({__name__=\"up\", job=~'admin.*'} offset 5m) "
        'or histogram_quantile(0.9, sum by (le) (rate(x_bucket{route!~"/metrics|/health/.*"}[$__rate_interval])))'
    )
    assert [(s.metric, [(m.label, m.op, m.value) for m in s.matchers]) for s in parsed.selectors] == [
        ("artstore_auth_attempts_total", [("outcome", "=~", "a|b"), ("method", "!=", "x")]),
        ("up", [("job", "=~", "admin.*")]),
        ("x_bucket", [("route", "!~", "/metrics|/health/.*")]),
    ]
    assert parsed.grouping == ["method", "job", "instance", "le"]
    assert parse('m{l="a\\"b"}').selectors[0].matchers[0].value == 'a"b'


# --- значения меток: только те, что отдаёт код ----------------------------------------------------


@pytest.mark.parametrize("query", list(queries()), ids=lambda q: q.where)
def test_label_matchers_name_values_the_code_emits(query: Query) -> None:
    """Каждый матчер алерта и запроса дашборда называет значение из перечня artstore_common, каждая
    группировка и подпись — метку, которая у метрики есть."""
    assert not enumerated_value_errors(query)


@pytest.mark.parametrize(("test", "series"), rule_test_series(), ids=lambda v: str(v)[:60])
def test_rule_unit_test_series_use_code_values(test: str, series: str) -> None:
    """Входные ряды alerts.test.yml — с настоящими значениями: на выдуманных тест зелёный, алерт глухой."""
    assert not enumerated_value_errors(Query(f"alerts.test.yml «{test}»", series))


def test_matcher_check_catches_invented_values() -> None:
    # Выражения, какими они были до сверки с кодом: проверка обязана их отвергнуть.
    for expr in (
        'max by (state) (artstore_saga_transactions{state!~"completed|compensated|failed"}) > 0',
        'sum(increase(artstore_placement_decisions_total{result="none_available"}[5m])) > 0',
        'sum by (method) (increase(artstore_auth_attempts_total{outcome=~"failure|throttled"}[5m])) > 20',
        'sum by (outcome) (rate(artstore_downloads_total{outcome!="success"}[5m]))',
        "max by (job, target) (artstore_circuit_breaker_open) == 1",
    ):
        assert enumerated_value_errors(Query("старое", expr)), expr


def _rule(alert: str, source: str | None = None) -> dict:
    found = [r for r in alert_rules() if r["alert"] == alert and r.get("labels", {}).get("source") == source]
    assert len(found) == 1, (alert, source, found)
    return found[0]


def _panel_expr(uid: str, title: str, ref: str) -> str:
    dashboard = next(d for d in dashboards() if d["uid"] == uid)
    panel = next(p for p in panels(dashboard) if p.get("title") == title)
    return str(next(t["expr"] for t in panel["targets"] if t["refId"] == ref))


# Что алерт обязан отбирать из перечня значений: (алерт, source, метрика, метка, значения).
ALERT_INTENT = [
    ("SagaStuck", None, "artstore_saga_transactions", "state", frozenset(SAGA_ACTIVE_STATES)),
    ("NoWritableStorageElement", None, "artstore_placement_decisions_total", "result",
     frozenset({PlacementResult.NO_CANDIDATE})),
    ("AuthFailuresSpike", "login", "artstore_auth_attempts_total", "outcome", AUTH_GUESSING_OUTCOMES),
    ("WebhookDeliveryFailures", None, "artstore_webhook_deliveries_total", "outcome",
     frozenset({WebhookOutcome.FAILED})),
    ("ReplicationRepairsFailing", None, "artstore_replication_repairs_total", "outcome",
     frozenset({RepairOutcome.FAILED})),
    ("ReplicationConflict", None, "artstore_replication_repairs_total", "outcome",
     frozenset({RepairOutcome.CONFLICT})),
]
PANEL_INTENT = [
    ("artstore-storage", "Неуспешные загрузки и скачивания", "A", "artstore_uploads_total", "outcome",
     frozenset(UploadOutcome) - {UploadOutcome.SUCCESS}),
    ("artstore-storage", "Неуспешные загрузки и скачивания", "B", "artstore_downloads_total", "outcome",
     frozenset(DownloadOutcome) - set(DOWNLOAD_SERVED_OUTCOMES)),
]


@pytest.mark.parametrize(("alert", "source", "metric", "label", "expected"), ALERT_INTENT,
                         ids=lambda v: v if isinstance(v, str) else "")
def test_alert_selects_intended_values(alert: str, source: str | None, metric: str, label: str,
                                       expected: frozenset[str]) -> None:
    assert selected_values(_rule(alert, source)["expr"], metric, label) == expected


@pytest.mark.parametrize(("uid", "title", "ref", "metric", "label", "expected"), PANEL_INTENT,
                         ids=lambda v: v if isinstance(v, str) else "")
def test_panel_selects_intended_values(uid: str, title: str, ref: str, metric: str, label: str,
                                       expected: frozenset[str]) -> None:
    assert selected_values(_panel_expr(uid, title, ref), metric, label) == expected


def _series(metric: str, label: str, value: str) -> str:
    """Ряд метрики с меткой label=value; прочие метки — допустимыми значениями из перечня."""
    labels = {"job": "test", "instance": "test:1"}
    for name, allowed in METRIC_LABELS[metric].items():
        if name == label:
            labels[name] = value
        elif name == "storage_element":
            labels[name] = NO_STORAGE_ELEMENT if value == PlacementResult.NO_CANDIDATE else "se-01"
        else:
            labels[name] = sorted(allowed)[0] if allowed else "x"
    inner = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return f"{metric}{{{inner}}}"


def test_alerts_fire_for_exactly_intended_values(tmp_path: Path) -> None:
    """Тест правил, порождённый из перечня: каждый алерт из ALERT_INTENT прогоняется по КАЖДОМУ
    значению своей метки. Новое значение в коде (скажем, ещё одно конечное состояние саги) попадёт
    сюда само, и алерт, который на него не рассчитан, уронит тест. ``for`` здесь не при чём — его
    проверяют ручные случаи alerts.test.yml; здесь — только условие выражения."""
    tests = []
    for alert, source, metric, label, expected in ALERT_INTENT:
        expr = _rule(alert, source)["expr"]
        counter = metric.endswith("_total")
        for value in sorted(METRIC_LABELS[metric][label] or ()):
            tests.append({
                "name": f"{alert} {label}={value}",
                "interval": "1m",
                "input_series": [{"series": _series(metric, label, value),
                                  "values": "0+10x30" if counter else "2x30"}],
                "promql_expr_test": [{
                    "expr": f"count({expr}) or vector(0)", "eval_time": "20m",
                    "exp_samples": [{"labels": "{}", "value": 1 if value in expected else 0}],
                }],
            })
    assert len(tests) > len(ALERT_INTENT)
    path = tmp_path / "generated.test.yml"
    path.write_text(yaml.safe_dump({"rule_files": [str(ALERTS)], "evaluation_interval": "1m", "tests": tests},
                                   allow_unicode=True), encoding="utf-8")
    _assert_ok(_run(_tool("promtool", "prometheus"), "test", "rules", path))


def test_token_failure_rule_counts_only_failures() -> None:
    # Доля отклонённых токенов: в числителе только failure, знаменатель — все проверки.
    parsed = parse(_rule("AuthFailuresSpike", "token")["expr"])
    outcomes = {tuple(m.value for m in s.matchers if m.label == "outcome") for s in parsed.selectors}
    assert outcomes == {(Outcome.FAILURE,), ()}


def test_cache_hit_panel_counts_hits() -> None:
    expr = _panel_expr("artstore-storage", "Доля попаданий в кэш", "A")
    numerator = parse(expr).selectors[0]
    assert [(m.label, m.value) for m in numerator.matchers] == [("result", CacheResult.HIT)]
