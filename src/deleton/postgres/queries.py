"""Read side of the daily schema, for the live dashboard (and the fleet for the API).

Every query here is bounded by an index and by what the caller will show, or by what
changed: one bike's newest ride (``ride_bike_started``), one ride's readings after a point
(``reading_ride_at``, which also prunes hour partitions), each bike's newest ride and reading
changed since the last look (``daily.bike_latest``, one row a bike, migration 0023), rides
started since a moment (``ride_started``) and their readings since the last counted. None of
them reads a large table whole, so their cost does not grow with ``daily.reading``. Birth
dates stay in the database: queries return ages, at ride start, as the alert rules use them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row, kwargs_row

from ..cached import SharedView
from ..core import leaderboard
from ..core.fleet_status import MISSING, NO_AGE, NO_TIME, FleetStatus, OpenRides
from ..core.readings import LatestReading, RideSeries
from ..core.records import from_datetime, to_datetime
from ..core.summaries import RideFacts, Tally
from .arrays import as_numpy
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
# A time as µs since the epoch, counted by the server where tens of thousands of rows are read
# at once (Python's datetimes then cost more than the read). In double precision (date_part):
# exact to the µs until about 2100, as the seconds' rounding error stays under a quarter of a
# µs; and at 50,000 rows 12 ms cheaper than extract, which counts in numeric.
EPOCH_US = "(date_part('epoch', {}) * 1e6)::int8"


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


def open_rides(conn: Connection) -> OpenRides:
    """Every bike's newest ride if it is open, with its newest reading: read whole from
    ``daily.bike_latest`` (migration 0023). ``FleetReader`` reads only what changed."""
    return FleetReader().read(conn)


# What the fleet reads of each bike whose row changed since the mark (all of them without
# one), with the mark for next time: the oldest transaction still running as the statement
# began. As one row of arrays, a column each (one row even when nothing changed: the arrays
# are then null), with no null inside them (OpenRides' NO_TIME, MISSING and NaN instead):
# at 50,000 bikes a second, a row a bike and Python's datetimes cost more than the read.
# Times come as µs since the epoch, counted by the server (EPOCH_US).
_CHANGED = f"""
SELECT (SELECT pg_snapshot_xmin(pg_current_snapshot())::text),
       array_agg(b.bike_serial), array_agg(b.ride_id), array_agg(b.ended_at IS NOT NULL),
       array_agg({EPOCH_US.format("b.started_at")}),
       array_agg(coalesce({EPOCH_US.format("b.at")}, {NO_TIME})),
       array_agg(coalesce(b.duration, 'NaN')), array_agg(coalesce(b.heart_rate, {MISSING})),
       array_agg(coalesce(b.power, 'NaN')), array_agg(coalesce(b.resistance, {MISSING})),
       array_agg(coalesce(b.rpm, {MISSING})),
       -- the running tally's energy and zones where whole (migrations 0026, 0027)
       array_agg(CASE WHEN b.tally_whole AND b.tallied_at IS NOT DISTINCT FROM b.at
                      THEN b.power_sum ELSE 'NaN' END),
       array_agg(CASE WHEN b.zoned_readings = b.readings
                      THEN ARRAY[b.hr_zone1_s, b.hr_zone2_s, b.hr_zone3_s, b.hr_zone4_s,
                                 b.hr_zone5_s]
                      ELSE '{{{",".join([str(MISSING)] * 5)}}}'::int[] END)
