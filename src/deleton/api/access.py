"""Who may call the API, and for what: keys with scopes, a rate limit per key, and the audit
of every use of personal data or of a delete.

- Scopes: ``read`` gives rides, riders' names, ages and figures, and the fleet; ``personal``
  adds riders' email, address and birth date; ``erase`` allows the deletes. ``personal`` and
  ``erase`` include ``read``.
- Keys: ``deleton api-key create`` makes one (32 random bytes, as URL-safe text), shows it
  once and stores its SHA-256 only: a slow hash would cost every request, and 256 random bits
  need no stretching. ``DELETON_API_KEY`` is a bootstrap key with every scope, compared in
  constant time.
- A key found is remembered for ``KEY_CACHE_SECONDS``, so that a request costs a SHA-256 and
  a dictionary lookup, not a query; a revoke takes effect within that time. A key not found
  is remembered as long (one query per unknown key, not per request), in a memory of its
  own: each holds ``MAX_CACHED`` keys and, full, forgets its oldest, so that a flood of
  made-up keys (anyone may send them) never pushes a live key out. The check runs inside
  the one dependency every route has anyway: a few microseconds, no dependency of its own.
- Answers: no key, or one that is not a live key, 401; a key without the scope, 403; a key
  over ``DELETON_API_RATE_LIMIT`` requests a second (per process), 429 with ``Retry-After``.
  Without a key only ``/health`` (its status alone) and the documentation answer.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request
from pydantic import SecretStr

from ..postgres.access import AuditEntry

HEADER = "X-API-Key"
READ, PERSONAL, ERASE = "read", "personal", "erase"
SCOPES = (READ, PERSONAL, ERASE)
INCLUDES = {PERSONAL: READ, ERASE: READ}
BOOTSTRAP = "env:DELETON_API_KEY"  # the name the bootstrap key is audited under
KEY_CACHE_SECONDS = 5.0  # how long a key found (or not) is believed: a revoke's delay
MAX_CACHED = 10_000  # keys remembered, found and not found each; past it, the oldest goes
KEY_BYTES = 32


def granted(scopes: Iterable[str]) -> tuple[str, ...]:
    """``scopes`` with what each includes, in the order of ``SCOPES``; ``ValueError`` names
    one that is not a scope."""
    wanted = set(scopes)
    unknown = wanted - set(SCOPES)
    if unknown:
        raise ValueError(f"not a scope: {', '.join(sorted(unknown))} (scopes: {', '.join(SCOPES)})")
    wanted |= {INCLUDES[s] for s in wanted if s in INCLUDES}
    return tuple(s for s in SCOPES if s in wanted)


def new_key() -> str:
    """A new key: ``KEY_BYTES`` random bytes as URL-safe text."""
    return secrets.token_urlsafe(KEY_BYTES)


def digest(key: str) -> bytes:
    """What the database keeps of a key: its SHA-256."""
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


@dataclass(frozen=True, slots=True)
class Caller:
    """Whoever holds a key: its name (for the audit and the rate limit) and its scopes."""

    name: str
    scopes: frozenset[str]


EVERYTHING = Caller(BOOTSTRAP, frozenset(SCOPES))
Lookup = Callable[[bytes], Caller | None]  # the live key with this SHA-256, if any


class Keys:
    """Keys checked against the bootstrap key and, through ``lookup``, the database; what is
    found (or not) is remembered for ``ttl`` seconds."""

    def __init__(
        self,
        bootstrap: SecretStr | None,
        lookup: Lookup,
        ttl: float = KEY_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bootstrap = (
            None if bootstrap is None else bootstrap.get_secret_value().encode("utf-8")
        )
        self._lookup = lookup
        self._ttl = ttl
        self._clock = clock
        # live keys and unknown ones apart: the second is anyone's to fill. Insertion order
        # is age (an entry is put anew when looked up again), so the first entry is the oldest
        self._found: dict[bytes, tuple[Caller, float]] = {}
        self._unknown: dict[bytes, float] = {}
        self._lock = threading.Lock()  # writers only: readers see a whole entry or none

    def remembered(self, given: str) -> tuple[bool, Caller | None]:
        """Without a query: whether ``given`` is settled, and who holds it (``None``: no
        one)."""
        raw = given.encode("utf-8", "surrogateescape")
        if self._bootstrap is not None and hmac.compare_digest(raw, self._bootstrap):
            return True, EVERYTHING
        sha = hashlib.sha256(raw).digest()
        now = self._clock()
        entry = self._found.get(sha)
        if entry is not None and entry[1] > now:
            return True, entry[0]
        until = self._unknown.get(sha)
        if until is not None and until > now:
            return True, None
        return False, None

    def verify(self, given: str) -> Caller | None:
        """Who holds ``given``, asking the database; remembered for ``ttl``."""
        found, caller = self.remembered(given)
        if found:
            return caller
        sha = digest(given)
        caller = self._lookup(sha)
        until = self._clock() + self._ttl
        with self._lock:
            self._found.pop(sha, None)
            self._unknown.pop(sha, None)
            if caller is None:
                _put(self._unknown, sha, until)
            else:
                _put(self._found, sha, (caller, until))
        return caller


def _put(memory: dict[bytes, Any], sha: bytes, entry: Any) -> None:
    """``entry`` as the newest of ``memory``, forgetting the oldest when it is full."""
    if len(memory) >= MAX_CACHED:
        del memory[next(iter(memory))]
    memory[sha] = entry


class RateLimit:
    """A token bucket per key name: ``per_second`` requests a second, in bursts of as many
    (at least one). Requests are checked on worker threads, hence the lock."""

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_second = per_second
        self.burst = max(1.0, per_second)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # name -> (tokens, when)
        self._lock = threading.Lock()

    def wait(self, name: str) -> float:
        """0 when ``name`` may make a request now (and it is counted), else the seconds until
        it may."""
        with self._lock:
            now = self._clock()
            tokens, then = self._buckets.get(name, (self.burst, now))
            tokens = min(self.burst, tokens + (now - then) * self.per_second)
            if tokens >= 1.0:
                self._buckets[name] = (tokens - 1.0, now)
                return 0.0
            self._buckets[name] = (tokens, now)
            return (1.0 - tokens) / self.per_second


# The scheme of the OpenAPI document. Routes ask for the header themselves, in the one
# dependency each already has (``data``): FastAPI's work for a dependency of its own would
# cost each request more than checking the key does, so the document is told in words.
SCHEME = "APIKeyHeader"
SECURITY_SCHEMES = {
    SCHEME: {
        "type": "apiKey",
        "in": "header",
        "name": HEADER,
        "description": "a key made by `deleton api-key create`, or DELETON_API_KEY; its scopes"
        " say what it may do",
    }
}
# a route's ``openapi_extra``: a key is needed, or optional
KEYED: dict[str, Any] = {"security": [{SCHEME: []}]}
KEY_OPTIONAL: dict[str, Any] = {"security": [{SCHEME: []}, {}]}


def identify(request: Request) -> Caller | None:
    """Who calls (``None``: no key), counted against their rate limit. Called on the worker
    thread FastAPI runs a route's dependency on: a key not seen lately is looked up there."""
    given = request.headers.get(HEADER)
    if given is None:
        return None
    data = request.app.state.data
    caller: Caller | None = data.keys.verify(given)
    if caller is None:
        raise HTTPException(401, f"the {HEADER} header does not hold a valid key")
    limit: RateLimit = data.limit
    wait = limit.wait(caller.name)
    if wait:
        raise HTTPException(
            429,
            f"more than {limit.per_second:g} requests a second with this key",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    return caller


def admit(caller: Caller | None, scope: str) -> Caller:
    """``caller``, if they hold ``scope``: else 401 (no key) or 403."""
    if caller is None:
        raise HTTPException(401, f"the {HEADER} header is missing")
    if scope not in caller.scopes:
        raise HTTPException(403, f"this key lacks the {scope} scope")
    return caller


def client_address(request: Request, hops: int) -> str | None:
    """Who sent ``request``: the connection's address; behind ``hops`` proxies (each appends
    the address it was reached from to X-Forwarded-For), the address that many hops from the
    header's right end, as the dashboard's ProxyFix takes it (``Settings.proxy_hops``).
    Whatever the client wrote before that is its own to forge, and is never taken."""
    peer = request.client.host if request.client is not None else None
    if hops <= 0:
        return peer
    forwarded = [
        hop.strip()
        for header in request.headers.getlist("x-forwarded-for")
        for hop in header.split(",")
    ]
    # fewer hops than proxies: the header is not the proxies', so the connection's
    return forwarded[-hops] if len(forwarded) >= hops and forwarded[-hops] else peer


def audit_entry(request: Request, caller: Caller, status: int, **ids: int) -> AuditEntry:
    """The audit row of ``request``: the key's name, never the key; the path as its route
    names it, with each id as the route parsed it (``ids``), so that a rider read as
    ``/rider/010``, ``/rider/+10`` or ``/rider/1_0`` is audited as ``/rider/10``, under the
    one spelling a search of the audit asks for."""
    template = getattr(request.scope.get("route"), "path_format", None)
    if isinstance(template, str):
        path = template.format_map({**request.path_params, **ids})
    else:
        path = request.url.path
    client = client_address(request, request.app.state.data.proxy_hops)
    return AuditEntry(caller.name, request.method, path, status, client)
