"""The live fleet read from what changed (``daily.bike_latest``, migration 0023) against
PostgreSQL: kept up to date across ingestion's batches, rides opening and ending, it always
equals the fleet read from scratch from the rides and readings themselves, and a transaction
that commits after a read, whatever its id, is seen by the next. Each bike's running tally
(migration 0026) is its ride's sums over every reading, or, where a reading was stored without
it, not taken as whole."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from unittest.mock import Mock

import numpy as np
import psycopg
import pytest

from deleton.core.batch import ReadingRow
from deleton.core.fleet_status import OpenRide, OpenRides
from deleton.core.readings import LatestReading
from deleton.core.records import from_datetime
from deleton.postgres import arrays, queries, store
from deleton.postgres.recent import RecentRides
from tests.harness.fleet import ingest_file, simulated
from tests.harness.services import execute, scalar

# The fleet as the dashboard read it before migration 0023: each bike's newest open ride, its
# newest reading found by one index probe per ride. The reference the snapshot must equal.
FROM_SCRATCH = """
SELECT DISTINCT ON (r.bike_serial)
       r.bike_serial, r.ride_id, r.started_at, u.first_name, r.rider_age,
       l.at, l.duration, l.heart_rate, l.power, l.resistance, l.rpm
FROM daily.ride r
LEFT JOIN daily.rider u ON u.user_id = r.user_id
LEFT JOIN LATERAL (
    SELECT at, duration, heart_rate, power, resistance, rpm FROM daily.reading x
    WHERE x.ride_id = r.ride_id ORDER BY x.at DESC LIMIT 1
) l ON true
WHERE r.ended_at IS NULL
  -- the bike's newest ride, open: a bike whose newest ride ended shows none
  AND NOT EXISTS (SELECT 1 FROM daily.ride n WHERE n.bike_serial = r.bike_serial
                  AND (n.started_at, n.ride_id) > (r.started_at, r.ride_id))
ORDER BY r.bike_serial, r.started_at DESC
"""


def from_scratch(conn: psycopg.Connection[Any]) -> set[OpenRide]:
    fleet = set()
    for bike, ride_id, started, first, age, at, *values in conn.execute(FROM_SCRATCH):
        latest = None if at is None else LatestReading(from_datetime(at), *values)
        fleet.add(OpenRide(bike, ride_id, from_datetime(started), first, age, latest))
    return fleet


# Each bike's running tally beside its ride's sums over every reading (daily.ride_sums, the
# one definition), and whether a reader takes the tally as whole.
TALLIES = """
SELECT b.ride_id, b.tally_whole AND b.tallied_at IS NOT DISTINCT FROM b.at,
       b.readings, b.power_sum, b.power_readings, b.resistance_sum, b.resistance_readings,
       b.tallied_at, coalesce(s.readings, 0), coalesce(s.power_sum, 0), coalesce(s.power_readings, 0),
       coalesce(s.resistance_sum, 0), coalesce(s.resistance_readings, 0), s.last_at
FROM daily.bike_latest b
LEFT JOIN LATERAL daily.ride_sums(ARRAY[b.ride_id], ARRAY['-infinity'::timestamptz],
                                  '-infinity', 'infinity') s ON true
"""


# Each bike's seconds in each heart-rate zone (migration 0027) beside its ride's own
# (daily.ride_figures, the one definition; null without an age), and how many readings each
# counted: the zones are whole when that is all of them.
ZONES = """
SELECT b.ride_id, b.zoned_readings = b.readings,
       ARRAY[b.hr_zone1_s, b.hr_zone2_s, b.hr_zone3_s, b.hr_zone4_s, b.hr_zone5_s],
       coalesce(f.seconds_in_hr_zone, '{0,0,0,0,0}'), f.seconds_in_hr_zone IS NOT NULL
FROM daily.bike_latest b
LEFT JOIN LATERAL daily.ride_figures(ARRAY[b.ride_id], '-infinity', 'infinity') f ON true
"""


def assert_zones_whole(conn: psycopg.Connection[Any]) -> int:
    """Every bike's seconds in each zone are whole and its ride's; how many rides of a known
    age have seconds in a zone."""
    zoned = 0
    for ride_id, whole, zones, expected, aged in conn.execute(ZONES):
        assert whole and zones == expected, ride_id
        zoned += aged and sum(zones) > 0
    return zoned


def assert_tallies_whole(conn: psycopg.Connection[Any]) -> int:
    """Every bike's running tally is whole and its ride's sums, its seconds in each zone its
    ride's; how many readings they hold."""
    assert_zones_whole(conn)
    counted = 0
    for ride_id, whole, *kept in conn.execute(TALLIES):
        tally, sums = kept[:6], kept[6:]
        assert whole, ride_id
        assert tally[0] == sums[0] and tally[2::2] == sums[2::2], ride_id
        assert tally[5] == sums[5], ride_id
        # power summed batch by batch, against one sum over the readings: the last bits differ
        assert tally[1] == pytest.approx(sums[1]) and tally[3] == sums[3], ride_id
        counted += tally[0]
    return counted