FROM daily.bike_latest b WHERE %(mark)s::xid8 IS NULL OR b.changed >= %(mark)s::xid8
"""
# OpenRides' columns as _CHANGED reads them, in its order after the mark and the serial (the
# rider's name and age come from _RIDERS)
_READ = ("ride_id", "ended", "started_at", "at", "duration", "heart_rate", "power",
         "resistance", "rpm", "energy_j", "zone_seconds")  # fmt: skip
_TYPES = {"duration": np.float64, "power": np.float64, "ended": np.bool_, "energy_j": np.float64}
_ZONES = 5  # zone_seconds' columns: seconds in zones 1 to 5
# who rides the rides the fleet has not met yet
_RIDERS = f"""
SELECT r.ride_id, u.first_name, left(u.last_name, 1), {_AGE}
FROM daily.ride r LEFT JOIN daily.rider u ON u.user_id = r.user_id
WHERE r.ride_id = ANY(%s)
"""


class FleetReader:
    """Reads the fleet's snapshots (the fleet as one read finds it): every bike's newest ride
    while it is open, with its newest reading, kept up to date by reading only the bikes
    whose row of ``daily.bike_latest`` changed since the last read (migration 0023 says why
    none is missed), and the rider of each ride once. The cost of a read follows what
    changed, not the size of the fleet or of the tables.

    It keeps the fleet as columns, a slot a bike (its row in every array), so that a read
    writes what changed into them with a few array operations and hands out a copy of the
    open rides: no Python object a bike.

    Every ``resync`` reads, it reads every row afresh instead: a row gone without its change
    being seen (its ride ended and was deleted between two reads) then leaves too. Not for
    concurrent use (one ``SharedView`` rebuilds it, one read at a time); after a read that
    fails, the next reads every row afresh."""

    def __init__(self, resync: int = 120) -> None:
        self._resync = resync
        self._reads = 0
        self._mark: str | None = None
        self._slots: dict[str, int] = {}  # each bike's slot
        self._columns: dict[str, Any] = _slots(0)
        # first name, last initial and age (or NO_AGE)
        self._riders: dict[int, tuple[str | None, str | None, int]] = {}
        self._broken = False  # a read failed half-way: the next reads every row

    def read(self, conn: Connection) -> OpenRides:
        """The open rides as of this read, one a bike."""
        whole = self._broken or self._reads % self._resync == 0
        mark = None if whole else self._mark
        with conn.cursor(binary=True) as cursor:
            as_numpy(cursor)
            row = cursor.execute(_CHANGED, {"mark": mark}).fetchone()
        assert row is not None  # an aggregate without GROUP BY gives one row
        new_mark, serials, *changed = row
        # The slots and columns are changed in place (copies of them cost 8 ms a read at
        # 50,000 bikes): until this read is kept, a failure leaves the next to read whole.
        self._broken = True
        slots = {} if whole else self._slots
        columns = _slots(0) if whole else self._columns
        riders = self._riders
        if serials:
            values: list[Any] = [np.asarray(v, dtype=_TYPES.get(name, np.int64))
                      for name, v in zip(_READ, changed, strict=True)]  # fmt: skip
            ride_ids = values[0]
            at = np.array([slots.get(s, -1) for s in serials], dtype=np.int64)
            fresh = at < 0  # bikes met for the first time
            held = np.full(len(at), MISSING, dtype=np.int64)  # each slot's ride until now
            held[~fresh] = columns["ride_id"][at[~fresh]]
            met = held != ride_ids  # rides new to their slot
            riders = self._riders_of(conn, ride_ids[met].tolist())
            for i in np.flatnonzero(fresh).tolist():  # a new bike takes the next slot
                at[i] = slots[serials[i]] = len(slots)
            columns = _grown(columns, len(slots))
            columns["bike_serial"][at] = serials
            for name, column in zip(_READ, values, strict=True):
                columns[name][at] = column
            unknown = (None, None, NO_AGE)
            names, initials, ages = columns["first_name"], columns["last_initial"], columns["age"]
            for slot, ride_id in zip(at[met].tolist(), ride_ids[met].tolist(), strict=True):
                names[slot], initials[slot], ages[slot] = riders.get(ride_id, unknown)
        size = len(slots)
        open_ = np.flatnonzero(~columns["ended"][:size])
        rides = OpenRides(**{name: columns[name][open_] for name in _FIELDS})
        if len(riders) > 2 * len(rides) + 1000:  # forget the riders of rides gone
            riding = set(rides.ride_id.tolist())
            riders = {ride: who for ride, who in riders.items() if ride in riding}
        self._mark, self._slots, self._columns, self._riders = new_mark, slots, columns, riders
        self._reads += 1
        self._broken = False
        return rides

    def _riders_of(
        self, conn: Connection, ride_ids: list[int]
    ) -> dict[int, tuple[str | None, str | None, int]]:
        """The riders known, with those of ``ride_ids`` not known yet read (a new dict if any
        is read: a read that fails later changes nothing)."""
        known = self._riders
        new = [ride_id for ride_id in ride_ids if ride_id not in known]
        if not new:
            return known
        riders = {**known}
        for ride_id, first_name, initial, age in conn.execute(_RIDERS, [new]).fetchall():
            riders[ride_id] = (first_name, initial or None, NO_AGE if age is None else age)
        return riders


_FIELDS = tuple(field.name for field in dataclasses.fields(OpenRides))
_EMPTY = {"bike_serial": None, "first_name": None, "last_initial": None, "ride_id": MISSING,
          "ended": True, "age": NO_AGE, "energy_j": np.nan, "zone_seconds": MISSING}  # fmt: skip
_TEXTS = ("bike_serial", "first_name", "last_initial")


def _slots(size: int) -> dict[str, Any]:
    """Empty columns for ``size`` bikes: every slot ended, with no ride."""
    columns: dict[str, Any] = {}
    for name in (*_FIELDS, "ended"):
        dtype = object if name in _TEXTS else _TYPES.get(name, np.int64)
        shape = (size, _ZONES) if name == "zone_seconds" else size
        columns[name] = np.full(shape, _EMPTY.get(name, 0), dtype=dtype)
    return columns


def _grown(columns: dict[str, Any], size: int) -> dict[str, Any]:
    """``columns`` if they hold ``size`` bikes, else a copy with room for twice what they
    held (or ``size``), to grow rarely."""
    had = len(columns["ride_id"])
    if size <= had:
        return columns
    grown = _slots(max(size, 2 * had))
    for name, column in columns.items():
        grown[name][:had] = column
    return grown


FLEET_MAX_AGE = 0.5  # seconds: the fleet is rebuilt at most this often, however many ask


def shared_fleet(
    connect: Connect, idle_timeout_us: int, wall: Callable[[], float]
) -> SharedView[FleetStatus]:
    """The fleet as every dashboard screen and API client of a process sees it: rebuilt in the
    background at most every ``FLEET_MAX_AGE`` seconds, as of ``wall`` (seconds), from one
    ``FleetReader``, with its live leaderboard (``leaderboard.riding_now``) ranked."""
    reader = FleetReader()

    def build() -> FleetStatus:
        now = int(wall() * 1_000_000)
        status = run_query(
            connect,
            "the fleet",
            lambda c: FleetStatus(reader.read(c), now, idle_timeout_us, checked_bikes(c)),
        )
        # the live leaderboard, ranked here, off the viewers' path: a bike screen's place and
        # the board's pages then cost what they show (about 15 ms at 50,000 bikes riding)
        leaderboard.riding_now(status)
        return status

    return SharedView(build, FLEET_MAX_AGE, background=True)


def checked_bikes(conn: Connection) -> list[str]:
    """The bikes being checked: those with an open health finding (migration 0028) that may
    bear on what they read, so every kind but ``offline`` (a bike riding again is offline no
    longer, whatever the last check found)."""
    rows = conn.execute(
        "SELECT DISTINCT bike_serial FROM historical.bike_finding"
        " WHERE cleared_at IS NULL AND kind <> 'offline'"
    ).fetchall()
    return [serial for (serial,) in rows]


def fleet(conn: Connection, now: int, idle_timeout_us: int) -> FleetStatus:
    """The fleet at ``now`` (µs), as the dashboard's fleet page and the API's ``/bikes`` both
    show it: every open ride, and those heard from within ``idle_timeout_us`` as riding."""
    return FleetStatus(open_rides(conn), now, idle_timeout_us)


def rider_names(conn: Connection, user_ids: Sequence[int]) -> dict[int, tuple[str, str | None]]:
    """Each of ``user_ids``'s first name and last initial, as a leaderboard shows them: from
    ``daily.rider``, else ``historical.rider``; a rider in neither (erased) is left out."""
    if not user_ids:
        return {}
    rows = conn.execute(
        """SELECT DISTINCT ON (user_id) user_id, first_name, left(last_name, 1) FROM (
               SELECT user_id, first_name, last_name, 0 AS newer FROM daily.rider
               WHERE user_id = ANY(%(ids)s)
               UNION ALL
               SELECT user_id, first_name, last_name, 1 FROM historical.rider
               WHERE user_id = ANY(%(ids)s)
           ) r ORDER BY user_id, newer""",
        {"ids": list(user_ids)},
    ).fetchall()
    return {user_id: (first, initial or None) for user_id, first, initial in rows}


def earlier_rides(conn: Connection, ride_id: int) -> list[tuple[float, float]]:
    """The rides of ride ``ride_id``'s rider that ended before it started, each (seconds,
    kJ), from ``historical.ride_summary`` (summarised, and still in ``daily``): what their
    personal bests are judged from (``training.personal_best_kj``). None (an empty list) for
    a rider nobody knows or erased: a tombstone's rides are no one's.

    Two statements, so that the rider is a value when the view is planned: a join on the
    ride's ``user_id`` reads the view whole and computes the figures of every ride in
    ``daily`` before it filters (found in review: 296 ms with 20,000 ended rides); with the
    value, both of its parts read the rider's rides by their ``user_id`` index alone."""
    me = conn.execute(
        "SELECT user_id, started_at FROM daily.ride WHERE ride_id = %s AND user_id > 0",
        [ride_id],
    ).fetchone()
    if me is None:
        return []
    rows = conn.execute(
        """SELECT duration_s, energy_kj FROM historical.ride_summary
           WHERE user_id = %s AND ended_at <= %s AND ride_id <> %s
             AND duration_s IS NOT NULL AND energy_kj IS NOT NULL""",
        [me[0], me[1], ride_id],
    ).fetchall()
    return [(float(seconds), float(kj)) for seconds, kj in rows]


