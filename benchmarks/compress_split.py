"""Where compression's time to summarise a day goes, split in one session (Issue 18): the
statement compression ran before the one definition of a ride's figures (26236d1), the sums
of today's ``daily.ride_figures`` alone, and today's whole statement, over the same rides.

One day of ``--bikes`` bikes is loaded with ``benchmarks/compress.py``'s loader into a scratch
embedded PostgreSQL; its rides are cut into the chunks ``deleton compress`` summarises. Then,
round by round in an order that alternates (a b c, c b a, ...), each statement summarises
every chunk, each chunk in a transaction rolled back, so that every run sees the same data:

a. 26236d1's: its ``_SUMMARISE``, the text as it was (sums in one hash aggregation);
b. today's sums alone: ``daily.ride_sums`` (0024), the sums ``daily.ride_figures`` is built
   on, and what they give, without the figures that need reading order;
c. today's: compression's own ``_SUMMARISE`` (``daily.ride_figures`` in full).

Each is an INSERT into ``historical.ride`` whose rides are locked FOR UPDATE, as compression
runs them: PostgreSQL plans no parallel workers for a statement that writes or locks rows (the
script checks), so the server backend's CPU (``/proc/<pg_backend_pid>/stat``, user + system)
is all the work, and steadier than wall time on a shared machine. A plain SELECT of the sums
is planned with two parallel workers, whose CPU the backend's figure misses: on a day of 250
bikes it read 0.4-0.5 s where the same aggregation costs 1.15 s with no workers, which is how
the sums alone were once put at half of 26236d1's statement. One unrecorded round warms the
caches first.

    python benchmarks/compress_split.py [--bikes 250 --rounds 3]

Prints and writes benchmarks/results/compress-split.json. A measurement, not a test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.compress import CONFIG, DAY, load_day  # noqa: E402
from benchmarks.record import Record, Row, scratch, write  # noqa: E402
from deleton.postgres import figures  # noqa: E402
from deleton.postgres.compression import _SUMMARISE, CompressionRun  # noqa: E402
from deleton.postgres.connection import Database, embedded_url  # noqa: E402

# (a) Copied from `git show 26236d1:src/deleton/postgres/compression.py`, its _SUMMARISE: the
# statement compression ran before daily.ride_figures, unchanged. Its MARGIN (an hour) is the
# reading window the bounds below are taken with today, so all three read the same hours.
BEFORE = """
WITH rides AS (
    -- locked, as the API's delete locks a ride: a ride deleted beside this summary is skipped
    SELECT * FROM daily.ride WHERE ride_id = ANY(%(rides)s) AND ended_at IS NOT NULL FOR UPDATE
), readings AS (
    SELECT x.ride_id,
           count(*) AS readings,
           avg(x.heart_rate) FILTER (WHERE x.heart_rate > 0)::float8 AS heart_rate_avg,
           min(x.heart_rate) FILTER (WHERE x.heart_rate > 0) AS heart_rate_min,
           max(x.heart_rate) FILTER (WHERE x.heart_rate > 0) AS heart_rate_max,
           avg(x.power) AS power_avg, max(x.power) AS power_max,
           sum(x.power) / 1000 AS energy_kj,
           avg(x.rpm)::float8 AS rpm_avg, max(x.rpm) AS rpm_max,
           avg(x.resistance)::float8 AS resistance_avg, max(x.resistance) AS resistance_max,
           count(*) FILTER (WHERE x.heart_rate > 0) AS heart_rate_readings,
           count(x.power) AS power_readings, count(x.rpm) AS rpm_readings,
           count(x.resistance) AS resistance_readings
    FROM daily.reading x
    WHERE x.ride_id = ANY(%(rides)s) AND x.at >= %(lower)s AND x.at <= %(upper)s
    GROUP BY x.ride_id
), alerts AS (
    SELECT ride_id, count(*) FILTER (WHERE kind = 'high') AS high,
           count(*) FILTER (WHERE kind = 'low') AS low
    FROM daily.alert WHERE ride_id = ANY(%(rides)s) GROUP BY ride_id
)
INSERT INTO historical.ride AS h (
    ride_id, bike_serial, user_id, host, started_at, ended_at, duration_s, readings,
    heart_rate_avg, heart_rate_min, heart_rate_max, power_avg, power_max, energy_kj,
    rpm_avg, rpm_max, resistance_avg, resistance_max, heart_rate_readings, power_readings,
    rpm_readings, resistance_readings, alerts, alerts_high, alerts_low, summarised_at)
