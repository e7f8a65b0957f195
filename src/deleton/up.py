"""``deleton up``: the whole platform in one process on the embedded default.

The one module besides ``cli`` that wires several services together: a simulated fleet feeds
ingestion (alerts to a folder unless a mail backend is configured), the dashboard and the
REST API serve what arrives, compression runs every ``DELETON_COMPRESS_EVERY`` and the daily
report is made at ``DELETON_REPORT_AT``. The dashboard's secrets are made in ``DELETON_HOME``
when none is configured, and a local admin is signed in by a printed one-time link: there is
no password to invent.
"""

from __future__ import annotations

from .access.command import LOCAL_ADMIN, ensure_local_admin, new_login_link
from .api.command import start as start_api
from .credentials import keys
from .dashboard.command import start as start_dashboard
from .ingest.command import pipeline, serve
from .jobs import start_schedules
from .mail.transports import FolderTransport
from .postgres.connection import open_database
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
    keys.stored_secret(settings.session_secret, settings.home, keys.SESSION, create=True)
    keys.stored_secret(settings.screen_secret, settings.home, keys.SCREEN, create=True)
    keys.stored_secret(settings.password_pepper, settings.home, keys.PEPPER, create=True)
    database = open_database(settings.database())  # migrated by the pipeline above
    ensure_local_admin(database)
    close_dashboard, address = start_dashboard(settings)
    public = settings.access().public_url
    if "public_url" not in settings.model_fields_set:
        public = address.rstrip("/")  # the port it was given
    link = new_login_link(database, public, LOCAL_ADMIN)
    close_api, api_address = start_api(settings)
    stop_schedules = start_schedules(settings)
    print("Deleton is up:")
    print(f"  PostgreSQL   {where}")
    print(f"  fleet        {bikes} simulated bikes at {speed:g}x real time (seed {seed})")
    print("  ingestion    fleet -> daily schema, heart-rate alerts by email")
    print(f"  alerts       {folder if folder is not None else settings.mail_backend}")
    print(f"  dashboard    {address}")
    if link is not None:
        print(f"  sign in      {link[0]}")
        print(f"               (once, within 10 min; another: deleton login-link {LOCAL_ADMIN})")
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
