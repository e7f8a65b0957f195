"""Calendar days and periods in a time zone, and instants written as text: one definition for
the report, the API's ``/daily`` and the schedules. Pure: callers pass the zone (a ``tzinfo``,
such as a ``zoneinfo.ZoneInfo``) and what time it is."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Period:
    """``[start, end)`` in UTC, with how a reader names it."""

    start: dt.datetime
    end: dt.datetime
    label: str  # "Thursday 3 November 2022" or "24 hours to 17:00 on 3 November 2022"
    slug: str  # for file names: "2022-11-03"

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600


def day_bounds(day: dt.date, zone: dt.tzinfo) -> tuple[dt.datetime, dt.datetime]:
    """The calendar ``day`` in ``zone``, midnight to midnight, in UTC: 23 or 25 hours when the
    clocks change."""
    start = dt.datetime.combine(day, dt.time(), zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def day_of(moment: dt.datetime, zone: dt.tzinfo) -> dt.date:
    """The calendar day ``moment`` falls on in ``zone``."""
    return moment.astimezone(zone).date()


def day_period(day: dt.date, zone: dt.tzinfo) -> Period:
    """The calendar ``day`` in ``zone`` (``day_bounds``), named."""
    start, end = day_bounds(day, zone)
    return Period(start, end, f"{day:%A} {day.day} {day:%B %Y}", day.isoformat())


def rolling_period(end: dt.datetime, zone: dt.tzinfo) -> Period:
    """The 24 hours ending at ``end``, named by its end in ``zone``."""
    local = end.astimezone(zone)
    return Period(end - dt.timedelta(hours=24), end,
                  f"24 hours to {local:%H:%M} on {local.day} {local:%B %Y}",
                  local.date().isoformat())  # fmt: skip


def previous(period: Period, day: dt.date | None, zone: dt.tzinfo) -> Period:
    """The period just before, of the same kind: the day before ``day``, or (``day`` None) the
    24 hours before."""
    if day is not None:
        return day_period(day - dt.timedelta(days=1), zone)
    return rolling_period(period.start, zone)


def next_time_of_day(now: dt.datetime, at: dt.time, zone: dt.tzinfo) -> dt.datetime:
    """The first time after ``now`` that the clocks of ``zone`` show ``at``, in UTC."""
    local = now.astimezone(zone)
    due = dt.datetime.combine(local.date(), at, zone)
    if due <= local:
        due = dt.datetime.combine(local.date() + dt.timedelta(days=1), at, zone)
    return due.astimezone(dt.UTC)


def parse_instant(text: str) -> dt.datetime:
    """An ISO-8601 time, aware: UTC when it names no zone. ``ValueError`` for anything else."""
    moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
