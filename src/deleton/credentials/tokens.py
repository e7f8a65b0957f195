"""Signed screen links (itsdangerous, HMAC-SHA256) and random tokens (one-time links, sessions).

A screen token is a ``ScreenGrant`` signed with ``DELETON_SCREEN_SECRET``. It has no expiry:
it stops working when its screen is revoked, which the database records as a new generation,
when the secret changes, or when ``SCREEN_LINK_VERSION`` moves on.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from itsdangerous import BadSignature, URLSafeSerializer

from ..core.access import ScreenGrant

# The links' version, bound into what signs them and into the fingerprint their sessions
# carry: moving it on ends every link made before, and every screen opened by one, as a new
# secret would. 2: links of version 1 were printed as /screen/<token>, their token in the
# request path and so in access logs (the load balancer's among them), and any of them may be
# read there; none opens a screen since
SCREEN_LINK_VERSION = 2
# keeps these signatures apart from any other use of the secret, and from older links'
_SALT = f"deleton-screen-link/{SCREEN_LINK_VERSION}"


def _serializer(secret: bytes) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=_SALT, signer_kwargs={"digest_method": hashlib.sha256})


def screen_token(secret: bytes, grant: ScreenGrant) -> str:
    return _serializer(secret).dumps(grant.claims())


def screen_key(secret: bytes) -> str:
    """A fingerprint of the screen secret and the links' version, for screen sessions to carry:
    a new secret or version ends them all. An HMAC under the secret, so it tells nothing of
    it."""
    purpose = f"deleton-screen-sessions/{SCREEN_LINK_VERSION}".encode()
    return hmac.new(secret, purpose, hashlib.sha256).hexdigest()[:16]


def screen_grant(secret: bytes, token: str) -> ScreenGrant | None:
    """The grant ``token`` carries when it is signed with ``secret``; ``None`` otherwise."""
    if len(token) > 512:
        return None
    try:
        return ScreenGrant.from_claims(_serializer(secret).loads(token))
    except (BadSignature, ValueError, TypeError):
        return None


def random_token() -> str:
    """A new secret token (the random part of a one-time sign-in link, a session's id): 32
    bytes, URL-safe."""
    return secrets.token_urlsafe(32)
