"""``deleton up``: the whole platform in one process on the embedded default.

The one module besides ``cli`` that wires several services together: a simulated fleet feeds
ingestion (alerts to a folder unless a mail backend is configured), the dashboard and the
REST API serve what arrives, compression runs every ``DELETON_COMPRESS_EVERY`` and the daily
report is made at ``DELETON_REPORT_AT``.
"""

from __future__ import annotations

from .api.command import start as start_api
from .dashboard.command import start as start_dashboard
from .ingest.command import pipeline, serve
from .jobs import start_schedules
from .mail.transports import FolderTransport
from .settings import Settings
from .simulator.fleet_source import FleetSource


def up(settings: Settings, bikes: int, seed: int, speed: float) -> int:
    source = FleetSource(bikes, seed, speed)
    folder = None
    if "mail_backend" not in settings.model_fields_set:
        folder = settings.home / "outbox"
    ingestor, outbox = pipeline(
        settings, source, FolderTransport(folder) if folder is not None else None
    )
    where = (
        "embedded, under " + str(settings.home)
        if settings.database_url is None
        else "DELETON_DATABASE_URL"
    )
    close_dashboard, address = start_dashboard(settings)
    close_api, api_address = start_api(settings)
    stop_schedules = start_schedules(settings)
    print("Deleton is up:")
    print(f"  PostgreSQL   {where}")
    print(f"  fleet        {bikes} simulated bikes at {speed:g}x real time (seed {seed})")
    print("  ingestion    fleet -> daily schema, heart-rate alerts by email")
    print(f"  alerts       {folder if folder is not None else settings.mail_backend}")
    print(f"  dashboard    {address}")
    print(f"  API          {api_address}  (interactive docs: {api_address}docs)")
    every = settings.compress().every
    print(f"  compression  every {every / 60:g} min: ended rides summarised, old detail dropped")
    report = settings.report()
    where = ", ".join(report.recipients) if report.recipients else "written only"
    print(f"  report       daily at {report.at:%H:%M} {report.zone}, under"
          f" {settings.home / 'reports'} ({where})")  # fmt: skip
    print("Ctrl-C stops everything.", flush=True)
    try:
        serve(ingestor, outbox)
    finally:
        stop_schedules()
        close_api()
        close_dashboard()
    print("Deleton stopped.")
    return 0
