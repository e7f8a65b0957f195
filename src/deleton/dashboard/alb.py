"""The AWS load balancer's signed identity, in place of the dashboard's own sign-in.

Behind an Application Load Balancer that authenticates people (``authenticate_oidc`` or
``authenticate_cognito``), each request it lets through carries ``x-amzn-oidc-data``: an
ES256 JWT whose protected header names its key (``kid``), the load balancer that signed it
(``signer``) and when it expires (``exp``); its payload holds the person's claims. The key is
the PEM at ``<keys URL><kid>``, fetched once and kept.

The load balancer encodes the segments as base64url *with padding* and signs them as sent,
which JWT libraries refuse to parse; so the segments are decoded here and the signature is
checked over them as sent, by joserfc's ES256.

A key can only be fetched after the header names it, before anything is verified: so a
forged header with a new ``kid`` makes us ask the key server. That costs little and is
bounded: a short timeout, one fetch at a time, at most ``FETCHES_PER_MINUTE`` a minute, and a
key id that could not be fetched is not asked for again for ``UNKNOWN_KEPT_FOR`` seconds.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from joserfc.jws import JWSRegistry

from ..core.access import Viewer, identity_name, role_from_groups

log = logging.getLogger(__name__)

HEADER = "x-amzn-oidc-data"
_KID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_ES256 = JWSRegistry(algorithms=["ES256"]).get_alg("ES256")
KEYS_KEPT = 32
FETCH_TIMEOUT = 2.0  # seconds; the key server answers in milliseconds
FETCHES_PER_MINUTE = 5  # key ids asked of the key server; the load balancer uses one or two
UNKNOWN_KEPT_FOR = 60.0  # seconds a key id that could not be fetched is refused without asking
UNKNOWN_KEPT = 1024


def fetch_key(url: str, timeout: float = FETCH_TIMEOUT) -> bytes:
    """The PEM at ``url`` (the load balancer's key server answers plain text)."""
    with urllib.request.urlopen(url, timeout=timeout) as reply:
        body: bytes = reply.read(16_384)
        return body


def _segment(text: str) -> bytes:
    """A base64url segment, padded or not."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text.rstrip("=")) % 4))


class AlbIdentity:
    """Verifies the header of one load balancer (``arn``), and keeps the keys it fetched."""

    def __init__(
        self,
        arn: str,
        keys_url: str,
        role_claim: str,
        wall: Callable[[], float] = time.time,
        fetch: Callable[[str], bytes] = fetch_key,
    ) -> None:
        self.arn = arn
        self.keys_url = keys_url
        self.role_claim = role_claim
        self.wall = wall
        self.fetch = fetch
        self._keys: dict[str, ECKey] = {}
        self._unknown: dict[str, float] = {}  # key id -> when it failed to fetch
        self._fetched_at: list[float] = []  # when each fetch of the last minute began
        self._lock = threading.Lock()
        self._fetching = threading.Lock()  # one fetch at a time

    def viewer(self, token: str) -> Viewer | None:
        """The person the load balancer vouches for; ``None`` (logged with why, never who)
        when the header is not its, is expired, or names someone without a role."""
        try:
            claims = self._verified(token)
        except (ValueError, KeyError, TypeError, binascii.Error, JoseError, OSError) as exc:
            log.warning("load balancer identity refused: %s", exc)
            return None
        role = role_from_groups(claims.get(self.role_claim))
        if role is None:
            log.warning("load balancer identity refused: not in deleton-staff or deleton-admin")
            return None
        return Viewer(role, identity_name(claims), "alb", self.wall())

    def _verified(self, token: str) -> dict[str, Any]:
        if len(token) > 16_384:
            raise ValueError("too long")
        head, body, signature = token.split(".")
        header = json.loads(_segment(head))
        if header.get("alg") != "ES256":
            raise ValueError(f"algorithm {header.get('alg')!r}, not ES256")
        if header.get("signer") != self.arn:
            raise ValueError("signed by another load balancer")
        kid = header.get("kid")
        if not isinstance(kid, str) or not _KID.fullmatch(kid):
            raise ValueError("no usable key id")
        _in_force(header.get("exp"), self.wall())  # before any fetch: a stale header asks none
        key = self._key(kid)
        if not _ES256.verify(f"{head}.{body}".encode(), _segment(signature), key):
            raise ValueError("bad signature")
        claims = json.loads(_segment(body))
        if not isinstance(claims, dict):
            raise ValueError("claims are not an object")
        if "exp" in claims:
            _in_force(claims["exp"], self.wall())
        return claims

    def _key(self, kid: str) -> ECKey:
        key = self._keys.get(kid)
        if key is not None:
            return key
        self._may_fetch(kid)
        if not self._fetching.acquire(timeout=FETCH_TIMEOUT + 1):
            raise ValueError("the key server is busy")
        try:
            key = self._keys.get(kid)  # fetched by whoever held the lock before
            if key is not None:
                return key
            self._may_fetch(kid)
            with self._lock:
                self._fetched_at.append(self.wall())
            try:
                key = ECKey.import_key(self.fetch(self.keys_url + kid))
                if key.curve_name != "P-256":
                    raise ValueError("the key is not on P-256")
            except (ValueError, KeyError, TypeError, JoseError, OSError):
                with self._lock:
                    if len(self._unknown) >= UNKNOWN_KEPT:
                        self._unknown.clear()  # a bound: they are refused by the budget anyway
                    self._unknown[kid] = self.wall()
                raise
            with self._lock:
                if len(self._keys) >= KEYS_KEPT:
                    self._keys.pop(next(iter(self._keys)))
                self._keys[kid] = key
            return key
        finally:
            self._fetching.release()

    def _may_fetch(self, kid: str) -> None:
        """Raises ``ValueError`` when ``kid`` failed to fetch lately, or when this minute's
        fetches are spent."""
        now = self.wall()
        with self._lock:
            failed = self._unknown.get(kid)
            if failed is not None and now - failed < UNKNOWN_KEPT_FOR:
                raise ValueError("a key id that could not be fetched lately")
            self._fetched_at = [t for t in self._fetched_at if now - t < 60.0]
            if len(self._fetched_at) >= FETCHES_PER_MINUTE:
                raise ValueError("too many new key ids this minute")


def _in_force(expiry: object, now: float) -> None:
    """Raises ``ValueError`` unless ``expiry`` is a time (seconds since the epoch) after
    ``now``."""
    if not isinstance(expiry, int | float) or isinstance(expiry, bool):
        raise ValueError("no usable expiry")
    if expiry <= now:
        raise ValueError("expired")
