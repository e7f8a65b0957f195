"""``deleton jobs``: the scheduled work of ``deleton up`` without the rest of it, for a
deployment with no scheduler of its own (docker compose): compression every
``DELETON_COMPRESS_EVERY`` seconds and the report daily at ``DELETON_REPORT_AT``. On AWS,
EventBridge Scheduler runs ``deleton compress`` and ``deleton report --send`` instead."""

from __future__ import annotations

from .compress.command import schedule as compression
from .postgres.connection import migrated, open_database
from .prometheus.metrics import CompressionMetrics
from .prometheus.server import MetricsServer
from .report.command import schedule as daily_report
from .runtime import Phase, Runtime, run_until_signal
from .settings import Settings


def start_schedules(
    runtime: Runtime,
    settings: Settings,
    metrics: CompressionMetrics | None = None,
    first_compression_after: float | None = None,
) -> None:
    """Compression and the report, each on a thread of its own, until ``runtime`` stops; the
    first compression ``first_compression_after`` seconds from now where given."""
    for periodic in (
        compression(
            open_database(settings.database()),
            settings.compress(),
            metrics,
            first_compression_after,
        ),
        daily_report(settings),
    ):
        runtime.on_stop(Phase.WORK, periodic.name, periodic.start().stop)


def jobs(settings: Settings, metrics_port: int | None = None) -> int:
    """Run both schedules until SIGTERM or Ctrl-C; with ``metrics_port``, compression's
    metrics on ``/metrics`` there (deploy/monitoring's rules read them)."""
    migrated(settings.database())

    def begin(runtime: Runtime) -> None:
        metrics = CompressionMetrics()
        if metrics_port:
            server = MetricsServer(metrics.registry, lambda: (True, {"status": "ok"}))
            server.serve(metrics_port, settings.ingest().metrics_host)
            runtime.on_stop(Phase.ACCEPTING, "the metrics server", server.close)
        start_schedules(runtime, settings, metrics)
        every, report = settings.compress().every, settings.report()
        print(f"Deleton jobs: compression every {every / 60:g} min, report daily at"
              f" {report.at:%H:%M} {report.zone}; Ctrl-C stops them", flush=True)  # fmt: skip

    run_until_signal(begin)
    return 0
