"""Screen links and screen sessions as version 1 made them, frozen here: the tests of their
retirement need tokens that could have been read in an access log (``/screen/<token>``), and
sessions opened by one. ``deleton.credentials.tokens`` makes only the current version."""

from __future__ import annotations

import hashlib
import hmac

from itsdangerous import URLSafeSerializer

from deleton.core.access import ScreenGrant


def version_1_token(secret: bytes, grant: ScreenGrant) -> str:
    """A screen link's token as printed before links moved to version 2."""
    serializer = URLSafeSerializer(
        secret, salt="deleton-screen-link", signer_kwargs={"digest_method": hashlib.sha256}
    )
    return serializer.dumps(grant.claims())


def version_1_key(secret: bytes) -> str:
    """The fingerprint a screen session opened by a version 1 link carries (``sk``)."""
    return hmac.new(secret, b"deleton-screen-sessions", hashlib.sha256).hexdigest()[:16]
