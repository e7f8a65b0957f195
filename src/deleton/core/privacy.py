"""Keeping riders' personal data out of logs, metrics and error columns.

Library errors are written by others and quote what they were given: an SMTP server refusing
``<sam.lee@example.com>`` says so. ``redact`` takes anything shaped like an email address out
of such text before it is logged or stored.
"""

from __future__ import annotations

import re

_ADDRESS = re.compile(r"[^\s<>()\[\],;:\"']+@[^\s<>()\[\],;:\"']+")
REDACTED = "<address>"


def redact(text: str, limit: int = 500) -> str:
    """``text`` with every email-like token replaced and cut to ``limit`` characters."""
    cleaned = _ADDRESS.sub(REDACTED, text)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"
