"""A simulated fleet running in real time in this process, as an ingest source (``deleton up``)."""

from __future__ import annotations

import queue
import threading
import time

from ..core.messages import Message
from ..core.ports import OnAssign, OnRevoke
from ..core.simulation import Line, faulty_bikes
from ..core.wire import envelope
from .riders import simulated_fleet


class FleetSource:
    """A simulated fleet running in real time in this process (``deleton up``). Positions only
    number its messages: a restarted fleet starts new rides, and the checkpointed state of the
    last run ends the old ones."""

    def __init__(self, size: int, seed: int, speed: float = 1.0, faulty: int = 0) -> None:
        """``faulty`` of the ``size`` bikes carry a fault each (``core.simulation.faulty_bikes``),
        so that the fleet's health has something to find."""
        self.name = f"fleet:{seed}"
        self.exhausted = False
        self.size = size
        self.seed = seed
        self.speed = speed
        self.faults = faulty_bikes(size, seed, faulty)
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
        fleet = simulated_fleet(self.size, self.seed, start, faults=self.faults)
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
            out.append((0, position, position + 1, key.encode(), envelope(text), None, None))
            position += 1
        self._position = position
        return out

    def committed(self, positions: dict[int, int]) -> None:
        pass

    def lag(self) -> int | None:
        return None  # the fleet is made as it is read: there is nothing to be behind

    def caught_up(self) -> set[int]:
        return {0}

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
