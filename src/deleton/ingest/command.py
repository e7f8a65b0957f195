"""``deleton ingest`` and ``deleton parse``: settings turned into a source, a store, an outbox
and metrics, and run until stopped (or, for a file, to its end)."""

from __future__ import annotations

import gc
import logging
import sys
import time
from pathlib import Path
from typing import BinaryIO

import orjson

from ..cloudwatch import emf
from ..core.ports import Source
from ..core.records import Invalid
from ..core.wire import describe, parse_value
from ..dump.kcat import decode_line
from ..dump.source import FileSource
from ..lifecycle import stop_on_signals
from ..mail.outbox import Outbox
from ..mail.transports import Transport, transport_for
from ..postgres.connection import migrated
from ..postgres.store import PostgresStore
from ..prometheus.metrics import Metrics
from ..settings import Settings
from .ingestor import Ingestor

log = logging.getLogger(__name__)


def pipeline(
    settings: Settings, source: Source, transport: Transport | None = None
) -> tuple[Ingestor, Outbox]:
    """The store, outbox, metrics and ingestor for ``source``, with the schema in place."""
    database = migrated(settings.database())
    mail = settings.mail()
    config = settings.ingest()
    outbox = Outbox(
        lambda: database.connect(autocommit=True),
        transport or transport_for(mail, settings.home),
        mail.sender,
        mail.alert_max_age,
    )
    metrics = Metrics(source.name)
    metrics.watch_outbox(lambda: (outbox.backlog, outbox.oldest_pending))
    if settings.metrics_emf:
        group = {"ConsumerGroup": settings.kafka_group_id}
        metrics.publish_to(emf.publisher(group, time.time))
    store = PostgresStore(database, config.dead_letter_max_bytes, config.max_clock_skew_us)
    ingestor = Ingestor(source, store, metrics, config, outbox=outbox)
    return ingestor, outbox


def serve(ingestor: Ingestor, outbox: Outbox) -> None:
    """Run ingestion with the alert outbox beside it until a signal stops it."""
    # Each batch holds tens of thousands of rows, live until written. With CPython's default
    # first-generation threshold (700) the collector runs every few hundred rows and walks the
    # batch again each time; ingestion makes almost no cycles, so collect far less often.
    gc.set_threshold(50_000, 20, 20)
    stop_on_signals(ingestor.stop)
    outbox.start()
    try:
        ingestor.run()
    finally:
        outbox.stop()


def ingest(settings: Settings, from_file: Path | None, metrics_port: int | None) -> int:
    """Consume the configured topic as a group member, or replay ``from_file`` and exit."""
    if from_file is not None:
        source: Source = FileSource(from_file)
    else:
        from ..kafka.source import KafkaSource  # librdkafka loads only when it is needed

        source = KafkaSource(settings.kafka())
    ingestor, outbox = pipeline(settings, source)
    if metrics_port:
        ingestor.metrics.serve(metrics_port, settings.metrics_host)
    try:
        serve(ingestor, outbox)
        if from_file is not None:
            sent = outbox.drain()
            log.info("replayed %s; sent %d alerts", from_file, sent)
    finally:
        ingestor.metrics.close()
    return 0


def parse(stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> int:
    """JSON-lines messages on ``stdin`` to one JSON record per line on ``stdout``: what
    ingestion makes of each message."""
    stdin = stdin or sys.stdin.buffer
    stdout = stdout or sys.stdout.buffer
    for raw in stdin:
        key, value, unreadable, _ = decode_line(raw.rstrip(b"\r\n"))
        view = (
            {"type": "invalid", "reason": unreadable}
            if unreadable is not None
            else describe(parse_value(value) if raw.strip() else Invalid("empty line"))
        )
        if key is not None:
            view["key"] = key.decode(errors="replace")
        stdout.write(orjson.dumps(view) + b"\n")
    stdout.flush()
    return 0
