"""librdkafka's errors, translated into Deleton's at this edge.

A broker that refuses the credentials, or a topic or group the credentials may not use, is
terminal: librdkafka would retry it for ever, and no retry can mend a wrong password or a
missing ACL. The message names what was refused (authentication, the topic, the group) and
the SASL user, never the password. Everything else (a broker away, a timeout, a leader moving)
stays transient, so that a broker restarted under ingestion is waited for.

librdkafka reports through three channels, and all three go through ``translate``: the client's
``error_cb`` (connection-level: a failed SASL handshake, every broker down), an error carried
by a consumed message or a delivery report (a topic or group refused), and ``KafkaException``
from a call.
"""

from __future__ import annotations

import logging

from confluent_kafka import KafkaError

from ..errors import DeletonError, TerminalError, TransientError
from .config import KafkaConfig

log = logging.getLogger(__name__)

AUTHENTICATION = frozenset(
    {
        KafkaError._AUTHENTICATION,
        KafkaError.SASL_AUTHENTICATION_FAILED,
        KafkaError.UNSUPPORTED_SASL_MECHANISM,
        KafkaError.ILLEGAL_SASL_STATE,
    }
)
TERMINAL = AUTHENTICATION | {
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.GROUP_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    KafkaError._INVALID_ARG,
}


def terminal(error: KafkaError) -> bool:
    """Whether no retry can help: refused credentials or permissions, or a fatal error."""
    return error.code() in TERMINAL or error.fatal()


def translate(error: KafkaError, config: KafkaConfig) -> DeletonError:
    """``TerminalError`` naming the cause for a refusal, ``TransientError`` otherwise."""
    if not terminal(error):
        return TransientError(f"Kafka: {error.str()}")
    who = f"SASL user {config.sasl_username!r}" if config.sasl_username else "this client"
    code, detail = error.code(), f"({error.name()}: {error.str()})"
    if code in AUTHENTICATION:
        cause = (
            f"authentication failed for {who} at {config.bootstrap_servers}: check "
            "DELETON_KAFKA_SASL_USERNAME and DELETON_KAFKA_SASL_PASSWORD"
        )
    elif code == KafkaError.TOPIC_AUTHORIZATION_FAILED:
        cause = f"{who} is not authorised for topic {config.topic!r}"
    elif code == KafkaError.GROUP_AUTHORIZATION_FAILED:
        cause = f"{who} is not authorised for group {config.group_id!r}"
    elif code == KafkaError.CLUSTER_AUTHORIZATION_FAILED:
        cause = f"{who} is not authorised for the cluster"
    else:  # a setting librdkafka refuses, or an error it calls fatal
        cause = "cannot go on"
    return TerminalError(f"Kafka: {cause} {detail}")


class ErrorReports:
    """The client's ``error_cb``: keeps the first terminal error for the caller to raise on its
    own thread (an exception raised inside a librdkafka callback would surface wherever the
    library happens to call it), and logs the rest, which librdkafka retries on its own."""

    def __init__(self, config: KafkaConfig) -> None:
        self.config = config
        self.failed: DeletonError | None = None

    def __call__(self, error: KafkaError) -> None:
        if terminal(error):
            if self.failed is None:
                self.failed = translate(error, self.config)
        else:
            log.warning("Kafka: %s", error.str())

    def check(self) -> None:
        """Raise the terminal error reported so far, if any."""
        if self.failed is not None:
            raise self.failed
