"""Rides and riders for the REST API, wherever they are kept: every ride is read through the
view ``historical.ride_summary`` (a summary row, or figures computed from ``daily`` on the
fly), every rider from ``daily.rider`` if it is there (it is the newer) and ``historical.rider``
if not.

Lists page over the two ride tables' indexes first and only then read the figures of the rides
on the page, so that a page costs what it shows, not the day's readings. Personal data (email,
address, birth date) is selected only when the caller asks for it. Deletes and erasure go
through definer functions: the API's login writes no table itself. Every value reaches
PostgreSQL as a parameter.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, NamedTuple

import psycopg

from .queries import newest_rider

Connection = psycopg.Connection[Any]

# The figures of a ride, named as the columns of historical.ride.
FIGURES = (
    "duration_s", "readings", "heart_rate_avg", "heart_rate_min", "heart_rate_max",
    "power_avg", "power_max", "energy_kj", "rpm_avg", "rpm_max", "resistance_avg",
    "resistance_max", "alerts", "alerts_high", "alerts_low",
)  # fmt: skip


class RideRecord(NamedTuple):
    ride_id: int
    bike_serial: str
    user_id: int | None
    first_name: str | None  # None: no rider details were ever received for this ride
    last_name: str | None
    started_at: dt.datetime
    ended_at: dt.datetime | None  # None while the ride is open
    figures: dict[str, Any]


class ContactRecord(NamedTuple):
    """A rider's personal data: only for callers holding the key."""

    email: str
    house: str
    street: str
    city: str
    postcode: str
    date_of_birth: dt.date


class RiderRecord(NamedTuple):
    user_id: int
    title: str | None
    first_name: str
    last_name: str
    gender: str
    age: int
    rides: int
    heart_rate_avg: float | None  # over readings with sensor contact only
    energy_kj: float | None
    first_ride: tuple[int, dt.datetime] | None  # ride id, start
    latest_ride: tuple[int, dt.datetime] | None
    contact: ContactRecord | None


class Deletion(enum.Enum):
    DELETED = "deleted"
    NOT_FOUND = "not found"
    IN_PROGRESS = "in progress"


_RIDES = f"""
SELECT s.ride_id, s.bike_serial, s.user_id, u.first_name, u.last_name, s.started_at,
       s.ended_at, {", ".join("s." + name for name in FIGURES)}
FROM historical.ride_summary s {newest_rider("s.user_id", "first_name, last_name")}
"""


def _record(row: tuple[Any, ...]) -> RideRecord:
    ride_id, bike, user_id, first, last, started, ended, *figures = row
    named = dict(zip(FIGURES, figures, strict=True))
    return RideRecord(ride_id, bike, user_id, first, last, started, ended, named)


def ride(conn: Connection, ride_id: int) -> RideRecord | None:
    """The ride ``ride_id`` with its figures, or ``None`` if there is none."""
    row = conn.execute(_RIDES + "WHERE s.ride_id = %s", [ride_id]).fetchone()
    return None if row is None else _record(row)


def _rides_by_id(conn: Connection, ids: list[int], newest_first: bool) -> list[RideRecord]:
    if not ids:
        return []
    order = "DESC" if newest_first else "ASC"
    rows = conn.execute(
        _RIDES + f"WHERE s.ride_id = ANY(%s) ORDER BY s.started_at {order}, s.ride_id {order}",
        [ids],
    ).fetchall()
    return [_record(row) for row in rows]


def rides_started(
    conn: Connection, start: dt.datetime, end: dt.datetime, limit: int, offset: int
) -> list[RideRecord]:
    """Rides started in ``[start, end)``, oldest first: the page of ``limit`` from ``offset``."""
    ids = conn.execute(
        """SELECT ride_id FROM (
               SELECT ride_id, started_at FROM historical.ride
               WHERE started_at >= %(start)s AND started_at < %(end)s
               UNION ALL
               SELECT ride_id, started_at FROM daily.ride
               WHERE started_at >= %(start)s AND started_at < %(end)s AND summarised_at IS NULL
           ) r ORDER BY started_at, ride_id LIMIT %(limit)s OFFSET %(offset)s""",
        {"start": start, "end": end, "limit": limit, "offset": offset},
    ).fetchall()
    return _rides_by_id(conn, [ride_id for (ride_id,) in ids], newest_first=False)


def rider_rides(conn: Connection, user_id: int, limit: int, offset: int) -> list[RideRecord]:
    """The rides of rider ``user_id``, newest first: the page of ``limit`` from ``offset``."""
    ids = conn.execute(
        """SELECT ride_id FROM (
               SELECT ride_id, started_at FROM historical.ride WHERE user_id = %(user)s
               UNION ALL
               SELECT ride_id, started_at FROM daily.ride
               WHERE user_id = %(user)s AND summarised_at IS NULL
           ) r ORDER BY started_at DESC, ride_id DESC LIMIT %(limit)s OFFSET %(offset)s""",
        {"user": user_id, "limit": limit, "offset": offset},
    ).fetchall()
    return _rides_by_id(conn, [ride_id for (ride_id,) in ids], newest_first=True)


