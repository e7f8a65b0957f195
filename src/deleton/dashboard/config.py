"""Where the dashboard listens, and how long a request waits for a database connection.
``settings`` maps the environment onto it; who may come in is
``credentials.config.AccessConfig``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DashboardConfig:
    host: str
    port: int
    # seconds a request (a screen's update) waits for one of the pool's connections before it
    # says the database is not answering
    db_wait: float = 5.0
    # the zone whose calendar day the leaderboard's "today" is (DELETON_REPORT_TZ)
    day_zone: str = "Europe/London"
