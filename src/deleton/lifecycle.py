"""How long-running commands stop: SIGTERM or Ctrl-C asks them to finish what they are doing
and exit cleanly; a second signal is the impatient way out."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable

log = logging.getLogger(__name__)


def stop_on_signals(stop: Callable[[], None]) -> None:
    """Call ``stop`` on the first SIGTERM or SIGINT; raise ``KeyboardInterrupt`` on the next."""
    calls = []

    def handler(signum: int, frame: object) -> None:
        calls.append(signum)
        if len(calls) > 1:
            raise KeyboardInterrupt
        log.info("stopping (signal %d)", signum)
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
