"""The dashboard's gate without a database: how long it trusts what it learnt of a session, and
that a sign-out in this process wins over a check of the same session already asking."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from deleton.core.access import STAFF, Viewer, session_of
from deleton.dashboard.gate import Gate
from deleton.settings import Settings

SECRET = "s" * 40


class _Keeper:
    """A database connection whose sessions all hold as staff until ended; ``during`` runs while
    a session's role is being asked, as another request of this process might."""

    def __init__(self) -> None:
        self.ended: set[bytes] = set()
        self.asked = 0
        self.during: Callable[[], None] = lambda: None

    def execute(self, query: str, params: Any = ()) -> _Row:
        if "keeper.session_role" in query:
            self.asked += 1
            row = _Row(None if params[0] in self.ended else (STAFF,))
            during, self.during = self.during, lambda: None
            during()  # after the database answered, before the gate stores the answer
            return row
        if "keeper.end_session" in query:
            self.ended.add(params[0])
            return _Row((True,))
        raise AssertionError(query)


class _Row:
    def __init__(self, row: Any) -> None:
        self.row = row

    def fetchone(self) -> Any:
        return self.row


def _gate(keeper: _Keeper) -> Gate:
    @contextmanager
    def connect() -> Iterator[_Keeper]:
        yield keeper

    config = Settings(session_secret=SECRET, screen_secret="t" * 40).access()
    return Gate(config, SECRET.encode(), b"t" * 40, connect)  # type: ignore[arg-type]


def _cookie(person: Viewer) -> dict[str, Any]:
    return {"viewer": session_of(person)}


def test_a_sign_out_wins_over_a_check_of_the_same_session_already_asking() -> None:
    keeper = _Keeper()
    gate = _gate(keeper)
    person = Viewer(STAFF, "ada", "password", time.time(), session="a-session-id")
    cookie = _cookie(person)
    # a request's check reads the role, and the person signs out (another request of this
    # process) before the check stores what it read
    keeper.during = lambda: gate.end(person)
    assert gate.viewer(cookie) is None  # the newer state, not the role the check read
    assert gate.viewer(cookie) is None  # at once, not after the recheck
    assert keeper.asked == 1  # the sign-out's state is trusted like any other


def test_what_the_gate_knows_ages_by_its_own_clock_not_the_wall() -> None:
    keeper = _Keeper()
    gate = _gate(keeper)
    clock = [100.0]
    gate.clock = lambda: clock[0]
    frozen = time.time()
    gate.wall = lambda: frozen  # a wall clock held still (or set back) changes nothing
    cookie = _cookie(Viewer(STAFF, "ada", "password", frozen, session="a-session-id"))
    assert gate.viewer(cookie) is not None and keeper.asked == 1
    clock[0] += gate.recheck - 0.5
    assert gate.viewer(cookie) is not None and keeper.asked == 1  # trusted
    clock[0] += 1.0
    assert gate.viewer(cookie) is not None and keeper.asked == 2  # asked again
