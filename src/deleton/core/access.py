"""Who may see what on the dashboard: the roles, the viewers (a signed-in person, or a screen
opened by its link), what each may open, and what a screen link and a session carry.

Pure: the clock comes in as an argument. Signing, hashing and storage are the adapters'
(``credentials``, ``postgres``); Flask's wiring is the dashboard's. The rules, in short:

- a person signed in with the role ``staff`` (or ``admin``, which includes it) sees every page;
- a bike's screen sees that bike's current ride and nothing else;
- a leaderboard screen sees the leaderboard and nothing else;
- anyone else sees the sign-in screen.
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

STAFF = "staff"
ADMIN = "admin"
ROLES = (STAFF, ADMIN)
# the groups an identity provider puts a person in, in the claim DELETON_OIDC_ROLE_CLAIM
STAFF_GROUP = "deleton-staff"
ADMIN_GROUP = "deleton-admin"

LOGIN_LINK_SECONDS = 600  # a printed sign-in link works once, within ten minutes
# how often, at most, a dashboard process asks the database whether a session still holds (its
# account, its role, whether it was signed out) and whether a screen was revoked: a removal or
# a sign-out takes effect in every process within this many seconds
RECHECK_SECONDS = 10.0

BIKE = "bike"
LEADERBOARD = "leaderboard"
SCREEN_KINDS = (BIKE, LEADERBOARD)
# a screen's own page, where its link leads once opened; no other path under /screen/ is
# anything (links once carried their token there)
SCREEN_PAGE = "/screen/"

_ACCOUNT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_SERIAL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def valid_account_name(name: str) -> bool:
    """Letters, digits and ``._@-``, starting with a letter or digit, at most 64 characters:
    safe in a URL, a log line and a shell."""
    return _ACCOUNT_NAME.fullmatch(name) is not None


# how much of the name an identity provider (or the load balancer) gives a person their session
# keeps: keeper.dashboard_session holds 1 to 200 characters
IDENTITY_NAME_LENGTH = 200


def identity_name(claims: Mapping[str, Any]) -> str:
    """The name a person an identity provider vouched for goes by: their
    ``preferred_username``, else ``email``, else ``sub``, any characters, its first
    ``IDENTITY_NAME_LENGTH``; ``""`` when the claims hold none."""
    name = next((claims[k] for k in ("preferred_username", "email", "sub") if claims.get(k)), "")
    return str(name)[:IDENTITY_NAME_LENGTH]


def valid_identity_name(name: str) -> bool:
    """Whether ``identity_name`` could give ``name`` (so a session may go by it): 1 to
    ``IDENTITY_NAME_LENGTH`` characters, any. Every account's name is one."""
    return 0 < len(name) <= IDENTITY_NAME_LENGTH


def valid_serial(serial: str) -> bool:
    """A bike serial as the bikes send it (``SN0000``), or a leaderboard's name."""
    return _SERIAL.fullmatch(serial) is not None


def role_from_groups(claim: object) -> str | None:
    """The role of a person whose identity lists ``claim`` as their groups: ``admin`` for
    members of ``deleton-admin``, ``staff`` for ``deleton-staff``, ``None`` (refused) for
    anyone else. The claim is a list of names, or one string of names separated by commas or
    spaces, as some providers send it."""
    if isinstance(claim, str):
        groups = set(re.split(r"[\s,]+", claim.strip()))
    elif isinstance(claim, list | tuple):
        groups = {item for item in claim if isinstance(item, str)}
    else:
        return None
    if ADMIN_GROUP in groups:
        return ADMIN
    if STAFF_GROUP in groups:
        return STAFF
    return None


def token_digest(token: str) -> bytes:
    """What the database keeps of a secret token (a one-time sign-in link, a session's id): its
    SHA-256, never the token."""
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True, slots=True)
class ScreenGrant:
    """What a screen link says: which screen, and the generation of its links it belongs to.
    Revoking a screen moves its generation on, so every link made before stops working."""

    kind: str  # BIKE or LEADERBOARD
    target: str  # the bike's serial; the leaderboard's name ("" for the only one)
    generation: int

    def claims(self) -> dict[str, Any]:
        """The grant as the signed token carries it."""
        return {"k": self.kind, "t": self.target, "g": self.generation}

    @classmethod
    def from_claims(cls, data: object) -> ScreenGrant | None:
        """The grant a token carried, or ``None`` when it does not make sense."""
        if not isinstance(data, dict):
            return None
        kind, target, generation = data.get("k"), data.get("t"), data.get("g")
        if kind not in SCREEN_KINDS or not isinstance(target, str):
            return None
        if not isinstance(generation, int) or isinstance(generation, bool) or generation < 1:
            return None
        if kind == BIKE and not valid_serial(target):
            return None
        if kind == LEADERBOARD and target and not valid_serial(target):
            return None
        return cls(kind, target, generation)


class Permission(enum.Enum):
    """What a dashboard update needs of its viewer."""

    SIGNED_IN = "anyone signed in: what they see is decided by the update itself"
    BIKE = "staff, or the screen of the bike asked for"
    LEADERBOARD = "staff, or a leaderboard's screen"
    STAFF = "staff"


