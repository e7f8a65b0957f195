"""The order the suite runs in: the known-slow tests first, slowest first, and a module whose
tests share a module-scoped fixture kept together; pytester runs real collections."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.slowest import known_durations

pytest_plugins = ["pytester"]

MODULES = {
    "test_plain": """
def test_fast(): pass
def test_slow(): pass
def test_slower(): pass
""",
    "test_shared": """
import pytest
@pytest.fixture(scope="module")
def world(): return object()
def test_first(world): pass
def test_slow_beside_its_world(world): pass
def test_alone(): pass
""",
}
DURATIONS = """
============================= slowest 40 durations =============================
30.00s call     test_plain.py::test_slower
 9.50s setup    test_shared.py::test_slow_beside_its_world
 1.00s call     test_shared.py::test_slow_beside_its_world
20.00s call     test_plain.py::test_slow
656 passed in 335.18s (0:05:35)
"""


def test_durations_are_read_from_pytests_report_summing_setup_and_call(tmp_path: Path) -> None:
    report = tmp_path / "slowest.txt"
    report.write_text(DURATIONS)
    assert known_durations(report) == {
        "test_plain.py::test_slower": 30.0,
        "test_shared.py::test_slow_beside_its_world": 10.5,
        "test_plain.py::test_slow": 20.0,
    }
    assert known_durations(tmp_path / "absent.txt") == {}


def test_slowest_first_and_a_shared_module_moves_whole(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = pytester.path / "slowest.txt"
    report.write_text(DURATIONS)
    monkeypatch.setattr("tests.harness.slowest.DURATIONS", report)
    pytester.makepyfile(**MODULES)
    result = pytester.runpytest("-p", "tests.harness.slowest", "--collect-only", "-q")
    collected = [line for line in result.outlines if "::" in line]
    assert collected == [
        "test_plain.py::test_slower",
        "test_plain.py::test_slow",
        "test_shared.py::test_first",  # its module's fixture is shared: the module stays whole
        "test_shared.py::test_slow_beside_its_world",
        "test_shared.py::test_alone",
        "test_plain.py::test_fast",  # not named: in collection order, after
    ]


def test_failed_first_keeps_its_own_order(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = pytester.path / "slowest.txt"
    report.write_text(DURATIONS)
    monkeypatch.setattr("tests.harness.slowest.DURATIONS", report)
    pytester.makepyfile(**MODULES)
    result = pytester.runpytest("-p", "tests.harness.slowest", "--collect-only", "-q", "--ff")
    collected = [line for line in result.outlines if "::" in line]
    assert collected[0] == "test_plain.py::test_fast"  # collection order, no failures known
