"""One message of a source, as every ring sees it.

``(partition, position, next_position, key, value, unreadable, timestamp)``: ``position`` is
where it starts (a Kafka offset or a byte offset in a dump); ``next_position`` is where reading
resumes once it is safely stored; ``unreadable`` says why a dump line held no message at all;
``timestamp`` is the broker's time of the message in µs since the epoch, when it has one.

A plain tuple, not a NamedTuple: ingestion makes one per message, a hundred thousand a second,
and NamedTuple's constructor costs more than the rest of taking a message from Kafka. It is
always unpacked where it is used, never indexed.
"""

from __future__ import annotations

Message = tuple[int, int, int, bytes | None, bytes | None, str | None, int | None]


def message(
    partition: int,
    position: int,
    next_position: int,
    key: bytes | None,
    value: bytes | None,
    unreadable: str | None = None,
    timestamp: int | None = None,
) -> Message:
    return (partition, position, next_position, key, value, unreadable, timestamp)
