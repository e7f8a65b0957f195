"""Bike health's tables (migration 0028): the readings of the rides a compression chunk
summarises, each bike's kept state, its findings, and the power cells the drift is judged from.
Every function runs on the caller's connection, inside its transaction: a ride's checks are
kept with its summary, so each ride is checked once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import psycopg
from psycopg.types.json import Jsonb

from ..core import bike_health
from ..core.bike_health import Change, Finding, HealthState, PowerModel
from ..core.records import to_datetime
from .arrays import as_numpy
from .queries import EPOCH_US

Connection = psycopg.Connection[Any]

MODEL_DAYS = 7  # the power model and each bike's drift are judged over this many days of data


class RideReadings(NamedTuple):
    """The readings of some rides, as ``bike_health.rides_signals`` takes them: ``rides``
    (id, rider, start in µs) and each one's bike, then each reading's ride (an index into
    ``rides``), time (µs), resistance, rpm, power and heart rate, grouped by ride in time
    order. A reading's missing value reads as what shows nothing: resistance and rpm -1,
    power NaN, heart rate 0 (no contact)."""

    rides: list[tuple[int, int | None, int]]
    bikes: list[str]
    ride_of: Any
    at: Any
    resistance: Any
    rpm: Any
    power: Any
    heart_rate: Any


_RIDES = f"""
SELECT ride_id, user_id, {EPOCH_US.format("started_at")}, bike_serial FROM daily.ride
WHERE ride_id = ANY(%(rides)s) ORDER BY started_at, ride_id
"""
# one row of arrays (arrays.as_numpy): at a million readings a chunk, rows cost seconds
_READINGS = f"""
SELECT array_agg(ride_id), array_agg({EPOCH_US.format("at")}),
       array_agg(coalesce(resistance, -1)), array_agg(coalesce(rpm, -1)),
       array_agg(coalesce(power, 'NaN')), array_agg(coalesce(heart_rate, 0))
