"""Read side of the daily schema, for the live dashboard (and the fleet for the API).

Every query here is bounded by an index and by what the caller will show: one bike's newest
ride (``ride_bike_started``), one ride's readings after a point (``reading_ride_at``, which
also prunes day partitions), the open rides (``ride_open``) with the newest reading of each,
rides started since a moment (``ride_started``). None of them reads a table whole, so their
cost does not grow with ``daily.reading``. Birth dates stay in the database: queries return
ages, at ride start, as the alert rules use them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import psycopg
from psycopg import sql
from psycopg.rows import class_row, dict_row, kwargs_row

from ..cached import SharedView
from ..core.fleet_status import FleetStatus, OpenRide
from ..core.readings import LatestReading, RideSeries
from ..core.records import from_datetime, to_datetime
from ..core.summaries import RideFacts, Tally
from .connection import Connect, run_query

Connection = psycopg.Connection[Any]


def newest_rider(user_id: str, columns: str) -> str:
    """SQL for a LEFT JOIN LATERAL of rider ``user_id``'s ``columns`` (aliased ``u``): from
    ``daily.rider`` if the rider is still there (the newer), else from ``historical.rider``.
    The first branch that returns a row ends the Append, so the second is read only when
    needed."""
    return f"""LEFT JOIN LATERAL (
    SELECT {columns} FROM daily.rider WHERE user_id = {user_id}
    UNION ALL
    SELECT {columns} FROM historical.rider WHERE user_id = {user_id}
    LIMIT 1
) u ON true"""


# a rider's age at the ride's start, kept on the ride by ingestion (migration 0008): the
# dashboard's login may not read a birth date, and needs none
_AGE = "r.rider_age"
# the rider's gender, and the ride's own once its rider is erased
_GENDER = "coalesce(u.gender, r.rider_gender)"


class RideView(NamedTuple):
    """A bike's newest ride and who rides it; name, gender and age only."""

    ride_id: int
    bike_serial: str
    started_at: int  # µs since the epoch
    ended_at: int | None
    first_name: str | None  # None: the ride's [SYSTEM] line was never seen
    last_name: str | None
    gender: str | None
    age: int | None


def _micros(moment: dt.datetime | None) -> int | None:
    return None if moment is None else from_datetime(moment)


def _ride_view(*, started_at: dt.datetime, ended_at: dt.datetime | None, **named: Any) -> RideView:
    """A ride's row, by column name, with its times in µs."""
    return RideView(started_at=from_datetime(started_at), ended_at=_micros(ended_at), **named)


def bike_ride(conn: Connection, serial: str) -> RideView | None:
    """The newest ride of bike ``serial``, open or not; ``None`` for a bike never seen."""
    with conn.cursor(row_factory=kwargs_row(_ride_view)) as cur:
        return cur.execute(
            f"""SELECT r.ride_id, r.bike_serial, r.started_at, r.ended_at, u.first_name,
                       u.last_name, {_GENDER} AS gender, {_AGE} AS age
                FROM daily.ride r LEFT JOIN daily.rider u ON u.user_id = r.user_id
                WHERE r.bike_serial = %s ORDER BY r.started_at DESC LIMIT 1""",
            [serial],
        ).fetchone()


def heard_from(conn: Connection, ride_id: int, since: int) -> bool:
    """Whether ride ``ride_id`` has a reading newer than ``since`` (µs): one index probe of the
    newest day partitions (``reading_ride_at``)."""
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM daily.reading WHERE ride_id = %s AND at > %s)",
        [ride_id, to_datetime(since)],
    ).fetchone()
    return bool(row and row[0])


def latest_bike(conn: Connection) -> str | None:
    """The bike whose ride started last: a stand-in for "most recently active" when no ride is
    open."""
    row = conn.execute(
        "SELECT bike_serial FROM daily.ride ORDER BY started_at DESC LIMIT 1"
    ).fetchone()
    return None if row is None else str(row[0])


