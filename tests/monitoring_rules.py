"""Правила алертов и дашборды monitoring/ как данные для тестов: выражения PromQL, их селекторы и матчеры.

Разбор PromQL здесь — ровно столько, сколько нужно проверкам: селекторы ``имя{метка оп "значение"}``,
группировки ``by (...)``/``without (...)`` и метки в шаблонах подписей. Пакета-парсера PromQL для
Python нет ни в Debian, ни среди проверенных зависимостей, а ``promtool`` из Debian (2.42) не отдаёт
разобранное выражение. Правильность самого разбора проверяет tests/deploy/test_monitoring.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from artstore_common import METRIC_HISTOGRAMS, METRIC_LABELS

ROOT = Path(__file__).resolve().parents[1]
MON = ROOT / "monitoring"
PROM = MON / "prometheus"
ALERTS = PROM / "alerts.yml"
ALERTS_TEST = PROM / "alerts.test.yml"
DASHBOARDS = sorted((MON / "grafana" / "dashboards").glob("*.json"))

# Метки, которые добавляет сам Prometheus (цель опроса), и служебные метки PromQL.
TARGET_LABELS = frozenset({"job", "instance"})
_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
_GROUPING = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
# агрегации пишутся и как «sum by (x) (...)»: за именем не всегда сразу скобка
_AGGREGATIONS = frozenset({"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
                           "bottomk", "topk", "quantile"})
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2"}) | _GROUPING | _AGGREGATIONS

_TOKEN = re.compile(r"""
    (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<var>\$\{[^}]*\}|\$\w+)
  | (?P<number>(?:0x[0-9a-fA-F]+|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)(?:ms|[smhdwy])*)
  | (?P<ident>[a-zA-Z_:][\w:]*)
  | (?P<open_brace>\{) | (?P<close_brace>\}) | (?P<open_paren>\() | (?P<close_paren>\))
  | (?P<range>\[[^\]]*\])
  | (?P<op>=~|!~|!=|==|<=|>=|[=<>+\-*/%^,@])
  | (?P<space>\s+)
