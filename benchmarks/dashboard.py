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

    python benchmarks/dashboard.py --live --baseline REV [--active 50000 --rounds 2 --runs 30]

measures the live views at a fleet's scale, side by side with the code at ``REV``: one
database of ``--active`` riding bikes (the largest of ``--sizes`` readings; hourly partitions
up to three hours ahead), measured in alternate rounds by each tree in a process of its own.
Before each fleet snapshot every riding bike gets one new reading (ten before each
recent-rides refresh), written as ingestion writes them (binary COPY, and each bike's newest
reading where the code keeps it, migration 0023, and its running tally where the code keeps
that, 0026), untimed: a snapshot that reads what changed has something to read. A round of
code that keeps tallies first recounts them from the readings, untimed, as if ingestion had
kept them all along (the readings are loaded by SQL, and the other code's rounds add without
counting). The fleet snapshot is the shared rebuild as the dashboard and the API
run it (the snapshot and its ``FleetStatus``, which sorts the default order where the code
does so beforehand); the fleet callback renders the first page of the default order from a
fresh status each time; the ride tick is timed with a fleet page open beside it (the shared
fleet asked for four times a second, so its rebuild runs in the process, as on a gym's wall),
and each tick comes at a random point of the rebuild's cycle; the leaderboard's refresh ranks
a fresh status and renders its first page, and a further page is rendered from the ranked
board. It writes benchmarks/results/dashboard-live-N.json with each side's medians and p95s
and their ratios.
"""

from __future__ import annotations

import argparse
import inspect
import io
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import SimpleNamespace
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
from deleton.core.records import from_datetime  # noqa: E402
from deleton.dashboard import views  # noqa: E402
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
BOARD = "leaderboard refresh (ranked once a snapshot, page 1)"


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
               (ARRAY['female','male','other'])[1 + g %% 3], 'female',
               DATE '1950-01-01' + g %% 18000,
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


def recent_rides() -> Any:
    """The recent rides' class of the code under test: in postgres since the leaderboard
    shared it, in the dashboard before (not in --http's baseline at all)."""
    try:
        from deleton.postgres.recent import RecentRides
    except ImportError:
        from deleton.dashboard.recent import RecentRides  # type: ignore[no-redef,import-not-found]
    return RecentRides


def measure(url: str, runs: int) -> dict[str, dict[str, float]]:
    with ConnectionPool(url, min_size=2, kwargs={"autocommit": True}) as pool:
        sources = views.DashboardData.over(pool.connection, 3600 * 10**6)
        sources.warm().join()  # the first 12-hour view is built once per process
        RecentRides = recent_rides()  # this round's code

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


def seeded(active: int, ahead: str = "date_trunc('day', now()) + interval '2 days'") -> str:
    """A new embedded database with ``active`` bikes riding and hourly partitions from
    yesterday to ``ahead`` (SQL)."""
    url = embedded_url(scratch("deleton-dash-bench-"))
    with psycopg.connect(url, autocommit=True) as conn:
        schema.reset(conn)
        # partitions are an hour wide (migration 0002)
        conn.execute(
            "SELECT daily.ensure_reading_partition(h, interval '3 days') FROM generate_series("
            f"date_trunc('day', now()) - interval '1 day', {ahead}, interval '1 hour') h"
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
                env=env, capture_output=True, text=True,
            )  # fmt: skip
            if done.returncode != 0:  # say why: its output is captured
                raise SystemExit(f"the {variant} round failed:\n{done.stderr[-3000:]}")
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


def advance(pool: ConnectionPool, rides: list[tuple[int, int]], second: int) -> None:
    """One new reading for each of ``rides`` (ride id, start in µs) at ``second`` after its
    start, written as ingestion writes them: binary COPY and, where this code keeps them,
    each bike's newest reading, in one transaction."""
    from deleton.core.batch import ReadingRow
    from deleton.postgres import store

    batch = [
        ReadingRow(ride, start + second * 10**6, float(second), 30 + second % 5 * 10,
                   90 + (ride + second) % 120, 60 + second % 40, 50.0 + second % 90)
        for ride, start in rides
    ]  # fmt: skip
    with pool.connection() as conn, conn.transaction():
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY daily.reading (ride_id, at, duration, resistance, heart_rate, rpm, power)"
                " FROM STDIN (FORMAT BINARY)"
            ) as copy,
        ):
            copy.write(store.pack_readings(batch))
        note = getattr(store, "note_latest", None)
        if note is not None:
            if "known" in inspect.signature(note).parameters:  # riders' maxima, as ingestion
                MAXIMA.update(note(conn, batch, known=MAXIMA))  # keeps them between batches
            else:
                note(conn, batch)


