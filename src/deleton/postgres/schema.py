"""Versioned migrations of the ``daily`` and ``historical`` schemas.

Each ``migrations/NNNN_name.sql`` runs once, in order, in its own transaction, recorded in
``public.deleton_migration``. An advisory lock keeps two processes from migrating at once.
"""

from __future__ import annotations

import logging
from importlib import resources
from typing import Any

import psycopg
from psycopg import sql

from ..errors import TerminalError
from .locks import MIGRATIONS as _LOCK

log = logging.getLogger(__name__)

ROLES = "0006_roles"  # the migration that creates the services' roles
_ACTS_AS_WRITER = (
    "SELECT to_regrole('deleton_writer') IS NOT NULL"
    " AND pg_has_role(current_user, 'deleton_writer', 'MEMBER')"
)
TABLES = (
    "daily.rider",
    "daily.ride",
    "daily.reading",
    "daily.alert",
    "daily.dead_letter",
    "daily.source_position",
    "historical.rider",
    "historical.ride",
)


def migrations() -> list[tuple[str, str]]:
    """(version, SQL) of every migration shipped with the package, in order."""
    folder = resources.files(__package__ or "deleton.postgres") / "migrations"
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return [(f.name.removesuffix(".sql"), f.read_text()) for f in files]


def init(conn: psycopg.Connection[Any]) -> list[str]:
    """Apply the migrations not yet applied; return their versions. Idempotent.

    The migrations up to ``ROLES`` need the server's administrator (they create schemas and
    roles); later ones run as ``deleton_writer``, which owns what they change, so the writer's
    own login can apply them as it starts."""
    applied: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK])
        # checked first: CREATE ... IF NOT EXISTS still asks for CREATE on public, which the
        # writer's login has no need of
        if _scalar(conn, "SELECT to_regclass('public.deleton_migration')") is None:
            conn.execute(
                "CREATE TABLE public.deleton_migration ("
                " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
        done = {row[0] for row in conn.execute("SELECT version FROM public.deleton_migration")}
        for version, sql in migrations():
            if version in done:
                continue
            log.info("applying migration %s", version)
            if version > ROLES and _scalar(conn, _ACTS_AS_WRITER):
                conn.execute("SET LOCAL ROLE deleton_writer")
            conn.execute(sql.encode())
            conn.execute("INSERT INTO public.deleton_migration (version) VALUES (%s)", [version])
            applied.append(version)
    return applied


# the three services' and the operator's (migration 0019: the CLI's keys, not a service's)
LOGINS = {"writer": "deleton_writer_login", "reader": "deleton_reader_login",
          "api": "deleton_api_login", "operator": "deleton_operator_login"}  # fmt: skip
# Every service login's, as migration 0018 sets it on the logins there were: an unqualified
# name never resolves in public, where PostgreSQL 14 let every login create (our SQL names
# each table and function with its schema).
LOGIN_SEARCH_PATH = sql.SQL("pg_catalog, pg_temp")


def ensure_logins(conn: psycopg.Connection[Any], passwords: dict[str, str]) -> list[str]:
    """Each service's login (``LOGINS``), made or given its password anew, in its group role,
    with ``LOGIN_SEARCH_PATH``; returns their names. Only an administrator may.

    The password itself never reaches the server: libpq computes its salted SCRAM-SHA-256
    verifier here, and the statement carries that, so pg_stat_statements, Performance
    Insights and a logged failing statement keep no password."""
    made = []
    for group, password in passwords.items():
        login = LOGINS[group]
        exists = _scalar(conn, "SELECT to_regrole(%s) IS NOT NULL", [login])
        verb = "ALTER" if exists else "CREATE"
        verifier = conn.pgconn.encrypt_password(
            password.encode(), login.encode(), b"scram-sha-256"
        ).decode()
        # quoted by psycopg as a literal: a utility statement takes no bound parameters
        conn.execute(
            sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(
                sql.SQL(verb), sql.Identifier(login), sql.Literal(verifier)
            )
        )
        conn.execute(
            sql.SQL("ALTER ROLE {} SET search_path = {}").format(
                sql.Identifier(login), LOGIN_SEARCH_PATH
            )
        )
        conn.execute(
            sql.SQL("GRANT {} TO {}").format(
                sql.Identifier(f"deleton_{group}"), sql.Identifier(login)
            )
        )
        made.append(login)
    return made


def check(conn: psycopg.Connection[Any]) -> None:
    """For a login that may not migrate: fail unless every migration has been applied."""
    shipped = [version for version, _ in migrations()]
    try:
        done = {row[0] for row in conn.execute("SELECT version FROM public.deleton_migration")}
    except psycopg.Error:
        done = set()
    missing = [version for version in shipped if version not in done]
    if missing:
        raise TerminalError(
            f"the database lacks migrations {', '.join(missing)}: run `deleton db init` as its"
            " writer or administrator"
        )


def _scalar(conn: psycopg.Connection[Any], query: str, params: Any = None) -> Any:
    row = conn.execute(query, params).fetchone()
    return None if row is None else row[0]


def reset(conn: psycopg.Connection[Any]) -> list[str]:
    """Drop the schemas with everything in them, then migrate from scratch."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK])
        conn.execute("DROP SCHEMA IF EXISTS daily CASCADE")
        conn.execute("DROP SCHEMA IF EXISTS historical CASCADE")
        conn.execute("DROP SCHEMA IF EXISTS keeper CASCADE")
        conn.execute("DROP TABLE IF EXISTS public.deleton_migration")
    return init(conn)
