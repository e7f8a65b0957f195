"""The daily report's speed on a day of 20,000 rides (a 1,000-bike fleet, 10 million readings),
against a real PostgreSQL 18: the whole report (figures of the day and the day before, charts,
PDF) made ``--runs`` times, the median reported, twice over:

  summarised   after ``deleton compress``: every ride read from historical.ride
  unsummarised the same day read straight from daily, every ride summarised on the fly

    python benchmarks/report.py [--runs 5 --bikes 1000 --rides 20 --seconds 500]

Prints and writes benchmarks/results/report.json. A measurement, not a test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.compress import CONFIG, DAY, load_day  # noqa: E402
from benchmarks.record import Record, Row, scratch, write  # noqa: E402
from deleton.compress.command import run_once  # noqa: E402
from deleton.postgres.connection import Database, embedded_url  # noqa: E402
from deleton.report.command import build  # noqa: E402
from deleton.report.config import ReportConfig  # noqa: E402

REPORT = ReportConfig("UTC", (), dt.time(17, 0), Path("reports"))


def row(record: Record) -> Row:
    figures = record.figures
    summarised, unsummarised = figures["summarised"], figures["unsummarised"]
    text = (
        f"{summarised['median_seconds']:.1f} s once compressed (median of"
        f" {record.arguments['runs']}, {summarised['max_seconds']:.1f} s at most);"
        f" {unsummarised['median_seconds']:.1f} s read straight from `daily` before any"
        f" compression; PDF {summarised['pdf_bytes'] / 1000:.0f} kB"
    )
    for other in record.other_runs:  # only in files converted from old ones
        before = other["figures"]
        text += (
            f"; {other['label']}: {before['summarised']['median_seconds']:.1f} s and"
            f" {before['unsummarised']['median_seconds']:.1f} s"
        )
    return Row(
        f"the daily report, a day of {summarised['rides']:,} rides"
        f" ({figures['readings']:,} readings)",
        text,
    )


def timed(database: Database, runs: int) -> dict[str, Any]:
    seconds, size = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        built = build(database, REPORT, DAY.date(), DAY + dt.timedelta(days=1))
        figures, pdf = built.figures, built.pdf
        seconds.append(time.perf_counter() - started)
        size = len(pdf)
    return {
        "rides": figures.rides,
        "median_seconds": statistics.median(seconds),
        "max_seconds": max(seconds),
        "pdf_bytes": size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--bikes", type=int, default=1000)
    parser.add_argument("--rides", type=int, default=20, help="a bike, that day")
    parser.add_argument("--seconds", type=int, default=500, help="of each ride")
    args = parser.parse_args()
    url = embedded_url(scratch("deleton-report-bench-"))
    _, readings = load_day(url, args.bikes, args.rides, args.seconds)
    database = Database(url)
    result: dict[str, Any] = {"readings": readings, "unsummarised": timed(database, args.runs)}
    print("straight from daily:", result["unsummarised"], flush=True)
    run_once(database, CONFIG, DAY + dt.timedelta(days=1, minutes=1))
    result["summarised"] = timed(database, args.runs)
    print("after compression:", result["summarised"], flush=True)
    write("report", vars(args), result, url)


if __name__ == "__main__":
    main()
