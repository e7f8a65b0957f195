"""Dashboard accounts, one-time sign-in links, sessions and screens in PostgreSQL (migrations
0009 and 0010; in deleton_keeper's schema since 0020).

Two sides, and neither touches a table: every call is a definer function of the keeper's.
The operator's login (or the administrator's) makes and removes accounts, links and screens,
for ``deleton users``, ``login-link`` and ``screen-link``, each act recorded in
``keeper.audit`` by the function itself. The dashboard's reader login signs people in and
checks sessions. Neither ever sees a stored hash; the writer's login reaches none of it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import class_row, dict_row

Connection = psycopg.Connection[Any]


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    role: str
    has_password: bool
    created_at: dt.datetime


# --- the operator's side: definer functions only (migration 0020) ---------------------------


def add_account(conn: Connection, name: str, role: str, password_hash: str | None) -> bool:
    """A new account; ``False`` when one of that name exists (it is left as it is)."""
    row = conn.execute(
        "SELECT keeper.add_account(%s, %s, %s)", [name, role, password_hash]
    ).fetchone()
    return bool(row and row[0])


def remove_account(conn: Connection, name: str) -> tuple[bool, int]:
    """Removes the account ``name`` (with its links), if any, and ends every session under that
    name, an identity provider's people's included: whether there was an account, and how many
    sessions ended."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute("SELECT removed, ended FROM keeper.remove_account(%s)", [name]).fetchone()
    assert row is not None
    return bool(row["removed"]), int(row["ended"])


def set_password(conn: Connection, name: str, password_hash: str | None) -> bool:
    """Gives the account a new password (``None``: none, it signs in by link only) and a new
    session key, so that every session it had ends, even one being started with the old
    password at this moment; its failures are forgotten. ``False`` when there is no such
    account."""
    row = conn.execute("SELECT keeper.set_password(%s, %s)", [name, password_hash]).fetchone()
    return bool(row and row[0])


def accounts(conn: Connection) -> list[Account]:
    with conn.cursor(row_factory=class_row(Account)) as cursor:
        return cursor.execute(
            """SELECT name, role, by_password AS has_password, created_at
               FROM keeper.accounts()"""
        ).fetchall()


def add_login_link(conn: Connection, name: str, digest: bytes, seconds: int) -> dt.datetime | None:
    """Records a one-time link (its digest) for account ``name``, valid ``seconds`` (a minute
    to a day); returns when it expires, or ``None`` when there is no such account. Links long
    dead go."""
    row = conn.execute(
        "SELECT keeper.add_login_link(%s, %s, %s)", [name, digest, seconds]
    ).fetchone()
    return None if row is None else row[0]


def open_screen(conn: Connection, kind: str, target: str) -> int:
    """The generation a new link of this screen carries: the current one, made on first use,
    and in force again if the screen had been revoked."""
    row = conn.execute("SELECT keeper.open_screen(%s, %s)", [kind, target]).fetchone()
    assert row is not None
    return int(row[0])


def revoke_screen(conn: Connection, kind: str, target: str) -> bool:
    """Every link made so far of this screen stops working; ``False`` when it had none."""
    row = conn.execute("SELECT keeper.revoke_screen(%s, %s)", [kind, target]).fetchone()
    return bool(row and row[0])


# --- the dashboard's side: definer functions only ------------------------------------------


def password_salt(conn: Connection, name: str) -> str | None:
    """The algorithm, parameters and salt of the account's password hash, without the hash; a
    decoy of the same shape (the same at every call) for a name with no password."""
    row = conn.execute("SELECT keeper.password_salt(%s)", [name]).fetchone()
    return None if row is None else row[0]


def sign_in_password(
    conn: Connection, name: str, hashed: str, session: bytes, seconds: int
) -> tuple[str | None, float]:
    """``(role, 0)`` with the session (the digest of its id) started for ``seconds`` when
    ``hashed`` is the hash of the account's password; ``(None, 0)`` when it is not (a failure
    counted against the name); ``(None, seconds)`` when the name's failures say to wait that
    long first (nothing compared)."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT role, wait FROM keeper.sign_in_password(%s, %s, %s, %s)",
            [name, hashed, session, seconds],
        ).fetchone()
    assert row is not None
    return row["role"], float(row["wait"])


def consume_login_link(
    conn: Connection, digest: bytes, session: bytes, seconds: int
) -> tuple[str, str] | None:
    """The account (name, role) of a link used now for the first time within its life, its
    session (``session``: the digest of its id) started for ``seconds``; ``None`` for a link
    unknown, used or expired."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT name, role FROM keeper.consume_login_link(%s, %s, %s)",
            [digest, session, seconds],
        ).fetchone()
    return None if row is None else (row["name"], row["role"])


def start_session(
    conn: Connection, session: bytes, name: str, role: str, via: str, seconds: int
) -> None:
    """Records the session (the digest of its id) of a person signed in by ``via``."""
    conn.execute(
        "SELECT keeper.start_session(%s, %s, %s, %s, %s)", [session, name, role, via, seconds]
    )


def session_role(conn: Connection, session: bytes) -> str | None:
    """The role of the session (the digest of its id) while it holds; ``None`` once it was
    signed out, is over, or its account was removed."""
    row = conn.execute("SELECT keeper.session_role(%s)", [session]).fetchone()
    return None if row is None else row[0]


def end_session(conn: Connection, session: bytes) -> bool:
    """Ends the session (the digest of its id); ``False`` when it had ended already."""
    row = conn.execute("SELECT keeper.end_session(%s)", [session]).fetchone()
    return bool(row and row[0])


def screen_generation(conn: Connection, kind: str, target: str) -> int | None:
    row = conn.execute("SELECT keeper.screen_generation(%s, %s)", [kind, target]).fetchone()
    return None if row is None or row[0] is None else int(row[0])
