"""Where each microsecond of an ingested message goes, stage by stage, on one core.

A seeded fleet rides for a warm-up (every bike has started by 30 s), so that the timed window
is a fleet mid-ride; the window's messages are then run, in the ingestor's own batches (polls
of 10,000 messages, a flush every 50,000 readings), through each stage on its own:

- parse: ``match_reading`` of every value (the hot path's one regex and the general path for
  the rest);
- checks: what the hardening added beside the parse on the hot path: the line-time-to-broker-
  time check (the tracker with ``max_skew_us`` against the same tracker without it), the
  ingestor's count of held bytes, and the bike key's check (once a bike);
- tracker: ``feed_all`` less the parse and the checks: the per-bike state, the rows;
- carried state: the checkpoint of each partition in the batch, at each flush;
- packing: ``pack_readings`` of each batch's readings;
- COPY: the writer's ``PostgresStore.write`` of each batch (binary COPY, the rides, the
  positions with their checkpoints, one transaction) less its packing; PostgreSQL's work
  mostly, on the other core while the next batch is parsed.

Each figure is microseconds per message of the window, the median of ``--runs`` runs: CPU time
of this thread for the stages in the ingest process, wall time for the write. The stages are
timed apart, so they overlap nothing: their sum is the one-core cost of a message,
not a rate the process reaches (the writer overlaps parsing).

    python benchmarks/profile_ingest.py [--bikes 50000 --seconds 10 --partitions 16 --runs 3]
    python benchmarks/profile_ingest.py --flush-every 20000   # as in real time

Prints the table and writes benchmarks/results/ingest-profile.json (ingest-profile-N for a
flush every N messages other than 100,000). A measurement, not a test.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.record import Record, Row, decimals, scratch, write  # noqa: E402
from deleton.core.batch import Batch  # noqa: E402
from deleton.core.messages import Message  # noqa: E402
from deleton.core.tracker import Tracker  # noqa: E402
from deleton.core.wire import envelope, match_reading, parse_unmatched  # noqa: E402
from deleton.postgres import schema  # noqa: E402
from deleton.postgres.connection import Database, embedded_url  # noqa: E402
from deleton.postgres.store import PostgresStore, pack_readings  # noqa: E402
from deleton.simulator.riders import simulated_fleet  # noqa: E402
from tests.harness.fleet import SECOND, START  # noqa: E402

WARM_UP = 40  # simulated seconds: every bike has started by 30 s
POLL = 10_000  # the ingestor's poll_size
MAX_BATCH = 50_000  # the ingestor's max_batch (readings)
SKEW = 86_400 * SECOND  # DELETON_MAX_CLOCK_SKEW's default
# In-process stages are timed in this thread's CPU time, which other processes on a shared
# machine disturb far less than they disturb the wall clock.
clock = time.thread_time
STAGES = ("parse", "checks", "tracker", "carried state", "packing", "COPY")


def row(record: Record) -> Row:
    figures, args = record.figures, record.arguments
    us = figures["us_per_message"]
    parts = ", ".join(f"{stage} {us[stage]:.2f}" for stage in STAGES)
    return Row(
        f"where a message's time goes, {args['bikes']:,} bikes mid-ride,"
        f" {args['partitions']} partitions, a flush each"
        f" {args.get('flush_every', 2 * MAX_BATCH):,} messages (median of {args['runs']} runs)",
        f"µs a message (CPU; COPY by the wall): {parts}; in the ingest process"
        f" {decimals(2)(figures['in_process_us'])}"
        f" ({figures['in_process_per_s']:,.0f} messages/s on one core);"
        f" {figures['bikes_per_flush']:,.0f} bikes checkpointed per flush,"
        f" {us['carried state per bike per flush']:.2f} µs each",
    )


def fleet_messages(
    bikes: int, seconds: int, partitions: int, seed: int
) -> Iterator[tuple[Message, int]]:
    """The fleet's messages as a Kafka source gives them (partitioned by bike, positions
    counted per partition, the broker's time that of the line), each with the fleet's time."""
    offsets = [0] * partitions
    when = START
    for _, lines in simulated_fleet(bikes, seed, START).ticks(START + seconds * SECOND):
        for key, at, text in lines:
            when = at if at is not None else when
            p = int(key[2:]) % partitions
            n = offsets[p]
            offsets[p] = n + 1
            yield (p, n, n + 1, key.encode(), envelope(text), None, at), when


def batches(messages: list[Message], flush_every: int) -> Iterator[list[list[Message]]]:
    """The polls of each batch, a flush once ``flush_every`` messages wait."""
    polls: list[list[Message]] = []
    held = 0
    for start in range(0, len(messages), POLL):
        poll = messages[start : start + POLL]
        polls.append(poll)
        held += len(poll)
        if held >= flush_every:
            yield polls
            polls, held = [], 0
    if polls:
        yield polls


def one_run(
    warm: dict[int, bytes],
    messages: list[Message],
    store: PostgresStore,
    url: str,
    flush_every: int,
) -> dict[str, float]:
    """Seconds each stage takes over the window, and the bikes checkpointed."""
    now = START  # the receiver's time: any, as nothing expires bikes here
    spent = dict.fromkeys(
        ("parse", "skew", "held bytes", "feed", "feed unchecked", "carried state", "packing",
         "write"),
        0.0,
    )  # fmt: skip
    bikes_checkpointed = 0
    flushes = 0

    # parse alone
    started = clock()
    for m in messages:
        if match_reading(m[4]) is None:  # type: ignore[arg-type]
            parse_unmatched(m[4])  # type: ignore[arg-type]
    spent["parse"] = clock() - started

    # the tracker without the skew check, for its cost
    unchecked = Tracker(60 * SECOND, itertools.count(10**9).__next__, None)
    for p, state in warm.items():
        unchecked.load(p, state)
    for polls in batches(messages, flush_every):
        for poll in polls:
            started = clock()
            unchecked.feed_all(poll, now)
            spent["feed unchecked"] += clock() - started
        unchecked.take()
    del unchecked

    # as ingestion runs: checked tracker, held bytes, checkpoints, packing, the write
    tracker = Tracker(60 * SECOND, itertools.count(1).__next__, SKEW)
    for p, state in warm.items():
        tracker.load(p, state)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE daily.reading, daily.ride, daily.source_position CASCADE")
    store.claim("profile", list(warm))
    expected: dict[int, int | None] = dict.fromkeys(warm)
    for polls in batches(messages, flush_every):
        for poll in polls:
            started = clock()
            tracker.feed_all(poll, now)
            middle = clock()
            held = sum(len(m[4] or b"") for m in poll)
            spent["feed"] += middle - started
            spent["held bytes"] += clock() - middle
            assert held
        batch: Batch = tracker.take()
        started = clock()
        checkpoints = {p: tracker.checkpoint(p) for p in batch.positions}
        spent["carried state"] += clock() - started
        bikes_checkpointed += sum(len(tracker.partitions.get(p, ())) for p in batch.positions)
        started = clock()
        pack_readings(batch.readings)
        spent["packing"] += clock() - started
        started = time.perf_counter()  # by the wall: PostgreSQL works in another process
        store.write("profile", batch, checkpoints, expected)
        spent["write"] += time.perf_counter() - started
        expected.update(batch.positions)
        flushes += 1
    spent["skew"] = max(spent["feed"] - spent["feed unchecked"], 0.0)
    spent["bikes_checkpointed"] = bikes_checkpointed
    spent["flushes"] = flushes
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bikes", type=int, default=50_000)
    parser.add_argument("--seconds", type=int, default=10, help="the timed window, simulated")
    parser.add_argument("--partitions", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--flush-every", type=int, default=2 * MAX_BATCH,
        help="messages a batch: 100,000 as from a backlog (the ingestor's 50,000 readings);"
        " 20,000 is a flush each 0.2 s of 50,000 bikes in real time",
    )  # fmt: skip
    args = parser.parse_args()
    gc.set_threshold(50_000, 20, 20)  # as ingest.command.serve sets it

    warm_tracker = Tracker(60 * SECOND, itertools.count(10**12).__next__)
    messages: list[Message] = []
    until = START + WARM_UP * SECOND
    for m, when in fleet_messages(args.bikes, WARM_UP + args.seconds, args.partitions, args.seed):
        if when < until:
            warm_tracker.feed(m)
            warm_tracker.batch = Batch()
        else:
            messages.append(m)
    warm = {p: warm_tracker.checkpoint(p) for p in range(args.partitions)}
    del warm_tracker
    print(f"{args.bikes:,} bikes mid-ride: {len(messages):,} messages timed", flush=True)

    folder = scratch("deleton-profile-")
    url = embedded_url(folder / "pg")
    with psycopg.connect(url, autocommit=True) as conn:
        schema.reset(conn)
    store = PostgresStore(Database(url), max_clock_skew_us=10 * 365 * 86_400 * SECOND)
    runs = []
    for n in range(args.runs):
        spent = one_run(warm, messages, store, url, args.flush_every)
        runs.append(spent)
        print(f"run {n}: " + ", ".join(f"{k} {v:.3f}" for k, v in spent.items()), flush=True)
    store.close()
    figures = figures_of(runs, len(messages))
    for stage in STAGES:
        print(f"{stage:>14}: {figures['us_per_message'][stage]:6.2f} µs a message")
    print(f"in the ingest process: {figures['in_process_us']:.2f} µs a message,"
          f" {figures['in_process_per_s']:,.0f}/s on one core")  # fmt: skip
    name = "ingest-profile"
    if args.flush_every != 2 * MAX_BATCH:
        name += f"-{args.flush_every}"
    write(name, vars(args), figures, url)


def figures_of(runs: list[dict[str, Any]], count: int) -> dict[str, Any]:
    def median(key: str) -> float:
        return float(statistics.median(run[key] for run in runs))

    us = {
        "parse": median("parse"),
        "checks": median("skew") + median("held bytes"),
        "tracker": median("feed unchecked") - median("parse"),
        "carried state": median("carried state"),
        "packing": median("packing"),
        "COPY": median("write") - median("packing"),
    }
    us = {k: v / count * 1e6 for k, v in us.items()}
    in_process = sum(v for k, v in us.items() if k != "COPY")
    bikes = median("bikes_checkpointed")
    return {
        "messages": count,
        "us_per_message": {
            **us,
            "of checks: line time against broker time": median("skew") / count * 1e6,
            "of checks: held bytes": median("held bytes") / count * 1e6,
            "carried state per bike per flush": median("carried state") / bikes * 1e6,
        },
        "in_process_us": in_process,
        "in_process_per_s": 1e6 / in_process,
        "flushes": median("flushes"),
        "bikes_per_flush": bikes / median("flushes"),
        "runs": runs,
    }


if __name__ == "__main__":
    main()
