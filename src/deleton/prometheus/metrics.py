"""Ingestion's counters: logged every few seconds, and kept in a Prometheus registry that
``server`` serves. Figures only: what they mean for health is ingestion's to judge
(``ingest.health``). Ages (since the loop's last turn, since the last commit, of the oldest
unsent alert) are computed when asked, so they keep moving while the ingest loop itself is
blocked: that is when an orchestrator needs them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

log = logging.getLogger(__name__)


class Metrics:
    """Counts what ingestion did; ``report`` logs rates since the last report."""

    def __init__(self, source: str, clock: Callable[[], float] = time.time) -> None:
        self.source = source
        self.clock = clock
        self.messages = 0
        self.readings = 0
        self.dead_letters = 0
        self.alerts = 0
        self.batches = 0
        self.retries = 0
        self.lag: int | None = None
        # whether the source's broker times can show that a line came after an erasure
        # (``core.privacy.broker_time_margin``); if not, no line brings an erased rider back
        self.broker_time_trusted = True
        started = clock()
        self.last_beat = started
        self.last_commit = started
        self._outbox: Callable[[], tuple[int, float | None]] | None = None
        self._publish: Callable[[dict[str, float]], None] | None = None
        self.registry = registry = CollectorRegistry()
        self._messages = Counter(
            "deleton_ingest_messages", "Messages consumed and stored", registry=registry
        )
        self._readings = Counter("deleton_ingest_readings", "Readings written", registry=registry)
        self._dead = Counter(
            "deleton_ingest_dead_letters", "Bad messages stored as dead letters", registry=registry
        )
        self._alerts = Counter(
            "deleton_ingest_alerts", "Heart-rate alerts raised", registry=registry
        )
        self._retries = Counter(
            "deleton_ingest_retries", "Waits for the database or broker", registry=registry
        )
        self._restarts = Counter(
            "deleton_outbox_restarts", "Times the alert thread was found dead", registry=registry
        )
        self._lag = Gauge(
            "deleton_ingest_consumer_lag", "Messages behind the source's end", registry=registry
        )
        Gauge(
            "deleton_ingest_last_commit_timestamp_seconds", "When a batch last committed",
            registry=registry,
        ).set_function(lambda: self.last_commit)  # fmt: skip
        Gauge(
            "deleton_ingest_seconds_since_loop", "Since the ingest loop last turned",
            registry=registry,
        ).set_function(lambda: self.clock() - self.last_beat)  # fmt: skip
        Gauge(
            "deleton_ingest_broker_time_trusted",
            "1 if the topic's timestamps can show a line came after an erasure, else 0",
            registry=registry,
        ).set_function(lambda: float(self.broker_time_trusted))
        Gauge(
            "deleton_outbox_backlog", "Alerts waiting to be emailed", registry=registry
        ).set_function(self.outbox_backlog)
        Gauge(
            "deleton_outbox_oldest_pending_seconds",
            "Age of the oldest alert waiting, from its reading (0 when none)",
            registry=registry,
        ).set_function(self._oldest_pending_age)
        self._freshness = Histogram(
            "deleton_ingest_freshness_seconds",
            "Message time to commit, for the first message of each batch",
            buckets=(0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1, 1.5, 2, 5, 10, 30),
            registry=registry,
        )
        self._write_seconds = Histogram(
            "deleton_ingest_write_seconds",
            "Time of each batch's storing transaction (rows, positions, checkpoints), the"
            " attempt that stored it (after a commit in doubt, the retry that found it stored)",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 1.5, 2, 5, 10),
            registry=registry,
        )
        self._last = (time.monotonic(), 0, 0)
        self._dead_reported = 0

    # --- what ingestion tells -----------------------------------------------------------------

    def beat(self) -> None:
        """The loop turned."""
        self.last_beat = self.clock()

    def batch(
        self, messages: int, readings: int, dead: int, alerts: int, freshness: float | None
    ) -> None:
        self.last_commit = self.clock()
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

    def wrote(self, seconds: float) -> None:
        """A batch was stored in ``seconds``."""
        self._write_seconds.observe(seconds)

    def retried(self) -> None:
        self.retries += 1
        self._retries.inc()

    def outbox_restarted(self) -> None:
        self._restarts.inc()

    def watch_outbox(self, state: Callable[[], tuple[int, float | None]]) -> None:
        """``state`` gives the outbox's backlog and the epoch time of its oldest reading."""
        self._outbox = state

    def set_lag(self, lag: int | None) -> None:
        self.lag = lag
        if lag is not None:
            self._lag.set(lag)

    # --- what is asked when scraped -----------------------------------------------------------

    def _outbox_state(self) -> tuple[int, float | None]:
        return self._outbox() if self._outbox is not None else (0, None)

    def outbox_backlog(self) -> int:
        """Alerts waiting to be emailed, at the outbox's last count."""
        return self._outbox_state()[0]

    def _oldest_pending_age(self) -> float:
        oldest = self._outbox_state()[1]
        return 0.0 if oldest is None else max(0.0, self.clock() - oldest)

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
        dead = self.dead_letters - self._dead_reported
        self._last = (now, self.messages, self.readings)
        self._dead_reported = self.dead_letters
        if self._publish is not None:
            # dead letters since the last report (CloudWatch sums them into a rate), and the
            # outbox's backlog: the alarms' figures beside the lag the scaling follows
            figures = {"DeadLetters": float(dead), "OutboxBacklog": float(self.outbox_backlog())}
            if self.lag is not None:
                figures["ConsumerLag"] = float(self.lag)
            self._publish(figures)

    def publish_to(self, publish: Callable[[dict[str, float]], None]) -> None:
        """Also hand the figures to ``publish`` at each report (CloudWatch, on AWS)."""
        self._publish = publish


class CompressionMetrics:
    """Compression's runs and the bikes its health checks flag, for ``deleton jobs
    --metrics-port`` (deploy/monitoring's alert rules read them)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry = registry or CollectorRegistry()
        self._runs = Counter("deleton_compress_runs", "Compression runs that finished",
                             registry=registry)  # fmt: skip
        self._failures = Counter("deleton_compress_failures", "Compression runs that failed",
                                 registry=registry)  # fmt: skip
        self._summarised = Counter("deleton_compress_rides_summarised", "Rides summarised",
                                   registry=registry)  # fmt: skip
        self._last_success = Gauge(
            "deleton_compress_last_success_timestamp_seconds",
            "When a compression run last finished (0: none yet)",
            registry=registry,
        )
        self._health_failures = Counter(
            "deleton_bike_health_failures",
            "Chunks of rides whose health checks failed and were left unchecked",
            registry=registry,
        )
        self._flagged = Gauge(
            "deleton_bikes_flagged",
            "Bikes with an open health finding, by kind (after the last run)",
            ["kind"],
            registry=registry,
        )

    def ran(
        self, at: float, summarised: int, flagged: dict[str, int], health_failures: int = 0
    ) -> None:
        """A run finished at ``at`` (epoch seconds); ``flagged``: open findings by kind, every
        kind named (0 for none); ``health_failures``: its checks that failed."""
        self._runs.inc()
        self._health_failures.inc(health_failures)
        self._summarised.inc(summarised)
        self._last_success.set(at)
        for kind, count in flagged.items():
            self._flagged.labels(kind=kind).set(count)

    def failed(self) -> None:
        self._failures.inc()
