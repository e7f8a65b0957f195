"""A captured dump as an ingest source: JSON lines (bare values or kcat ``-J`` records), whose
positions are byte offsets, so a replay resumes exactly where the last one stopped."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ..core.messages import Message
from ..core.ports import OnAssign, OnRevoke
from .kcat import read_messages


class FileSource:
    """A dump of JSON lines (bare values or kcat ``-J`` records); positions are byte offsets."""

    def __init__(self, path: Path) -> None:
        self.path = path.resolve()
        self.name = f"file:{self.path}"
        self.exhausted = False
        self._stream: BinaryIO | None = None
        self._messages: Iterator[Message] = iter(())
        self._position = 0
        self._size = 0

    def open(self, on_assign: OnAssign, on_revoke: OnRevoke) -> None:
        self._stream = self.path.open("rb")
        self._size = self.path.stat().st_size
        self.seek(0, on_assign([0]).get(0))

    def seek(self, partition: int, position: int | None) -> None:
        assert self._stream is not None
        self._position = position or 0
        self._messages = read_messages(self._stream, self._position)
        self.exhausted = False

    def poll(self, max_messages: int, timeout: float) -> list[Message]:
        out = list(itertools.islice(self._messages, max_messages))
        if out:
            self._position = out[-1][2]
        self.exhausted = len(out) < max_messages
        return out

    def committed(self, positions: dict[int, int]) -> None:
        pass

    def lag(self) -> int | None:
        return self._size - self._position

    def caught_up(self) -> set[int]:
        return {0} if self.exhausted else set()

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
