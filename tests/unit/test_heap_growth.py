"""The browser tests' verdict on a page left open: a leak grows in every window of its
updates; a one-off jump, however large, does not."""

from __future__ import annotations

from tests.harness.browser import steady_growth


def test_growth_in_every_window_is_a_leak() -> None:
    assert steady_growth([10.0, 10.7, 11.4, 12.1], per_window=2 / 3)
    assert not steady_growth([10.0, 10.7, 11.4, 11.9], per_window=2 / 3)  # not in the last


def test_a_one_off_jump_is_not_a_leak_however_large() -> None:
    assert not steady_growth([10.0, 13.4, 13.5, 13.4], per_window=2 / 3)
    assert not steady_growth([10.0, 10.1, 14.0, 13.9], per_window=2 / 3)


def test_a_page_that_holds_steady_or_shrinks_does_not_leak() -> None:
    assert not steady_growth([10.0, 10.2, 10.1, 10.3], per_window=2 / 3)
    assert not steady_growth([10.0, 9.0, 8.0, 7.0], per_window=2 / 3)
