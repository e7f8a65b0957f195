"""What the daily report is configured with. ``settings`` maps the environment onto it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ReportConfig:
    """Who the daily report goes to, in which time zone its days are, when it is made on a
    schedule, and where its PDFs are written."""

    zone: str  # an IANA name: Europe/London
    recipients: tuple[str, ...]
    at: dt.time  # when, in ``zone``, inside ``deleton up`` and ``deleton jobs``
    folder: Path  # where each PDF is written unless ``--out`` says otherwise
    # the data is incomplete after this long without a reading in hours that normally have rides
    gap: dt.timedelta = dt.timedelta(minutes=15)
    retry: dt.timedelta = dt.timedelta(minutes=15)  # the schedule's one wait before it sends
    max_lag: dt.timedelta = dt.timedelta(minutes=5)  # ingestion's lag allowed at report time
