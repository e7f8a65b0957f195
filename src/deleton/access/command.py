"""``deleton users``, ``deleton login-link`` and ``deleton screen-link``: accounts, one-time
sign-in links and screens' links, made with the operator's login
(``DELETON_OPERATOR_DATABASE_URL``, migration 0020; unset, ``DELETON_DATABASE_URL``, as
``deleton up`` gives), never the writer's. Links are printed alone on stdout, for scripts;
what else is worth saying goes to stderr. Nothing here logs a link, a password or a hash.
"""

from __future__ import annotations

import datetime as dt
import sys

from ..core import access
from ..credentials import keys, passwords, tokens
from ..postgres import accounts
from ..postgres.connection import Database, migrated
from ..settings import Settings

LOCAL_ADMIN = "admin"  # the account `deleton up` makes and prints a sign-in link for


def _recheck(settings: Settings) -> str:
    """How soon the dashboards notice a session ended: each by its own DELETON_SESSION_RECHECK,
    which this command can only assume is the same as its own."""
    default = f"{access.RECHECK_SECONDS:g} s unless set"
    if settings.session_recheck == access.RECHECK_SECONDS:
        return f"DELETON_SESSION_RECHECK ({default})"
    return f"DELETON_SESSION_RECHECK ({default}; {settings.session_recheck:g} s here)"


def _database(settings: Settings) -> Database:
    return migrated(settings.database("operator"))


def _refuse(message: str) -> int:
    print(f"deleton: {message}", file=sys.stderr)
    return 1


def users(
    settings: Settings, action: str, name: str | None, role: str | None, password_stdin: bool
) -> int:
    """``add NAME --role R [--password-stdin]``, ``password NAME [--password-stdin]``,
    ``remove NAME`` or ``list``."""
    database = _database(settings)
    if action == "list":
        for account in database.run("the accounts", accounts.accounts):
            how = "password or link" if account.has_password else "link only"
            print(f"{account.name}\t{account.role}\t{how}\t{account.created_at:%Y-%m-%d}")
        return 0
    assert name is not None
    if action == "remove":
        # any name a session may go by: an identity provider's person's is any characters
        if not access.valid_identity_name(name):
            return _refuse(
                f"a name is 1 to {access.IDENTITY_NAME_LENGTH} characters (a session from an"
                f" identity provider goes by the first {access.IDENTITY_NAME_LENGTH} of the"
                " name it gives)"
            )
        removed, ended = database.run(
            "the account", lambda conn: accounts.remove_account(conn, name)
        )
        if not removed and not ended:
            return _refuse(f"no account {name}, and no session under that name")
        what = f"removed {name}" if removed else f"no account {name}"
        print(
            f"{what}; ended {ended} session(s) under that name: each dashboard notices within"
            f" its own {_recheck(settings)}",
            file=sys.stderr,
        )
        return 0
    if not access.valid_account_name(name):
        return _refuse(
            "a name is 1 to 64 letters, digits and ._@-, starting with a letter or digit"
        )
    if action == "password":
        hashed = _password_hash(settings) if password_stdin else None
        if password_stdin and hashed is None:
            return 1
        if not database.run("the account", lambda conn: accounts.set_password(conn, name, hashed)):
            return _refuse(f"no account {name}")
        how = "by password or link" if hashed else f"by link only: deleton login-link {name}"
        print(
            f"{name} now signs in {how}; its sessions end (each dashboard notices within its"
            f" own {_recheck(settings)})",
            file=sys.stderr,
        )
        return 0
    assert role in access.ROLES
    hashed = None
    if password_stdin:
        hashed = _password_hash(settings)
        if hashed is None:
            return 1
    added = database.run("the account", lambda conn: accounts.add_account(conn, name, role, hashed))
    if not added:
        return _refuse(f"{name} exists: `deleton users password {name}` changes its password")
    how = "by password or link" if hashed else f"by link only: deleton login-link {name}"
    print(f"added {name} ({role}), who signs in {how}", file=sys.stderr)
    return 0


def _password_hash(settings: Settings) -> str | None:
    """The hash of a password read from stdin, peppered with the dashboard's pepper; ``None``
    (said why on stderr) when it is too short."""
    config = settings.access()
    pepper = keys.required_secret(
        config.password_pepper, config.home, keys.PEPPER, "DELETON_PASSWORD_PEPPER"
    )
    password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < passwords.MIN_LENGTH:
        _refuse(f"a password has at least {passwords.MIN_LENGTH} characters")
        return None
    return passwords.hash_password(password, pepper)


def new_login_link(
    database: Database, public_url: str, name: str
) -> tuple[str, dt.datetime] | None:
    """A one-time sign-in link for account ``name`` and when it expires; ``None`` when there
    is no such account."""
    secret = tokens.random_token()
    digest = access.token_digest(secret)
    expires = database.run(
        "the sign-in link",
        lambda conn: accounts.add_login_link(conn, name, digest, access.LOGIN_LINK_SECONDS),
    )
    if expires is None:
        return None
    return f"{public_url}/login/{secret}", expires


def login_link(settings: Settings, name: str) -> int:
    made = new_login_link(_database(settings), settings.access().public_url, name)
    if made is None:
        return _refuse(f"no account {name}")
    link, expires = made
    print(link, flush=True)
    print(f"works once, until {expires.astimezone(dt.UTC):%H:%M:%S} UTC", file=sys.stderr)
    return 0


def ensure_local_admin(database: Database) -> None:
    """The account ``admin`` (no password: it signs in by link), unless it exists."""
    database.run(
        "the local admin",
        lambda conn: accounts.add_account(conn, LOCAL_ADMIN, access.ADMIN, None),
    )


def screen_link(settings: Settings, target: str | None, leaderboard: bool, revoke: bool) -> int:
    """Prints the link of a bike's screen (or of a leaderboard, ``target`` its name or none),
    or with ``revoke`` ends every link of it made so far."""
    kind = access.LEADERBOARD if leaderboard else access.BIKE
    target = target or ""
    if kind == access.BIKE and not target:
        return _refuse("name the bike's serial, or give --leaderboard")
    if target and not access.valid_serial(target):
        return _refuse("a serial is 1 to 64 letters, digits, - and _")
    database = _database(settings)
    what = f"the {kind} screen {target}".rstrip()
    if revoke:
        if not database.run(what, lambda conn: accounts.revoke_screen(conn, kind, target)):
            return _refuse(f"{what} has no link")
        print(f"revoked every link of {what}", file=sys.stderr)
        return 0
    config = settings.access()
    secret = keys.required_secret(
        config.screen_secret, config.home, keys.SCREEN, "DELETON_SCREEN_SECRET"
    )
    generation = database.run(what, lambda conn: accounts.open_screen(conn, kind, target))
    token = tokens.screen_token(secret, access.ScreenGrant(kind, target, generation))
    # the token travels in the fragment, which the browser never sends: it stays out of every
    # access log (the load balancer's, the WAF's) and is handed over by the page (signin)
    print(f"{config.public_url}/screen#{token}", flush=True)
    return 0
