"""Compression of a day before and after a change, A/B in one session: each side's own
``benchmarks/compress.py`` ``day`` (its own schema, its own load of the day, its own
``deleton compress`` run), in a subprocess with that side's code on the path, alternately
(ABBA), each into a fresh embedded PostgreSQL that is removed after the run. Only the time to
summarise every ride is compared (the run's other steps, such as dropping the partitions, are
printed too).

    git archive 26236d1 | tar -x -C /tmp/before    # before daily.ride_figures
    python benchmarks/ab_compress.py --other /tmp/before [--bikes 1000 --rounds 1]

The other tree is a whole checkout (its ``benchmarks/`` and ``tests/harness`` are used), run
with this virtualenv. A measurement, not a test; the machine is shared, so only ratios in one
session mean much.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.record import Record, Row, scratch, write  # noqa: E402

# Run in the subprocess, with one side's tree first on the path: its day, and nothing written
# into its tree (its own script would write a result file there).
DAY = """
import argparse, json, sys
from pathlib import Path
from benchmarks.compress import day
from deleton.postgres.connection import embedded_url
args = argparse.Namespace(mode="day", bikes={bikes}, rides={rides}, seconds={seconds})
result = day(embedded_url(Path({folder!r}) / "pg"), args)
print("RESULT " + json.dumps(result), flush=True)
"""


def run_day(tree: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One side's day, in a PostgreSQL of its own under a folder removed afterwards."""
    # removed after each run as well as at exit: the runs of an A/B would hold 2.5 GB each
    folder = scratch("deleton-ab-compress-")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DELETON_")}
    program = DAY.format(bikes=args.bikes, rides=args.rides, seconds=args.seconds,
                         folder=str(folder))  # fmt: skip
    try:
        done = subprocess.run(
            [sys.executable, "-c", program],
            env={**clean, "PYTHONPATH": f"{tree}{os.pathsep}{tree / 'src'}"},
            cwd=tree,
            capture_output=True,
            text=True,
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if done.returncode != 0:
        raise SystemExit(f"{tree}: {done.stderr[-3000:]}")
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--other", required=True, help="the other checkout (its root)")
    parser.add_argument("--bikes", type=int, default=1000)
    parser.add_argument("--rides", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=1, help="each of four runs, ABBA")
    parser.add_argument("--baseline", default="the code before daily.ride_figures (26236d1)",
                        help="what the other tree is, in the README's words")  # fmt: skip
    args = parser.parse_args()
    sides = {"before": Path(args.other).resolve(), "after": ROOT}
    order: list[str] = []
    for round_ in range(args.rounds):
        ab = ["before", "after", "after", "before"]
        order += ab if round_ % 2 == 0 else ab[::-1]
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    for number, side in enumerate(order):
        result = run_day(sides[side], args)
        runs[side].append(result)
        print(f"{number:2} {side:6} summarised {result['rides']:,} rides"
              f" ({result['readings']:,} readings) in {result['summarise_seconds']:6.1f} s;"
              f" the run {result['run_seconds']:6.1f} s", flush=True)  # fmt: skip
    seconds = {side: [r["summarise_seconds"] for r in runs[side]] for side in sides}
    before, after = (statistics.median(seconds[side]) for side in sides)
    pairs = [a / b for a, b in zip(seconds["after"], seconds["before"], strict=True)]
    print(f"median seconds to summarise: before {before:.1f}  after {after:.1f}"
          f"  after/before {after / before:.2f}; pairs"
          f" {', '.join(f'{p:.2f}' for p in pairs)}")  # fmt: skip
    figures = {"rides": runs["after"][0]["rides"], "readings": runs["after"][0]["readings"],
               "before": before, "after": after, "ratio": after / before,
               "summarise_seconds": seconds, "pairs": pairs}  # fmt: skip
    write("ab-compress", vars(args), figures)


def row(record: Record) -> Row:
    """The A/B: this code's summaries of a day against the named baseline's."""
    figures, args = record.figures, record.arguments
    return Row(
        f"what one definition of a ride's figures costs compression, against"
        f" {args['baseline']}: a day of {args['bikes']:,} bikes ({figures['readings']:,}"
        f" readings, {figures['rides']:,} rides)",
        f"median of {len(figures['pairs'])} runs a side (ABBA): summarised in"
        f" {figures['before']:.1f} -> {figures['after']:.1f} s ({figures['ratio']:.2f}x)",
    )


if __name__ == "__main__":
    main()