FROM daily.reading
WHERE ride_id = ANY(%(rides)s) AND at >= %(lower)s AND at <= %(upper)s
"""


RideRow = tuple[int, int | None, int, str]  # id, rider, start (µs), bike


def rides_of(conn: Connection, rides: Sequence[int]) -> list[RideRow]:
    """Those of ``rides`` still in ``daily.ride``, in order of start: id, rider, start (µs)
    and bike."""
    return conn.execute(_RIDES, {"rides": list(rides)}).fetchall()


def readings_of(
    conn: Connection, rides: Sequence[int], lower: dt.datetime, upper: dt.datetime
) -> RideReadings:
    """The readings of ``rides`` (those still in ``daily.ride``), their span within
    ``lower``..``upper`` (the hours to read), rides in order of start."""
    params = {"rides": list(rides), "lower": lower, "upper": upper}
    found = rides_of(conn, rides)
    with conn.cursor(binary=True) as cursor:
        as_numpy(cursor)
        # planned with the bounds known, as the summaries are, never a generic plan
        row = cursor.execute(_READINGS, params, prepare=False).fetchone()
    assert row is not None  # an aggregate without GROUP BY gives one row
    ride_ids = np.array([ride_id for ride_id, *_ in found], dtype=np.int64)
    if row[0] is None or not len(ride_ids):
        empty = np.empty(0, dtype=np.int64)
        columns: list[Any] = [empty, empty, empty, empty, empty.astype(np.float64), empty]
    else:
        ride, at, resistance, rpm, power, heart_rate = row
        # each reading's ride as its index among the rides, in order of ride and time
        index = np.argsort(ride_ids)
        at_index = np.minimum(np.searchsorted(ride_ids[index], ride), len(index) - 1)
        where = index[at_index]
        # readings of no ride read (orphans, whatever their cause) belong to no ride checked
        known = np.flatnonzero(ride_ids[where] == ride)
        order = known[np.lexsort((at[known], where[known]))]
        columns = [
            where[order],
            at[order],
            resistance[order].astype(np.int64),
            rpm[order].astype(np.int64),
            power[order],
            heart_rate[order].astype(np.int64),
        ]
    return RideReadings(
        [(ride_id, user_id, started) for ride_id, user_id, started, _ in found],
        [bike for *_, bike in found],
        *columns,
    )


def as_read(conn: Connection, ride_ids: Sequence[int], data: RideReadings) -> bool:
    """Whether ``ride_ids``' rides are, on ``conn`` (in the transaction that summarised them),
    as ``data`` read them elsewhere: the same rides, riders, starts and bikes, and as many
    readings each as their summaries counted (``historical.ride.readings``, over the same
    bounds)."""
    rows = [(*ride, bike) for ride, bike in zip(data.rides, data.bikes, strict=True)]
    if rides_of(conn, ride_ids) != rows:
        return False
    counted = dict(conn.execute(
        "SELECT ride_id, readings FROM historical.ride WHERE ride_id = ANY(%s)",
        [[ride_id for ride_id, *_ in data.rides]],
    ).fetchall())  # fmt: skip
    read = np.bincount(data.ride_of, minlength=len(data.rides)).tolist()
    return all((counted.get(ride[0]) or 0) == n for ride, n in zip(data.rides, read, strict=True))


def states_of(conn: Connection, bikes: Iterable[str]) -> dict[str, HealthState]:
    """Each of ``bikes``' kept state with its open ride-based findings (a new state for a
    bike never seen)."""
    serials = sorted(set(bikes))
    kept = dict(conn.execute(
        "SELECT bike_serial, recent FROM historical.bike_health WHERE bike_serial = ANY(%s)",
        [serials],
    ).fetchall())  # fmt: skip
    found: dict[str, dict[str, Finding]] = {}
    for serial, finding in open_findings(conn, bike_health.RIDE_KINDS, serials):
        found.setdefault(serial, {})[finding.kind] = finding
    riders = _riders_of(conn, [ride[0] for recent in kept.values() for rides in recent.values()
                               for ride in rides])  # fmt: skip
    return {serial: bike_health.state_of(serial, kept.get(serial, {}), found.get(serial, {}),
                                         riders)
            for serial in serials}  # fmt: skip


def _riders_of(conn: Connection, ride_ids: list[int]) -> dict[int, int | None]:
    """Each ride's rider as the rides now say (an erased rider's tombstone id), wherever the
    ride is kept."""
    if not ride_ids:
        return {}
    rows = conn.execute(
        """SELECT ride_id, user_id FROM historical.ride WHERE ride_id = ANY(%(rides)s)
           UNION ALL
           SELECT ride_id, user_id FROM daily.ride WHERE ride_id = ANY(%(rides)s)""",
        {"rides": sorted(set(ride_ids))},
    ).fetchall()
    return dict(rows)


def save_states(
    conn: Connection, states: Iterable[HealthState], last_lines: Mapping[str, int]
) -> None:
    """Keep each state, and its bike's newest line (µs) where newer than the one kept."""
    rows = [
        (s.bike_serial, to_datetime(last_lines[s.bike_serial]), Jsonb(bike_health.state_json(s)))
        for s in states
    ]
    with conn.cursor() as cursor:
        cursor.executemany(
            """INSERT INTO historical.bike_health AS h (bike_serial, last_line_at, recent)
               VALUES (%s, %s, %s)
               ON CONFLICT (bike_serial) DO UPDATE
               SET last_line_at = greatest(h.last_line_at, EXCLUDED.last_line_at),
                   recent = EXCLUDED.recent""",
            rows,
        )


def open_findings(
    conn: Connection, kinds: Sequence[str], bikes: Sequence[str] | None = None
) -> list[tuple[str, Finding]]:
    """The open findings of ``kinds`` (of ``bikes``, or every bike's), with their bikes."""
    rows = conn.execute(
        f"""SELECT bike_serial, kind, {EPOCH_US.format("first_seen")},
                   {EPOCH_US.format("last_seen")}, detail
            FROM historical.bike_finding
            WHERE cleared_at IS NULL AND kind = ANY(%s)
              AND (%s::text[] IS NULL OR bike_serial = ANY(%s))""",
        [list(kinds), bikes, bikes],
    ).fetchall()
    return [
        (serial, Finding(kind, first, last, detail)) for serial, kind, first, last, detail in rows
    ]


