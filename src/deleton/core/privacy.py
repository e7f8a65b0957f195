"""Keeping riders' personal data out of logs, metrics and error columns, and an erased rider
out of what ingestion stores afterwards.

Library errors are written by others and quote what they were given: an SMTP server refusing
``<sam.lee@example.com>`` says so. ``redact`` takes anything shaped like an email address out
of such text before it is logged or stored. ``may_hold_rider_data`` says which refused
messages keep no bytes in ``daily.dead_letter``; ``broker_time_margin`` whether a topic's
broker timestamps can show that a line reached the broker after an erasure.
"""

from __future__ import annotations

import re

_ADDRESS = re.compile(r"[^\s<>()\[\],;:\"']+@[^\s<>()\[\],;:\"']+")
REDACTED = "<address>"


def redact(text: str, limit: int = 500) -> str:
    """``text`` with every email-like token replaced and cut to ``limit`` characters."""
    cleaned = _ADDRESS.sub(REDACTED, text)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


# What a refused message holds, in any form the parser reads (the line is JSON in the message's
# JSON, and either may spell a character as a ``\u`` escape), if it could be or hold a rider's
# [SYSTEM] line: its tag, a field of that line holding personal data or the rider's id, an
# address's "@". The erasure's matchers (``historical.names_user_id``, ``wire_field``) look
# for nothing any of these does not contain.
_RIDER_MARKS = (b"SYSTEM", b"user_id", b"name", b"email", b"address", b"date_of_birth", b"@",
                b"\\u")  # fmt: skip


def may_hold_rider_data(value: bytes | None) -> bool:
    """Whether a refused message could hold a rider's personal data (name, email, address,
    birth date) or id: then no byte of it is kept, only its reason, position and length.

    Judged on the raw bytes, since a refused message is by definition one the parser could
    not read: any [SYSTEM] line, any JSON escape (which can spell anything), any field name a
    rider's line has, any "@". The rest (Ride and Telemetry lines, empty or foreign bytes) is
    kept as ever to show what went wrong; it names no one. After an erasure only the rider's
    id is left to recognise their lines by, and a line refused for a malformed id is not
    recognisable at all: so the rule is for every rider, erased or not, and keeping a
    [SYSTEM] line's bytes for a week helps no one (the reason says what was wrong; the
    topic holds the message at its position while retained)."""
    return value is not None and any(mark in value for mark in _RIDER_MARKS)


def broker_time_margin(
    timestamp_type: str | None, after_max_ms: int | None, margin_us: int
) -> int | None:
    """The margin (µs) by which a broker timestamp of the topic may be ahead of when the
    broker took the message, if broker times can prove a line came after an erasure; None if
    they cannot, and then no line brings an erased rider back.

    ``timestamp_type`` and ``after_max_ms`` are the topic's ``message.timestamp.type`` and
    ``message.timestamp.after.max.ms`` (None: unknown, e.g. describing the topic was refused).
    ``LogAppendTime`` is the broker's own clock: any margin holds. ``CreateTime`` is the
    producer's, which the broker accepts up to ``after_max_ms`` ahead of its own: the
    configured ``margin_us`` holds only if it is at least that (Kafka 4's default is an hour,
    every Kafka before it and MSK 3.x allow any time: a producer days fast would date a
    line held from before an erasure after it)."""
    if timestamp_type == "LogAppendTime":
        return margin_us
    bounded = after_max_ms is not None and 0 <= after_max_ms * 1_000 <= margin_us
    return margin_us if timestamp_type == "CreateTime" and bounded else None
