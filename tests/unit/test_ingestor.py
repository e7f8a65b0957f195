"""The ingest loop with fakes for the source and the store: batching, retries while the
database is away, reloading on fencing, and the message-at-a-time positions."""

from __future__ import annotations

import itertools
from typing import Any

from deleton.dump import Message
from deleton.errors import FencedError, TransientError
from deleton.ingest import Ingestor
from deleton.records import Ride, Rider, Telemetry
from deleton.tracker import Batch
from deleton.wire import format_value

T0 = 1_667_500_920_000_000
RIDER = Rider(T0, "h v1", 7, "Sam Lee", "male", "1 High st,Leeds,LS1 1AA", 0, "s@x.com", 180,
              80, 0, "SN1", "direct")  # fmt: skip


class ListSource:
    """A finite source over a list, with seek, like a file."""

    name = "list"

    def __init__(self, messages: list[Message]) -> None:
        self.messages = messages
        self.at = 0
        self.exhausted = False
        self.seeks: list[int | None] = []

    def open(self, on_assign: Any, on_revoke: Any) -> None:
        self.seek(0, on_assign([0])[0])

    def seek(self, partition: int, position: int | None) -> None:
        self.seeks.append(position)
        self.at = position or 0
        self.exhausted = False

    def poll(self, max_messages: int, timeout: float) -> list[Message]:
        out = self.messages[self.at : self.at + 3]
        self.at += len(out)
        self.exhausted = self.at >= len(self.messages)
        return out

    def committed(self, positions: dict[int, int]) -> None:
        pass

    def lag(self) -> int | None:
        return len(self.messages) - self.at

    def close(self) -> None:
        pass


class FakeStore:
    """Positions and rows in memory; fails as told."""

    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.position: int | None = None
        self.state: bytes | None = None
        self.readings: list[Any] = []
        self.ids = itertools.count(1)

    def new_ride_id(self) -> int:
        return next(self.ids)

    def claim(
        self, source: str, partitions: list[int]
    ) -> dict[int, tuple[int | None, bytes | None]]:
        return {0: (self.position, self.state)}

    def write(
        self,
        source: str,
        batch: Batch,
        snapshots: dict[int, bytes],
        expected: dict[int, int | None],
    ) -> None:
        if self.failures:
            raise self.failures.pop(0)
        assert expected.get(0) == self.position, "compare-and-set"
        self.readings += batch.readings
        self.position = batch.positions.get(0, self.position)
        self.state = snapshots.get(0, self.state)


def stream() -> list[Message]:
    records: list[Any] = [RIDER]
    for s in range(1, 11):
        records.append(Ride(T0 + s * 1_000_000, "h v1", float(s), 30))
        records.append(Telemetry(T0 + s * 1_000_000 + 500_000, "h v1", 100, 60, 10.0))
    return [(0, i, i + 1, b"SN1", format_value(r), None) for i, r in enumerate(records)]


def run(store: FakeStore, messages: list[Message]) -> ListSource:
    source = ListSource(messages)
    ingestor = Ingestor(source, store, 60_000_000, max_batch=4, sleep=lambda s: None)  # type: ignore[arg-type]
    ingestor.run()
    return source


def test_everything_is_written_once_in_order() -> None:
    store = FakeStore([])
    run(store, stream())
    assert [r[1] for r in store.readings] == [T0 + s * 1_000_000 for s in range(1, 11)]
    assert store.position == 21


def test_the_database_away_is_waited_for_and_nothing_is_lost() -> None:
    store = FakeStore([TransientError("down"), TransientError("still down")])
    run(store, stream())
    assert len(store.readings) == 10 and store.position == 21


def test_fenced_reloads_from_the_database_and_reads_again() -> None:
    store = FakeStore([])
    messages = stream()
    store.failures = [FencedError("moved")]
    source = run(store, messages)
    assert (
        source.seeks[0] is None and None in source.seeks[1:]
    )  # sought back to the stored position
    assert sorted(r[1] for r in store.readings) == [T0 + s * 1_000_000 for s in range(1, 11)]
    assert len(store.readings) == 10


def test_a_restart_continues_from_the_stored_position_and_state() -> None:
    store = FakeStore([])
    messages = stream()
    run(store, messages[:8])  # stops after a Ride line whose Telemetry has not come yet
    assert store.position == 8
    run(store, messages)
    assert len(store.readings) == 10  # the pending half came back from the checkpoint
    assert len({r[0] for r in store.readings}) == 1  # one ride, continued
