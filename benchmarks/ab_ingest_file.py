"""Ingestion before and after a change, A/B in one session: ``deleton ingest --from-file`` of
one dump (parse, tracker, checkpoints, binary COPY, alerts to a folder), run alternately (ABBA)
by this checkout and by another source tree, each run into a fresh database of one embedded
PostgreSQL, migrated by its own code first so that only ingestion is timed.

    git archive 26236d1 | tar -x -C /tmp/before
    python benchmarks/ab_ingest_file.py --other /tmp/before/src [--bikes 2000 --rounds 3]
        [--what "what the change costs" --name ab-ingest-file-CHANGE]

A measurement, not a test; the machine is shared, so only ratios in one session mean much.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.record import Record, Row, scratch, write  # noqa: E402
from deleton.postgres.connection import embedded_url  # noqa: E402

WHAT = "what the changes since cost ingestion"  # the first A/B's, whose file names none
ALERTS_NEVER_EXPIRE = str(100 * 365 * 86_400)  # the dump is of 2022: its alerts still go


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--other", required=True, help="the other source tree (its src/)")
    parser.add_argument("--bikes", type=int, default=2000)
    parser.add_argument("--seconds", type=int, default=1000, help="of the simulated fleet")
    parser.add_argument("--rounds", type=int, default=3, help="each of four runs, ABBA")
    parser.add_argument("--baseline", default="the code before privacy (26236d1)",
                        help="what the other tree is, in the README's words")  # fmt: skip
    parser.add_argument("--what", default=WHAT,
                        help="what the A/B measures, in the README's words")  # fmt: skip
    parser.add_argument("--name", default="ab-ingest-file", help="of the result file")
    args = parser.parse_args()
    sides = {"before": str(Path(args.other).resolve()), "after": str(ROOT / "src")}
    folder = scratch("deleton-ab-ingest-")
    dump = folder / "fleet.jsonl"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DELETON_")}
    with dump.open("wb") as stream:
        subprocess.run([sys.executable, "-m", "deleton.cli", "simulate", "--bikes",
                        str(args.bikes), "--fast", "--duration", str(args.seconds), "--seed", "7",
                        "--start", "2022-11-03T08:00:00+00:00"], stdout=stream, check=True,
                       env={**clean, "PYTHONPATH": sides["after"]})  # fmt: skip
    count = sum(1 for _ in dump.open("rb"))
    print(f"dump: {count:,} messages", flush=True)
    admin = embedded_url(folder / "pg")
    order: list[str] = []
    for round_ in range(args.rounds):
        ab = ["before", "after", "after", "before"]
        order += ab if round_ % 2 == 0 else ab[::-1]
    rates: dict[str, list[float]] = {side: [] for side in sides}
    for run, side in enumerate(order):
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE ab_{run}")
        env = {**clean, "PYTHONPATH": sides[side], "DELETON_HOME": str(folder / "home"),
               "DELETON_DATABASE_URL": make_conninfo(admin, dbname=f"ab_{run}"),
               "DELETON_MAIL_BACKEND": "folder", "DELETON_LOG_LEVEL": "WARNING",
               "DELETON_ALERT_MAX_AGE": ALERTS_NEVER_EXPIRE}  # fmt: skip
        deleton = [sys.executable, "-m", "deleton.cli"]
        subprocess.run([*deleton, "db", "init"], env=env, check=True, capture_output=True)
        began = time.perf_counter()
        subprocess.run([*deleton, "ingest", "--from-file", str(dump)], env=env, check=True,
                       capture_output=True)  # fmt: skip
        took = time.perf_counter() - began
        rates[side].append(count / took)
        print(f"{run:2} {side:6} {took:6.1f} s {count / took:9,.0f} messages/s", flush=True)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE ab_{run} WITH (FORCE)")
    before, after = (statistics.median(rates[side]) for side in sides)
    pairs = [a / b for a, b in zip(rates["after"], rates["before"], strict=True)]
    shown = ", ".join(f"{p:.3f}" for p in pairs)
    print(f"median messages/s: before {before:,.0f}  after {after:,.0f}"
          f"  after/before {after / before:.3f}; pairs {shown}")  # fmt: skip
    figures = {"messages": count, "before": before, "after": after, "ratio": after / before,
               "rates": rates, "pairs": pairs}  # fmt: skip
    write(args.name, vars(args), figures, admin)


def row(record: Record) -> Row:
    """The A/B: this code's file ingestion against the named baseline's."""
    figures = record.figures
    return Row(
        f"{record.arguments.get('what', WHAT)}, against {record.arguments['baseline']}:"
        f" {record.arguments['bikes']:,} bikes, {record.arguments['seconds']:,} s from a file",
        f"median of {len(figures['pairs'])} runs a side (ABBA): {figures['before']:,.0f} ->"
        f" {figures['after']:,.0f} messages/s ({figures['ratio']:.3f}x)",
    )


if __name__ == "__main__":
    main()
