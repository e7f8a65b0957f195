"""``deleton api-key create|list|revoke``: the API's keys, kept by the operator's login
(``DELETON_OPERATOR_DATABASE_URL``, migration 0019), never the writer's; each key made or
revoked is recorded in ``keeper.audit`` by the database itself (migration 0020).

``create`` prints the new key once, alone on stdout (so that a script can take it); the
database keeps its SHA-256 only, and nothing can show it again. A revoked key stays listed,
and its name is not given to another key, so that the audit's names stay unambiguous.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import sys
from pathlib import Path

from .. import private
from ..postgres import access as access_db
from ..postgres.connection import Database, migrated
from ..settings import Settings
from .access import digest, granted, new_key

NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")  # as the table's CHECK says
LOCAL_KEY = "api-key"  # deleton up's key for the quick start, in DELETON_HOME


def parse_scopes(text: str) -> tuple[str, ...]:
    """``read[,personal][,erase]``, with what each includes; ``ValueError`` otherwise."""
    return granted(part.strip() for part in text.split(",") if part.strip())


def command(settings: Settings, action: str, name: str | None, scopes: str | None) -> int:
    database = migrated(settings.database("operator"))
    with database.connect(autocommit=True) as conn:
        if action == "list":
            found = access_db.keys(conn)
            for key in found:
                state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "live"
                print(f"{key.name:<24} {','.join(key.scopes):<20}"
                      f" created {key.created_at:%Y-%m-%d %H:%M}  {state}")  # fmt: skip
            if not found:
                print("no API keys (DELETON_API_KEY, if set, is the bootstrap key)")
            return 0
        assert name is not None
        if action == "revoke":
            if not access_db.revoke_key(conn, name):
                print(f"no live API key named {name}", file=sys.stderr)
                return 1
            print(f"revoked {name}: refused by every API process within seconds")
            return 0
        if not NAME.fullmatch(name):
            print("a key's name is 1-63 of a-z, 0-9, '.', '_' and '-', starting with a letter"
                  " or digit", file=sys.stderr)  # fmt: skip
            return 2
        try:
            chosen = parse_scopes(scopes or "")
        except ValueError as exc:
            print(str(exc), file=sys.stderr)
            return 2
        if not chosen:
            print("give at least one scope: --scope read[,personal][,erase]", file=sys.stderr)
            return 2
        secret = new_key()
        if not access_db.create_key(conn, name, digest(secret), list(chosen)):
            print(f"an API key named {name} exists (or did): choose another name",
                  file=sys.stderr)  # fmt: skip
            return 1
        print(secret, flush=True)
        print(f"API key {name} ({', '.join(chosen)}): shown this once, kept only as its hash",
              file=sys.stderr)  # fmt: skip
        return 0


def local_read_key(database: Database, home: Path, now: dt.datetime) -> tuple[str, str]:
    """``deleton up``'s key for the quick start, as ``(name, key)``: scope ``read`` only, which
    still shows riders' names, ages and heart rates (never contact details), so it is kept as
    the dashboard's secrets are, in ``home/api-key`` as "NAME KEY" (0600, beside the
    dashboard's secrets), so that the same key works across runs while it is live. A missing
    file, or a key revoked since, gets a new key named ``up-<UTC time>-<random>`` (a revoked
    key's name is never reused), and every other live ``up-`` key is revoked: its key was in a
    file that is gone. Raises ``ConfigError`` as ``private.read`` does."""
    path = home / LOCAL_KEY
    kept = private.read(path)
    if kept is not None:
        name, _, key = kept.decode(errors="replace").strip().partition(" ")
        live = database.run("the API's keys", access_db.keys)
        if key and any(k.name == name and k.revoked_at is None for k in live):
            return name, key
    name = f"up-{now.astimezone(dt.UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
    key = new_key()
    made = database.run(
        "a read key for the quick start",
        lambda conn: access_db.create_key(conn, name, digest(key), list(granted(["read"]))),
    )
    if not made:  # a name of random letters already taken: nothing to do but say so
        raise RuntimeError(f"an API key named {name} exists")
    stale = [
        k.name
        for k in database.run("the API's keys", access_db.keys)
        if k.name.startswith("up-") and k.name != name and k.revoked_at is None
    ]

    def revoke(conn: access_db.Connection) -> None:
        for older in stale:
            access_db.revoke_key(conn, older)

    database.run("older quick-start keys", revoke)
    private.folder(home)
    private.write(path, f"{name} {key}\n".encode())
    return name, key
