"""PostgreSQL side of ingestion: each batch of rows, with the source positions that account for
them, in one transaction.

Positions move first, by compare-and-set: if another process moved a position since we read it
(a rebalance we missed, a zombie member), the transaction rolls back with ``FencedError`` and
nothing is stored twice; if the position already stands where this batch would take it, with
this very state, an earlier attempt did commit (the connection dropped during COMMIT) and the
batch is not written again. Readings then go in by binary COPY, packed here with ``struct`` (the
fastest way from Python), into ``daily.reading``'s hourly partitions: those the batch's
readings fall in, and the next hour ahead, each created idempotently even when several members
meet a new hour together. A dead letter keeps at most ``dead_letter_max_bytes`` of its value,
with the value's length and SHA-256; one that may hold a rider's personal data keeps its
length alone. No batch stores a rider, or a line of theirs, from before their erasure
(``_not_erased``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import struct
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from ..core.batch import AlertRow, Batch, DeadLetter, NewRide, ReadingRow
from ..core.ports import Checkpoints, Positions
from ..core.privacy import may_hold_rider_data
from ..core.records import RiderLine, from_datetime, to_datetime
from ..core.summaries import Tally, newest_and_tallies
from ..core.training import ZoneSeconds, max_hr
from ..errors import FencedError, RejectedData, TransientError
from .connection import Database, translate

log = logging.getLogger(__name__)

_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01, where PostgreSQL counts time from
_HOUR_US = 3_600_000_000
# A batch needing more new partitions than this is refused as if the data were bad, so that its
# messages are written again in halves: no transaction ever creates hundreds of tables (and
# runs out of locks) because of lines stamped across the years.
MAX_NEW_PARTITIONS = 64
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)
_FULL_READING = struct.Struct(">hiqiqidiiiiiiid")
_NULL = struct.pack(">i", -1)
_FIELD = (
    (struct.Struct(">iq"), 8),
    (struct.Struct(">iq"), 8),
    (struct.Struct(">id"), 8),
    (struct.Struct(">ii"), 4),
    (struct.Struct(">ii"), 4),
    (struct.Struct(">ii"), 4),
    (struct.Struct(">id"), 8),
)


def pack_readings(readings: Iterable[ReadingRow]) -> bytes:
    """The binary COPY stream of ``daily.reading`` rows (ride_id, at, duration, resistance,
    heart_rate, rpm, power); ``at`` in epoch microseconds."""
    pack = _FULL_READING.pack
    parts = [_COPY_HEADER]
    append = parts.append
    for ride_id, at, duration, resistance, hrt, rpm, power in readings:
        if duration is not None and hrt is not None:
            append(
                pack(
                    7,
                    8,
                    ride_id,
                    8,
                    at - _PG_EPOCH_US,
                    8,
                    duration,
                    4,
                    resistance,
                    4,
                    hrt,
                    4,
                    rpm,
                    8,
                    power,
                )
            )
        else:  # a half reading: pack field by field, with NULLs
            values = (ride_id, at - _PG_EPOCH_US, duration, resistance, hrt, rpm, power)
            append(b"\x00\x07")
            for (field, size), value in zip(_FIELD, values, strict=True):
                append(_NULL if value is None else field.pack(size, value))
    append(_COPY_TRAILER)
    return b"".join(parts)


# A temporary table of the connection's own, to take each batch's newest reading and tally of
# each ride by one binary COPY: no parameter list of tens of thousands of values to adapt.
# Ingestion makes it once a connection, outside any batch (a batch rolled back would take away
# a table made in it); made in every batch, "IF NOT EXISTS" and its notice took 7% of each
# write's time at 12,000 bikes in real time (py-spy, benchmarks/capacity.py).
_LATEST_TABLE = """CREATE TEMPORARY TABLE IF NOT EXISTS batch_latest (
    ride_id bigint, at timestamptz, duration double precision, resistance integer,
    heart_rate integer, rpm integer, power double precision,
    readings integer, power_sum double precision, power_readings integer,
    resistance_sum bigint, resistance_readings integer, hr_zone1_s integer,
    hr_zone2_s integer, hr_zone3_s integer, hr_zone4_s integer, hr_zone5_s integer)
    ON COMMIT DELETE ROWS"""
_FULL_LATEST = struct.Struct(_FULL_READING.format + "iiidiiiqii" + "ii" * 5)
_TALLY = struct.Struct(">iiidiiiqii" + "ii" * 5)

# A ride's newest reading replaces an older one kept for it; its batch's tally adds to its
# running tally, which stays whole only while the newest reading counted is the newest kept
# (migration 0026: a writer that does not count moves one without the other).
_NEWER = "CASE WHEN b.at IS NULL OR n.at >= b.at THEN n.{0} ELSE b.{0} END"
_NOTE_LATEST = (
    "UPDATE daily.bike_latest b SET "
    + ", ".join(
        f"{column} = " + _NEWER.format(column)
        for column in ("at", "duration", "resistance", "heart_rate", "rpm", "power")
    )
    + """,
    readings = b.readings + n.readings, power_sum = b.power_sum + n.power_sum,
    power_readings = b.power_readings + n.power_readings,
    resistance_sum = b.resistance_sum + n.resistance_sum,
    resistance_readings = b.resistance_readings + n.resistance_readings,
    hr_zone1_s = b.hr_zone1_s + n.hr_zone1_s, hr_zone2_s = b.hr_zone2_s + n.hr_zone2_s,
    hr_zone3_s = b.hr_zone3_s + n.hr_zone3_s, hr_zone4_s = b.hr_zone4_s + n.hr_zone4_s,
    hr_zone5_s = b.hr_zone5_s + n.hr_zone5_s, zoned_readings = b.zoned_readings + n.readings,
    tallied_at = greatest(b.tallied_at, n.at),
    tally_whole = b.tally_whole AND b.tallied_at IS NOT DISTINCT FROM b.at,
    changed = pg_current_xact_id()
