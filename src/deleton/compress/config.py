"""What compression is configured with. ``settings`` maps the environment onto it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class CompressConfig:
    """How long detail stays in ``daily``, and how often compression runs on a schedule."""

    retention: dt.timedelta  # after a ride ends
    dead_letter_retention: dt.timedelta  # after a dead letter arrives
    every: float  # seconds between runs inside ``deleton up`` and ``deleton jobs``
    chunk: int = 2_000  # rides summarised per transaction
    # a bike seen before is offline after this long without a line, by the data's newest line
    offline_after: dt.timedelta = dt.timedelta(days=3)
