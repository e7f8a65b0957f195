"""One compression run: stale rides closed, ended rides summarised, old detail removed.

The order keeps every state between two steps consistent, so a run killed anywhere is
finished by the next: a ride is summarised (and marked) in one transaction before any of its
detail may go; its readings go before its ride row; its ride row and alerts go together. Two
runs never work at once (an advisory lock, released when its connection dies).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..postgres.compression import EARLIEST, CompressionRun
from .health import HealthCheck

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]  # what, done, of how many


@dataclass
class Outcome:
    """What a run did (or, dry, would do)."""

    ran: bool = True  # False: another run held the lock
    dry: bool = False
    closed_stale: int = 0
    summarised: int = 0
    rides_removed: int = 0
    readings_removed: int = 0
    partitions_dropped: int = 0
    partitions_trimmed: int = 0
    riders_removed: int = 0
    dead_letters_removed: int = 0
    bytes_freed: int = 0  # by dropped partitions, at once; deleted rows are reused in place
    daily_bytes_before: int = 0
    daily_bytes_after: int = 0
    seconds: float = 0.0
    summarise_seconds: float = 0.0
    health: HealthCheck | None = None  # the bike health checks run beside the summaries
    drop_seconds: list[float] = field(default_factory=list)  # each partition dropped

    def line(self) -> str:
        """The one summary line a run ends with."""
        if not self.ran:
            return "compress: another run holds the lock; nothing done"
        verb = "would summarise" if self.dry else "summarised"
        return (
            f"compress: {verb} {self.summarised:,} rides, closed {self.closed_stale:,} stale,"
            f" removed {self.readings_removed:,} readings of {self.rides_removed:,} rides,"
            f" dropped {self.partitions_dropped} partitions (trimmed {self.partitions_trimmed}),"
            f" freed {self.bytes_freed / 2**20:,.1f} MiB; daily"
            f" {self.daily_bytes_before / 2**20:,.1f} -> {self.daily_bytes_after / 2**20:,.1f} MiB;"
            f" {self.riders_removed:,} riders and {self.dead_letters_removed:,} dead letters"
            f" removed; {self.seconds:.1f} s"
            + (
                f"; bike health: {self.health.rides_checked:,} rides checked in"
                f" {self.health.seconds:.1f} s (and {self.health.ahead_seconds:.1f} s of"
                " reading ahead beside the summaries),"
                f" {self.health.opened} findings opened or updated,"
                f" {self.health.cleared} cleared"
                + (
                    f", {self.health.failures} checks FAILED (logged)"
                    if self.health.failures
                    else ""
                )
                if self.health is not None
                else ""
            )
        )


def _quiet(what: str, done: int, total: int) -> None:
    pass


def compress(
    run: CompressionRun,
    dry_run: bool = False,
    progress: Progress = _quiet,
    chunk: int = 2_000,
    health: HealthCheck | None = None,
) -> Outcome:
    """Do (or with ``dry_run`` only count) everything due at ``run.now``, ``chunk`` rides a
    transaction (a few thousand commit in a second or two); with ``health``, check the bikes
    of the rides summarised in their transactions and judge drift and offline bikes after."""
    started = time.monotonic()
    outcome = Outcome(dry=dry_run)
    if not run.lock():
        return Outcome(ran=False)
    outcome.daily_bytes_before = run.daily_bytes()

    stale = run.stale_open_rides()
    outcome.closed_stale = len(stale)
    if stale and not dry_run:
        run.close_stale(stale)
        log.info("closed %d open rides gone stale at their last reading", len(stale))

    pending = run.unsummarised()
    outcome.summarised = len(pending)
    if not dry_run:
        began = time.monotonic()
        for first in range(0, len(pending), chunk):
            if health is None:
                run.summarise(pending[first : first + chunk])
            else:
                run.summarise(pending[first : first + chunk], health.rides, health.ahead)
            progress("summarising rides", min(first + chunk, len(pending)), len(pending))
        if health is not None:
            run.in_transaction(health.judge)
            outcome.health = health
        outcome.summarise_seconds = time.monotonic() - began

    if not dry_run:
        for name in run.detached():  # a run killed between detaching and dropping
            outcome.readings_removed += run.finish_detached(name)
    due = run.due_rides()
    outcome.rides_removed = len(due)
    partitions = run.partitions()
    for done, partition in enumerate(partitions, 1):
        within = run.within(due, partition)
        # an hour before EARLIEST could not be made again for a copy-back: only ever trimmed
        droppable = run.detachable and partition.lower >= EARLIEST
        if droppable and run.holds_only_due(partition):
            outcome.partitions_dropped += 1
            outcome.bytes_freed += partition.bytes
            if not dry_run:
                began = time.monotonic()
                outcome.readings_removed += run.drop(partition)
                outcome.drop_seconds.append(time.monotonic() - began)
        elif within:
            outcome.partitions_trimmed += 1
            if not dry_run:
                outcome.readings_removed += run.trim(partition, within)
        progress("removing old detail", done, len(partitions))
    if not dry_run:
        for first in range(0, len(due), chunk):
            run.remove_rides([ride.ride_id for ride in due[first : first + chunk]])
        outcome.riders_removed = run.remove_idle_riders()
        outcome.dead_letters_removed = run.remove_old_dead_letters()
    outcome.daily_bytes_after = run.daily_bytes()
    outcome.seconds = time.monotonic() - started
    return outcome
