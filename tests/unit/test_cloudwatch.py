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
    metrics.report()  # lag not known yet: no lag said, never a lag of 0
    assert "ConsumerLag" not in orjson.loads(out.getvalue())
    metrics.batch(10, 8, 2, 0, None)
    metrics.set_lag(12_345)
    metrics.report()
    metrics.report()
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    record = orjson.loads(lines[1])
    assert record["ConsumerLag"] == 12_345
    assert record["ConsumerGroup"] == "deleton-ingest"
    # dead letters since the report before (CloudWatch sums them to a rate), and the outbox
    assert record["DeadLetters"] == 2 and orjson.loads(lines[2])["DeadLetters"] == 0
    assert record["OutboxBacklog"] == 0
    (directive,) = record["_aws"]["CloudWatchMetrics"]
    assert record["_aws"]["Timestamp"] == 1_700_500
    assert directive == {
        "Namespace": NAMESPACE,
        "Dimensions": [["ConsumerGroup"]],
        "Metrics": [{"Name": name, "Unit": "Count"}
                    for name in ("ConsumerLag", "DeadLetters", "OutboxBacklog")],
    }  # fmt: skip


def test_compression_counts_its_runs_and_the_bikes_flagged_for_prometheus() -> None:
    from prometheus_client import generate_latest

    from deleton.prometheus.metrics import CompressionMetrics

    metrics = CompressionMetrics()
    metrics.ran(1_700_000_000.0, 12, {"power_drift": 2, "offline": 0})
    metrics.failed()
    text = generate_latest(metrics.registry).decode()
    for line in ('deleton_bikes_flagged{kind="power_drift"} 2.0',
                 'deleton_bikes_flagged{kind="offline"} 0.0', "deleton_compress_runs_total 1.0",
                 "deleton_compress_failures_total 1.0",
                 "deleton_compress_rides_summarised_total 12.0",
                 "deleton_compress_last_success_timestamp_seconds 1.7e+09"):  # fmt: skip
        assert line in text.splitlines(), line