SELECT r.ride_id, r.bike_serial, r.user_id, r.host, r.started_at, r.ended_at,
       extract(epoch FROM r.ended_at - r.started_at)::float8, coalesce(s.readings, 0),
       s.heart_rate_avg, s.heart_rate_min, s.heart_rate_max, s.power_avg, s.power_max,
       s.energy_kj, s.rpm_avg, s.rpm_max, s.resistance_avg, s.resistance_max,
       coalesce(s.heart_rate_readings, 0), coalesce(s.power_readings, 0),
       coalesce(s.rpm_readings, 0), coalesce(s.resistance_readings, 0),
       coalesce(a.high + a.low, 0), coalesce(a.high, 0), coalesce(a.low, 0), now()
FROM rides r LEFT JOIN readings s USING (ride_id) LEFT JOIN alerts a USING (ride_id)
ON CONFLICT (ride_id) DO UPDATE SET
    bike_serial = EXCLUDED.bike_serial, user_id = EXCLUDED.user_id, host = EXCLUDED.host,
    started_at = EXCLUDED.started_at, ended_at = EXCLUDED.ended_at,
    duration_s = EXCLUDED.duration_s, readings = EXCLUDED.readings,
    heart_rate_avg = EXCLUDED.heart_rate_avg, heart_rate_min = EXCLUDED.heart_rate_min,
    heart_rate_max = EXCLUDED.heart_rate_max, power_avg = EXCLUDED.power_avg,
    power_max = EXCLUDED.power_max, energy_kj = EXCLUDED.energy_kj,
    rpm_avg = EXCLUDED.rpm_avg, rpm_max = EXCLUDED.rpm_max,
    resistance_avg = EXCLUDED.resistance_avg, resistance_max = EXCLUDED.resistance_max,
    heart_rate_readings = EXCLUDED.heart_rate_readings,
    power_readings = EXCLUDED.power_readings, rpm_readings = EXCLUDED.rpm_readings,
    resistance_readings = EXCLUDED.resistance_readings, alerts = EXCLUDED.alerts,
    alerts_high = EXCLUDED.alerts_high, alerts_low = EXCLUDED.alerts_low,
    summarised_at = EXCLUDED.summarised_at
"""

# (b) The sums alone: daily.ride_sums (migration 0024), which daily.ride_figures reads its
# sums from, called as ride_figures calls it, with the alerts and the columns they give, in
# the shape of today's _SUMMARISE (rides locked, INSERT ... ON CONFLICT). The one difference:
# ride_figures takes the power's sum from the running sum in reading order (to match
# core/training.py's float additions to the last digit); here it is ride_sums' own, in the
# same hash aggregation, as 26236d1's. What is left out is exactly what needs reading order:
# the training figures.
SUMS_ONLY = """
WITH rides AS (
    SELECT ride_id, bike_serial, user_id, host, started_at, ended_at, rider_gender, rider_age
    FROM daily.ride
    WHERE ride_id = ANY(%(rides)s) AND ended_at IS NOT NULL FOR UPDATE
), s AS (
    SELECT * FROM daily.ride_sums(
        %(rides)s::bigint[],
        array_fill(%(lower)s::timestamptz, ARRAY[cardinality(%(rides)s::bigint[])]),
        %(lower)s, %(upper)s)
), a AS (
    SELECT al.ride_id,
           count(*) FILTER (WHERE al.kind = 'high') AS high,
           count(*) FILTER (WHERE al.kind = 'low') AS low
    FROM daily.alert al
    WHERE al.ride_id = ANY(%(rides)s)
    GROUP BY al.ride_id
)
INSERT INTO historical.ride AS h (
    ride_id, bike_serial, user_id, host, started_at, ended_at, rider_gender, rider_age,
    duration_s, readings, heart_rate_avg, heart_rate_min, heart_rate_max, power_avg,
    power_max, energy_kj, rpm_avg, rpm_max, resistance_avg, resistance_max,
    heart_rate_readings, power_readings, rpm_readings, resistance_readings, alerts,
    alerts_high, alerts_low, heart_rate_sum, power_sum, rpm_sum, resistance_sum, summarised_at)
