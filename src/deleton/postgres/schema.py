"""Versioned migrations of the ``daily`` and ``historical`` schemas.

Each ``migrations/NNNN_name.sql`` runs once, in order, in its own transaction, recorded in
``public.deleton_migration``. An advisory lock keeps two processes from migrating at once.
"""

from __future__ import annotations

import logging
from importlib import resources
from typing import Any

import psycopg

log = logging.getLogger(__name__)

_LOCK = 74_221_001  # any constant unique to Deleton's migrations
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
    """Apply the migrations not yet applied; return their versions. Idempotent."""
    applied: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK])
        conn.execute(
            "CREATE TABLE IF NOT EXISTS public.deleton_migration ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in conn.execute("SELECT version FROM public.deleton_migration")}
        for version, sql in migrations():
            if version in done:
                continue
            log.info("applying migration %s", version)
            conn.execute(sql.encode())
            conn.execute("INSERT INTO public.deleton_migration (version) VALUES (%s)", [version])
            applied.append(version)
    return applied


def reset(conn: psycopg.Connection[Any]) -> list[str]:
    """Drop both schemas with everything in them, then migrate from scratch."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK])
        conn.execute("DROP SCHEMA IF EXISTS daily CASCADE")
        conn.execute("DROP SCHEMA IF EXISTS historical CASCADE")
        conn.execute("DROP TABLE IF EXISTS public.deleton_migration")
    return init(conn)
