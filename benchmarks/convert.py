"""One-off: the epoch-named results the README quoted, converted to one file per benchmark.

Each new file takes the figures of the old file(s) the README's row was quoted from, the
commit that added the old file, and ``converted_from`` naming it. The arguments and command are
those the README gives for the row (and the old file's own fields); the versions were never
recorded, so they are null, as is the dirty flag. Old files the README did not quote are
superseded runs of the same benchmarks; git keeps them.

    python -m benchmarks.convert   # then python -m benchmarks.table
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from benchmarks.record import RESULTS, ROOT
from benchmarks.soak import summary

UNKNOWN_VERSIONS = {"postgresql": None, "librdkafka": None, "python": None}
SINCE_ROLES = (
    "Since the database roles (a rider's age at a ride now comes from a definer function,"
    " about 25 µs a ride)"
)
BEFORE_ROLES = "before the database roles, whose age function the report now reads through"


def added(name: str) -> str:
    """The commit that added ``benchmarks/results/NAME``."""
    out = subprocess.run(
        ["git", "log", "--diff-filter=A", "--format=%H", "--", f"benchmarks/results/{name}"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    return out[-1]


def old(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RESULTS / name).read_text())
    return data


def without(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in {*keys, "machine_cores"}}


def other_run(name: str, figures: dict[str, Any], label: str, note: str | None = None) -> Any:
    run = {"converted_from": name, "commit": added(name), "label": label, "figures": figures}
    if note:
        run["note"] = note
    return run


def convert(
    benchmark: str,
    command: str,
    arguments: dict[str, Any],
    sources: list[str],
    figures: dict[str, Any],
    other_runs: list[Any] | None = None,
) -> None:
    commits = {added(source) for source in sources}
    assert len(commits) == 1, f"{benchmark}: {sources} came in different commits"
    cores = {old(source).get("machine_cores") for source in sources}
    record: dict[str, Any] = {
        "benchmark": benchmark,
        "command": command,
        "arguments": arguments,
        "commit": commits.pop(),
        "dirty": None,
        "cores": cores.pop() if len(cores) == 1 else None,
        "versions": UNKNOWN_VERSIONS,
        "figures": figures,
        "converted_from": sources,
    }
    if other_runs:
        record["other_runs"] = other_runs
    (RESULTS / f"{benchmark}.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"{benchmark}.json from {', '.join(sources)}")


def main() -> None:
    source = "simulate-1795831838.json"
    convert(
        "simulate",
        "python benchmarks/simulate.py --bikes 20000 --seconds 200 --runs 3",
        {"bikes": 20000, "seconds": 200, "runs": 3, "workers": None},
        [source],
        without(old(source), "bikes", "simulated_seconds"),
    )
    throughput = {"mode": "throughput", "bikes": 50000, "seconds": 20, "partitions": 8, "seed": 1}
    sources = ["ingest-throughput-1795849138.json", "ingest-throughput-1795849275.json"]
    convert(
        "ingest-throughput",
        "python benchmarks/ingest.py throughput --seconds 20 --runs 2",
        {**throughput, "members": 1, "runs": 2},
        sources,
        {"runs": [without(old(s), "mode", "bikes", "members") for s in sources]},
    )
    source = "tracker-1795849299.json"
    convert("tracker", "python benchmarks/tracker.py", {"runs": 5}, [source], old(source))
    source = "ingest-throughput-1795832860.json"
    convert(
        "ingest-throughput-2-members",
        "python benchmarks/ingest.py throughput --seconds 20 --members 2",
        {**throughput, "members": 2, "runs": 1},
        [source],
        {"runs": [without(old(source), "mode", "bikes", "members")]},
    )
    source = "ingest-freshness-1795831475.json"
    convert(
        "ingest-freshness",
        "python benchmarks/ingest.py freshness --bikes 10000 --seconds 180",
        {
            "mode": "freshness",
            "bikes": 10000,
            "seconds": 180,
            "members": 1,
            "partitions": 8,
            "seed": 1,
            "runs": 1,
        },
        [source],
        without(old(source), "mode", "bikes", "seconds"),
    )
    sizes = [10**5, 10**6, 10**7]
    source = "dashboard-1795840816.json"
    convert(
        "dashboard",
        "python benchmarks/dashboard.py",
        {"active": 1000, "runs": 200, "sizes": sizes},
        [source],
        without(old(source), "active_rides", "runs"),
        [
            other_run(
                later,
                without(old(later), "active_rides", "runs"),
                SINCE_ROLES,
                "the pages' own updates unchanged",
            )
            for later in ("dashboard-1795861768.json", "dashboard-1795862283.json")
        ],
    )
    source = "dashboard-1795840483.json"
    convert(
        "dashboard-5000-active",
        "python benchmarks/dashboard.py --active 5000 --runs 60",
        {"active": 5000, "runs": 60, "sizes": sizes},
        [source],
        without(old(source), "active_rides", "runs"),
    )
    day = {"bikes": 1000, "rides": 20, "seconds": 500}
    source = "compress-day-1795854281.json"
    convert(
        "compress-day",
        "python benchmarks/compress.py day",
        {"mode": "day", **day, "stream_bikes": 20_000},
        [source],
        without(old(source), "mode"),
    )
    source, before = "report-1795861557.json", "report-1795856508.json"
    readings = {"readings": 1000 * 20 * 500}  # the day load_day makes; the old files omit it
    convert(
        "report",
        # "median of 3" in the README: the default is 5
        "python benchmarks/report.py --runs 3",
        {"runs": 3, **day},
        [source],
        {**readings, **without(old(source))},
        [other_run(before, {**readings, **without(old(before))}, BEFORE_ROLES)],
    )
    source = "compress-beside-1795854852.json"
    convert(
        "compress-beside",
        "python benchmarks/compress.py beside",
        {"mode": "beside", **day, "stream_bikes": 20_000},
        [source],
        without(old(source), "mode"),
    )
    source = "api-1795859982.json"
    convert(
        "api",
        "python benchmarks/api.py",
        {**day, "connections": 200, "duration": 15, "runs": 3, "workers": [1, 2]},
        [source],
        without(old(source), "connections", "seconds_per_run"),
    )
    source = "soak-1795839901.json"
    samples = old(source)["samples"]
    convert(
        "soak",
        "python benchmarks/soak.py --minutes 60",
        {"minutes": 60, "every": 60, "bikes": old(source)["bikes"]},
        [source],
        {"summary": summary(samples), "samples": samples},
    )
    for path in sorted(RESULTS.glob("*-[0-9]*.json")):
        if Path(path).stem.rsplit("-", 1)[-1].isdigit():
            path.unlink()


if __name__ == "__main__":
    main()
