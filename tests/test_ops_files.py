"""ops/alerts.yml and ops/dashboard.json: well-formed, and built only from metrics the service exports.

promtool is not installed (Debian's prometheus package is about 100 MB), so this test stands in for
`promtool check rules`: it parses the files, checks each PromQL expression's brackets, functions and
matchers, and looks every metric name up in the service's own prometheus_client registry.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

import scheduler.metrics  # noqa: F401  (registers the service's metrics)

ROOT = Path(__file__).resolve().parents[1]
ALERTS = ROOT / "ops" / "alerts.yml"
DASHBOARD = ROOT / "ops" / "dashboard.json"
OPERATIONS = ROOT / "docs" / "operations.md"

# Series that come from Prometheus or an exporter beside it, not from the service.
EXTERNAL = {"up": "Prometheus's own scrape result", "probe_success": "the blackbox exporter probing /readyz"}
FUNCTIONS = {
    "abs", "absent", "absent_over_time", "avg_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min",
    "count_over_time", "delta", "deriv", "exp", "floor", "histogram_quantile", "idelta", "increase", "irate",
    "label_join", "label_replace", "last_over_time", "ln", "max_over_time", "min_over_time", "predict_linear",
    "quantile_over_time", "rate", "resets", "round", "scalar", "sort", "sort_desc", "sqrt", "stddev_over_time",
    "sum_over_time", "time", "timestamp", "vector",
}
AGGREGATIONS = {"sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile",
                "count_values", "group"}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
            "offset", "inf", "nan"}
DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$|^\$__(rate_interval|interval|range)$")
MATCHER = re.compile(r'^\s*[a-zA-Z_]\w*\s*(=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"\s*$')


def exported_series() -> set[str]:
    """Every series name the service's registry can produce, with the suffixes of counters and histograms."""
    names: set[str] = set()
    suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created"),
                "summary": ("_count", "_sum", "_created"), "gauge": ("",), "info": ("_info",)}
    for family in REGISTRY.collect():
        names |= {family.name + s for s in suffixes.get(family.type, ("",))}
        names |= {sample.name for sample in family.samples}
    return names


def _hide_commas(m: re.Match[str]) -> str:  # a comma inside a label value does not end the matcher
    return m.group().replace(",", "\0")