def _latest(*, at: dt.datetime, **values: Any) -> LatestReading:
    """A reading's columns, by name, as the newest reading of its ride."""
    return LatestReading(at=from_datetime(at), **values)


_READING = "at, duration, heart_rate, power, resistance, rpm"  # LatestReading's fields


def ride_points(
    conn: Connection, ride: RideView, after: int | None
) -> tuple[RideSeries, LatestReading | None]:
    """The readings of ``ride`` newer than ``after`` (µs; ``None``: all of them) as chart
    columns, and the newest of them."""
    since = to_datetime(ride.started_at if after is None else after)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"""SELECT {_READING} FROM daily.reading
                WHERE ride_id = %s AND at {">=" if after is None else ">"} %s
                ORDER BY at""",
            [ride.ride_id, since],
        ).fetchall()
    start = to_datetime(ride.started_at)
    points = RideSeries(
        minutes=[round((row["at"] - start).total_seconds() / 60, 4) for row in rows],
        # 0 bpm is no sensor contact: a gap, not a fall
        heart_rate=[row["heart_rate"] or None for row in rows],
        power=[row["power"] for row in rows],
        resistance=[row["resistance"] for row in rows],
        rpm=[row["rpm"] for row in rows],
    )
    return points, _latest(**rows[-1]) if rows else None


def _open_ride(
    *,
    bike_serial: str,
    ride_id: int,
    started_at: dt.datetime,
    first_name: str | None,
    age: int | None,
    **reading: Any,
) -> OpenRide:
    """An open ride's row, by column name: the ride's, and its newest reading's (all null
    before the first)."""
    latest = None if reading["at"] is None else _latest(**reading)
    return OpenRide(bike_serial=bike_serial, ride_id=ride_id, started_at=from_datetime(started_at),
                    first_name=first_name, age=age, latest=latest)  # fmt: skip


def open_rides(conn: Connection) -> list[OpenRide]:
    """Every open ride, newest per bike, each with its newest reading: one index probe per
    ride, so the cost follows the size of the fleet, not of the tables."""
    with conn.cursor(row_factory=kwargs_row(_open_ride)) as cur:
        return cur.execute(
            f"""SELECT DISTINCT ON (r.bike_serial)
                       r.bike_serial, r.ride_id, r.started_at, u.first_name, {_AGE} AS age,
                       l.*
                FROM daily.ride r
                LEFT JOIN daily.rider u ON u.user_id = r.user_id
                LEFT JOIN LATERAL (
                    SELECT {_READING} FROM daily.reading x
                    WHERE x.ride_id = r.ride_id AND x.at >= r.started_at
                    ORDER BY x.at DESC LIMIT 1
                ) l ON true
                WHERE r.ended_at IS NULL
                ORDER BY r.bike_serial, r.started_at DESC"""
        ).fetchall()


FLEET_MAX_AGE = 0.5  # seconds: the fleet is rebuilt at most this often, however many ask


def shared_fleet(
    connect: Connect, idle_timeout_us: int, wall: Callable[[], float]
) -> SharedView[FleetStatus]:
    """The fleet as every dashboard screen and API client of a process sees it: rebuilt in the
    background at most every ``FLEET_MAX_AGE`` seconds, as of ``wall`` (seconds)."""

    def build() -> FleetStatus:
        now = int(wall() * 1_000_000)
        return run_query(connect, "the fleet", lambda c: fleet(c, now, idle_timeout_us))

    return SharedView(build, FLEET_MAX_AGE, background=True)


def fleet(conn: Connection, now: int, idle_timeout_us: int) -> FleetStatus:
    """The fleet at ``now`` (µs), as the dashboard's fleet page and the API's ``/bikes`` both
    show it: every open ride, and those heard from within ``idle_timeout_us`` as riding."""
    return FleetStatus(open_rides(conn), now, idle_timeout_us)


