"""Compression at scale, on this machine, against a real PostgreSQL 18 (and Kafka beside it).

day:    a day of a 1,000-bike fleet in daily (about 10 million readings in 20,000 rides of 500 s,
        hourly partitions), then ``deleton compress`` runs a minute after the day ends, each on
        a fresh copy of the day, ``--rounds`` rounds of one with the bike health checks and
        one without (ABBA): the time to summarise every ride, what the checks add to it (Issue
        21: under 10 s for such a day; the median of the rounds' gaps), the time each
        partition drop takes, daily's size before and after, historical's bytes per ride.
beside: ingestion throughput (messages/s, one member) of a minute of a 20,000-bike fleet
        (``--stream-bikes``), once alone and once with a compression of such a day running
        beside it.

    python benchmarks/compress.py day|beside [--bikes 1000 --rides 20 --seconds 500 --rounds 4]

Prints and writes benchmarks/results/compress-MODE.json. A measurement, not a test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.record import Record, Row, decimals, scratch, whole, write  # noqa: E402
from deleton.compress.command import ProgressBar, run_once  # noqa: E402
from deleton.compress.compressor import Outcome, compress  # noqa: E402
from deleton.compress.config import CompressConfig  # noqa: E402
from deleton.postgres import schema  # noqa: E402
from deleton.postgres.compression import CompressionRun  # noqa: E402
from deleton.postgres.connection import Database, embedded_url  # noqa: E402
from tests.harness.broker import LocalBroker  # noqa: E402
from tests.harness.fleet import fill_topic  # noqa: E402
from tests.harness.services import DELETON, env_for, value  # noqa: E402

DAY = dt.datetime(2022, 11, 3, tzinfo=dt.UTC)
# each ride's rider gender and age at its start, as ingestion stores them (migration 0008)
RIDER_AT_RIDE = (
    "UPDATE daily.ride r SET rider_gender = u.gender, rider_age = date_part('year',"
    " age((r.started_at AT TIME ZONE 'UTC')::date, u.date_of_birth))::int"
    " FROM daily.rider u WHERE u.user_id = r.user_id AND r.rider_age IS NULL"
)
CONFIG = CompressConfig(dt.timedelta(hours=12), dt.timedelta(days=7), 3600.0)
MIB = 2**20


def row(record: Record) -> Row:
    args, figures = record.arguments, record.figures
    if args["mode"] == "beside":
        rates = figures["ingest_messages_per_s"]
        return Row(
            "ingestion with compression beside it",
            f"{whole(rates['with compression beside'])} messages/s against"
            f" {whole(rates['alone'])} alone ({figures['ratio']:.1%}), a day being compressed"
            f" for {figures['compression_during_ingest_seconds']:.1f} s of it",
        )
    rides_seconds = figures["summarise_seconds"] - figures.get("health_seconds", 0.0)
    return Row(
        f"compression, a day of {args['bikes']:,} bikes ({figures['readings']:,} readings,"
        f" {figures['rides']:,} rides)",
        f"summarised in {figures['summarise_seconds']:.1f} s"
        + (" (median)" if "checks_added_each_round" in figures else "")
        + ";"
        f" {figures['partitions_dropped']} partitions dropped,"
        f" {figures['drop_seconds_median']:.2f} s each (median,"
        f" {figures['drop_seconds_max']:.2f} s at most); the run {figures['run_seconds']:.1f} s;"
        f" `daily` {whole(figures['daily_bytes_before'] / MIB)} to"
        f" {whole(figures['daily_bytes_after'] / MIB)} MiB; `historical.ride`"
        f" {decimals(0)(figures['historical_bytes_per_ride'])} bytes a ride"
        + (
            f"; the bike health checks added {figures['checks_added_seconds']:.1f} s to the"
            f" summarising (median of {len(figures['checks_added_each_round'])} ABBA rounds'"
            f" gaps, each {', '.join(f'{gap:.1f}' for gap in figures['checks_added_each_round'])}"
            " s;"
            f" {figures['summarise_without_checks_seconds']:.1f} s without them;"
            f" {figures['health_rides_checked']:,} rides, {figures['health_readings_checked']:,}"
            f" readings checked: {figures['health_seconds']:.1f} s in the chunks' transactions,"
            f" their read-ahead {figures['health_ahead_seconds']:.1f} s beside the summaries)"
            if "checks_added_seconds" in figures
            else f"; of the summarising, the bike health checks (in its transactions) took"
            f" {figures['health_seconds']:.1f} s, the rides' figures {rides_seconds:.1f} s"
            if "health_seconds" in figures
            else ""
        ),
    )


def load_day(url: str, bikes: int, rides: int, seconds: int) -> tuple[int, int]:
    """``rides`` rides a bike through the day, ``seconds`` long each, a reading a second."""
    with psycopg.connect(url, autocommit=True) as conn:
        schema.reset(conn)
        for hour in range(-1, 26):
            conn.execute("SELECT daily.ensure_reading_partition(%s)",
                         [DAY + dt.timedelta(hours=hour)])  # fmt: skip
        conn.execute(
            """INSERT INTO daily.rider SELECT b, NULL, 'Rider' || b, 'Number' || b,
                   (ARRAY['female','male','other'])[1 + b %% 3], 'x', DATE '1960-01-01' + b,
                   'r' || b || '@example.com', b::text, 'Street', 'Town', 'AB1 2CD', 170, 70,
                   DATE '2020-01-01', 'direct', now()
               FROM generate_series(1, %s) b""",
            [bikes],
        )
        spacing = 86_400 / rides
        conn.execute(
            """INSERT INTO daily.ride (ride_id, bike_serial, user_id, started_at, ended_at, host)
               SELECT b * 1000 + k, 'SN' || lpad(b::text, 5, '0'), b,
                      %(day)s + (k * %(spacing)s + b %% 600) * interval '1 second',
                      %(day)s + (k * %(spacing)s + b %% 600 + %(seconds)s) * interval '1 second',
                      'bench v1'
               FROM generate_series(1, %(bikes)s) b, generate_series(0, %(rides)s - 1) k""",
            {"day": DAY, "spacing": spacing, "bikes": bikes, "rides": rides, "seconds": seconds},
        )
        conn.execute(RIDER_AT_RIDE)
        started = time.monotonic()
        # power a fixed function of resistance and rpm, to the hundredth of a watt, as every
        # real ride's (the wire format's): the bike health checks' power cells are then what
        # a real day's are, a few per bike, not one for every reading
        conn.execute(
            """INSERT INTO daily.reading
               SELECT r.ride_id, r.started_at + s * interval '1 second', s, 30 + s %% 5 * 10,
                      CASE WHEN s < 5 THEN 0 ELSE 90 + (r.ride_id + s) %% 60 END,
                      60 + s %% 40, round((30 + s %% 5 * 10) * (60 + s %% 40) / 24.0, 2)
               FROM daily.ride r, generate_series(1, %s) s""",
            [seconds],
        )
        print(f"loaded the day in {time.monotonic() - started:.0f} s", flush=True)
        # the rides were numbered here: ingestion's next ids must come after them
        conn.execute("SELECT setval('daily.ride_id_seq', (SELECT max(ride_id) FROM daily.ride))")
        conn.execute("VACUUM ANALYZE daily.ride, daily.reading")
        return value(conn, "SELECT count(*) FROM daily.ride"), value(
            conn, "SELECT count(*) FROM daily.reading"
        )


def copy_of(url: str, name: str) -> str:
    """A copy of ``url``'s database (a loaded day) named ``name``, made from it as a template
    (a file copy: seconds, where loading the day again takes a minute and a half); one left
    by an earlier run that stopped is dropped first."""
    template = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    drop(url, name)
    with psycopg.connect(url, dbname="postgres", autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                sql.Identifier(name), sql.Identifier(str(template))
            )
        )
    return psycopg.conninfo.make_conninfo(url, dbname=name)


def drop(url: str, name: str) -> None:
    with psycopg.connect(url, dbname="postgres", autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def summarise_alone(url: str) -> Outcome:
    """The day's rides summarised with no bike health checks: the summaries' own time, what
    the checks' cost is measured against."""
    run = CompressionRun(Database(url), DAY + dt.timedelta(days=1, minutes=1), CONFIG.retention,
                         CONFIG.dead_letter_retention)  # fmt: skip
    try:
        return compress(run, progress=ProgressBar(), chunk=CONFIG.chunk)  # as run_once's
    finally:
        run.close()


