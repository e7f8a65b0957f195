"""Recent rides for the dashboard, refreshed once per interval however many screens watch
them (through ``deleton.cached.SharedView``).

The view is incremental: each refresh reads only readings newer than what it has
already counted, and a ride's tally is final once the ride was seen closed before counting.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ..core.summaries import RecentStats, RideFacts, Tally, summarise
from ..postgres import queries
from ..postgres.connection import Connect, run_query

log = logging.getLogger(__name__)

WINDOW_US = 12 * 3600 * 1_000_000


class RecentRides:
    """Tallies of the rides started in the last 12 hours, kept up to date incrementally."""

    def __init__(self, connect: Connect, wall: Callable[[], float] = time.time) -> None:
        self._connect = connect
        self._wall = wall
        self._rides: dict[int, RideFacts] = {}
        self._final: set[int] = set()

    def refresh(self) -> RecentStats:
        now = int(self._wall() * 1_000_000)
        return run_query(self._connect, "recent rides", lambda conn: self._update(conn, now))

    def _update(self, conn: queries.Connection, now: int) -> RecentStats:
        started = time.monotonic()
        rides = queries.rides_since(conn, now - WINDOW_US)
        known: dict[int, RideFacts] = {}
        marks = []
        for ride in rides:
            seen = self._rides.get(ride.ride_id)
            if ride.tally.readings or ride.ride_id in self._final:  # nothing more to count
                known[ride.ride_id] = ride if seen is None or ride.tally.readings else seen
                continue
            tally = seen.tally if seen is not None else Tally()
            known[ride.ride_id] = ride._replace(tally=tally)
            after = tally.last_at if tally.last_at is not None else ride.started_at - 1
            marks.append((ride.ride_id, after))
        fresh = queries.tallies_after(conn, marks)
        final = set()
        for ride_id, ride in known.items():
            if ride_id in fresh:
                ride = known[ride_id] = ride._replace(tally=ride.tally.merged(fresh[ride_id]))
            if ride.ended_at is not None:  # closed before we counted: nothing will follow
                final.add(ride_id)
        self._rides, self._final = known, final
        log.debug(
            "recent rides: %d rides, %d counted afresh in %.3f s",
            len(known),
            len(marks),
            time.monotonic() - started,
        )
        return summarise(known.values())