def record(conn: Connection, changes: Sequence[Change]) -> None:
    """Open, update or clear findings as ``changes`` say, in their order."""
    with conn.cursor() as cursor:
        for change in changes:
            if change.cleared or change.finding is None:
                cursor.execute(
                    """UPDATE historical.bike_finding SET cleared_at = %s
                       WHERE bike_serial = %s AND kind = %s AND cleared_at IS NULL""",
                    [to_datetime(change.at), change.bike_serial, change.kind],
                )
                continue
            finding = change.finding
            cursor.execute(
                """INSERT INTO historical.bike_finding AS f
                       (bike_serial, kind, first_seen, last_seen, detail)
                   VALUES (%s, %s, %s, %s, %s)
                   ON CONFLICT (bike_serial, kind) WHERE cleared_at IS NULL DO UPDATE
                   SET first_seen = least(f.first_seen, EXCLUDED.first_seen),
                       last_seen = greatest(f.last_seen, EXCLUDED.last_seen),
                       detail = EXCLUDED.detail""",
                [change.bike_serial, finding.kind, to_datetime(finding.first_seen),
                 to_datetime(finding.last_seen), Jsonb(dict(finding.detail))],
            )  # fmt: skip


def add_model_cells(conn: Connection, day: int, cells: tuple[Any, Any, Any, Any]) -> None:
    """Count a day's (since the epoch) readings into the fleet's power model cells
    (``model_cells``)."""
    resistance, rpm, power, readings = cells
    conn.execute(
        """INSERT INTO historical.power_model_cell AS c
           SELECT %s, * FROM unnest(%s::int[], %s::int[], %s::float8[], %s::int8[])
           ON CONFLICT (day, resistance, rpm, power) DO UPDATE
           SET readings = c.readings + EXCLUDED.readings""",
        [day_of(day), resistance.tolist(), rpm.tolist(), power.tolist(), readings.tolist()],
    )


def newest_day(conn: Connection) -> dt.date | None:
    """The newest day of data the power cells count."""
    day: dt.date | None = conn.execute(
        "SELECT max(day) FROM historical.power_model_cell"
    ).fetchone()[0]  # type: ignore[index]
    return day


def model(conn: Connection, newest: dt.date) -> PowerModel:
    """The fleet's power model over the ``MODEL_DAYS`` days of data up to ``newest``."""
    with conn.cursor(binary=True) as cursor:
        as_numpy(cursor)
        row = cursor.execute(
            """SELECT array_agg(resistance), array_agg(rpm), array_agg(power),
                      array_agg(readings)
               FROM historical.power_model_cell WHERE day > %s""",
            [newest - dt.timedelta(days=MODEL_DAYS)],
        ).fetchone()
    assert row is not None
    if row[0] is None:
        empty = np.empty(0, dtype=np.int64)
        return PowerModel(empty, empty.astype(np.float64))
    resistance, rpm, power, readings = row
    return PowerModel.of_cells(resistance.astype(np.int64), rpm.astype(np.int64), power,
                               readings.astype(np.int64))  # fmt: skip


def add_drift_cells(
    conn: Connection, day: int, bikes: Sequence[str], cells: tuple[Any, Any, Any]
) -> None:
    """Count a day's readings into each bike's drift cells (``ratio_cells``, whose bikes are
    indices into ``bikes``)."""
    bike, step, readings = cells
    # the serials once, the cells by index into them: a serial a cell would cost its quoting
    conn.execute(
        """INSERT INTO historical.power_drift_cell AS c
           SELECT %s, (%s::text[])[u.bike + 1], u.step, u.readings
           FROM unnest(%s::int[], %s::int[], %s::int8[]) AS u(bike, step, readings)
           ON CONFLICT (bike_serial, day, step) DO UPDATE
           SET readings = c.readings + EXCLUDED.readings""",
        [day_of(day), list(bikes), bike.tolist(), step.tolist(), readings.tolist()],
    )


def drift_cells(
    conn: Connection, bikes: Sequence[str], newest: dt.date
) -> dict[str, tuple[Any, Any]]:
    """Each of ``bikes``' drift cells over the ``MODEL_DAYS`` days up to ``newest``: its steps
    and their readings."""
    rows = conn.execute(
        """SELECT bike_serial, array_agg(step), array_agg(readings)
           FROM historical.power_drift_cell WHERE bike_serial = ANY(%s) AND day > %s
           GROUP BY bike_serial""",
        [list(bikes), newest - dt.timedelta(days=MODEL_DAYS)],
    ).fetchall()
    return {serial: (np.array(steps, dtype=np.int64), np.array(counts, dtype=np.int64))
            for serial, steps, counts in rows}  # fmt: skip


