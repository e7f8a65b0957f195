"""``deleton jobs``: the scheduled work of ``deleton up`` without the rest of it, for a
deployment with no scheduler of its own (docker compose): compression every
``DELETON_COMPRESS_EVERY`` seconds and the report daily at ``DELETON_REPORT_AT``. On AWS,
EventBridge Scheduler runs ``deleton compress`` and ``deleton report --send`` instead."""

from __future__ import annotations

import threading

from .compress.command import Schedule as Compression
from .lifecycle import stop_on_signals
from .postgres.connection import migrated, open_database
from .report.command import Schedule as Reports
from .settings import Settings


def jobs(settings: Settings) -> int:
    """Run both schedules until SIGTERM or Ctrl-C."""
    migrated(settings.database())
    done = threading.Event()
    stop_on_signals(done.set)
    compression = Compression(open_database(settings.database()), settings.compress())
    reports = Reports(settings)
    compression.start()
    reports.start()
    report = settings.report()
    print(f"Deleton jobs: compression every {settings.compress().every / 60:g} min, report"
          f" daily at {report.at:%H:%M} {report.zone}; Ctrl-C stops them", flush=True)  # fmt: skip
    try:
        done.wait()
    finally:
        reports.stop()
        compression.stop()
    return 0
