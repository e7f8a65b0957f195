"""Ingestion benchmark on this machine, with a real broker and PostgreSQL beside it.

throughput: fill a local topic (8 partitions) from the simulator, then measure in one run
  - the raw consume rate of the topic (a consumer that only counts),
  - the raw binary COPY rate of the same reading rows into a table shaped like daily.reading,
  - `deleton ingest` (one or more group members) from the start to every partition stored,
  - the ingest processes' peak RSS.
freshness: start ingestion, then produce in real time (10,000 bikes by default) and report
  message-time-to-commit p50/p99 (ingest's own histogram, first message of every batch: the
  oldest in it) and alert latency (reading time to the email arriving at a local SMTP server).

    python benchmarks/ingest.py throughput --bikes 50000 --seconds 20 [--members 2] [--runs 2]
    python benchmarks/ingest.py freshness --bikes 10000 --seconds 180

Prints a summary and writes benchmarks/results/ingest-MODE.json (ingest-throughput-N-members
for N > 1). A measurement, not a test.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import psycopg
from confluent_kafka import Consumer, TopicPartition

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.record import (  # noqa: E402
    Record,
    Row,
    count_word,
    decimals,
    scratch,
    span,
    thousands,
    write,
)
from deleton.core.tracker import Tracker  # noqa: E402
from deleton.core.wire import parse_value  # noqa: E402
from deleton.kafka.config import KafkaConfig  # noqa: E402
from deleton.kafka.producer import KafkaSink  # noqa: E402
from deleton.kafka.source import FETCH  # noqa: E402
from deleton.postgres import schema  # noqa: E402
from deleton.postgres.connection import embedded_url  # noqa: E402
from deleton.postgres.store import pack_readings  # noqa: E402
from deleton.simulator.runner import run  # noqa: E402
from tests.harness.broker import LocalBroker  # noqa: E402
from tests.harness.fleet import START  # noqa: E402
from tests.harness.services import (  # noqa: E402
    DELETON,
    SmtpServer,
    env_for,
    free_port,
    value,
    wait_for,
)

WARM_UP = 40  # simulated seconds: every bike has started by 30 s


def row(record: Record) -> Row:
    args, figures = record.arguments, record.figures
    if args["mode"] == "freshness":
        alerts = (
            f"alert email p50 {figures['alert_latency_p50_s']:.2f} s,"
            f" p99 {figures['alert_latency_p99_s']:.2f} s"
            if figures["alerts"]
            else "no alert fired"
        )
        return Row(
            f"freshness at {args['bikes']:,} bikes, real time",
            f"message to commit p50 {figures['freshness_p50_s']:.2f} s,"
            f" p99 {figures['freshness_p99_s']:.2f} s; {alerts}",
        )
    runs = figures["runs"]
    members = args["members"]

    def each(key: str) -> list[float]:
        return [run[key] for run in runs]

    rates = [thousands(rate) for rate in sorted(each("ingest_messages_per_s"))]
    text = " and ".join([", ".join(rates[:-1]), rates[-1]] if len(rates) > 1 else rates)
    if len(runs) > 1:
        text += f" messages/s in {count_word(len(runs))} runs"
    else:
        text += " messages/s"
    # One denominator for every ingest figure: a bare consumer of the same topic in the same
    # run (computed here too for files written before it was recorded); the older "of the
    # slower limit" (the lower of raw consume and raw COPY) beside it.
    of_raw = [r["ingest_messages_per_s"] / r["raw_consume_messages_per_s"] for r in runs]
    text += (
        f" ({span(each('ingest_readings_per_s'), thousands)} readings/s),"
        f" {span((share * 100 for share in of_raw), decimals(0))}% of raw consume in the same"
        f" run ({span((share * 100 for share in each('share_of_slower_limit')), decimals(0))}%"
        " of the slower limit)"
    )
    if members == 1:  # the machine's limits, the same for any number of members: shown once
        text += (
            f" (raw consume {span(each('raw_consume_messages_per_s'), thousands)}/s;"
            f" raw binary COPY {span(each('raw_copy_rows_per_s'), thousands)} rows/s)"
        )
    text += f", peak RSS {span(each('peak_rss_mb'), decimals(0))} MB"
    plural = "s" if members > 1 else ""
    return Row(
        f"ingest, {args['bikes']:,} bikes mid-ride, {members} group member{plural}",
        text + (" each" if members > 1 else ""),
    )


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def positions(url: str, source: str, started: bool = True) -> dict[int, int | None]:
    """Where each partition of ``source`` resumes; with ``started``, only those that have
    stored something (a member claims every partition assigned to it at once)."""
    with psycopg.connect(url) as conn:
        return dict(
            conn.execute(
                "SELECT partition, next_position FROM daily.source_position"
                " WHERE source = %s AND (next_position IS NOT NULL OR NOT %s)",
                [source, started],
            ).fetchall()
        )


def end_offsets(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    """Where each partition of ``topic`` ends now."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-watermarks"})
    try:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(partitions)
        }
    finally:
        consumer.close()


