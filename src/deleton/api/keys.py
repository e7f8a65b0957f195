"""``deleton api-key create|list|revoke``: the API's keys, kept by the writer's login.

``create`` prints the new key once, alone on stdout (so that a script can take it); the
database keeps its SHA-256 only, and nothing can show it again. A revoked key stays listed,
and its name is not given to another key, so that the audit's names stay unambiguous.
"""

from __future__ import annotations

import re
import sys

from ..postgres import access as access_db
from ..postgres.connection import migrated
from ..settings import Settings
from .access import digest, granted, new_key

NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")  # as the table's CHECK says


def parse_scopes(text: str) -> tuple[str, ...]:
    """``read[,personal][,erase]``, with what each includes; ``ValueError`` otherwise."""
    return granted(part.strip() for part in text.split(",") if part.strip())


def command(settings: Settings, action: str, name: str | None, scopes: str | None) -> int:
    database = migrated(settings.database())
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