MAXIMA: dict[int, Any] = {}


# Every bike's running tally (migration 0026) recounted from its ride's readings by the one
# definition of its sums, and marked whole: what ingestion would have kept, had it written
# every reading. Only where the newest reading counted is the newest kept.
RECOUNT = """
UPDATE daily.bike_latest b
SET readings = s.readings, power_sum = coalesce(s.power_sum, 0),
    power_readings = s.power_readings, resistance_sum = coalesce(s.resistance_sum, 0),
    resistance_readings = s.resistance_readings, tallied_at = s.last_at, tally_whole = true
FROM daily.ride_sums((SELECT array_agg(ride_id) FROM daily.bike_latest),
                     (SELECT array_agg('-infinity'::timestamptz) FROM daily.bike_latest),
                     '-infinity', 'infinity') s
WHERE s.ride_id = b.ride_id AND s.last_at = b.at
"""
# Where the code keeps zones (migration 0027), every recounted ride's seconds so far are put
# in zone 1 and marked whole, so that the bike screen shows (and pays for) its training panel;
# ingestion's adds (``advance``) count each new reading's zone by the rule.
RECOUNT_ZONES = """
UPDATE daily.bike_latest SET hr_zone1_s = readings, hr_zone2_s = 0, hr_zone3_s = 0,
    hr_zone4_s = 0, hr_zone5_s = 0, zoned_readings = readings
WHERE tally_whole
"""


