"""PostgreSQL side of compression and retention: set-based statements, each in a small
transaction of its own with a bounded lock wait, so that ingestion beside them never waits
more than a moment and a run killed at any point leaves the database consistent (every step
is done again, or found done, by the next run).

- A ride is summarised into ``historical.ride`` (its alerts copied into ``historical.alert``,
  its rider upserted into ``historical.rider``) and marked ``summarised_at``, in one
  transaction; summarising it again updates the same row.
- Detail leaves ``daily`` only for rides summarised and ended before the cutoff: an hourly
  partition holding nothing else is detached (concurrently: ingestion keeps writing to the
  parent) and dropped; otherwise only those rides' rows are deleted from it.
- Rows copied back from a detached partition are their rides', locked first, so that a ride
  deleted beside it is never copied back; a table a killed run left detached is finished
  by the next. A partition whose bounds cannot be read is named in a warning and skipped.
- A ride still open whose last reading is before the cutoff is closed at that reading first;
  if an ingest member's checkpoint still holds it, the checkpoint forgets it and its version
  moves, so that the member is fenced and reloads rather than write to a ride that is gone.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple, TypeVar

import psycopg
from psycopg import sql
from psycopg.rows import RowFactory, class_row, dict_row, tuple_row

from ..core.checkpoint import forget_rides
from . import figures
from .connection import Database, translate
from .locks import COMPRESSION as LOCK

log = logging.getLogger(__name__)

LOCK_TIMEOUT = "2s"  # the longest any statement here waits for a lock ingestion holds
_BOUND = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")
# The rides in a partition that must keep their detail: each distinct ride once (the
# partition's index gives them in order), not a lookup per row, since a partition holds a few
# hundred rides and a million readings. A reading whose ride is gone is kept for nothing.
_LIVE = sql.SQL("""
SELECT p.ride_id FROM (SELECT DISTINCT ride_id FROM {partition}) p
WHERE EXISTS (SELECT 1 FROM daily.ride d WHERE d.ride_id = p.ride_id
              AND NOT (d.summarised_at IS NOT NULL AND d.ended_at < %s))
LIMIT 1
""")
# The same rides, locked against a delete beside the copy-back: a ride deleted first is gone
# here, and a delete after waits for the copy and then finds the readings where it looks.
_LIVE_LOCKED = sql.SQL("""
SELECT d.ride_id FROM daily.ride d
WHERE d.ride_id IN (SELECT DISTINCT ride_id FROM {partition})
  AND NOT (d.summarised_at IS NOT NULL AND d.ended_at < %s)
FOR KEY SHARE OF d
""")
# the partition function makes no hour before this (migration 0008): older partitions are only
# ever trimmed, as their hour could not be made again for a copy-back
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_DETACHED = r"^reading_[0-9]{8}(_[0-9]{2})?$"  # what a detached hour (or day) is called
Row = TypeVar("Row")
Query = str | sql.Composed
# work done in a chunk's transaction beside its summaries: the connection, the rides' ids and
# the bounds of their readings
Beside = Callable[[psycopg.Connection[Any], list[int], dt.datetime, dt.datetime], None]
# work begun before a chunk's summaries are made, on no connection of the run's: the rides'
# ids and the bounds of their readings
Ahead = Callable[[list[int], dt.datetime, dt.datetime], None]


class Partition(NamedTuple):
    name: str
    lower: dt.datetime
    upper: dt.datetime
    bytes: int
    detaching: bool = False  # a run was killed inside its DETACH ... CONCURRENTLY


class RideSpan(NamedTuple):
    """A ride and where its readings begin and end."""

    ride_id: int
    started_at: dt.datetime
    ended_at: dt.datetime


class StaleRide(NamedTuple):
    """An open ride gone stale, and the time it is closed at (its last reading)."""

    ride_id: int
    closed_at: dt.datetime


def _partition(name: str) -> sql.Composed:
    return sql.Composed([sql.Identifier("daily", name)])


# A ride's own columns, as historical.ride keeps them beside its figures.
_RIDE = ("ride_id", "bike_serial", "user_id", "host", "started_at", "ended_at", "rider_gender",
         "rider_age")  # fmt: skip
_KEPT = (*_RIDE, *figures.FIGURES, "summarised_at")


def _names(columns: Sequence[str], table: str | None = None) -> sql.Composed:
    return sql.SQL(", ").join(
        sql.Identifier(*((table, name) if table else (name,))) for name in columns
    )


# Each ride summarised by daily.ride_figures over the readings of the whole chunk's span: the
# bounds are values, so that only the hours of the chunk are read.
_SUMMARISE = sql.SQL("""
WITH rides AS (
    -- locked, as the API's delete locks a ride: a ride deleted beside this summary is skipped
    SELECT {ride} FROM daily.ride
    WHERE ride_id = ANY(%(rides)s) AND ended_at IS NOT NULL FOR UPDATE
)
INSERT INTO historical.ride AS h ({kept})
SELECT {ride_r}, {figures_f}, now()
FROM rides r JOIN daily.ride_figures(%(rides)s::bigint[], %(lower)s, %(upper)s) f
     ON f.ride_id = r.ride_id
