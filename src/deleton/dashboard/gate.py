"""Who is looking at the dashboard, and how people and screens come in.

A ``Gate`` turns a request's signed session into a ``Viewer`` (``core.access``), and checks it
against the database at most every ``recheck`` seconds: a person's session holds while the
database keeps it (signing out, ``deleton users remove`` and its lifetime end it), a screen's
while its link's generation is current. While the database is away, a session signed by this
dashboard is taken at its word (the pages can show only what they held, and sign-in waits for
the database). It also signs people in (a password, a one-time link, an identity vouched for
by a provider), starting each session in the database, ends sessions, and opens screens by
their link, through the reader login's definer functions only.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ..core.access import RECHECK_SECONDS, Throttle, Viewer, token_digest, viewer_from
from ..credentials import passwords, tokens
from ..credentials.config import AccessConfig
from ..errors import DeletonError
from ..postgres import accounts
from ..postgres.connection import Connect, run_query

log = logging.getLogger(__name__)

WRONG = "Wrong name or password."
NO_PASSWORDS = "Passwords are not set up on this dashboard: ask for a sign-in link."
_UNKNOWN = object()  # the database could not be asked, and nothing was known before


@dataclass
class Gate:
    """The dashboard's access: the settings, the secrets, and a reader connection."""

    config: AccessConfig
    session_secret: bytes
    screen_secret: bytes | None
    connect: Connect
    pepper: bytes | None = None  # the key passwords are peppered with; None: passwords are off
    # when a session began (kept in its cookie, judged against its lifetime) and the address
    # throttle's times: seconds since the epoch
    wall: Callable[[], float] = time.time
    # when each state in ``_known`` was learnt, for its age: a wall clock set back an hour
    # would trust it an hour longer (a removed account's role among it)
    clock: Callable[[], float] = time.monotonic
    recheck: float = RECHECK_SECONDS  # seconds a session's or a screen's state is trusted
    throttle: Throttle = field(default_factory=Throttle)
    _known: dict[tuple[str, ...], tuple[Any, float]] = field(default_factory=dict)  # by clock
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        passwords.decoy_salt()  # made now: the first unknown name should not take longer
        self._screen_key = (
            tokens.screen_key(self.screen_secret) if self.screen_secret is not None else ""
        )

    # --- every request ----------------------------------------------------------------------

    def viewer(self, session: Any) -> Viewer | None:
        """The viewer a session holds, while it is in force; ``None`` for no one."""
        viewer = viewer_from(session)
        if viewer is None or viewer.expired(self.wall(), self.config.session_lifetime):
            return None
        return viewer if self._in_force(viewer) else None

    def _in_force(self, viewer: Viewer) -> bool:
        if viewer.screen is not None:
            if not self._screen_key or viewer.signed_by != self._screen_key:
                return False  # opened by a link of another screen secret: rotated since
            grant = viewer.screen
            current = self._current(
                ("screen", grant.kind, grant.target),
                lambda conn: accounts.screen_generation(conn, grant.kind, grant.target),
            )
            return current is _UNKNOWN or current == grant.generation
        role = self._current(
            ("session", viewer.session),
            lambda conn: accounts.session_role(conn, token_digest(viewer.session)),
        )
        return role is _UNKNOWN or role == viewer.role

    def _current(self, key: tuple[str, ...], query: Callable[[Any], Any]) -> Any:
        now = self.clock()
        known = self._known.get(key)
        if known is not None and now - known[1] < self.recheck:
            return known[0]
        try:
            value = run_query(self.connect, "access", query)
        except DeletonError as exc:
            # asked again after another ``recheck``, not at every request: each would wait for
            # a connection the pool cannot give
            log.warning("cannot check a session against the database: %s", exc)
            value = _UNKNOWN if known is None else known[0]
        with self._lock:
            newer = self._known.get(key)
            if newer is not None and newer[1] >= now:
                # learnt while this check was asking (a sign-out here): the newer wins, or a
                # check begun before it would bring the signed-out session back
                return newer[0]
            if len(self._known) > 10_000:
                self._known.clear()  # a bound, not a policy: all are asked again
            self._known[key] = (value, now)
        return value

    # --- coming in --------------------------------------------------------------------------

    def sign_in_password(self, name: str, password: str, address: str) -> Viewer | str:
        """The viewer, or why not. A wrong name, a name that signs in by link only and a wrong
        password are refused alike, after the same work (the database gives a decoy salt for
        a name without a password). Failures are counted per name by the database, whichever
        process is asked, and per client address here."""
        if self.pepper is None:
            return NO_PASSWORDS
        pepper, key = self.pepper, f"address:{address}"
        with self._lock:
            wait = self.throttle.attempt(key, self.wall())  # counted now, forgiven on success
        if wait > 0:
            log.warning("a sign-in by password from %s waits: too many failures", address)
            return _too_many(wait)
        session = tokens.random_token()
        try:
            salt = run_query(
                self.connect, "sign-in", lambda conn: accounts.password_salt(conn, name)
            )
            hashed = passwords.hash_with(password, salt or passwords.decoy_salt(), pepper) or ""
            role, wait = run_query(
                self.connect,
                "sign-in",
                lambda conn: accounts.sign_in_password(
                    conn, name, hashed, token_digest(session), self._lifetime
                ),
            )
        except DeletonError:
            with self._lock:
                self.throttle.refund(key)  # not judged: the database was away
            raise
        if role is not None:
            with self._lock:
                self.throttle.succeeded(key)
        if wait > 0:
            log.warning(
                "a sign-in by password from %s waits: too many failures of that name", address
            )
            return _too_many(wait)
        if role is None:
            log.warning("a sign-in by password from %s was refused", address)
            return WRONG
        person = Viewer(role, name, "password", self.wall(), session=session)
        log.info("%s (%s) signed in by password from %s", who(person), role, address)
        return person

    def sign_in_link(self, token: str, address: str) -> Viewer | None:
        """The viewer of a one-time link used now (from client ``address``); ``None`` when it
        is unknown, used or expired."""
        if not 16 <= len(token) <= 128:
            log.warning("a sign-in link from %s was refused: not a link of ours", address)
            return None
        session = tokens.random_token()
        found = run_query(
            self.connect,
            "sign-in",
            lambda conn: accounts.consume_login_link(
                conn, token_digest(token), token_digest(session), self._lifetime
            ),
        )
        if found is None:
            log.warning("a sign-in link from %s was refused: unknown, used or expired", address)
            return None
        name, role = found
        person = Viewer(role, name, "link", self.wall(), session=session)
        log.info("%s (%s) signed in by link from %s", who(person), role, address)
        return person

    def start(self, person: Viewer) -> Viewer:
        """``person``, vouched for by an identity provider or the load balancer, with a session
        the database now keeps (an account's sessions start with its password or link checked,
        in the same statement). Raises ``DeletonError`` when the database cannot be asked."""
        assert person.role is not None and person.screen is None
        role, session = person.role, tokens.random_token()
        run_query(
            self.connect,
            "sign-in",
            lambda conn: accounts.start_session(
                conn, token_digest(session), person.name, role, person.via, self._lifetime
            ),
        )
        log.info("%s (%s) signed in through %s", who(person), role, person.via)
        return replace(person, session=session)

    def end(self, viewer: Viewer) -> None:
        """Ends ``viewer``'s session: at once in this process, and in every other within
        ``recheck`` seconds (they ask the database). With the database away, only here."""
        if not viewer.session:
            return
        log.info("%s signed out", who(viewer))
        key = ("session", viewer.session)
        with self._lock:
            self._known[key] = (None, self.clock())
        try:
            run_query(
                self.connect,
                "sign-out",
                lambda conn: accounts.end_session(conn, token_digest(viewer.session)),
            )
        except DeletonError as exc:
            log.warning("a session could not be ended in the database: %s", exc)
        with self._lock:
            # again once the database has it: a check begun before it ended there may have
            # read the old role, and this stamp, later than that check's start, outranks it
            self._known[key] = (None, self.clock())

    @property
    def passwords(self) -> bool:
        """Whether people may sign in by password here."""
        return self.pepper is not None

    @property
    def _lifetime(self) -> int:
        return max(60, int(self.config.session_lifetime))

    def open_screen(self, token: str, address: str = "") -> Viewer | None:
        """The viewer of a screen link (opened from client ``address``), asked of the database
        now; ``None`` when the link is not ours or its screen has been revoked since."""
        if self.screen_secret is None:
            return None
        grant = tokens.screen_grant(self.screen_secret, token)
        if grant is None:
            # after an upgrade that retires links, or a new secret, this names the kiosks that
            # still need a new link; never the token
            log.warning(
                "a screen link from %s was refused: not signed with this dashboard's screen"
                " secret, or of a retired version (links are at version %d)",
                address,
                tokens.SCREEN_LINK_VERSION,
            )
            return None
        current = run_query(
            self.connect,
            "screen",
            lambda conn: accounts.screen_generation(conn, grant.kind, grant.target),
        )
        with self._lock:
            self._known[("screen", grant.kind, grant.target)] = (current, self.clock())
        if current != grant.generation:
            log.info("a revoked %s screen link was refused", grant.kind)
            return None
        return Viewer(None, "", "screen", self.wall(), grant, signed_by=self._screen_key)


def _too_many(wait: float) -> str:
    return f"Too many attempts: try again in {int(wait) + 1} s."


def who(viewer: Viewer) -> str:
    """A person as a log line may name them: an account's name (ours, not a rider's data);
    for an account named by an email address (``users add`` allows "@"), and for anyone an
    identity provider vouched for, whose name may be one, a digest."""
    digest = hashlib.sha256(viewer.name.encode()).hexdigest()[:12]
    if viewer.via in ("password", "link"):
        return f"account #{digest}" if "@" in viewer.name else f"account {viewer.name}"
    return f"{viewer.via} person #{digest}"
