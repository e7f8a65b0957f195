"""Folders and files only this user may read: ``DELETON_HOME`` (the embedded database, the
secrets that sign sessions and screen links, the password pepper, the alert outbox, whose
emails carry a rider's address, first name and heart rate).

A folder is made 0700, and one that exists is ours and tightened to 0700. A file is written
0600 through a draft opened with ``O_EXCL | O_NOFOLLOW`` (nobody can have put a file or a
link there first), then renamed into place, so a reader sees it whole or not at all. A file
is read only when it is a regular file of ours that nobody else may read, opened without
following a link.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

from .errors import ConfigError

log = logging.getLogger(__name__)

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_READ = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def folder(path: Path) -> Path:
    """``path``, made with its parents if need be, as a folder of ours that only we may enter
    (0700); an existing one that others may enter is tightened. Raises ``ConfigError`` when it
    belongs to another user."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    found = path.stat()
    if found.st_uid != os.geteuid():
        raise ConfigError(f"{path} belongs to another user (uid {found.st_uid})")
    if stat.S_IMODE(found.st_mode) & 0o077:
        path.chmod(0o700)
        log.warning("%s could be read by others: made 0700", path)
    return path


def write(path: Path, data: bytes) -> None:
    """``data`` as the file ``path`` (0600), replacing any file there; its folder must exist.
    Raises ``OSError`` as the system does (a full disk, a folder that is not one)."""
    draft = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(draft, _CREATE, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(draft, path)  # replaces a link at ``path`` itself, never what it points to
    except BaseException:
        draft.unlink(missing_ok=True)
        raise


def create(path: Path, data: bytes) -> bool:
    """``data`` as the file ``path`` (0600) unless one is there already: of two processes
    making it at once, one wins and both then read its content. ``True`` when this one made
    it."""
    draft = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(draft, _CREATE, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.link(draft, path)  # appears whole, and never over what is there
        return True
    except FileExistsError:
        return False
    finally:
        draft.unlink(missing_ok=True)


def read(path: Path) -> bytes | None:
    """The content of ``path``; ``None`` when there is none. Raises ``ConfigError`` when it is
    a link, not a regular file, another user's, or readable by others."""
    try:
        fd = os.open(path, _READ)
    except FileNotFoundError:
        return None
    except OSError as exc:  # ELOOP: a symbolic link, which nobody should have put there
        raise ConfigError(f"{path} cannot be opened as a file of ours: {exc.strerror}") from None
    try:
        found = os.fstat(fd)
        if not stat.S_ISREG(found.st_mode):
            raise ConfigError(f"{path} is not a regular file")
        if found.st_uid != os.geteuid():
            raise ConfigError(f"{path} belongs to another user (uid {found.st_uid})")
        if stat.S_IMODE(found.st_mode) & 0o077:
            raise ConfigError(f"{path} may be read by others: chmod 600 it")
        return os.read(fd, 65_536)
    finally:
        os.close(fd)
