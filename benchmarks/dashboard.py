"""Dashboard update-callback latency as ``daily.reading`` grows: 10^5, 10^6 and 10^7 rows.

The fleet is the same at every size: ``--active`` open rides (1,000 by default) of 100
readings each, the newest a second ago. Closed rides of an hour each (3,600 readings, over two
day partitions) fill the table up to each size. At each size, every callback body runs
``--runs`` times against a real PostgreSQL 18 and its outputs are JSON-encoded as Dash would:

  ride tick     a browser already showing the ride asks for what is new (one reading added
                before each call, untimed, as ingestion would)
  ride load     a browser opens a bike: the whole current ride
  fleet         the fleet page's update: the shared snapshot, sorted, one page rendered
  recent        the recent-rides page's update from its shared view
and the shared work behind the last two, done once per interval however many screens watch:
  fleet snapshot    every open ride with its newest reading (once a second)
  recent refresh    the 12-hour view brought up to date (once every 10 seconds)

    python benchmarks/dashboard.py [--active 1000 --runs 200]

Prints p50/p95 per callback and size and writes JSON to benchmarks/results/. A measurement,
not a test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from plotly.io.json import to_json_plotly
from psycopg_pool import ConnectionPool

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deleton.core.fleet_status import FleetStatus  # noqa: E402
from deleton.dashboard import views  # noqa: E402
from deleton.dashboard.snapshots import RecentRides  # noqa: E402
from deleton.postgres import queries, schema  # noqa: E402
from deleton.postgres.connection import embedded_url  # noqa: E402
from tests.harness.services import value  # noqa: E402

SIZES = (10**5, 10**6, 10**7)
# each ride's rider gender and age at its start, as ingestion stores them (migration 0008)
RIDER_AT_RIDE = (
    "UPDATE daily.ride r SET rider_gender = u.gender, rider_age = date_part('year',"
    " age((r.started_at AT TIME ZONE 'UTC')::date, u.date_of_birth))::int"
    " FROM daily.rider u WHERE u.user_id = r.user_id AND r.rider_age IS NULL"
)
ACTIVE_READINGS = 100
CLOSED_READINGS = 3600


def load_active(conn: psycopg.Connection[Any], active: int) -> None:
    """``active`` open rides with riders, the newest reading a second ago."""
    conn.execute(
        """INSERT INTO daily.rider SELECT g, 'Mx', 'Rider' || g, 'Number' || g,
               (ARRAY['female','male','other'])[1 + g %% 3], 'female', DATE '1970-01-01' + g * 7,
               'r' || g || '@example.com', g::text, 'Some Street', 'Town', 'AB1 2CD', 170, 70,
               DATE '2020-01-01', 'direct', now()
           FROM generate_series(1, %s) g""",
        [active],
    )
    conn.execute(
        """INSERT INTO daily.ride (ride_id, bike_serial, user_id, started_at)
           SELECT g, 'SN' || lpad(g::text, 5, '0'), g, now() - interval '101 seconds'
           FROM generate_series(1, %s) g""",
        [active],
    )
    conn.execute(RIDER_AT_RIDE)
    readings(conn, "SELECT ride_id, started_at FROM daily.ride", ACTIVE_READINGS)


def readings(conn: psycopg.Connection[Any], rides: str, count: int) -> None:
    conn.execute(
        f"""INSERT INTO daily.reading
            SELECT r.ride_id, r.started_at + s * interval '1 second', s, 30 + s %% 5 * 10,
                   90 + (r.ride_id + s) %% 60, 60 + s %% 40, 50 + s %% 90
            FROM ({rides}) r, generate_series(1, %s) s""",
        [count],
    )


def fill(conn: psycopg.Connection[Any], rides: int, first_id: int) -> None:
    """``rides`` closed hour-long rides, from yesterday morning on, before the active ones."""
    conn.execute(
        """INSERT INTO daily.ride (ride_id, bike_serial, user_id, started_at, ended_at)
           SELECT %(first)s + g, 'SN' || lpad((g %% 1000)::text, 5, '0'), 1 + g %% 1000,
                  date_trunc('day', now()) - interval '1 day' + (g %% 40) * interval '30 minutes',
                  date_trunc('day', now()) - interval '1 day' + (g %% 40) * interval '30 minutes'
                      + interval '1 hour'
           FROM generate_series(0, %(n)s - 1) g""",
        {"first": first_id, "n": rides},
    )
    conn.execute(RIDER_AT_RIDE)
    readings(
        conn,
        f"SELECT ride_id, started_at FROM daily.ride WHERE ride_id >= {first_id}",
        CLOSED_READINGS,
    )


def timed(
    runs: int, call: Callable[[], Any], before: Callable[[], None] | None = None
) -> dict[str, float]:
    samples = []
    for _ in range(runs):
        if before is not None:
            before()
        started = time.perf_counter()
        to_json_plotly(call())
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 2),
        "p95_ms": round(samples[int(len(samples) * 0.95) - 1], 2),
        "max_ms": round(samples[-1], 2),
    }


def measure(url: str, runs: int) -> dict[str, dict[str, float]]:
    with ConnectionPool(url, min_size=2, kwargs={"autocommit": True}) as pool:
        sources = views.DashboardData.over(pool.connection, 3600 * 10**6)
        sources.warm().join()  # the first 12-hour view is built once per process
        recent = RecentRides(pool.connection)
        recent.refresh()
        serial = "SN00007"
        state = views.ride_update(sources, {"serial": serial}).state

        def add_reading() -> None:
            with pool.connection() as conn:
                conn.execute(
                    """INSERT INTO daily.reading SELECT ride_id, max(at) + interval '1 second',
                              0, 30, 100, 70, 80 FROM daily.reading WHERE ride_id = 7
                       AND at > now() - interval '1 day' GROUP BY ride_id"""
                )

        def tick() -> Any:
            nonlocal state
            update = views.ride_update(sources, state)
            state = update.state
            return update.values()

        def fleet() -> Any:
            return views.fleet_update(
                views.fleet_view(sources, "zone", True, 0), "zone", True
            ).values()

        def pace() -> None:
            time.sleep(0.02)  # shared snapshots go stale and rebuild beside the callbacks

        return {
            "ride tick": timed(runs, tick, add_reading),
            "ride load": timed(
                runs, lambda: views.ride_update(sources, {"serial": serial}).values()
            ),
            "fleet": timed(runs, fleet, pace),
            "recent": timed(runs, lambda: views.recent_update(sources.recent.get()).values(), pace),
            "fleet snapshot (shared, 1/s)": timed(runs, lambda: snapshot(pool)),
            "recent refresh (shared, 1/10 s)": timed(max(20, runs // 10), recent.refresh),
        }


def snapshot(pool: ConnectionPool) -> Any:
    with pool.connection() as conn:
        rides = queries.open_rides(conn)
    return FleetStatus(rides, int(time.time() * 1_000_000), 3600 * 10**6).counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--active", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    url = embedded_url(Path(tempfile.mkdtemp(prefix="deleton-dash-bench-")))
    results: dict[str, Any] = {"active_rides": args.active, "runs": args.runs, "sizes": {}}
    with psycopg.connect(url, autocommit=True) as conn:
        schema.reset(conn)
        # partitions are an hour wide (migration 0002): every hour from yesterday to tomorrow
        conn.execute(
            "SELECT daily.ensure_reading_partition(h, interval '3 days') FROM generate_series("
            "date_trunc('day', now()) - interval '1 day', date_trunc('day', now())"
            " + interval '2 days', interval '1 hour') h"
        )
        load_active(conn, args.active)
        next_id = args.active + 1
        for size in SIZES:
            have = value(conn, "SELECT count(*) FROM daily.reading")
            rides = max(0, (size - have) // CLOSED_READINGS)
            if rides:
                started = time.monotonic()
                fill(conn, rides, next_id)
                next_id += rides
                print(f"filled {rides} closed rides in {time.monotonic() - started:.0f} s")
            conn.execute("VACUUM ANALYZE daily.ride, daily.rider, daily.reading")
            total = value(conn, "SELECT count(*) FROM daily.reading")
            figures = measure(url, args.runs)
            results["sizes"][str(size)] = {"readings": total, **figures}
            print(f"daily.reading: {total:,} rows, {args.active} bikes riding")
            for name, figure in figures.items():
                print(
                    f"  {name:<10} p50 {figure['p50_ms']:7.2f} ms  p95 {figure['p95_ms']:7.2f} ms"
                )
    out = ROOT / "benchmarks" / "results" / f"dashboard-{int(time.time())}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