FROM batch_latest n
WHERE b.ride_id = n.ride_id"""
)


def pack_latest(found: Iterable[tuple[ReadingRow, Tally, ZoneSeconds]]) -> bytes:
    """The binary COPY stream of ``batch_latest`` rows: each ride's newest reading (as
    ``pack_readings`` packs it, ``at`` in epoch microseconds) followed by its tally, whose
    newest reading counted is that one, and its seconds in each heart-rate zone."""
    full, tally = _FULL_LATEST.pack, _TALLY.pack
    parts = [_COPY_HEADER]
    append = parts.append
    for (ride_id, at, duration, resistance, hrt, rpm, power), t, (z1, z2, z3, z4, z5) in found:
        counted = (4, t.readings, 8, t.power_sum, 4, t.power_readings,
                   8, int(t.resistance_sum), 4, t.resistance_readings,
                   4, z1, 4, z2, 4, z3, 4, z4, 4, z5)  # fmt: skip
        if duration is not None and hrt is not None:
            append(full(17, 8, ride_id, 8, at - _PG_EPOCH_US, 8, duration, 4, resistance,
                        4, hrt, 4, rpm, 8, power, *counted))  # fmt: skip
            continue
        # a half reading: its fields one by one, with NULLs
        values = (ride_id, at - _PG_EPOCH_US, duration, resistance, hrt, rpm, power)
        append(b"\x00\x11")
        for (field, size), value in zip(_FIELD, values, strict=True):
            append(_NULL if value is None else field.pack(size, value))
        append(tally(*counted))
    append(_COPY_TRAILER)
    return b"".join(parts)


def max_hrs_of(
    conn: psycopg.Connection[Any], ride_ids: Collection[int], known: Mapping[int, int | None]
) -> dict[int, int | None]:
    """The maximum heart rate (``core.training.max_hr``, None for an unknown age) of the rider
    of each of ``ride_ids`` at its start: from ``known`` where it is there, else from the
    age ``daily.ride`` keeps (none for a ride not there)."""
    found = {ride: known[ride] for ride in ride_ids if ride in known}
    missing = [ride for ride in ride_ids if ride not in found]
    if missing:
        rows = conn.execute(
            "SELECT ride_id, rider_age FROM daily.ride WHERE ride_id = ANY(%s)", [missing]
        ).fetchall()
        found.update((ride_id, max_hr(age)) for ride_id, age in rows)
    return found


def note_latest(
    conn: psycopg.Connection[Any],
    readings: Sequence[ReadingRow],
    table_made: bool = False,
    known: Mapping[int, int | None] | None = None,
) -> dict[int, int | None]:
    """Bring ``daily.bike_latest`` (migrations 0023, 0026, 0027) up to ``readings``, in the
    caller's transaction: each ride's newest reading replaces an older one kept for it, and
    the tally of its readings here (their seconds in each heart-rate zone among it) adds to
    its running tally. A ride that is not its bike's newest keeps nothing there.
    ``table_made``: ``conn`` already holds the temporary table (made by ``_LATEST_TABLE``
    outside a transaction); else it is made here, in the caller's. ``known``: riders' maximum
    heart rates known for some rides (``max_hrs_of``); returns those of the rides here."""
    maxima = max_hrs_of(conn, {row[0] for row in readings}, known or {})
    found = newest_and_tallies(readings, maxima)
    if not found:
        return maxima
    if not table_made:
        conn.execute(_LATEST_TABLE)
    with conn.cursor() as cur:
        with cur.copy("COPY batch_latest FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(pack_latest(found))
        # Members of a group write disjoint bikes (a bike's messages have one partition); were
        # two to meet the same rows in two orders around a rebalance, PostgreSQL's deadlock
        # error is transient (connection.translate) and the batch is written again.
        cur.execute(_NOTE_LATEST)
    return maxima


def _copy_rows(
    conn: psycopg.Connection[Any],
    table: tuple[str, str],
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
) -> None:
    """Text COPY of ``rows`` into ``columns`` of ``table`` (schema, name): for the few rows of a
    batch that are not readings."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(*table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def dead_letter_row(source: str, letter: DeadLetter, max_bytes: int) -> tuple[Any, ...]:
    """A ``daily.dead_letter`` row: at most ``max_bytes`` of the key and the value, with the
    value's whole length and SHA-256, so a flood of huge messages cannot fill the database.
    A value that may hold a rider's personal data (``may_hold_rider_data``) keeps its length
    alone: neither its bytes nor a hash that would confirm a guess of them."""
    value = letter.value
    personal = may_hold_rider_data(value)
    return (
        source,
        letter.partition,
        letter.position,
        None if letter.key is None else letter.key[:max_bytes],
        None if value is None or personal else value[:max_bytes],
        None if value is None else len(value),
        None if value is None or personal else hashlib.sha256(value).digest(),
        letter.reason[:500],
    )