@dataclass(frozen=True, slots=True)
class Viewer:
    """Someone looking at the dashboard: a person with a role, or a screen opened by its link."""

    role: str | None  # STAFF or ADMIN for a person, None for a screen
    name: str  # the person's account or identity; "" for a screen
    via: str  # how they came in: password, link, oidc, alb, screen
    since: float  # when, in seconds since the epoch
    screen: ScreenGrant | None = None
    # a person's session id, whose digest the database keeps while the session holds (signing
    # out deletes it, so no copy of the cookie works after); "" for a screen
    session: str = ""
    # a screen's: the fingerprint of the screen secret that signed its link, so that a new
    # secret ends every screen session; "" for a person
    signed_by: str = ""

    @property
    def is_staff(self) -> bool:
        return self.role in ROLES  # admin includes staff

    @property
    def bike(self) -> str | None:
        """The serial a bike's screen shows; ``None`` for anyone else."""
        if self.screen is not None and self.screen.kind == BIKE:
            return self.screen.target
        return None

    def may_see_bike(self, serial: str) -> bool:
        return self.is_staff or self.bike == serial

    def allows(self, permission: Permission, serial: str | None = None) -> bool:
        """Whether this viewer may have an update that needs ``permission`` (for ``BIKE``,
        of bike ``serial``)."""
        if permission is Permission.SIGNED_IN:
            return True
        if permission is Permission.BIKE:
            return serial is not None and self.may_see_bike(serial)
        if permission is Permission.LEADERBOARD:
            return self.is_staff or (self.screen is not None and self.screen.kind == LEADERBOARD)
        return self.is_staff

    def may_open(self, path: str) -> bool:
        """Whether this viewer may load the page at ``path``: staff any; a screen its own
        page, at ``SCREEN_PAGE``, at ``/`` and at its own address (``/bike/<serial>`` or
        ``/leaderboard``)."""
        if self.is_staff or path in ("/", "", SCREEN_PAGE):
            return True
        if self.bike is not None:
            return path == f"/bike/{self.bike}"
        return self.screen is not None and path == "/leaderboard"

    def expired(self, now: float, lifetime: float) -> bool:
        """A person's sign-in lasts ``lifetime`` seconds whatever they do; a screen lasts until
        its link is revoked."""
        return self.screen is None and now - self.since > lifetime


# 2: a person's session carries its id (``sid``), a screen's its secret's fingerprint (``sk``);
# a cookie of version 1 holds no one
SESSION_VERSION = 2


def session_of(viewer: Viewer) -> dict[str, Any]:
    """The viewer as the signed session cookie carries it (named fields, with a version)."""
    data: dict[str, Any] = {
        "v": SESSION_VERSION,
        "role": viewer.role,
        "name": viewer.name,
        "via": viewer.via,
        "since": viewer.since,
    }
    if viewer.screen is not None:
        data["screen"] = viewer.screen.claims()
        data["sk"] = viewer.signed_by
    else:
        data["sid"] = viewer.session
    return data


def viewer_from(session: Mapping[str, Any]) -> Viewer | None:
    """The viewer a session holds, or ``None`` when it holds none (or another version's)."""
    data = session.get("viewer")
    if not isinstance(data, dict) or data.get("v") != SESSION_VERSION:
        return None
    role, name, via, since = data.get("role"), data.get("name"), data.get("via"), data.get("since")
    if not isinstance(name, str) or not isinstance(via, str):
        return None
    if not isinstance(since, int | float) or isinstance(since, bool):
        return None
    if "screen" in data:
        screen, signed_by = ScreenGrant.from_claims(data["screen"]), data.get("sk")
        if screen is None or role is not None or not isinstance(signed_by, str) or not signed_by:
            return None
        return Viewer(None, "", via, float(since), screen, signed_by=signed_by)
    sid = data.get("sid")
    if role not in ROLES or not isinstance(sid, str) or not sid:
        return None
    return Viewer(role, name, via, float(since), session=sid)


@dataclass
class Throttle:
    """Failed sign-ins per client address, in one process (an account name's are counted by
    the database, for every process). The first ``free`` failures within ``window`` seconds
    cost nothing; after them each try must wait twice as long as the one before, up to
    ``longest`` seconds (the database's rule for names, in its numbers). A success forgets the
    key; at most ``keys`` keys are remembered, the least recently failed forgotten first.

    ``attempt`` counts a try as failed *before* its work, so that tries made at once cannot
    all pass a check that none of them has yet counted against; ``succeeded`` forgets them
    and ``refund`` takes back one that could not be judged."""

    free: int = 5
    window: float = 900.0
    longest: float = 300.0
    keys: int = 10_000
    _failures: OrderedDict[str, tuple[int, float]] = field(default_factory=OrderedDict)

    def wait(self, key: str, now: float) -> float:
        """Seconds before a try for ``key`` is heard; 0 when it may go ahead now."""
        count, last = self._failures.get(key, (0, 0.0))
        if count < self.free or now - last > self.window:
            return 0.0
        delay = min(self.longest, 2.0 ** (count - self.free))
        return max(0.0, last + delay - now)

    def failed(self, key: str, now: float) -> None:
        count, last = self._failures.pop(key, (0, 0.0))
        if now - last > self.window:
            count = 0
        self._failures[key] = (count + 1, now)
        while len(self._failures) > self.keys:
            self._failures.popitem(last=False)

    def attempt(self, key: str, now: float) -> float:
        """Seconds before a try for ``key`` is heard (nothing counted); 0 when it may go ahead
        now, in which case it is counted as failed until ``succeeded`` says otherwise."""
        wait = self.wait(key, now)
        if wait == 0:
            self.failed(key, now)
        return wait

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)

    def refund(self, key: str) -> None:
        """Takes back one try counted by ``attempt``."""
        count, last = self._failures.get(key, (0, 0.0))
        if count > 1:
            self._failures[key] = (count - 1, last)
        else:
            self._failures.pop(key, None)