def raw_consume(bootstrap: str, topic: str, count: int) -> float:
    """Messages/s of a bare consumer reading the whole topic, with deleton's fetch settings:
    it reads each message's value and counts it, keeping nothing (keeping millions of
    messages would time the heap and the garbage collector, not the consumer)."""
    consumer = _consumer(bootstrap)
    consumer.subscribe([topic])
    seen = 0
    first = None
    while seen < count:
        batch = consumer.consume(10_000, 1.0)
        if batch and first is None:
            first = time.perf_counter()  # from the first message: group joining is not consuming
        for m in batch:
            if m.error() is None and m.value() is not None:
                seen += 1
    elapsed = time.perf_counter() - (first or time.perf_counter())
    consumer.close()
    return count / elapsed


def read_all(bootstrap: str, topic: str, count: int) -> list[Any]:
    """Every message of the topic as the source hands them over, untimed: for the warm-up
    positions and the raw COPY."""
    consumer = _consumer(bootstrap)
    consumer.subscribe([topic])
    kept: list[Any] = []
    while len(kept) < count:
        for m in consumer.consume(10_000, 1.0):
            offset = m.offset()
            if m.error() is None and offset is not None:
                # no broker time: the readings raw_copy makes of these do not depend on it
                kept.append((m.partition(), offset, offset + 1, m.key(), m.value(), None, None))
    consumer.close()
    return kept


def _consumer(bootstrap: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"raw-{time.monotonic_ns()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            **FETCH,  # deleton's own consumer's fetch settings
        }
    )


