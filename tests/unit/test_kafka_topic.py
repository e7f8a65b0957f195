"""How ``kafka.topic`` reads a describe's entries: the topic's own names, the broker's
``log.`` defaults, Kafka before 3.6 (one bound both ways), and what it cannot read is unknown
(never guessed); the broker itself is asked in ``tests/integration/test_ingest.py``."""

from __future__ import annotations

from typing import NamedTuple

from deleton.kafka.topic import TopicTimes, _times


class Entry(NamedTuple):  # the one field of confluent_kafka's ConfigEntry read
    value: str | None


def entries(prefix: str = "", **values: str | None) -> dict[str, Entry]:
    return {prefix + name.replace("_", "."): Entry(v) for name, v in values.items()}


def test_a_topics_entries_and_a_brokers_defaults() -> None:
    topic = entries(message_timestamp_type="CreateTime", message_timestamp_after_max_ms="3600000")
    assert _times(topic, "") == TopicTimes("CreateTime", 3_600_000)
    broker = entries("log.", message_timestamp_type="LogAppendTime",
                     message_timestamp_after_max_ms="9223372036854775807")  # fmt: skip
    assert _times(broker, "log.") == TopicTimes("LogAppendTime", 2**63 - 1)


def test_kafka_before_3_6_has_one_bound_both_ways() -> None:
    old = entries(message_timestamp_type="CreateTime",
                  message_timestamp_difference_max_ms="9223372036854775807")  # fmt: skip
    assert _times(old, "") == TopicTimes("CreateTime", 2**63 - 1)


def test_what_cannot_be_read_is_unknown() -> None:
    for partial in (
        entries(message_timestamp_type="CreateTime"),
        entries(message_timestamp_type="CreateTime", message_timestamp_after_max_ms="soon"),
        entries(message_timestamp_type=None, message_timestamp_after_max_ms="3600000"),
        {},
    ):
        found = _times(partial, "")
        assert found.unknown is not None, partial
