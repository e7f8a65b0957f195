"""The AWS load balancer's signed identity, in place of the dashboard's own sign-in.

Behind an Application Load Balancer that authenticates people (``authenticate_oidc`` or
``authenticate_cognito``), each request it lets through carries ``x-amzn-oidc-data``: an
ES256 JWT whose protected header names its key (``kid``), the load balancer that signed it
(``signer``) and when it expires (``exp``); its payload holds the person's claims. The key is
the PEM at ``<keys URL><kid>``, fetched once and kept.

The load balancer encodes the segments as base64url *with padding* and signs them as sent,
which JWT libraries refuse to parse; so the segments are decoded here and the signature is
checked over them as sent, by joserfc's ES256.
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

from ..core.access import Viewer, role_from_groups

log = logging.getLogger(__name__)

HEADER = "x-amzn-oidc-data"
_KID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_ES256 = JWSRegistry(algorithms=["ES256"]).get_alg("ES256")
KEYS_KEPT = 32


def fetch_key(url: str, timeout: float = 5.0) -> bytes:
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
        self._lock = threading.Lock()

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
        name = next(
            (claims[k] for k in ("preferred_username", "email", "sub") if claims.get(k)), ""
        )
        return Viewer(role, str(name)[:200], "alb", self.wall())

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
        key = self._key(kid)
        if not _ES256.verify(f"{head}.{body}".encode(), _segment(signature), key):
            raise ValueError("bad signature")
        claims = json.loads(_segment(body))
        if not isinstance(claims, dict):
            raise ValueError("claims are not an object")
        now = self.wall()
        expiries = [e for e in (header.get("exp"), claims.get("exp")) if e is not None]
        if not expiries:
            raise ValueError("no expiry")
        if any(not isinstance(e, int | float) or e <= now for e in expiries):
            raise ValueError("expired")
        return claims

    def _key(self, kid: str) -> ECKey:
        key = self._keys.get(kid)
        if key is not None:
            return key
        key = ECKey.import_key(self.fetch(self.keys_url + kid))
        if key.curve_name != "P-256":
            raise ValueError("the key is not on P-256")
        with self._lock:
            if len(self._keys) >= KEYS_KEPT:
                self._keys.pop(next(iter(self._keys)))
            self._keys[kid] = key
        return key