def assert_read_as_kept(conn: psycopg.Connection[Any], kept: OpenRides) -> None:
    """The fleet read carries each open ride's energy, zones and last initial as kept."""
    rows = conn.execute(
        """SELECT b.ride_id, b.power_sum, ARRAY[b.hr_zone1_s, b.hr_zone2_s, b.hr_zone3_s,
                  b.hr_zone4_s, b.hr_zone5_s], left(u.last_name, 1)
           FROM daily.bike_latest b JOIN daily.ride r USING (ride_id)
           LEFT JOIN daily.rider u ON u.user_id = r.user_id WHERE b.ended_at IS NULL"""
    ).fetchall()
    by_ride = {ride_id: rest for ride_id, *rest in rows}
    assert set(kept.ride_id.tolist()) == set(by_ride)
    for i, ride_id in enumerate(kept.ride_id.tolist()):
        energy, zones, initial = by_ride[ride_id]
        assert kept.energy_j[i] == energy and kept.zone_seconds[i].tolist() == zones
        assert kept.last_initial[i] == initial


def test_the_fleet_kept_from_what_changed_equals_the_fleet_read_whole(
    db: str, tmp_path: Path
) -> None:
    lines = simulated(db, tmp_path / "fleet.jsonl", 30, 11, 900).read_bytes().splitlines(True)
    dump = tmp_path / "part.jsonl"
    snapshot = queries.FleetReader(resync=1000)  # never a whole read after the first
    seen_ended = seen_changed = 0
    with psycopg.connect(db, autocommit=True) as conn:
        before: set[OpenRide] = set()
        for share in (0.2, 0.35, 0.5, 0.65, 0.8, 1.0):  # ingestion's batches in six runs
            dump.write_bytes(b"".join(lines[: int(len(lines) * share)]))
            ingest_file(db, dump)
            kept = snapshot.read(conn)
            assert len(kept) == len({ride.bike_serial for ride in kept})
            expected = from_scratch(conn)
            # the zones are held to the rides' readings below (assert_zones_whole)
            assert {ride._replace(zone_seconds=None) for ride in kept} == expected
            assert expected  # bikes ride at every step
            assert assert_tallies_whole(conn)  # and each ride's tally is its readings' sums
            assert assert_zones_whole(conn)  # and riders of known ages have zones counted
            assert_read_as_kept(conn, kept)
            seen_ended += len({r.ride_id for r in before} - {r.ride_id for r in expected})
            seen_changed += len(expected - before)
            before = expected
    assert seen_ended and seen_changed  # rides ended and readings moved on between reads
    assert scalar(db, "SELECT count(*) FROM daily.bike_latest") == 30