_TALLIED = ("readings", "power_sum", "power_readings", "resistance_sum", "resistance_readings")


def rides_since(conn: Connection, since: int) -> list[RideFacts]:
    """Rides started at or after ``since`` (µs). A ride in ``daily`` comes with the running
    tally of all its readings where ingestion keeps a whole one (its bike's newest ride, in
    ``daily.bike_latest``: migration 0026), else with an empty tally; a ride whose detail has
    already left ``daily`` comes with the sums and counts its summary keeps. A ride's tally
    has readings only if it is whole as of the read."""
    query = sql.SQL(
        """SELECT r.ride_id, r.user_id, {gender} AS gender, {age} AS age, {started}, {ended},
                  {latest}, {tallied}
           FROM daily.ride r LEFT JOIN daily.rider u ON u.user_id = r.user_id
           LEFT JOIN daily.bike_latest b
                  ON b.ride_id = r.ride_id AND b.readings > 0 AND b.tally_whole
                 AND b.tallied_at = b.at
           WHERE r.started_at >= %(since)s
           UNION ALL
           SELECT r.ride_id, r.user_id, {gender}, {age}, {started}, {ended}, {kept}, {ended}
           FROM historical.ride r LEFT JOIN historical.rider u ON u.user_id = r.user_id
           WHERE r.started_at >= %(since)s
             AND NOT EXISTS (SELECT 1 FROM daily.ride d WHERE d.ride_id = r.ride_id)"""
    ).format(
        gender=sql.SQL(_GENDER),
        age=sql.SQL(_AGE),
        started=sql.SQL(EPOCH_US.format("r.started_at")),
        ended=sql.SQL(EPOCH_US.format("r.ended_at")),
        latest=sql.SQL(", ").join(
            sql.SQL("{}::{}").format(sql.Identifier("b", name), sql.SQL(kind))
            for name, kind in zip(_TALLIED, ("int", "float8", "int", "float8", "int"), strict=True)
        ),
        tallied=sql.SQL(EPOCH_US.format("b.tallied_at")),
        kept=sql.SQL(", ").join(sql.Identifier("r", name) for name in _TALLIED),
    )
    empty = Tally()
    facts = []
    found = conn.execute(query, {"since": to_datetime(since)}, binary=True).fetchall()
    for ride_id, user_id, gender, age, started, ended, readings, *sums, last in found:
        tally = empty
        if readings is not None:  # a summary's, or a running tally kept whole
            power_sum, power_readings, resistance_sum, resistance_readings = sums
            tally = Tally(readings, power_sum or 0.0, power_readings or 0,
                          resistance_sum or 0.0, resistance_readings or 0, last)  # fmt: skip
        facts.append(RideFacts(ride_id, user_id, gender, age, started, ended, tally))
    return facts


