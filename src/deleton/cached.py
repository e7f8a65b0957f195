"""A view shared by every caller and rebuilt at most once per interval (a stale-while-
revalidate cache): the fleet right now, recent rides. A wall of dashboards, or two hundred API
clients, must not multiply the database's work; callers who arrive during a rebuild share its
result. And values remembered by key for a while (``Remembered``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class SharedView(Generic[T]):
    """A value rebuilt by ``refresh`` when older than ``max_age`` seconds, one rebuild at a time.

    With ``background``, a caller finding the value stale gets it at once while one rebuild
    runs on a thread of its own (stale while revalidating): the viewer's update then costs
    only what it shows, and the rebuild happens once per ``max_age`` however many watch.
    Only the very first value is built while the caller waits. While rebuilds fail or hang,
    the last value is still given: ``age`` and ``failure`` say how old it is and why, so that
    screens can say so instead of freezing silently.
    """

    def __init__(
        self,
        refresh: Callable[[], T],
        max_age: float,
        clock: Callable[[], float] = time.monotonic,
        background: bool = False,
    ) -> None:
        self._refresh = refresh
        self._max_age = max_age
        self._clock = clock
        self._background = background
        self._lock = threading.Lock()
        self._value: T | None = None
        self._taken = -float("inf")
        self._rebuilding = False
        self.refreshes = 0
        self.attempts = 0  # background rebuilds finished, well or not
        self.failure: Exception | None = None  # of the last background rebuild, if it failed
        self._closed = False

    def get(self) -> T:
        if self._background and self._value is not None:
            stale = self._clock() - self._taken >= self._max_age
            if stale and not self._rebuilding and not self._closed:
                self._rebuilding = True
                threading.Thread(target=self._rebuild, name="shared-view", daemon=True).start()
            return self._value
        with self._lock:
            value = self._value
            if value is None or self._clock() - self._taken >= self._max_age:
                value = self._store(self._clock(), self._refresh())
            return value

    def ready(self) -> bool:
        """Whether ``get`` answers at once: in the background mode, once a first value exists."""
        return self._background and self._value is not None

    def close(self, timeout: float = 10.0) -> None:
        """No rebuild starts from now on, and one under way is waited for (up to ``timeout``
        seconds): then whatever it reads may close. ``get`` still gives the last value."""
        self._closed = True
        if self._lock.acquire(timeout=timeout):  # a rebuild holds it while it runs
            self._lock.release()
        else:
            log.warning("a shared view still rebuilding after %.0f s", timeout)

    def age(self) -> float:
        """Seconds since the value given now was asked for (infinite before the first)."""
        return self._clock() - self._taken

    def _store(self, asked: float, value: T) -> T:
        self._value, self._taken = value, asked
        self.refreshes += 1
        return value

    def _rebuild(self) -> None:
        try:
            with self._lock:
                if self._closed:  # closed while this thread was starting
                    return
                self._store(self._clock(), self._refresh())
            self.failure = None
        except Exception as exc:  # kept for the viewer; the next call tries again
            self.failure = exc
            log.warning("shared view not rebuilt: %s", exc)
        finally:
            self._rebuilding = False
            self.attempts += 1


K = TypeVar("K")


class Remembered(Generic[K, T]):
    """Values by key, each kept up to ``max_age`` seconds and at most ``size`` of them (the
    least recently asked for goes first): what is read once per ride and shown at every tick
    (a ride's personal bests), so that a screen's tick reads it once, not once a second.
    Thread-safe; two callers missing the same key at once may both ``make`` it."""

    def __init__(
        self, size: int, max_age: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._size, self._max_age, self._clock = size, max_age, clock
        self._kept: OrderedDict[K, tuple[float, T]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K, make: Callable[[], T]) -> T:
        now = self._clock()
        with self._lock:
            found = self._kept.get(key)
            if found is not None and now - found[0] < self._max_age:
                self._kept.move_to_end(key)
                return found[1]
        value = make()  # outside the lock: a slow read holds up no other key
        with self._lock:
            self._kept[key] = (now, value)
            self._kept.move_to_end(key)
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._kept)
