"""The secrets that sign sessions and screen links when none is configured: one file each in
``DELETON_HOME``, made once (mode 0600) by ``deleton up`` and read again by every run after."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from pydantic import SecretStr

from ..errors import ConfigError

SESSION = "session-secret"
SCREEN = "screen-secret"


def stored_secret(
    configured: SecretStr | None, home: Path, name: str, create: bool = False
) -> bytes | None:
    """The configured secret; else the one kept in ``home/name``, made first if ``create``;
    else ``None``."""
    if configured is not None:
        return configured.get_secret_value().encode()
    path = home / name
    if create and not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        draft = home / f".{name}.{os.getpid()}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48) + "\n")
        # a link appears whole or not at all: of two processes making it at once, one wins
        # and both read its secret
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
        draft.unlink()
    try:
        if path.stat().st_mode & 0o077:
            raise ConfigError(f"{path} may be read by others: chmod 600 it")
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    if len(text) < 32:
        raise ConfigError(f"{path} holds no secret of 32 characters or more")
    return text.encode()
