"""Foundation against real services: the fleet through a real broker, the schema commands."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict

import orjson
import psycopg

from deleton import schema
from deleton.broker import LocalBroker
from deleton.fleet import Fleet
from deleton.kafka import ProducerSink
from deleton.records import Invalid
from deleton.settings import KafkaConfig
from deleton.simulator import run
from deleton.wire import envelope, parse_value
from tests.services import deleton, env_for, iterate_topic, rows

START = 1_667_500_920_000_000


def test_a_fleet_goes_through_the_broker_complete_and_in_order(kafka: LocalBroker) -> None:
    kafka.create_topic("fleet-roundtrip", 4)
    config = KafkaConfig(kafka.bootstrap, "fleet-roundtrip", "g", "PLAINTEXT", None, None)
    count = run(
        ProducerSink(config), size=10, seed=5, start=START, until=START + 600_000_000, speed=None
    )
    expected: dict[bytes, list[bytes]] = defaultdict(list)
    for _, lines in Fleet(10, 5, START).ticks(START + 600_000_000):
        for key, _, text in lines:
            expected[key.encode()].append(envelope(text))
    assert count == sum(map(len, expected.values())) > 10 * 1000

    received: dict[bytes, list[bytes]] = defaultdict(list)
    partitions: dict[bytes, set[int]] = defaultdict(set)
    for message in iterate_topic(kafka.bootstrap, "fleet-roundtrip", count):
        received[message.key()].append(message.value())
        partitions[message.key()].add(message.partition())
    assert received == expected  # every bike's messages, in order
    assert all(len(p) == 1 for p in partitions.values())  # each bike on one partition
    assert len({p for ps in partitions.values() for p in ps}) > 1
    for values in received.values():
        assert not any(isinstance(parse_value(v), Invalid) for v in values)


def test_simulate_to_kafka_from_the_command_line(kafka: LocalBroker, db: str) -> None:
    kafka.create_topic("cli-sim", 2)
    env = env_for(db, kafka_bootstrap_servers=kafka.bootstrap, kafka_topic="cli-sim")
    args = ("simulate", "--bikes", "3", "--fast", "--duration", "60", "--to", "kafka")
    assert deleton(*args, env=env).wait(timeout=60) == 0
    keys = {m.key() for m in iterate_topic(kafka.bootstrap, "cli-sim", 3 * 100)}
    assert keys <= {b"SN0000", b"SN0001", b"SN0002"}


def test_db_reset_then_init_leaves_every_table(db: str) -> None:
    env = env_for(db)
    reset = subprocess.run(
        [sys.executable, "-m", "deleton.cli", "db", "reset", "--yes"], env=env, capture_output=True
    )
    assert reset.returncode == 0, reset.stderr
    again = subprocess.run(
        [sys.executable, "-m", "deleton.cli", "db", "init"], env=env, capture_output=True
    )
    assert again.returncode == 0 and b"up to date" in again.stdout
    present = {
        f"{s}.{t}"
        for s, t in rows(
            db,
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_schema IN ('daily', 'historical')",
        )
    }
    assert set(schema.TABLES) <= present
    partitioned = rows(db, "SELECT count(*) FROM pg_partitioned_table")[0][0]
    assert partitioned == 1  # daily.reading


def test_db_reset_refuses_without_yes_when_not_interactive(db: str) -> None:
    env = env_for(db)
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("INSERT INTO daily.ride (bike_serial, started_at) VALUES ('SN1', now())")
    result = subprocess.run(
        [sys.executable, "-m", "deleton.cli", "db", "reset"],
        env=env,
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2 and b"--yes" in result.stderr
    assert rows(db, "SELECT count(*) FROM daily.ride")[0][0] == 1


def test_parse_reads_every_real_sample_line(sample_lines: list[str], db: str) -> None:
    bare = b"".join(envelope(line) + b"\n" for line in sample_lines)
    kcat = b"".join(
        orjson.dumps({"topic": "deloton", "partition": 0, "offset": i, "key": "SN0000",
                      "payload": envelope(line).decode()}) + b"\n"
        for i, line in enumerate(sample_lines)
    )  # fmt: skip
    for stdin, keyed in ((bare, False), (kcat, True)):
        out = subprocess.run(
            [sys.executable, "-m", "deleton.cli", "parse"], input=stdin, capture_output=True,
            env=env_for(db), check=True,
        )  # fmt: skip
        docs = [orjson.loads(line) for line in out.stdout.splitlines()]
        assert len(docs) == 279
        assert {d["type"] for d in docs} == {"ride", "telemetry", "rider"}
        assert all(("key" in d) == keyed for d in docs)
        rider = next(d for d in docs if d["type"] == "rider" and d["user_id"] == 4527)
        assert rider["title"] == "Mr" and rider["first_name"] == "Stuart"
        assert rider["house"] == "Studio 73" and rider["postcode"] == "SA4N 2PJ"
        assert docs[0]["at"] == "2022-10-03T19:18:07.087281+00:00"
