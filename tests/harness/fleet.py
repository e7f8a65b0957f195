"""Simulated fleets for tests and benchmarks: in a dump file, on a topic, or in the database.

``START`` is the one simulated start time the suite uses where the moment does not matter:
2022-11-03 18:42:00 UTC, the time of the wire format's own example.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from deleton.dump.kcat import KcatSink
from deleton.kafka.config import KafkaConfig
from deleton.kafka.producer import KafkaSink
from deleton.simulator.runner import run
from tests.harness.broker import LocalBroker
from tests.harness.services import env_for, run_deleton

START = 1_667_500_920_000_000
SECOND = 1_000_000


def dump_fleet(
    path: Path, bikes: int, seconds: int, seed: int, partitions: int = 4, start: int = START
) -> int:
    """A seeded fleet's first ``seconds`` from ``start`` as kcat records in ``path``; returns
    how many messages."""
    with path.open("wb") as out:
        return run(
            KcatSink(out, "deloton", partitions), size=bikes, seed=seed, start=start,
            until=start + seconds * SECOND, speed=None,
        )  # fmt: skip


def fill_topic(
    kafka: LocalBroker, topic: str, bikes: int, seconds: int, seed: int, partitions: int = 8
) -> int:
    """A new topic holding a seeded fleet's first ``seconds`` from ``START``; returns how many
    messages."""
    kafka.create_topic(topic, partitions)
    config = KafkaConfig(kafka.bootstrap, topic, "unused", "PLAINTEXT", None, None)
    return run(
        KafkaSink(config), size=bikes, seed=seed, start=START,
        until=START + seconds * SECOND, speed=None,
    )  # fmt: skip


def simulated(url: str, dump: Path, bikes: int, seed: int, seconds: int) -> Path:
    """A seeded fleet's last ``seconds``, up to now, as a dump file written by
    ``deleton simulate``."""
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)
    with dump.open("wb") as out:
        result = run_deleton(
            "simulate", "--bikes", str(bikes), "--seed", str(seed), "--fast",
            "--duration", str(seconds), "--start", start.isoformat(),
            env=env_for(url), stdout=out,
        )  # fmt: skip
    assert result.returncode == 0
    return dump


def ingest_file(url: str, dump: Path, **settings: str) -> None:
    """``deleton ingest --from-file``: from where the last replay of ``dump`` stopped."""
    result = run_deleton("ingest", "--from-file", str(dump), env=env_for(url, **settings))
    assert result.returncode == 0, result.stderr[-2000:]


def ingest_simulated(url: str, folder: Path, bikes: int, seed: int, seconds: int) -> Path:
    """A seeded fleet's last ``seconds``, up to now, replayed into the database; the dump."""
    dump = simulated(url, folder / "fleet.jsonl", bikes, seed, seconds)
    ingest_file(url, dump)
    return dump
