"""Bike health through the whole path: a simulated fleet with faulty bikes, in the wire format,
ingested and then compressed; compression's checks (compress/health.py) find each faulty
bike, with the right kind and its evidence, flag no sound bike, and keep each ride's checks
with its summary, so a second run finds nothing new to check."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from deleton.core.simulation import FaultyBike, serial
from deleton.dump.kcat import KcatSink
from deleton.simulator.runner import run
from tests.harness.fleet import ingest_file
from tests.harness.services import env_for, rows, run_deleton

BIKES = 60
HOURS = 2.5
FAULTS = {
    3: FaultyBike("silent"), 9: FaultyBike("silent"),
    14: FaultyBike("resistance_stuck"), 20: FaultyBike("resistance_stuck"),
    25: FaultyBike("cadence_stuck"), 31: FaultyBike("cadence_stuck"),
    36: FaultyBike("heart_strap"), 42: FaultyBike("heart_strap"),
    47: FaultyBike("offline", after_s=1800), 51: FaultyBike("offline", after_s=2400),
    5: FaultyBike("power_drift", 0.06), 17: FaultyBike("power_drift", -0.06),
    28: FaultyBike("power_drift", 0.15), 39: FaultyBike("power_drift", -0.15),
    55: FaultyBike("power_drift", 0.02),  # within tolerance: never flagged
}  # fmt: skip
FLAGGED = {serial(i): fault.kind for i, fault in FAULTS.items() if abs(fault.drift) != 0.02}


def ridden(db: str, tmp_path: Path, bikes: int, seed: int, minutes: int) -> None:
    """``bikes`` simulated bikes ridden for the last ``minutes``, their lines ingested."""
    dump = tmp_path / "fleet.jsonl"
    start = int((dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes)).timestamp()) * 1_000_000
    with dump.open("wb") as out:
        run(KcatSink(out, "deloton", 2), size=bikes, seed=seed, start=start,
            until=start + minutes * 60 * 1_000_000, speed=None)  # fmt: skip
    ingest_file(db, dump)


@pytest.fixture
def compressed(db: str, tmp_path: Path) -> str:
    now = dt.datetime.now(dt.UTC)
    start = int((now - dt.timedelta(hours=HOURS)).timestamp()) * 1_000_000
    dump = tmp_path / "fleet.jsonl"
    with dump.open("wb") as out:
        run(KcatSink(out, "deloton", 4), size=BIKES, seed=21, start=start,
            until=start + int(HOURS * 3600) * 1_000_000, speed=None, faults=FAULTS)  # fmt: skip
    ingest_file(db, dump)
    # every ride ended and summarised: as of a day later, nothing is still riding
    later = (now + dt.timedelta(days=1)).isoformat()
    env = env_for(db, offline_after="2700", metrics_emf="true")
    done = run_deleton("compress", "--now", later, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert b"bike health" in done.stdout
    # on ECS, the run's figures reach CloudWatch as an EMF line (deploy/terraform's alarms)
    (emf,) = [json.loads(line) for line in done.stdout.splitlines() if line.startswith(b"{")]
    assert emf["Job"] == "compress" and emf["CompressionFailures"] == 0
    assert emf["BikesFlagged"] == len(FLAGGED) and emf["RidesSummarised"] > 0
    # each ride was checked with its summary: a second run has none left to check
    again = run_deleton("compress", "--now", later, env=env, timeout=300)
    assert b"bike health: 0 rides checked" in again.stdout, again.stdout
    return db


def test_compression_finds_each_faulty_bike_and_no_sound_one(compressed: str) -> None:
    found = rows(compressed, "SELECT bike_serial, kind, first_seen, last_seen, detail"
                 " FROM historical.bike_finding WHERE cleared_at IS NULL")  # fmt: skip
    by_bike: dict[str, set[str]] = {}
    for bike, kind, first, last, _ in found:
        by_bike.setdefault(bike, set()).add(kind)
        assert first <= last
    assert by_bike == {bike: {kind} for bike, kind in FLAGGED.items()}
    drift = {bike: detail for bike, kind, *_, detail in found if kind == "power_drift"}
    for index in (5, 17, 28, 39):
        expected = FAULTS[index].drift * 100
        assert abs(drift[serial(index)]["drift_pct"] - expected) < 0.5
        assert drift[serial(index)]["readings"] >= 600

    ride_based = {bike: detail for bike, kind, *_, detail in found if kind != "power_drift"}
    for bike, detail in ride_based.items():
        assert detail["rides"] if FLAGGED[bike] != "offline" else detail["last_line_at"]


def test_what_the_checks_keep_of_a_bike_names_no_rider(compressed: str) -> None:
    """A rider's id kept with a bike's recent rides would outlive their erasure (which gives
    their rides a tombstone id): the kept rides carry none, and the checks read each ride's
    rider from the rides themselves."""
    kept = rows(compressed, "SELECT recent FROM historical.bike_health")
    rides = [ride for (recent,) in kept for by_kind in recent.values() for ride in by_kind]
    assert rides and all(ride[1] is None for ride in rides)


def test_checks_that_fail_leave_their_rides_unchecked_and_compression_going(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bad data the rules did not foresee must not stop compression: a chunk's checks that
    raise are rolled back to their savepoint, logged and counted, and the summaries commit."""
    from deleton.compress.command import run_once
    from deleton.compress.config import CompressConfig
    from deleton.postgres import health as store
    from deleton.postgres.connection import Database

    ridden(db, tmp_path, bikes=3, seed=5, minutes=20)

    def broken(*_: object) -> None:
        raise ZeroDivisionError("a rule met data it did not foresee")

    monkeypatch.setattr(store, "readings_of", broken)
    config = CompressConfig(dt.timedelta(hours=12), dt.timedelta(days=7), 3600.0)
    outcome = run_once(Database(db), config, dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    assert outcome.summarised > 0 and outcome.health is not None
    assert outcome.health.failures >= 1 and "FAILED" in outcome.line()
    summarised = rows(db, "SELECT count(*) FROM historical.ride")[0][0]
    assert summarised == outcome.summarised


def test_the_read_ahead_is_used_only_for_the_rides_as_the_transaction_sees_them(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checks read a chunk's readings on their own connection while its summaries are
    made: what they read is fed in only when the chunk's rides are, in its transaction, as
    they were read (same rides, riders and starts, as many readings as the summaries
    counted); a rider erased, a ride deleted or a late reading meanwhile has the chunk read
    again in the transaction, and so does a read-ahead that could not connect."""
    from concurrent import futures

    import psycopg

    from deleton.compress.health import HealthCheck
    from deleton.postgres import health as store
    from deleton.postgres.compression import CompressionRun
    from deleton.postgres.connection import Database

    ridden(db, tmp_path, bikes=4, seed=8, minutes=30)
    database = Database(db)

    def compression() -> CompressionRun:
        return CompressionRun(database, dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
                              dt.timedelta(hours=12), dt.timedelta(days=7))  # fmt: skip

    summaries = compression()
    try:
        summaries.close_stale(summaries.stale_open_rides())  # every ride ended
        spans = summaries.unsummarised()
    finally:
        summaries.close()
    ids = [ride.ride_id for ride in spans]
    lower, upper = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=h) for h in (-2, 1))
    reads: list[str] = []
    read = store.readings_of

    def counted(*args: object) -> store.RideReadings:
        reads.append("read")
        return read(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "readings_of", counted)

    def checked(check: HealthCheck, meanwhile: str | None = None) -> None:
        """The chunk's summaries made as compression makes them, ``meanwhile`` done in the
        transaction after the read-ahead read, then the chunk checked; rolled back."""
        check.ahead(ids, lower, upper)
        if check._ahead is not None:
            futures.wait([check._ahead])  # read before anything changes
        run_ = compression()
        try:
            with run_.conn.transaction(force_rollback=True):
                if meanwhile:
                    run_.conn.execute(meanwhile, [ids[0]])
                run_.summarise(spans)  # the summaries alone: the check is called here below
                check.rides(run_.conn, ids, lower, upper)
        finally:
            run_.close()

    database_check = HealthCheck(3 * 86_400 * 1_000_000, lambda: database.connect(autocommit=True))
    try:
        checked(database_check)
        assert len(reads) == 1 and database_check.failures == 0  # the read-ahead's, fed in
        readings = database_check.readings_checked
        assert database_check.rides_checked == len(ids) and readings > 0
        for change in (
            "UPDATE daily.ride SET user_id = -1 - coalesce(user_id, 0) WHERE ride_id = %s",
            """INSERT INTO daily.reading (ride_id, at, resistance)
               SELECT ride_id, started_at + interval '1 second' / 3, 40 FROM daily.ride
               WHERE ride_id = %s""",
            "DELETE FROM daily.reading WHERE ride_id = %s",
        ):
            before = len(reads)
            checked(database_check, change)
            assert len(reads) == before + 2, change  # read ahead, then again in the transaction
        assert database_check.failures == 0
    finally:
        database_check.close()

    def refused() -> psycopg.Connection[object]:
        raise psycopg.OperationalError("no connection for the read-ahead")

    unconnected = HealthCheck(3 * 86_400 * 1_000_000, refused)
    try:
        before = len(reads)
        checked(unconnected)
        assert len(reads) == before + 1 and unconnected.failures == 0  # read in the transaction
        assert unconnected.rides_checked == len(ids)
    finally:
        unconnected.close()