def _no_partition(exc: RejectedData) -> bool:
    """Whether PostgreSQL refused a row for want of a partition to hold it (a check
    violation, as a broken CHECK is too, so the message tells them apart)."""
    cause = exc.__cause__
    return isinstance(cause, psycopg.errors.CheckViolation) and (
        cause.diag.message_primary or ""
    ).startswith("no partition of relation")


def _not_erased(
    batch: Batch, erased: dict[int, int], margin: int | None
) -> tuple[list[RiderLine], list[NewRide], list[AlertRow]]:
    """``batch``'s riders, new rides and alerts, but what lines that reached the broker before
    their rider's erasure (``erased``: when, by user id) would bring back: such a [SYSTEM]
    line stores no rider, its ride is an unknown rider's (no user id, gender or age) and its
    alerts go. Only a line that reached the broker after the erasure is a new visit, stored
    as any other; the line's own time is the bike's clock and decides nothing (a fast one
    dated a line held in the topic since before the erasure after it). A broker timestamp
    of ``CreateTime`` is the producer's clock, which the broker lets run ``margin`` ahead of
    its own (Kafka's message.timestamp.after.max.ms): only a line stamped more than
    ``margin`` after the erasure surely reached the broker after it; with no margin (None:
    the topic lets producers stamp further ahead, or would not say), no broker time proves
    that, and no line brings an erased rider back. A line with no broker
    time (a replayed dump of bare values, a checkpoint from before broker times were kept)
    never brings an erased rider back: a dump is the past, and only the live topic can
    say that a rider came back. The same lines and the same erasures give the same rows, on
    a replay too."""
    riders = list(batch.riders.values())
    if not erased:
        return riders, batch.new_rides, batch.alerts

    def held(user_id: int | None, named_at: int | None) -> bool:
        """Whether a ride of ``user_id`` named at ``named_at`` is from before their erasure."""
        erased_at = erased.get(user_id) if user_id is not None else None
        return erased_at is not None and (
            named_at is None or margin is None or named_at - margin <= erased_at
        )

    rides = [r._replace(user_id=None, rider_gender=None, rider_age=None)
             if held(r.user_id, r.named_at) else r for r in batch.new_rides]  # fmt: skip
    # an erased rider who came back: their newest line (by the bike's clock, as for anyone)
    # among those that reached the broker after the erasure, never one held from before it
    back: dict[int, RiderLine] = {}
    for line, named_at in batch.rider_lines:
        if line.user_id in erased and not held(line.user_id, named_at):
            known = back.get(line.user_id)
            if known is None or known.at <= line.at:
                back[line.user_id] = line
    return (
        [r for r in riders if r.user_id not in erased] + list(back.values()),
        rides,
        [a for a in batch.alerts if not held(a.user_id, a.named_at)],
    )


