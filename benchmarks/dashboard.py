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

    python benchmarks/dashboard.py [--active 1000 --runs 200 --sizes 100000 1000000 10000000]

Prints p50/p95 per callback and size and writes benchmarks/results/dashboard.json
(dashboard-N-active.json for another number of riding bikes). A measurement, not a test.

    python benchmarks/dashboard.py --http --baseline REV [--rounds 4 --runs 300]

measures what the sign-in costs instead: the ride tick and the fleet update as a browser asks
for them (a POST to ``/_dash-update-component`` through the whole Flask app, Flask's test
client standing in for the network), in alternate rounds of the code at ``REV`` (before the
sign-in) and of this tree (signed in as staff: the session cookie checked, the viewer checked
against the database at most every 10 s, the callback's permission checked), each round a
process of its own over one database of ``--active`` riding bikes and 10^5 readings; it
writes benchmarks/results/dashboard-signin.json.
"""

from __future__ import annotations

import argparse
import inspect
import io
import json
import os
import re
import statistics
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import psycopg
from plotly.io.json import to_json_plotly
from psycopg_pool import ConnectionPool

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.record import (  # noqa: E402
    Record,
    Row,
    count_word,
    decimals,
    labelled,
    power_of_ten,
    scratch,
    span,
    write,
)
from deleton.core.fleet_status import FleetStatus  # noqa: E402
from deleton.dashboard import views  # noqa: E402
from deleton.dashboard.recent import RecentRides  # noqa: E402
from deleton.postgres import queries, schema  # noqa: E402
from deleton.postgres.connection import embedded_url  # noqa: E402
from tests.harness.services import value  # noqa: E402

SIZES = (10**5, 10**6, 10**7)
ACTIVE = 1000  # riding bikes of the benchmark named plainly "dashboard"
# each ride's rider gender and age at its start, as ingestion stores them (migration 0008)
RIDER_AT_RIDE = (
    "UPDATE daily.ride r SET rider_gender = u.gender, rider_age = date_part('year',"
    " age((r.started_at AT TIME ZONE 'UTC')::date, u.date_of_birth))::int"
    " FROM daily.rider u WHERE u.user_id = r.user_id AND r.rider_age IS NULL"
)
ACTIVE_READINGS = 100
CLOSED_READINGS = 3600
SNAPSHOT, REFRESH = "fleet snapshot (shared, 1/s)", "recent refresh (shared, 1/10 s)"


def row(record: Record) -> Row:
    args = record.arguments
    sizes: dict[str, dict[str, Any]] = record.figures["sizes"]

    def p95(name: str, places: int, at: Iterable[str] = tuple(sizes)) -> str:
        return " / ".join(decimals(places)(sizes[size][name]["p95_ms"]) for size in at)

    def spread(name: str, places: int, runs: Iterable[dict[str, Any]], q: str = "p95_ms") -> str:
        """From the smallest to the largest over every size of ``runs``."""
        return span((at[name][q] for run in runs for at in run["sizes"].values()), decimals(places))

    if args["active"] != ACTIVE:  # a fleet of another size: its largest table is the point
        largest = (max(sizes, key=int),)
        return Row(
            f"dashboard updates, {args['active']:,} bikes riding,"
            f" {power_of_ten(int(largest[0]))} rows",
            f"p95: ride tick {p95('ride tick', 1, largest)} ms, fleet {p95('fleet', 0, largest)}"
            f" ms; fleet snapshot {p95(SNAPSHOT, 0, largest)} ms once a second, recent rides"
            f" {p95(REFRESH, 0, largest)} ms once every 10 s",
        )
    this = [record.figures]
    text = (
        f"p95: ride tick {p95('ride tick', 1)} ms, ride page load {p95('ride load', 1)} ms (its"
        f" ride grows by the ticks timed before it), fleet {p95('fleet', 0)} ms, recent rides"
        f" {spread('recent', 1, this)} ms; shared rebuilds beside them: fleet snapshot"
        f" {spread(SNAPSHOT, 0, this)} ms once a second, recent rides {spread(REFRESH, 0, this)}"
        " ms once every 10 s"
    )
    for label, others in labelled(record.other_runs):  # only in files converted from old ones
        runs = [other["figures"] for other in others]
        note = others[0].get("note")
        text += (
            f". {label}, in {count_word(len(runs))} runs: fleet snapshot p50"
            f" {spread(SNAPSHOT, 0, runs, 'p50_ms')} ms, recent rides"
            f" {spread(REFRESH, 0, runs, 'p50_ms')} ms" + (f", {note}" if note else "")
        )
    rows = " / ".join(power_of_ten(int(size)) for size in sizes)
    return Row(
        f"dashboard updates, {args['active']:,} bikes riding, `daily.reading` at {rows} rows", text
    )


def signin_row(record: Record) -> Row:
    """The ``--http`` A/B: what signing in costs the two updates a screen makes most."""
    figures = record.figures
    parts = [
        f"{name} {figures[name]['before_ms']:.2f} ms before, {figures[name]['after_ms']:.2f} ms"
        f" signed in ({figures[name]['ratio']:.2f}x)"
        for name in ("ride tick", "fleet")
    ]
    return Row(
        f"what sign-in costs a dashboard update, {record.arguments['active']:,} bikes riding,"
        f" through the whole Flask app, against {record.arguments['baseline']}",
        f"median of {record.arguments['rounds']} alternating rounds of"
        f" {record.arguments['runs']} updates: " + "; ".join(parts),
    )


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


def seeded(active: int) -> str:
    """A new embedded database with ``active`` bikes riding and hourly partitions about now."""
    url = embedded_url(scratch("deleton-dash-bench-"))
    with psycopg.connect(url, autocommit=True) as conn:
        schema.reset(conn)
        # partitions are an hour wide (migration 0002): every hour from yesterday to tomorrow
        conn.execute(
            "SELECT daily.ensure_reading_partition(h, interval '3 days') FROM generate_series("
            "date_trunc('day', now()) - interval '1 day', date_trunc('day', now())"
            " + interval '2 days', interval '1 hour') h"
        )
        load_active(conn, active)
    return url


def http_round(url: str, runs: int) -> dict[str, Any]:
    """One round, in this process, of whichever code is first on the path: ride ticks and
    fleet updates POSTed through the Flask app, signed in as staff where it has a sign-in."""
    from deleton.dashboard import app as dashboard_app
    from tests.harness import dash_calls

    with ConnectionPool(url, min_size=2, max_size=8, kwargs={"autocommit": True}) as pool:
        data = views.DashboardData.over(pool.connection, 3600 * 10**6)
        signed = "gate" in inspect.signature(dashboard_app.create_app).parameters
        if signed:
            app = dashboard_app.create_app(data, staff_gate(pool))
        else:
            app = dashboard_app.create_app(data)  # type: ignore[call-arg]  # the code before
        client = app.server.test_client()
        if signed:
            sign_in(client, url)
        serial = "SN00007"
        state: dict[str, Any] = {"serial": serial}

        def post(body: dict[str, Any]) -> dict[str, Any]:
            reply = client.post("/_dash-update-component", json=body)
            assert reply.status_code == 200, reply.status_code
            answer: dict[str, Any] = reply.get_json()
            return answer

        def add_reading() -> None:
            with pool.connection() as conn:
                conn.execute(
                    """INSERT INTO daily.reading SELECT ride_id, max(at) + interval '1 second',
                              0, 30, 100, 70, 80 FROM daily.reading WHERE ride_id = 7
                       AND at > now() - interval '1 day' GROUP BY ride_id"""
                )

        def tick() -> None:
            nonlocal state
            state = post(dash_calls.ride_tick(serial, state))["response"]["ride-state"]["data"]

        def samples(call: Callable[[], Any], before: Callable[[], None]) -> list[float]:
            for _ in range(20):  # warm: first requests set Dash up
                before()
                call()
            found = []
            for _ in range(runs):
                before()
                started = time.perf_counter()
                call()
                found.append((time.perf_counter() - started) * 1000)
            return found

        ticks = samples(tick, add_reading)
        fleets = samples(lambda: post(dash_calls.fleet_tick()), lambda: time.sleep(0.02))
    return {"signed_in": signed, "ride tick": ticks, "fleet": fleets}


def staff_gate(pool: ConnectionPool) -> Any:
    from deleton.dashboard.gate import Gate
    from deleton.settings import Settings

    secret = "benchmark-session-secret-" + "x" * 32
    config = Settings(session_secret=secret, screen_secret=secret).access()
    return Gate(config, secret.encode(), secret.encode(), pool.connection)


def sign_in(client: Any, url: str) -> None:
    """Signs the test client in by a one-time link, as staff."""
    from deleton.core.access import token_digest
    from deleton.credentials.tokens import random_token
    from deleton.postgres import accounts

    token = random_token()
    with psycopg.connect(url, autocommit=True) as conn:
        accounts.add_account(conn, "bench", "staff", None)
        accounts.add_login_link(conn, "bench", token_digest(token), 600)
    page = client.get(f"/login/{token}").get_data(as_text=True)
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None
    reply = client.post(f"/login/{token}", data={"csrf": found.group(1)})
    assert reply.status_code == 303, reply.status_code


def baseline_tree(rev: str) -> Path:
    """The package's source at ``rev``, unpacked into a new folder; its ``src``."""
    folder = scratch("deleton-dash-baseline-")
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"],
                             check=True, capture_output=True).stdout  # fmt: skip
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder / "src"


