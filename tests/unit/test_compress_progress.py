"""Compression's progress through a large backlog: a bar on a terminal, a line per tenth in a
log."""

from __future__ import annotations

import io
import logging

import pytest

from deleton.compress.command import ProgressBar


def test_progress_is_a_bar_on_a_terminal_and_tenths_in_a_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    bar = ProgressBar(screen)
    for done in range(0, 1001, 250):
        bar("summarising rides", done, 1000)
    assert (
        screen.getvalue().count("\r") == 5
        and "[" + "#" * 30 + "] 1,000/1,000\n" in screen.getvalue()
    )
    caplog.set_level(logging.INFO)
    log = ProgressBar(io.StringIO())
    for done in range(1, 1001):
        log("summarising rides", done, 1000)
    assert [r.getMessage() for r in caplog.records][-1] == "summarising rides: 1000 of 1000 (100%)"
    assert len(caplog.records) == 10
