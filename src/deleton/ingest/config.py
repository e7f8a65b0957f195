"""What ingestion is configured with: how it judges time, what it holds before writing, and
where it reports. ``settings`` maps the environment onto it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IngestConfig:
    """How ingestion judges time and bounds what it holds, and where it reports."""

    max_clock_skew_us: int  # a line this far from its broker timestamp is not believed
    batch_max_bytes: int  # message bytes held before a batch is written
    dead_letter_max_bytes: int  # of a bad message's value kept with its length and hash
    metrics_host: str = "127.0.0.1"  # where ``--metrics-port`` listens
    # the consumer lag also as CloudWatch EMF lines, under this ConsumerGroup; None: not
    emf_group: str | None = None
    # how far a message's broker timestamp may be ahead of when the broker took it: an erased
    # rider comes back only with a line stamped later than the erasure by more than this
    broker_time_margin_us: int = 3_600 * 1_000_000
