"""``deleton report``: the daily PDF for the C-suite, written and, with ``--send``, emailed once
per period; and the report on a schedule inside ``deleton up``."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from pathlib import Path
from zoneinfo import ZoneInfo

from ..core.report_figures import Figures, Headline, Period, figures, headlines
from ..errors import ConfigError, DeletonError
from ..mail.report_email import compose_report
from ..mail.transports import Transport, transport_for
from ..pdf.document import render
from ..postgres import reports
from ..postgres.connection import Database, migrated
from ..settings import ReportConfig, Settings

log = logging.getLogger(__name__)


def day_period(day: dt.date, zone: ZoneInfo) -> Period:
    """The calendar ``day`` in ``zone``, midnight to midnight: 23 or 25 hours when the clocks
    change."""
    start = dt.datetime.combine(day, dt.time(), zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone)
    return Period(start.astimezone(dt.UTC), end.astimezone(dt.UTC),
                  f"{day:%A} {day.day} {day:%B %Y}", day.isoformat())  # fmt: skip


def rolling_period(end: dt.datetime, zone: ZoneInfo) -> Period:
    """The 24 hours ending at ``end``."""
    local = end.astimezone(zone)
    return Period(end - dt.timedelta(hours=24), end,
                  f"24 hours to {local:%H:%M} on {local.day} {local:%B %Y}",
                  local.date().isoformat())  # fmt: skip


def previous(period: Period, day: dt.date | None, zone: ZoneInfo) -> Period:
    """The period just before, of the same kind: the day before, or the 24 hours before."""
    if day is not None:
        return day_period(day - dt.timedelta(days=1), zone)
    return rolling_period(period.start, zone)


def gather(database: Database, period: Period, zone: str) -> Figures:
    with database.connect(autocommit=True) as conn:
        rides = reports.report_rides(conn, period.start, period.end, zone)
        fresh = reports.new_riders(conn, period.start, period.end)
    return figures(rides, fresh)


def build(
    database: Database, config: ReportConfig, day: dt.date | None, now: dt.datetime
) -> tuple[Period, Figures, bytes, list[Headline]]:
    """The period, its figures, the PDF and the headlines, as of ``now``."""
    zone = ZoneInfo(config.zone)
    period = day_period(day, zone) if day is not None else rolling_period(now, zone)
    current = gather(database, period, config.zone)
    before = gather(database, previous(period, day, zone), config.zone)
    lines = headlines(current, before)
    pdf = render(period, current, lines, now.astimezone(zone), config.zone)
    return period, current, pdf, lines


def default_path(home: Path, period: Period) -> Path:
    return home / "reports" / f"deleton-report-{period.slug}.pdf"


def deliver(
    database: Database,
    config: ReportConfig,
    transport: Transport,
    sender: str,
    period: Period,
    current: Figures,
    lines: list[Headline],
    pdf: bytes,
    filename: str,
    force: bool,
) -> bool:
    """Email the report unless this period was sent already (or ``force``); record it. Whether
    it was sent."""
    if not config.recipients:
        raise ConfigError("DELETON_REPORT_RECIPIENTS is empty: nobody to send the report to")
    with database.connect(autocommit=True) as conn, conn.transaction():
        # one sender at a time for a period: a second run waits, then finds it sent
        conn.execute("SELECT pg_advisory_xact_lock(74221003)")
        sent = reports.delivery(conn, period.start, period.end)
        if sent is not None and not force:
            log.info("the report of %s was sent at %s; not again without --force",
                     period.label, sent)  # fmt: skip
            return False
        message = compose_report(sender, config.recipients, period, lines, pdf, filename,
                                 current.empty)  # fmt: skip
        transport.send(message)
        reports.record_delivery(conn, period.start, period.end, len(config.recipients))
    log.info("sent the report of %s to %d recipients", period.label, len(config.recipients))
    return True


def report(
    settings: Settings,
    day: dt.date | None,
    out: Path | None,
    send: bool,
    force: bool,
    now: dt.datetime | None = None,
) -> int:
    config = settings.report()
    database = migrated(settings.database("reader"))
    now = now or dt.datetime.now(dt.UTC)
    period, current, pdf, lines = build(database, config, day, now)
    path = out or default_path(settings.home, period)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pdf)
    print(f"report of {period.label}: {current.rides:,} rides, {len(pdf):,} bytes, {path}",
          flush=True)  # fmt: skip
    if send:
        mail = settings.mail()
        deliver(database, config, transport_for(mail, settings.home), mail.sender, period,
                current, lines, pdf, path.name, force)  # fmt: skip
    return 0


class Schedule:
    """The report of the 24 hours to ``config.at`` (in its time zone), made and sent every day
    at that time, on a thread of its own (``deleton up``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="report", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def next_run(self, now: dt.datetime) -> dt.datetime:
        config = self.settings.report()
        zone = ZoneInfo(config.zone)
        local = now.astimezone(zone)
        due = dt.datetime.combine(local.date(), config.at, zone)
        if due <= local:
            due = dt.datetime.combine(local.date() + dt.timedelta(days=1), config.at, zone)
        return due.astimezone(dt.UTC)

    def _run(self) -> None:
        while True:
            due = self.next_run(dt.datetime.now(dt.UTC))
            if self._stop.wait((due - dt.datetime.now(dt.UTC)).total_seconds()):
                return
            try:
                report(self.settings, None, None, send=bool(self.settings.report().recipients),
                       force=False, now=due)  # fmt: skip
            except DeletonError as exc:
                log.warning("the daily report failed: %s", exc)
