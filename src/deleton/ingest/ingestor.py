"""Ingestion: a source of bike messages into PostgreSQL, exactly once, with alerts by email.

The loop is: take messages from the source, run them through the ``Tracker`` (pure), and every
few hundred milliseconds (or when the batch is large, by count or by bytes) hand its rows, the
partitions' new positions and their carried state to a writer thread that stores them in one
transaction. A restart, a ``kill -9`` or a rebalance resumes from what the database holds, so
nothing is lost or stored twice.

What can go wrong, and what happens:

- the database refuses for a while: the batch is kept and retried with backoff;
- another member moved a position (``FencedError``): our state is reloaded from the database;
- the database refuses the data itself (``RejectedData``): the messages since the last write
  are written again in halves until the one to blame is found; it becomes a dead letter and
  everything else is stored;
- a bike falls silent: once a second, on partitions caught up with their source, rides silent
  for the idle timeout by the wall clock are ended and written with the position;
- SIGTERM: retries stop waiting at once, and a write stuck in the database is cancelled, so the
  process exits within seconds; what was not committed is read again by the next one.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as WaitedTooLong
from typing import TypeVar

from ..core.batch import Batch, DeadLetter
from ..core.messages import Message
from ..core.ports import Checkpoints, Positions, Source, Store
from ..core.riding import Riding
from ..core.tracker import Tracker
from ..errors import FencedError, RejectedData, Stopped, TransientError
from ..mail.outbox import Outbox
from ..prometheus.metrics import Metrics
from .config import IngestConfig

log = logging.getLogger(__name__)

T = TypeVar("T")
STOP_GRACE = 3.0  # seconds a write in flight may take to finish once we are told to stop


class _Writer:
    """One daemon thread that runs one write at a time. Daemon, unlike an executor's threads,
    so that a write stuck in a dead network cannot keep the process from exiting."""

    def __init__(self) -> None:
        self._jobs: queue.Queue[tuple[Future[None], Callable[[], None]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="writer", daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[], None]) -> Future[None]:
        future: Future[None] = Future()
        self._jobs.put((future, job))
        return future

    def _run(self) -> None:
        while (item := self._jobs.get()) is not None:
            future, job = item
            if future.set_running_or_notify_cancel():
                try:
                    job()
                except BaseException as exc:  # handed to whoever waits on the future
                    future.set_exception(exc)
                else:
                    future.set_result(None)

    def shutdown(self) -> None:
        self._jobs.put(None)


class Ingestor:
    """Runs one source into the store until stopped (or, for a file, until its end)."""

    def __init__(
        self,
        source: Source,
        store: Store,
        metrics: Metrics,
        config: IngestConfig,
        riding: Riding,
        *,
        outbox: Outbox | None = None,
        max_batch: int = 50_000,
        poll_size: int = 10_000,
        max_delay: float = 0.2,
        report_every: float = 5.0,
        tick_every: float = 1.0,
        first_backoff: float = 0.5,
        now: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.source = source
        self.store = store
        self.config = config
        self.tracker = Tracker(
            riding.idle_timeout_us,
            lambda: self._retry(store.new_ride_id, "allocating ride ids"),
            config.max_clock_skew_us,
        )
        self.outbox = outbox
        self.metrics = metrics
        self.max_batch = max_batch  # messages that make a batch worth writing at once
        self.poll_size = poll_size  # messages taken from the source at a time: bounds memory
        self.max_delay = max_delay
        self.report_every = report_every
        self.tick_every = tick_every
        self.first_backoff = first_backoff
        self.now = now
        self.wall = wall
        # position of each owned partition once the writes handed over so far are stored
        self.expected: Positions = {}
        self._stop = threading.Event()
        self._writer = _Writer()
        self._inflight: Future[None] | None = None
        self._inflight_batch: Batch | None = None
        # messages not yet known to be stored: those of the write in flight, then those fed
        # since; kept so that a refused write can be done again without its culprit
        self._inflight_messages: list[Message] = []
        self._held: list[Message] = []
        self._held_bytes = 0

    def stop(self) -> None:
        """Finish (or abandon) the current batch and return from ``run``; safe from a signal
        handler."""
        self._stop.set()

    # --- assignment --------------------------------------------------------------------------

    def _assign(self, partitions: list[int]) -> Positions:
        claimed = self._retry(lambda: self.store.claim(self.source.name, partitions), "claiming")
        positions: Positions = {}
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
            try:
                self.flush(wait=True)
            except Stopped:
                log.warning("stopping: partitions %s given up with their last batch unstored",
                            partitions)  # fmt: skip
        for partition in partitions:
            self.tracker.drop(partition)
            self.expected.pop(partition, None)
        if lost:  # the unstored batch may hold their rows: drop it, reread the rest
            self._resync()

    def _resync(self) -> None:
        """Throw away what is unstored and reload every owned partition from the database."""
        if self._inflight is not None:
            with contextlib.suppress(FencedError, RejectedData, Stopped):
                self._inflight.result()
            self._inflight = self._inflight_batch = None
        self.tracker.take()
        self._inflight_messages, self._held, self._held_bytes = [], [], 0
        owned = list(self.expected)
        for partition, position in self._assign(owned).items():
            self.source.seek(partition, position)

    # --- the loop ----------------------------------------------------------------------------

    def run(self) -> None:
        source = self.source
        source.open(self._assign, self._revoke)
        last_flush = last_report = last_tick = self.now()
        try:
            while not self._stop.is_set():
                self.metrics.beat()
                messages = source.poll(self.poll_size, 0.05)
                if messages:
                    self.tracker.feed_all(messages, int(self.wall() * 1_000_000))
                    self._held += messages
                    self._held_bytes += sum(len(m[4] or b"") for m in messages)
                now = self.now()
                if now - last_tick >= self.tick_every:
                    self._expire_quiet()
                    last_tick = now
                pending = len(self.tracker.batch)
                full = pending >= self.max_batch or self._held_bytes >= self.config.batch_max_bytes
                due = (pending or self.tracker.batch.ended_rides) and (
                    full or now - last_flush >= self.max_delay or not messages or source.exhausted
                )
                # While the writer is busy, let the batch grow rather than queue behind it:
                # fewer, larger transactions and checkpoints when the load is high.
                busy = self._inflight is not None and not self._inflight.done()
                overfull = pending >= 4 * self.max_batch or self._held_bytes >= (
                    4 * self.config.batch_max_bytes
                )
                if due and (not busy or overfull or source.exhausted):
                    self.flush()
                    last_flush = self.now()
                elif not pending:
                    last_flush = now
                if self._inflight is not None and self._inflight.done():
                    self._settle()  # account for it now: its alerts must not wait for more input
                if now - last_report >= self.report_every:
                    self._report()
                    last_report = now
                if source.exhausted:
                    break
            self.flush(wait=True)
        except Stopped:
            log.warning("stopped before the last batch was stored: it is read again next time")
        finally:
            self._close()
        self._report()

    def _close(self) -> None:
        with contextlib.suppress(Stopped):
            self.source.close()  # a group member's last revoke stores what it can
        self._writer.shutdown()

    def _report(self) -> None:
        self.metrics.set_lag(self.source.lag())
        if self.outbox is not None and not self.outbox.alive():
            log.error("the alert outbox thread died; starting it again")
            self.metrics.outbox_restarted()
            self.outbox.start()
        self.metrics.report()

    def _expire_quiet(self) -> None:
        """End the rides of bikes silent for the idle timeout, on partitions caught up with
        their source; the closures go out with the partitions' positions."""
        caught_up = self.source.caught_up() & self.expected.keys()
        if not caught_up:
            return
        expired = self.tracker.expire_idle(int(self.wall() * 1_000_000), caught_up)
        positions = self.tracker.batch.positions
        for partition in expired:
            if partition not in positions and self.expected.get(partition) is not None:
                positions[partition] = self.expected[partition]  # type: ignore[assignment]

    def flush(self, wait: bool = False) -> None:
        """Hand the tracker's batch, with the positions it accounts for, to the writer thread,
        which retries while the database is away. Writing overlaps the next batch's parsing;
        at most one batch is in flight. ``wait`` returns only once everything is stored."""
        tracker = self.tracker
        batch = tracker.batch
        if batch.messages or batch.ended_rides:
            if not self._settle():
                return  # state reloaded; the batch is read again from the source
            batch = tracker.take()
            checkpoints = {p: tracker.checkpoint(p) for p in batch.positions}
            expected = dict(self.expected)
            self._inflight = self._writer.submit(lambda: self._write(batch, checkpoints, expected))
            self._inflight_batch = batch
            self._inflight_messages, self._held, self._held_bytes = self._held, [], 0
            self.expected.update(batch.positions)  # what the next write will expect
        if wait:
            self._settle()

    def _write(self, batch: Batch, checkpoints: Checkpoints, expected: Positions) -> None:
        def attempt() -> None:
            started = self.now()
            self.store.write(self.source.name, batch, checkpoints, expected)
            self.metrics.wrote(self.now() - started)

        self._retry(attempt, "writing")

    def _settle(self) -> bool:
        """Wait for the write in flight and account for it; False if it had to be undone."""
        future, batch = self._inflight, self._inflight_batch
        if future is None or batch is None:
            return True
        try:
            self._wait(future)
        except FencedError as exc:
            self._inflight = self._inflight_batch = None
            log.warning("%s", exc)
            self._resync()
            return False
        except RejectedData as exc:
            self._inflight = self._inflight_batch = None
            self._isolate(exc)
            return False
        self._inflight = self._inflight_batch = None
        self._inflight_messages = []
        self._account(batch)
        return True

    def _wait(self, future: Future[None]) -> None:
        """The write's outcome; once stopping, at most a few seconds of it: a write stuck in
        the database is cancelled, and one that still does not end is left behind."""
        if not self._stop.is_set():
            future.result()
            return
        try:
            future.result(timeout=STOP_GRACE)
            return
        except WaitedTooLong:
            log.warning("stopping: cancelling the write in flight; it is read again next time")
        self.store.interrupt()
        try:
            future.result(timeout=STOP_GRACE)
        except WaitedTooLong:
            raise Stopped("a write in flight did not end; it is read again next time") from None

    def _account(self, batch: Batch) -> None:
        self.source.committed({p: pos for p, pos in batch.positions.items()})
        freshness = None
        if batch.first_at is not None:
            freshness = self.wall() - batch.first_at / 1e6
        self.metrics.batch(
            batch.messages, len(batch.readings), len(batch.dead_letters), len(batch.alerts),
            freshness,
        )  # fmt: skip
        if batch.alerts and self.outbox is not None:
            self.outbox.wake()

    # --- a message the database refuses --------------------------------------------------------

    def _isolate(self, refusal: RejectedData) -> None:
        """Write again, in halves, every message not known to be stored, until the one whose
        rows the database refuses is found: it becomes a dead letter, the rest is stored."""
        messages = self._inflight_messages + self._held
        log.error(
            "PostgreSQL refused a batch (%s); finding the message to blame among %d",
            refusal.sqlstate, len(messages),
        )  # fmt: skip
        self.tracker.take()
        self._inflight_messages, self._held, self._held_bytes = [], [], 0
        self._assign(list(self.expected))  # states as stored; the source is not rewound
        self._bisect(messages)

    def _bisect(self, messages: list[Message]) -> None:
        if not messages:
            return
        tracker = self.tracker
        tracker.feed_all(messages, int(self.wall() * 1_000_000))
        batch = tracker.take()
        try:
            self._write_now(batch)
        except RejectedData as exc:
            self._assign(list(self.expected))
            if len(messages) > 1:
                half = len(messages) // 2
                self._bisect(messages[:half])
                self._bisect(messages[half:])
                return
            partition, position, next_position, key, value, *_ = messages[0]
            log.error("dead letter: %s partition %d offset %d refused by PostgreSQL (%s)",
                      self.source.name, partition, position, exc.sqlstate)  # fmt: skip
            letter = Batch(messages=1)
            letter.dead_letters.append(
                DeadLetter(partition, position, key, value,
                           f"refused by the database (SQLSTATE {exc.sqlstate})")
            )  # fmt: skip
            letter.positions[partition] = next_position
            self._write_now(letter)

    def _write_now(self, batch: Batch) -> None:
        """Store ``batch`` in this thread, from the positions expected, and account for it."""
        checkpoints = {p: self.tracker.checkpoint(p) for p in batch.positions}
        self._write(batch, checkpoints, dict(self.expected))
        self.expected.update(batch.positions)
        self._account(batch)

    # --- waiting -----------------------------------------------------------------------------

    def _retry(self, action: Callable[[], T], what: str) -> T:
        """Run ``action``, retrying transient failures with backoff until it succeeds; raises
        ``Stopped`` instead of waiting once the process is asked to stop."""
        backoff = self.first_backoff
        while True:
            try:
                return action()
            except (FencedError, Stopped):
                raise
            except TransientError as exc:
                self.metrics.retried()
                log.warning("%s: %s; retrying in %.1f s", what, exc, backoff)
                if self._stop.wait(backoff):
                    raise Stopped(f"stopped while {what}") from exc
                backoff = min(backoff * 2, 30.0)
