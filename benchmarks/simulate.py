"""Simulator as a load generator: messages per second to standard output with --fast.

Runs `deleton simulate --fast` into a pipe drained by this process (what a reader such as
`kcat` or a file would see), several times, and reports the median.

    python benchmarks/simulate.py --bikes 20000 --seconds 200 --runs 3

Prints and writes benchmarks/results/simulate.json. A measurement, not a test: the machine is
shared and noisy, so compare medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.record import Record, Row, thousands, write  # noqa: E402


def row(record: Record) -> Row:
    figures = record.figures
    runs = len(figures["messages_per_s_runs"])
    return Row(
        "simulator, `--fast` to stdout",
        f"{thousands(figures['messages_per_s_median'])} messages/s (median of {runs} runs,"
        " start-up included)",
    )


def once(bikes: int, seconds: int, workers: int | None) -> tuple[float, float, int]:
    command = [
        sys.executable, "-m", "deleton.cli", "simulate", "--fast", "--bikes", str(bikes),
        "--duration", str(seconds), "--start", "2022-11-03T18:00:00",
    ]  # fmt: skip
    if workers:
        command += ["--workers", str(workers)]
    env = {**os.environ, "DELETON_LOG_LEVEL": "WARNING"}
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, env=env)
    assert process.stdout is not None
    lines = 0
    first = None
    while chunk := process.stdout.read(1 << 20):
        first = first or time.perf_counter()
        lines += chunk.count(b"\n")
    process.wait()
    done = time.perf_counter()
    return lines / (done - started), lines / (done - (first or started)), lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bikes", type=int, default=20_000)
    parser.add_argument("--seconds", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int)
    args = parser.parse_args()
    rates, steady = [], []
    for _ in range(args.runs):
        rate, after_start, lines = once(args.bikes, args.seconds, args.workers)
        rates.append(rate)
        steady.append(after_start)
        print(f"{lines} messages at {rate:,.0f}/s with start-up, {after_start:,.0f}/s after")
    result = {
        "messages_per_s_median": statistics.median(rates),
        "messages_per_s_after_start_up_median": statistics.median(steady),
        "messages_per_s_runs": rates,
    }
    print(f"median: {result['messages_per_s_median']:,.0f} messages/s")
    write("simulate", vars(args), result)


if __name__ == "__main__":
    main()
