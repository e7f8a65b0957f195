"""Ingestion against a real broker, PostgreSQL and SMTP server: complete and exact, and every
kind of bad message a dead letter. Exactly once through SIGKILLs (from start-up to mid-stream)
and a killed group member is the fault suite's to prove, at a larger size
(``tests/faults/test_faults.py``).

The reference for "exact" is the pure ``Tracker`` run once, uninterrupted, over the topic as
it was read back; the database must hold the same riders, rides, readings and alerts, compared
on their natural keys (bike and time), since ride ids depend on who allocated them when.
"""

from __future__ import annotations

import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from deleton.core.records import RideLine, RiderLine, TelemetryLine
from deleton.core.wire import format_value
from deleton.postgres import rides as rides_db
from tests.harness.broker import LocalBroker
from tests.harness.expected import (
    INGEST_SETTINGS,
    caught_up,
    mismatch,
    natural,
    reference,
    settled,
    stored,
)
from tests.harness.fleet import SECOND, START, fill_topic
from tests.harness.services import (
    SmtpServer,
    deleton,
    env_for,
    execute,
    free_port,
    rows,
    scalar,
    wait_for,
)


@pytest.fixture
def ingest_env(db: str, kafka: LocalBroker, smtp: SmtpServer) -> Iterator[Any]:
    def make(topic: str, **extra: str) -> dict[str, str]:
        return env_for(
            db,
            kafka_bootstrap_servers=kafka.bootstrap,
            kafka_topic=topic,
            kafka_group_id=f"ingest-{topic}",
            smtp_host="127.0.0.1",
            smtp_port=str(smtp.port),
            **{**INGEST_SETTINGS, **extra},
        )

    yield make


def scrape(port: int, path: str = "/metrics") -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            return str(response.read().decode())
    except urllib.error.HTTPError as refused:  # a 503 from /healthz has a body too
        return str(refused.read().decode())
    except OSError:
        return ""


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0


def run_until_caught_up(
    db: str,
    process: subprocess.Popen[bytes],
    topic: str,
    ends: dict[int, int],
    emails: tuple[SmtpServer, int] | None = None,
) -> None:
    """Let ``process`` ingest ``topic`` to its end and close every ride (and, given
    ``emails``, send that many emails: its outbox stops with it), then stop it cleanly."""
    try:
        wait_for(lambda: settled(db, f"kafka:{topic}", ends), timeout=120, what="catch-up")
        if emails is not None:
            smtp, count = emails
            wait_for(lambda: len(smtp.messages) >= count, timeout=30, what="emails")
    finally:
        stop(process)


def test_a_simulated_fleet_arrives_complete_and_exact(
    db: str, kafka: LocalBroker, smtp: SmtpServer, ingest_env: Any
) -> None:
    count = fill_topic(kafka, "complete", bikes=40, seconds=1200, seed=4)
    expected, ends, _ = reference(kafka, "complete", count)
    process = deleton("ingest", env=ingest_env("complete"))
    run_until_caught_up(db, process, "complete", ends, (smtp, len(expected.alerts)))
    want = natural(expected)
    assert want["alerts"], "the fleet should hold some dangerous heart rates"
    assert not (wrong := mismatch(stored(db), want)), wrong
    assert scalar(db, "SELECT count(*) FROM daily.dead_letter") == 0
    assert len(smtp.messages) == len(expected.alerts)
    recipients = Counter(m["To"] for m in smtp.messages)
    # each alert to its rider's address, read from daily.rider as it was sent
    assert recipients == Counter(expected.riders[a.user_id].email for a in expected.alerts)
    assert scalar(db, "SELECT count(*) FROM daily.alert WHERE sent_at IS NULL") == 0


