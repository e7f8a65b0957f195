"""``deleton ingest`` and ``deleton parse``: settings turned into a source, a store, an outbox
and metrics, and run until stopped (or, for a file, to its end)."""

from __future__ import annotations

import gc
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import orjson

from ..cloudwatch import emf
from ..core.ports import Source
from ..core.privacy import broker_time_margin
from ..core.records import Invalid
from ..core.wire import describe, parse_value
from ..dump.kcat import decode_line
from ..dump.source import FileSource
from ..mail.config import MailConfig
from ..mail.outbox import Outbox
from ..mail.transports import transport_for
from ..postgres.alerts import PostgresAlerts
from ..postgres.connection import migrated
from ..postgres.store import PostgresStore
from ..prometheus.metrics import Metrics
from ..prometheus.server import MetricsServer
from ..runtime import Phase, Runtime, run_until_signal
from ..settings import Settings
from . import health
from .ingestor import Ingestor

if TYPE_CHECKING:
    from ..kafka.topic import TopicTimes

log = logging.getLogger(__name__)


def pipeline(
    settings: Settings,
    source: Source,
    mail: MailConfig | None = None,
    *,
    broker_time_margin_us: int | None,
) -> tuple[Ingestor, Outbox]:
    """The store, outbox, metrics and ingestor for ``source``, with the schema in place;
    alerts go as ``mail`` says (default: as configured). ``broker_time_margin_us`` is how far
    ``source``'s broker times may run ahead (``judged_margin``); None: they never show that a
    line came after an erasure."""
    database = migrated(settings.database())
    mail = mail or settings.mail()
    config = settings.ingest()
    alerts = PostgresAlerts(lambda: database.connect(autocommit=True))
    outbox = Outbox(alerts, transport_for(mail), mail.sender, mail.alert_max_age)
    metrics = Metrics(source.name)
    metrics.broker_time_trusted = broker_time_margin_us is not None
    metrics.watch_outbox(lambda: (outbox.backlog, outbox.oldest_pending))
    if config.emf_group is not None:
        metrics.publish_to(emf.publisher({"ConsumerGroup": config.emf_group}, time.time))
    store = PostgresStore(
        database,
        config.dead_letter_max_bytes,
        config.max_clock_skew_us,
        broker_time_margin_us=broker_time_margin_us,
    )
    ingestor = Ingestor(source, store, metrics, config, settings.riding(), outbox=outbox)
    return ingestor, outbox


def judged_margin(topic: str, times: TopicTimes, margin_us: int) -> int | None:
    """``margin_us`` if ``topic``'s broker times (``times``) keep within it, else None, said
    once at WARNING with the topic and the numbers (``core.privacy.broker_time_margin``)."""
    margin = broker_time_margin(times.timestamp_type, times.after_max_ms, margin_us)
    if margin is None:
        log.warning(
            "topic %s: message.timestamp.type %s, message.timestamp.after.max.ms %s%s, above"
            " DELETON_BROKER_TIME_MARGIN (%d ms): a broker timestamp cannot show that a line"
            " came after an erasure, so no line brings an erased rider back (they are riders"
            " again once the topic is bounded: LogAppendTime, or after.max.ms at most the"
            " margin, and ingestion restarted)",
            topic, times.timestamp_type or "unknown", times.after_max_ms,
            f" ({times.unknown})" if times.unknown else "", margin_us // 1000,
        )  # fmt: skip
    return margin


def run_ingestion(runtime: Runtime, ingestor: Ingestor, outbox: Outbox) -> None:
    """Ingestion as the process's main thread, with the alert outbox beside it; both stop
    with the rest of the work, ingestion first (the outbox sends what it stored)."""
    # Each batch holds tens of thousands of rows, live until written. With CPython's default
    # first-generation threshold (700) the collector runs every few hundred rows and walks the
    # batch again each time; ingestion makes almost no cycles, so collect far less often.
    gc.set_threshold(50_000, 20, 20)
    outbox.start()
    runtime.on_stop(Phase.WORK, "the alert outbox", outbox.stop)
    thread = runtime.main_thread("ingest", ingestor.run)

    def stop() -> None:
        ingestor.stop()
        thread.join()

    runtime.on_stop(Phase.WORK, "ingestion", stop)


def ingest(settings: Settings, from_file: Path | None, metrics_port: int | None) -> int:
    """Consume the configured topic as a group member until a signal, or replay ``from_file``
    to its end and exit."""
    margin: int | None
    if from_file is not None:
        source: Source = FileSource(from_file)
        # a dump's timestamps are CreateTime at best, from a topic whose bound it does not
        # say: a dump is the past, and never brings an erased rider back
        margin = None
    else:  # librdkafka loads only when it is needed
        from ..kafka.source import KafkaSource
        from ..kafka.topic import topic_times

        kafka = settings.kafka()
        source = KafkaSource(kafka)
        margin = judged_margin(
            kafka.topic, topic_times(kafka), settings.ingest().broker_time_margin_us
        )
    ingestor, outbox = pipeline(settings, source, broker_time_margin_us=margin)

    def start(runtime: Runtime) -> None:
        if metrics_port:
            metrics = ingestor.metrics
            server = MetricsServer(metrics.registry, lambda: health.judge(metrics))
            server.serve(metrics_port, settings.ingest().metrics_host)
            runtime.on_stop(Phase.ACCEPTING, "the metrics server", server.close)
        run_ingestion(runtime, ingestor, outbox)

    run_until_signal(start)
    if from_file is not None:
        sent = outbox.drain()
        log.info("replayed %s; sent %d alerts", from_file, sent)
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
