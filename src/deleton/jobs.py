"""``deleton jobs``: the scheduled work of ``deleton up`` without the rest of it, for a
deployment with no scheduler of its own (docker compose): compression every
``DELETON_COMPRESS_EVERY`` seconds and the report daily at ``DELETON_REPORT_AT``. On AWS,
EventBridge Scheduler runs ``deleton compress`` and ``deleton report --send`` instead."""

from __future__ import annotations

from .compress.command import schedule as compression
from .postgres.connection import migrated, open_database
from .report.command import schedule as daily_report
from .runtime import Phase, Runtime, run_until_signal
from .settings import Settings


def start_schedules(runtime: Runtime, settings: Settings) -> None:
    """Compression and the report, each on a thread of its own, until ``runtime`` stops."""
    for periodic in (
        compression(open_database(settings.database()), settings.compress()),
        daily_report(settings),
    ):
        runtime.on_stop(Phase.WORK, periodic.name, periodic.start().stop)


def jobs(settings: Settings) -> int:
    """Run both schedules until SIGTERM or Ctrl-C."""
    migrated(settings.database())

    def begin(runtime: Runtime) -> None:
        start_schedules(runtime, settings)
        every, report = settings.compress().every, settings.report()
        print(f"Deleton jobs: compression every {every / 60:g} min, report daily at"
              f" {report.at:%H:%M} {report.zone}; Ctrl-C stops them", flush=True)  # fmt: skip

    run_until_signal(begin)
    return 0
