"""Captured streams as JSON lines, both ways: bare message values or records as ``kcat -C -J``
prints them.

Reading gives each line's message with its byte position, so a replay can resume exactly where
it stopped. Writing (``KcatSink``) is how the simulator prints a fleet on standard output.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import BinaryIO, NamedTuple

import orjson

from ..core.messages import Message
from ..core.simulation import Line
from ..core.wire import envelope


class Decoded(NamedTuple):
    """One dump line: the message's key and value, why it holds no message (None when it does),
    and its broker timestamp in µs when the record carries one (kcat's ``ts``)."""

    key: bytes | None
    value: bytes | None
    unreadable: str | None
    timestamp: int | None


def decode_line(line: bytes) -> Decoded:
    """A dump line as a message. A bare value is passed through untouched so that the wire
    parser judges it."""
    if line.startswith(b'{"log"'):
        return Decoded(None, line, None, None)
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError:
        return Decoded(None, line, None, None)
    if isinstance(doc, dict) and "payload" in doc:
        payload = doc["payload"]
        key = doc.get("key")
        if payload is not None and not isinstance(payload, str):
            return Decoded(None, None, "kcat record payload is not a string", None)
        if key is not None and not isinstance(key, str):
            return Decoded(None, None, "kcat record key is not a string", None)
        ts = doc.get("ts")
        stamp = ts * 1000 if type(ts) is int and abs(ts) < 2**52 else None
        return Decoded(
            key.encode() if key is not None else None,
            payload.encode() if payload is not None else None,
            None,
            stamp,
        )
    return Decoded(None, line, None, None)


def read_messages(stream: BinaryIO, start: int = 0, partition: int = 0) -> Iterator[Message]:
    """Every line of ``stream`` from byte ``start`` as a message; blank lines are messages too
    (invalid ones), so that positions and output lines stay one to one."""
    stream.seek(start)
    position = start
    for raw in stream:
        end = position + len(raw)
        line = raw.rstrip(b"\r\n")
        key, value, unreadable, stamp = decode_line(line)
        yield (partition, position, end, key, value, unreadable, stamp)
        position = end


class KcatSink:
    """Writes each message as a ``kcat -C -J`` JSON line, numbered per partition."""

    def __init__(self, stream: BinaryIO, topic: str, partitions: int = 1) -> None:
        self.stream = stream
        self.topic = topic
        self.partitions = partitions
        self.offsets = [0] * partitions
        self._heads = [
            f'{{"topic":{orjson.dumps(topic).decode()},"partition":{p},"offset":'
            for p in range(partitions)
        ]
        self._templates: dict[str, tuple[int, str]] = {}

    def _template(self, key: str) -> tuple[int, str]:
        partition = zlib.crc32(key.encode()) % self.partitions
        template = (partition, f',"broker":-1,"key":{orjson.dumps(key).decode()},"payload":')
        self._templates[key] = template
        return template

    def render(self, lines: list[Line], tick_end: int) -> tuple[int, bytes]:
        """The records of ``lines``, numbered: it runs in the worker that owns their bikes,
        and a worker's bikes hash to partitions no other worker writes (``SimulatedFleet``
        shares)."""
        out = []
        offsets = self.offsets
        heads = self._heads
        templates = self._templates
        for key, at, text in lines:
            partition, after = templates.get(key) or self._template(key)
            offset = offsets[partition]
            offsets[partition] = offset + 1
            head = heads[partition]
            ts = (tick_end if at is None else at) // 1000
            if '"' in text or "\\" in text:
                payload = orjson.dumps(envelope(text).decode()).decode()
                out.append(f'{head}{offset},"tstype":"create","ts":{ts}{after}{payload}}}\n')
            else:  # the envelope of a plain line, JSON-quoted, without encoding it twice
                out.append(
                    f'{head}{offset},"tstype":"create","ts":{ts}{after}'
                    f'"{{\\"log\\": \\"{text}\\\\n\\"}}"}}\n'
                )
        return len(out), "".join(out).encode()

    def emit(self, rendered: tuple[int, bytes]) -> int:
        count, data = rendered
        self.stream.write(data)
        return count

    def close(self) -> None:
        self.stream.flush()
