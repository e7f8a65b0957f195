"""``deleton compress``, and compression on a schedule inside ``deleton up``."""

from __future__ import annotations

import datetime as dt
import logging
import sys
import threading
from typing import TextIO

from ..errors import DeletonError
from ..postgres.compression import CompressionRun
from ..postgres.connection import Database, migrated
from ..settings import CompressConfig, Settings
from .compressor import Outcome, compress

log = logging.getLogger(__name__)


class ProgressBar:
    """Progress through a large backlog: a bar redrawn in place on a terminal, a log line at
    every tenth elsewhere (a log file wants no carriage returns)."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self._tenth: dict[str, int] = {}

    def __call__(self, what: str, done: int, total: int) -> None:
        if total <= 0:
            return
        share = done / total
        if self.live:
            bar = "#" * int(share * 30)
            self.stream.write(f"\r{what:<22} [{bar:<30}] {done:,}/{total:,}")
            if done >= total:
                self.stream.write("\n")
            self.stream.flush()
        elif int(share * 10) > self._tenth.get(what, 0):
            self._tenth[what] = int(share * 10)
            log.info("%s: %d of %d (%.0f%%)", what, done, total, share * 100)


def run_once(
    database: Database,
    config: CompressConfig,
    now: dt.datetime,
    dry_run: bool = False,
    progress: ProgressBar | None = None,
) -> Outcome:
    run = CompressionRun(database, now, config.retention, config.dead_letter_retention)
    try:
        return compress(run, dry_run, progress or ProgressBar(), config.chunk)
    finally:
        run.close()


def parse_now(text: str | None) -> dt.datetime:
    """The moment a run judges by: ``text`` (ISO-8601, UTC when it names no zone), or now."""
    if text is None:
        return dt.datetime.now(dt.UTC)
    moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def command(settings: Settings, now: str | None, dry_run: bool) -> int:
    """Summarise every ended ride and remove old detail, as of ``now``; print one line."""
    outcome = run_once(migrated(settings.database()), settings.compress(), parse_now(now), dry_run)
    print(outcome.line(), flush=True)
    return 0


class Schedule:
    """Compression every ``config.every`` seconds on a thread of its own (``deleton up``): a
    failed run is logged and the next one tries again."""

    def __init__(self, database: Database, config: CompressConfig) -> None:
        self.database = database
        self.config = config
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="compress", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.config.every):
            try:
                outcome = run_once(self.database, self.config, dt.datetime.now(dt.UTC))
                log.info("%s", outcome.line())
            except DeletonError as exc:
                log.warning("compression failed, tried again in %.0f s: %s", self.config.every,
                            exc)  # fmt: skip
