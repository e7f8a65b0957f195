"""Whether a report's data can be trusted (Issue 21): what the platform received in the period
and how far ingestion stood behind, and whether the data is incomplete, said in words. Pure.

A report built from an empty or half-ingested day, sent without a word, is worse than none:
the C-suite reads a quiet day where there was an outage. So the data is judged before it is
sent. It is incomplete when:

- no ride was in progress (so no reading can have arrived) for longer than the gap allowed,
  within the times of day that normally have rides: the quarter hours in which rides were in
  progress on at least half of the days with rides among the period's and the seven before
  (a gym closed at night has no gap at night, and one that opens at 06:00 none before its
  first ride at 06:10); or
- ingestion stood further behind than allowed when the report was made: the longest time
  since a partition of the stream last committed its position.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

QUARTER = dt.timedelta(minutes=15)
GAPS_NAMED = 4  # gaps named one by one in words; more are counted
USUAL_SHARE = 0.5  # a quarter hour is usual with rides in progress in it on this share of days


def slot_of(local: dt.datetime) -> int:
    """A local time's quarter hour of the day, 0 (00:00-00:15) to 95."""
    return local.hour * 4 + local.minute // 15


def usual_slots(days_by_slot: Mapping[int, int], days: int) -> frozenset[int]:
    """The quarter hours of the day (``slot_of``) that normally have rides: those with rides
    in progress on at least ``USUAL_SHARE`` of the ``days`` that had any."""
    if days <= 0:
        return frozenset()
    return frozenset(slot for slot, n in days_by_slot.items() if n >= USUAL_SHARE * days)


def gaps_in_usual_times(
    holes: Sequence[tuple[dt.datetime, dt.datetime]],
    usual: frozenset[int],
    slot: Callable[[dt.datetime], int],
    longer_than: dt.timedelta,
) -> list[tuple[dt.datetime, dt.datetime]]:
    """The parts of ``holes`` (times with no ride in progress) that lie in ``usual`` quarter
    hours (``slot`` gives a time's, as ``slot_of`` of its local time), run together across
    usual quarter hours in a row, and last longer than ``longer_than``."""
    found = []
    for start, end in holes:
        part: dt.datetime | None = None  # the start of the usual part under way
        at = start
        while at < end:
            # to the next quarter hour: every zone's hours begin on one
            floor = at.replace(minute=at.minute - at.minute % 15, second=0, microsecond=0)
            step = min(end, floor + QUARTER)
            if slot(at) in usual:
                part = at if part is None else part
            elif part is not None:
                if at - part > longer_than:
                    found.append((part, at))
                part = None
            at = step
        if part is not None and end - part > longer_than:
            found.append((part, end))
    return found


@dataclass(frozen=True)
class DataCheck:
    """What the platform received in a report's period, and whether it is complete."""

    bikes_sending: int  # bikes with a ride started in the period
    readings: int  # each a Ride and a Telemetry line of the wire
    rides: int
    summarised: int  # of the rides, those compression summarised
    dead_letters: int  # lines that could not be read, kept with their reason
    lag_s: float | None  # the longest since a partition last committed, at report time
    bikes_known: int  # every bike ever seen
    maintenance: Mapping[str, int] = field(default_factory=dict)  # open findings by kind
    offline: int = 0  # bikes offline (an open ``offline`` finding)
    gaps: Sequence[tuple[dt.datetime, dt.datetime]] = ()  # holes in usual hours
    max_lag_s: float = 300.0
    gap_allowed: dt.timedelta = dt.timedelta(minutes=15)

    @property
    def summarised_share(self) -> float | None:
        return self.summarised / self.rides if self.rides else None

    @property
    def availability(self) -> float | None:
        """Bikes ridden in the period against bikes known, the offline left out."""
        usable = self.bikes_known - self.offline
        return min(1.0, self.bikes_sending / usable) if usable > 0 else None

    @property
    def lagging(self) -> bool:
        return self.lag_s is not None and self.lag_s > self.max_lag_s

    @property
    def incomplete(self) -> bool:
        return bool(self.gaps) or self.lagging

    def reasons(self, local: Callable[[dt.datetime], dt.datetime]) -> list[str]:
        """Why the data is incomplete, in words (none when it is complete); times as
        ``local`` gives them."""
        said = []
        for start, end in self.gaps[:GAPS_NAMED]:
            minutes = round((end - start).total_seconds() / 60)
            said.append(
                f"no reading from {_clock(local(start))} to {_clock(local(end))}"
                f" ({minutes} min), at times of day that normally have rides"
            )
        if len(self.gaps) > GAPS_NAMED:  # a day of many holes: the first named, the rest summed
            rest = self.gaps[GAPS_NAMED:]
            minutes = round(sum((end - start).total_seconds() for start, end in rest) / 60)
            said.append(f"and {len(rest)} more such gaps, {minutes} min in all")
        if self.lagging and self.lag_s is not None:
            said.append(
                f"ingestion was {_span(self.lag_s)} behind when this report was made"
                f" (more than {_span(self.max_lag_s)})"
            )
        return said


def _clock(moment: dt.datetime) -> str:
    return moment.strftime("%H:%M")


def _span(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes / 60:.1f} h"
