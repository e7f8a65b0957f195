"""``deleton up``: the whole platform in one process on the embedded default.

The one module besides ``cli`` that wires several services together: a simulated fleet feeds
ingestion (alerts to a folder unless a mail backend is configured), the dashboard and the
REST API serve what arrives, compression runs every ``DELETON_COMPRESS_EVERY`` and the daily
report is made at ``DELETON_REPORT_AT``. The dashboard's secrets are made in ``DELETON_HOME``
when none is configured, and a local admin is signed in by a printed one-time link: there is
no password to invent. The API's quick-start key (scope ``read``) is printed too, and kept.
Ctrl-C stops it all in order (``runtime``): the servers stop accepting and answer what they
were asked, then the schedules and ingestion stop, then the pools close.
"""

from __future__ import annotations

import datetime as dt

from .access.command import LOCAL_ADMIN, ensure_local_admin, new_login_link
from .api.command import start as start_api
from .api.keys import local_read_key
from .credentials import keys
from .dashboard.command import start as start_dashboard
from .ingest.command import pipeline, run_ingestion
from .jobs import start_schedules
from .postgres.connection import open_database
from .runtime import Runtime, run_until_signal
from .settings import Settings
from .simulator.fleet_source import FleetSource

# a first run of compression this soon (then every DELETON_COMPRESS_EVERY): the bikes' health
# checks run with it, so a first run's maintenance page shows the faulty bikes within minutes
FIRST_COMPRESSION_S = 600.0


def up(settings: Settings, bikes: int, seed: int, speed: float, faulty: int = 3) -> int:
    """Everything, on the embedded default: ``bikes`` simulated at ``speed``, ``faulty`` of
    them carrying a fault (core.simulation.faulty_bikes) for the maintenance page to find."""
    source = FleetSource(bikes, seed, speed, min(faulty, bikes))
    mail = settings.mail(unset="folder")  # no mail server needed unless one is configured
    # the fleet in this process gives no broker times: the margin decides nothing here
    ingestor, outbox = pipeline(
        settings, source, mail, broker_time_margin_us=settings.ingest().broker_time_margin_us
    )
    where = (
        "embedded, under " + str(settings.home)
        if settings.database_url is None
        else "DELETON_DATABASE_URL"
    )
    access = settings.access()
    keys.stored_secret(access.session_secret, access.home, keys.SESSION, create=True)
    keys.stored_secret(access.screen_secret, access.home, keys.SCREEN, create=True)
    keys.stored_secret(access.password_pepper, access.home, keys.PEPPER, create=True)
    database = open_database(settings.database())  # migrated by the pipeline above
    ensure_local_admin(database)
    key_name, api_key = local_read_key(database, access.home, dt.datetime.now(dt.UTC))

    def begin(runtime: Runtime) -> None:
        address = start_dashboard(runtime, settings)
        link = new_login_link(database, access.public_url, LOCAL_ADMIN)
        api_address = start_api(runtime, settings)
        start_schedules(runtime, settings, first_compression_after=FIRST_COMPRESSION_S)
        run_ingestion(runtime, ingestor, outbox)
        print("Deleton is up:")
        print(f"  PostgreSQL   {where}")
        print(f"  fleet        {bikes} simulated bikes at {speed:g}x real time (seed {seed}),"
              f" {min(faulty, bikes)} of them faulty")  # fmt: skip
        print("  ingestion    fleet -> daily schema, heart-rate alerts by email")
        print(f"  alerts       {mail.folder if mail.backend == 'folder' else mail.backend}")
        print(f"  dashboard    {address}")
        if link is not None:
            print(f"  sign in      {link[0]}")
            print(f"{'':15}(once, within 10 min; another: deleton login-link {LOCAL_ADMIN})")
        print(f"  API          {api_address}  (interactive docs: {api_address}docs)")
        print(f"  API key      {api_key}")
        print(f"{'':15}(scope read, as X-API-Key; kept in {access.home}/api-key, named"
              f" {key_name}; more: deleton api-key create)")  # fmt: skip
        minutes = settings.compress().every / 60
        print(f"  compression  every {minutes:g} min (first in {FIRST_COMPRESSION_S / 60:g}):"
              " ended rides summarised and bikes' health checked, old detail dropped")  # fmt: skip
        report = settings.report()
        recipients = ", ".join(report.recipients) if report.recipients else "written only"
        print(f"  report       daily at {report.at:%H:%M} {report.zone}, under {report.folder}"
              f" ({recipients})")  # fmt: skip
        print("Ctrl-C stops everything.", flush=True)

    run_until_signal(begin)
    print("Deleton stopped.", flush=True)
    return 0
