"""Capacity of one machine, end to end: the largest fleet the whole platform holds in real time.

Each run, at one fleet size, on this machine at once:
  - a real Kafka broker (a topic of ``--partitions``) and PostgreSQL (the embedded server);
  - ``deleton ingest``, ``--members`` group members, each serving its metrics;
  - ``deleton simulate --to kafka`` in real time: every bike a reading a second (two lines);
  - ``deleton dashboard`` with headless Chromium signed in as staff on /fleet;
  - ``deleton api`` under a steady open-loop load of ``--api-rate`` requests/s, alternately
    ``GET /bikes?limit=25`` and ``GET /ride/{id}`` of a ride of the last few thousand.

After a warm-up (every bike starts its first ride within 30 s), a window of ``--minutes``:
  - freshness: ingest's own histogram of message time to commit (each batch's first message,
    the oldest in it), the window's buckets alone, every member's summed;
  - the time each batch's storing transaction took (ingest's write histogram, the same way);
  - lag: the topic's end offsets less the stored positions, every 5 s;
  - CPU: each process's user and system time, its children's included, as cores;
  - the API's latency and errors, and the messages the simulator produced against the fleet's
    two lines a bike-second (a simulator behind real time shows as freshness too: message time
    is the line's own).

A fleet holds when freshness p99 is under 1 s and the lag does not grow: its fitted slope over
the window adds less than one second of the fleet's messages. The search starts at ``--start``
(an estimate from the per-core rates), goes up by half after each hold until a run fails,
then halves the gap between the largest held and the smallest failed; ``--runs`` in all.

    python benchmarks/capacity.py --start 20000 [--runs 4 --minutes 10 --members 1]

Writes benchmarks/results/capacity.json. A measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.ingest import (  # noqa: E402
    end_offsets,
    histogram_buckets,
    positions,
    quantiles,
)
from benchmarks.record import Record, Row, decimals, scratch, whole, write  # noqa: E402
from deleton.postgres import schema  # noqa: E402
from deleton.postgres.connection import embedded_url  # noqa: E402
from tests.harness.broker import LocalBroker  # noqa: E402
from tests.harness.browser import CHROMIUM, FLAGS, SECRETS  # noqa: E402
from tests.harness.services import DELETON, env_for, free_port, wait_for  # noqa: E402

WARM_UP = 60.0  # wall seconds: every bike has started by 30 s, the pools and pages are warm
LAG_EVERY = 5.0  # seconds between lag samples
FRESH = 1.0  # seconds: the freshness p99 a fleet must stay under
HISTOGRAM = "deleton_ingest_freshness_seconds"
WRITES = "deleton_ingest_write_seconds"  # each batch's storing transaction
TICK = os.sysconf("SC_CLK_TCK")
ROLES = ("simulator", "broker", "ingest", "postgres", "dashboard", "browser", "api", "benchmark")


def row(record: Record) -> Row:
    args, figures = record.arguments, record.figures
    held = [run for run in figures["runs"] if run["held"]]
    tried = ", ".join(
        f"{run['bikes']:,} {'held' if run['held'] else 'failed'}"
        f" (p99 {run['freshness_p99_s']:.2f} s, lag {run['lag_growth_s']:+.1f} s)"
        for run in figures["runs"]
    )
    if not held:
        return Row("capacity of this machine, end to end", f"no fleet held: {tried}")
    best = max(held, key=lambda run: run["bikes"])
    cores = ", ".join(f"{role} {decimals(2)(best['cpu_cores'][role])}" for role in ROLES)
    members = args["members"]
    return Row(
        f"capacity of this machine, end to end: simulator, broker, {members} ingest"
        f" member{'s' if members > 1 else ''}, PostgreSQL, dashboard with /fleet open in"
        f" Chromium, API at {args['api_rate']:g} req/s, {args['minutes']:g} minutes a run",
        f"**{best['bikes']:,} bikes** held: freshness p50 {best['freshness_p50_s']:.2f} s,"
        f" p99 {best['freshness_p99_s']:.2f} s, {whole(best['messages_per_s'])} messages/s;"
        f" API p99 {whole(best['api_p99_ms'])} ms; cores busy {cores}"
        f" (machine {decimals(2)(best['cpu_cores']['machine'])} of {record.cores}). Runs: {tried}",
    )


# --- CPU by process -------------------------------------------------------------------------


def processes() -> dict[int, tuple[str, int, int]]:
    """Every process: its name, parent and CPU ticks (user + system)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue  # ended while listed
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        found[int(entry.name)] = (name, int(fields[1]), int(fields[11]) + int(fields[12]))
    return found


