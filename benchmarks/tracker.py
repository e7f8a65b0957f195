"""The tracker's hot path alone: messages a second through ``Tracker.feed_all``, one core.

A seeded fleet of 2,000 bikes for five simulated minutes (about 1.1 million messages) is built
first, then fed to a fresh tracker ``--runs`` times; the median is reported. The garbage
collector is tuned as ``deleton ingest`` tunes it.

    python benchmarks/tracker.py [--runs 5]

Prints and writes benchmarks/results/tracker.json. A measurement, not a test: compare medians,
and compare runs made side by side.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.record import Record, Row, thousands, write  # noqa: E402
from deleton.core.messages import Message  # noqa: E402
from deleton.core.tracker import Tracker  # noqa: E402
from deleton.core.wire import envelope  # noqa: E402
from deleton.simulator.riders import simulated_fleet  # noqa: E402
from tests.harness.fleet import SECOND, START  # noqa: E402


def row(record: Record) -> Row:
    figures = record.figures
    return Row(
        "the tracker alone, one core",
        f"{thousands(figures['median_per_s'])} messages/s (median of {len(figures['runs'])},"
        f" {figures['messages'] / 1e6:.1f} M messages)",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    messages: list[Message] = []
    for _, lines in simulated_fleet(2000, 1, START).ticks(START + 300 * SECOND):
        for key, _, text in lines:
            n = len(messages)
            messages.append((int(key[2:]) % 8, n, n + 1, key.encode(), envelope(text), None, None))
    gc.set_threshold(50_000, 20, 20)  # as ingest.command.serve sets it
    rates = []
    for _ in range(args.runs):
        tracker = Tracker(60 * SECOND, itertools.count(1).__next__)
        started = time.perf_counter()
        tracker.feed_all(messages)
        rates.append(len(messages) / (time.perf_counter() - started))
    result = {"messages": len(messages), "median_per_s": statistics.median(rates), "runs": rates}
    print(f"{len(messages):,} messages: median {result['median_per_s']:,.0f} messages/s")
    write("tracker", vars(args), result)


if __name__ == "__main__":
    main()
