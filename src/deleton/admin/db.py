"""``deleton db init`` and ``deleton db reset``: the schemas brought up to date, or dropped and
recreated after the operator has said yes."""

from __future__ import annotations

import sys

from ..postgres import schema
from ..postgres.connection import open_database
from ..settings import Settings


def db(settings: Settings, action: str, yes: bool) -> int:
    """``init`` applies the migrations not yet applied (idempotent); ``reset`` drops both
    schemas and migrates from scratch, asking first unless ``yes``."""
    if action == "reset" and not yes:
        if not sys.stdin.isatty():
            print("refusing to reset without --yes when not interactive", file=sys.stderr)
            return 2
        answer = input("Drop the daily and historical schemas with all their data? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("not reset", file=sys.stderr)
            return 1
    passwords = {
        group: secret.get_secret_value()
        for group, secret in (
            ("writer", settings.db_writer_password),
            ("reader", settings.db_reader_password),
            ("api", settings.db_api_password),
            ("operator", settings.db_operator_password),
        )
        if secret is not None
    }
    with open_database(settings.database()).connect(autocommit=True) as conn:
        schema.harden(conn)
        schema.guard_migrations(conn)
        applied = schema.reset(conn) if action == "reset" else schema.init(conn)
        logins = schema.ensure_logins(conn, passwords)
        schema.guard_migrations(conn)  # a new database's writer was granted INSERT whole
    print(f"{action}: applied {', '.join(applied) or 'nothing (up to date)'}")
    if logins:
        print(f"logins: {', '.join(logins)}")
    return 0