def by_role(roots: dict[int, str]) -> dict[int, tuple[str, int]]:
    """Each process under one of ``roots`` (pid: role), or under this one, with its ticks;
    Chromium's processes are the browser's, whoever started them."""
    table = processes()
    out = {}
    for pid, (name, _, ticks) in table.items():
        role, at = None, pid
        while at in table and role is None:
            role = roots.get(at) or ("benchmark" if at == os.getpid() else None)
            at = table[at][1]
        if role is not None:
            out[pid] = ("browser" if "chrom" in name else role, ticks)
    return out


def machine_ticks() -> tuple[int, int]:
    """Busy and all ticks of every core since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = values[3] + values[4]  # idle and iowait
    return sum(values) - idle, sum(values)


def cores_used(
    before: dict[int, tuple[str, int]], after: dict[int, tuple[str, int]], seconds: float
) -> dict[str, float]:
    """Cores each role kept busy between the two samples (a process started between them
    counts from its start; one that ended, not at all)."""
    used = dict.fromkeys(ROLES, 0.0)
    for pid, (role, ticks) in after.items():
        earlier = before.get(pid, (role, 0))[1]
        used[role] += (ticks - earlier) / TICK / seconds
    return used


# --- the API's steady load ------------------------------------------------------------------


class Load:
    """``rate`` requests a second on a fixed schedule (an open loop: a slow answer does not
    delay the next request), alternately /bikes and a recent ride, with a read key."""

    def __init__(self, base: str, key: str, url: str, rate: float) -> None:
        self.base, self.key, self.url, self.rate = base, key, url, rate
        self.stop = threading.Event()
        self.samples: list[tuple[float, float, int]] = []  # sent at, latency s, status
        self.ids: list[int] = []
        self.thread = threading.Thread(target=self._run, name="api-load", daemon=True)

    def start(self) -> Load:
        self.thread.start()
        return self

    def _run(self) -> None:
        with ThreadPoolExecutor(16) as pool, psycopg.connect(self.url, autocommit=True) as conn:
            started, n = time.monotonic(), 0
            while not self.stop.is_set():
                if n % int(self.rate * 10) == 0:  # the newest rides, every 10 s
                    self.ids = [
                        r[0]
                        for r in conn.execute(
                            "SELECT ride_id FROM daily.ride ORDER BY ride_id DESC LIMIT 5000"
                        )
                    ]
                path = "/bikes?limit=25"
                if n % 2 and self.ids:
                    path = f"/ride/{self.ids[n % len(self.ids)]}"
                pool.submit(self._ask, path)
                n += 1
                self.stop.wait(max(0.0, started + n / self.rate - time.monotonic()))

    def _ask(self, path: str) -> None:
        sent = time.monotonic()
        request = urllib.request.Request(self.base + path, headers={"X-API-Key": self.key})
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                reply.read()
                status = reply.status
        except urllib.error.HTTPError as error:
            status = error.code
        except OSError:
            status = 0
        self.samples.append((sent, time.monotonic() - sent, status))

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


# --- one run --------------------------------------------------------------------------------


def scrape(ports: list[int], name: str = HISTOGRAM) -> list[list[tuple[float, float]]]:
    return [
        histogram_buckets(
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode(),
            name,
        )
        for port in ports
    ]


def window_buckets(
    before: list[list[tuple[float, float]]], after: list[list[tuple[float, float]]]
) -> list[tuple[float, float]]:
    """The window's own buckets: each member's end less its start, summed over members."""
    total: dict[float, float] = {}
    for start, end in zip(before, after, strict=True):
        for (bound, early), (_, late) in zip(start, end, strict=True):
            total[bound] = total.get(bound, 0.0) + late - early
    return sorted(total.items())


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def one_run(
    args: argparse.Namespace, bikes: int, n: int, url: str, broker: LocalBroker, pgdata: Path
) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with psycopg.connect(url, autocommit=True) as conn:
        schema.reset(conn)
    topic = f"capacity-{n}"
    broker.create_topic(topic, args.partitions)
    env = env_for(
        url, kafka_bootstrap_servers=broker.bootstrap, kafka_topic=topic, kafka_group_id=topic,
        log_level="WARNING", mail_backend="folder", api_rate_limit="1000000", **SECRETS,
    )  # fmt: skip
    started: list[subprocess.Popen[bytes]] = []

    def start(*command: str, **kwargs: Any) -> subprocess.Popen[bytes]:
        started.append(subprocess.Popen([*DELETON, *command], env=env, **kwargs))
        return started[-1]

    metrics = [free_port() for _ in range(args.members)]
    members = [start("ingest", "--metrics-port", str(port)) for port in metrics]
    source = f"kafka:{topic}"
    wait_for(lambda: len(positions(url, source, started=False)) == args.partitions, 120, 0.5,
             "ingest to be assigned every partition")  # fmt: skip
    board_port = free_port()
    board = start("dashboard", "--port", str(board_port))
    api = start("api", stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{board_port}"
    api_base = f"http://127.0.0.1:{env['DELETON_API_PORT']}"
    wait_for(lambda: answers(base + "/login"), 60, 0.5, "the dashboard")
    made = subprocess.run([*DELETON, "api-key", "create", f"capacity-{n}", "--scope", "read"],
                          env=env, capture_output=True, check=True)  # fmt: skip
    key = made.stdout.decode().strip()
    wait_for(lambda: answers(api_base + "/health"), 60, 0.5, "the API")
    subprocess.run([*DELETON, "users", "add", "capacity", "--role", "staff"], env=env,
                   check=True, capture_output=True)  # fmt: skip
    link = subprocess.run([*DELETON, "login-link", "capacity"], env=env, check=True,
                          capture_output=True).stdout.decode()  # fmt: skip
    token = re.search(r"/login/(\S+)", link)
    assert token, link
    seconds = WARM_UP + args.minutes * 60
    simulator = start("simulate", "--to", "kafka", "--bikes", str(bikes), "--seed", str(args.seed),
                      "--duration", str(seconds + 60))  # fmt: skip
    roots = {p.pid: "ingest" for p in members} | {
        simulator.pid: "simulator", board.pid: "dashboard", api.pid: "api",
        broker.process.pid: "broker",  # type: ignore[union-attr]
        int((pgdata / "postmaster.pid").read_text().split()[0]): "postgres",
    }  # fmt: skip
    load = Load(api_base, key, url, args.api_rate).start()
    lags: list[tuple[float, int]] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(f"{base}/login/{token.group(1)}")
            page.locator("#link-submit").click()
            page.wait_for_url(lambda at: "/login" not in at, timeout=30_000)
            page.goto(base + "/fleet")
            time.sleep(WARM_UP)  # a fixed warm-up, the same at every size: nothing measured yet
            window_start = time.monotonic()
            ticks, busy = by_role(roots), machine_ticks()
            fresh, writes = scrape(metrics), scrape(metrics, WRITES)
            ends = end_offsets(broker.bootstrap, topic, args.partitions)
            first_end = sum(ends.values())
            while (elapsed := time.monotonic() - window_start) < args.minutes * 60:
                if simulator.poll() is not None or any(p.poll() is not None for p in members):
                    raise SystemExit("a process of the platform ended during the window")
                ends = end_offsets(broker.bootstrap, topic, args.partitions)
                stored = positions(url, source)
                lag = sum(ends.values()) - sum(stored.get(p) or 0 for p in ends)
                lags.append((elapsed, lag))
                print(f"{bikes:,} bikes, {elapsed:5.0f} s: lag {lag:,} messages", flush=True)
                time.sleep(LAG_EVERY)  # the sampling period, not a wait for something
            window = time.monotonic() - window_start
            used = cores_used(ticks, by_role(roots), window)
            done_busy, done_all = machine_ticks()
            used["machine"] = (done_busy - busy[0]) / (done_all - busy[1]) * (os.cpu_count() or 1)
            buckets = window_buckets(fresh, scrape(metrics))
            written = window_buckets(writes, scrape(metrics, WRITES))
            produced = sum(end_offsets(broker.bootstrap, topic, args.partitions).values())
            page.screenshot(path=str(ROOT / "build" / "screenshots" / f"capacity-{bikes}.png"))
            browser.close()
    finally:
        load.close()
        for process in reversed(started):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in started:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
    q, w = quantiles(buckets, (0.5, 0.99)), quantiles(written, (0.5, 0.99))
    within = dict(buckets).get(FRESH, 0.0) / max(buckets[-1][1], 1)
    times = [t for t, _ in lags]
    slope = statistics.linear_regression(times, [lag for _, lag in lags]).slope
    rate = (produced - first_end) / window
    growth_s = slope * window / (2 * bikes)  # in seconds of the fleet's messages
    asked = [s for s in load.samples if s[0] >= window_start]
    latencies = sorted(s[1] for s in asked)
    result = {
        "bikes": bikes,
        "window_s": window,
        "batches": buckets[-1][1],
        "freshness_p50_s": q[0.5],
        "freshness_p99_s": q[0.99],
        "share_within_1_s": within,
        "write_p50_s": w[0.5],  # the batches' storing transactions
        "write_p99_s": w[0.99],
        "lag_messages_first_last_max": [lags[0][1], lags[-1][1], max(lag for _, lag in lags)],
        "lag_growth_s": growth_s,
        "messages_per_s": rate,
        "messages_per_s_expected": 2 * bikes,
        "api_requests": len(asked),
        "api_errors": sum(1 for s in asked if s[2] != 200),
        "api_p50_ms": 1000 * latencies[len(latencies) // 2] if latencies else None,
        "api_p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))] if latencies else None,
        "cpu_cores": used,
    }
    result["held"] = bool(q[0.99] < FRESH and growth_s < 1.0)
    print(json.dumps(result, indent=2), flush=True)
    return result


def sizes(start: int, runs: list[dict[str, Any]]) -> int:
    """The next fleet to try: up by half until one fails, then the middle of the gap."""
    held: list[int] = [run["bikes"] for run in runs if run["held"]]
    failed: list[int] = [run["bikes"] for run in runs if not run["held"]]
    if not runs:
        return start
    if not failed:
        return int(round(max(held) * 1.5, -3))
    if not held:
        return int(round(min(failed) / 1.5, -3))
    return int(round((max(held) + min(failed)) / 2, -3))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--start", type=int, default=20_000, help="the first fleet to try")
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--members", type=int, default=1)
    parser.add_argument("--partitions", type=int, default=16)
    parser.add_argument("--api-rate", type=float, default=25, help="API requests a second")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    (ROOT / "build" / "screenshots").mkdir(parents=True, exist_ok=True)
    folder = scratch("deleton-capacity-")
    url = embedded_url(folder / "pg")
    pgdata = (folder / "pg").resolve() / "pgdata"
    runs: list[dict[str, Any]] = []
    with LocalBroker(folder / "kafka", heap="1g") as broker:
        for n in range(args.runs):
            bikes = sizes(args.start, runs)
            if any(run["bikes"] == bikes for run in runs):
                break  # the search has narrowed to a size already run
            runs.append(one_run(args, bikes, n, url, broker, pgdata))
            write("capacity", vars(args), {"runs": runs}, url)  # each run kept as it ends


if __name__ == "__main__":
    main()
