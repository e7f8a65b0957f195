"""The ingest loop with fakes for the source and the store: batching, retries while the
database is away, reloading on fencing, finding the message whose rows the database refuses,
stopping mid-retry, and closing the rides of a quiet partition."""

from __future__ import annotations

import itertools
import threading
import time

from deleton.core.batch import Batch, DeadLetter, ReadingRow
from deleton.core.messages import Message
from deleton.core.ports import Checkpoints, OnAssign, OnRevoke, Positions
from deleton.core.records import Record, RideLine, RiderLine, TelemetryLine
from deleton.core.riding import Riding
from deleton.core.wire import format_value
from deleton.errors import FencedError, RejectedData, TransientError
from deleton.ingest.config import IngestConfig
from deleton.ingest.ingestor import Ingestor
from deleton.prometheus.metrics import Metrics
from tests.harness.fleet import SECOND, START
from tests.harness.services import wait_for

CONFIG = IngestConfig(86_400 * SECOND, 32 * 2**20, 64 * 2**10)
RIDING = Riding(60 * SECOND)

RIDER = RiderLine(START, "h v1", 7, "Sam Lee", "male", "1 High st,Leeds,LS1 1AA", 0, "s@x.com", 180,
              80, 0, "SN1", "direct")  # fmt: skip


class ListSource:
    """A finite source over a list, with seek, like a file."""

    name = "list"

    def __init__(self, messages: list[Message], endless: bool = False) -> None:
        self.messages = messages
        self.endless = endless  # never exhausted: a live source with nothing more to say
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
        self.exhausted = self.at >= len(self.messages) and not self.endless
        return out

    def committed(self, positions: dict[int, int]) -> None:
        pass

    def lag(self) -> int | None:
        return len(self.messages) - self.at

    def caught_up(self) -> set[int]:
        return {0} if self.at >= len(self.messages) else set()

    def close(self) -> None:
        pass


class FakeStore:
    """The ``Store`` protocol in memory, with its compare-and-set; fails as told, and refuses
    any batch with a heart rate of 666 as PostgreSQL refuses data it cannot hold."""

    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.position: int | None = None
        self.state: bytes | None = None
        self.readings: list[ReadingRow] = []
        self.dead_letters: list[DeadLetter] = []
        self.ended: list[int] = []
        self.writes = 0
        self.ids = itertools.count(1)

    def new_ride_id(self) -> int:
        return next(self.ids)

    def claim(
        self, source: str, partitions: list[int]
    ) -> dict[int, tuple[int | None, bytes | None]]:
        return {0: (self.position, self.state)}

    def write(
        self, source: str, batch: Batch, checkpoints: Checkpoints, expected: Positions
    ) -> None:
        self.writes += 1
        if self.failures:
            raise self.failures.pop(0)
        if expected.get(0) != self.position:
            raise FencedError("moved under us")
        if any(r.heart_rate == 666 for r in batch.readings):
            raise RejectedData("refused", "22003")
        self.readings += batch.readings
        self.dead_letters += batch.dead_letters
        self.ended += [end.ride_id for end in batch.ended_rides]
        self.position = batch.positions.get(0, self.position)
        self.state = checkpoints.get(0, self.state)

    def interrupt(self) -> None:
        pass


def stream() -> list[Message]:
    records: list[Record] = [RIDER]
    for s in range(1, 11):
        records.append(RideLine(START + s * SECOND, "h v1", float(s), 30))
        records.append(TelemetryLine(START + s * SECOND + 500_000, "h v1", 100, 60, 10.0))
    return [(0, i, i + 1, b"SN1", format_value(r), None, None) for i, r in enumerate(records)]


def ingestor(store: FakeStore, source: ListSource, **options: object) -> Ingestor:
    settings: dict[str, object] = {"max_batch": 4, "first_backoff": 0.001, **options}
    return Ingestor(source, store, Metrics(source.name), CONFIG, RIDING, **settings)  # type: ignore[arg-type]


def run(store: FakeStore, messages: list[Message]) -> ListSource:
    source = ListSource(messages)
    ingestor(store, source).run()
    return source


EVERY_SECOND = [START + s * SECOND for s in range(1, 11)]


def test_everything_is_written_once_in_order() -> None:
    store = FakeStore([])
    run(store, stream())
    assert [r.at for r in store.readings] == EVERY_SECOND
    assert store.position == 21


def test_the_database_away_is_waited_for_and_nothing_is_lost() -> None:
    store = FakeStore([TransientError("down"), TransientError("still down")])
    source = ListSource(stream())
    metrics = Metrics(source.name)
    Ingestor(source, store, metrics, CONFIG, RIDING, max_batch=4, first_backoff=0.001).run()
    assert [r.at for r in store.readings] == EVERY_SECOND and store.position == 21
    # each batch's time to store is observed once, for the attempt that stored it
    stored = metrics.registry.get_sample_value("deleton_ingest_write_seconds_count")
    assert stored == metrics.batches == store.writes - 2 and metrics.retries == 2


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


def test_a_message_the_database_refuses_is_found_and_kept_as_a_dead_letter() -> None:
    messages = stream()
    poison = TelemetryLine(START + 6 * SECOND + 500_000, "h v1", 666, 60, 10.0)
    messages[12] = (0, 12, 13, b"SN1", format_value(poison), None, None)
    store = FakeStore([])
    run(store, messages)
    assert store.dead_letters == [
        DeadLetter(0, 12, b"SN1", messages[12][4], "refused by the database (SQLSTATE 22003)")
    ]
    # every other reading stored once; the Ride line of the refused one stays a half reading
    assert [r.at for r in store.readings] == EVERY_SECOND
    assert [r.heart_rate for r in store.readings].count(None) == 1
    assert store.position == 21


def test_stop_during_retries_returns_at_once_and_stores_nothing() -> None:
    store = FakeStore([TransientError("down")] * 10_000)
    source = ListSource(stream())
    loop = ingestor(store, source, first_backoff=0.2)
    thread = threading.Thread(target=loop.run)
    thread.start()
    wait_for(lambda: store.writes >= 2, timeout=10, what="retries")
    stopped = time.monotonic()
    loop.stop()
    thread.join(timeout=10)
    assert not thread.is_alive() and time.monotonic() - stopped < 3
    assert store.position is None and store.readings == []


def test_a_quiet_partition_closes_its_rides_by_the_wall_clock_with_the_position() -> None:
    clock = [1_000.0]
    store = FakeStore([])
    source = ListSource(stream(), endless=True)
    loop = ingestor(store, source, tick_every=0.0, wall=lambda: clock[0])
    thread = threading.Thread(target=loop.run)
    thread.start()
    try:
        wait_for(lambda: store.position == 21, timeout=10, what="the stream stored")
        assert store.ended == []  # riding, as far as anyone can tell
        clock[0] += 61  # a minute of silence from the only bike, the partition caught up
        wait_for(lambda: store.ended == [1], timeout=10, what="the quiet ride closed")
    finally:
        loop.stop()
        thread.join(timeout=10)
    assert store.position == 21 and len(store.readings) == 10
