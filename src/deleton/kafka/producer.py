"""Kafka as the simulator's sink: messages produced keyed by bike serial.

Refused credentials or a refused topic end the run with a ``TerminalError`` (see ``refusals``)
instead of queueing messages that can never be sent; a broker away is waited for, as
librdkafka retries it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from ..core.simulation import Line
from ..core.wire import envelope
from ..errors import TransientError
from .config import KafkaConfig
from .refusals import ErrorReports, terminal, translate

log = logging.getLogger(__name__)


class KafkaSink:
    """Produces the simulator's messages to the topic, keyed by bike serial so that each bike
    stays on one partition."""

    def __init__(self, config: KafkaConfig) -> None:
        self.topic = config.topic
        self.config = config
        self._errors = ErrorReports(config)
        self._producer = Producer(
            {
                **config.client_config(),
                "linger.ms": 20,
                "batch.num.messages": 10_000,
                "queue.buffering.max.messages": 1_000_000,
                "compression.type": "lz4",
                "enable.idempotence": True,
                "logger": logging.getLogger("deleton.kafka.librdkafka"),
                "error_cb": self._errors,
            }
        )
        self._failed = 0

    def render(self, lines: list[Line], tick_end: int) -> list[tuple[bytes, bytes, int]]:
        """Key, value and the message timestamp (ms): the line's own time, as a bike whose
        clock is right would send it, so that a fleet simulated in the past reads as then."""
        return [
            (key.encode(), envelope(text), (tick_end if at is None else at) // 1000)
            for key, at, text in lines
        ]

    def _delivered(self, error: KafkaError | None, message: Any) -> None:
        if error is not None:
            self._failed += 1
            if terminal(error):
                self._errors(error)
            else:
                log.error("delivery failed: %s", error)

    def emit(self, rendered: list[tuple[bytes, bytes, int]]) -> int:
        produce = self._producer.produce
        try:
            for key, value, millis in rendered:
                while True:
                    try:
                        produce(self.topic, value, key, on_delivery=self._delivered,
                                timestamp=millis)  # fmt: skip
                        break
                    except BufferError:  # the queue is full: wait for deliveries, or a refusal
                        self._producer.poll(0.05)
                        self._errors.check()
            self._producer.poll(0)
        except KafkaException as exc:
            raise translate(exc.args[0], self.config) from exc
        self._errors.check()
        return len(rendered)

    def close(self) -> None:
        """Deliver what is queued, for up to a minute; raise if anything was not delivered."""
        deadline = time.monotonic() + 60
        remaining = len(self._producer)
        while remaining and time.monotonic() < deadline:
            remaining = self._producer.flush(0.5)
            self._errors.check()  # a refusal ends the wait: nothing queued can go out
        self._errors.check()
        if remaining or self._failed:
            raise TransientError(f"{remaining} messages unsent, {self._failed} failed")
