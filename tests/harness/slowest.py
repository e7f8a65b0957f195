"""Runs the tests known to be slow first, the slowest first: a plugin of the root conftest.

``make test`` runs the suite on two cores with ``--dist worksteal``: each worker is handed half
of the tests in collection order, and a worker that runs out takes the last half of the other's
queue. The run ends when the last test started ends, so a 50 s test started last keeps one
core busy for 50 s while the other has nothing left: started first, it runs while the other
worker still has the fast tests to do, and only fast tests are left for the end.

What is slow is read from ``tests/slowest.txt``: the lines of ``pytest --durations=N``'s
report (``51.80s call tests/e2e/...``), pasted from a quiet run; a test's setup, call and
teardown add up. Tests it does not name keep their collection order, after the ones it does.
``--failed-first`` and ``--new-first`` keep their own order.
A test that uses a module- or class-scoped fixture moves with the rest of its module, in their
own order (at its slowest test's place), so that the shared fixture is built once, not again
for the test taken away from it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest

DURATIONS = Path(__file__).resolve().parents[1] / "slowest.txt"
LINE = re.compile(r"^\s*(?P<seconds>\d+(?:\.\d+)?)s\s+(?:setup|call|teardown)\s+(?P<id>\S+)\s*$")
SHARED_SCOPES = {"module", "class", "package"}


def known_durations(path: Path) -> dict[str, float]:
    """Seconds a test took, by node id, from ``pytest --durations`` lines; others are skipped."""
    seconds: dict[str, float] = defaultdict(float)
    if path.exists():
        for line in path.read_text().splitlines():
            if match := LINE.match(line):
                seconds[match["id"]] += float(match["seconds"])
    return dict(seconds)


def _shares_a_fixture(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(
        definition.scope in SHARED_SCOPES
        for definitions in info.name2fixturedefs.values()
        for definition in definitions
    )


def slowest_first(items: list[pytest.Item], seconds: dict[str, float]) -> list[pytest.Item]:
    """``items`` in groups, the slowest group first (by its slowest test), stable otherwise. A
    group is one test, or a module whose tests share a module- or class-scoped fixture and
    whose known slow tests do."""
    module_of = {item.nodeid: item.nodeid.split("::", 1)[0] for item in items}
    shared = {module_of[i.nodeid] for i in items if i.nodeid in seconds and _shares_a_fixture(i)}
    groups: dict[str, list[pytest.Item]] = {}
    for item in items:
        key = module_of[item.nodeid] if module_of[item.nodeid] in shared else item.nodeid
        groups.setdefault(key, []).append(item)
    weight = {
        key: max(seconds.get(item.nodeid, 0.0) for item in group) for key, group in groups.items()
    }
    # sorted() is stable: equal weights (every test not named) keep the collection order
    order = sorted(groups, key=lambda key: -weight[key])
    return [item for key in order for item in groups[key]]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # --failed-first and --new-first ask for an order of their own: theirs wins
    if config.getoption("failedfirst", False) or config.getoption("newfirst", False):
        return
    items[:] = slowest_first(items, known_durations(DURATIONS))
