"""How long-running commands stop: in order, each part once, whatever one part does; and jobs
on a schedule that outlive a failed run."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import signal
import threading

import pytest

from deleton.cached import SharedView
from deleton.errors import TransientError
from deleton.runtime import Periodic, Phase, Runtime, every, run_until_signal


def test_parts_stop_phase_by_phase_the_last_started_first_whatever_one_does() -> None:
    runtime = Runtime()
    stopped: list[str] = []
    runtime.on_stop(Phase.RESOURCES, "pool", lambda: stopped.append("pool"))
    runtime.on_stop(Phase.ACCEPTING, "dashboard", lambda: stopped.append("dashboard listener"))
    runtime.on_stop(Phase.WORK, "outbox", lambda: stopped.append("outbox"))
    runtime.on_stop(Phase.IN_FLIGHT, "dashboard", lambda: stopped.append("dashboard requests"))
    runtime.on_stop(Phase.RESOURCES, "views", lambda: stopped.append("views"))  # read the pool
    runtime.on_stop(Phase.ACCEPTING, "api", lambda: stopped.append("api listener"))
    runtime.on_stop(Phase.WORK, "ingestion", lambda: stopped.append("ingestion"))

    def broken() -> None:
        raise OSError("already closed")

    runtime.on_stop(Phase.WORK, "schedule", broken)
    runtime.stop()
    runtime.stop()  # once
    assert stopped == [
        "api listener", "dashboard listener",  # nothing new is accepted
        "dashboard requests",  # what was accepted is answered
        "ingestion", "outbox",  # the work stops (a broken part does not hold up the rest)
        "views", "pool",  # and what they all read closes last
    ]  # fmt: skip


def test_a_signal_stops_what_was_started_and_a_main_threads_failure_is_raised_after() -> None:
    stopped: list[str] = []

    def start(runtime: Runtime) -> None:
        runtime.on_stop(Phase.RESOURCES, "pool", lambda: stopped.append("pool"))
        os.kill(os.getpid(), signal.SIGTERM)  # handled: the runtime finishes

    before = signal.getsignal(signal.SIGINT)
    run_until_signal(start)
    assert stopped == ["pool"]
    assert signal.getsignal(signal.SIGINT) is before  # the handlers are given back

    def failing(runtime: Runtime) -> None:
        runtime.on_stop(Phase.RESOURCES, "pool", lambda: stopped.append("pool again"))

        def work() -> None:
            raise TransientError("the broker is away")

        runtime.main_thread("work", work)

    with pytest.raises(TransientError, match="broker"):
        run_until_signal(failing)
    assert stopped == ["pool", "pool again"]  # stopped before the failure was raised


def test_a_failed_start_stops_what_it_had_started() -> None:
    stopped: list[str] = []

    def start(runtime: Runtime) -> None:
        runtime.on_stop(Phase.RESOURCES, "pool", lambda: stopped.append("pool"))
        raise TransientError("the API could not listen")

    with pytest.raises(TransientError):
        run_until_signal(start)
    assert stopped == ["pool"]


def test_a_schedule_runs_at_its_times_outlives_a_failed_run_and_stops() -> None:
    runs: list[dt.datetime] = []
    third = threading.Event()

    def job(due: dt.datetime) -> None:
        runs.append(due)
        if len(runs) == 1:
            raise TransientError("the database is away")
        if len(runs) == 3:
            third.set()

    periodic = Periodic("test job", job, every(0.01)).start()
    assert third.wait(10), runs
    periodic.stop()
    assert all(later > earlier for earlier, later in itertools.pairwise(runs))
    assert not periodic._thread.is_alive()  # none after the stop


def test_a_closed_view_starts_no_rebuild_and_waits_for_the_one_under_way() -> None:
    clock = [0.0]
    started, release = threading.Event(), threading.Event()
    values = iter(range(100))

    def rebuild() -> int:
        value = next(values)
        if value == 1:  # the first background rebuild: under way when the view closes
            started.set()
            assert release.wait(10)
        return value

    view = SharedView(rebuild, 1.0, lambda: clock[0], background=True)
    assert view.get() == 0
    clock[0] = 5.0
    assert view.get() == 0  # stale: a rebuild starts beside
    assert started.wait(10)
    closing = threading.Thread(target=view.close)
    closing.start()
    closing.join(0.2)
    assert closing.is_alive()  # waiting for the rebuild under way
    release.set()
    closing.join(10)
    assert not closing.is_alive() and view.get() == 1
    clock[0] = 10.0
    assert view.get() == 1 and view.attempts == 1  # no rebuild after the close
