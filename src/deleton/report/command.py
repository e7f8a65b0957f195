"""``deleton report``: the daily PDF for the C-suite, written and, with ``--send``, emailed once
per period; and the report on a schedule inside ``deleton up`` and ``deleton jobs``."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo

from ..core.bike_health import OFFLINE
from ..core.data_quality import DataCheck, gaps_in_usual_times, slot_of, usual_slots
from ..core.periods import Period, day_period, next_time_of_day, previous, rolling_period
from ..core.report_figures import Figures, Headline, ReportRide, figures, headlines
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


def gather(database: Database, period: Period, zone: str) -> tuple[Figures, list[ReportRide]]:
    with database.connect(autocommit=True) as conn:
        rides = reports.report_rides(conn, period.start, period.end, zone)
        fresh = reports.new_riders(conn, period.start, period.end)
    return figures(rides, fresh), rides


USUAL_DAYS = 7  # the days before a period that say which hours normally have rides


def check(
    database: Database, config: ReportConfig, period: Period, rides: list[ReportRide],
    now: dt.datetime,
) -> DataCheck:  # fmt: skip
    """What the platform received in ``period`` (its ``rides``) and whether it is complete, as
    of ``now``: a period not over yet has no hole in its future."""
    zone = ZoneInfo(config.zone)
    end = min(period.end, now)
    with database.connect(autocommit=True) as conn:
        got = reports.received(conn, period.start, period.end)
        holes = reports.holes(conn, period.start, end) if end > period.start else []
        by_slot, days = reports.days_by_slot(
            conn, period.start - dt.timedelta(days=USUAL_DAYS), period.end, config.zone
        )
    usual = usual_slots(by_slot, days)
    gaps = gaps_in_usual_times(holes, usual, lambda t: slot_of(t.astimezone(zone)), config.gap)
    return DataCheck(
        bikes_sending=len({r.bike_serial for r in rides if r.bike_serial is not None}),
        readings=sum(r.readings for r in rides),
        rides=len(rides),
        summarised=sum(1 for r in rides if r.summarised),
        dead_letters=got.dead_letters,
        lag_s=got.lag_s,
        bikes_known=got.bikes_known,
        maintenance=got.maintenance,
        offline=got.maintenance.get(OFFLINE, 0),
        gaps=gaps,
        max_lag_s=config.max_lag.total_seconds(),
        gap_allowed=config.gap,
    )


class Built(NamedTuple):
    """A report as built: its period, figures, PDF, headlines and data check."""

    period: Period
    figures: Figures
    pdf: bytes
    headlines: list[Headline]
    check: DataCheck


def build(database: Database, config: ReportConfig, day: dt.date | None, now: dt.datetime) -> Built:
    """The period, its figures, the PDF, the headlines and the data check, as of ``now``."""
    zone = ZoneInfo(config.zone)
    period = day_period(day, zone) if day is not None else rolling_period(now, zone)
    current, rides = gather(database, period, config.zone)
    before, _ = gather(database, previous(period, day, zone), config.zone)
    lines = headlines(current, before)
    data = check(database, config, period, rides, now)
    pdf = render(period, current, lines, now.astimezone(zone), config.zone, data)
    return Built(period, current, pdf, lines, data)


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
    incomplete: list[str] | None = None,
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
                                 current.empty, incomplete or [])  # fmt: skip
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
    retry: Callable[[float], bool] | None = None,
) -> int:
    """Write the report (and with ``send``, email it). With ``retry``, a report whose data is
    incomplete is made once more after ``DELETON_REPORT_RETRY``: ``retry(seconds)`` waits and
    says whether to go on (False: stopping; nothing is sent)."""
    config = settings.report()
    database = migrated(settings.database("reader"))
    now = now or dt.datetime.now(dt.UTC)
    built = build(database, config, day, now)
    wait = config.retry.total_seconds()
    if built.check.incomplete and retry is not None and wait > 0:
        log.warning("the report of %s is incomplete (%s); made again in %.0f s",
                    built.period.label, "; ".join(built.check.reasons(_utc)), wait)  # fmt: skip
        if not retry(wait):
            return 0
        built = build(database, config, day, now)
    period, current, pdf, lines = built.period, built.figures, built.pdf, built.headlines
    path = out or default_path(config.folder, period)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pdf)
    zone = ZoneInfo(config.zone)
    reasons = built.check.reasons(lambda t: t.astimezone(zone))
    print(f"report of {period.label}: {current.rides:,} rides, {len(pdf):,} bytes, {path}"
          + (f"; incomplete: {'; '.join(reasons)}" if reasons else ""), flush=True)  # fmt: skip
    if send:
        mail = settings.mail()
        deliver(database, config, transport_for(mail), mail.sender, period, current, lines, pdf,
                path.name, force, reasons)  # fmt: skip
    return 0


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC)


def schedule(settings: Settings) -> Periodic:
    """The report of the 24 hours to ``DELETON_REPORT_AT`` (in its time zone), made and sent
    every day at that time, on a thread of its own (``deleton up`` and ``deleton jobs``); a
    report whose data is incomplete is made once more ``DELETON_REPORT_RETRY`` later, then
    sent as it is, saying so."""
    config = settings.report()
    zone = ZoneInfo(config.zone)
    periodic: Periodic

    def make(due: dt.datetime) -> None:
        report(settings, None, None, send=bool(config.recipients), force=False, now=due,
               retry=periodic.pause)  # fmt: skip

    periodic = Periodic(
        "the daily report", make, lambda now: next_time_of_day(now, config.at, zone)
    )
    return periodic
