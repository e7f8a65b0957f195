"""deploy/monitoring, for operators' own Prometheus: promtool checks the alert rules and runs
their unit tests (deploy/monitoring/tests), every alert has a case that fires and one that
stays quiet, and the rules and their tests name only metrics the code serves."""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from deleton.core.bike_health import KINDS
from deleton.prometheus.metrics import CompressionMetrics, Metrics

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "monitoring"
RULE_FILES = sorted(MONITORING.glob("*.yml"))
RULE_TESTS = sorted((MONITORING / "tests").glob("*.yml"))
METRIC = re.compile(r"\bdeleton_[a-z0-9_]*[a-z0-9]\b")
KIND = re.compile(r'\bkind\s*(?:=|!=|=~|!~)\s*"([^"]*)"')


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
