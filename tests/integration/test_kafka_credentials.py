"""Kafka credentials fail fast: against the session broker's SASL/PLAIN listener, a wrong
password, a refused topic or a refused group makes ``deleton ingest`` (and ``deleton simulate
--to kafka``) exit non-zero within 60 s, naming the cause and never printing the password; the
right password ingests.

The refusals are ACLs made here with ``AdminClient.create_acls`` on names only these tests use,
so that every other test's topics and groups stay open.
"""

from __future__ import annotations

import subprocess
from typing import Any

import psycopg
import pytest
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from deleton.postgres import schema
from tests.harness.broker import SASL_USERS, LocalBroker
from tests.harness.services import deleton, env_for, run_deleton, scalar, wait_for

OPEN_TOPIC = "credentials-open"
WALLED_TOPIC = "credentials-walled"
WALLED_GROUP = "credentials-walled-group"
WRONG = "Wr0ng-pa55word-not-4711"
FAIL_WITHIN = 60.0  # seconds the issue allows before a refused ingest must have exited


@pytest.fixture(scope="module")
def walls(kafka: LocalBroker) -> None:
    """``walled`` may neither touch ``WALLED_TOPIC`` nor join ``WALLED_GROUP``."""
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    denied = [
        AclBinding(kind, name, ResourcePatternType.LITERAL, "User:walled", "*",
                   AclOperation.ALL, AclPermissionType.DENY)
        for kind, name in ((ResourceType.TOPIC, WALLED_TOPIC), (ResourceType.GROUP, WALLED_GROUP))
    ]  # fmt: skip
    for future in admin.create_acls(denied).values():
        future.result(timeout=30)
    kafka.create_topic(WALLED_TOPIC, 2)
    kafka.create_topic(OPEN_TOPIC, 2)


@pytest.fixture(scope="module")
def database(pg_url: str) -> str:
    """A database with both schemas, reset once for this module (ingestion migrates it)."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        schema.reset(conn)
    return pg_url


def sasl_env(
    database: str, kafka: LocalBroker, user: str, password: str, topic: str, group: str
) -> dict[str, str]:
    return env_for(
        database,
        kafka_bootstrap_servers=kafka.sasl_bootstrap,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_username=user,
        kafka_sasl_password=password,
        kafka_topic=topic,
        kafka_group_id=group,
    )


def refused(*args: str, env: dict[str, str]) -> str:
    """Run ``deleton ARGS``, which must fail on its own within ``FAIL_WITHIN`` seconds; its
    stdout and stderr together."""
    try:
        result = run_deleton(*args, env=env, timeout=FAIL_WITHIN)
    except subprocess.TimeoutExpired as hung:
        held = (hung.stdout or b"") + (hung.stderr or b"")
        pytest.fail(f"still running after {FAIL_WITHIN} s: {held.decode()[-2000:]}")
    output = (result.stdout + result.stderr).decode()
    assert result.returncode != 0, output[-2000:]
    return output


@pytest.mark.usefixtures("walls")
def test_a_wrong_password_stops_ingest_naming_authentication(
    database: str, kafka: LocalBroker
) -> None:
    env = sasl_env(database, kafka, "rider", WRONG, OPEN_TOPIC, "credentials-ingest")
    output = refused("ingest", env=env)
    assert "authentication failed for SASL user 'rider'" in output, output[-2000:]
    assert WRONG not in output


@pytest.mark.usefixtures("walls")
def test_a_refused_topic_stops_ingest_naming_the_topic(database: str, kafka: LocalBroker) -> None:
    password = SASL_USERS["walled"]
    env = sasl_env(database, kafka, "walled", password, WALLED_TOPIC, "credentials-ingest")
    output = refused("ingest", env=env)
    assert f"not authorised for topic '{WALLED_TOPIC}'" in output, output[-2000:]
    assert password not in output


@pytest.mark.usefixtures("walls")
def test_a_refused_group_stops_ingest_naming_the_group(database: str, kafka: LocalBroker) -> None:
    password = SASL_USERS["walled"]
    env = sasl_env(database, kafka, "walled", password, OPEN_TOPIC, WALLED_GROUP)
    output = refused("ingest", env=env)
    assert f"not authorised for group '{WALLED_GROUP}'" in output, output[-2000:]
    assert password not in output


@pytest.mark.usefixtures("walls")
def test_the_simulator_stops_on_a_wrong_password_or_a_refused_topic(
    database: str, kafka: LocalBroker
) -> None:
    fleet = ("simulate", "--to", "kafka", "--bikes", "5", "--duration", "600")
    env = sasl_env(database, kafka, "rider", WRONG, OPEN_TOPIC, "unused")
    output = refused(*fleet, "--fast", env=env)
    assert "authentication failed for SASL user 'rider'" in output, output[-2000:]
    assert WRONG not in output
    # in real time too, where nothing ever fills the producer's queue
    output = refused(*fleet, env=env)
    assert "authentication failed for SASL user 'rider'" in output, output[-2000:]

    password = SASL_USERS["walled"]
    env = sasl_env(database, kafka, "walled", password, WALLED_TOPIC, "unused")
    output = refused(*fleet, "--fast", env=env)
    assert f"not authorised for topic '{WALLED_TOPIC}'" in output, output[-2000:]
    assert password not in output


@pytest.mark.usefixtures("walls")
def test_the_right_password_simulates_and_ingests(database: str, kafka: LocalBroker) -> None:
    env = sasl_env(database, kafka, "rider", SASL_USERS["rider"], OPEN_TOPIC, "credentials-ok")
    simulated = run_deleton(
        "simulate", "--to", "kafka", "--bikes", "3", "--fast", "--duration", "30", env=env
    )
    assert simulated.returncode == 0, simulated.stderr[-2000:]
    process: subprocess.Popen[Any] = deleton(
        "ingest", env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        wait_for(
            lambda: scalar(database, "SELECT count(*) FROM daily.reading") >= 30,
            timeout=60,
            what="readings ingested over SASL",
        )
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr.decode()[-2000:]
    assert SASL_USERS["rider"].encode() not in stderr


@pytest.mark.usefixtures("walls")
def test_a_topic_the_login_may_not_describe_has_unknown_times_and_none_trusted(
    kafka: LocalBroker,
) -> None:
    """Without the DescribeConfigs right on the topic, how far ahead its producers may stamp
    is unknown: ingestion then trusts no broker time to bring an erased rider back."""
    from pydantic import SecretStr

    from deleton.ingest.command import judged_margin
    from deleton.kafka.config import KafkaConfig
    from deleton.kafka.topic import topic_times

    password = SASL_USERS["walled"]
    config = KafkaConfig(kafka.sasl_bootstrap, WALLED_TOPIC, "unused", "SASL_PLAINTEXT",
                         "walled", SecretStr(password))  # fmt: skip
    times = topic_times(config)
    assert (times.timestamp_type, times.after_max_ms) == (None, None), times
    assert times.unknown is not None and "describing it failed" in times.unknown, times
    assert password not in times.unknown
    assert judged_margin(WALLED_TOPIC, times, 3_600_000_000) is None