def _stored(row: dict[str, Any]) -> tuple[int | None, bytes | None]:
    """A partition's stored position and checkpoint, as read by name."""
    state = row["state"]
    return row["next_position"], None if state is None else bytes(state)


class _AlreadyMoved(Exception):
    """Some position did not move from where this batch expected it: roll back, then see why."""


class PostgresStore:
    """One connection to PostgreSQL for one ingest process; reconnects after failures."""

    def __init__(
        self,
        database: Database,
        dead_letter_max_bytes: int = 64 * 1024,
        max_clock_skew_us: int = 86_400 * 1_000_000,
        *,
        broker_time_margin_us: int | None = 3_600 * 1_000_000,
    ) -> None:
        self.database = database
        self.dead_letter_max_bytes = dead_letter_max_bytes
        # the partition function refuses hours later than now plus this (migration 0008)
        self.max_skew = dt.timedelta(microseconds=max_clock_skew_us)
        # how far a broker timestamp may be ahead of the message's arrival (_not_erased);
        # None: broker times never show that a line came after an erasure
        self.broker_time_margin_us = broker_time_margin_us
        self._conn: psycopg.Connection[Any] | None = None
        self._hours: set[int] = set()  # partitions known to exist, as hours since the epoch
        # each claimed partition's version: compression bumps it when it takes a ride out of
        # a checkpoint, and a write that expects the old one is fenced
        self._versions: dict[tuple[str, int], int] = {}
        self._ids: Iterator[int] = iter(())
        # ride ids are handed out on the parsing thread while the writer thread holds a
        # transaction open on the main connection, so they get a connection of their own
        self._id_conn: psycopg.Connection[Any] | None = None
        # the riders' maximum heart rates of the rides in the last batch (note_latest)
        self._max_hrs: dict[int, int | None] = {}

    @property
    def conn(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            conn = self.database.connect(autocommit=True)
            try:
                conn.execute(_LATEST_TABLE)  # autocommit: the session keeps it
            except psycopg.Error as exc:
                conn.close()
                raise translate(exc) from exc
            self._conn = conn
            self._hours.clear()
        return self._conn

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        conn = self.conn
        try:
            with conn.transaction():
                yield conn
        except psycopg.Error as exc:
            if conn.broken or isinstance(exc, psycopg.OperationalError):
                conn.close()
                self._conn = None
            raise translate(exc) from exc

    def close(self) -> None:
        for conn in (self._conn, self._id_conn):
            if conn is not None:
                conn.close()
        self._conn = self._id_conn = None

    def interrupt(self) -> None:
        """Cancel the statement under way on the write connection (from another thread)."""
        conn = self._conn
        if conn is not None and not conn.closed:
            try:
                conn.cancel_safe(timeout=2.0)
            except psycopg.Error as exc:
                log.warning("could not cancel the write under way: %s", translate(exc))

    def new_ride_id(self) -> int:
        """The next ride id, fetched from the sequence a thousand at a time."""
        ride_id = next(self._ids, None)
        if ride_id is None:
            try:
                if self._id_conn is None or self._id_conn.closed:
                    self._id_conn = self.database.connect(autocommit=True)
                ids = self._id_conn.execute(
                    "SELECT nextval('daily.ride_id_seq') FROM generate_series(1, 1000)"
                ).fetchall()
            except psycopg.Error as exc:
                if self._id_conn is not None:
                    self._id_conn.close()
                raise translate(exc) from exc
            self._ids = iter(row[0] for row in ids)
            ride_id = next(self._ids)
        return ride_id

    def claim(
        self, source: str, partitions: list[int]
    ) -> dict[int, tuple[int | None, bytes | None]]:
        """Position and state of each partition, creating rows for partitions never seen."""
        with self._transaction() as conn:
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO daily.source_position (source, partition) VALUES (%s, %s)"
                    " ON CONFLICT DO NOTHING",
                    [(source, p) for p in partitions],
                )
            with conn.cursor(row_factory=dict_row) as cur:
                rows = cur.execute(
                    "SELECT partition, next_position, state, version FROM daily.source_position"
                    " WHERE source = %s AND partition = ANY(%s)",
                    [source, partitions],
                ).fetchall()
        for row in rows:
            self._versions[(source, row["partition"])] = row["version"]
        return {row["partition"]: _stored(row) for row in rows}

    def write(
        self, source: str, batch: Batch, checkpoints: Checkpoints, expected: Positions
    ) -> None:
        """Store ``batch`` and move each partition from ``expected`` to its new position, all
        or nothing. Raises ``FencedError`` if a position is not where we left it."""
        new_hours: set[int] = set()
        try:
            with self._transaction() as conn:
                self._move_positions(conn, source, batch, checkpoints, expected)
                riders, new_rides, alerts = _not_erased(
                    batch, self._erasures(conn, batch), self.broker_time_margin_us
                )
                if riders:
                    self._upsert_riders(conn, riders)
                if new_rides:
                    _copy_rows(
                        conn,
                        ("daily", "ride"),
                        ("ride_id", "bike_serial", "user_id", "started_at", "host",
                         "rider_gender", "rider_age"),
                        (
                            (r.ride_id, r.bike_serial, r.user_id, to_datetime(r.started_at),
                             r.host, r.rider_gender, r.rider_age)
                            for r in new_rides
                        ),
                    )  # fmt: skip
                if batch.ended_rides:
                    conn.execute(
                        "UPDATE daily.ride r SET ended_at = e.ended_at"
                        " FROM unnest(%s::bigint[], %s::timestamptz[]) AS e(ride_id, ended_at)"
                        " WHERE r.ride_id = e.ride_id",
                        [
                            [end.ride_id for end in batch.ended_rides],
                            [to_datetime(end.ended_at) for end in batch.ended_rides],
                        ],
                    )
                if batch.readings:
                    new_hours = self._ensure_hours(conn, batch.readings)
                    with (
                        conn.cursor() as cur,
                        cur.copy(
                            "COPY daily.reading (ride_id, at, duration, resistance, heart_rate,"
                            " rpm, power) FROM STDIN (FORMAT BINARY)"
                        ) as copy,
                    ):
                        copy.write(pack_readings(batch.readings))
                    # the maxima of the rides riding now, kept for the next batch's: a ride
                    # absent from a batch is looked up again when it comes back
                    self._max_hrs = note_latest(
                        conn, batch.readings, table_made=True, known=self._max_hrs
                    )
                if alerts:
                    with conn.cursor() as cur:
                        cur.executemany(
                            "INSERT INTO daily.alert (ride_id, user_id, kind, at, heart_rate,"
                            " heart_rate_limit) VALUES (%s, %s, %s, %s, %s, %s)"
                            " ON CONFLICT (ride_id, kind) DO NOTHING",
                            [
                                (a.ride_id, a.user_id, a.kind, to_datetime(a.at), a.heart_rate,
                                 a.limit)
                                for a in alerts
                            ],
                        )  # fmt: skip
                if batch.dead_letters:
                    _copy_rows(
                        conn,
                        ("daily", "dead_letter"),
                        (
                            "source",
                            "partition",
                            "position",
                            "key",
                            "value",
                            "value_length",
                            "value_sha256",
                            "reason",
                        ),
                        (
                            dead_letter_row(source, letter, self.dead_letter_max_bytes)
                            for letter in batch.dead_letters
                        ),
                    )
        except RejectedData as exc:
            if _no_partition(exc):  # compression dropped the hour this row belongs in
                self._hours.clear()  # so the next attempt creates it again
                raise TransientError(f"{source}: a partition went away; creating it again") from exc
            raise
        except (struct.error, OverflowError, ValueError, UnicodeEncodeError) as exc:
            # a value the parser should have refused: the data's fault, found by halving
            raise RejectedData(f"could not encode the batch ({type(exc).__name__})", None) from exc
        except _AlreadyMoved:
            if self._stands_at(source, batch.positions, checkpoints):
                log.warning("%s: batch found already stored (its commit was in doubt)", source)
                return
            raise FencedError(f"{source}: a partition moved under us; reloading it") from None
        # known only once committed: a rollback undoes the partitions' DDL too
        self._hours |= new_hours

    def _move_positions(
        self,
        conn: psycopg.Connection[Any],
        source: str,
        batch: Batch,
        checkpoints: Checkpoints,
        expected: Positions,
    ) -> None:
        """Move every partition of the batch from where we expect it, first, so that the rows
        after it are written only by the owner of these positions."""
        with conn.cursor() as cur:
            for partition, position in batch.positions.items():
                cur.execute(
                    "UPDATE daily.source_position"
                    " SET next_position = %s, state = %s, updated_at = now()"
                    " WHERE source = %s AND partition = %s"
                    " AND next_position IS NOT DISTINCT FROM %s AND version = %s",
                    [
                        position,
                        checkpoints[partition],
                        source,
                        partition,
                        expected.get(partition),
                        self._versions.get((source, partition), 0),
                    ],
                )
                if cur.rowcount != 1:
                    raise _AlreadyMoved

    def _stands_at(self, source: str, positions: dict[int, int], checkpoints: Checkpoints) -> bool:
        """Whether every partition already stands where the batch would take it, with the very
        checkpoint it would store: then it was this batch, committed by an attempt in doubt."""
        try:
            with self.conn.cursor(row_factory=dict_row) as cur:
                rows = cur.execute(
                    "SELECT partition, next_position, state FROM daily.source_position"
                    " WHERE source = %s AND partition = ANY(%s)",
                    [source, list(positions)],
                ).fetchall()
        except psycopg.Error as exc:
            raise translate(exc) from exc
        stored = {row["partition"]: _stored(row) for row in rows}
        return all(stored.get(p) == (pos, checkpoints[p]) for p, pos in positions.items())

    def _erasures(self, conn: psycopg.Connection[Any], batch: Batch) -> dict[int, int]:
        """When each erased rider of ``batch`` was erased (epoch microseconds), by user id.

        Asked only of a batch with riders, new rides, alerts or dead letters (a [SYSTEM]
        line, a ride's start, an alert, a refused message), never per reading, in one round
        trip (``daily.erased_among``, migration 0012), which takes the rider table's lock
        first: an erasure holds it until it commits, so a batch either commits before the
        erasure (which then erases what it stored) or sees it. A batch of dead letters alone
        asks about no one but takes the lock all the same, so that no write of anything the
        erasure removes goes around it (a refused line keeps no byte that could name a rider
        anyway: ``dead_letter_row``)."""
        ids = {r.user_id for r in batch.riders.values()}
        ids.update(r.user_id for r in batch.new_rides if r.user_id is not None)
        ids.update(a.user_id for a in batch.alerts)
        if not ids and not batch.dead_letters:
            return {}
        with conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(
                "SELECT user_id, erased_at FROM daily.erased_among(%s)", [sorted(ids)]
            ).fetchall()
        return {row["user_id"]: from_datetime(row["erased_at"]) for row in rows}

    def _upsert_riders(self, conn: psycopg.Connection[Any], riders: Iterable[RiderLine]) -> None:
        rows = []
        for r in riders:
            names = r.names
            address = r.address_parts
            rows.append(
                (
                    r.user_id,
                    names.title,
                    names.first_name,
                    names.last_name,
                    r.gender_kind,
                    r.gender,
                    r.date_of_birth,
                    r.email,
                    *address,
                    r.height_cm,
                    r.weight_kg,
                    r.account_created,
                    r.original_source,
                    to_datetime(r.at),
                )
            )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO daily.rider (user_id, title, first_name, last_name, gender,"
                " gender_as_given, date_of_birth, email, house, street, city, postcode,"
                " height_cm, weight_kg, account_created, original_source, seen_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (user_id) DO UPDATE SET title = EXCLUDED.title,"
                " first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name,"
                " gender = EXCLUDED.gender, gender_as_given = EXCLUDED.gender_as_given,"
                " date_of_birth = EXCLUDED.date_of_birth, email = EXCLUDED.email,"
                " house = EXCLUDED.house, street = EXCLUDED.street, city = EXCLUDED.city,"
                " postcode = EXCLUDED.postcode, height_cm = EXCLUDED.height_cm,"
                " weight_kg = EXCLUDED.weight_kg, account_created = EXCLUDED.account_created,"
                " original_source = EXCLUDED.original_source, seen_at = EXCLUDED.seen_at"
                " WHERE daily.rider.seen_at <= EXCLUDED.seen_at",
                rows,
            )

    def _ensure_hours(self, conn: psycopg.Connection[Any], readings: list[ReadingRow]) -> set[int]:
        """Create the hourly partitions these readings fall in, and the hour after the last of
        them, so that members usually find the next hour ready; return the hours created.

        An hour the partition function refuses (before 2000, or beyond now plus the clock
        skew allowed) is the data's fault: ``RejectedData``, and the message is found. The
        hour ahead is only a courtesy: refused, it is simply not made."""
        hours = {r.at // _HOUR_US for r in readings}
        ahead = max(hours) + 1
        missing = (hours - self._hours) | ({ahead} - self._hours)
        if len(missing) > MAX_NEW_PARTITIONS:
            raise RejectedData(
                f"a batch spans {len(missing)} new hours of readings (at most"
                f" {MAX_NEW_PARTITIONS} at once)",
                None,
            )
        ensure = "SELECT daily.ensure_reading_partition(to_timestamp(%s * 3600), %s)"
        for hour in sorted(missing):
            if hour in hours:
                conn.execute(ensure, [hour, self.max_skew])
                continue
            try:
                with conn.transaction():  # a savepoint: the batch outlives a refusal
                    conn.execute(ensure, [hour, self.max_skew])
            except psycopg.errors.DatetimeFieldOverflow:
                missing.discard(hour)
        return missing
