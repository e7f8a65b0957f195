"""``deleton report``: the daily PDF for the C-suite, written and, with ``--send``, emailed once
per period; and the report on a schedule inside ``deleton up`` and ``deleton jobs``."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from zoneinfo import ZoneInfo

from ..core.periods import Period, day_period, next_time_of_day, previous, rolling_period
from ..core.report_figures import Figures, Headline, figures, headlines
from ..errors import ConfigError
from ..mail.report_email import compose_report
from ..mail.transports import Transport, transport_for
from ..pdf.document import render
from ..postgres import locks, reports
from ..postgres.connection import Database, migrated
from ..runtime import Periodic
from ..settings import Settings
from .config import ReportConfig

log = logging.getLogger(__name__)


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


def default_path(folder: Path, period: Period) -> Path:
    return folder / f"deleton-report-{period.slug}.pdf"


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
        locks.hold_for_transaction(conn, locks.REPORT_DELIVERY)
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
    path = out or default_path(config.folder, period)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pdf)
    print(f"report of {period.label}: {current.rides:,} rides, {len(pdf):,} bytes, {path}",
          flush=True)  # fmt: skip
    if send:
        mail = settings.mail()
        deliver(database, config, transport_for(mail), mail.sender, period, current, lines, pdf,
                path.name, force)  # fmt: skip
    return 0


def schedule(settings: Settings) -> Periodic:
    """The report of the 24 hours to ``DELETON_REPORT_AT`` (in its time zone), made and sent
    every day at that time, on a thread of its own (``deleton up`` and ``deleton jobs``)."""
    config = settings.report()
    zone = ZoneInfo(config.zone)

    def make(due: dt.datetime) -> None:
        report(settings, None, None, send=bool(config.recipients), force=False, now=due)

    return Periodic("the daily report", make, lambda now: next_time_of_day(now, config.at, zone))
