"""Compression and retention against real PostgreSQL: summaries exact against the wire lines,
runs that change nothing the second time, stale rides closed before their detail goes, a
bike whose ride was removed starting a new one, runs killed anywhere, nothing young touched,
readers unchanged, and a live ingest beside it losing nothing."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from deleton.core.records import to_datetime
from deleton.core.wire import parse_value
from deleton.postgres.locks import COMPRESSION
from deleton.postgres.recent import RecentRides
from tests.harness.broker import LocalBroker
from tests.harness.expected import ALERTS_NEVER_EXPIRE, reference, settled
from tests.harness.fleet import SECOND, START, dump_fleet, fill_topic, ingest_file, simulated
from tests.harness.services import (
    deleton,
    env_for,
    execute,
    rows,
    run_deleton,
    scalar,
    wait_for,
)
from tests.harness.wire_truth import Ride, alerts_of, rides_from_wire

HOUR = dt.timedelta(hours=1)
BEGIN = to_datetime(START)
SETTINGS = {"ride_idle_timeout": "5", "alert_max_age": ALERTS_NEVER_EXPIRE}


def summary(ride: Ride, ended_at: int) -> dict[str, Any]:
    readings = ride.readings
    beats = [r[3] for r in readings if r[3] > 0]
    powers = [r[5] for r in readings]
    high, low = alerts_of(ride)
    return {
        "readings": len(readings),
        "duration_s": (ended_at - ride.started) / 1e6,
        "heart_rate_avg": sum(beats) / len(beats) if beats else None,
        "heart_rate_min": min(beats) if beats else None,
        "heart_rate_max": max(beats) if beats else None,
        "power_avg": sum(powers) / len(powers),
        "power_max": max(powers),
        "energy_kj": sum(powers) / 1000,  # one second per reading
        "rpm_avg": sum(r[4] for r in readings) / len(readings),
        "rpm_max": max(r[4] for r in readings),
        "resistance_avg": sum(r[2] for r in readings) / len(readings),
        "resistance_max": max(r[2] for r in readings),
        "alerts_high": high,
        "alerts_low": low,
    }


COLUMNS = ("readings", "duration_s", "heart_rate_avg", "heart_rate_min", "heart_rate_max",
           "power_avg", "power_max", "energy_kj", "rpm_avg", "rpm_max", "resistance_avg",
           "resistance_max", "alerts_high", "alerts_low")  # fmt: skip


def summaries(db: str) -> dict[tuple[str, dt.datetime], dict[str, Any]]:
    found = rows(
        db,
        f"SELECT bike_serial, started_at, ended_at, {', '.join(COLUMNS)} FROM historical.ride",
    )
    return {(bike, start): {"ended_at": end, **dict(zip(COLUMNS, rest, strict=True))}
            for bike, start, end, *rest in found}  # fmt: skip


def compress(db: str, now: dt.datetime, *extra: str) -> str:
    result = run_deleton("compress", "--now", now.isoformat(), *extra, env=env_for(db))
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.decode()


def assert_matches(got: dict[str, Any], want: dict[str, Any]) -> None:
    for name, value in want.items():
        if isinstance(value, float):
            assert got[name] == pytest.approx(value, rel=1e-9), name
        else:
            assert got[name] == value, name


@pytest.fixture
def fleet(db: str, tmp_path: Path) -> tuple[Path, list[Ride]]:
    dump = tmp_path / "fleet.jsonl"
    dump_fleet(dump, bikes=40, seconds=3600, seed=41)  # 58 rides end: 2 high, 2 low alerts
    ingest_file(db, dump, **SETTINGS)
    return dump, rides_from_wire(dump)


def test_summaries_are_exact_reruns_change_nothing_and_stale_rides_are_closed_first(
    db: str, fleet: tuple[Path, list[Ride]]
) -> None:
    _, rides = fleet
    ended = [r for r in rides if r.ended]
    assert len(ended) >= 5 and any(not r.ended for r in rides)
    untouched = rows(db, "SELECT * FROM daily.ride ORDER BY ride_id")
    dry = compress(db, BEGIN + 24 * HOUR, "--dry-run")
    assert f"would summarise {len(ended)} rides" in dry
    assert f"closed {len(rides) - len(ended)} stale" in dry  # what it would close
    assert rows(db, "SELECT * FROM daily.ride ORDER BY ride_id") == untouched
    assert scalar(db, "SELECT count(*) FROM historical.ride") == 0
    first = compress(db, BEGIN + HOUR)  # within the retention: summaries only
    assert f"summarised {len(ended)} rides" in first and "removed 0 readings" in first
    got = summaries(db)
    assert len(got) == len(ended)
    for ride in ended:
        row = got[(ride.bike, to_datetime(ride.started))]
        assert row["ended_at"] == to_datetime(ride.last_line)
        assert_matches(row, summary(ride, ride.last_line))
    assert scalar(db, "SELECT sum(alerts_high + alerts_low) FROM historical.ride") > 0
    before = rows(db, "SELECT * FROM historical.ride ORDER BY ride_id")
    again = compress(db, BEGIN + HOUR)
    assert "summarised 0 rides" in again and "removed 0 readings" in again
    assert rows(db, "SELECT * FROM historical.ride ORDER BY ride_id") == before

    # a day later every open ride has gone stale: closed at its last reading, summarised,
    # and only then removed with everything else
    later = compress(db, BEGIN + 24 * HOUR)
    stale = [r for r in rides if not r.ended]
    assert f"closed {len(stale)} stale" in later
    got = summaries(db)
    assert len(got) == len(rides)
    for ride in stale:
        last_reading = ride.readings[-1][0]
        row = got[(ride.bike, to_datetime(ride.started))]
        assert row["ended_at"] == to_datetime(last_reading)
        assert_matches(row, summary(ride, last_reading))
    for table in ("reading", "ride", "rider", "alert"):
        assert scalar(db, f"SELECT count(*) FROM daily.{table}") == 0, table
    assert scalar(db, "SELECT count(*) FROM historical.rider") == len({r.user_id for r in rides})
    assert scalar(db, "SELECT count(*) FROM historical.alert") == scalar(
        db, "SELECT sum(alerts) FROM historical.ride"
    )
    assert "summarised 0 rides" in compress(db, BEGIN + 24 * HOUR)


def test_nothing_newer_than_the_retention_is_touched(
    db: str, fleet: tuple[Path, list[Ride]]
) -> None:
    _, rides = fleet
    cutoff = START + 900 * SECOND
    counts = dict(rows(db, "SELECT ride_id, count(*) FROM daily.reading GROUP BY ride_id"))
    ended = dict(rows(db, "SELECT ride_id, ended_at FROM daily.ride"))
    compress(db, to_datetime(cutoff) + 12 * HOUR)
    after = dict(rows(db, "SELECT ride_id, count(*) FROM daily.reading GROUP BY ride_id"))
    kept = [r for r, end in ended.items() if end is None or end >= to_datetime(cutoff)]
    gone = [r for r, end in ended.items() if end is not None and end < to_datetime(cutoff)]
    assert kept and gone
    assert {r: after.get(r) for r in kept} == {r: counts[r] for r in kept}  # untouched
    assert not any(r in after for r in gone)
    assert set(rows(db, "SELECT ride_id FROM daily.ride")) == {(r,) for r in kept}
    assert scalar(db, "SELECT count(*) FROM historical.ride") == sum(
        1 for r in rides if r.ended
    )  # every ended ride summarised, whether its detail went or not


def test_a_bike_whose_ride_was_removed_starts_a_new_one(db: str, tmp_path: Path) -> None:
    dump = tmp_path / "fleet.jsonl"
    dump_fleet(dump, bikes=6, seconds=600, seed=42)
    lines = dump.read_bytes().splitlines(keepends=True)
    part = tmp_path / "part.jsonl"
    part.write_bytes(b"".join(lines[: len(lines) // 2]))
    ingest_file(db, part, **SETTINGS)  # the bikes mid-ride; the checkpoint holds their rides
    held = {r for (r,) in rows(db, "SELECT ride_id FROM daily.ride WHERE ended_at IS NULL")}
    assert held
    # ingestion away for over half a day: compression closes and removes the open rides
    out = compress(db, BEGIN + 24 * HOUR)
    assert f"closed {len(held)} stale" in out
    assert scalar(db, "SELECT count(*) FROM daily.ride") == 0
    with part.open("ab") as more:  # the same bikes go on as if nothing happened
        more.write(b"".join(lines[len(lines) // 2 :]))
    ingest_file(db, part, **SETTINGS)
    again = rows(db, "SELECT ride_id, user_id FROM daily.ride")
    assert again and not {r for r, _ in again} & held  # new rides, never the removed ones
    assert any(user is None for _, user in again)  # cut mid-ride: no [SYSTEM] line yet
    orphans = scalar(
        db, "SELECT count(*) FROM daily.reading g"
        " WHERE NOT EXISTS (SELECT 1 FROM daily.ride r WHERE r.ride_id = g.ride_id)",
    )  # fmt: skip
    assert orphans == 0
    assert scalar(db, "SELECT count(*) FROM historical.ride WHERE ride_id = ANY(%s)",
                  [list(held)]) == len(held)  # fmt: skip


STATE = """SELECT (SELECT count(*) FROM historical.ride) AS summaries,
                  (SELECT count(*) FROM daily.ride) AS rides,
                  (SELECT count(*) FROM pg_inherits
                   WHERE inhparent = 'daily.reading'::regclass) AS hours,
                  (SELECT count(*) FROM pg_inherits
                   WHERE inhparent = 'daily.reading'::regclass AND inhdetachpending) AS detaching,
                  (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE n.nspname = 'daily' AND c.relname ~ '^reading_'
                     AND c.relkind = 'r' AND NOT c.relispartition) AS detached"""


class Killer:
    """Compression runs SIGKILLed at chosen points, each caught there for certain: a lock the
    test holds stops the run just before the point, the run is killed while it waits, and
    only then is the lock let go. One connection watches; another holds the locks."""

    def __init__(self, db: str, env: dict[str, str], now: str) -> None:
        self.env, self.now = env, now
        self.watch = psycopg.connect(db, autocommit=True, row_factory=dict_row)
        self.holder = psycopg.connect(db)  # each lock in a transaction of its own

    def close(self) -> None:
        self.holder.close()
        self.watch.close()

    def one(self, query: str, params: Any = None) -> dict[str, Any]:
        found = self.watch.execute(query, params).fetchone()
        assert found is not None
        return found

    def state(self) -> dict[str, Any]:
        """How far compression has gone: the counts the kill points are told apart by."""
        return self.one(STATE)

    def kill_at(
        self, lock: sql.Composed, where: Callable[[dict[str, Any]], bool], server_ends: bool
    ) -> None:
        """Hold ``lock``, run compression until it waits for it, check ``where`` of the state
        a kill leaves, and SIGKILL the run. Its server process is then ended with it
        (``server_ends``), or left to finish the statement it was in, as PostgreSQL does for
        a client that died mid-statement; either way the run's advisory lock goes with it."""
        self.holder.execute(lock)
        mine = self.holder.info.backend_pid
        process = deleton("compress", "--now", self.now, env=self.env, stderr=subprocess.PIPE)

        def waiting() -> dict[str, Any] | None:
            # ended: the point was never reached, or the run gave up on the lock (its
            # lock_timeout, 2 s: far longer than a poll takes, even on a loaded machine)
            if process.poll() is not None:
                raise AssertionError(process.communicate()[1].decode()[-2000:])
            return self.watch.execute(
                "SELECT pid, query FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                [mine],
            ).fetchone()

        server = wait_for(waiting, timeout=60, interval=0.01, what="the run to reach the lock")
        assert server is not None
        try:
            state = self.state()
            assert where(state), f"killed at the wrong point: {state}, in {server['query']!r}"
        finally:
            process.kill()
            process.wait()
            if server_ends:
                self.watch.execute("SELECT pg_terminate_backend(%s, 10000)", [server["pid"]])
            self.holder.rollback()
        gone = "SELECT count(*) = 0 AS gone FROM pg_stat_activity WHERE pid = %s"
        wait_for(lambda: self.one(gone, [server["pid"]])["gone"],
                 what="the killed run's server process to end")  # fmt: skip


