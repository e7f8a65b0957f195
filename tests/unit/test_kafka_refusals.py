"""librdkafka's errors translated at the Kafka edge: refusals are terminal and say what was
refused, without the password; a broker away stays transient."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError
from pydantic import SecretStr

from deleton.errors import TerminalError, TransientError
from deleton.kafka.config import KafkaConfig
from deleton.kafka.refusals import ErrorReports, translate

PASSWORD = "hunter2-but-longer"
CONFIG = KafkaConfig("b:9092", "deloton", "deleton-ingest", "SASL_SSL", "svc", SecretStr(PASSWORD))


@pytest.mark.parametrize(
    ("code", "says"),
    [
        (KafkaError._AUTHENTICATION, "authentication failed for SASL user 'svc' at b:9092"),
        (KafkaError.SASL_AUTHENTICATION_FAILED, "authentication failed for SASL user 'svc'"),
        (KafkaError.TOPIC_AUTHORIZATION_FAILED, "not authorised for topic 'deloton'"),
        (KafkaError.GROUP_AUTHORIZATION_FAILED, "not authorised for group 'deleton-ingest'"),
        (KafkaError.CLUSTER_AUTHORIZATION_FAILED, "not authorised for the cluster"),
    ],
)
def test_refusals_are_terminal_and_name_their_cause(code: int, says: str) -> None:
    error = translate(KafkaError(code, "refused by the broker"), CONFIG)
    assert isinstance(error, TerminalError)
    assert says in str(error)
    assert PASSWORD not in str(error)


@pytest.mark.parametrize(
    "code",
    [KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._TIMED_OUT,
     KafkaError.NOT_COORDINATOR, KafkaError._RESOLVE],
)  # fmt: skip
def test_a_broker_away_stays_transient(code: int) -> None:
    assert isinstance(translate(KafkaError(code, "away"), CONFIG), TransientError)
    reports = ErrorReports(CONFIG)
    reports(KafkaError(code, "away"))
    reports.check()  # nothing to raise


def test_error_reports_keep_the_first_refusal_for_the_caller() -> None:
    reports = ErrorReports(CONFIG)
    reports(KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down"))
    reports(KafkaError(KafkaError._AUTHENTICATION, "bad password"))
    reports(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "later"))
    with pytest.raises(TerminalError, match="authentication failed"):
        reports.check()
