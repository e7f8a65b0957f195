"""Dashboard pages left open: memory of the browser tabs and of the dashboard server over time.

Runs ``deleton up`` (embedded PostgreSQL, a simulated fleet in real time) and, as a separate
process, ``deleton dashboard``; opens the current-ride and fleet pages in headless Chromium
and leaves them open, updating every second. Every ``--every`` seconds it prints each tab's
JS heap after a forced garbage collection and the dashboard server's RSS.

    python benchmarks/soak.py --minutes 60 [--bikes 20]

Writes benchmarks/results/soak.json: the samples, and a summary from minute 2 on (the first
minutes fill the pages). A measurement, not a test.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.record import Record, Row, decimals, scratch, span, write  # noqa: E402
from tests.harness.browser import CHROMIUM, FLAGS  # noqa: E402
from tests.harness.services import DELETON, free_port, wait_for  # noqa: E402

PAGES = ("/bike/SN0003", "/fleet")
RIDE, FLEET, SERVER = PAGES[0], PAGES[1], "server RSS MB"
WARM_UP = 2.0  # minutes: the pages load and the ride chart fills first
OUTLIER = 1.25  # a sample this many times the median (or a fraction as large) stands alone


def summary(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures the README quotes, from the samples after ``WARM_UP``."""
    after = [sample for sample in samples if sample["minute"] >= WARM_UP] or samples
    median = statistics.median(sample[FLEET] for sample in after)
    usual = [s for s in after if median / OUTLIER <= s[FLEET] <= median * OUTLIER]
    minutes = [s["minute"] for s in usual]
    trend = (
        statistics.linear_regression(minutes, [s[FLEET] for s in usual]).slope * 60
        if len(set(minutes)) > 1
        else 0.0
    )
    rides = _rides(after)
    growth = [
        (later[RIDE] - earlier[RIDE]) / (later["minute"] - earlier["minute"])
        for ride in rides
        for earlier, later in itertools.pairwise(ride)
    ]
    return {
        "from_minute": after[0]["minute"],
        "to_minute": after[-1]["minute"],
        "server_rss_mb": [min(s[SERVER] for s in after), max(s[SERVER] for s in after)],
        "fleet_heap_mb_median": median,
        "fleet_heap_mb_usual": [min(s[FLEET] for s in usual), max(s[FLEET] for s in usual)],
        "fleet_heap_outliers": [[s["minute"], s[FLEET]] for s in after if s not in usual],
        "fleet_heap_trend_mb_per_hour": trend,
        "ride_heap_mb_per_minute_median": statistics.median(growth) if growth else 0.0,
        # each time a new ride replaced the chart: the old ride's largest heap, the new one's least
        "ride_heap_replaced_mb": [
            [max(s[RIDE] for s in old), min(s[RIDE] for s in new)]
            for old, new in itertools.pairwise(rides)
        ],
    }


def _rides(samples: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The samples split where the ride chart started again (its points fell)."""
    rides: list[list[dict[str, Any]]] = [[samples[0]]]
    for last, sample in itertools.pairwise(samples):
        if (sample[RIDE + " points"] or 0) > (last[RIDE + " points"] or 0):
            rides[-1].append(sample)
        else:
            rides.append([sample])
    return rides


def row(record: Record) -> Row:
    args, figures = record.arguments, record.figures["summary"]
    one = decimals(1)
    start, end = f"{figures['from_minute']:g}", f"{figures['to_minute']:.0f}"
    low, high = figures["fleet_heap_mb_usual"]
    text = (
        f"server RSS {span(figures['server_rss_mb'], one)} MB from minute {start} to {end};"
        f" fleet tab heap median {one(figures['fleet_heap_mb_median'])} MB, {one(low)}-{one(high)}"
        f" MB from minute {start} to {end}"
    )
    outliers = figures["fleet_heap_outliers"]
    if len(outliers) == 1:
        text += f" but for one sample of {one(outliers[0][1])} MB at minute {outliers[0][0]:.0f}"
    elif outliers:
        text += f" but for {len(outliers)} samples up to {one(max(o[1] for o in outliers))} MB"
    # a drift over the whole soak smaller than the samples' own spread is no trend
    drift = (
        figures["fleet_heap_trend_mb_per_hour"]
        * (figures["to_minute"] - figures["from_minute"])
        / 60
    )
    text += (
        ", with no trend"
        if abs(drift) < high - low
        else f", drifting {figures['fleet_heap_trend_mb_per_hour']:+.1f} MB an hour"
    )
    text += (
        f"; ride tab heap follows its ride (about {one(figures['ride_heap_mb_per_minute_median'])}"
        " MB a minute)"
    )
    for before, after in figures["ride_heap_replaced_mb"]:
        text += (
            f" and falls back when a new ride replaces the chart ({one(before)} to {one(after)} MB)"
        )
    minutes = args["minutes"]
    how_long = "an hour" if minutes == 60 else f"{minutes:g} minutes"
    return Row(f"pages left open {how_long} beside `deleton up` ({args['bikes']} bikes)", text)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--every", type=float, default=60)
    parser.add_argument("--bikes", type=int, default=20)
    args = parser.parse_args()
    home = scratch("deleton-soak-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DELETON_")}
    up_port = free_port()
    env |= {"DELETON_HOME": str(home), "DELETON_DASHBOARD_PORT": str(up_port)}
    up = subprocess.Popen([*DELETON, "up", "--bikes", str(args.bikes)], env=env)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    board: subprocess.Popen[bytes] | None = None
    samples: list[dict[str, Any]] = []
    try:
        # up serves its own dashboard once the embedded server and the schema are ready
        layout = "/_dash-layout"
        wait_for(lambda: answers(f"http://127.0.0.1:{up_port}{layout}"), 120, 0.5, "deleton up")
        board = subprocess.Popen([*DELETON, "dashboard", "--port", str(port)], env=env)
        wait_for(lambda: answers(base + layout), 60, 0.5, "the dashboard")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            tabs = []
            for path in PAGES:
                page = browser.new_page(viewport={"width": 1600, "height": 1000})
                page.goto(base + path)
                tabs.append((path, page, page.context.new_cdp_session(page)))
            started = time.monotonic()
            while True:
                sample: dict[str, Any] = {"minute": round((time.monotonic() - started) / 60, 1)}
                for path, page, cdp in tabs:
                    cdp.send("HeapProfiler.collectGarbage")
                    used = cdp.send("Runtime.getHeapUsage")["usedSize"] / 2**20
                    sample[path] = round(used, 2)
                    sample[path + " points"] = page.evaluate(
                        "() => { const g = document.querySelector('#ride-chart .js-plotly-plot')"
                        " || document.getElementById('ride-chart');"
                        " return g && g.data && g.data.length ? g.data[0].x.length : null; }"
                    )
                sample["server RSS MB"] = round(rss_mb(board.pid), 1)
                samples.append(sample)
                print(json.dumps(sample), flush=True)
                if time.monotonic() - started >= args.minutes * 60:
                    break
                time.sleep(args.every)
            browser.close()
    finally:
        for process in (board, up):
            if process is not None:
                process.send_signal(signal.SIGINT)
                process.wait(timeout=60)
    write("soak", vars(args), {"summary": summary(samples), "samples": samples})


if __name__ == "__main__":
    main()