ON CONFLICT (ride_id) DO UPDATE SET ({updated}) = ROW({excluded})
""").format(
    ride=_names(_RIDE),
    kept=_names(_KEPT),
    ride_r=_names(_RIDE, "r"),
    figures_f=_names(figures.FIGURES, "f"),
    updated=_names(_KEPT[1:]),
    excluded=_names(_KEPT[1:], "excluded"),
)

_RIDERS = """
INSERT INTO historical.rider AS h
SELECT u.* FROM daily.rider u
WHERE u.user_id IN (SELECT user_id FROM daily.ride WHERE ride_id = ANY(%(rides)s))
ON CONFLICT (user_id) DO UPDATE SET
    title = EXCLUDED.title, first_name = EXCLUDED.first_name,
    last_name = EXCLUDED.last_name, gender = EXCLUDED.gender,
    gender_as_given = EXCLUDED.gender_as_given, date_of_birth = EXCLUDED.date_of_birth,
    email = EXCLUDED.email, house = EXCLUDED.house, street = EXCLUDED.street,
    city = EXCLUDED.city, postcode = EXCLUDED.postcode, height_cm = EXCLUDED.height_cm,
    weight_kg = EXCLUDED.weight_kg, account_created = EXCLUDED.account_created,
    original_source = EXCLUDED.original_source, seen_at = EXCLUDED.seen_at
WHERE h.seen_at <= EXCLUDED.seen_at
"""

_ALERTS = """
INSERT INTO historical.alert (alert_id, ride_id, user_id, kind, at, heart_rate,
                              heart_rate_limit, status, sent_at)
