"""API keys and the audit of their use, in PostgreSQL (migration 0008).

Keys are rows of ``keeper.api_key``, which like ``keeper.audit`` belongs to a role no service
logs in as (migration 0012), in that role's own schema (migration 0014), so that no service
login can drop or replace either: the operator's login (``deleton api-key``, migration 0019;
the writer's no longer) makes, lists and revokes keys through definer functions, which
record each key made or revoked in the audit themselves (migration 0020); it can neither read
a key's hash nor write, change or read the audit;
the API's own login finds a key only by its SHA-256, through ``keeper.api_key_scopes``,
and writes audit rows only through ``keeper.record_audit``: it can neither list keys nor
write a table.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

import psycopg
from psycopg.rows import dict_row, kwargs_row

Connection = psycopg.Connection[Any]


class KeyRecord(NamedTuple):
    name: str
    scopes: tuple[str, ...]
    created_at: dt.datetime
    revoked_at: dt.datetime | None


class AuditEntry(NamedTuple):
    """One request that used the personal or erase scope. Never the key, never the data."""

    key_name: str
    method: str
    path: str
    status: int
    client: str | None


def create_key(conn: Connection, name: str, sha256: bytes, scopes: list[str]) -> bool:
    """Store a new key's hash under ``name``; ``False`` if that name is taken (a revoked key
    keeps its name, so that the audit's names stay unambiguous)."""
    row = conn.execute(
        "SELECT keeper.create_api_key(%s, %s, %s)", [name, sha256, scopes]
    ).fetchone()
    return row is not None and bool(row[0])


def keys(conn: Connection) -> list[KeyRecord]:
    """Every key, live and revoked, by name."""
    with conn.cursor(row_factory=kwargs_row(_key)) as cur:
        return cur.execute(
            "SELECT name, scopes, created_at, revoked_at FROM keeper.api_keys()"
        ).fetchall()


def _key(*, scopes: list[str], **named: Any) -> KeyRecord:
    return KeyRecord(scopes=tuple(scopes), **named)


def revoke_key(conn: Connection, name: str) -> bool:
    """Revoke the live key ``name``; ``False`` if there is none."""
    row = conn.execute("SELECT keeper.revoke_api_key(%s)", [name]).fetchone()
    return row is not None and bool(row[0])


def key_scopes(conn: Connection, sha256: bytes) -> tuple[str, list[str]] | None:
    """The name and scopes of the live key whose SHA-256 is ``sha256``, if there is one."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute("SELECT name, scopes FROM keeper.api_key_scopes(%s)", [sha256]).fetchone()
    return None if row is None else (row["name"], list(row["scopes"]))


def audit(conn: Connection, entry: AuditEntry) -> None:
    """Record ``entry``; in the caller's transaction, so that what it records and the record
    of it commit together."""
    conn.execute("SELECT keeper.record_audit(%s, %s, %s, %s, %s)", list(entry))
