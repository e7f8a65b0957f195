"""The API under load, on this machine, against a real PostgreSQL 18.

daily holds a day of a 1,000-bike fleet (about 10 million readings in 20,000 ended rides) and
1,000 bikes riding now, each sending a reading a second for as long as the benchmark runs, as
ingestion would. ``deleton api`` serves it; wrk, on loopback, keeps 200 connections busy
(a closed loop: each sends its next request when the last is answered), with a key of the
``read`` scope made by ``deleton api-key create``, against:

    GET /ride/{id}   a random ride of the 21,000, its figures computed from its readings
    GET /bikes       the 1,000 riding, most urgent first

and reports requests/s and p50/p99 latency, the median of three runs each, with one API
process and with two (``--workers``).

    apt-get install wrk   # once: Debian's wrk 4.1
    python benchmarks/api.py [--connections 200 --duration 15 --runs 3 --workers 1 2]
    python benchmarks/api.py --riding 50000 --riding-for 60 --connections 50 --workers 1

Prints and writes benchmarks/results/api.json (api-N-riding.json with ``--riding N``, the
riding fleet apart from the day's 1,000 bikes). A measurement, not a test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import urllib.request
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.compress import RIDER_AT_RIDE, load_day  # noqa: E402
from benchmarks.record import Record, Row, scratch, whole, write  # noqa: E402
from deleton.postgres.connection import embedded_url  # noqa: E402
from tests.harness.services import DELETON, env_for, value, wait_for  # noqa: E402

RIDING_FOR = 600  # seconds each riding bike has ridden when the load starts
RATE = "1000000"  # DELETON_API_RATE_LIMIT: the load is one key's, and is not to be refused
ENDPOINTS = {"ride": "`GET /ride/{random id}`", "bikes": "`GET /bikes`"}


def row(record: Record) -> Row:
    args, figures = record.arguments, record.figures
    parts, errors = [], 0
    for workers in args["workers"]:
        results = figures[f"workers_{workers}"]
        who = "one process" if workers == 1 else f"`--workers {workers}`"
        parts.append(
            f"{who}: "
            + "; ".join(
                f"{ENDPOINTS[label]} {whole(result['requests_per_s'])} req/s,"
                f" p50 {whole(result['p50_ms'])} ms, p99 {whole(result['p99_ms'])} ms"
                for label, result in results.items()
            )
        )
        errors += sum(result["errors"] for result in results.values())
    return Row(
        f"REST API at {args['connections']} connections (wrk, closed loop),"
        f" {figures['riding']:,} bikes riding, {figures['readings']:,} readings in `daily`,"
        f" median of {args['runs']} runs of {args['duration']} s",
        ". ".join(parts) + f". {errors:,} errors",
    )


# wrk's Lua: a random ride per request, and a JSON line of the figures at the end
SCRIPT = """
local ids = {%(ids)s}
request = function()
  if #ids == 0 then return wrk.format("GET", wrk.path) end
  return wrk.format("GET", "/ride/" .. ids[math.random(#ids)])
end
done = function(summary, latency, requests)
  io.write(string.format(
    'RESULT {"requests": %%d, "seconds": %%.3f, "errors": %%d, "non_2xx": %%d,'
    .. ' "p50_ms": %%.2f, "p90_ms": %%.2f, "p99_ms": %%.2f, "max_ms": %%.2f}\\n',
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout, summary.errors.status,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
"""


def start_riding(url: str, bikes: int, riding_for: int = RIDING_FOR) -> list[int]:
    """``bikes`` open rides, ``riding_for`` seconds of readings each, up to now."""
    now = dt.datetime.now(dt.UTC)
    with psycopg.connect(url, autocommit=True) as conn:
        for hour in range(-2, 4):
            conn.execute("SELECT daily.ensure_reading_partition(%s)",
                         [now + dt.timedelta(hours=hour)])  # fmt: skip
        ids = [
            row[0]
            for row in conn.execute(
                """INSERT INTO daily.ride (ride_id, bike_serial, user_id, started_at, host)
                   SELECT nextval('daily.ride_id_seq'), 'SN' || lpad(b::text, 5, '0'), b,
                          %s - %s * interval '1 second', 'bench v1'
                   FROM generate_series(1, %s) b RETURNING ride_id""",
                [now, riding_for, bikes],
            )
        ]
        conn.execute(RIDER_AT_RIDE)
        conn.execute(
            """INSERT INTO daily.reading
               SELECT r.ride_id, r.started_at + s * interval '1 second', s, 40,
                      100 + (r.ride_id + s) %% 90, 70, 150
               FROM daily.ride r, generate_series(1, %s) s WHERE r.ended_at IS NULL""",
            [riding_for],
        )
        if kept(conn):
            conn.execute(NEWEST_KEPT)
        conn.execute("VACUUM ANALYZE daily.ride, daily.reading")
    return ids


# Each bike's newest reading, where the schema keeps it (migration 0023), as ingestion keeps it:
# in the transaction that writes the readings.
NEWEST_KEPT = """
UPDATE daily.bike_latest b
SET at = x.at, duration = x.duration, resistance = x.resistance, heart_rate = x.heart_rate,
    rpm = x.rpm, power = x.power, changed = pg_current_xact_id()
FROM daily.bike_latest l
CROSS JOIN LATERAL (SELECT * FROM daily.reading r WHERE r.ride_id = l.ride_id
                    ORDER BY r.at DESC LIMIT 1) x
WHERE b.bike_serial = l.bike_serial
"""
ADVANCE = """
WITH new AS (
    INSERT INTO daily.reading
    SELECT ride_id, now(), extract(epoch FROM now() - started_at), 40,
           100 + (ride_id + extract(second FROM now())::int) % 90, 70, 150
    FROM daily.ride WHERE ended_at IS NULL
    RETURNING *
)
"""


def kept(conn: psycopg.Connection[Any]) -> bool:
    """Whether the schema keeps each bike's newest reading (migration 0023)."""
    return bool(value(conn, "SELECT to_regclass('daily.bike_latest') IS NOT NULL"))


def keep_riding(url: str, stop: threading.Event) -> threading.Thread:
    """A reading a second for every open ride, as ingestion would write them, until ``stop``."""

    def run() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            statement = ADVANCE + (
                """UPDATE daily.bike_latest b
                   SET at = n.at, duration = n.duration, resistance = n.resistance,
                       heart_rate = n.heart_rate, rpm = n.rpm, power = n.power,
                       changed = pg_current_xact_id()
                   FROM new n WHERE b.ride_id = n.ride_id"""
                if kept(conn)
                else "SELECT count(*) FROM new"
            )
            while not stop.wait(1.0):
                conn.execute(statement)

    thread = threading.Thread(target=run, name="riding", daemon=True)
    thread.start()
    return thread


def wrk(
    base: str, path: str, ids: list[int], connections: int, seconds: int, key: str
) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(SCRIPT % {"ids": ", ".join(map(str, ids))})
    try:
        out = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
             "-H", f"X-API-Key: {key}", "-s", script.name, base + path],
            capture_output=True, text=True, check=True, timeout=seconds + 60,
        ).stdout  # fmt: skip
    finally:
        os.unlink(script.name)
    line = next(line for line in out.splitlines() if line.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    result["requests_per_s"] = result["requests"] / result["seconds"]
    return result


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("requests_per_s", "p50_ms", "p90_ms", "p99_ms", "max_ms")
    summary: dict[str, Any] = {key: statistics.median(run[key] for run in runs) for key in keys}
    summary["errors"] = sum(run["errors"] + run["non_2xx"] for run in runs)
    summary["runs"] = runs
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bikes", type=int, default=1000)
    parser.add_argument("--rides", type=int, default=20, help="ended rides a bike, that day")
    parser.add_argument("--seconds", type=int, default=500, help="of each ended ride")
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--duration", type=int, default=15, help="seconds of each wrk run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="API processes")
    parser.add_argument("--riding", type=int, help="bikes riding now (default: --bikes)")
    parser.add_argument("--riding-for", type=int, default=RIDING_FOR,
                        help="seconds each riding bike has ridden")  # fmt: skip
    args = parser.parse_args()
    args.riding = args.riding or args.bikes
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    folder = scratch("deleton-api-bench-")
    url = embedded_url(folder / "pg")
    load_day(url, args.bikes, args.rides, args.seconds)
    riding = start_riding(url, args.riding, args.riding_for)
    with psycopg.connect(url) as conn:
        readings = value(conn, "SELECT count(*) FROM daily.reading")
        ids = [row[0] for row in conn.execute("SELECT ride_id FROM daily.ride").fetchall()]
    print(f"daily: {len(ids):,} rides ({len(riding):,} riding), {readings:,} readings", flush=True)
    stop = threading.Event()
    writer = keep_riding(url, stop)
    results: dict[str, Any] = {}
    try:
        for workers in args.workers:
            results[f"workers_{workers}"] = load(url, ids, workers, args)
    finally:
        stop.set()
        writer.join(timeout=10)
    result = {"rides": len(ids), "riding": len(riding), "readings": readings, **results}
    print(json.dumps(result, indent=2, default=str))
    name = "api" if args.riding == args.bikes else f"api-{args.riding}-riding"
    write(name, vars(args), result, url)


def load(url: str, ids: list[int], workers: int, args: argparse.Namespace) -> dict[str, Any]:
    """Both endpoints under wrk, against ``deleton api --workers workers``."""
    env = env_for(url, log_level="WARNING", api_rate_limit=RATE)
    # a key of the read scope, as a client would hold (migration 0008): the API needs one
    made = subprocess.run([*DELETON, "api-key", "create", f"bench-{workers}", "--scope", "read"],
                          env=env, capture_output=True, check=True)  # fmt: skip
    key = made.stdout.decode().strip()
    base = f"http://127.0.0.1:{env['DELETON_API_PORT']}"
    api = subprocess.Popen(
        [*DELETON, "api", "--workers", str(workers)], env=env, stdout=subprocess.DEVNULL
    )
    results: dict[str, Any] = {}
    try:
        wait_for(lambda: riding_now(base, key) == args.riding, timeout=120,
                 what="the API to see the fleet")  # fmt: skip
        wrk(base, "/bikes", [], args.connections, 3, key)  # warm: pools full, pages rendered
        for label, path, random_ids in (("ride", "/ride", ids), ("bikes", "/bikes", [])):
            runs = []
            for _ in range(args.runs):
                runs.append(wrk(base, path, random_ids, args.connections, args.duration, key))
                run = runs[-1]
                print(f"{workers} worker(s), {label}: {run['requests_per_s']:,.0f} req/s,"
                      f" p50 {run['p50_ms']:.1f} ms, p99 {run['p99_ms']:.1f} ms,"
                      f" errors {run['errors'] + run['non_2xx']}", flush=True)  # fmt: skip
            results[label] = median_of(runs)
        assert riding_now(base, key) == args.riding  # still riding at the end: the load was real
    finally:
        api.terminate()
        api.wait(timeout=30)
    return results


def riding_now(base: str, key: str) -> int:
    """How many bikes the API at ``base`` says are riding (-1: it does not answer)."""
    try:
        ask = urllib.request.Request(f"{base}/bikes?limit=1", headers={"X-API-Key": key})
        with urllib.request.urlopen(ask, timeout=5) as reply:
            return int(json.load(reply)["riding"])
    except OSError:
        return -1


if __name__ == "__main__":
    main()