SELECT r.ride_id, r.bike_serial, r.user_id, r.host, r.started_at, r.ended_at, r.rider_gender,
       r.rider_age,
       extract(epoch FROM coalesce(r.ended_at, s.last_at, r.started_at) - r.started_at)::float8,
       coalesce(s.readings, 0)::int,
       s.heart_rate_sum::float8 / nullif(s.heart_rate_readings, 0),
       s.heart_rate_min,
       s.heart_rate_max,
       s.power_sum / nullif(s.power_readings, 0),
       s.power_max,
       s.power_sum / 1000,
       s.rpm_sum::float8 / nullif(s.rpm_readings, 0),
       s.rpm_max,
       s.resistance_sum::float8 / nullif(s.resistance_readings, 0),
       s.resistance_max,
       coalesce(s.heart_rate_readings, 0)::int,
       coalesce(s.power_readings, 0)::int,
       coalesce(s.rpm_readings, 0)::int,
       coalesce(s.resistance_readings, 0)::int,
       coalesce(a.high + a.low, 0)::int,
       coalesce(a.high, 0)::int,
       coalesce(a.low, 0)::int,
       s.heart_rate_sum,
       s.power_sum,
       s.rpm_sum,
       s.resistance_sum,
       now()
FROM rides r LEFT JOIN s ON s.ride_id = r.ride_id LEFT JOIN a ON a.ride_id = r.ride_id
ON CONFLICT (ride_id) DO UPDATE SET
    (bike_serial, user_id, host, started_at, ended_at, rider_gender, rider_age, duration_s,
     readings, heart_rate_avg, heart_rate_min, heart_rate_max, power_avg, power_max,
     energy_kj, rpm_avg, rpm_max, resistance_avg, resistance_max, heart_rate_readings,
     power_readings, rpm_readings, resistance_readings, alerts, alerts_high, alerts_low,
     heart_rate_sum, power_sum, rpm_sum, resistance_sum, summarised_at)
  = ROW(EXCLUDED.bike_serial, EXCLUDED.user_id, EXCLUDED.host, EXCLUDED.started_at,
        EXCLUDED.ended_at, EXCLUDED.rider_gender, EXCLUDED.rider_age, EXCLUDED.duration_s,
        EXCLUDED.readings, EXCLUDED.heart_rate_avg, EXCLUDED.heart_rate_min,
        EXCLUDED.heart_rate_max, EXCLUDED.power_avg, EXCLUDED.power_max, EXCLUDED.energy_kj,
        EXCLUDED.rpm_avg, EXCLUDED.rpm_max, EXCLUDED.resistance_avg, EXCLUDED.resistance_max,
        EXCLUDED.heart_rate_readings, EXCLUDED.power_readings, EXCLUDED.rpm_readings,
        EXCLUDED.resistance_readings, EXCLUDED.alerts, EXCLUDED.alerts_high,
        EXCLUDED.alerts_low, EXCLUDED.heart_rate_sum, EXCLUDED.power_sum, EXCLUDED.rpm_sum,
        EXCLUDED.resistance_sum, EXCLUDED.summarised_at)
"""

Statement = str | sql.Composed
STATEMENTS: dict[str, Statement] = {
    "before": BEFORE,  # (a)
    "sums_only": SUMS_ONLY,  # (b)
    "today": _SUMMARISE,  # (c): the live statement, so the figures follow any change to it
}
CHUNK = CONFIG.chunk  # rides ``deleton compress`` summarises in one transaction
TICKS = os.sysconf("SC_CLK_TCK")


def chunks(database: Database) -> list[dict[str, Any]]:
    """The parameters of each chunk ``deleton compress`` would summarise a minute after the
    day ends: its rides, and the bounds of their readings."""
    run = CompressionRun(database, DAY + dt.timedelta(days=1, minutes=1), CONFIG.retention,
                         CONFIG.dead_letter_retention)  # fmt: skip
    try:
        pending = run.unsummarised()
    finally:
        run.close()
    found = []
    for first in range(0, len(pending), CHUNK):
        rides = pending[first : first + CHUNK]
        spans = [figures.bounds(r.started_at, r.ended_at, database.reading_window) for r in rides]
        found.append({"rides": [ride.ride_id for ride in rides],
                      "lower": min(lower for lower, _ in spans),
                      "upper": max(upper for _, upper in spans)})  # fmt: skip
    return found


def backend_cpu(pid: int) -> float:
    """Seconds of CPU (user + system) the server process ``pid`` has used so far."""
    # the fields after the command's closing parenthesis: state is field 3, utime 14, stime 15
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def parallel_plans(conn: psycopg.Connection[Any], work: list[dict[str, Any]]) -> list[str]:
    """The statements whose plan has a Gather: their workers' CPU would be missed."""
    found = []
    for name, statement in STATEMENTS.items():
        with conn.transaction(force_rollback=True):
            text = sql.SQL(statement) if isinstance(statement, str) else statement
            cur = conn.execute(sql.SQL("EXPLAIN ") + text, work[0], prepare=False)
            if any("Gather" in line for (line,) in cur.fetchall()):
                found.append(name)
    return found