class _Facts(NamedTuple):
    """A ride of the recent-rides window as read: its tally's sums and counts are those its
    summary keeps (null for a ride still in daily, counted by ``tallies_after``)."""

    ride_id: int
    user_id: int | None
    gender: str | None
    age: int | None
    started_at: dt.datetime
    ended_at: dt.datetime | None
    readings: int | None
    power_sum: float | None
    power_readings: int | None
    resistance_sum: float | None
    resistance_readings: int | None

    def facts(self) -> RideFacts:
        tally = Tally()
        if self.readings is not None:  # a historical summary: final
            tally = Tally(
                self.readings,
                self.power_sum or 0.0,
                self.power_readings or 0,
                self.resistance_sum or 0.0,
                self.resistance_readings or 0,
                _micros(self.ended_at),
            )
        return RideFacts(
            self.ride_id,
            self.user_id,
            self.gender,
            self.age,
            from_datetime(self.started_at),
            _micros(self.ended_at),
            tally,
        )


_TALLIED = ("readings", "power_sum", "power_readings", "resistance_sum", "resistance_readings")


def rides_since(conn: Connection, since: int) -> list[RideFacts]:
    """Rides started at or after ``since`` (µs): daily rides with empty tallies, and rides
    whose detail has already left ``daily`` with the sums and counts their summary keeps."""
    query = sql.SQL(
        """SELECT r.ride_id, r.user_id, {gender} AS gender, {age} AS age, r.started_at,
                  r.ended_at, {nothing}
           FROM daily.ride r LEFT JOIN daily.rider u ON u.user_id = r.user_id
           WHERE r.started_at >= %(since)s
           UNION ALL
           SELECT r.ride_id, r.user_id, {gender}, {age}, r.started_at, r.ended_at, {kept}
           FROM historical.ride r LEFT JOIN historical.rider u ON u.user_id = r.user_id
           WHERE r.started_at >= %(since)s
             AND NOT EXISTS (SELECT 1 FROM daily.ride d WHERE d.ride_id = r.ride_id)"""
    ).format(
        gender=sql.SQL(_GENDER),
        age=sql.SQL(_AGE),
        nothing=sql.SQL(", ").join(
            sql.SQL("NULL::{} AS {}").format(sql.SQL(kind), sql.Identifier(name))
            for name, kind in zip(_TALLIED, ("int", "float8", "int", "float8", "int"), strict=True)
        ),
        kept=sql.SQL(", ").join(sql.Identifier("r", name) for name in _TALLIED),
    )
    with conn.cursor(row_factory=class_row(_Facts)) as cur:
        rows = cur.execute(query, {"since": to_datetime(since)}).fetchall()
    return [row.facts() for row in rows]


def tallies_after(conn: Connection, marks: Sequence[tuple[int, int]]) -> dict[int, Tally]:
    """For each ``(ride_id, first)``, the tally of that ride's readings from ``first`` (µs)
    on, by ``daily.ride_figures``: the cost follows the new readings, not the ride's whole
    history."""
    if not marks:
        return {}
    query = sql.SQL(
        """SELECT {columns}
           FROM unnest(%s::bigint[], %s::timestamptz[]) AS m(ride_id, first)
           CROSS JOIN LATERAL daily.ride_figures(ARRAY[m.ride_id], m.first, 'infinity') f
           WHERE f.readings > 0"""
    ).format(
        columns=sql.SQL(", ").join(
            sql.Identifier("f", name) for name in ("ride_id", *_TALLIED, "last_at")
        )
    )
    with conn.cursor(row_factory=kwargs_row(_tally)) as cur:
        rows = cur.execute(
            query, [[ride for ride, _ in marks], [to_datetime(first) for _, first in marks]]
        ).fetchall()
    return dict(rows)


def _tally(*, ride_id: int, last_at: dt.datetime | None, **sums: Any) -> tuple[int, Tally]:
    return ride_id, Tally(**{name: value or 0 for name, value in sums.items()},
                          last_at=_micros(last_at))  # fmt: skip
