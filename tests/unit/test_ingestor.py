"""The ingest loop with fakes for the source and the store: batching, retries while the
database is away, reloading on fencing, and the message-at-a-time positions."""

from __future__ import annotations

import itertools

from deleton.core.batch import Batch, ReadingRow
from deleton.core.messages import Message
from deleton.core.ports import OnAssign, OnRevoke, Positions, Snapshots
from deleton.core.records import Record, RideLine, Rider, TelemetryLine
from deleton.core.wire import format_value
from deleton.errors import FencedError, TransientError
from deleton.ingest.ingestor import Ingestor
from deleton.prometheus.metrics import Metrics
from tests.harness.fleet import SECOND, START

RIDER = Rider(START, "h v1", 7, "Sam Lee", "male", "1 High st,Leeds,LS1 1AA", 0, "s@x.com", 180,
              80, 0, "SN1", "direct")  # fmt: skip


class ListSource:
    """A finite source over a list, with seek, like a file."""

    name = "list"

    def __init__(self, messages: list[Message]) -> None:
        self.messages = messages
        self.at = 0
        self.exhausted = False
        self.seeks: list[int | None] = []

    def open(self, on_assign: OnAssign, on_revoke: OnRevoke) -> None:
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
    """The ``Store`` protocol in memory, with its compare-and-set; fails as told."""

    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.position: int | None = None
        self.state: bytes | None = None
        self.readings: list[ReadingRow] = []
        self.ids = itertools.count(1)

    def new_ride_id(self) -> int:
        return next(self.ids)

    def claim(
        self, source: str, partitions: list[int]
    ) -> dict[int, tuple[int | None, bytes | None]]:
        return {0: (self.position, self.state)}

    def write(self, source: str, batch: Batch, snapshots: Snapshots, expected: Positions) -> None:
        if self.failures:
            raise self.failures.pop(0)
        if expected.get(0) != self.position:
            raise FencedError("moved under us")
        self.readings += batch.readings
        self.position = batch.positions.get(0, self.position)
        self.state = snapshots.get(0, self.state)


def stream() -> list[Message]:
    records: list[Record] = [RIDER]
    for s in range(1, 11):
        records.append(RideLine(START + s * SECOND, "h v1", float(s), 30))
        records.append(TelemetryLine(START + s * SECOND + 500_000, "h v1", 100, 60, 10.0))
    return [(0, i, i + 1, b"SN1", format_value(r), None) for i, r in enumerate(records)]


def run(store: FakeStore, messages: list[Message]) -> ListSource:
    source = ListSource(messages)
    ingestor = Ingestor(
        source, store, Metrics(source.name), 60_000_000, max_batch=4, sleep=lambda s: None
    )
    ingestor.run()
    return source


EVERY_SECOND = [START + s * SECOND for s in range(1, 11)]


def test_everything_is_written_once_in_order() -> None:
    store = FakeStore([])
    run(store, stream())
    assert [r.at for r in store.readings] == EVERY_SECOND
    assert store.position == 21


def test_the_database_away_is_waited_for_and_nothing_is_lost() -> None:
    store = FakeStore([TransientError("down"), TransientError("still down")])
    run(store, stream())
    assert [r.at for r in store.readings] == EVERY_SECOND and store.position == 21


def test_fenced_reloads_from_the_database_and_reads_again() -> None:
    store = FakeStore([FencedError("moved")])
    source = run(store, stream())
    assert source.seeks[0] is None
    assert None in source.seeks[1:]  # sought back to the stored position, the start
    assert [r.at for r in store.readings] == EVERY_SECOND


def test_a_restart_continues_from_the_stored_position_and_state() -> None:
    store = FakeStore([])
    messages = stream()
    run(store, messages[:8])  # stops after a Ride line whose Telemetry has not come yet
    assert store.position == 8
    run(store, messages)
    assert [r.at for r in store.readings] == EVERY_SECOND  # the pending half came back
    assert len({r.ride_id for r in store.readings}) == 1  # one ride, continued
    assert all(r.heart_rate == 100 and r.duration is not None for r in store.readings)
