"""CloudWatch Embedded Metric Format: one JSON line on stdout, which the awslogs driver of an
ECS task carries to CloudWatch Logs, and CloudWatch turns into metrics with no agent and no
API call. Ingestion's consumer lag arrives this way, and Application Auto Scaling scales the
ingest service on it (deploy/terraform/ecs.tf)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import TextIO

import orjson

NAMESPACE = "Deleton"


def emf_line(
    metrics: Mapping[str, float], dimensions: Mapping[str, str], timestamp_ms: int
) -> bytes:
    """One EMF record: ``metrics`` (counts, no unit) under ``dimensions``."""
    return orjson.dumps(
        {
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [
                    {
                        "Namespace": NAMESPACE,
                        "Dimensions": [sorted(dimensions)],
                        "Metrics": [{"Name": name, "Unit": "Count"} for name in sorted(metrics)],
                    }
                ],
            },
            **dimensions,
            **metrics,
        }
    )


def publisher(
    dimensions: Mapping[str, str], clock: Callable[[], float], out: TextIO = sys.stdout
) -> Callable[[Mapping[str, float]], None]:
    """Writes each set of figures as an EMF line to ``out``, stamped by ``clock``."""

    def publish(metrics: Mapping[str, float]) -> None:
        out.write(emf_line(metrics, dimensions, int(clock() * 1000)).decode() + "\n")
        out.flush()

    return publish
