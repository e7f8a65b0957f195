"""Where ingestion reads from, besides Kafka: a captured dump file, or an in-process fleet.

Every source has the shape of ``Source``: partitions are assigned through a callback that
returns the positions to resume from (they live in the database, next to the rows), and
``poll`` returns messages in order within each partition.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from .dump import Message, read_messages
from .fleet import Fleet, Line
from .wire import envelope

log = logging.getLogger(__name__)

OnAssign = Callable[[list[int]], dict[int, int | None]]
OnRevoke = Callable[[list[int], bool], None]  # partitions, and whether they were lost


class Source(Protocol):
    name: str
    exhausted: bool  # a finite source that has nothing more to give

    def open(self, on_assign: OnAssign, on_revoke: OnRevoke) -> None: ...

    def poll(self, max_messages: int, timeout: float) -> list[Message]: ...

    def seek(self, partition: int, position: int | None) -> None: ...

    def committed(self, positions: dict[int, int]) -> None: ...

    def lag(self) -> int | None: ...

    def close(self) -> None: ...


class FileSource:
    """A dump of JSON lines (bare values or kcat ``-J`` records); positions are byte offsets."""

    def __init__(self, path: Path) -> None:
        self.path = path.resolve()
        self.name = f"file:{self.path}"
        self.exhausted = False
        self._stream: BinaryIO | None = None
        self._messages: Iterator[Message] = iter(())
        self._position = 0
        self._size = 0

    def open(self, on_assign: OnAssign, on_revoke: OnRevoke) -> None:
        self._stream = self.path.open("rb")
        self._size = self.path.stat().st_size
        self.seek(0, on_assign([0]).get(0))

    def seek(self, partition: int, position: int | None) -> None:
        assert self._stream is not None
        self._position = position or 0
        self._messages = read_messages(self._stream, self._position)
        self.exhausted = False

    def poll(self, max_messages: int, timeout: float) -> list[Message]:
        out = list(itertools.islice(self._messages, max_messages))
        if out:
            self._position = out[-1][2]
        self.exhausted = len(out) < max_messages
        return out

    def committed(self, positions: dict[int, int]) -> None:
        pass

    def lag(self) -> int | None:
        return self._size - self._position

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()


class FleetSource:
    """A simulated fleet running in real time in this process (``deleton up``). Positions only
    number its messages: a restarted fleet starts new rides, and the checkpointed state of the
    last run ends the old ones."""

    def __init__(self, size: int, seed: int, speed: float = 1.0) -> None:
        self.name = f"fleet:{seed}"
        self.exhausted = False
        self.size = size
        self.seed = seed
        self.speed = speed
        self._queue: queue.Queue[list[Line]] = queue.Queue(maxsize=100)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._position = 0

    def open(self, on_assign: OnAssign, on_revoke: OnRevoke) -> None:
        self.seek(0, on_assign([0]).get(0))
        self._thread = threading.Thread(target=self._simulate, name="fleet", daemon=True)
        self._thread.start()

    def _simulate(self) -> None:
        start = time.time_ns() // 1000
        wall = time.monotonic()
        fleet = Fleet(self.size, self.seed, start)
        for tick_end, lines in fleet.ticks():
            delay = wall + (tick_end - start) / 1e6 / self.speed - time.monotonic()
            if self._stop.wait(max(delay, 0)):
                return
            if lines:
                self._queue.put(lines)

    def seek(self, partition: int, position: int | None) -> None:
        self._position = position or 0

    def poll(self, max_messages: int, timeout: float) -> list[Message]:
        out: list[Message] = []
        try:
            lines = self._queue.get(timeout=timeout)
        except queue.Empty:
            return out
        position = self._position
        for key, _, text in lines:
            out.append((0, position, position + 1, key.encode(), envelope(text), None))
            position += 1
        self._position = position
        return out

    def committed(self, positions: dict[int, int]) -> None:
        pass

    def lag(self) -> int | None:
        return None  # the fleet is made as it is read: there is nothing to be behind

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
