"""A bare consumer's rate and memory under each set of librdkafka fetch settings.

Fills a local topic from the simulator (50,000 bikes for 60 s by default), then reads all of it
with a consumer that only counts, once per set of settings per round, each in a process of its
own so that its peak RSS (VmHWM) is its own. The order of the sets alternates between rounds.
The sets: librdkafka's defaults; the source's settings before 945f9ce (16 MB fetches, the
default 1 s ``fetch.queue.backoff.ms``); those with 4 MB fetches, still with the 1 s backoff;
today's ``kafka/source.py`` ``FETCH`` (10 ms backoff, 4 MB fetches); and ``FETCH`` with 16 MB
and with 2 MB fetches.

    python benchmarks/fetch_settings.py [--bikes 50000 --seconds 60 --partitions 8 --rounds 2]

Prints each run and writes benchmarks/results/fetch-settings.json. A measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.record import Record, Row, scratch, thousands, write  # noqa: E402
from deleton.kafka.config import KafkaConfig  # noqa: E402
from deleton.kafka.producer import KafkaSink  # noqa: E402
from deleton.kafka.source import FETCH  # noqa: E402
from deleton.simulator.runner import run  # noqa: E402
from tests.harness.broker import LocalBroker  # noqa: E402
from tests.harness.fleet import START  # noqa: E402

BEFORE = {  # kafka/source.py's fetch settings before 945f9ce
    "fetch.wait.max.ms": 50,
    "max.partition.fetch.bytes": 2_097_152,
    "fetch.max.bytes": 16_777_216,
    "queued.min.messages": 20_000,
    "queued.max.messages.kbytes": 32_768,
}
SETTINGS: dict[str, dict[str, int]] = {
    "librdkafka's defaults": {},
    "before 945f9ce (16 MB fetches, 1 s backoff)": BEFORE,
    "before 945f9ce with 4 MB fetches (1 s backoff)": {
        **BEFORE, "max.partition.fetch.bytes": 1_048_576, "fetch.max.bytes": 4_194_304,
        "queued.max.messages.kbytes": 8_192,
    },
    "FETCH (10 ms backoff, 4 MB fetches)": FETCH,
    "FETCH with 16 MB fetches": {
        **FETCH, "max.partition.fetch.bytes": 2_097_152, "fetch.max.bytes": 16_777_216,
        "queued.max.messages.kbytes": 32_768,
    },
    "FETCH with 2 MB fetches": {
        **FETCH, "max.partition.fetch.bytes": 524_288, "fetch.max.bytes": 2_097_152,
        "queued.max.messages.kbytes": 4_096,
    },
}  # fmt: skip

# The consumer, run as `python -c CONSUMER bootstrap topic count settings-json`: it prints its
# rate from its first message (joining the group is not consuming) and its peak RSS.
CONSUMER = """
import json, sys, time
from confluent_kafka import Consumer
bootstrap, topic, count, settings = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bare-{time.monotonic_ns()}",
                     "auto.offset.reset": "earliest", "enable.auto.commit": False,
                     **json.loads(settings)})
consumer.subscribe([topic])
seen, first = 0, None
while seen < count:
    batch = consumer.consume(10_000, 1.0)
    if batch and first is None:
        first = time.perf_counter()
    for m in batch:
        if m.error() is None and m.value() is not None:
            seen += 1
rate = count / (time.perf_counter() - first)
consumer.close()
peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({"messages_per_s": rate, "peak_rss_mb": int(peak.split()[1]) / 1024}))
"""


def row(record: Record) -> Row:
    figures = record.figures["settings"]
    rounds = record.arguments["rounds"]
    parts = [
        f"{name}: {thousands(each['messages_per_s'])}/s, {each['peak_rss_mb']:.0f} MB"
        for name, each in figures.items()
    ]
    return Row(
        f"a bare consumer under each set of fetch settings, {record.arguments['bikes']:,} bikes"
        f" ({record.figures['messages']:,} messages, {record.arguments['partitions']}"
        " partitions)",
        f"median of {rounds} rounds, messages/s and peak RSS: " + "; ".join(parts),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bikes", type=int, default=50_000)
    parser.add_argument("--seconds", type=int, default=60, help="simulated, to fill the topic")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    folder = scratch("deleton-fetch-")
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in SETTINGS}
    with LocalBroker(folder / "kafka", heap="1g") as broker:
        topic = "fetch"
        broker.create_topic(topic, args.partitions)
        config = KafkaConfig(broker.bootstrap, topic, "unused", "PLAINTEXT", None, None)
        count = run(
            KafkaSink(config), size=args.bikes, seed=args.seed, start=START,
            until=START + args.seconds * 1_000_000, speed=None, workers=2,
        )  # fmt: skip
        print(f"filled {topic}: {count:,} messages", flush=True)
        for n in range(args.rounds):
            order = list(SETTINGS) if n % 2 == 0 else list(reversed(SETTINGS))
            for name in order:
                out = subprocess.run(
                    [sys.executable, "-c", CONSUMER, broker.bootstrap, topic, str(count),
                     json.dumps(SETTINGS[name])],
                    capture_output=True, text=True, check=True, timeout=600,
                )  # fmt: skip
                result = json.loads(out.stdout.strip().splitlines()[-1])
                runs[name].append(result)
                print(
                    f"round {n}: {name}: {result['messages_per_s']:,.0f} messages/s,"
                    f" peak RSS {result['peak_rss_mb']:.0f} MB",
                    flush=True,
                )

    def median(name: str, key: str) -> float:
        return float(statistics.median(r[key] for r in runs[name]))

    figures: dict[str, Any] = {
        "messages": count,
        "settings": {
            name: {
                "config": SETTINGS[name],
                "messages_per_s": median(name, "messages_per_s"),
                "peak_rss_mb": median(name, "peak_rss_mb"),
                "runs": runs[name],
            }
            for name in SETTINGS
        },
    }
    write("fetch-settings", vars(args), figures)


if __name__ == "__main__":
    main()