def raw_copy(url: str, messages: list[Any]) -> tuple[float, int]:
    """Rows/s of binary COPY of the same readings into a table shaped like daily.reading."""
    tracker = Tracker(60_000_000, itertools.count(1).__next__)
    for m in messages:
        tracker.feed(m)
    readings = tracker.take().readings
    data = pack_readings(readings)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS public.bench_reading")
        conn.execute(
            "CREATE TABLE public.bench_reading (LIKE daily.reading) PARTITION BY RANGE (at)"
        )
        conn.execute("CREATE INDEX ON public.bench_reading (ride_id, at)")
        conn.execute(
            "CREATE TABLE public.bench_reading_all PARTITION OF public.bench_reading"
            " FOR VALUES FROM ('2000-01-01') TO ('2100-01-01')"
        )
        started = time.perf_counter()
        with (
            conn.transaction(),
            conn.cursor() as cur,
            cur.copy("COPY public.bench_reading FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.write(data)
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE public.bench_reading")
    return len(readings) / elapsed, len(readings)


def throughput(
    args: argparse.Namespace, url: str, broker: LocalBroker, topic: str
) -> dict[str, Any]:
    """One run on a topic of its own, into an empty database."""
    with psycopg.connect(url, autocommit=True) as conn:
        schema.reset(conn)
    broker.create_topic(topic, args.partitions)
    config = KafkaConfig(broker.bootstrap, topic, "unused", "PLAINTEXT", None, None)
    started = time.perf_counter()
    # The first minute, in which every bike starts its first ride (a burst of rider upserts
    # and new rides), is ingested but not timed: the timed window is a fleet mid-ride.
    count = run(
        KafkaSink(config), size=args.bikes, seed=args.seed, start=START,
        until=START + (WARM_UP + args.seconds) * 1_000_000, speed=None, workers=2,
    )  # fmt: skip
    fill = count / (time.perf_counter() - started)
    print(f"filled {topic}: {count} messages at {fill:,.0f}/s", flush=True)

    consume_rate = raw_consume(broker.bootstrap, topic, count)
    print(f"raw consume: {consume_rate:,.0f} messages/s", flush=True)
    messages = read_all(broker.bootstrap, topic, count)
    copy_rate, readings = raw_copy(url, messages)
    per_reading = count / readings
    print(f"raw binary COPY: {copy_rate:,.0f} rows/s = {copy_rate * per_reading:,.0f} messages/s")
    ends: dict[int, int] = {}
    warm: dict[int, int] = {}
    warm_until = START + WARM_UP * 1_000_000
    for partition, _, end, _, payload, _, _ in messages:
        ends[partition] = end
        at = getattr(parse_value(payload), "at", None)
        if at is not None and at <= warm_until:
            warm[partition] = end
    timed = sum(ends.values()) - sum(warm.values())
    del messages

    env = env_for(
        url, kafka_bootstrap_servers=broker.bootstrap, kafka_topic=topic,
        kafka_group_id=topic, log_level="WARNING", mail_backend="folder",
    )  # fmt: skip
    started = time.perf_counter()
    members = [subprocess.Popen([*DELETON, "ingest"], env=env) for _ in range(args.members)]
    rss: dict[int, float] = {}
    window_start = None
    while (now := positions(url, f"kafka:{topic}")) != ends:
        if window_start is None and all((now.get(p) or 0) >= w for p, w in warm.items()):
            window_start = time.perf_counter()
            # Timed: what is left to store now. Partitions move unevenly, so by the time the
            # last is past its warm-up others are well beyond theirs; counting from the
            # warm-up ends instead would credit the window with their head start.
            timed = sum(ends.values()) - sum(now.get(p) or 0 for p in ends)
        for p in members:
            rss[p.pid] = peak_rss_mb(p.pid)
        time.sleep(0.02)
    finished = time.perf_counter()
    elapsed = finished - started
    for p in members:
        rss[p.pid] = peak_rss_mb(p.pid)
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)
    if window_start is None:
        raise SystemExit("every partition was stored before its warm-up was seen: nothing timed")
    window = finished - window_start
    rate = timed / window
    slower = min(consume_rate, copy_rate * per_reading)
    result = {
        "messages": count,
        "timed_messages": timed,
        # from the moment the last partition was past its warm-up to every partition stored
        "window_s": window,
        "readings": readings,
        "ingest_messages_per_s": rate,
        "ingest_readings_per_s": rate / per_reading,
        "ingest_all_messages_per_s_incl_startup_and_warm_up": count / elapsed,
        "raw_consume_messages_per_s": consume_rate,
        "raw_copy_rows_per_s": copy_rate,
        "raw_copy_as_messages_per_s": copy_rate * per_reading,
        "share_of_raw_consume": rate / consume_rate,
        "share_of_slower_limit": rate / slower,
        "peak_rss_mb": max(rss.values()),
        "fill_messages_per_s": fill,
    }
    print(
        f"ingest ({args.members} member{'s' if args.members > 1 else ''}): {rate:,.0f} messages/s,"
        f" {rate / per_reading:,.0f} readings/s, {rate / consume_rate:.0%} of raw consume"
        f" ({rate / slower:.0%} of the slower limit),"
        f" peak RSS {max(rss.values()):.0f} MB; timed {timed:,} messages in the last"
        f" {window:.1f} s"
    )
    return result


def histogram_buckets(text: str, name: str) -> list[tuple[float, float]]:
    """The cumulative buckets ``(le, count)`` of histogram ``name`` in a Prometheus scrape."""
    buckets = []
    for line in text.splitlines():
        m = re.match(rf'{name}_bucket\{{le="([^"]+)"\}} ([0-9.e+]+)', line)
        if m:
            buckets.append((float(m.group(1)), float(m.group(2))))
    return buckets


def quantiles(buckets: list[tuple[float, float]], qs: tuple[float, ...]) -> dict[float, float]:
    """Quantiles of cumulative ``buckets``, linear within a bucket (as PromQL's
    histogram_quantile); one in the open top bucket is its lower bound."""
    total = buckets[-1][1]
    out = {}
    for q in qs:
        target = q * total
        lower, below = 0.0, 0.0
        for bound, cumulative in buckets:
            if cumulative >= target:
                share = (target - below) / max(cumulative - below, 1)
                out[q] = lower + (bound - lower) * share if bound != float("inf") else lower
                break
            lower, below = bound, cumulative
    return out


def freshness(args: argparse.Namespace, url: str, broker: LocalBroker) -> dict[str, Any]:
    topic = "live"
    broker.create_topic(topic, args.partitions)
    smtp = SmtpServer().start()
    received: list[tuple[float, Any]] = []
    original = smtp.mailbox.handle_DATA

    async def stamp(server: Any, session: Any, envelope: Any) -> str:
        received.append((time.time(), envelope))
        return await original(server, session, envelope)

    smtp.mailbox.handle_DATA = stamp  # type: ignore[method-assign]
    port = free_port()
    env = env_for(
        url, kafka_bootstrap_servers=broker.bootstrap, kafka_topic=topic, kafka_group_id="live",
        smtp_host="127.0.0.1", smtp_port=str(smtp.port), log_level="WARNING",
    )  # fmt: skip
    source = f"kafka:{topic}"
    ingest = subprocess.Popen([*DELETON, "ingest", "--metrics-port", str(port)], env=env)
    wait_for(
        lambda: len(positions(url, source, started=False)) == args.partitions,
        what="ingest to be assigned every partition before the fleet starts",
    )
    subprocess.run(
        [*DELETON, "simulate", "--to", "kafka", "--bikes", str(args.bikes),
         "--duration", str(args.seconds), "--seed", str(args.seed)],
        env=env, check=True,
    )  # fmt: skip
    ends = end_offsets(broker.bootstrap, topic, args.partitions)
    wait_for(lambda: positions(url, source) == ends, what="ingest to store the last message")
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
    rss = peak_rss_mb(ingest.pid)
    ingest.send_signal(signal.SIGTERM)
    ingest.wait(timeout=60)
    smtp.stop()
    q = quantiles(histogram_buckets(metrics, "deleton_ingest_freshness_seconds"), (0.5, 0.99))
    latencies = []
    with psycopg.connect(url) as conn:
        for when, envelope in received:
            alert_id = int(re.search(rb"<alert-(\d+)@", envelope.content).group(1))  # type: ignore[union-attr]
            at = value(conn, "SELECT extract(epoch FROM at) FROM daily.alert WHERE alert_id = %s",
                       [alert_id])  # fmt: skip
            # the alert's reading completes with its Telemetry line, half a second later
            latencies.append(when - (float(at) + 0.5))
    latencies.sort()
    result = {
        "freshness_p50_s": q.get(0.5),
        "freshness_p99_s": q.get(0.99),
        "alerts": len(latencies),
        "alert_latency_p50_s": statistics.median(latencies) if latencies else None,
        "alert_latency_p99_s": latencies[int(0.99 * (len(latencies) - 1))] if latencies else None,
        "peak_rss_mb": rss,
    }
    print(json.dumps(result, indent=2))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("mode", choices=("throughput", "freshness"))
    parser.add_argument("--bikes", type=int)
    parser.add_argument("--seconds", type=int)
    parser.add_argument("--members", type=int, default=1)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--runs", type=int, default=1, help="throughput: this many runs, each on a new topic"
    )
    args = parser.parse_args()
    if args.mode == "throughput":
        args.bikes = args.bikes or 50_000
        args.seconds = args.seconds or 20
    else:
        args.bikes = args.bikes or 10_000
        args.seconds = args.seconds or 180
    folder = scratch("deleton-bench-")
    url = embedded_url(folder / "pg")
    with LocalBroker(folder / "kafka", heap="1g") as broker:
        if args.mode == "throughput":
            runs = [throughput(args, url, broker, f"bench-{n}") for n in range(args.runs)]
            figures: dict[str, Any] = {"runs": runs}
            name = "ingest-throughput" + (f"-{args.members}-members" if args.members > 1 else "")
        else:
            with psycopg.connect(url, autocommit=True) as conn:
                schema.reset(conn)
            figures = freshness(args, url, broker)
            name = "ingest-freshness"
    write(name, vars(args), figures, url)


if __name__ == "__main__":
    main()