def check_syntax(expr: str) -> str:
    """Brackets balanced, label matchers and ranges well formed; returns expr with strings emptied."""
    assert expr.strip(), "empty expression"
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings cannot hold brackets for the count below
    stack: list[str] = []
    for ch in text:
        if ch in "([{":
            stack.append(ch)
        elif ch in ")]}":
            assert stack and "([{"[")]}".index(ch)] == stack.pop(), f"unbalanced {ch!r} in {expr!r}"
    assert not stack, f"unclosed {stack} in {expr!r}"
    for block in re.findall(r"\{([^}]*)\}", re.sub(r'"(?:[^"\\]|\\.)*"', _hide_commas, expr)):
        for matcher in filter(str.strip, block.split(",")):
            assert MATCHER.match(matcher.replace("\0", ",")), f"bad label matcher {matcher!r} in {expr!r}"
    for duration in re.findall(r"\[([^\]]*)\]", text):
        assert DURATION.match(duration.split(":")[0].strip()), f"bad range [{duration}] in {expr!r}"
    return text


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads; raises AssertionError when it is malformed."""
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"\"", " ", check_syntax(expr))
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    # Numbers (0.99, 1e3) and durations (5m) first, so their letters are not read as names.
    for m in re.finditer(r"\d+(?:\.\d+)?(?:e[+-]?\d+)?(?:ms|[smhdwy])*|([a-zA-Z_:][\w:]*)", text, re.I):
        word, rest = m.group(1), text[m.end():].lstrip()
        if word is None or word.lower() in KEYWORDS:
            continue
        if rest.startswith("("):
            assert word in FUNCTIONS | AGGREGATIONS, f"unknown function {word!r} in {expr!r}"
        else:
            names.add(word)
    return names


def anchors(markdown: str) -> set[str]:
    """GitHub's anchors of a Markdown file's headings."""
    found = set()
    for line in markdown.splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            found.add(slug)
    return found


def alert_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [rule for group in doc["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    # Grafana's label_values(series, label): the series is PromQL, the label is not a metric
    exprs += [re.sub(r"^label_values\((.*),\s*\w+\)$", r"\1", v["query"]["query"])
              for v in dashboard["templating"]["list"] if v["type"] == "query"]
    return exprs


def test_every_alert_has_for_severity_summary_description_and_runbook() -> None:
    rules = alert_rules()
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names)) and len(names) >= 8
    assert {"SchedulerDown", "SchedulerNotReady", "SchedulerSmsFailing", "SchedulerOutboxBacklog",
            "SchedulerDecisionsOverdue"} <= set(names)
    for rule in rules:
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert rule["annotations"]["summary"].strip() and rule["annotations"]["description"].strip(), rule["alert"]


def test_every_runbook_link_points_at_a_heading_of_operations_md() -> None:
    headings = anchors(OPERATIONS.read_text(encoding="utf-8"))
    for rule in alert_rules():
        path, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert path == "docs/operations.md" and anchor in headings, rule["alert"]


@pytest.mark.parametrize("source", ["alerts", "dashboard"])
def test_every_expression_parses_and_reads_only_exported_metrics(source: str) -> None:
    exprs = [r["expr"] for r in alert_rules()] if source == "alerts" else dashboard_exprs()
    exported = exported_series()
    used: set[str] = set()
    for expr in exprs:
        used |= metric_names(expr)
    assert used, "no metric found: the parser is broken"
    unknown = used - exported - set(EXTERNAL)
    assert not unknown, f"{source} read metrics the service does not export: {sorted(unknown)}"


def test_the_dashboard_shows_what_the_issue_names() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    reads = {p["title"]: set().union(*(metric_names(t["expr"]) for t in p["targets"])) for p in dashboard["panels"]}
    assert "scheduler_intake_total" in reads["Intake by channel"]
    assert "scheduler_http_request_seconds_bucket" in reads["Latency p99 by route"]
    assert "scheduler_outbox_sent_total" in reads["SMS sent and failed"]
    assert "scheduler_outbox_oldest_due_seconds" in reads["Oldest due message over time"]
    assert "scheduler_decisions_overdue" in reads["Decisions overdue by site"]
    assert "scheduler_open_requests" in reads["Open requests by site"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(("expr", "problem"), [
    ("sum(rate(scheduler_intake_total[5m])", "unclosed"),
    ("sum(rate(scheduler_intake_total[5m]]))", "unbalanced"),
    ("summ(scheduler_intake_total)", "unknown function"),
    ('scheduler_intake_total{channel="web"', "unclosed"),
    ("scheduler_intake_total{channel=web}", "bad label matcher"),
    ("rate(scheduler_intake_total[5 minutes])", "bad range"),
])
def test_the_checker_refuses_malformed_expressions(expr: str, problem: str) -> None:
    with pytest.raises(AssertionError, match=problem):
        metric_names(expr)


def test_the_checker_finds_metric_names_and_suffixes() -> None:
    expr = ('histogram_quantile(0.99, sum by (le, route) (rate(scheduler_http_request_seconds_bucket'
            '{route!~".*-events", x="a,b"}[$__rate_interval]))) > 1e3 and on (site) up offset 5m')
    assert metric_names(expr) == {"scheduler_http_request_seconds_bucket", "up"}
    exported = exported_series()
    assert {"scheduler_intake_total", "scheduler_http_request_seconds_bucket", "scheduler_http_request_seconds_count",
            "scheduler_outbox_oldest_due_seconds", "scheduler_decisions_overdue"} <= exported
    assert "scheduler_intake" not in exported and "scheduler_decisions_overdue_total" not in exported
