"""Argon2id password hashes (argon2-cffi) of peppered passwords, used in two halves so that
the dashboard's login never reads a stored hash.

What argon2 hashes is not the password but its HMAC-SHA256 under the *pepper*
(``DELETON_PASSWORD_PEPPER``, or ``DELETON_HOME/password-pepper``), a key the dashboard and the
CLI hold and the database never sees: so the database alone, or a login that reaches it, can
check no guess at all.

An account's hash is made whole by ``hash_password`` (``deleton users add`` and ``password``).
To check a password, the dashboard asks the database for the hash's *salt* (``salt_of``:
algorithm, parameters and salt, the hash itself cut off), hashes the password typed with them
(``hash_with``), and the database compares the result with what it keeps, counting failures.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher, Type, extract_parameters
from argon2.exceptions import InvalidHashError
from argon2.low_level import hash_secret

HASHER = PasswordHasher()  # argon2id with argon2-cffi's defaults (RFC 9106, low memory)
MIN_LENGTH = 12


def peppered(password: str, pepper: bytes) -> bytes:
    """What argon2 hashes for ``password``: its HMAC-SHA256 under ``pepper``."""
    return hmac.new(pepper, password.encode(), hashlib.sha256).digest()


def hash_password(password: str, pepper: bytes) -> str:
    """The whole argon2id hash of ``password`` peppered, with a fresh random salt (PHC
    string)."""
    return HASHER.hash(peppered(password, pepper))


def salt_of(stored: str) -> str:
    """A stored hash without its final field: ``$argon2id$v=19$m=...,t=...,p=...$SALT``."""
    return stored.rsplit("$", 1)[0]


def hash_with(password: str, salted: str, pepper: bytes) -> str | None:
    """``password`` peppered and hashed with the algorithm, parameters and salt of ``salted``
    (as ``salt_of`` cuts it), as ``hash_password`` would have hashed it: equal to the stored
    hash exactly when the password (and the pepper) is right. ``None`` when ``salted`` is not
    an argon2id salt."""
    try:
        # argon2-cffi parses a whole hash: give it a stand-in final field of our hash length
        params = extract_parameters(f"{salted}${'A' * _encoded_length(HASHER.hash_len)}")
        salt = salted.rsplit("$", 1)[1]
        raw_salt = base64.b64decode(salt + "=" * (-len(salt) % 4), validate=True)
    except (InvalidHashError, ValueError, IndexError):
        return None
    if params.type is not Type.ID:
        return None
    return hash_secret(
        peppered(password, pepper),
        raw_salt,
        time_cost=params.time_cost,
        memory_cost=params.memory_cost,
        parallelism=params.parallelism,
        hash_len=params.hash_len,
        type=Type.ID,
        version=params.version,
    ).decode("ascii")


@functools.cache
def decoy_salt() -> str:
    """A salt to hash against when an account has none (it is unknown, or signs in by link
    only), so that a wrong name costs the same time as a wrong password."""
    return salt_of(HASHER.hash(secrets.token_urlsafe(16)))


def _encoded_length(raw: int) -> int:
    return -(-raw * 4 // 3)  # unpadded base64
