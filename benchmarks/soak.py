"""Dashboard pages left open: memory of the browser tabs and of the dashboard server over time.

Runs ``deleton up`` (embedded PostgreSQL, a simulated fleet in real time) and, as a separate
process, ``deleton dashboard``; opens the current-ride and fleet pages in headless Chromium
and leaves them open, updating every second. Every ``--every`` seconds it prints each tab's
JS heap after a forced garbage collection and the dashboard server's RSS.

    python benchmarks/soak.py --minutes 60 [--bikes 20]

Writes JSON to benchmarks/results/. A measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.harness.browser import CHROMIUM, FLAGS  # noqa: E402
from tests.harness.services import DELETON, free_port, wait_for  # noqa: E402

PAGES = ("/bike/SN0003", "/fleet")


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
    home = Path(tempfile.mkdtemp(prefix="deleton-soak-"))
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
    out = ROOT / "benchmarks" / "results" / f"soak-{int(time.time())}.json"
    out.write_text(json.dumps({"bikes": args.bikes, "samples": samples}, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
