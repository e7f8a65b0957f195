"""The secrets that sign sessions and screen links, and the password pepper, when none is
configured: one file each in
``DELETON_HOME``, made once (mode 0600, in a folder of mode 0700) by ``deleton up`` and read
again by every run after (``private``: never through a link, never another user's file)."""

from __future__ import annotations

import secrets
from pathlib import Path

from pydantic import SecretStr

from .. import private
from ..errors import ConfigError

SESSION = "session-secret"
SCREEN = "screen-secret"
PEPPER = "password-pepper"  # the key passwords are peppered with (``passwords``)


def stored_secret(
    configured: SecretStr | None, home: Path, name: str, create: bool = False
) -> bytes | None:
    """The configured secret; else the one kept in ``home/name``, made first if ``create``;
    else ``None``. Raises ``ConfigError`` when the file kept is not a private file of ours
    (``private.read``) or holds too short a secret."""
    if configured is not None:
        return configured.get_secret_value().encode()
    path = home / name
    if create and not path.exists():
        private.folder(home)
        private.create(path, (secrets.token_urlsafe(48) + "\n").encode())
    kept = private.read(path)
    if kept is None:
        return None
    text = kept.decode(errors="replace").strip()
    if len(text) < 32:
        raise ConfigError(f"{path} holds no secret of 32 characters or more")
    return text.encode()


def required_secret(configured: SecretStr | None, home: Path, name: str, setting: str) -> bytes:
    """``stored_secret``, which this command cannot do without: raises ``ConfigError`` naming
    ``setting`` and the two ways to give it when neither the setting nor ``home`` has one.
    Every process that signs or checks with it must be given the same one."""
    secret = stored_secret(configured, home, name)
    if secret is None:
        raise ConfigError(
            f"{setting} is not set (and DELETON_HOME keeps none): set it to 32 random characters"
            " or more, the same for the dashboard, or run deleton up once to make one"
        )
    return secret
