"""Captured streams as JSON lines: bare message values or records as ``kcat -C -J`` prints them.

Reading gives each line's message with its byte position, so a replay can resume exactly where
it stopped. (The simulator writes kcat's shape itself, in ``simulator.KcatSink``.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import orjson

# One message of a source: (partition, position, next_position, key, value, unreadable).
# ``position`` is where it starts (a Kafka offset or a byte offset); ``next_position`` is where
# reading resumes once it is safely stored; ``unreadable`` says why a dump line held no message.
# A plain tuple, not a NamedTuple: ingestion makes one per message, and NamedTuple's
# constructor costs more than the rest of taking a message from Kafka.
Message = tuple[int, int, int, bytes | None, bytes | None, str | None]


def message(
    partition: int,
    position: int,
    next_position: int,
    key: bytes | None,
    value: bytes | None,
    unreadable: str | None = None,
) -> Message:
    return (partition, position, next_position, key, value, unreadable)


def decode_line(line: bytes) -> tuple[bytes | None, bytes | None, str | None]:
    """Key, value and, when the line is no message at all, why. A bare value is passed through
    untouched so that the wire parser judges it."""
    if line.startswith(b'{"log"'):
        return None, line, None
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None, line, None
    if isinstance(doc, dict) and "payload" in doc:
        payload = doc["payload"]
        key = doc.get("key")
        if payload is not None and not isinstance(payload, str):
            return None, None, "kcat record payload is not a string"
        if key is not None and not isinstance(key, str):
            return None, None, "kcat record key is not a string"
        return (
            key.encode() if key is not None else None,
            payload.encode() if payload is not None else None,
            None,
        )
    return None, line, None


def read_messages(stream: BinaryIO, start: int = 0, partition: int = 0) -> Iterator[Message]:
    """Every line of ``stream`` from byte ``start`` as a message; blank lines are messages too
    (invalid ones), so that positions and output lines stay one to one."""
    stream.seek(start)
    position = start
    for raw in stream:
        end = position + len(raw)
        line = raw.rstrip(b"\r\n")
        key, value, unreadable = decode_line(line)
        yield (partition, position, end, key, value, unreadable)
        position = end