# A ride's tally is five of daily.ride_sums' sums and counts (readings, power_sum,
# power_readings, resistance_sum, resistance_readings) and its newest reading (µs, EPOCH_US): the
# sums daily.ride_figures is built on (migration 0024), each ride from a point of its own. Not
# ride_figures itself: it takes one lower bound for all its rides and computes every training
# figure besides (windows over each ride's readings), seconds a refresh at 50,000 riding.
# The aggregates not selected here are never computed (the function is inlined). The arrays
# go in binary: in text, psycopg spent 0.6 s writing 50,000 rides' firsts.
_TALLIES = sql.SQL("""
SELECT ride_id, readings, power_sum, power_readings, resistance_sum, resistance_readings,
       {last_at}
FROM daily.ride_sums(%(rides)b::bigint[], %(firsts)b::timestamptz[], %(lower)s, 'infinity')
""").format(last_at=sql.SQL(EPOCH_US.format("last_at")))


def tallies_after(
    conn: Connection, marks: Sequence[tuple[int, int]], tail_from: int | None = None
) -> dict[int, Tally]:
    """For each ``(ride_id, first)``, the tally of that ride's readings from ``first`` (µs)
    on, so that the cost follows the new readings, not the rides' whole history. Never
    prepared: planned knowing each group's earliest ``first``, PostgreSQL reads only the
    hourly partitions from it on.

    Rides whose ``first`` is at or after ``tail_from`` (µs; the caller's recent past) are
    counted together by one read of the newest readings in time (daily.reading's block-range
    index on `at`, migration 0025), hashed by ride; the others (with no ``tail_from``, all)
    by a probe of (ride_id, at) each, which fits a few rides counted from further back. Each
    group is planned with its own lower bound: one probe a ride for 50,000 rides followed
    from refresh to refresh was 2.4 s of the server's time, the read by time 0.8 s."""
    if not marks:
        return {}
    tail = [] if tail_from is None else [mark for mark in marks if mark[1] >= tail_from]
    rest = marks if tail_from is None else [mark for mark in marks if mark[1] < tail_from]
    found: dict[int, Tally] = {}
    if tail:
        if conn.info.transaction_status == TransactionStatus.IDLE:
            # PostgreSQL's statistics end before the newest readings, so it reckons one
            # reading newer than the bound and would probe each ride. Only outside a
            # caller's transaction, where the setting ends with this one's.
            with conn.transaction():
                conn.execute("SET LOCAL enable_nestloop = off")
                found.update(_tallies(conn, tail))
        else:
            found.update(_tallies(conn, tail))
    if rest:
        found.update(_tallies(conn, rest))
    return found


def _tallies(conn: Connection, marks: Sequence[tuple[int, int]]) -> dict[int, Tally]:
    firsts = [to_datetime(first) for _, first in marks]
    rows = conn.execute(
        _TALLIES,
        {"rides": [ride for ride, _ in marks], "firsts": firsts, "lower": min(firsts)},
        prepare=False,
        binary=True,
    ).fetchall()
    found = {}
    for ride_id, readings, power, powers, resistance, resistances, last_at in rows:
        found[ride_id] = Tally(
            readings, power or 0.0, powers, resistance or 0, resistances, last_at
        )
    return found
