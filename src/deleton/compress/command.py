"""``deleton compress``, and compression on a schedule inside ``deleton up`` and ``deleton
jobs``."""

from __future__ import annotations

import datetime as dt
import logging
import sys
import time
from typing import TextIO

from ..cloudwatch import emf
from ..core.periods import parse_instant
from ..postgres.compression import CompressionRun
from ..postgres.connection import Database, migrated
from ..prometheus.metrics import CompressionMetrics
from ..runtime import Periodic, every, utc_now
from ..settings import Settings
from .compressor import Outcome, compress
from .config import CompressConfig
from .health import HealthCheck

log = logging.getLogger(__name__)


class ProgressBar:
    """Progress through a large backlog: a bar redrawn in place on a terminal, a log line at
    every tenth elsewhere (a log file wants no carriage returns)."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self._tenth: dict[str, int] = {}

    def __call__(self, what: str, done: int, total: int) -> None:
        if total <= 0:
            return
        share = done / total
        if self.live:
            bar = "#" * int(share * 30)
            self.stream.write(f"\r{what:<22} [{bar:<30}] {done:,}/{total:,}")
            if done >= total:
                self.stream.write("\n")
            self.stream.flush()
        elif int(share * 10) > self._tenth.get(what, 0):
            self._tenth[what] = int(share * 10)
            log.info("%s: %d of %d (%.0f%%)", what, done, total, share * 100)


def run_once(
    database: Database,
    config: CompressConfig,
    now: dt.datetime,
    dry_run: bool = False,
    progress: ProgressBar | None = None,
) -> Outcome:
    run = CompressionRun(database, now, config.retention, config.dead_letter_retention)
    # the checks read each chunk's readings on a connection of their own, beside its summaries
    check = HealthCheck(int(config.offline_after.total_seconds() * 1_000_000),
                        lambda: database.connect(autocommit=True))  # fmt: skip
    try:
        return compress(run, dry_run, progress or ProgressBar(), config.chunk, check)
    finally:
        try:
            check.close()
        finally:
            run.close()


def figures(outcome: Outcome | None) -> dict[str, float]:
    """A run's figures as CloudWatch takes them (deploy/terraform's alarms): a run, whether
    it failed (no outcome), the rides it summarised and the bikes flagged after it."""
    if outcome is None:
        return {"CompressionRuns": 1.0, "CompressionFailures": 1.0}
    flagged = outcome.health.flagged if outcome.health is not None else {}
    return {"CompressionRuns": 1.0, "CompressionFailures": 0.0,
            "RidesSummarised": float(outcome.summarised),
            "BikesFlagged": float(sum(flagged.values()))}  # fmt: skip


def command(settings: Settings, now: str | None, dry_run: bool) -> int:
    """Summarise every ended ride and remove old detail, as of ``now`` (ISO-8601, UTC when it
    names no zone; default: now); print one line. With ``DELETON_METRICS_EMF`` (on ECS), also
    the run's figures as a CloudWatch EMF line, a failed run's too."""
    moment = parse_instant(now) if now is not None else utc_now()
    publish = emf.publisher({"Job": "compress"}, time.time) if settings.metrics_emf else None
    try:
        outcome = run_once(migrated(settings.database()), settings.compress(), moment, dry_run)
    except Exception:  # whatever stopped the run, CloudWatch counts a failure
        if publish is not None and not dry_run:
            publish(figures(None))
        raise
    print(outcome.line(), flush=True)
    if publish is not None and not dry_run and outcome.ran:
        publish(figures(outcome))
    return 0


def schedule(
    database: Database,
    config: CompressConfig,
    metrics: CompressionMetrics | None = None,
    first_after: float | None = None,
) -> Periodic:
    """Compression every ``config.every`` seconds on a thread of its own (``deleton up`` and
    ``deleton jobs``), each run as of when it starts, counted in ``metrics``; the first
    ``first_after`` seconds from the start where given (sooner than ``every``)."""

    def run(due: dt.datetime) -> None:
        try:
            outcome = run_once(database, config, utc_now())
        except Exception:  # whatever stopped the run, it is a failure to count
            if metrics is not None:
                metrics.failed()
            raise
        log.info("%s", outcome.line())
        if metrics is not None and outcome.ran:
            health = outcome.health
            flagged = health.flagged if health is not None else {}
            metrics.ran(time.time(), outcome.summarised, flagged,
                        health.failures if health is not None else 0)  # fmt: skip

    later = every(config.every)
    first = [first_after] if first_after is not None and first_after < config.every else []

    def next_due(now: dt.datetime) -> dt.datetime:
        return now + dt.timedelta(seconds=first.pop()) if first else later(now)

    return Periodic("compression", run, next_due)