def live_round(url: str, runs: int, recent_runs: int, first_second: int) -> dict[str, Any]:
    """One round, in this process, of whichever code is first on the path; the readings it
    adds start ``first_second`` after the rides' start."""
    from deleton import runtime
    from deleton.core.fleet_status import FleetStatus as Status
    from deleton.postgres import store

    if hasattr(runtime, "favour_latency"):  # as the dashboard's process runs, where it does
        runtime.favour_latency()

    with ConnectionPool(url, min_size=2, kwargs={"autocommit": True}) as pool:
        with pool.connection() as conn:
            rides = [(ride, from_datetime(at)) for ride, at in conn.execute(
                "SELECT ride_id, started_at FROM daily.ride WHERE ended_at IS NULL")]  # fmt: skip
            if hasattr(store, "pack_latest"):  # this round's code keeps tallies
                conn.execute(RECOUNT)
                if hasattr(store, "max_hrs_of"):  # and zones
                    conn.execute(RECOUNT_ZONES)
        second = first_second
        idle = 3600 * 10**6
        # FleetSnapshot at the commits before its rename; neither before migration 0023
        kept = getattr(queries, "FleetReader", None) or getattr(queries, "FleetSnapshot", None)
        snapshot = kept() if kept is not None else None

        def next_second() -> None:
            nonlocal second
            advance(pool, rides, second)
            second += 1

        def rebuild() -> Status:
            with pool.connection() as conn:
                found = snapshot.read(conn) if snapshot is not None else queries.open_rides(conn)
            return Status(found, int(time.time() * 1_000_000), idle)

        status = rebuild()  # a kept snapshot's first, whole read is not what a tick costs

        def fleet_callback() -> Any:  # the page's update, from the shared status
            data = SimpleNamespace(fleet=SimpleNamespace(get=lambda: status))
            shown = views.fleet_view(data, "zone", True, 0)  # type: ignore[arg-type]
            return views.fleet_update(shown, "zone", True).values()

        def fresh_status() -> None:
            nonlocal status
            status = rebuild()

        sources = views.DashboardData.over(pool.connection, idle)
        state = views.ride_update(sources, {"serial": "SN00007"}).state

        def ride_tick() -> Any:  # a ride's page asks for what is new: one reading a second
            nonlocal state
            update = views.ride_update(sources, state)
            state = update.state
            return update.values()

        phases = random.Random(7)

        def at_any_phase() -> None:
            """A new reading a bike, then a wait for the shared fleet to be rebuilt with it and
            a random part of its rebuild interval more: a screen's tick comes at any point of
            the rebuild's cycle, not always just after the readings that made it stale."""
            next_second()
            written = time.monotonic()
            while sources.fleet.age() > time.monotonic() - written:  # built before them
                sources.fleet.get()
                time.sleep(0.01)
            time.sleep(phases.uniform(0, queries.FLEET_MAX_AGE))

        def watched(timing: Callable[[], dict[str, float]]) -> dict[str, float]:
            """``timing`` with a fleet page open beside it, as on a gym's wall: the shared
            fleet is asked for four times a second, so its rebuild runs in this process
            while the ticks are timed, whether or not the code's tick asks for the fleet."""
            stop = threading.Event()

            def watch() -> None:
                while not stop.wait(0.25):
                    sources.fleet.get()

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            try:
                return timing()
            finally:
                stop.set()
                watcher.join()

        RecentRides = recent_rides()  # this round's code

        recent = RecentRides(pool.connection)
        recent.refresh()

        def ten_seconds() -> None:
            for _ in range(10):
                next_second()

        def board(page: int) -> Any:  # the leaderboard page's update, from the shared status
            shared = SimpleNamespace(get=lambda: status, age=lambda: 0.0, failure=None)
            data = SimpleNamespace(fleet=shared)
            return views.leaderboard_update(data, "now", page, True)  # type: ignore[arg-type]

        result = {
            "readings_added_from": first_second,
            SNAPSHOT: timed(runs, lambda: rebuild().counts, next_second),
            "fleet": timed(runs, fleet_callback, fresh_status),
            "ride tick": watched(lambda: timed(runs, ride_tick, at_any_phase)),
            REFRESH: timed(recent_runs, recent.refresh, ten_seconds),
        }
        if hasattr(views, "leaderboard_update"):  # not in code before the leaderboard
            # ranked once per snapshot (in its rebuild, where the code does so), then a page
            result[BOARD] = timed(runs, lambda: board(0), fresh_status)
            result["leaderboard page"] = timed(runs, lambda: board(1))
        # where the next round's readings start: a reading older than a ride's newest changes
        # nothing in daily.bike_latest, and a snapshot would then time a read of nothing
        return {**result, "readings_added_to": second - 1}