def test_every_kind_of_bad_message_is_a_dead_letter_and_good_ones_are_stored(
    db: str, kafka: LocalBroker, ingest_env: Any
) -> None:
    from confluent_kafka import Producer

    kafka.create_topic("bad", 1)
    good = [
        b'{"log": "--------- beginning of a new ride\\n"}',
        b'{"log": "2022-11-03 18:42:00.922427 mendoza v9: [SYSTEM] data = {\\"user_id\\":100,'
        b'\\"name\\":\\"Steven Pearce\\",\\"gender\\":\\"male\\",\\"address\\":\\"0 Simpson locks,'
        b'Wilkinsonshire,E68 8SH\\",\\"date_of_birth\\":273715200000,\\"email_address\\":'
        b'\\"steven.p@gmail.com\\",\\"height_cm\\":167,\\"weight_kg\\":83,\\"account_create_date\\"'
        b':1647993600000,\\"bike_serial\\":\\"SN0000\\",\\"original_source\\":\\"direct\\"}\\n"}',
        b'{"log": "2022-11-03 18:42:01.422451 mendoza v9: [INFO]: Ride - duration = 1.0; resistance = 0\\n"}',
        b'{"log": "2022-11-03 18:42:01.922469 mendoza v9: [INFO]: Telemetry - hrt = 0; rpm = 0; power = 0.0\\n"}',
    ]  # fmt: skip
    bad = [
        (b"not json at all", "not JSON"),
        (b"", "not JSON"),
        (b'{"log": 3}', "not a string"),
        (b'{"log": "x\\n", "more": 1}', "exactly one key"),
        (b'{"log": "2022-11-03 18:42:02.422451 mendoza v9: [INFO]: Ride - duration = x; resistance = 0\\n"}', "malformed Ride"),
        (b'{"log": "2022-11-03 18:42:02.922469 mendoza v9: [INFO]: Telemetry - hrt = -1; rpm = 0; power = 0.0\\n"}', "negative heart rate"),
        (b'{"log": "2022-02-30 18:42:02.922469 mendoza v9: [INFO]: Telemetry - hrt = 1; rpm = 0; power = 0.0\\n"}', "impossible timestamp"),
        (b'{"log": "2022-11-03 18:42:03.0 mendoza v9: [SYSTEM] data = {\\"user_id\\": }\\n"}', "timestamp"),
        (b'{"log": "2022-11-03 18:42:03.000000 mendoza v9: [SYSTEM] data = {\\"user_id\\": }\\n"}', "not JSON"),
        (b'{"log": "2022-11-03 18:42:03.000000 mendoza v9: [DEBUG]: hello\\n"}', "unrecognised"),
        (b'\xff\xfe\x00', "not JSON"),
        (None, "no value"),
    ]  # fmt: skip
    producer = Producer({"bootstrap.servers": kafka.bootstrap})
    values = [good[0], good[1], bad[0][0], good[2], *(b for b, _ in bad[1:]), good[3]]
    for value in values:  # sent when the lines say, as by a bike whose clock is right
        producer.produce("bad", value=value, key=b"SN0000", timestamp=START // 1000)
    producer.flush(30)
    port = free_port()
    process = deleton("ingest", "--metrics-port", str(port), env=ingest_env("bad"))
    try:
        wait_for(lambda: caught_up(db, "kafka:bad", {0: len(values)}), timeout=60, what="catch-up")
        counted = f"deleton_ingest_dead_letters_total {len(bad)}.0"
        wait_for(lambda: counted in scrape(port), 15, what="the dead letters counted")
        metrics = scrape(port)
        assert f"deleton_ingest_messages_total {len(values)}.0" in metrics
        health = orjson.loads(scrape(port, "/healthz"))
        assert health["status"] == "ok" and health["seconds_since_loop"] < 5
    finally:
        stop(process)
    letters = rows(db, "SELECT position, value, value_length, value_sha256, reason"
                       " FROM daily.dead_letter ORDER BY position")  # fmt: skip
    assert len(letters) == len(bad)
    for (position, value, length, sha256, reason), (sent, why) in zip(letters, bad, strict=True):
        if sent is not None and b"[SYSTEM]" in sent:  # a rider's line: no byte of it is kept
            assert (value, sha256, length) == (None, None, len(sent)), sent
        else:
            assert (bytes(value) if value is not None else None) == sent
        assert why in reason, (why, reason)
        assert values[position] == sent
    assert rows(db, "SELECT duration, heart_rate FROM daily.reading") == [(1.0, 0)]
    assert rows(db, "SELECT user_id FROM daily.ride") == [(100,)]


# Rider 100 of the wire format's example, on a bike whose clock runs an hour fast.
HELD = RiderLine(0, "mendoza v9", 100, "Steven Pearce", "male",
                 "0 Simpson locks,Wilkinsonshire,E68 8SH", 273715200000, "steven.p@gmail.com",
                 167, 83, 1647993600000, "SNFAST", "direct")  # fmt: skip


class Bikes:
    """Rides sent to ``topic``, each a rider's line and a reading."""

    def __init__(self, kafka: LocalBroker, topic: str) -> None:
        from confluent_kafka import Producer

        self.topic = topic
        self.producer = Producer({"bootstrap.servers": kafka.bootstrap})
        self.sent = 0

    def ride(self, rider: RiderLine, producer_ahead: float = 0) -> None:
        """``rider``'s ride, keyed by its bike; its messages' CreateTime is the producer's
        clock, ``producer_ahead`` seconds fast."""
        records: list[RiderLine | RideLine | TelemetryLine] = [
            rider,
            RideLine(rider.at + SECOND, "mendoza v9", 1.0, 30),
            TelemetryLine(rider.at + 3 * SECOND // 2, "mendoza v9", 90, 60, 50.0),
        ]
        stamp = int((time.time() + producer_ahead) * 1000)
        for record in records:
            self.producer.produce(self.topic, value=format_value(record),
                                  key=rider.bike_serial.encode(), timestamp=stamp)  # fmt: skip
        assert self.producer.flush(30) == 0
        self.sent += len(records)


def erased_with_a_line_held(db: str, bikes: Bikes, producer_ahead: float) -> None:
    """Rider 100, known from a ride, erased while the topic holds a line of theirs that the
    bike's clock dates an hour after the erasure."""
    execute(db, "INSERT INTO daily.ride (ride_id, bike_serial, user_id, started_at, ended_at,"
                " host) VALUES (nextval('daily.ride_id_seq'), 'SN0001', 100,"
                " now() - interval '2 hours', now() - interval '1 hour', 'mendoza v9')")  # fmt: skip
    bikes.ride(HELD._replace(at=time.time_ns() // 1000 + 3_600 * SECOND), producer_ahead)
    with psycopg.connect(db) as conn:
        assert rides_db.erase_rider(conn, 100) is rides_db.Erasure.ERASED


def ingested(db: str, bikes: Bikes, env: dict[str, str]) -> None:
    process = deleton("ingest", env=env)
    try:
        done = {0: bikes.sent}
        wait_for(lambda: caught_up(db, f"kafka:{bikes.topic}", done), timeout=60, what="catch-up")
    finally:
        stop(process)


def test_a_line_the_broker_held_before_an_erasure_never_brings_the_rider_back(
    db: str, kafka: LocalBroker, ingest_env: Any
) -> None:
    """L1: a [SYSTEM] line waits in the topic (ingestion behind) while its rider is erased;
    its bike's clock runs an hour fast, so the line says it came after the erasure. The
    broker's time of the message (LogAppendTime: the broker's clock, as the README advises
    where bikes produce directly) says it did not: the rider stays erased, and its ride is
    an unknown rider's. Their real visit after the erasure brings them back, with the
    profile they came back with."""
    kafka.create_topic("erased", 1, {"message.timestamp.type": "LogAppendTime"})
    bikes = Bikes(kafka, "erased")
    erased_with_a_line_held(db, bikes, producer_ahead=1_800)  # the broker ignores that clock
    bikes.ride(HELD._replace(at=time.time_ns() // 1000, email="came.back@example.org",
                             bike_serial="SNBACK"))  # fmt: skip
    ingested(db, bikes, ingest_env("erased", broker_time_margin="0"))
    assert rows(db, "SELECT email FROM daily.rider WHERE user_id = 100") == [
        ("came.back@example.org",)
    ]
    assert rows(db, "SELECT bike_serial, user_id FROM daily.ride"
                    " WHERE bike_serial IN ('SNFAST', 'SNBACK') ORDER BY bike_serial") == [
        ("SNBACK", 100), ("SNFAST", None)
    ]  # fmt: skip


def test_a_producers_fast_clock_does_not_undo_an_erasure_either(
    db: str, kafka: LocalBroker, ingest_env: Any
) -> None:
    """L1 where the bikes produce to the topic themselves (CreateTime, Kafka's default): the
    message's timestamp is the bike's clock too, half an hour fast, which the broker accepts
    (up to message.timestamp.after.max.ms ahead, an hour by default). Ingestion allows the
    broker's margin (DELETON_BROKER_TIME_MARGIN): the rider stays erased."""
    kafka.create_topic("erased-create-time", 1)
    bikes = Bikes(kafka, "erased-create-time")
    erased_with_a_line_held(db, bikes, producer_ahead=1_800)
    ingested(db, bikes, ingest_env("erased-create-time"))
    assert rows(db, "SELECT email FROM daily.rider WHERE user_id = 100") == []
    assert rows(db, "SELECT user_id FROM daily.ride WHERE bike_serial = 'SNFAST'") == [(None,)]


def test_a_topic_that_lets_producers_stamp_any_time_ahead_keeps_an_erased_rider_erased(
    db: str, kafka: LocalBroker, ingest_env: Any, tmp_path: Path
) -> None:
    """L1's rule holds only while the topic bounds how far ahead a producer may stamp by the
    margin. Every Kafka before 4.0 (and MSK 3.x) makes topics whose
    message.timestamp.after.max.ms is Long.MAX (KIP-1030): a producer two hours fast, beyond
    the margin as shipped, dates a line held since before the erasure after it. Ingestion
    reads the topic's bound at start, says once that it is above the margin, shows it in
    its metrics, and lets no line bring the rider back (fourth review, finding A)."""
    unbounded = str(2**63 - 1)
    kafka.create_topic("erased-unbounded", 1, {"message.timestamp.after.max.ms": unbounded})
    bikes = Bikes(kafka, "erased-unbounded")
    erased_with_a_line_held(db, bikes, producer_ahead=7_200)
    port = free_port()
    log = tmp_path / "ingest.log"
    with log.open("wb") as out:
        process = deleton("ingest", "--metrics-port", str(port),
                          env=ingest_env("erased-unbounded"), stderr=out)  # fmt: skip
        try:
            done = {0: bikes.sent}
            wait_for(lambda: caught_up(db, "kafka:erased-unbounded", done), 60, what="catch-up")
            metrics = scrape(port)
            health = orjson.loads(scrape(port, "/healthz"))
        finally:
            stop(process)
    back = rows(db, "SELECT email FROM daily.rider WHERE user_id = 100")
    assert back == [], f"rider 100, erased, is back from a line the topic held: {back}"
    assert rows(db, "SELECT user_id FROM daily.ride WHERE bike_serial = 'SNFAST'") == [(None,)]
    assert "deleton_ingest_broker_time_trusted 0.0" in metrics
    assert health["broker_time_trusted"] is False and health["status"] == "ok"
    warned = [line for line in log.read_text().splitlines() if "after.max.ms" in line]
    assert len(warned) == 1, warned
    assert "WARNING" in warned[0] and "erased-unbounded" in warned[0], warned
    assert unbounded in warned[0] and "(3600000 ms)" in warned[0], warned


def test_the_topic_says_how_far_ahead_its_producers_may_stamp(kafka: LocalBroker) -> None:
    """What ingestion learns of a topic at start (``kafka.topic``), from the real broker:
    Kafka 4's default (CreateTime, an hour ahead), LogAppendTime, an unbounded CreateTime,
    and, for a topic not made yet, the broker's defaults that it will be made with."""
    from deleton.kafka.config import KafkaConfig
    from deleton.kafka.topic import topic_times

    def times(topic: str) -> tuple[str | None, int | None]:
        found = topic_times(KafkaConfig(kafka.bootstrap, topic, "unused", "PLAINTEXT", None, None))
        assert found.unknown is None, found
        return found.timestamp_type, found.after_max_ms

    kafka.create_topic("times-default", 1)
    kafka.create_topic("times-log-append", 1, {"message.timestamp.type": "LogAppendTime"})
    kafka.create_topic("times-unbounded", 1, {"message.timestamp.after.max.ms": str(2**63 - 1)})
    assert times("times-default") == ("CreateTime", 3_600_000)
    assert times("times-log-append")[0] == "LogAppendTime"
    assert times("times-unbounded") == ("CreateTime", 2**63 - 1)
    assert times("times-not-made-yet") == ("CreateTime", 3_600_000)
