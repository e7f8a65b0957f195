"""What an operator sees: warnings rate-limited, and health judged from the loop and commits."""

from __future__ import annotations

import logging

from deleton.ingest.health import BEHIND_AFTER, STUCK_AFTER, judge
from deleton.logs import RepeatedWarningFilter
from deleton.prometheus.metrics import Metrics


def record(message: str, level: int = logging.WARNING) -> logging.LogRecord:
    return logging.LogRecord("deleton.x", level, __file__, 1, message, None, None)


def test_a_repeated_warning_passes_once_per_interval_and_counts_what_it_held_back() -> None:
    clock = [0.0]
    repeated = RepeatedWarningFilter(every=30, clock=lambda: clock[0])
    passed = [repeated.filter(record("Kafka: %s")) for _ in range(100)]
    assert passed == [True] + [False] * 99
    assert repeated.filter(record("another warning"))  # templates are held back apart
    assert repeated.filter(record("Kafka: %s", logging.INFO))  # info always passes
    clock[0] = 31.0
    later = record("Kafka: %s")
    assert repeated.filter(later) and "[99 more like this in the last 30 s]" in later.msg


def test_health_follows_the_loop_and_the_commits() -> None:
    clock = [1000.0]
    metrics = Metrics("test", clock=lambda: clock[0])
    assert judge(metrics)[0]
    clock[0] += STUCK_AFTER + 1  # the loop has not turned
    healthy, detail = judge(metrics)
    assert not healthy and detail["status"] == "stuck"
    metrics.beat()
    metrics.set_lag(500)  # messages wait, and nothing committed for a while
    clock[0] += BEHIND_AFTER - STUCK_AFTER
    metrics.beat()
    healthy, detail = judge(metrics)
    assert not healthy and detail["status"] == "behind"
    metrics.batch(10, 5, 0, 0, 0.1)
    assert judge(metrics) == (True, judge(metrics)[1]) and judge(metrics)[1]["lag"] == 500
    metrics.set_lag(0)
    clock[0] += 3600  # an idle stream: no commits, nothing waiting, the loop turning
    metrics.beat()
    assert judge(metrics)[0]


def test_outbox_gauges_are_read_when_scraped() -> None:
    clock = [5000.0]
    metrics = Metrics("test", clock=lambda: clock[0])
    state: list[tuple[int, float | None]] = [(0, None)]
    metrics.watch_outbox(lambda: state[0])
    from prometheus_client import generate_latest

    assert b"deleton_outbox_backlog 0.0" in generate_latest(metrics.registry)
    state[0] = (3, 4100.0)
    text = generate_latest(metrics.registry)
    assert b"deleton_outbox_backlog 3.0" in text
    assert b"deleton_outbox_oldest_pending_seconds 900.0" in text
