"""The daily report's speed on a day of 20,000 rides (a 1,000-bike fleet, 10 million readings),
against a real PostgreSQL 18: the whole report (figures of the day and the day before, charts,
PDF) made ``--runs`` times, the median reported, twice over:

  summarised   after ``deleton compress``: every ride read from historical.ride
  unsummarised the same day read straight from daily, every ride summarised on the fly

    python benchmarks/report.py [--runs 5]

Prints and writes JSON to benchmarks/results/. A measurement, not a test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.compress import CONFIG, DAY, load_day  # noqa: E402
from deleton.compress.command import run_once  # noqa: E402
from deleton.postgres.connection import Database, embedded_url  # noqa: E402
from deleton.report.command import build  # noqa: E402
from deleton.settings import ReportConfig  # noqa: E402

REPORT = ReportConfig("UTC", (), dt.time(17, 0))


def timed(database: Database, runs: int) -> dict[str, Any]:
    seconds, size = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        _, figures, pdf, _ = build(database, REPORT, DAY.date(), DAY + dt.timedelta(days=1))
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
    args = parser.parse_args()
    url = embedded_url(Path(tempfile.mkdtemp(prefix="deleton-report-bench-")))
    load_day(url, 1000, 20, 500)
    database = Database(url)
    result: dict[str, Any] = {"unsummarised": timed(database, args.runs)}
    print("straight from daily:", result["unsummarised"], flush=True)
    run_once(database, CONFIG, DAY + dt.timedelta(days=1, minutes=1))
    result["summarised"] = timed(database, args.runs)
    print("after compression:", result["summarised"], flush=True)
    result["machine_cores"] = os.cpu_count()
    out = ROOT / "benchmarks" / "results" / f"report-{int(time.time())}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
