"""Shared views: one rebuild at a time, stale values served while one runs."""

from __future__ import annotations

import threading
from collections.abc import Callable

from deleton.cached import Remembered, SharedView
from deleton.errors import TransientError
from tests.harness.services import wait_for


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_callers_share_one_rebuild_per_interval() -> None:
    clock, built = Clock(), []

    def rebuild() -> int:
        built.append(clock.now)
        return len(built)

    shared = SharedView(rebuild, 1.0, clock)
    assert [shared.get() for _ in range(5)] == [1] * 5
    clock.now = 0.99
    assert shared.get() == 1
    clock.now = 1.0
    assert shared.get() == 2 and built == [0.0, 1.0]


def test_concurrent_callers_wait_for_the_same_rebuild() -> None:
    calls = []
    gate = threading.Event()

    def slow() -> int:
        calls.append(1)
        gate.wait(5)
        return len(calls)

    shared = SharedView(slow, 60.0)
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(shared.get())) for _ in range(4)]
    for thread in threads:
        thread.start()
    wait_for(lambda: calls, timeout=5, what="the first rebuild to start")
    assert results == []  # nobody is handed a value while the rebuild is under way
    gate.set()
    for thread in threads:
        thread.join(5)
    assert results == [1, 1, 1, 1] and len(calls) == 1


def test_background_serves_the_stale_value_while_rebuilding() -> None:
    clock = Clock()
    gate = threading.Event()
    values = iter([1, 2])

    def rebuild() -> int:
        value = next(values)
        if value == 2:
            gate.wait(5)
        return value

    shared = SharedView(rebuild, 1.0, clock, background=True)
    assert shared.get() == 1  # the first value is built while the caller waits
    clock.now = 2.0
    assert shared.get() == 1  # stale, returned at once; a rebuild started
    assert shared.get() == 1  # and only one
    gate.set()
    wait_for(lambda: shared.refreshes == 2, timeout=5, what="the rebuild")
    assert shared.get() == 2


def test_a_failed_rebuild_leaves_the_last_value_with_its_age_and_the_reason() -> None:
    clock = Clock()
    outcomes: list[object] = [1, TransientError("database down"), 3]
    recovered = threading.Event()

    def rebuild() -> int:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        assert isinstance(outcome, int)
        if outcome == 3:
            recovered.wait(5)
        return outcome

    shared = SharedView(rebuild, 1.0, clock, background=True)
    assert shared.get() == 1 and shared.age() == 0
    clock.now = 2.0
    assert shared.get() == 1  # stale, and a rebuild starts
    wait_for(lambda: shared.attempts == 1, timeout=5, what="the failed rebuild")
    assert isinstance(shared.failure, TransientError)
    clock.now = 40.0
    assert shared.get() == 1  # still the last value, never an exception, and another attempt
    assert shared.age() == 40.0  # which screens show, with the reason
    recovered.set()
    wait_for(lambda: shared.attempts == 2, timeout=5, what="a good rebuild")
    assert shared.get() == 3 and shared.failure is None and shared.age() == 0


def test_remembered_values_are_made_once_while_fresh_and_the_least_asked_go_first() -> None:
    now = [0.0]
    made: list[str] = []
    kept: Remembered[str, str] = Remembered(2, 300.0, clock=lambda: now[0])

    def make(key: str) -> Callable[[], str]:
        def value() -> str:
            made.append(key)
            return key.upper()

        return value

    assert kept.get("a", make("a")) == "A" and kept.get("a", make("a")) == "A"
    kept.get("b", make("b"))
    kept.get("a", make("a"))  # a is now the most recently asked for
    kept.get("c", make("c"))  # over the size: b goes, not a
    assert len(kept) == 2 and made == ["a", "b", "c"]
    kept.get("a", make("a"))
    kept.get("b", make("b"))
    assert made == ["a", "b", "c", "b"]
    now[0] = 300.0  # as old as it may be: made again
    kept.get("b", make("b"))
    assert made == ["a", "b", "c", "b", "b"]
