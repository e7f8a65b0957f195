"""deploy/monitoring, for operators' own Prometheus and Grafana, and the CloudWatch alarms of
deploy/terraform/monitoring.tf: promtool checks the alert rules and runs their unit tests
(deploy/monitoring/tests), every alert has a case that fires and one that stays quiet, and
the rules, their tests, the dashboard and the alarms name only figures the code publishes."""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from deleton.cloudwatch.emf import NAMESPACE
from deleton.compress.command import figures
from deleton.compress.compressor import Outcome
from deleton.core.bike_health import KINDS
from deleton.prometheus.metrics import CompressionMetrics, Metrics
from tests.unit.test_deploy import resources, terraform

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "monitoring"
RULE_FILES = sorted(MONITORING.glob("*.yml"))
RULE_TESTS = sorted((MONITORING / "tests").glob("*.yml"))
DASHBOARD = MONITORING / "grafana" / "deleton.json"
METRIC = re.compile(r"\bdeleton_[a-z0-9_]*[a-z0-9]\b")
KIND = re.compile(r'\bkind\s*(?:=|!=|=~|!~)\s*"([^"]*)"')
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    found = shutil.which("promtool")
    # a failure, not a skip: make test installs it, so its absence is a broken setup
    assert found, "promtool is missing: `make promtool` installs it (Debian's prometheus)"
    return subprocess.run([found, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


@functools.cache
def registries() -> tuple[Metrics, CompressionMetrics]:
    """Ingestion's and compression's metrics, as ``deleton ingest`` and ``deleton jobs``
    serve them; compression after a run, so that every kind of finding has its series."""
    compression = CompressionMetrics()
    compression.ran(0.0, 0, dict.fromkeys(KINDS, 0))
    return Metrics("check"), compression


@functools.cache
def served() -> frozenset[str]:
    """Every sample name the two serve: counters with ``_total``, histograms' ``_bucket``,
    ``_sum`` and ``_count``, as Prometheus stores them."""
    return frozenset(
        sample.name
        for metrics in registries()
        for family in metrics.registry.collect()
        for sample in family.samples
    )


@functools.cache
def histograms() -> frozenset[str]:
    """Histograms by their own name, which prose may use for the family."""
    return frozenset(
        family.name
        for metrics in registries()
        for family in metrics.registry.collect()
        if family.type == "histogram"
    )


def alert_rules() -> list[dict[str, Any]]:
    return [
        rule
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


def rule_tests() -> list[dict[str, Any]]:
    return [test for path in RULE_TESTS for test in yaml.safe_load(path.read_text())["tests"]]


def panels(within: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside a collapsed row too."""
    for panel in within:
        yield panel
        yield from panels(panel.get("panels", []))


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def metric_names(text: str) -> set[str]:
    return set(METRIC.findall(text))


def assert_kinds_known(text: str) -> None:
    for match in KIND.findall(text):
        assert set(match.split("|")) <= set(KINDS), f"kind {match!r} is not one of {KINDS}"


# --- Prometheus rules ----------------------------------------------------------------------


def test_promtool_finds_the_rules_sound() -> None:
    assert RULE_FILES and RULE_TESTS
    done = promtool("check", "rules", *map(str, RULE_FILES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in done.stdout


def test_promtool_runs_the_rules_unit_tests() -> None:
    done = promtool("test", "rules", *map(str, RULE_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_alert_has_a_case_that_fires_and_one_that_stays_quiet() -> None:
    """Rules sharing an alert's name are told apart by their labels: each is seen firing."""
    cases = [case for test in rule_tests() for case in test.get("alert_rule_test", [])]
    for rule in alert_rules():
        name, labels = rule["alert"], rule["labels"]
        own = [case for case in cases if case["alertname"] == name]
        assert any(not case.get("exp_alerts") for case in own), f"{name}: never tested quiet"
        fired = [alert["exp_labels"] for case in own for alert in case.get("exp_alerts") or []]
        assert any(labels.items() <= got.items() for got in fired), f"{name} {labels}: never fires"


def test_every_alert_waits_is_graded_and_says_its_figure_and_what_to_do() -> None:
    for rule in alert_rules():
        name, expr = rule["alert"], rule["expr"]
        assert rule.get("for"), f"{name}: fires on one evaluation"
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
        summary, description = rule["annotations"]["summary"], rule["annotations"]["description"]
        assert summary and len(description) > len(summary), name
        # absent()'s 1 and a timestamp never set (0) are no figure to quote
        if "absent(" not in expr and not expr.rstrip().endswith("== 0"):
            assert "$value" in summary + description, f"{name} does not say its figure"


def test_the_rules_and_their_tests_name_only_what_the_code_serves() -> None:
    assert {"deleton_ingest_consumer_lag", "deleton_compress_runs_total"} <= served()
    for rule in alert_rules():
        assert metric_names(rule["expr"]) <= served(), rule["alert"]
        prose = " ".join(rule["annotations"].values())
        assert metric_names(prose) <= served() | histograms(), rule["alert"]
        assert_kinds_known(rule["expr"])
    for test in rule_tests():
        for series in test["input_series"]:
            assert metric_names(series["series"]) <= served(), series["series"]
            assert_kinds_known(series["series"])


# --- Grafana dashboard ---------------------------------------------------------------------


def test_the_dashboard_panels_are_titled_unique_and_ask_only_for_what_the_code_serves() -> None:
    shown = dashboard()
    assert shown["schemaVersion"] >= 36 and shown["uid"] and shown["title"]
    variables = {variable["name"]: variable for variable in shown["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    everything = list(panels(shown["panels"]))
    ids = [panel["id"] for panel in everything]
    assert len(ids) == len(set(ids)), f"panel ids repeat: {sorted(ids)}"
    asked: set[str] = set()
    for panel in everything:
        assert panel.get("title"), f"panel {panel['id']} has no title"
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        assert panel["datasource"] == DATASOURCE, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]
            names = metric_names(target["expr"])
            assert names, f"{panel['title']}: {target['expr']}"
            assert names <= served(), f"{panel['title']}: {names - served()}"
            assert_kinds_known(target["expr"])
            asked |= names
    for variable in variables.values():
        if variable["type"] == "query":
            assert metric_names(variable["definition"]) <= served(), variable["name"]
    # every figure an alert watches is on the dashboard
    alerted = set().union(*(metric_names(rule["expr"]) for rule in alert_rules()))
    assert alerted <= asked, f"alerted on but not shown: {alerted - asked}"


def test_promtool_parses_every_dashboard_query(tmp_path: Path) -> None:
    """Each panel's query, with Grafana's variables given values, as a recording rule that
    promtool checks: a query Prometheus would refuse fails here, not on the operator's screen."""
    values = {"$__rate_interval": "5m", "$ingest_job": ".+", "$jobs_job": ".+"}
    records = []
    for panel in panels(dashboard()["panels"]):
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in values.items():
                expr = expr.replace(variable, value)
            assert "$" not in expr, f"{panel['title']}: a variable not given here: {expr}"
            records.append({"record": f"dashboard:panel{panel['id']}:{target['refId']}",
                            "expr": expr})  # fmt: skip
    rules = tmp_path / "dashboard.yml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]}))
    done = promtool("check", "rules", str(rules))
    assert done.returncode == 0, done.stdout + done.stderr


# --- CloudWatch alarms (deploy/terraform/monitoring.tf) --------------------------------------

# alarm: the figure, whose dimensions, the statistic, and how missing data counts
ALARMS = {
    "ingest_lag": ("ConsumerLag", "ingest", "Maximum", "breaching"),
    "outbox_backlog": ("OutboxBacklog", "ingest", "Minimum", "notBreaching"),
    "dead_letters": ("DeadLetters", "ingest", "Sum", "notBreaching"),
    "compression_failing": ("CompressionFailures", "compress", "Sum", "notBreaching"),
    "compression_not_run": ("CompressionRuns", "compress", "Sum", "breaching"),
    "bikes_flagged": ("BikesFlagged", "compress", "Maximum", "ignore"),
}


def published() -> dict[str, set[str]]:
    """The figures each side writes as EMF lines: an ingest report's, a compression run's
    (one that failed and one that finished)."""
    lines: list[dict[str, float]] = []
    ingest = Metrics("check")
    ingest.publish_to(lines.append)
    ingest.set_lag(1)
    ingest.report()
    return {"ingest": set(lines[0]), "compress": set(figures(None)) | set(figures(Outcome()))}


def test_cloudwatch_alarms_watch_the_figures_the_services_publish() -> None:
    alarms = resources("aws_cloudwatch_metric_alarm")
    (dimensions,) = terraform("monitoring.tf")["locals"]
    # ingestion's EMF lines carry the consumer group (DELETON_KAFKA_GROUP_ID, ecs.tf), and
    # deleton compress's the job
    assert dimensions == {"ingest_metrics": {"ConsumerGroup": "${var.kafka_group_id}"},
                          "compress_metrics": {"Job": "compress"}}  # fmt: skip
    figures_of = published()
    for name, (metric, side, statistic, missing) in ALARMS.items():
        alarm = alarms[name]
        assert alarm["alarm_name"] == "${local.name}-" + name.replace("_", "-")
        assert (alarm["namespace"], alarm["metric_name"]) == (NAMESPACE, metric), name
        assert metric in figures_of[side], f"{name}: {metric} is not among {figures_of[side]}"
        assert alarm["dimensions"] == f"${{local.{side}_metrics}}", name
        assert alarm["statistic"] == statistic, name
        assert alarm["treat_missing_data"] == missing, name
        assert alarm["alarm_actions"] == alarm["ok_actions"] == "${local.alarm_actions}", name
        assert alarm["alarm_description"], name
    # a failure counts at once; no run for two hours (two empty hourly periods) is an alarm
    assert alarms["compression_failing"]["comparison_operator"] == "GreaterThanOrEqualToThreshold"
    assert alarms["compression_failing"]["threshold"] == 1
    not_run = alarms["compression_not_run"]
    assert (not_run["comparison_operator"], not_run["threshold"]) == ("LessThanThreshold", 1)
    assert not_run["period"] == 3600
    assert not_run["evaluation_periods"] == "${var.compress_missing_alarm_hours}"
    assert alarms["bikes_flagged"]["threshold"] == "${var.bikes_flagged_alarm}"


def test_the_alarms_thresholds_default_to_the_prometheus_rules() -> None:
    variables = {k: v for block in terraform("variables.tf")["variable"] for k, v in block.items()}
    defaults = {name: variables[name]["default"] for name in (
        "ingest_lag_alarm", "outbox_alarm_minutes", "dead_letters_alarm",
        "compress_missing_alarm_hours", "bikes_flagged_alarm")}  # fmt: skip
    rules = {rule["alert"]: rule["expr"] for rule in alert_rules()}
    assert defaults["ingest_lag_alarm"] == 100000
    assert f"> {defaults['ingest_lag_alarm']}" in rules["DeletonIngestLagHigh"]
    # 30 in 5 minutes is the rules' 0.1 a second; 5 minutes the oldest email's age
    assert defaults["dead_letters_alarm"] / 300 == 0.1
    assert "> 0.1" in rules["DeletonDeadLetterRateHigh"]
    assert defaults["outbox_alarm_minutes"] * 60 == 300
    assert "> 300" in rules["DeletonOutboxBacklog"]
    assert defaults["compress_missing_alarm_hours"] == 2
    assert defaults["bikes_flagged_alarm"] == 0