def live_ab(args: argparse.Namespace) -> None:
    # partitions up to three hours ahead, as ingestion makes them (the hours it meets and the
    # next): each hour more is one more index a ride's probe of the newest readings passes
    url = seeded(args.active, "now() + interval '3 hours'")
    with psycopg.connect(url, autocommit=True) as conn:
        have = value(conn, "SELECT count(*) FROM daily.reading")
        rides = max(0, (max(args.sizes) - have) // CLOSED_READINGS)
        fill(conn, rides, args.active + 1)
        conn.execute("VACUUM ANALYZE")
        total = value(conn, "SELECT count(*) FROM daily.reading")
    print(f"daily.reading: {total:,} rows, {args.active:,} bikes riding", flush=True)
    trees = {"before": baseline_tree(args.baseline), "after": ROOT / "src"}
    names: tuple[str, ...] = (SNAPSHOT, "fleet", "ride tick", REFRESH, BOARD, "leaderboard page")
    rounds: dict[str, list[dict[str, Any]]] = {variant: [] for variant in trees}
    first_second = ACTIVE_READINGS + 1
    for round_ in range(args.rounds):
        for variant, src in trees.items():
            env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{ROOT}"}
            done = subprocess.run(
                [sys.executable, __file__, "--live-round", url, "--runs", str(args.runs),
                 "--recent-runs", str(args.recent_runs), "--first-second", str(first_second)],
                env=env, capture_output=True, text=True,
            )  # fmt: skip
            if done.returncode:
                raise SystemExit(f"the {variant} round failed:\n{done.stderr[-3000:]}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            first_second = result["readings_added_to"] + 1
            rounds[variant].append(result)
            print(f"round {round_ + 1} {variant:<6} " + "  ".join(
                f"{name} p50 {result[name]['p50_ms']:.1f} p95 {result[name]['p95_ms']:.1f} ms"
                for name in names if name in result), flush=True)  # fmt: skip
    summary: dict[str, Any] = {"readings": total, "rounds": rounds}
    names = tuple(name for name in names if all(name in r for r in rounds["after"]))
    for name in names:
        figures = {}
        if not all(name in r for r in rounds["before"]):  # new: measured after only
            summary[name] = {q: {"after": statistics.median(r[name][q] for r in rounds["after"])}
                             for q in ("p50_ms", "p95_ms")}  # fmt: skip
            continue
        for q in ("p50_ms", "p95_ms"):
            before = statistics.median(r[name][q] for r in rounds["before"])
            after = statistics.median(r[name][q] for r in rounds["after"])
            figures[q] = {"before": before, "after": after, "ratio": round(after / before, 4)}
        summary[name] = figures
        print(f"{name:<32} p50 {figures['p50_ms']['before']:8.1f} -> "
              f"{figures['p50_ms']['after']:7.1f} ms   p95 {figures['p95_ms']['before']:8.1f}"
              f" -> {figures['p95_ms']['after']:7.1f} ms")  # fmt: skip
    arguments = {
        "active": args.active,
        "rounds": args.rounds,
        "runs": args.runs,
        "recent_runs": args.recent_runs,
        "baseline": args.baseline,
        "live": True,
    }
    write(f"dashboard-live-{args.active}", arguments, summary, url)


def live_row(record: Record) -> Row:
    args, figures = record.arguments, record.figures

    def pair(name: str, q: str = "p95_ms") -> str:
        f = figures[name][q]
        return f"{f['before']:,.1f} -> {f['after']:,.1f} ms"

    return Row(
        f"live views, {args['active']:,} bikes riding, each a new reading a second,"
        f" {power_of_ten(figures['readings'])} rows, against {args['baseline']}",
        f"p95 in alternate rounds ({args['rounds']} a side), before -> after: fleet snapshot"
        f" {pair(SNAPSHOT)} (p50 {pair(SNAPSHOT, 'p50_ms')}), fleet callback {pair('fleet')},"
        + (f" ride tick {pair('ride tick')}," if "ride tick" in figures else "")
        + f" recent rides refresh {pair(REFRESH)} (10 new readings a bike before each)"
        + (
            f"; leaderboard refresh p95 {figures[BOARD]['p95_ms']['after']:,.1f} ms, a further"
            f" page p95 {figures['leaderboard page']['p95_ms']['after']:,.1f} ms"
            if BOARD in figures
            else ""
        ),
    )


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
    parser.add_argument("--live", action="store_true", help="live views at scale, A/B")
    parser.add_argument("--recent-runs", type=int, default=10)
    parser.add_argument("--live-round", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--first-second", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.live_round:
        result = live_round(args.live_round, args.runs, args.recent_runs, args.first_second)
        print(json.dumps(result))
        return
    if args.live:
        live_ab(args)
        return
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
