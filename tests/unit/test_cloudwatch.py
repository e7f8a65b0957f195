"""Ingestion's lag as CloudWatch Embedded Metric Format: the shape CloudWatch accepts."""

from __future__ import annotations

import io

import orjson

from deleton.cloudwatch.emf import NAMESPACE, publisher
from deleton.prometheus.metrics import Metrics


def test_lag_is_published_as_an_emf_line_at_each_report() -> None:
    out = io.StringIO()
    metrics = Metrics("kafka:deloton")
    metrics.publish_to(publisher({"ConsumerGroup": "deleton-ingest"}, lambda: 1700.5, out))
    metrics.report()  # lag not known yet: nothing to say
    assert out.getvalue() == ""
    metrics.set_lag(12_345)
    metrics.report()
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    record = orjson.loads(lines[0])
    assert record["ConsumerLag"] == 12_345
    assert record["ConsumerGroup"] == "deleton-ingest"
    (directive,) = record["_aws"]["CloudWatchMetrics"]
    assert record["_aws"]["Timestamp"] == 1_700_500
    assert directive == {
        "Namespace": NAMESPACE,
        "Dimensions": [["ConsumerGroup"]],
        "Metrics": [{"Name": "ConsumerLag", "Unit": "Count"}],
    }