def forget_cells(conn: Connection, newest: dt.date) -> None:
    """Drop power cells older than the ``MODEL_DAYS`` days up to ``newest``."""
    oldest = newest - dt.timedelta(days=MODEL_DAYS)
    conn.execute("DELETE FROM historical.power_model_cell WHERE day <= %s", [oldest])
    conn.execute("DELETE FROM historical.power_drift_cell WHERE day <= %s", [oldest])


def last_lines(conn: Connection) -> dict[str, int]:
    """Every bike seen, with the time of its newest line (µs): the newest kept by the checks,
    or of its newest ride (its start, or its newest reading) where later."""
    rows = conn.execute(
        f"""SELECT bike_serial, {EPOCH_US.format("max(at)")} FROM (
                SELECT bike_serial, last_line_at AS at FROM historical.bike_health
                UNION ALL
                SELECT bike_serial, greatest(started_at, at) FROM daily.bike_latest
            ) lines GROUP BY bike_serial"""
    ).fetchall()
    return dict(rows)


def day_of(day: int) -> dt.date:
    """The date of a day counted from the epoch (UTC)."""
    return _EPOCH_DAY + dt.timedelta(days=day)


_EPOCH_DAY = dt.date(1970, 1, 1)


def indices(values: Sequence[int]) -> Any:
    """``values`` as the array of indices the core's array rules take."""
    return np.array(values, dtype=np.int64)


class BikeFindings(NamedTuple):
    """A bike with open findings, and each one: kind, first and last seen, detail."""

    bike_serial: str
    findings: list[tuple[str, dt.datetime, dt.datetime, dict[str, Any]]]


def flagged(conn: Connection, kind: str | None = None) -> list[BikeFindings]:
    """The bikes with open findings (of ``kind``, or any), by serial, each with those
    findings by kind."""
    rows = conn.execute(
        """SELECT bike_serial, kind, first_seen, last_seen, detail FROM historical.bike_finding
           WHERE cleared_at IS NULL AND (%(kind)s::text IS NULL OR kind = %(kind)s)
           ORDER BY bike_serial, kind""",
        {"kind": kind},
    ).fetchall()
    found: dict[str, BikeFindings] = {}
    for serial, kind_, first, last, detail in rows:
        found.setdefault(serial, BikeFindings(serial, [])).findings.append(
            (kind_, first, last, detail)
        )
    return list(found.values())


def power_against_model(conn: Connection, bike_serial: str) -> tuple[Any, Any, Any]:
    """The bike's readings of the last 12 hours (rpm above 0), counted by (resistance, rpm,
    power), with the fleet's model power at each: (model W, bike W, readings); the model's
    NaN where the fleet has no value."""
    rows = conn.execute(
        """SELECT r.resistance, r.rpm, r.power, count(*) FROM daily.reading r
           JOIN daily.ride d USING (ride_id)
           WHERE d.bike_serial = %s AND r.rpm > 0 AND r.power IS NOT NULL
             AND r.resistance IS NOT NULL AND r.at > now() - interval '12 hours'
             AND d.started_at > now() - interval '13 hours'
           GROUP BY 1, 2, 3""",
        [bike_serial],
    ).fetchall()
    newest = newest_day(conn)
    if not rows or newest is None:
        empty = np.empty(0, dtype=np.float64)
        return empty, empty, empty.astype(np.int64)
    resistance, rpm, power, readings = (np.array(column) for column in zip(*rows, strict=True))
    expected = model(conn, newest).at(resistance.astype(np.int64), rpm.astype(np.int64))
    return expected, power.astype(np.float64), readings.astype(np.int64)


def open_counts(conn: Connection) -> dict[str, int]:
    """The open findings by kind, every kind named (0 for none)."""
    rows = conn.execute(
        "SELECT kind, count(*) FROM historical.bike_finding WHERE cleared_at IS NULL GROUP BY kind"
    ).fetchall()
    found = dict(rows)
    return {kind: int(found.get(kind, 0)) for kind in bike_health.KINDS}
