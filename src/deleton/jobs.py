"""``deleton jobs``: the scheduled work of ``deleton up`` without the rest of it, for a
deployment with no scheduler of its own (docker compose): compression every
``DELETON_COMPRESS_EVERY`` seconds and the report daily at ``DELETON_REPORT_AT``. On AWS,
EventBridge Scheduler runs ``deleton compress`` and ``deleton report --send`` instead."""

from __future__ import annotations

import threading
from collections.abc import Callable

from .compress.command import Schedule as Compression
from .lifecycle import stop_on_signals
from .postgres.connection import migrated, open_database
from .report.command import Schedule as Reports
from .settings import Settings


def start_schedules(settings: Settings) -> Callable[[], None]:
    """Compression and the report, each on a thread of its own; returns how to stop both."""
    compression = Compression(open_database(settings.database()), settings.compress())
    reports = Reports(settings)
    compression.start()
    reports.start()

    def stop() -> None:
        reports.stop()
        compression.stop()

    return stop


def jobs(settings: Settings) -> int:
    """Run both schedules until SIGTERM or Ctrl-C."""
    migrated(settings.database())
    done = threading.Event()
    stop_on_signals(done.set)
    stop = start_schedules(settings)
    report = settings.report()
    print(f"Deleton jobs: compression every {settings.compress().every / 60:g} min, report"
          f" daily at {report.at:%H:%M} {report.zone}; Ctrl-C stops them", flush=True)  # fmt: skip
    try:
        done.wait()
    finally:
        stop()
    return 0
