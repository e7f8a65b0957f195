"""Rides and riders for the REST API, wherever they are kept: a ride's figures are its summary
in ``historical.ride``, or, for a ride still in ``daily``, ``daily.ride_figures`` (the one
definition both come from, migration 0011); every rider from ``daily.rider`` if it is there
(it is the newer) and ``historical.rider`` if not.

One ride is read cheaply: its summary by key, or, in ``daily``, its figures with its own time
bounds as values, through a plan the connection keeps (``figures.read``'s generic one), so
that each read scans the hours the ride lies in only and plans nothing. Lists
page over the two ride tables' indexes first and only then read the figures of the rides on
the page through the view ``historical.ride_summary``, so that a page costs what it shows, not
the day's readings. Personal data (email,
address, birth date) is selected only when the caller asks for it. Deletes and erasure go
through definer functions: the API's login writes no table itself. Every value reaches
PostgreSQL as a parameter.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, NamedTuple

import psycopg
from psycopg import sql
from psycopg.rows import class_row, dict_row

from . import figures
from .figures import FIGURES
from .queries import newest_rider

Connection = psycopg.Connection[Any]


class RideRecord(NamedTuple):
    ride_id: int
    bike_serial: str
    user_id: int | None
    first_name: str | None  # None: no rider details were ever received for this ride
    last_name: str | None
    started_at: dt.datetime
    ended_at: dt.datetime | None  # None while the ride is open
    figures: dict[str, Any]  # named as FIGURES


class _Ride(NamedTuple):
    """A ride as it is found, before its figures are read."""

    ride_id: int
    bike_serial: str
    user_id: int | None
    first_name: str | None
    last_name: str | None
    started_at: dt.datetime
    ended_at: dt.datetime | None
    summarised: bool

    def record(self, figures: dict[str, Any]) -> RideRecord:
        found = self._asdict()
        del found["summarised"]
        return RideRecord(**found, figures=figures)


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


_RIDE = sql.SQL("""
SELECT s.ride_id, s.bike_serial, s.user_id, u.first_name, u.last_name, s.started_at,
       s.ended_at, s.summarised
FROM (SELECT ride_id, bike_serial, user_id, started_at, ended_at, true AS summarised
      FROM historical.ride WHERE ride_id = %(ride)s
      UNION ALL
      SELECT ride_id, bike_serial, user_id, started_at, ended_at, false
      FROM daily.ride WHERE ride_id = %(ride)s AND summarised_at IS NULL
      LIMIT 1) s
{rider}
""").format(rider=sql.SQL(newest_rider("s.user_id", "first_name, last_name")))
_SUMMARY = sql.SQL("SELECT {} FROM historical.ride WHERE ride_id = %s").format(
    sql.SQL(", ").join(map(sql.Identifier, FIGURES))
)
_RIDES = sql.SQL("""
SELECT s.ride_id, s.bike_serial, s.user_id, u.first_name, u.last_name, s.started_at,
       s.ended_at, {figures}
