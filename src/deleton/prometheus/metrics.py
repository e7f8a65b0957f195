"""Ingestion counters: logged every few seconds and served to Prometheus on request."""

from __future__ import annotations

import logging
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)


class Metrics:
    """Counts what ingestion did; ``report`` logs rates since the last report."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.messages = 0
        self.readings = 0
        self.dead_letters = 0
        self.alerts = 0
        self.batches = 0
        self.lag: int | None = None
        self.registry = CollectorRegistry()
        self._messages = Counter(
            "deleton_ingest_messages", "Messages consumed and stored", registry=self.registry
        )
        self._readings = Counter(
            "deleton_ingest_readings", "Readings written", registry=self.registry
        )
        self._dead = Counter(
            "deleton_ingest_dead_letters", "Bad messages stored as dead letters",
            registry=self.registry,
        )  # fmt: skip
        self._alerts = Counter(
            "deleton_ingest_alerts", "Heart-rate alerts raised", registry=self.registry
        )
        self._lag = Gauge(
            "deleton_ingest_consumer_lag", "Messages behind the source's end",
            registry=self.registry,
        )  # fmt: skip
        self._freshness = Histogram(
            "deleton_ingest_freshness_seconds",
            "Message time to commit, for the first message of each batch",
            buckets=(0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1, 1.5, 2, 5, 10, 30),
            registry=self.registry,
        )
        self._last = (time.monotonic(), 0, 0)

    def serve(self, port: int, host: str = "0.0.0.0") -> None:
        start_http_server(port, addr=host, registry=self.registry)
        log.info("Prometheus metrics on %s:%d", host, port)

    def batch(
        self, messages: int, readings: int, dead: int, alerts: int, freshness: float | None
    ) -> None:
        self.batches += 1
        self.messages += messages
        self.readings += readings
        self.dead_letters += dead
        self.alerts += alerts
        self._messages.inc(messages)
        self._readings.inc(readings)
        self._dead.inc(dead)
        self._alerts.inc(alerts)
        if freshness is not None:
            self._freshness.observe(max(freshness, 0.0))

    def set_lag(self, lag: int | None) -> None:
        self.lag = lag
        if lag is not None:
            self._lag.set(lag)

    def report(self) -> None:
        now = time.monotonic()
        then, messages, readings = self._last
        elapsed = max(now - then, 1e-9)
        log.info(
            "%s: %.0f messages/s, %.0f readings/s, %d messages, %d dead letters, %d alerts, lag %s",
            self.source,
            (self.messages - messages) / elapsed,
            (self.readings - readings) / elapsed,
            self.messages,
            self.dead_letters,
            self.alerts,
            "unknown" if self.lag is None else self.lag,
        )
        self._last = (now, self.messages, self.readings)