def test_a_write_committed_after_a_read_is_seen_by_the_next_whatever_its_id(db: str) -> None:
    start = dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC)
    execute(db, "SELECT daily.ensure_reading_partition(%s, interval '100 years')", [start])
    execute(
        db,
        "INSERT INTO daily.ride (ride_id, bike_serial, started_at) VALUES"
        " (1, 'SN1', %(t)s), (2, 'SN2', %(t)s)",
        {"t": start},
    )
    at = from_datetime(start)

    def reading(ride_id: int, second: int) -> ReadingRow:
        return ReadingRow(ride_id, at + second * 10**6, float(second), 40, 120 + second, 80, 150.0)

    snapshot = queries.FleetReader(resync=1000)
    with (
        psycopg.connect(db, autocommit=True) as reader,
        psycopg.connect(db) as older,
        psycopg.connect(db) as newer,
    ):
        assert {ride.latest for ride in snapshot.read(reader)} == {None}
        # the older transaction takes its id first and commits last
        older.execute("SELECT pg_current_xact_id()")
        store.note_latest(newer, [reading(2, 5)])
        newer.commit()
        store.note_latest(older, [reading(1, 3)])
        shown = {ride.bike_serial: ride.latest for ride in snapshot.read(reader)}
        assert shown["SN1"] is None and shown["SN2"] is not None  # older's not committed yet
        older.commit()
        shown = {ride.bike_serial: ride.latest for ride in snapshot.read(reader)}
        assert shown["SN1"] == LatestReading(at + 3 * 10**6, 3.0, 123, 150.0, 40, 80)
        # an older reading never replaces a newer one
        store.note_latest(newer, [reading(1, 2)])
        newer.commit()
        assert {r.bike_serial: r.latest for r in snapshot.read(reader)}["SN1"] == shown["SN1"]
        earlier = snapshot.read(reader)
    # a ride ending, and the bike's next ride, by a rider it has not met, replace what was
    # shown; a snapshot handed out before stays as it was
    execute(
        db,
        "INSERT INTO daily.rider (user_id, first_name, last_name, gender, gender_as_given,"
        " date_of_birth, email, house, street, city, postcode, height_cm, weight_kg,"
        " account_created, original_source, seen_at) VALUES (9, 'Sam', 'Lee', 'male',"
        " 'male', '1970-01-01', 'sam@example.com', '1', 'High st', 'Leeds', 'LS1 1AA', 180,"
        " 80, '2020-01-01', 'direct', now())",
    )
    execute(db, "UPDATE daily.ride SET ended_at = %s WHERE ride_id = 2", [start])
    execute(
        db,
        "INSERT INTO daily.ride (ride_id, bike_serial, started_at, user_id, rider_age)"
        " VALUES (3, 'SN1', %s, 9, 56)",
        [start + dt.timedelta(minutes=1)],
    )
    with psycopg.connect(db, autocommit=True) as reader:
        found = [(r.bike_serial, r.ride_id, r.first_name, r.age, r.latest)
                 for r in snapshot.read(reader)]  # fmt: skip
        assert found == [("SN1", 3, "Sam", 56, None)]
    assert sorted((r.bike_serial, r.ride_id, r.latest) for r in earlier) == [
        ("SN1", 1, shown["SN1"]),
        ("SN2", 2, LatestReading(at + 5 * 10**6, 5.0, 125, 150.0, 40, 80)),
    ]
    assert not earlier.ride_id.flags.writeable  # shared by every screen: nobody changes it


def test_a_reading_stored_without_its_tally_leaves_the_ride_counted_from_readings(
    db: str,
) -> None:
    """A writer that stores readings without adding them to the tally (a member of an older
    version, during a rolling upgrade) moves the newest reading past the newest counted: from
    then on the ride's tally is not whole, and recent rides count it from its readings. The
    bike's next ride starts whole."""
    start = dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC)  # its readings in the hour it creates
    execute(db, "SELECT daily.ensure_reading_partition(%s, interval '1 day')", [start])
    execute(db, "INSERT INTO daily.ride (ride_id, bike_serial, started_at) VALUES (1, 'SN1', %s)",
            [start])  # fmt: skip
    at = from_datetime(start)

    def reading(ride_id: int, second: int) -> ReadingRow:
        return ReadingRow(ride_id, at + second * 10**6, float(second), 40, 120, 80, 100.0 + second)

    def write(conn: psycopg.Connection[Any], rows: list[ReadingRow], tally: bool = True) -> None:
        with conn.transaction():
            with (
                conn.cursor() as cur,
                cur.copy(
                    "COPY daily.reading (ride_id, at, duration, resistance, heart_rate, rpm, power)"
                    " FROM STDIN (FORMAT BINARY)"
                ) as copy,
            ):
                copy.write(store.pack_readings(rows))
            if tally:
                store.note_latest(conn, rows)
            else:  # as migration 0023's ingestion did: the newest reading alone
                newest = max(rows, key=lambda row: row.at)
                conn.execute("UPDATE daily.bike_latest SET at = %s WHERE ride_id = %s",
                             [dt.datetime.fromtimestamp(newest.at / 1e6, dt.UTC), newest.ride_id])  # fmt: skip

    def tally_of(conn: psycopg.Connection[Any], ride_id: int) -> int:
        (ride,) = [r for r in queries.rides_since(conn, at - 10**9) if r.ride_id == ride_id]
        return ride.tally.readings

    def energy(conn: psycopg.Connection[Any]) -> float:
        return float(conn.execute("SELECT sum(power) / 1000 FROM daily.reading").fetchone()[0])  # type: ignore[index]

    with psycopg.connect(db, autocommit=True) as conn:
        half = ReadingRow(1, at + 2 * 10**6, None, None, None, 80, 102.0)  # its line alone
        write(conn, [reading(1, 1), half])
        assert tally_of(conn, 1) == 2 and assert_tallies_whole(conn) == 2
        write(conn, [reading(1, 3)], tally=False)
        assert tally_of(conn, 1) == 0  # not taken as whole at once
        write(conn, [reading(1, 4)])
        whole = "SELECT tally_whole FROM daily.bike_latest WHERE ride_id = %s"
        assert tally_of(conn, 1) == 0 and conn.execute(whole, [1]).fetchone() == (False,)
        recent = RecentRides(lambda: psycopg.connect(db, autocommit=True), lambda: at / 1e6 + 60)
        assert recent.refresh().energy_kj == pytest.approx(energy(conn))  # from its readings
        conn.execute("UPDATE daily.ride SET ended_at = %s WHERE ride_id = 1",
                     [start + dt.timedelta(seconds=5)])  # fmt: skip
        conn.execute("INSERT INTO daily.ride (ride_id, bike_serial, started_at)"
                     " VALUES (2, 'SN1', %s)", [start + dt.timedelta(seconds=10)])  # fmt: skip
        write(conn, [reading(2, 11), reading(2, 12), reading(2, 13)])
        assert conn.execute(whole, [2]).fetchone() == (True,) and tally_of(conn, 2) == 3
        assert assert_tallies_whole(conn) == 3
        assert recent.refresh().energy_kj == pytest.approx(energy(conn))


