"""The rides started since a moment, kept up to date incrementally: the recent-rides page's
figures (the last 12 hours) and today's leaderboard (since midnight), each refreshed once per
interval however many screens and API clients watch them (through ``deleton.cached.SharedView``).

A ride open on its bike comes with the running tally ingestion keeps of all its readings
(``daily.bike_latest``, migration 0026), read whole at each refresh: one row a ride, however
many readings arrived. Other rides (ended and replaced by their bike's next, or opened before
that tally was kept) are counted from their readings, reading only those newer than what was
already counted: each ride's sums and counts come from ``daily.ride_sums`` (the sums the one
definition of a ride's figures, ``daily.ride_figures``, is built on; migration 0024) over its
readings since the last one counted, and merge with what was counted before. A ride's first
count starts where its readings may start (its start less the reading window), as its
summary's does; its tally is final once the ride was seen closed before counting, and a ride
whose detail has left ``daily`` brings the sums its summary keeps.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from zoneinfo import ZoneInfo

from ..cached import SharedView
from ..core import leaderboard
from ..core.periods import day_bounds, day_of
from ..core.records import from_datetime, to_datetime
from ..core.summaries import RecentStats, RideFacts, Tally, summarise
from . import queries
from .connection import Connect, run_query
from .figures import WINDOW

log = logging.getLogger(__name__)

WINDOW_US = 12 * 3600 * 1_000_000
# A ride followed from refresh to refresh whose next reading to count is within this of the
# newest such (or of now, if that is ahead: a bike's clock may run fast) is counted among the
# tail, by one read of the newest readings in time (``queries.tallies_after``).
TAIL_US = 60 * 1_000_000


def last_12_hours(now: int) -> int:
    """The recent-rides page's rides: those started in the 12 hours to ``now`` (µs)."""
    return now - WINDOW_US


class RecentRides:
    """Tallies of the rides started since ``since(now)`` (µs; by default the last 12 hours),
    kept up to date incrementally. ``reading_window``: how long before its start a ride's
    readings may lie."""

    def __init__(
        self,
        connect: Connect,
        wall: Callable[[], float] = time.time,
        reading_window: dt.timedelta = WINDOW,
        since: Callable[[int], int] = last_12_hours,
    ) -> None:
        self._connect = connect
        self._wall = wall
        self._since = since
        self._before_start = reading_window // dt.timedelta(microseconds=1)
        self._rides: dict[int, RideFacts] = {}
        self._final: set[int] = set()

    def refresh(self) -> RecentStats:
        """The recent-rides page's figures over the rides, brought up to date."""
        return summarise(self.rides())

    def rides(self) -> list[RideFacts]:
        """The rides, each with the tally of all its readings, brought up to date."""
        now = int(self._wall() * 1_000_000)
        return run_query(self._connect, "recent rides", lambda conn: self._update(conn, now))

    def _update(self, conn: queries.Connection, now: int) -> list[RideFacts]:
        started = time.monotonic()
        rides = queries.rides_since(conn, self._since(now))
        known: dict[int, RideFacts] = {}
        counting: list[tuple[RideFacts, Tally]] = []  # a ride, and its tally counted so far
        marks = []
        for ride in rides:
            seen = self._rides.get(ride.ride_id)
            # a summary's or a running tally (whole), or final: nothing more to count
            if ride.tally.readings or ride.ride_id in self._final:
                # who rode it as read now (an erasure changes it), with what was counted
                if seen is not None and not ride.tally.readings:
                    ride = RideFacts(*ride[:-1], seen.tally)
                known[ride.ride_id] = ride
                continue
            tally = seen.tally if seen is not None else ride.tally
            known[ride.ride_id] = ride  # its place; its tally is set below
            counting.append((ride, tally))
            # from the reading after the last one counted (µs are the readings' resolution)
            first = (
                tally.last_at + 1
                if tally.last_at is not None
                else ride.started_at - self._before_start
            )
            marks.append((ride.ride_id, first))
        followed = [first for (_, tally), (_, first) in zip(counting, marks, strict=True)
                    if tally.last_at is not None]  # fmt: skip
        tail_from = min(max(followed), now) - TAIL_US if followed else None
        fresh = queries.tallies_after(conn, marks, tail_from)
        for ride, tally in counting:
            new = fresh.get(ride.ride_id)
            # made whole, not by _replace: a refresh makes 50,000 of them
            known[ride.ride_id] = RideFacts(*ride[:-1], tally if new is None else tally.merged(new))
        # closed before we counted: nothing will follow
        final = {ride_id for ride_id, ride in known.items() if ride.ended_at is not None}
        self._rides, self._final = known, final
        log.debug(
            "recent rides: %d rides, %d counted afresh in %.3f s",
            len(known),
            len(marks),
            time.monotonic() - started,
        )
        return list(known.values())


TODAY_MAX_AGE = 5.0  # seconds: today's board is rebuilt at most this often, however many ask


def start_of_day(zone: ZoneInfo) -> Callable[[int], int]:
    """The start (µs) of the calendar day in ``zone`` of a moment (µs)."""

    def since(now: int) -> int:
        return from_datetime(day_bounds(day_of(to_datetime(now), zone), zone)[0])

    return since


def shared_today(
    connect: Connect,
    zone: ZoneInfo,
    wall: Callable[[], float] = time.time,
    reading_window: dt.timedelta = WINDOW,
) -> SharedView[leaderboard.Board]:
    """Today's leaderboard (the calendar day in ``zone``) as every screen and API client of a
    process sees it: rebuilt in the background at most every ``TODAY_MAX_AGE`` seconds from
    one ``RecentRides`` since the day's start, which counts only what is new."""
    since = start_of_day(zone)
    rides = RecentRides(connect, wall, reading_window, since)

    def build() -> leaderboard.Board:
        now = int(wall() * 1_000_000)
        return leaderboard.today(leaderboard.rider_days(rides.rides(), since(now)), now)

    return SharedView(build, TODAY_MAX_AGE, background=True)
