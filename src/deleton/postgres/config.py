"""What the PostgreSQL adapter is configured with: where the database is, and how long
anything may wait for it. ``settings`` maps the environment onto it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

# seconds before its start that a ride's readings may lie (DELETON_READING_WINDOW)
READING_WINDOW = 3600.0


@dataclass(frozen=True)
class DatabaseConfig:
    """Where PostgreSQL is (a URL, or ``None`` for the embedded server kept under ``home``), and
    how long anything may wait for it."""

    url: SecretStr | None
    home: Path
    connect_timeout: float = 10.0  # seconds to establish a connection
    statement_timeout: float = 30.0  # seconds any one statement may run
    keepalive_idle: int = 30  # seconds of silence before TCP probes a connection
    keepalive_interval: int = 10
    keepalive_count: int = 3
    # False for a service's own restricted login (reader, API): it checks that the schema is
    # up to date and never migrates, which only the writer or an administrator may
    migrates: bool = True
    # seconds before its start that a ride's readings may lie: what reads them reads no earlier
    reading_window: float = READING_WINDOW
    # the login's password where the URL has none and PGPASSWORD is another login's: the
    # operator's, on a host whose PGPASSWORD is a service's (migration 0019)
    password: SecretStr | None = None

    def connect_options(self) -> dict[str, Any]:
        """libpq options for every connection: a dead server or network is noticed in about
        ``keepalive_idle + interval * count`` seconds instead of never."""
        return {
            "connect_timeout": max(1, round(self.connect_timeout)),
            "keepalives": 1,
            "keepalives_idle": self.keepalive_idle,
            "keepalives_interval": self.keepalive_interval,
            "keepalives_count": self.keepalive_count,
            # a send that is not acknowledged within this long fails the connection
            "tcp_user_timeout": (self.keepalive_idle + self.keepalive_interval) * 1000,
            "options": f"-c statement_timeout={round(self.statement_timeout * 1000)}",
        }