def day(url: str, args: argparse.Namespace) -> dict[str, Any]:
    rides, readings = load_day(url, args.bikes, args.rides, args.seconds)
    print(f"daily: {rides:,} rides, {readings:,} readings", flush=True)
    now = DAY + dt.timedelta(days=1, minutes=1)
    checked: list[Outcome] = []
    alone: list[Outcome] = []
    first: dict[str, Any] = {}
    # each run on a fresh copy of the day, with and without the checks in turn (ABBA): the
    # machine's noise moves both alike, and the figure is the median of each round's gap
    for round_ in range(args.rounds):
        for checks in (True, False) if round_ % 2 == 0 else (False, True):
            copy = copy_of(url, f"day_{round_}_{'checked' if checks else 'alone'}")
            try:
                if checks:
                    checked.append(run_once(Database(copy), CONFIG, now))
                    print(checked[-1].line(), flush=True)
                    if not first:
                        with psycopg.connect(copy) as conn:
                            first["historical"] = value(
                                conn, "SELECT pg_total_relation_size('historical.ride')"
                            )
                            first["summaries"] = value(conn, "SELECT count(*) FROM historical.ride")
                else:
                    alone.append(summarise_alone(copy))
                    print(f"without the checks: {alone[-1].line()}", flush=True)
            finally:
                drop(url, f"day_{round_}_{'checked' if checks else 'alone'}")
    outcome = checked[0]
    drops = sorted(outcome.drop_seconds)
    gaps = [a.summarise_seconds - b.summarise_seconds for a, b in zip(checked, alone, strict=True)]
    result = {
        "rides": rides,
        "readings": readings,
        "summarise_seconds": statistics.median(o.summarise_seconds for o in checked),
        "run_seconds": statistics.median(o.seconds for o in checked),
        "partitions_dropped": outcome.partitions_dropped,
        "drop_seconds_median": drops[len(drops) // 2] if drops else None,
        "drop_seconds_max": drops[-1] if drops else None,
        "readings_removed": outcome.readings_removed,
        "daily_bytes_before": outcome.daily_bytes_before,
        "daily_bytes_after": outcome.daily_bytes_after,
        "historical_bytes_per_ride": first["historical"] / first["summaries"],
        # what the checks cost the run: the summarising with them against without, each
        # round's gap (the median reported), and each run's own figures
        "summarise_without_checks_seconds": statistics.median(o.summarise_seconds for o in alone),
        "checks_added_seconds": statistics.median(gaps),
        "checks_added_each_round": gaps,
        "summarise_seconds_each": [o.summarise_seconds for o in checked],
        "summarise_without_checks_seconds_each": [o.summarise_seconds for o in alone],
    }
    health = [o.health for o in checked if o.health is not None]
    if health:  # the checks' time in the chunks' transactions, and their read-ahead's beside
        result["health_seconds"] = statistics.median(h.seconds for h in health)
        result["health_ahead_seconds"] = statistics.median(h.ahead_seconds for h in health)
        result["health_rides_checked"] = health[0].rides_checked
        result["health_readings_checked"] = health[0].readings_checked
    print(json.dumps(result, indent=2))
    return result


def ingest_rate(url: str, broker: LocalBroker, topic: str, count: int, beside: Any) -> float:
    """Messages/s of one ``deleton ingest`` member over ``topic``, with ``beside`` running."""
    env = env_for(url, kafka_bootstrap_servers=broker.bootstrap, kafka_topic=topic,
                  kafka_group_id=topic, log_level="WARNING", mail_backend="folder")  # fmt: skip
    member = subprocess.Popen([*DELETON, "ingest"], env=env)
    try:
        first = None
        while True:
            with psycopg.connect(url) as conn:
                done = int(
                    value(
                        conn,
                        "SELECT coalesce(sum(next_position), 0) FROM daily.source_position"
                        " WHERE source = %s",
                        [f"kafka:{topic}"],
                    )
                )
            if done and first is None:
                first = (time.perf_counter(), done)
                beside()
            if done >= count:
                break
            time.sleep(0.05)
        assert first is not None
        return (count - first[1]) / (time.perf_counter() - first[0])
    finally:
        member.terminate()
        member.wait(timeout=60)


def beside(url: str, args: argparse.Namespace, broker: LocalBroker) -> dict[str, Any]:
    rates: dict[str, float] = {}
    runs: list[Outcome] = []
    for label in ("alone", "with compression beside"):
        load_day(url, args.bikes, args.rides, args.seconds)
        topic = f"bench-{len(rates)}"
        count = fill_topic(broker, topic, bikes=args.stream_bikes, seconds=60, seed=7)

        def start_compression(alone: bool = label == "alone") -> None:
            if alone:
                return
            now = DAY + dt.timedelta(days=1, minutes=1)
            thread = threading.Thread(
                target=lambda: runs.append(run_once(Database(url), CONFIG, now)), daemon=True
            )
            thread.start()

        rates[label] = ingest_rate(url, broker, topic, count, start_compression)
        print(f"ingest {label}: {rates[label]:,.0f} messages/s", flush=True)
    result = {
        "ingest_messages_per_s": rates,
        "ratio": rates["with compression beside"] / rates["alone"],
        "compression_during_ingest_seconds": runs[0].seconds if runs else None,
    }
    print(json.dumps(result, indent=2))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("day", "beside"))
    parser.add_argument("--bikes", type=int, default=1000)
    parser.add_argument("--rides", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=500)
    parser.add_argument(
        "--rounds", type=int, default=3, help="day: rounds of a run with and one without checks"
    )
    parser.add_argument(
        "--stream-bikes", type=int, default=20_000, help="beside: the fleet of the minute ingested"
    )
    args = parser.parse_args()
    folder = scratch("deleton-compress-bench-")
    url = embedded_url(folder / "pg")
    if args.mode == "day":
        result = day(url, args)
    else:
        with LocalBroker(folder / "kafka", heap="1g") as broker:
            result = beside(url, args, broker)
    write(f"compress-{args.mode}", vars(args), result, url)


if __name__ == "__main__":
    main()