def test_runs_killed_anywhere_are_finished_by_the_next(db: str, tmp_path: Path) -> None:
    dump = tmp_path / "fleet.jsonl"
    dump_fleet(dump, bikes=80, seconds=3600, seed=43)
    ingest_file(db, dump, **SETTINGS)
    wire = rides_from_wire(dump)
    rides = len(wire)
    env = env_for(db, compress_chunk="3")  # many small transactions: many places to die
    killer = Killer(db, env, (BEGIN + 24 * HOUR).isoformat())
    hours = [r[0] for r in rows(db, "SELECT c.relname FROM pg_inherits i"
                                " JOIN pg_class c ON c.oid = i.inhrelid"
                                " WHERE i.inhparent = 'daily.reading'::regclass ORDER BY c.relname")]  # fmt: skip
    assert len(hours) >= 2  # an hour dropped before a kill, and one a kill stops
    last_hour = sql.SQL("LOCK TABLE {} IN ACCESS SHARE MODE").format(
        sql.Identifier("daily", hours[-1])
    )

    def ride_in_the_middle(query: str) -> sql.Composed:
        """A lock on the middle one of the rides ``query`` gives in a run's order: chunks (3
        rides) before it and after it."""
        ids = [r[0] for r in rows(db, query)]
        return sql.SQL("SELECT 1 FROM daily.ride WHERE ride_id = {} FOR UPDATE").format(
            ids[len(ids) // 2]
        )

    try:
        # 1. mid-way through the summaries (by start, then id; the stale rides this run
        # closes first among them, so the lock is on one ended already): chunks committed
        killer.kill_at(
            ride_in_the_middle(
                "SELECT ride_id FROM daily.ride WHERE ended_at IS NOT NULL"
                " ORDER BY started_at, ride_id"
            ),
            lambda s: 0 < s["summaries"] < rides and s["rides"] == rides,
            server_ends=False,
        )
        # 2. every older hour dropped, and the last one's concurrent detach half done
        killer.kill_at(
            last_hour,
            lambda s: s["summaries"] == rides and s["hours"] == s["detaching"] == 1,
            server_ends=True,
        )
        # 3. that detach finished by the next run, which dies before it drops the table
        killer.kill_at(last_hour, lambda s: s["detaching"] == 1, server_ends=False)
        assert killer.state() | {"summaries": 0} == {
            "summaries": 0, "rides": rides, "hours": 0, "detaching": 0, "detached": 1
        }  # fmt: skip
        # 4. mid-way through removing the rides (by start): chunks gone before the locked one
        killer.kill_at(
            ride_in_the_middle("SELECT ride_id FROM daily.ride ORDER BY started_at"),
            lambda s: 0 < s["rides"] < rides and s["detached"] == 0,
            server_ends=False,
        )
    finally:
        killer.close()
    compress(db, BEGIN + 24 * HOUR)
    got = summaries(db)
    assert len(got) == rides
    for ride in wire:
        end = ride.last_line if ride.ended else ride.readings[-1][0]
        assert_matches(got[(ride.bike, to_datetime(ride.started))], summary(ride, end))
    for table in ("reading", "ride", "rider"):
        assert scalar(db, f"SELECT count(*) FROM daily.{table}") == 0, table
    assert rows(db, STATE) == [(rides, 0, 0, 0, 0)]


def window_figures(db: str, since: dt.datetime) -> tuple[Any, ...]:
    """A 24-hour window's figures, through the view over both schemas."""
    return tuple(
        rows(
            db,
            """SELECT count(*), sum(readings), round(sum(energy_kj)::numeric, 6),
                      round(sum(heart_rate_avg * heart_rate_readings)::numeric, 3),
                      sum(heart_rate_readings), sum(alerts), count(DISTINCT user_id),
                      round(sum(duration_s)::numeric, 3)
               FROM historical.ride_summary WHERE started_at >= %s AND ended_at IS NOT NULL""",
            [since],
        )[0]
    )


def test_readers_see_the_same_before_and_after(db: str, tmp_path: Path) -> None:
    ingest_file(db, simulated(db, tmp_path / "fleet.jsonl", 16, 45, 3600), **SETTINGS)
    now = dt.datetime.now(dt.UTC)
    since = now - 24 * HOUR
    with ConnectionPool(db, min_size=1, kwargs={"autocommit": True}) as pool:
        wall = now.timestamp()
        before = RecentRides(pool.connection, lambda: wall).refresh()
        figures = window_figures(db, since)
        # detail of rides ended over 20 minutes ago leaves daily
        out = compress(db, now + 12 * HOUR - dt.timedelta(minutes=20))
        assert "removed 0 readings" not in out
        assert scalar(db, "SELECT count(*) FROM historical.ride h WHERE NOT EXISTS"
                          " (SELECT 1 FROM daily.ride d WHERE d.ride_id = h.ride_id)") > 0  # fmt: skip
        after = RecentRides(pool.connection, lambda: wall).refresh()
    assert window_figures(db, since) == figures
    assert (after.rides, after.riders, after.riders_by_gender, after.riders_by_age) == (
        before.rides,
        before.riders,
        before.riders_by_gender,
        before.riders_by_age,
    )
    for name in ("energy_kj", "average_power", "average_resistance"):
        assert getattr(after, name) == pytest.approx(getattr(before, name), rel=1e-9)
    assert after.seconds_by_gender.keys() == before.seconds_by_gender.keys()
    for gender, seconds in before.seconds_by_gender.items():
        assert after.seconds_by_gender[gender] == pytest.approx(seconds)


def progress(db: str) -> int:
    return int(scalar(db, "SELECT coalesce(sum(next_position), 0) FROM daily.source_position"))


def test_compression_beside_a_live_ingest_loses_and_duplicates_nothing(
    db: str, kafka: LocalBroker
) -> None:
    count = fill_topic(kafka, "compressed", bikes=150, seconds=2400, seed=46)
    expected, ends, read = reference(kafka, "compressed", count)
    times: dict[int, list[int]] = defaultdict(list)  # each partition's line times, by offset
    for m in read:
        at = getattr(parse_value(m.value()), "at", None)
        line = times[m.partition()]
        line.append(at if at is not None else (line[-1] if line else START))

    def front() -> dt.datetime:
        """How far every partition has been stored: the slowest one's last line time."""
        stored_to = dict(rows(db, "SELECT partition, next_position FROM daily.source_position"))
        return to_datetime(min(
            times[p][(stored_to.get(p) or 1) - 1] for p in times
        ))  # fmt: skip

    env = env_for(db, kafka_bootstrap_servers=kafka.bootstrap, kafka_topic="compressed",
                  kafka_group_id="compressed", log_level="WARNING", **SETTINGS)  # fmt: skip
    ingest = deleton("ingest", env=env)
    runs = 0
    try:
        for share in (0.2, 0.35, 0.5, 0.65, 0.8, 0.95):
            # as ingestion reaches each point, old detail goes: the cutoff trails the stream's
            # front by ten minutes, as twelve hours trail it in production
            wait_for(lambda at=share: progress(db) >= at * count, timeout=120, what="progress")  # type: ignore[misc]
            compress(db, front() - dt.timedelta(minutes=10) + 12 * HOUR)
            runs += 1
        wait_for(lambda: settled(db, "kafka:compressed", ends), timeout=180, what="all stored")
    finally:
        ingest.send_signal(signal.SIGTERM)
        assert ingest.wait(timeout=60) == 0
    compress(db, BEGIN + HOUR)  # whatever ended since the last run, summarised
    bike = {r.ride_id: r.bike_serial for r in expected.new_rides}
    want: dict[tuple[str, dt.datetime], int] = defaultdict(int)
    for reading in expected.readings:
        start = next(r.started_at for r in expected.new_rides if r.ride_id == reading.ride_id)
        want[(bike[reading.ride_id], to_datetime(start))] += 1
    got: dict[tuple[str, dt.datetime], int] = {}
    for serial, start, readings in rows(
        db, "SELECT bike_serial, started_at, readings FROM historical.ride_summary"
    ):
        assert (serial, start) not in got  # each ride once, in one place
        got[(serial, start)] = readings
    assert got == dict(want) and runs == 6
    assert scalar(db, "SELECT count(*) FROM historical.ride h WHERE NOT EXISTS"
                      " (SELECT 1 FROM daily.ride d WHERE d.ride_id = h.ride_id)") > 0  # fmt: skip
    assert scalar(db, "SELECT count(*) FROM daily.ride WHERE ended_at IS NULL") == 0


def test_old_dead_letters_go_and_a_second_run_at_once_does_nothing(db: str) -> None:
    now = dt.datetime.now(dt.UTC)
    for age in (dt.timedelta(days=8), dt.timedelta(days=6)):
        execute(db, "INSERT INTO daily.dead_letter (source, partition, position, value, reason,"
                    " received_at) VALUES ('t', 0, 0, 'x', 'bad', %s)", [now - age])  # fmt: skip
    with psycopg.connect(db, autocommit=True) as holder:  # another run, mid-way
        holder.execute("SELECT pg_advisory_lock(%s)", [COMPRESSION])
        assert "another run holds the lock" in compress(db, now)
        assert scalar(db, "SELECT count(*) FROM daily.dead_letter") == 2
    assert "1 dead letters removed" in compress(db, now)
    assert scalar(db, "SELECT count(*) FROM daily.dead_letter") == 1


def test_deleton_jobs_compresses_on_its_schedule_and_stops_on_sigterm(
    db: str, tmp_path: Path
) -> None:
    ingest_file(db, simulated(db, tmp_path / "fleet.jsonl", 6, 48, 1200), **SETTINGS)
    ended = scalar(db, "SELECT count(*) FROM daily.ride WHERE ended_at IS NOT NULL")
    assert ended > 0
    env = env_for(db, compress_every="0.5", report_at="03:00")
    process = deleton("jobs", env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: scalar(db, "SELECT count(*) FROM historical.ride") == ended,
                 timeout=60, what="a scheduled run of deleton jobs")  # fmt: skip
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err[-2000:]
    assert b"compression every" in out


def test_a_partition_compression_cannot_read_is_named_and_skipped(db: str, tmp_path: Path) -> None:
    dump = tmp_path / "fleet.jsonl"
    dump_fleet(dump, bikes=8, seconds=1800, seed=47)
    ingest_file(db, dump, **SETTINGS)
    # made by hand, or before the partition function was bounded: none is an hour to read
    odd = {
        "reading_far": "FOR VALUES FROM ('10000-01-01 00:00+00') TO ('10000-01-01 01:00+00')",
        "reading_bc": "FOR VALUES FROM ('0044-03-15 00:00+00 BC') TO ('0044-03-15 01:00+00 BC')",
        "reading_rest": "DEFAULT",
    }
    for name, bound in odd.items():
        execute(db, f"CREATE TABLE daily.{name} PARTITION OF daily.reading {bound}")
    # an ended ride's: an open one's newest reading, 8,000 years ahead, would rightly keep it open
    execute(
        db,
        "INSERT INTO daily.reading (ride_id, at) SELECT min(ride_id), '10000-01-01 00:30+00'"
        " FROM daily.ride WHERE ended_at IS NOT NULL",
    )
    partitions = "SELECT count(*) FROM pg_inherits WHERE inhparent = 'daily.reading'::regclass"
    hours = scalar(db, partitions) - len(odd)
    now = (BEGIN + 24 * HOUR).isoformat()
    result = run_deleton("compress", "--now", now, env=env_for(db))
    assert result.returncode == 0, result.stderr[-2000:]
    warning = next(line for line in result.stderr.decode().splitlines() if "skipping" in line)
    for name in odd:
        assert f"daily.{name} (" in warning
    # every ride summarised and its detail gone, as ever; beside a default partition no hour
    # can be detached concurrently, so each was emptied instead
    assert scalar(db, "SELECT count(*) FROM daily.ride") == 0
    assert scalar(db, "SELECT count(*) FROM historical.ride") > 0
    assert scalar(db, "SELECT count(*) FROM daily.reading WHERE at < '9999-01-01'") == 0
    assert scalar(db, partitions) == hours + len(odd)
    execute(db, "DROP TABLE daily.reading_rest")
    again = run_deleton("compress", "--now", now, env=env_for(db))
    assert again.returncode == 0, again.stderr[-2000:]
    assert scalar(db, partitions) == 2  # the hours dropped now; the odd two still skipped