""", re.X)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "a": "\a", "b": "\b", "f": "\f",
            "v": "\v"}


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str  # = != =~ !~
    value: str

    def matches(self, candidate: str) -> bool:
        """Как Prometheus: регулярные выражения привязаны к началу и концу значения."""
        if self.op == "=":
            return candidate == self.value
        if self.op == "!=":
            return candidate != self.value
        hit = re.fullmatch(self.value, candidate) is not None
        return hit if self.op == "=~" else not hit

    @property
    def has_variable(self) -> bool:
        return "$" in self.value


@dataclass
class Selector:
    metric: str | None
    matchers: list[Matcher] = field(default_factory=list)

    def render(self, *, keep: Iterable[Matcher] | None = None) -> str:
        chosen = self.matchers if keep is None else list(keep)
        inner = ", ".join(f"{m.label}{m.op}{json.dumps(m.value, ensure_ascii=False)}" for m in chosen)
        return f"{self.metric or ''}{{{inner}}}" if inner or not self.metric else self.metric


@dataclass
class Parsed:
    selectors: list[Selector]
    grouping: list[str]  # метки из by(...)/without(...)/on(...)/ignoring(...)/group_*(...)


def _unquote(token: str) -> str:
    if token[0] == "`":
        return token[1:-1]
    body, out, i = token[1:-1], [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _tokens(expr: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if m is None:
            raise ValueError(f"не разобрать PromQL с позиции {pos}: {expr[pos:pos + 40]!r}")
        kind = m.lastgroup
        assert kind is not None
        if kind != "space":
            out.append((kind, m.group()))
        pos = m.end()
    return out


def _matchers(tokens: list[tuple[str, str]], i: int) -> tuple[list[Matcher], int]:
    """Матчеры от открывающей скобки tokens[i] до закрывающей; → (матчеры, индекс после скобки)."""
    found: list[Matcher] = []
    i += 1
    while tokens[i][0] != "close_brace":
        if tokens[i][1] == ",":
            i += 1
            continue
        (kind, label), (_, op), (vkind, value) = tokens[i], tokens[i + 1], tokens[i + 2]
        if kind != "ident" or op not in ("=", "!=", "=~", "!~") or vkind != "string":
            raise ValueError(f"не матчер метки: {label} {op} {value}")
        found.append(Matcher(label, op, _unquote(value)))
        i += 3
    return found, i + 1


def parse(expr: str) -> Parsed:
    """Селекторы и метки группировок выражения PromQL (переменные Grafana допускаются)."""
    tokens = _tokens(expr)
    selectors: list[Selector] = []
    grouping: list[str] = []
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ("", "")
        if kind == "ident" and text in _GROUPING and nxt[0] == "open_paren":
            j = i + 2
            while tokens[j][0] != "close_paren":
                if tokens[j][0] == "ident":
                    grouping.append(tokens[j][1])
                j += 1
            i = j + 1
            continue
        if kind == "ident" and nxt[0] == "open_paren":  # функция или агрегация
            i += 1
            continue
        if kind == "ident" and text.lower() not in _KEYWORDS:
            if nxt[0] == "open_brace":
                found, i = _matchers(tokens, i + 1)
                selectors.append(Selector(text, found))
            else:
                selectors.append(Selector(text))
                i += 1
            continue
        if kind == "open_brace":
            found, i = _matchers(tokens, i)
            name = next((m.value for m in found if m.label == "__name__" and m.op == "="), None)
            selectors.append(Selector(name, [m for m in found if m.label != "__name__"]))
            continue
        i += 1
    return Parsed(selectors, grouping)


def metric_labels(metric: str) -> dict[str, frozenset[str] | None] | None:
    """Метки метрики по перечню artstore_common (для гистограмм — и ``le``); None — метрика не наша."""
    if metric in METRIC_LABELS:
        return dict(METRIC_LABELS[metric])
    for suffix in _HISTOGRAM_SUFFIXES:
        base = metric.removesuffix(suffix)
        if base != metric and base in METRIC_HISTOGRAMS:
            labels = dict(METRIC_LABELS[base])
            if suffix == "_bucket":
                labels["le"] = None
            return labels
    return None


# --- что проверяем: выражения алертов, дашбордов и входные ряды юнит-тестов правил ---------------


@dataclass(frozen=True)
class Query:
    where: str  # для сообщений: «алерт SagaStuck», «artstore-storage: панель … B»
    expr: str
    legend: str = ""  # подпись Grafana или аннотации алерта: шаблоны с метками


_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(?P<series>.+),\s*)?(?P<label>\w+)\s*\)\s*$", re.S)


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def rule_id(rule: dict[str, Any]) -> str:
    source = rule.get("labels", {}).get("source")
    return f"{rule['alert']}-{rule['labels']['severity']}" + (f"-{source}" if source else "")


def dashboards() -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in DASHBOARDS]


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))  # свёрнутые строки хранят панели внутри себя
    return out


def dashboard_queries() -> list[tuple[str, str, str]]:
    """(дашборд, где, выражение) для каждого запроса панелей и переменных."""
    out = []
    for d in dashboards():
        for panel in panels(d):
            for target in panel.get("targets", []):
                out.append((d["uid"], f"панель «{panel['title']}» {target['refId']}", target["expr"]))
        for var in d["templating"]["list"]:
            if var["type"] == "query":
                query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
                out.append((d["uid"], f"переменная {var['name']}", query))
    return out


def promql_of(expr: str) -> str | None:
    """PromQL запроса Grafana: ``label_values(ряд, метка)`` → ряд (или None, если ряда нет)."""
    m = _LABEL_VALUES.match(expr)
    if m:
        return m["series"]
    return expr


def queries() -> Iterator[Query]:
    """Все выражения, за которыми следит мониторинг: алерты (с аннотациями) и запросы дашбордов."""
    for rule in alert_rules():
        yield Query(f"алерт {rule_id(rule)}", rule["expr"], " ".join(rule["annotations"].values()))
    for d in dashboards():
        for panel in panels(d):
            for target in panel.get("targets", []):
                yield Query(f"{d['uid']}: панель «{panel['title']}» {target['refId']}", target["expr"],
                            target.get("legendFormat", ""))
        for var in d["templating"]["list"]:
            if var["type"] == "query":
                query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
                series = promql_of(query)
                if series:
                    yield Query(f"{d['uid']}: переменная {var['name']}", series)


def template_labels(text: str) -> set[str]:
    """Метки в шаблонах: ``{{ $labels.x }}`` аннотаций и ``{{x}}`` подписей Grafana."""
    return set(re.findall(r"\$labels\.(\w+)", text)) | set(re.findall(r"\{\{\s*(\w+)\s*\}\}", text))


def rule_test_series() -> list[tuple[str, str]]:
    """(имя теста, ряд) — входные ряды monitoring/prometheus/alerts.test.yml."""
    data = yaml.safe_load(ALERTS_TEST.read_text(encoding="utf-8"))
    return [(t["name"], s["series"]) for t in data["tests"] for s in t.get("input_series", [])]


def enumerated_value_errors(query: Query) -> list[str]:
    """Ошибки выражения относительно перечня меток artstore_common: неизвестная метка у нашей метрики,
    значение не из перечисления, регулярное выражение не из перечня значений, подпись по несуществующей метке."""
    errors: list[str] = []
    parsed = parse(query.expr)
    known_labels: set[str] = set(TARGET_LABELS)
    ours = True
    for sel in parsed.selectors:
        labels = metric_labels(sel.metric) if sel.metric else None
        if labels is None:
            ours = False
            continue
        known_labels |= labels.keys()
        for m in sel.matchers:
            if m.label in TARGET_LABELS:
                continue
            if m.label not in labels:
                errors.append(f"{query.where}: у {sel.metric} нет метки {m.label!r} (есть: {sorted(labels)})")
                continue
            allowed = labels[m.label]
            if allowed is None or m.has_variable:
                continue
            if m.op in ("=", "!="):
                if m.value not in allowed:
                    errors.append(f"{query.where}: {sel.metric}{{{m.label}{m.op}{m.value!r}}} — такого значения "
                                  f"код не отдаёт; возможные: {sorted(allowed)}")
                continue
            # регулярное выражение по перечисляемой метке — только перечень значений через |
            for part in m.value.split("|"):
                if part not in allowed:
                    errors.append(f"{query.where}: {sel.metric}{{{m.label}{m.op}{m.value!r}}} — {part!r} не из "
                                  f"перечня и не буквальное значение; возможные: {sorted(allowed)}")
    if ours:
        for label in [*parsed.grouping, *template_labels(query.legend)]:
            if label not in known_labels and label != "le":
                errors.append(f"{query.where}: метки {label!r} нет ни у одной метрики выражения "
                              f"(есть: {sorted(known_labels)})")
    return errors


def selected_values(expr: str, metric: str, label: str) -> frozenset[str]:
    """Какие значения перечисляемой метки выражение отбирает у метрики (пересечение всех матчеров)."""
    allowed = METRIC_LABELS[metric][label]
    assert allowed is not None, f"{metric}{{{label}}} не перечисляемая"
    found = [s for s in parse(expr).selectors if s.metric == metric]
    assert found, f"в выражении нет {metric}: {expr}"
    out: set[str] = set()
    for sel in found:
        matchers = [m for m in sel.matchers if m.label == label]
        out |= {v for v in allowed if all(m.matches(v) for m in matchers)}
    return frozenset(out)