def summarise(conn: psycopg.Connection[Any], pid: int, statement: Statement,
              work: list[dict[str, Any]]) -> tuple[float, float]:  # fmt: skip
    """Summarise every chunk with ``statement``, each in a transaction rolled back; the
    backend's CPU seconds and the wall seconds, over all chunks."""
    cpu = wall = 0.0
    for params in work:
        with conn.transaction(force_rollback=True):
            cpu_before, started = backend_cpu(pid), time.perf_counter()
            # planned with the bounds known, as compression plans it
            cur = conn.execute(statement, params, prepare=False)
            wall += time.perf_counter() - started
            cpu += backend_cpu(pid) - cpu_before
            if cur.rowcount != len(params["rides"]):
                raise SystemExit(f"summarised {cur.rowcount} of {len(params['rides'])} rides")
    return cpu, wall


def split(url: str, args: argparse.Namespace) -> dict[str, Any]:
    rides, readings = load_day(url, args.bikes, args.rides, args.seconds)
    print(f"daily: {rides:,} rides, {readings:,} readings", flush=True)
    database = Database(url)
    work = chunks(database)
    cpu: dict[str, list[float]] = {name: [] for name in STATEMENTS}
    wall: dict[str, list[float]] = {name: [] for name in STATEMENTS}
    with database.connect(autocommit=True) as conn:
        if parallel := parallel_plans(conn, work):
            raise SystemExit(f"parallel plans, whose workers' CPU is not counted: {parallel}")
        pid = int(conn.execute("SELECT pg_backend_pid()").fetchone()[0])  # type: ignore[index]
        for statement in STATEMENTS.values():  # the warm-up round, not recorded
            summarise(conn, pid, statement, work)
        names = list(STATEMENTS)
        for round_ in range(args.rounds):
            for name in names if round_ % 2 == 0 else names[::-1]:
                seconds, elapsed = summarise(conn, pid, STATEMENTS[name], work)
                cpu[name].append(seconds)
                wall[name].append(elapsed)
                print(f"round {round_} {name:9} CPU {seconds:5.2f} s  wall {elapsed:5.2f} s",
                      flush=True)  # fmt: skip
    median_cpu = {name: statistics.median(runs) for name, runs in cpu.items()}
    median_wall = {name: statistics.median(runs) for name, runs in wall.items()}
    result: dict[str, Any] = {
        "rides": rides,
        "readings": readings,
        "chunks": [len(params["rides"]) for params in work],
        "cpu_seconds": cpu,
        "wall_seconds": wall,
        "median_cpu_seconds": median_cpu,
        "median_wall_seconds": median_wall,
        # (b)/(a) and (c)/(a): by CPU, and by wall time for comparison
        "ratios_cpu": {name: median_cpu[name] / median_cpu["before"] for name in STATEMENTS},
        "ratios_wall": {name: median_wall[name] / median_wall["before"] for name in STATEMENTS},
        "clock_ticks_per_s": TICKS,
        "load_average": list(os.getloadavg()),
    }
    print(f"median backend CPU: before {median_cpu['before']:.2f} s, sums only"
          f" {median_cpu['sums_only']:.2f} s ({result['ratios_cpu']['sums_only']:.2f}x), today"
          f" {median_cpu['today']:.2f} s ({result['ratios_cpu']['today']:.2f}x)")  # fmt: skip
    return result


def row(record: Record) -> Row:
    """Where compression's summarising time goes: the three statements' backend CPU."""
    figures_, args = record.figures, record.arguments
    cpu, ratio = figures_["median_cpu_seconds"], figures_["ratios_cpu"]
    return Row(
        f"where compression's time to summarise a day goes, against 26236d1 (before"
        f" daily.ride_figures): a day of {args['bikes']:,} bikes ({figures_['readings']:,}"
        f" readings, {figures_['rides']:,} rides in {len(figures_['chunks'])} chunks)",
        f"server CPU, median of {args['rounds']} runs each, alternating: 26236d1's statement"
        f" {cpu['before']:.2f} s; today's sums alone {cpu['sums_only']:.2f} s"
        f" ({ratio['sums_only']:.2f}x); today's `daily.ride_figures` {cpu['today']:.2f} s"
        f" ({ratio['today']:.2f}x), of which the training figures"
        f" {cpu['today'] - cpu['sums_only']:.2f} s",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bikes", type=int, default=250)
    parser.add_argument("--rides", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each statement")
    args = parser.parse_args()
    folder = scratch("deleton-compress-split-")
    url = embedded_url(folder / "pg")
    write("compress-split", vars(args), split(url, args), url)


if __name__ == "__main__":
    main()
