"""Foundation against real services: the fleet through a real broker, the schema commands."""

from __future__ import annotations

import subprocess
from collections import defaultdict

import orjson
import psycopg

from deleton.core.records import Invalid, to_datetime
from deleton.core.wire import envelope, parse_value
from deleton.kafka.config import KafkaConfig
from deleton.kafka.producer import KafkaSink
from deleton.postgres import schema
from deleton.simulator.riders import simulated_fleet
from deleton.simulator.runner import run
from tests.harness.broker import LocalBroker
from tests.harness.fleet import START
from tests.harness.services import env_for, iterate_topic, rows, run_deleton


def test_a_fleet_goes_through_the_broker_complete_and_in_order(kafka: LocalBroker) -> None:
    kafka.create_topic("fleet-roundtrip", 4)
    config = KafkaConfig(kafka.bootstrap, "fleet-roundtrip", "g", "PLAINTEXT", None, None)
    count = run(
        KafkaSink(config), size=10, seed=5, start=START, until=START + 600_000_000, speed=None
    )
    expected: dict[bytes, list[bytes]] = defaultdict(list)
    for _, lines in simulated_fleet(10, 5, START).ticks(START + 600_000_000):
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
    start = to_datetime(START).isoformat()
    args = ("simulate", "--bikes", "3", "--fast", "--duration", "60", "--start", start)
    assert run_deleton(*args, "--to", "kafka", env=env, timeout=60).returncode == 0
    expected: dict[bytes, list[bytes]] = defaultdict(list)
    for _, lines in simulated_fleet(3, 1, START).ticks(START + 60_000_000):
        for key, _, text in lines:
            expected[key.encode()].append(envelope(text))
    count = sum(map(len, expected.values()))
    produced: dict[bytes, list[bytes]] = defaultdict(list)
    for m in iterate_topic(kafka.bootstrap, "cli-sim", count):
        produced[m.key()].append(m.value())
    assert produced == expected and set(produced) == {b"SN0000", b"SN0001", b"SN0002"}


def test_db_reset_then_init_leaves_every_table(db: str) -> None:
    env = env_for(db)
    reset = run_deleton("db", "reset", "--yes", env=env)
    assert reset.returncode == 0, reset.stderr
    again = run_deleton("db", "init", env=env)
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
    result = run_deleton("db", "reset", env=env, stdin=subprocess.DEVNULL)
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
        out = run_deleton("parse", input=stdin, env=env_for(db), check=True)
        docs = [orjson.loads(line) for line in out.stdout.splitlines()]
        assert len(docs) == 279
        assert {d["type"] for d in docs} == {"ride", "telemetry", "rider"}
        assert all(("key" in d) == keyed for d in docs)
        rider = next(d for d in docs if d["type"] == "rider" and d["user_id"] == 4527)
        assert rider["title"] == "Mr" and rider["first_name"] == "Stuart"
        assert rider["house"] == "Studio 73" and rider["postcode"] == "SA4N 2PJ"
        assert docs[0]["at"] == "2022-10-03T19:18:07.087281+00:00"
