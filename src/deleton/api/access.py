"""The API key: who may delete rides and read personal data.

The key travels in the ``X-API-Key`` header and is compared in constant time, so that the
time of a refusal tells nothing about how much of a guess was right. With no key configured,
nobody may do either.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import APIKeyHeader
from pydantic import SecretStr

HEADER = "X-API-Key"

# In the OpenAPI document as a security scheme; absent is not an error here: each route says
# what it needs.
_given = APIKeyHeader(
    name=HEADER,
    auto_error=False,
    description="DELETON_API_KEY: needed to delete a ride and to see a rider's personal data",
)
GivenKey = Annotated[str | None, Depends(_given)]


def matches(configured: SecretStr | None, given: str) -> bool:
    """Whether ``given`` is the configured key, in time independent of where they differ."""
    if configured is None:
        return False
    return hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"),
        configured.get_secret_value().encode("utf-8", "surrogateescape"),
    )


def holds_key(configured: SecretStr | None, given: str | None) -> bool:
    """For reads that show more with the key: ``True`` with the right key, ``False`` with
    none; a wrong key is refused (401) rather than quietly treated as none."""
    if given is None:
        return False
    if not matches(configured, given):
        raise HTTPException(401, f"the {HEADER} header does not hold the API key")
    return True


def require_key(configured: SecretStr | None, given: str | None) -> None:
    """For writes: refused entirely (403) when no key is configured, and 401 without the
    right one."""
    if configured is None:
        raise HTTPException(403, "deletes are disabled: the server has no DELETON_API_KEY")
    if given is None:
        raise HTTPException(401, f"the {HEADER} header is missing")
    if not matches(configured, given):
        raise HTTPException(401, f"the {HEADER} header does not hold the API key")
