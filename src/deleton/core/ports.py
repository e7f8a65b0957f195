"""What the services need from the outside world, as protocols: adapters implement them, and
tests implement them with fakes.

- ``Source``: where ingestion reads messages from (Kafka, a dump file, an in-process fleet).
- ``Store``: where ingestion writes each batch, with the positions it accounts for.
- ``Sink``: where the simulator writes the messages of its fleet.
- ``AlertRows``: the alerts ingestion stored, as the mail outbox claims, sends and marks them.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol, TypeVar

from .alerts import AlertToSend
from .batch import Batch
from .messages import Message
from .simulation import Line

# Where each partition resumes (None: from its start), and the checkpoint carried with it
# (``core/checkpoint.py``).
Positions = dict[int, int | None]
Checkpoints = dict[int, bytes]
# Given the partitions assigned, returns the position each resumes from (None: the start).
OnAssign = Callable[[list[int]], Positions]
# Given the partitions taken away, and whether they were lost (owned by another member now).
OnRevoke = Callable[[list[int], bool], None]


class Source(Protocol):
    """Messages in order within each partition; positions live with the rows, not here."""

    name: str
    exhausted: bool  # a finite source that has nothing more to give

    def open(self, on_assign: OnAssign, on_revoke: OnRevoke) -> None: ...

    def poll(self, max_messages: int, timeout: float) -> list[Message]: ...

    def seek(self, partition: int, position: int | None) -> None: ...

    def committed(self, positions: dict[int, int]) -> None: ...

    def lag(self) -> int | None: ...

    def caught_up(self) -> set[int]:
        """The partitions with nothing more to read right now: silence there is silence."""
        ...

    def close(self) -> None: ...


class Store(Protocol):
    """Batches in, all or nothing, with each partition's position moved by compare-and-set."""

    def new_ride_id(self) -> int: ...

    def claim(
        self, source: str, partitions: list[int]
    ) -> dict[int, tuple[int | None, bytes | None]]:
        """Each partition's stored position and checkpoint (None, None when never seen)."""
        ...

    def write(
        self, source: str, batch: Batch, checkpoints: Checkpoints, expected: Positions
    ) -> None:
        """Store ``batch`` and move each partition from ``expected`` to its batch position;
        raises ``FencedError`` when a position is not where ``expected`` says, and
        ``RejectedData`` when the database refuses the rows themselves."""
        ...

    def interrupt(self) -> None:
        """From another thread: cancel the write under way, which then fails as transient."""
        ...


R = TypeVar("R")


class Sink(Protocol[R]):
    """Where simulated messages go. ``render`` is pure (it runs in worker processes);
    ``emit`` writes what it rendered and returns how many messages that was."""

    def render(self, lines: list[Line], tick_end: int) -> R: ...

    def emit(self, rendered: R) -> int: ...

    def close(self) -> None: ...


class AlertRows(Protocol):
    """The alerts waiting to be emailed. Each is claimed alone: while its ``claim`` is open,
    nobody else can claim it, and ``sent``, ``retry_later`` or ``failed`` within it are
    recorded with the claim, so that a crash resends at most the one in flight. Failures to
    reach the store raise ``TransientError``; ``close`` lets go of the connection, and the
    next call opens another."""

    def expire(self, max_age: float, reason: str) -> int:
        """Mark ``expired`` with ``reason`` every pending alert whose reading is older than
        ``max_age`` seconds; how many were."""
        ...

    def pending(self) -> tuple[int, float | None]:
        """How many alerts wait, and the epoch seconds of the oldest one's reading."""
        ...

    def claim(self) -> AbstractContextManager[AlertToSend | None]:
        """The next alert due now (None: none), held until the block ends."""
        ...

    def sent(self, alert_id: int) -> None: ...

    def retry_later(self, alert_id: int, reason: str) -> None:
        """Count an attempt, keep ``reason``, and try again after a growing backoff."""
        ...

    def failed(self, alert_id: int, reason: str) -> None: ...

    def close(self) -> None: ...
