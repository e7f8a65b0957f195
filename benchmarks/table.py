"""The README's performance table, generated from benchmarks/results/*.json.

    python -m benchmarks.table          # rewrite the table in README.md
    python -m benchmarks.table --check  # exit 1 if README.md differs from what the files say

The table sits between two marker comments in README.md. Each row is one result file, its
text made by the ``row`` of the script that wrote it; the command column is the command the
file records.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Callable
from pathlib import Path

from benchmarks import (
    ab_api,
    ab_compress,
    ab_ingest_file,
    api,
    capacity,
    compress,
    compress_split,
    dashboard,
    fetch_settings,
    ingest,
    profile_ingest,
    report,
    simulate,
    soak,
    tracker,
)
from benchmarks.record import RESULTS, ROOT, Record, Row, read

README = ROOT / "README.md"
START = "<!-- benchmarks/table.py: generated from benchmarks/results/, do not edit -->"
END = "<!-- end of the generated table -->"

# Every result file, in the order of the README's rows, with the script that words it.
ROWS: tuple[tuple[str, Callable[[Record], Row]], ...] = (
    ("simulate", simulate.row),
    ("ingest-throughput", ingest.row),
    ("tracker", tracker.row),
    ("ingest-profile", profile_ingest.row),
    ("ingest-throughput-2-members", ingest.row),
    ("ingest-freshness", ingest.row),
    ("capacity", capacity.row),
    ("fetch-settings", fetch_settings.row),
    ("ab-ingest-file", ab_ingest_file.row),
    ("ab-ingest-file-bike-latest", ab_ingest_file.row),
    ("ab-ingest-file-tally", ab_ingest_file.row),
    ("ab-ingest-file-zones", ab_ingest_file.row),
    ("ab-ingest-file-2bad716", ab_ingest_file.row),
    ("dashboard", dashboard.row),
    ("dashboard-5000-active", dashboard.row),
    ("dashboard-signin", dashboard.signin_row),
    ("dashboard-live-50000", dashboard.live_row),
    ("compress-day", compress.row),
    ("ab-compress", ab_compress.row),
    ("compress-split", compress_split.row),
    ("report", report.row),
    ("compress-beside", compress.row),
    ("api", api.row),
    ("api-50000-riding", api.row),
    ("ab-api", ab_api.row),
    ("soak", soak.row),
)


def table(results: Path = RESULTS) -> str:
    """The table's markdown, one row per result file; every file must have its row."""
    files = {path.stem for path in results.glob("*.json")}
    unplaced = files - {name for name, _ in ROWS}
    if unplaced:
        raise SystemExit(f"no row in benchmarks/table.py for {', '.join(sorted(unplaced))}")
    lines = ["| what | command | figures |", "|---|---|---|"]
    for name, words in ROWS:
        if name not in files:
            raise SystemExit(f"benchmarks/results/{name}.json is missing")
        record = read(results / f"{name}.json")
        what, figures = words(record)
        lines.append(f"| {what} | `{record.command}` | {figures} |")
    return "\n".join(lines)


def regenerated(readme: str, results: Path = RESULTS) -> str:
    """``readme`` with the text between the markers replaced by the table."""
    before, start, rest = readme.partition(START)
    _, end, after = rest.partition(END)
    if not start or not end:
        raise SystemExit(f"README.md lacks the markers {START!r} and {END!r}")
    return f"{before}{START}\n\n{table(results)}\n\n{END}{after}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 if stale")
    args = parser.parse_args()
    current = README.read_text()
    wanted = regenerated(current)
    if args.check:
        if wanted == current:
            return 0
        sys.stdout.writelines(
            difflib.unified_diff(
                current.splitlines(keepends=True),
                wanted.splitlines(keepends=True),
                "README.md",
                "README.md as benchmarks/results/ say",
            )
        )
        print("README.md's performance table is stale: run python -m benchmarks.table")
        return 1
    if wanted != current:
        README.write_text(wanted)
        print("README.md: performance table regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
