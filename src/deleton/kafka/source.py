"""Kafka as an ingest source: a member of a consumer group.

Positions live in PostgreSQL with the rows, not in Kafka: on assignment the consumer is pointed
at the positions the database holds, and the offsets it also commits to Kafka afterwards are
only for lag tools. librdkafka errors are translated at this edge (``refusals``): refused
credentials or permissions end ``poll`` with a ``TerminalError``, a broker away never does.
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from ..core.messages import Message
from ..core.ports import OnAssign, OnRevoke
from .config import KafkaConfig
from .refusals import ErrorReports, terminal, translate

log = logging.getLogger(__name__)

# How the consumer fetches, and every bare consumer the benchmarks compare ingestion with.
# librdkafka postpones a partition's next fetch by ``fetch.queue.backoff.ms`` (1 s by default)
# whenever the local queue is over the thresholds below. With that default a bare consumer of a
# 50,000-bike topic reads about 370,000 msg/s at 16 MB fetches (about 220-240 MB of RSS) and
# about 115,000 at 4 MB; with a 10 ms backoff, about 1.2 M msg/s at 4 MB fetches and about 90 MB
# (`python benchmarks/fetch_settings.py`, the README's table; librdkafka 2.16).
FETCH: dict[str, int] = {
    "fetch.wait.max.ms": 50,
    "fetch.queue.backoff.ms": 10,
    "max.partition.fetch.bytes": 1_048_576,
    "fetch.max.bytes": 4_194_304,
    # both thresholds are of the member's whole queue: each partition's fetch is decided by the
    # length of the one queue all of them feed (rd_kafka_toppar_fetch_decide)
    "queued.min.messages": 20_000,
    "queued.max.messages.kbytes": 8_192,
}


class KafkaSource:
    """A member of the consumer group ``config.group_id`` reading ``config.topic``."""

    def __init__(self, config: KafkaConfig, extra: dict[str, Any] | None = None) -> None:
        self.config = config
        self.name = f"kafka:{config.topic}"
        self.exhausted = False
        self._errors = ErrorReports(config)
        self._conf: dict[str, Any] = {
            **config.client_config(),
            "group.id": config.group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": round(config.session_timeout * 1000),
            # three heartbeats at least within the session timeout, as librdkafka advises
            "heartbeat.interval.ms": min(1_000, round(config.session_timeout * 1000 / 3)),
            "max.poll.interval.ms": 300_000,
            **FETCH,
            "partition.assignment.strategy": "range",
            # librdkafka's own lines (a broker away: one per reconnect) go through our logging,
            # so that they are rate-limited like ours
            "logger": logging.getLogger("deleton.kafka.librdkafka"),
            # a refused login is reported here only, never on a message
            "error_cb": self._errors,
            **(extra or {}),
        }
        self._consumer: Consumer | None = None
        self._assigned: list[int] = []
        self._positions: dict[int, int] = {}
        self._next: dict[int, int] = {}  # offset each partition must continue from

    def open(self, on_assign: OnAssign, on_revoke: OnRevoke) -> None:
        topic = self.config.topic

        def assigned(consumer: Consumer, partitions: list[TopicPartition]) -> None:
            numbers = [tp.partition for tp in partitions]
            positions = on_assign(numbers)
            for tp in partitions:
                position = positions.get(tp.partition)
                tp.offset = OFFSET_BEGINNING if position is None else position
                self._expect(tp.partition, position)
            consumer.assign(partitions)
            self._assigned = numbers
            log.info("assigned %s partitions %s at %s", topic, numbers, positions)

        def revoked(consumer: Consumer, partitions: list[TopicPartition]) -> None:
            numbers = [tp.partition for tp in partitions]
            log.info("revoking %s partitions %s", topic, numbers)
            on_revoke(numbers, False)
            consumer.unassign()
            self._assigned = []

        def lost(consumer: Consumer, partitions: list[TopicPartition]) -> None:
            # Another member owns them now: nothing of ours may be written for them, and the
            # position compare-and-set in the store guarantees it.
            numbers = [tp.partition for tp in partitions]
            log.warning("lost %s partitions %s", topic, numbers)
            on_revoke(numbers, True)
            self._assigned = []

        self._consumer = Consumer(self._conf)
        self._consumer.subscribe([topic], on_assign=assigned, on_revoke=revoked, on_lost=lost)

    def poll(self, max_messages: int, timeout: float) -> list[Message]:
        assert self._consumer is not None
        try:
            raw = self._consumer.consume(num_messages=max_messages, timeout=timeout)
        except KafkaException as exc:
            raise translate(exc.args[0], self.config) from exc
        self._errors.check()
        out: list[Message] = []
        append = out.append
        expected = self._next
        last_partition, due = -1, None
        for m in raw:
            error = m.error()
            if error is not None:
                if terminal(error):
                    raise translate(error, self.config)
                log.warning("Kafka: %s", error)
                continue
            offset: int = m.offset()  # type: ignore[assignment]
            partition: int = m.partition()  # type: ignore[assignment]
            kind, millis = m.timestamp()
            stamp = millis * 1000 if kind else None  # kind 0: the broker has no time for it
            if partition == last_partition and offset == due:  # the common case: the next one
                due = offset + 1
                append((partition, offset, due, m.key(), m.value(), None, stamp))
                continue
            if last_partition >= 0 and due is not None:
                expected[last_partition] = due
            last_partition = partition
            due = expected.get(partition)
            if due is not None and offset != due:
                if offset < due:
                    # librdkafka's offset reset rewound us: these are stored already
                    continue
                log.error(
                    "%s partition %d: offsets %d to %d are gone from the broker (retention?)",
                    self.config.topic, partition, due, offset - 1,
                )  # fmt: skip
            due = offset + 1
            append((partition, offset, due, m.key(), m.value(), None, stamp))
        if last_partition >= 0 and due is not None:
            expected[last_partition] = due
        return out

    def _expect(self, partition: int, position: int | None) -> None:
        if position is None:
            self._next.pop(partition, None)
        else:
            self._next[partition] = position
            self._positions[partition] = position

    def seek(self, partition: int, position: int | None) -> None:
        assert self._consumer is not None
        offset = OFFSET_BEGINNING if position is None else position
        self._expect(partition, position)
        self._consumer.seek(TopicPartition(self.config.topic, partition, offset))

    def committed(self, positions: dict[int, int]) -> None:
        """Mirror stored positions into Kafka, for lag tools; never relied upon."""
        assert self._consumer is not None
        self._positions.update(positions)
        offsets = [TopicPartition(self.config.topic, p, o) for p, o in positions.items()]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=True)
        except KafkaException as exc:
            log.debug("could not mirror offsets to Kafka: %s", exc)

    def lag(self) -> int | None:
        """Messages behind the end of the assigned partitions."""
        if self._consumer is None or not self._assigned:
            return None
        total = 0
        for partition in self._assigned:
            tp = TopicPartition(self.config.topic, partition)
            try:
                # the high watermark from the latest fetch: no round trip on the hot loop
                _, high = self._consumer.get_watermark_offsets(tp, cached=True)
            except KafkaException:
                return None
            total += max(0, high - self._positions.get(partition, 0))
        return total

    def caught_up(self) -> set[int]:
        """Assigned partitions read to the end the broker last reported (from the latest
        fetch, so no round trip): their bikes' silence is not a backlog."""
        if self._consumer is None:
            return set()
        done = set()
        for partition in self._assigned:
            tp = TopicPartition(self.config.topic, partition)
            try:
                low, high = self._consumer.get_watermark_offsets(tp, cached=True)
            except KafkaException:
                continue
            if high < 0:  # not known yet
                continue
            read = self._next.get(partition)
            if (read if read is not None else low) >= high:
                done.add(partition)
        return done

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
