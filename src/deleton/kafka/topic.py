"""What the topic says about its messages' timestamps, asked of the broker once at start.

Ingestion judges an erasure by a message's broker timestamp (``core.privacy``), which is only
as good as the topic lets it be: ``message.timestamp.type`` (``CreateTime``, the producer's
clock, or ``LogAppendTime``, the broker's) and, for ``CreateTime``, how far ahead of the
broker's clock a producer may stamp (``message.timestamp.after.max.ms``: an hour by default
since Kafka 4.0, unlimited before it; Kafka before 3.6 has only
``message.timestamp.difference.max.ms``, the same bound both ways). A topic not made yet gets
the broker's defaults (``log.message.timestamp.*``). Anything the broker will not say (no
DescribeConfigs ACL, a broker away, a value not a number) is unknown, never guessed.
"""

from __future__ import annotations

import logging
import time
from typing import Any, NamedTuple

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    ConfigResource,
    ResourceType,
)

from ..errors import TerminalError
from .config import KafkaConfig
from .refusals import ErrorReports

log = logging.getLogger(__name__)

TIMEOUT = 15.0  # seconds for each question to the broker: ingestion waits for the answer


class TopicTimes(NamedTuple):
    """A topic's ``message.timestamp.type`` and ``message.timestamp.after.max.ms``; None for
    what is unknown, with ``unknown`` saying why."""

    timestamp_type: str | None
    after_max_ms: int | None
    unknown: str | None = None


def _number(value: str | None) -> int | None:
    try:
        return None if value is None else int(value)
    except ValueError:
        return None


def _times(entries: dict[str, Any], prefix: str) -> TopicTimes:
    """The two settings from a describe's entries (``prefix``: "" for a topic, "log." for a
    broker's defaults)."""

    def value(name: str) -> str | None:
        entry = entries.get(prefix + name)
        return None if entry is None else entry.value

    kind = value("message.timestamp.type")
    after = _number(value("message.timestamp.after.max.ms"))
    if after is None:  # Kafka before 3.6: one bound, both ways
        after = _number(value("message.timestamp.difference.max.ms"))
    unknown = None if kind is not None and after is not None else "not described by the broker"
    return TopicTimes(kind, after, unknown)


def _describe(admin: AdminClient, resource: ConfigResource, errors: ErrorReports) -> dict[str, Any]:
    """The entries of ``resource``; a refused login ends the wait at once (``TerminalError``)
    rather than after the whole timeout, so that ingestion still fails fast on it."""
    future = admin.describe_configs([resource], request_timeout=TIMEOUT)[resource]
    deadline = time.monotonic() + TIMEOUT + 5
    while not future.done():
        admin.poll(0.1)  # serves error_cb
        errors.check()
        if time.monotonic() > deadline:
            raise TimeoutError
    entries: dict[str, Any] = future.result()
    return entries


def topic_times(config: KafkaConfig, extra: dict[str, Any] | None = None) -> TopicTimes:
    """How ``config.topic`` stamps its messages, as the broker describes it (the broker's
    defaults for a topic not made yet); never raises: what cannot be learnt is unknown."""
    errors = ErrorReports(config)
    conf: dict[str, Any] = {
        **config.client_config(),
        "logger": logging.getLogger("deleton.kafka.librdkafka"),
        "error_cb": errors,
        **(extra or {}),
    }
    admin = AdminClient(conf)
    topic = ConfigResource(ResourceType.TOPIC, config.topic)
    try:
        try:
            return _times(_describe(admin, topic, errors), "")
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if not (
                isinstance(error, KafkaError) and error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
            ):
                raise
        # the topic will be made with the broker's defaults (auto-creation, or by hand later)
        brokers = admin.list_topics(timeout=TIMEOUT).brokers
        if not brokers:
            return TopicTimes(None, None, "no broker to describe")
        broker = ConfigResource(ResourceType.BROKER, str(min(brokers)))
        return _times(_describe(admin, broker, errors), "log.")
    except TerminalError as exc:  # the consumer meets it next, and stops on it
        return TopicTimes(None, None, f"describing it failed: {exc}")
    except KafkaException as exc:
        error = exc.args[0] if exc.args else None
        why = error.str() if isinstance(error, KafkaError) else str(exc)
        return TopicTimes(None, None, f"describing it failed: {why}")
    except TimeoutError:
        return TopicTimes(None, None, f"no answer within {TIMEOUT:g} s")
