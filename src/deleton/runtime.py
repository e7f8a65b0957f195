"""How long-running commands run and stop: jobs on a schedule, and a process that runs its
parts until SIGTERM or Ctrl-C, then stops them in order.

The order is what makes a stop clean (``Phase``): first nothing accepts new requests, then the
requests already taken finish, then the background work stops (schedules, ingestion, the alert
outbox), and the connection pools close last, when nothing is left to use them. A second
signal is the impatient way out: ``KeyboardInterrupt`` in the main thread.

Every long-running command (``deleton up``, ``ingest``, ``dashboard``, ``api``, ``jobs``) is
``run_until_signal`` with what it starts registered on the ``Runtime`` it is handed.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType

from .errors import DeletonError

log = logging.getLogger(__name__)


class Phase(enum.IntEnum):
    """The steps of a stop, in their order."""

    ACCEPTING = 1  # listeners stop accepting connections and requests
    IN_FLIGHT = 2  # the requests already taken are answered (each server bounds the wait)
    WORK = 3  # schedules, ingestion and the alert outbox stop
    RESOURCES = 4  # connection pools and background views close: nothing uses them now


class Runtime:
    """What a process started, and how each part stops. ``finish`` asks for the stop (from a
    signal handler or any thread); ``stop`` does it, phase by phase, the parts of one phase
    in the reverse of the order they were registered in. A part whose stop fails is logged
    and the others still stop."""

    def __init__(self) -> None:
        self._stops: list[tuple[Phase, int, str, Callable[[], None]]] = []
        self._finished = threading.Event()
        self._lock = threading.Lock()
        self._stopped = False
        self.failure: BaseException | None = None  # of a main thread, raised after the stop

    def on_stop(self, phase: Phase, what: str, stop: Callable[[], None]) -> None:
        """Call ``stop`` in ``phase`` of the stop."""
        with self._lock:
            self._stops.append((phase, -len(self._stops), what, stop))

    def main_thread(self, name: str, target: Callable[[], None]) -> threading.Thread:
        """Run ``target`` (the process's work, such as ingestion) on a thread of its own. Its
        end, or its failure, stops the process; a failure is raised by ``run_until_signal``
        once everything has stopped."""

        def run() -> None:
            try:
                target()
            except BaseException as exc:  # handed to the main thread, not lost with this one
                self.failure = self.failure or exc
            finally:
                self.finish()

        thread = threading.Thread(target=run, name=name, daemon=True)
        thread.start()
        return thread

    def finish(self) -> None:
        """Ask the process to stop; safe from a signal handler."""
        self._finished.set()

    @property
    def finishing(self) -> bool:
        return self._finished.is_set()

    def wait(self) -> None:
        self._finished.wait()

    def stop(self) -> None:
        """Stop every part, in order; once."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            stops = sorted(self._stops, key=lambda entry: (entry[0], entry[1]))
        for phase, _, what, stop in stops:
            try:
                stop()
            except Exception as exc:
                log.warning("stopping %s (%s): %s: %s", what, phase.name.lower(),
                            type(exc).__name__, exc)  # fmt: skip


# Python hands the GIL from thread to thread every 5 ms by default. A screen's update is under
# a millisecond of Python between database round trips, and behind a shared rebuild (the
# fleet's, a few hundred milliseconds of Python at 50,000 bikes, twice a second) it waited up
# to 5 ms after each round trip: the bike screen's tick p95 was 8 ms at 50,000 bikes riding.
# A thread that asks for the GIL gets it within this instead (measured: p95 17 -> 3.9 ms for
# a 0.6 ms task of three round trips beside such a rebuild); the rebuild takes a little longer.
LATENCY_SWITCH_INTERVAL = 0.0005  # seconds


def favour_latency() -> None:
    """Hand the GIL between threads every ``LATENCY_SWITCH_INTERVAL``: for processes that
    serve people (the dashboard, the API), whose short requests share the process with long
    shared rebuilds."""
    sys.setswitchinterval(LATENCY_SWITCH_INTERVAL)


def run_until_signal(start: Callable[[Runtime], object]) -> None:
    """``start`` the process's parts on a new ``Runtime``, run them until SIGTERM or Ctrl-C
    (or until a main thread ends), then stop them in order. If ``start`` fails half-way, what
    it had started is stopped before the error goes on; a main thread's failure is raised
    once everything has stopped."""
    runtime = Runtime()
    calls: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        calls.append(signum)
        if len(calls) > 1:
            raise KeyboardInterrupt
        log.info("stopping (signal %d)", signum)
        runtime.finish()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        start(runtime)
        runtime.wait()
    finally:
        runtime.stop()
        for sig, was in previous.items():
            signal.signal(sig, was)
    if runtime.failure is not None:
        raise runtime.failure


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def every(seconds: float) -> Callable[[dt.datetime], dt.datetime]:
    """A schedule of runs ``seconds`` apart, counted from the end of the one before."""
    return lambda now: now + dt.timedelta(seconds=seconds)


class Periodic:
    """``job`` on a thread of its own, at each time ``next_due`` gives after ``now``, until
    ``stop``. The job is given the time it was due. A failed run is logged, and the next one
    tries again: a schedule outlives any one run."""

    def __init__(
        self,
        name: str,
        job: Callable[[dt.datetime], object],
        next_due: Callable[[dt.datetime], dt.datetime],
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self.name = name
        self.job = job
        self.next_due = next_due
        self.clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Periodic:
        self._thread.start()
        return self

    def pause(self, seconds: float) -> bool:
        """Within a run: wait ``seconds``, cut short by ``stop``; whether to go on (False:
        stopping)."""
        return not self._stop.wait(seconds)

    def stop(self, timeout: float = 30.0) -> None:
        """No run starts after this; one under way is waited for up to ``timeout`` seconds."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("%s still running after %.0f s; left behind", self.name, timeout)

    def _run(self) -> None:
        while True:
            due = self.next_due(self.clock())
            if self._stop.wait(max(0.0, (due - self.clock()).total_seconds())):
                return
            try:
                self.job(due)
            except DeletonError as exc:
                log.warning("%s failed, tried again at its next time: %s", self.name, exc)
            except Exception:
                log.exception("%s failed, tried again at its next time", self.name)
