"""Ingestion: a source of bike messages into PostgreSQL, exactly once, with alerts by email.

The loop is: take a batch of messages from the source, run them through the ``Tracker`` (pure),
and every few hundred milliseconds (or when the batch is large) write its rows, the partitions'
new positions and their carried state in one transaction. A restart, a ``kill -9`` or a
rebalance resumes from what the database holds, so nothing is lost or stored twice. When the
database refuses, the batch is kept and retried with backoff; when another member has moved a
position, our state is reloaded from the database (``FencedError``).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from ..core.batch import Batch
from ..core.ports import Source, Store
from ..core.tracker import Tracker
from ..errors import FencedError, TransientError
from ..mail.outbox import Outbox
from ..prometheus.metrics import Metrics

log = logging.getLogger(__name__)

T = TypeVar("T")


class Ingestor:
    """Runs one source into the store until stopped (or, for a file, until its end)."""

    def __init__(
        self,
        source: Source,
        store: Store,
        metrics: Metrics,
        idle_timeout_us: int,
        *,
        outbox: Outbox | None = None,
        max_batch: int = 50_000,
        poll_size: int = 10_000,
        max_delay: float = 0.2,
        report_every: float = 5.0,
        now: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.source = source
        self.store = store
        self.tracker = Tracker(idle_timeout_us, lambda: self._retry(store.new_ride_id))
        self.outbox = outbox
        self.metrics = metrics
        self.max_batch = max_batch  # messages that make a batch worth writing at once
        self.poll_size = poll_size  # messages taken from the source at a time: bounds memory
        self.max_delay = max_delay
        self.report_every = report_every
        self.now = now
        self.wall = wall
        self.sleep = sleep
        # position of each owned partition once the writes handed over so far are stored
        self.expected: dict[int, int | None] = {}
        self._stopping = False
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="writer")
        self._inflight: Future[None] | None = None
        self._inflight_batch: Batch | None = None

    def stop(self) -> None:
        """Finish the current batch and return from ``run``; safe from a signal handler."""
        self._stopping = True

    # --- assignment --------------------------------------------------------------------------

    def _assign(self, partitions: list[int]) -> dict[int, int | None]:
        claimed = self._retry(lambda: self.store.claim(self.source.name, partitions))
        positions: dict[int, int | None] = {}
        for partition in partitions:
            position, state = claimed[partition]
            self.tracker.load(partition, state)
            self.expected[partition] = position
            positions[partition] = position
        return positions

    def _revoke(self, partitions: list[int], lost: bool) -> None:
        """Give partitions up: store what we hold for them first, unless they were lost
        (another member owns them already, so what we hold is no longer ours to write)."""
        if not lost:
            self.flush(wait=True)
        for partition in partitions:
            self.tracker.drop(partition)
            self.expected.pop(partition, None)
        if lost:  # the unstored batch may hold their rows: drop it, reread the rest
            self._resync()

    def _resync(self) -> None:
        """Throw away the unstored batch and reload every owned partition from the database."""
        if self._inflight is not None:
            with contextlib.suppress(FencedError):
                self._inflight.result()
            self._inflight = self._inflight_batch = None
        self.tracker.take()
        owned = list(self.expected)
        for partition, position in self._assign(owned).items():
            self.source.seek(partition, position)

    # --- the loop ----------------------------------------------------------------------------

    def run(self) -> None:
        source = self.source
        source.open(self._assign, self._revoke)
        last_flush = last_report = self.now()
        try:
            while not self._stopping:
                messages = source.poll(self.poll_size, 0.05)
                self.tracker.feed_all(messages)
                now = self.now()
                pending = len(self.tracker.batch)
                due = pending and (
                    pending >= self.max_batch
                    or now - last_flush >= self.max_delay
                    or not messages
                    or source.exhausted
                )
                # While the writer is busy, let the batch grow rather than queue behind it:
                # fewer, larger transactions and state snapshots when the load is high.
                busy = self._inflight is not None and not self._inflight.done()
                if due and (not busy or pending >= 4 * self.max_batch or source.exhausted):
                    self.flush()
                    last_flush = self.now()
                elif not pending:
                    last_flush = now
                if self._inflight is not None and self._inflight.done():
                    self._settle()  # account for it now: its alerts must not wait for more input
                if now - last_report >= self.report_every:
                    self.metrics.set_lag(source.lag())
                    self.metrics.report()
                    last_report = now
                if source.exhausted:
                    break
            self.flush(wait=True)
        finally:
            source.close()
            self._writer.shutdown()
        self.metrics.set_lag(source.lag())
        self.metrics.report()

    def flush(self, wait: bool = False) -> None:
        """Hand the tracker's batch, with the positions it accounts for, to the writer thread,
        which retries while the database is away. Writing overlaps the next batch's parsing;
        at most one batch is in flight. ``wait`` returns only once everything is stored."""
        tracker = self.tracker
        expired = tracker.expire_idle()
        batch = tracker.take()
        for partition in expired:
            if partition in self.expected:
                batch.positions.setdefault(partition, self.expected[partition])  # type: ignore[arg-type]
        if batch.messages or batch.ended_rides:
            snapshots = {p: tracker.snapshot(p) for p in batch.positions}
            if not self._settle():
                return  # fenced: state reloaded, the batch is read again from the source
            expected = dict(self.expected)
            self._inflight = self._writer.submit(self._write, batch, snapshots, expected)
            self._inflight_batch = batch
            self.expected.update(batch.positions)  # what the next write will expect
        if wait:
            self._settle()

    def _write(
        self, batch: Batch, snapshots: dict[int, bytes], expected: dict[int, int | None]
    ) -> None:
        self._retry(lambda: self.store.write(self.source.name, batch, snapshots, expected))

    def _settle(self) -> bool:
        """Wait for the write in flight and account for it; False if it was fenced."""
        future, batch = self._inflight, self._inflight_batch
        if future is None or batch is None:
            return True
        self._inflight = self._inflight_batch = None
        try:
            future.result()
        except FencedError as exc:
            log.warning("%s", exc)
            self._resync()
            return False
        self.source.committed(batch.positions)
        freshness = None
        if batch.first_at is not None:
            freshness = self.wall() - batch.first_at / 1e6
        self.metrics.batch(
            batch.messages, len(batch.readings), len(batch.dead_letters), len(batch.alerts),
            freshness,
        )  # fmt: skip
        if batch.alerts and self.outbox is not None:
            self.outbox.wake()
        return True

    def _retry(self, action: Callable[[], T]) -> T:
        """Run ``action``, retrying transient failures with backoff until it succeeds."""
        backoff = 0.5
        while True:
            try:
                return action()
            except FencedError:
                raise
            except TransientError as exc:
                log.warning("%s; retrying in %.1f s", exc, backoff)
                self.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
