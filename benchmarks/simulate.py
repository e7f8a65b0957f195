"""Simulator as a load generator: messages per second to standard output with --fast.

Runs `deleton simulate --fast` into a pipe drained by this process (what a reader such as
`kcat` or a file would see), several times, and reports the median.

    python benchmarks/simulate.py --bikes 20000 --seconds 200 --runs 3

A measurement, not a test: the machine is shared and noisy, so compare medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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
        "bikes": args.bikes,
        "simulated_seconds": args.seconds,
        "messages_per_s_median": statistics.median(rates),
        "messages_per_s_after_start_up_median": statistics.median(steady),
        "messages_per_s_runs": rates,
        "machine_cores": os.cpu_count(),
    }
    print(f"median: {result['messages_per_s_median']:,.0f} messages/s")
    out = ROOT / "benchmarks" / "results" / f"simulate-{int(time.time())}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