SELECT alert_id, ride_id, user_id, kind, at, heart_rate, heart_rate_limit, status, sent_at
FROM daily.alert WHERE ride_id = ANY(%(rides)s)
ON CONFLICT (alert_id) DO UPDATE SET status = EXCLUDED.status, sent_at = EXCLUDED.sent_at
"""


class CompressionRun:
    """The database session of one compression run: its statements, on a connection of its
    own, judged at ``now`` with detail kept for ``retention``."""

    def __init__(
        self,
        database: Database,
        now: dt.datetime,
        retention: dt.timedelta,
        dead_letter_retention: dt.timedelta,
    ) -> None:
        self.conn = database.connect(autocommit=True)
        self.conn.execute(sql.SQL("SET lock_timeout = {}").format(sql.Literal(LOCK_TIMEOUT)))
        self.now = now
        self.cutoff = now - retention
        self.dead_letter_cutoff = now - dead_letter_retention
        # a ride's readings lie from its start less this to its end
        self.reading_window = database.reading_window
        # no partition is detached concurrently while daily.reading has a default partition
        # (PostgreSQL refuses): old hours are then trimmed instead; ``partitions`` finds out
        self.detachable = True

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self.conn.transaction():
                yield self.conn
        except psycopg.Error as exc:
            raise translate(exc, "compression") from exc

    def _rows(self, query: Query, params: Any = None) -> list[tuple[Any, ...]]:
        return self._records(query, params, tuple_row)

    def _records(self, query: Query, params: Any, row_factory: RowFactory[Row]) -> list[Row]:
        try:
            with self.conn.cursor(row_factory=row_factory) as cur:
                return cur.execute(query, params).fetchall()
        except psycopg.Error as exc:
            raise translate(exc, "compression") from exc

    def lock(self) -> bool:
        """Whether this run may work: no other compression holds the lock (it is the
        connection's, so a run killed releases it)."""
        return bool(self._rows("SELECT pg_try_advisory_lock(%s::bigint)", [LOCK])[0][0])

    # --- open rides gone stale ----------------------------------------------------------------

    def stale_open_rides(self) -> list[StaleRide]:
        """Open rides whose newest reading (or start, before any) is before the cutoff, and
        the time each is closed at."""
        return self._records(
            """SELECT r.ride_id, coalesce(l.at, r.started_at) AS closed_at FROM daily.ride r
               LEFT JOIN LATERAL (SELECT max(at) AS at FROM daily.reading x
                                  WHERE x.ride_id = r.ride_id) l ON true
               WHERE r.ended_at IS NULL AND coalesce(l.at, r.started_at) < %s""",
            [self.cutoff],
            class_row(StaleRide),
        )

    def close_stale(self, rides: Sequence[StaleRide]) -> None:
        """Close ``rides`` at their last reading; any ingest checkpoint holding one forgets
        it and moves its version, fencing the member that wrote it."""
        ids = {ride.ride_id for ride in rides}
        with self._transaction() as conn:
            checkpoints = conn.execute(
                "SELECT source, partition, state FROM daily.source_position"
                " WHERE state IS NOT NULL FOR UPDATE"
            ).fetchall()
            for source, partition, state in checkpoints:
                kept = forget_rides(bytes(state), ids)
                if kept != bytes(state):
                    conn.execute(
                        "UPDATE daily.source_position SET state = %s, version = version + 1"
                        " WHERE source = %s AND partition = %s",
                        [kept, source, partition],
                    )
            conn.execute(
                "UPDATE daily.ride r SET ended_at = c.at"
                " FROM unnest(%s::bigint[], %s::timestamptz[]) AS c(ride_id, at)"
                " WHERE r.ride_id = c.ride_id AND r.ended_at IS NULL",
                [[ride.ride_id for ride in rides], [ride.closed_at for ride in rides]],
            )

    # --- summaries ----------------------------------------------------------------------------

    def unsummarised(self) -> list[RideSpan]:
        """Ended rides with no summary yet, by start."""
        return self._records(
            "SELECT ride_id, started_at, ended_at FROM daily.ride"
            " WHERE summarised_at IS NULL AND ended_at IS NOT NULL ORDER BY started_at, ride_id",
            None,
            class_row(RideSpan),
        )

    def summarise(
        self, rides: Sequence[RideSpan], also: Beside | None = None, ahead: Ahead | None = None
    ) -> None:
        """Summarise ``rides`` (a few thousand at a time) in one transaction, with ``also``
        (given the connection, the rides' ids and the bounds of their readings) in it;
        ``ahead`` (given the ids and bounds) is called first, to begin work of its own beside
        the summaries."""
        spans = [self._span(ride) for ride in rides]
        bounds = min(lower for lower, _ in spans), max(upper for _, upper in spans)
        ids = [ride.ride_id for ride in rides]
        params = {"rides": ids, "lower": bounds[0], "upper": bounds[1]}
        if ahead is not None:
            ahead(ids, *bounds)
        with self._transaction() as conn:
            # planned with the bounds known, never as a generic plan over every partition
            conn.execute(_SUMMARISE, params, prepare=False)
            conn.execute(_RIDERS, params)
            conn.execute(_ALERTS, params)
            conn.execute(
                "UPDATE daily.ride SET summarised_at = now() WHERE ride_id = ANY(%(rides)s)",
                params,
            )
            if also is not None:
                also(conn, ids, *bounds)

    def in_transaction(self, work: Callable[[psycopg.Connection[Any]], None]) -> None:
        """``work`` on the run's connection, in a transaction of its own."""
        with self._transaction() as conn:
            work(conn)

    def _span(self, ride: RideSpan) -> tuple[dt.datetime, dt.datetime]:
        return figures.bounds(ride.started_at, ride.ended_at, self.reading_window)

    def within(self, rides: Sequence[RideSpan], partition: Partition) -> list[int]:
        """Those of ``rides`` whose readings may lie in ``partition``."""
        found = []
        for ride in rides:
            lower, upper = self._span(ride)
            if lower < partition.upper and upper >= partition.lower:
                found.append(ride.ride_id)
        return found

    # --- retention ----------------------------------------------------------------------------

    def due_rides(self) -> list[RideSpan]:
        """Rides summarised and ended before the cutoff: their detail may go."""
        return self._records(
            "SELECT ride_id, started_at, ended_at FROM daily.ride"
            " WHERE summarised_at IS NOT NULL AND ended_at < %s ORDER BY started_at",
            [self.cutoff],
            class_row(RideSpan),
        )

    def partitions(self) -> list[Partition]:
        """The partitions of ``daily.reading`` that begin before the cutoff, oldest first. One
        whose bounds cannot be read (a default partition, the year 10000, an hour BC) is
        named in a warning and left alone: it never stops the run."""
        rows = self._records(
            """SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound,
                      pg_total_relation_size(c.oid) AS size, i.inhdetachpending AS detaching
               FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
               WHERE i.inhparent = 'daily.reading'::regclass""",
            None,
            dict_row,
        )
        found, odd = [], []
        self.detachable = "DEFAULT" not in {row["bound"] for row in rows}
        for row in rows:
            name, bound = row["name"], row["bound"]
            match = _BOUND.search(bound or "")
            try:
                if match is None:
                    raise ValueError
                lower, upper = (dt.datetime.fromisoformat(t) for t in match.groups())
            except ValueError:
                odd.append(f"daily.{name} ({(bound or 'no bounds')[:120]})")
                continue
            if lower < self.cutoff:
                found.append(Partition(name=name, lower=lower, upper=upper, bytes=int(row["size"]),
                                       detaching=bool(row["detaching"])))  # fmt: skip
        if odd:  # one line for all: they are there every run
            log.warning("skipping partitions whose bounds cannot be read: %s%s", "; ".join(odd),
                        "" if self.detachable else "; old hours are trimmed, not dropped, while"
                        " a default partition exists")  # fmt: skip
        return sorted(found, key=lambda p: p.lower)

    def holds_only_due(self, partition: Partition) -> bool:
        """Whether every reading in ``partition`` belongs to a ride summarised and ended
        before the cutoff (or to no ride at all: nothing to keep it for)."""
        return not self._rows(_LIVE.format(partition=_partition(partition.name)), [self.cutoff])

    def drop(self, partition: Partition) -> int:
        """Detach ``partition`` without blocking writers to the parent, then drop it, and
        return how many readings went with it. Rows a late writer put there after the check
        are moved back first."""
        # outside any transaction block, as CONCURRENTLY requires; a detach a killed run left
        # half done is finished instead (it cannot be started again)
        how = sql.SQL("FINALIZE" if partition.detaching else "CONCURRENTLY")
        self._execute(
            sql.SQL("ALTER TABLE daily.reading DETACH PARTITION {} {}").format(
                _partition(partition.name), how
            )
        )
        return self.finish_detached(partition.name)

    def detached(self) -> list[str]:
        """Reading tables no longer attached: a run was killed between detaching and
        dropping them."""
        return [
            name
            for (name,) in self._rows(
                """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE n.nspname = 'daily' AND c.relkind = 'r' AND NOT c.relispartition
                     AND c.relname ~ %s ORDER BY c.relname""",
                [_DETACHED],
            )
        ]

    def finish_detached(self, name: str) -> int:
        """Move the readings of rides still kept in daily from the detached table ``name``
        back into ``daily.reading``, drop it, and return how many readings went with it."""
        with self._transaction() as conn:
            # out of the way first: while it holds its hour's name, the partition function
            # takes the hour for made and the rows would find no partition
            moving = f"{name}_moving"
            conn.execute(
                sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                    _partition(name), sql.Identifier(moving)
                )
            )
            table = _partition(moving)
            live = [
                ride
                for (ride,) in conn.execute(
                    _LIVE_LOCKED.format(partition=table), [self.cutoff]
                ).fetchall()
            ]
            total = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()
            moved = 0
            if live:
                hours = conn.execute(
                    sql.SQL(
                        "SELECT DISTINCT date_trunc('hour', at) FROM {} WHERE ride_id = ANY(%s)"
                    ).format(table),
                    [live],
                ).fetchall()
                for (hour,) in hours:
                    conn.execute("SELECT daily.ensure_reading_partition(%s)", [hour])
                moved = conn.execute(
                    sql.SQL(
                        "INSERT INTO daily.reading SELECT * FROM {} WHERE ride_id = ANY(%s)"
                    ).format(table),
                    [live],
                ).rowcount
            conn.execute(sql.SQL("DROP TABLE {}").format(table))
        return (int(total[0]) if total else 0) - moved

    def _execute(self, statement: Query) -> None:
        try:
            self.conn.execute(statement)
        except psycopg.Error as exc:
            raise translate(exc, "compression") from exc

    def trim(self, partition: Partition, rides: Sequence[int]) -> int:
        """Delete the readings of ``rides`` from ``partition``; return how many."""
        with self._transaction() as conn:
            cur = conn.execute(
                sql.SQL("DELETE FROM {} WHERE ride_id = ANY(%s)").format(
                    _partition(partition.name)
                ),
                [list(rides)],
            )
            return cur.rowcount

    def remove_rides(self, rides: Sequence[int]) -> None:
        """The rows of ``rides`` left in daily once their readings are gone, and riders with
        no ride left there."""
        with self._transaction() as conn:
            conn.execute("DELETE FROM daily.alert WHERE ride_id = ANY(%s)", [list(rides)])
            conn.execute("DELETE FROM daily.ride WHERE ride_id = ANY(%s)", [list(rides)])

    def remove_idle_riders(self) -> int:
        with self._transaction() as conn:
            cur = conn.execute(
                "DELETE FROM daily.rider u"
                " WHERE NOT EXISTS (SELECT 1 FROM daily.ride r WHERE r.user_id = u.user_id)"
            )
            return cur.rowcount

    def remove_old_dead_letters(self) -> int:
        with self._transaction() as conn:
            cur = conn.execute(
                "DELETE FROM daily.dead_letter WHERE received_at < %s", [self.dead_letter_cutoff]
            )
            return cur.rowcount

    def daily_bytes(self) -> int:
        return int(
            self._rows(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'daily' AND c.relkind IN ('r', 'p')"
            )[0][0]
        )
