"""``deleton simulate``: a seeded fleet in the exact wire format, to standard output (kcat
``-J`` lines) or produced to Kafka."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from ..core.periods import parse_instant
from ..core.ports import Sink
from ..core.records import from_datetime
from ..core.simulation import faulty_bikes, serial
from ..dump.kcat import KcatSink
from ..settings import Settings
from .runner import plan, run

log = logging.getLogger(__name__)


def simulate(
    settings: Settings,
    *,
    bikes: int,
    seed: int,
    speed: float | None,
    duration: float | None,
    start: str | None,
    to: str,
    partitions: int | None,
    workers: int | None,
    faulty: int = 0,
) -> int:
    """Run the fleet until ``duration`` simulated seconds (forever when None); ``speed`` None
    is as fast as the machine allows; ``faulty`` bikes carry a fault each (``faulty_bikes``)."""
    # an ISO-8601 time (UTC when it names no zone), or now
    begin = from_datetime(parse_instant(start)) if start is not None else time.time_ns() // 1000
    until = None if duration is None else begin + int(duration * 1_000_000)
    spread = plan(bikes, speed is None, to == "stdout", workers, partitions)
    faults = faulty_bikes(bikes, seed, faulty)
    for index, fault in faults.items():
        log.info("faulty bike %s: %s", serial(index), fault)
    sink: Sink[Any]
    if to == "kafka":
        from ..kafka.producer import KafkaSink  # librdkafka loads only when it is needed

        sink = KafkaSink(settings.kafka())
    else:
        sink = KcatSink(sys.stdout.buffer, settings.kafka_topic, spread.partitions)
    started = time.monotonic()
    try:
        count = run(  # type: ignore[misc]  # a sink of either kind
            sink,
            size=bikes,
            seed=seed,
            start=begin,
            until=until,
            speed=speed,
            workers=spread.workers,
            faults=faults,
        )
    except BrokenPipeError:
        return 0
    elapsed = time.monotonic() - started
    log.info(
        "simulated %d bikes: %d messages in %.2f s (%.0f messages/s)",
        bikes,
        count,
        elapsed,
        count / elapsed if elapsed else 0.0,
    )
    return 0
