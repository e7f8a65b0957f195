"""Kafka as the simulator's sink: messages produced keyed by bike serial."""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import KafkaError, Producer

from ..core.simulation import Line
from ..core.wire import envelope
from ..errors import TransientError
from ..settings import KafkaConfig

log = logging.getLogger(__name__)


class KafkaSink:
    """Produces the simulator's messages to the topic, keyed by bike serial so that each bike
    stays on one partition."""

    def __init__(self, config: KafkaConfig) -> None:
        self.topic = config.topic
        self._producer = Producer(
            {
                **config.client_config(),
                "linger.ms": 20,
                "batch.num.messages": 10_000,
                "queue.buffering.max.messages": 1_000_000,
                "compression.type": "lz4",
                "enable.idempotence": True,
            }
        )
        self._failed = 0

    def render(self, lines: list[Line], tick_end: int) -> list[tuple[bytes, bytes]]:
        return [(key.encode(), envelope(text)) for key, _, text in lines]

    def _delivered(self, error: KafkaError | None, message: Any) -> None:
        if error is not None:
            self._failed += 1
            log.error("delivery failed: %s", error)

    def emit(self, rendered: list[tuple[bytes, bytes]]) -> int:
        produce = self._producer.produce
        for key, value in rendered:
            while True:
                try:
                    # no explicit timestamp: like the bikes, the broker sees the time of sending
                    produce(self.topic, value, key, on_delivery=self._delivered)
                    break
                except BufferError:
                    self._producer.poll(0.05)
        self._producer.poll(0)
        return len(rendered)

    def close(self) -> None:
        remaining = self._producer.flush(60)
        if remaining or self._failed:
            raise TransientError(f"{remaining} messages unsent, {self._failed} failed")