FROM historical.ride_summary s {rider}
""").format(
    figures=sql.SQL(", ").join(sql.Identifier("s", name) for name in FIGURES),
    rider=sql.SQL(newest_rider("s.user_id", "first_name, last_name")),
)


def _record(row: dict[str, Any]) -> RideRecord:
    named = {name: row.pop(name) for name in FIGURES}
    return RideRecord(**row, figures=named)


def ride(conn: Connection, ride_id: int, reading_window: dt.timedelta) -> RideRecord | None:
    """The ride ``ride_id`` with its figures, or ``None`` if there is none: a summarised ride
    straight from ``historical.ride``, a ride in ``daily`` from its readings between its
    start less ``reading_window`` and its end (``figures.read``: those hours only, through
    the connection's generic plan)."""
    for _ in range(2):  # once more if it moved to historical between the two reads
        with conn.cursor(row_factory=class_row(_Ride)) as cur:
            found = cur.execute(_RIDE, {"ride": ride_id}).fetchone()
        if found is None:
            return None
        if found.summarised:
            with conn.cursor(row_factory=dict_row) as cur:
                summary = cur.execute(_SUMMARY, [ride_id]).fetchone()
        else:
            lower, upper = figures.bounds(found.started_at, found.ended_at, reading_window)
            rows = figures.read(conn, [ride_id], lower, upper, dict_row, FIGURES, generic=True)
            summary = rows[0] if rows else None
        if summary is not None:
            return found.record(summary)
    return None  # deleted between the reads


def _rides_by_id(conn: Connection, ids: list[int], newest_first: bool) -> list[RideRecord]:
    if not ids:
        return []
    order = sql.SQL("DESC" if newest_first else "ASC")
    query = _RIDES + sql.SQL(
        "WHERE s.ride_id = ANY(%s) ORDER BY s.started_at {order}, s.ride_id {order}"
    ).format(order=order)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(query, [ids]).fetchall()
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


class _Person(NamedTuple):
    title: str | None
    first_name: str
    last_name: str
    gender: str
    age: int


class _Record(NamedTuple):
    """A rider's figures over every ride kept."""

    rides: int
    heart_rate_avg: float | None
    energy_kj: float | None
    first_id: int | None
    first_at: dt.datetime | None
    latest_id: int | None
    latest_at: dt.datetime | None


def rider(
    conn: Connection, user_id: int, today: dt.date, contact: bool = False
) -> RiderRecord | None:
    """Rider ``user_id`` with their figures over every ride kept, aged at ``today``; their
    personal data only with ``contact``. ``None`` if there is no such rider."""
    # age and personal data come from functions of migration 0006, as the API's login may
    # read no birth date, address or email directly
    columns = "title, first_name, last_name, gender"
    with conn.cursor(row_factory=class_row(_Person)) as cur:
        person = cur.execute(
            f"""SELECT {columns}, historical.rider_age(%(user)s, %(today)s) AS age
                FROM (SELECT {columns} FROM daily.rider WHERE user_id = %(user)s
                      UNION ALL
                      SELECT {columns} FROM historical.rider WHERE user_id = %(user)s
                      LIMIT 1) u""",
            {"user": user_id, "today": today},
        ).fetchone()
    if person is None:
        return None
    private = None
    if contact:
        with conn.cursor(row_factory=class_row(ContactRecord)) as cur:
            private = cur.execute(
                "SELECT email, house, street, city, postcode, date_of_birth"
                " FROM historical.rider_contact(%s)",
                [user_id],
            ).fetchone()
    # heart rate over every reading with contact: the rides' sums over their counts
    with conn.cursor(row_factory=class_row(_Record)) as cur:
        done = cur.execute(
            """SELECT count(*) AS rides,
                      sum(heart_rate_sum)::float8 / nullif(sum(heart_rate_readings), 0)
                          AS heart_rate_avg,
                      sum(energy_kj) AS energy_kj,
                      (array_agg(ride_id ORDER BY started_at, ride_id))[1] AS first_id,
                      min(started_at) AS first_at,
                      (array_agg(ride_id ORDER BY started_at DESC, ride_id DESC))[1]
                          AS latest_id,
                      max(started_at) AS latest_at
               FROM historical.ride_summary WHERE user_id = %s""",
            [user_id],
        ).fetchone()
    assert done is not None  # an aggregate always gives a row
    return RiderRecord(
        user_id=user_id,
        **person._asdict(),
        rides=done.rides,
        heart_rate_avg=done.heart_rate_avg,
        energy_kj=done.energy_kj,
        first_ride=_ride_at(done.first_id, done.first_at),
        latest_ride=_ride_at(done.latest_id, done.latest_at),
        contact=private,
    )


def _ride_at(ride_id: int | None, at: dt.datetime | None) -> tuple[int, dt.datetime] | None:
    return None if ride_id is None or at is None else (ride_id, at)


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


def erase_rider(conn: Connection, user_id: int) -> Erasure:
    """Forget rider ``user_id`` everywhere (``historical.erase_rider``, migration 0015): their
    rows, name, contact details and account go from both schemas, and refused lines that
    carry them, whatever way those write their user id; their rides and alerts stay under a
    tombstone id, with gender and with age cut to the lower bound of its band (and a high
    alert's limit to that bound's), both rules the database's own so that no caller chooses
    them; the erasure is recorded, so that ingestion does not bring them back from lines that
    reached the broker before it. Refused while they ride; ``UNKNOWN`` when nothing of theirs
    was found, not even a refused line."""
    row = conn.execute("SELECT historical.erase_rider(%s)", [user_id]).fetchone()
    assert row is not None
    return Erasure(row[0])


class Ingestion(NamedTuple):
    """Where one source partition's ingestion stands."""

    source: str
    partition: int
    next_position: int | None
    committed_at: dt.datetime


def ingestion(conn: Connection) -> list[Ingestion]:
    """Each source partition's position and when it last moved."""
    with conn.cursor(row_factory=class_row(Ingestion)) as cur:
        return cur.execute(
            "SELECT source, partition, next_position, updated_at AS committed_at"
            " FROM daily.source_position ORDER BY source, partition"
        ).fetchall()


def newest_ride_end(conn: Connection) -> dt.datetime | None:
    """The last line of the most recently ended of the newest rides: when no ride is open, the
    newest reading the database holds (a ride ends at its last line)."""
    row = conn.execute(
        "SELECT max(ended_at) FROM (SELECT ended_at FROM daily.ride"
        " ORDER BY started_at DESC LIMIT 100) r"
    ).fetchone()
    return None if row is None else row[0]