def http_ab(active: int, rounds: int, runs: int, baseline: str) -> None:
    url = seeded(active)
    with psycopg.connect(url, autocommit=True) as conn:
        fill(conn, 100_000 // CLOSED_READINGS, active + 1)
        conn.execute("VACUUM ANALYZE daily.ride, daily.rider, daily.reading")
    trees = {"before": baseline_tree(baseline), "after": ROOT / "src"}
    medians: dict[str, dict[str, list[float]]] = {v: {"ride tick": [], "fleet": []} for v in trees}
    for round_ in range(rounds):
        for variant, src in trees.items():
            env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{ROOT}"}
            done = subprocess.run(
                [sys.executable, __file__, "--http-round", url, "--runs", str(runs)],
                env=env, check=True, capture_output=True, text=True,
            )  # fmt: skip
            result = json.loads(done.stdout.strip().splitlines()[-1])
            assert result["signed_in"] == (variant == "after"), variant
            for name in ("ride tick", "fleet"):
                medians[variant][name].append(statistics.median(result[name]))
            print(f"round {round_ + 1} {variant:<6} ride tick"
                  f" {medians[variant]['ride tick'][-1]:6.2f} ms  fleet"
                  f" {medians[variant]['fleet'][-1]:6.2f} ms", flush=True)  # fmt: skip
    summary: dict[str, Any] = {"round_medians_ms": medians}
    for name in ("ride tick", "fleet"):
        before = statistics.median(medians["before"][name])
        after = statistics.median(medians["after"][name])
        summary[name] = {"before_ms": round(before, 3), "after_ms": round(after, 3),
                         "ratio": round(after / before, 3)}  # fmt: skip
        print(f"{name:<10} before {before:6.2f} ms  after (signed in) {after:6.2f} ms"
              f"  ratio {after / before:.3f}")  # fmt: skip
    arguments = {"active": active, "rounds": rounds, "runs": runs, "baseline": baseline}
    write("dashboard-signin", arguments, summary, url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--active", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=list(SIZES), help="rows of daily.reading"
    )
    parser.add_argument("--http", action="store_true", help="what the sign-in costs, A/B")
    parser.add_argument("--baseline", default="HEAD", help="the code before, for --http")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--http-round", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.http_round:
        print(json.dumps(http_round(args.http_round, args.runs)))
        return
    if args.http:
        http_ab(args.active, args.rounds, args.runs, args.baseline)
        return
    url = seeded(args.active)
    results: dict[str, Any] = {"sizes": {}}
    with psycopg.connect(url, autocommit=True) as conn:
        next_id = args.active + 1
        for size in args.sizes:
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
    name = "dashboard" if args.active == ACTIVE else f"dashboard-{args.active}-active"
    write(name, vars(args), results, url)


if __name__ == "__main__":
    main()