def rider_exists(conn: Connection, user_id: int) -> bool:
    row = conn.execute(
        """SELECT EXISTS (SELECT 1 FROM daily.rider WHERE user_id = %(user)s)
               OR EXISTS (SELECT 1 FROM historical.rider WHERE user_id = %(user)s)""",
        {"user": user_id},
    ).fetchone()
    return bool(row and row[0])


def rider(
    conn: Connection, user_id: int, today: dt.date, contact: bool = False
) -> RiderRecord | None:
    """Rider ``user_id`` with their figures over every ride kept, aged at ``today``; their
    personal data only with ``contact``. ``None`` if there is no such rider."""
    # age and personal data come from functions of migration 0006, as the API's login may
    # read no birth date, address or email directly
    columns = "title, first_name, last_name, gender"
    row = conn.execute(
        f"""SELECT {columns}, historical.rider_age(%(user)s, %(today)s)
            FROM (SELECT {columns} FROM daily.rider WHERE user_id = %(user)s
                  UNION ALL
                  SELECT {columns} FROM historical.rider WHERE user_id = %(user)s
                  LIMIT 1) u""",
        {"user": user_id, "today": today},
    ).fetchone()
    if row is None:
        return None
    private: list[Any] = []
    if contact:
        found = conn.execute(
            "SELECT email, house, street, city, postcode, date_of_birth"
            " FROM historical.rider_contact(%s)",
            [user_id],
        ).fetchone()
        private = list(found or ())
    title, first, last, gender, age = row
    figures = conn.execute(
        """SELECT count(*),
                  sum(heart_rate_avg * heart_rate_readings) / nullif(sum(heart_rate_readings), 0),
                  sum(energy_kj),
                  (array_agg(ride_id ORDER BY started_at, ride_id))[1], min(started_at),
                  (array_agg(ride_id ORDER BY started_at DESC, ride_id DESC))[1],
                  max(started_at)
           FROM historical.ride_summary WHERE user_id = %s""",
        [user_id],
    ).fetchone()
    assert figures is not None  # an aggregate always gives a row
    rides, heart_rate, energy, first_id, first_at, latest_id, latest_at = figures
    return RiderRecord(
        user_id,
        title,
        first,
        last,
        gender,
        age,
        rides,
        heart_rate,
        energy,
        None if first_id is None else (first_id, first_at),
        None if latest_id is None else (latest_id, latest_at),
        ContactRecord(*private) if contact else None,
    )


def delete_ride(conn: Connection, ride_id: int) -> Deletion:
    """Remove ride ``ride_id`` from both schemas (readings, whatever their times, alerts,
    summary) in one transaction. An open ride is refused: ingestion is still writing it.

    Through ``historical.delete_ride`` (the API's login deletes nothing itself), which locks
    the ride's rows first: compression locks a ride the same way before it summarises it or
    copies its readings back from a detached partition, so neither brings back a ride deleted
    beside it."""
    row = conn.execute("SELECT historical.delete_ride(%s)", [ride_id]).fetchone()
    assert row is not None
    return Deletion(row[0])


class Erasure(enum.Enum):
    ERASED = "erased"
    UNKNOWN = "unknown"
    RIDING = "riding"


def erase_rider(conn: Connection, user_id: int, age_bands: list[int]) -> Erasure:
    """Forget rider ``user_id`` everywhere (``historical.erase_rider``, migration 0008): their
    rows, name, contact details and account go from both schemas, and refused lines that
    carry them; their rides and alerts stay under a tombstone id, with gender and with age cut
    to the lower bound of its band among ``age_bands``. Refused while they ride."""
    row = conn.execute("SELECT historical.erase_rider(%s, %s)", [user_id, age_bands]).fetchone()
    assert row is not None
    return Erasure(row[0])


def reachable(conn: Connection) -> None:
    """Raises unless the database answers."""
    conn.execute("SELECT 1")


class Ingestion(NamedTuple):
    """Where one source partition's ingestion stands."""

    source: str
    partition: int
    next_position: int | None
    committed_at: dt.datetime


def ingestion(conn: Connection) -> list[Ingestion]:
    """Each source partition's position and when it last moved."""
    rows = conn.execute(
        "SELECT source, partition, next_position, updated_at FROM daily.source_position"
        " ORDER BY source, partition"
    ).fetchall()
    return [Ingestion(*row) for row in rows]


def newest_ride_end(conn: Connection) -> dt.datetime | None:
    """The last line of the most recently ended of the newest rides: when no ride is open, the
    newest reading the database holds (a ride ends at its last line)."""
    row = conn.execute(
        "SELECT max(ended_at) FROM (SELECT ended_at FROM daily.ride"
        " ORDER BY started_at DESC LIMIT 100) r"
    ).fetchone()
    return None if row is None else row[0]