def test_a_read_that_fails_half_way_is_made_good_by_the_next(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC)
    execute(db, "INSERT INTO daily.ride (ride_id, bike_serial, started_at) VALUES (1, 'SN1', %s)",
            [start])  # fmt: skip
    snapshot = queries.FleetReader(resync=1000)
    with psycopg.connect(db, autocommit=True) as reader:
        assert [r.ride_id for r in snapshot.read(reader)] == [1]
    execute(db, "INSERT INTO daily.ride (ride_id, bike_serial, started_at) VALUES (2, 'SN2', %s)",
            [start])  # fmt: skip

    class Refused(Exception):
        pass

    class Failing:
        """A connection whose second statement (the new ride's rider) fails."""

        def __init__(self, conn: psycopg.Connection[Any]) -> None:
            self.conn, self.calls = conn, 0

        def execute(self, *args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls == 2:
                raise Refused
            return self.conn.execute(*args, **kwargs)

        def cursor(self, *args: Any, **kwargs: Any) -> Any:
            self.calls += 1  # the fleet's own statement, on a cursor of its own
            return self.conn.cursor(*args, **kwargs)

    with psycopg.connect(db, autocommit=True) as reader:
        with pytest.raises(Refused):
            snapshot.read(Failing(reader))  # type: ignore[arg-type]
        # the next read finds both bikes as if none had failed
        assert sorted(r.ride_id for r in snapshot.read(reader)) == [1, 2]
        # a failure once the slots began to change (a new bike's slot taken, the columns
        # not grown) leaves the next to read every row
        execute(db, "UPDATE daily.ride SET ended_at = %s WHERE ride_id = 1", [start])
        execute(db, "INSERT INTO daily.ride (ride_id, bike_serial, started_at)"
                " VALUES (3, 'SN3', %s)", [start])  # fmt: skip
        with monkeypatch.context() as patch:
            patch.setattr(queries, "_grown", Mock(side_effect=Refused))
            with pytest.raises(Refused):
                snapshot.read(reader)
        assert sorted(r.ride_id for r in snapshot.read(reader)) == [2, 3]


def test_arrays_read_into_numpy_are_what_psycopg_reads_as_lists(db: str) -> None:
    """``arrays.as_numpy`` is psycopg's own reading, in numpy: every type it takes, at one and
    two dimensions, at the ends of each type's range, empty; a null inside is refused."""
    query = """SELECT ARRAY[-32768, 0, 32767]::int2[], ARRAY[-2147483648, 7]::int4[],
                      ARRAY[-9223372036854775808, 1, 9223372036854775807]::int8[],
                      ARRAY[1.5, -0.25, 'NaN', 'Infinity']::float4[],
                      ARRAY[1e300, -2.5e-300, 'NaN', '-Infinity']::float8[],
                      ARRAY[true, false]::bool[], ARRAY[[1, 2, 3], [4, 5, 6]]::int4[],
                      '{}'::int8[]"""
    with psycopg.connect(db, autocommit=True) as conn:
        as_lists = conn.execute(query, binary=True).fetchone()
        with conn.cursor(binary=True) as cursor:
            arrays.as_numpy(cursor)
            as_numpy = cursor.execute(query).fetchone()
            with pytest.raises(psycopg.DataError, match="holds a null"):
                cursor.execute("SELECT ARRAY[1, NULL]::int8[]").fetchone()
        assert as_lists is not None and as_numpy is not None
        for listed, read in zip(as_lists, as_numpy, strict=True):
            assert isinstance(read, np.ndarray) and read.dtype.isnative
            assert np.array_equal(np.array(listed, dtype=read.dtype), read, equal_nan=True)
        assert as_numpy[6].shape == (2, 3)
        # the cursor's reading stays with the cursor
        plain = conn.execute("SELECT ARRAY[1]::int8[]", binary=True).fetchone()
        assert plain is not None and isinstance(plain[0], list)
