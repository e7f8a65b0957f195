"""The API before and after a change, A/B in one session: one database built once (a day of a
1,000-bike fleet and 1,000 riding, as ``benchmarks/api.py``), served alternately by
``deleton api`` (one worker) from this checkout and from another source tree, under wrk at 200
connections with a key of the ``read`` scope (code without keys ignores it). Rounds alternate
the order; medians and the ratio are printed. The other tree must read this schema as it is
(older code does: migrations only add).

    git archive 26236d1 | tar -x -C /tmp/before      # the code before the API keys
    python benchmarks/ab_api.py --other /tmp/before/src [--rounds 4 --duration 15]

A measurement, not a test; the machine is shared, so only ratios in one session mean much.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.api import RATE, keep_riding, riding_now, start_riding, wrk  # noqa: E402
from benchmarks.compress import load_day  # noqa: E402
from benchmarks.record import Record, Row, scratch, write  # noqa: E402
from deleton.postgres.connection import embedded_url  # noqa: E402
from tests.harness.services import DELETON, env_for, wait_for  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--other", required=True, help="the other source tree (its src/)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--duration", type=int, default=15, help="seconds of each wrk run")
    parser.add_argument("--baseline", default="the code before API keys (26236d1)",
                        help="what the other tree is, in the README's words")  # fmt: skip
    args = parser.parse_args()
    sides = {"before": str(Path(args.other).resolve()), "after": str(ROOT / "src")}
    url = embedded_url(scratch("deleton-ab-api-") / "pg")
    load_day(url, 1000, 20, 500)
    start_riding(url, 1000)
    with psycopg.connect(url) as conn:
        ids = [row[0] for row in conn.execute("SELECT ride_id FROM daily.ride")]
    stop = threading.Event()
    writer = keep_riding(url, stop)
    env = env_for(url, log_level="WARNING", api_rate_limit=RATE)
    made = subprocess.run([*DELETON, "api-key", "create", "ab", "--scope", "read"],
                          env={**env, "PYTHONPATH": sides["after"]}, capture_output=True,
                          check=True)  # fmt: skip
    key = made.stdout.decode().strip()
    results: dict[str, dict[str, list[dict[str, Any]]]] = {
        side: {"ride": [], "bikes": []} for side in sides
    }
    try:
        for round_ in range(args.rounds):
            for side in list(sides)[:: 1 if round_ % 2 == 0 else -1]:
                served = {**env, "PYTHONPATH": sides[side]}
                base = f"http://127.0.0.1:{served['DELETON_API_PORT']}"
                api = subprocess.Popen([*DELETON, "api", "--workers", "1"], env=served,
                                       stdout=subprocess.DEVNULL)  # fmt: skip
                try:
                    wait_for(lambda: riding_now(base, key) == 1000, timeout=60, what="the API")  # noqa: B023
                    wrk(base, "/bikes", [], 200, 3, key)  # warm
                    for label, path, random_ids in (
                        ("ride", "/ride", ids),
                        ("bikes", "/bikes", []),
                    ):
                        run = wrk(base, path, random_ids, 200, args.duration, key)
                        results[side][label].append(run)
                        print(f"round {round_} {side:6} {label:5} {run['requests_per_s']:7,.0f}"
                              f" req/s, p50 {run['p50_ms']:.1f} ms, p99 {run['p99_ms']:.1f} ms",
                              flush=True)  # fmt: skip
                finally:
                    api.terminate()
                    api.wait(timeout=30)
    finally:
        stop.set()
        writer.join(timeout=10)
    summary = {}
    for label in ("ride", "bikes"):
        for metric in ("requests_per_s", "p50_ms", "p99_ms"):
            before, after = (statistics.median(r[metric] for r in results[s][label])
                             for s in sides)  # fmt: skip
            summary[f"{label} {metric}"] = {"before": before, "after": after,
                                            "ratio": after / before}  # fmt: skip
            print(f"{label:5} {metric:15} before {before:9.1f}  after {after:9.1f}"
                  f"  after/before {after / before:.3f}")  # fmt: skip
    write("ab-api", vars(args), {"summary": summary, "runs": results}, url)


def row(record: Record) -> Row:
    """The A/B: this code's API against the named baseline's, the ratio of medians."""
    summary = record.figures["summary"]
    parts = []
    for label in ("ride", "bikes"):
        rate, p99 = summary[f"{label} requests_per_s"], summary[f"{label} p99_ms"]
        parts.append(
            f"{label} {rate['after']:,.0f} req/s ({rate['ratio']:.2f}x),"
            f" p99 {p99['before']:.0f} -> {p99['after']:.0f} ms"
        )
    return Row(
        # the whole API against the baseline: its keys, scopes and audit, and every change
        # since (a ride read from daily is planned per request since issue 18's figures)
        f"the API against {record.arguments['baseline']}, 1,000 bikes riding, 200 connections",
        f"median of {record.arguments['rounds']} alternating rounds of"
        f" {record.arguments['duration']} s: " + "; ".join(parts),
    )


if __name__ == "__main__":
    main()
