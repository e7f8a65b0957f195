"""Shared views of the fleet and of recent rides, refreshed once per interval however many
screens watch them.

A wall of dashboards must not multiply the database's work: ``Shared`` refreshes at most once per
``max_age`` and callers who arrive during a refresh wait for it and share its result. The
recent-rides view is incremental: each refresh reads only readings newer than what it has
already counted, and a ride's tally is final once the ride was seen closed before counting.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Generic, TypeVar

import psycopg

from ..core.summaries import RecentStats, RideFacts, Tally, summarise
from ..errors import TransientError
from ..postgres import queries

log = logging.getLogger(__name__)

T = TypeVar("T")
Connect = Callable[[], AbstractContextManager[psycopg.Connection[Any]]]
WINDOW_US = 12 * 3600 * 1_000_000


class Shared(Generic[T]):
    """A value rebuilt by ``refresh`` when older than ``max_age`` seconds, one rebuild at a time.

    With ``background``, a caller finding the value stale gets it at once while one rebuild
    runs on a thread of its own (stale while revalidating): the viewer's update then costs
    only what it shows, and the rebuild happens once per ``max_age`` however many watch.
    Only the very first value is built while the caller waits. While rebuilds fail or hang,
    the last value is still given: ``age`` and ``failure`` say how old it is and why, so that
    screens can say so instead of freezing silently.
    """

    def __init__(
        self,
        refresh: Callable[[], T],
        max_age: float,
        clock: Callable[[], float] = time.monotonic,
        background: bool = False,
    ) -> None:
        self._refresh = refresh
        self._max_age = max_age
        self._clock = clock
        self._background = background
        self._lock = threading.Lock()
        self._value: T | None = None
        self._taken = -float("inf")
        self._rebuilding = False
        self.refreshes = 0
        self.attempts = 0  # background rebuilds finished, well or not
        self.failure: Exception | None = None  # of the last background rebuild, if it failed

    def get(self) -> T:
        if self._background and self._value is not None:
            if self._clock() - self._taken >= self._max_age and not self._rebuilding:
                self._rebuilding = True
                threading.Thread(target=self._rebuild, name="snapshot", daemon=True).start()
            return self._value
        with self._lock:
            value = self._value
            if value is None or self._clock() - self._taken >= self._max_age:
                value = self._store(self._clock(), self._refresh())
            return value

    def age(self) -> float:
        """Seconds since the value given now was asked for (infinite before the first)."""
        return self._clock() - self._taken

    def _store(self, asked: float, value: T) -> T:
        self._value, self._taken = value, asked
        self.refreshes += 1
        return value

    def _rebuild(self) -> None:
        try:
            with self._lock:
                self._store(self._clock(), self._refresh())
            self.failure = None
        except Exception as exc:  # kept for the viewer; the next call tries again
            self.failure = exc
            log.warning("snapshot not rebuilt: %s", exc)
        finally:
            self._rebuilding = False
            self.attempts += 1


def run_query(connect: Connect, what: str, query: Callable[[psycopg.Connection[Any]], T]) -> T:
    """``query`` on a pooled connection, with database failures made transient."""
    try:
        with connect() as conn:
            return query(conn)
    except psycopg.Error as exc:
        raise TransientError(f"cannot read {what}: {exc}") from exc


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

    def _update(self, conn: psycopg.Connection[Any], now: int) -> RecentStats:
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
