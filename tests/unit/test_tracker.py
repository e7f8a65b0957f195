"""The per-bike state machine: ride boundaries, readings, alerts, time judged per bike, bad
messages as dead letters, and state carried across a checkpoint exactly."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deleton.core.batch import AlertRow, Batch, DeadLetter, NewRide, ReadingRow, RideEnd
from deleton.core.checkpoint import FIELDS, dumps, forget_rides
from deleton.core.messages import Message, message
from deleton.core.records import Marker, RideLine, RiderLine, TelemetryLine
from deleton.core.tracker import Tracker
from deleton.core.wire import envelope, format_value
from deleton.simulator.riders import simulated_fleet
from tests.harness.fleet import SECOND, START

T0 = START
LATER = T0 + 10**12  # a receiver's clock long after everything: every bike has gone quiet
RIDER = RiderLine(T0, "mendoza v9", 7, "Mr Sam Lee", "male", "1 High st,Leeds,LS1 1AA",
              0, "sam@x.com", 180, 80, 0, "SN0001", "direct")  # fmt: skip  # born 1970


def tracker(timeout: int = 60 * SECOND) -> Tracker:
    return Tracker(timeout, itertools.count(1).__next__)


def msg(
    record: object,
    position: int,
    key: bytes | None = b"SN0001",
    partition: int = 0,
    stamp: int | None = None,
) -> Message:
    value = format_value(record)  # type: ignore[arg-type]
    return message(partition, position, position + 1, key, value, timestamp=stamp)


def feed(t: Tracker, records: list[object], key: bytes | None = b"SN0001") -> Batch:
    """Each record's message received at its own time; then every bike gone quiet."""
    for i, record in enumerate(records):
        t.feed(msg(record, i, key), now=getattr(record, "at", None) or T0)
    t.expire_idle(LATER, t.partitions.keys())
    return t.take()


def ride_lines(start: int, seconds: int, hrt: int = 100, rpm: int = 60) -> list[object]:
    out: list[object] = []
    for s in range(1, seconds + 1):
        out.append(RideLine(start + s * SECOND, "mendoza v9", float(s), 30))
        out.append(TelemetryLine(start + s * SECOND + SECOND // 2, "mendoza v9", hrt, rpm, 12.5))
    return out


def test_a_ride_from_system_line_to_marker() -> None:
    batch = feed(tracker(), [RIDER, *ride_lines(T0, 3), Marker("--------- beginning of main")])
    # the rider's gender and age at the start (born 1970, riding in November 2022) ride along
    assert batch.new_rides == [NewRide(1, "SN0001", 7, T0, "mendoza v9", "male", 52)]
    assert batch.ended_rides == [RideEnd(1, T0 + 3 * SECOND + SECOND // 2)]  # its last line
    assert [r.at for r in batch.readings] == [T0 + s * SECOND for s in (1, 2, 3)]  # Ride lines
    assert batch.readings[0] == ReadingRow(1, T0 + SECOND, 1.0, 30, 100, 60, 12.5)
    assert batch.riders == {7: RIDER}


def test_the_next_system_line_and_a_gap_in_the_bikes_own_lines_end_rides() -> None:
    t = tracker(timeout=10 * SECOND)
    second = RIDER._replace(at=T0 + 100 * SECOND)
    gap = T0 + 200 * SECOND  # 70 s after the second ride's last line, on the bike's own clock
    records = [RIDER, *ride_lines(T0, 2), second, *ride_lines(second.at, 30), *ride_lines(gap, 1)]
    batch = feed(t, records)
    assert [r.ride_id for r in batch.new_rides] == [1, 2, 3]
    assert batch.ended_rides == [
        RideEnd(1, T0 + 2 * SECOND + SECOND // 2),
        RideEnd(2, second.at + 30 * SECOND + SECOND // 2),
        RideEnd(3, gap + SECOND + SECOND // 2),
    ]
    assert batch.new_rides[2].user_id is None  # a ride cut by a gap has no [SYSTEM] line


def test_silence_ends_a_ride_by_the_receivers_clock_once_its_partition_is_caught_up() -> None:
    t = tracker(timeout=60 * SECOND)
    for i, record in enumerate([RIDER, *ride_lines(T0, 3)]):
        t.feed(msg(record, i), now=1_000 * SECOND)
    assert t.expire_idle(1_059 * SECOND, {0}) == set()  # silent 59 s: still riding
    assert t.expire_idle(1_100 * SECOND, set()) == set()  # not caught up: maybe a backlog
    assert t.take().ended_rides == []
    assert t.expire_idle(1_061 * SECOND, {0}) == {0}
    assert t.take().ended_rides == [RideEnd(1, T0 + 3 * SECOND + SECOND // 2)]


def test_one_bikes_fast_clock_never_ends_another_bikes_ride() -> None:
    t = tracker(timeout=60 * SECOND)
    fast = 10 * 60 * SECOND  # ten minutes ahead
    steady = [RIDER, *ride_lines(T0, 20)]
    racing = [RIDER._replace(user_id=8, bike_serial="SN0002", at=T0 + fast),
              *ride_lines(T0 + fast, 20)]  # fmt: skip
    for i, (a, b) in enumerate(zip(steady, racing, strict=True)):
        now = T0 + i * SECOND // 2
        t.feed(msg(a, 2 * i), now=now)
        t.feed(msg(b, 2 * i + 1, key=b"SN0002"), now=now)
    batch = t.take()
    assert [(r.bike_serial, r.user_id) for r in batch.new_rides] == [("SN0001", 7), ("SN0002", 8)]
    assert batch.ended_rides == []
    assert sorted({r.ride_id for r in batch.readings}) == [1, 2]
    first = next(r.at for r in batch.readings if r.ride_id == 2)
    assert first == T0 + fast + SECOND  # kept as stamped


def test_lines_far_from_their_broker_time_are_dead_letters() -> None:
    t = tracker()
    day = 86_400 * SECOND
    t.max_skew_us = day
    fine = RideLine(T0 + 5 * 3600 * SECOND, "h v1", 1.0, 30)  # five hours off: believed
    from_1970 = RideLine(0, "h v1", 1.0, 30)
    from_2099 = RideLine(4_070_908_800 * SECOND, "h v1", 1.0, 30)
    for i, record in enumerate((fine, from_1970, from_2099)):
        t.feed(msg(record, i, stamp=T0), now=T0)
    batch = t.take()
    assert [d.position for d in batch.dead_letters] == [1, 2]
    assert all("from the message's broker time" in d.reason for d in batch.dead_letters)
    assert batch.positions == {0: 3}
    t.feed(msg(RideLine(0, "h v1", 1.0, 30), 3, key=b"SN0009"), now=T0)  # no broker time
    assert t.take().dead_letters == []  # nothing to judge it by: kept as stamped


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (b"SN\x000001", "NUL"),
        (b"\xff\xfe", "not UTF-8"),
        (b"S" * 65, "longer than 64 bytes"),
    ],
)
def test_keys_that_cannot_be_a_bike_serial_are_dead_letters(key: bytes, reason: str) -> None:
    t = tracker()
    t.feed(msg(ride_lines(T0, 1)[0], 0, key=key))
    t.feed(msg(ride_lines(T0, 1)[1], 1))
    batch = t.take()
    assert [(d.position, d.key) for d in batch.dead_letters] == [(0, key)]
    assert reason in batch.dead_letters[0].reason
    assert len(batch.new_rides) == 1 and batch.positions == {0: 2}


def test_any_error_handling_one_message_makes_it_a_dead_letter_and_the_stream_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from deleton.core import alerts

    def broken(*args: object) -> object:
        raise ZeroDivisionError("a bug for one reading")

    t = tracker()
    monkeypatch.setattr(alerts, "judge", broken)
    high = ride_lines(T0, 2, hrt=250)  # beyond the limit: the alert rules run, and fail
    for i, record in enumerate([RIDER, *high]):
        t.feed(msg(record, i))
    batch = t.take()
    assert [(d.position, d.reason) for d in batch.dead_letters] == [
        (2, "could not be handled: ZeroDivisionError"),
        (4, "could not be handled: ZeroDivisionError"),
    ]
    assert batch.positions == {0: 5}  # every message accounted for, the stream not stopped


def test_readings_without_a_system_line_start_a_ride_with_unknown_rider() -> None:
    batch = feed(tracker(), ride_lines(T0, 2), key=None)
    assert batch.new_rides == [NewRide(1, "", None, T0 + SECOND, "mendoza v9", None, None)]
    assert [r.at for r in batch.readings] == [T0 + SECOND, T0 + 2 * SECOND]


def test_half_readings_store_what_they_have() -> None:
    lines = ride_lines(T0, 3)
    del lines[1]  # the first Telemetry line never came
    del lines[-2]  # nor the last Ride line
    batch = feed(tracker(), [RIDER, *lines])
    assert batch.readings == [
        ReadingRow(1, T0 + SECOND, 1.0, 30, None, None, None),
        ReadingRow(1, T0 + 2 * SECOND, 2.0, 30, 100, 60, 12.5),
        ReadingRow(1, T0 + 3 * SECOND + SECOND // 2, None, None, 100, 60, 12.5),
    ]


def test_bad_messages_are_dead_letters_and_the_rest_goes_on() -> None:
    t = tracker()
    t.feed(msg(RIDER, 0))
    t.feed(message(0, 1, 2, b"SN0001", b"garbage"))
    t.feed(message(0, 2, 3, b"SN0001", None))
    t.feed(message(0, 3, 4, None, None, unreadable="kcat record payload is not a string"))
    for i, record in enumerate(ride_lines(T0, 2)):
        t.feed(msg(record, 4 + i))
    batch = t.take()
    assert [d.position for d in batch.dead_letters] == [1, 2, 3]
    assert batch.dead_letters[0] == DeadLetter(
        0, 1, b"SN0001", b"garbage", "message value is not JSON"
    )
    assert [r.at for r in batch.readings] == [T0 + SECOND, T0 + 2 * SECOND]
    assert batch.positions == {0: 8}


def test_alert_after_three_readings_beyond_the_limit_once_per_ride() -> None:
    limit = 220 - 52  # born 1970-01-01, riding in November 2022
    high = ride_lines(T0, 8, hrt=limit + 5)
    high[3] = high[3]._replace(heart_rate=0)  # type: ignore[attr-defined]  # no contact: skipped
    batch = feed(tracker(), [RIDER, *high])
    # fired at the third counted reading: the zero one is not counted
    assert batch.alerts == [AlertRow(1, 7, "high", T0 + 4 * SECOND, limit + 5, limit)]


def test_low_alert_needs_pedalling_and_a_real_heart_rate() -> None:
    coasting = ride_lines(T0, 5, hrt=35, rpm=0)
    assert feed(tracker(), [RIDER, *coasting]).alerts == []
    pedalling = ride_lines(T0, 5, hrt=35, rpm=50)
    assert [a.kind for a in feed(tracker(), [RIDER, *pedalling]).alerts] == ["low"]
    no_contact = ride_lines(T0, 5, hrt=0, rpm=50)
    assert feed(tracker(), [RIDER, *no_contact]).alerts == []


def test_unknown_rider_raises_no_alert() -> None:
    assert feed(tracker(), ride_lines(T0, 5, hrt=250)).alerts == []


def stream(bikes: int, seconds: int) -> list[Message]:
    messages: list[Message] = []
    for _, lines in simulated_fleet(bikes, 9, T0).ticks(T0 + seconds * SECOND):
        for key, _, text in lines:
            partition = int(key[2:]) % 2
            messages.append(message(partition, len(messages), len(messages) + 1, key.encode(),
                                    envelope(text)))  # fmt: skip
    return messages


MESSAGES = stream(12, 1200)


def replay(
    cuts: list[int], timeout: int = 5 * SECOND, written: Callable[[bytes], bytes] = bytes
) -> Batch:
    """Feed MESSAGES, checkpointing at each cut: a new tracker resumes from the checkpoints
    (as ``written`` leaves them)."""
    total = Batch()
    ids = itertools.count(1)
    state: dict[int, bytes | None] = {0: None, 1: None}
    position = 0
    for cut in [*sorted(cuts), len(MESSAGES)]:
        t = Tracker(timeout, ids.__next__)
        for partition, checkpoint in state.items():
            t.load(partition, checkpoint)
        for item in MESSAGES[position:cut]:
            t.feed(item)
        if cut == len(MESSAGES):
            t.expire_idle(LATER, state.keys())
        batch = t.take()
        state = {p: written(t.checkpoint(p)) for p in state}
        position = max(position, cut)
        total.readings += batch.readings
        total.new_rides += batch.new_rides
        total.ended_rides += batch.ended_rides
        total.alerts += batch.alerts
    return total


WHOLE = replay([])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, len(MESSAGES)), max_size=8))
def test_checkpoints_anywhere_give_exactly_the_same_rows(cuts: list[int]) -> None:
    assert WHOLE.ended_rides and WHOLE.readings  # the stream holds finished rides
    split = replay(cuts)
    assert split.readings == WHOLE.readings
    assert split.new_rides == WHOLE.new_rides
    assert sorted(split.ended_rides) == sorted(WHOLE.ended_rides)
    assert split.alerts == WHOLE.alerts


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(MESSAGES)), st.booleans()), max_size=12))
def test_a_tracker_checkpointed_again_and_again_gives_the_checkpoint_of_its_bikes(
    cuts: list[tuple[int, bool]],
) -> None:
    """One tracker checkpointed at each cut (some of them after a quiet spell's expiry) gives,
    byte for byte, the checkpoint of all its bikes serialised afresh: the contract any cache
    of serialised bikes must keep (one was tried, see benchmarks/profile_ingest.py)."""
    t = Tracker(5 * SECOND, itertools.count(1).__next__)
    position = 0
    for cut, quiet in [*sorted(cuts), (len(MESSAGES), True)]:
        for item in MESSAGES[position:cut]:
            t.feed(item, now=position)
        position = max(position, cut)
        if quiet:
            t.expire_idle(position + 5 * SECOND + 1, [0])  # partition 1 is not caught up
        t.take()
        for partition in (0, 1):
            assert t.checkpoint(partition) == dumps(t.partitions.get(partition, {}))
    assert t.checkpoint(7) == dumps({})  # a partition never heard of carries nothing


def as_format_2(checkpoint: bytes) -> bytes:
    """``checkpoint`` as main wrote it before names were (format 2): a row per bike, its key
    first and its fields in a fixed order."""
    doc = orjson.loads(checkpoint)
    assert doc["fields"] == list(FIELDS)  # format 2's order, after the key
    return orjson.dumps({"format": 2, "bikes": [[key, *row] for key, row in doc["bikes"].items()]})


def as_unversioned(checkpoint: bytes) -> bytes:
    """``checkpoint`` as the format before 2 wrote it: no "format", the rider's email 7th."""
    rows = orjson.loads(as_format_2(checkpoint))["bikes"]
    return orjson.dumps({"bikes": [[*row[:6], "sam@x.com", *row[6:]] for row in rows]})


@pytest.mark.parametrize("written", [as_format_2, as_unversioned], ids=["2", "unversioned"])
def test_checkpoints_of_earlier_formats_resume_to_exactly_the_same_rows(
    written: Callable[[bytes], bytes],
) -> None:
    """The property above, across an upgrade: every cut's checkpoint written in an earlier
    format and read by today's tracker gives the uninterrupted run's rows."""
    cuts = [len(MESSAGES) // 3, 2 * len(MESSAGES) // 3]
    total = replay(cuts, written=written)
    assert total.readings == WHOLE.readings and total.new_rides == WHOLE.new_rides
    assert sorted(total.ended_rides) == sorted(WHOLE.ended_rides) and total.alerts == WHOLE.alerts


def test_forgetting_a_ride_leaves_its_bike_with_nothing_open() -> None:
    t = tracker()
    for i, record in enumerate(
        [RIDER, *ride_lines(T0, 2), RideLine(T0 + 3 * SECOND, "h v", 3.0, 30)]
    ):
        t.feed(msg(record, i))
    t.feed(msg(RIDER._replace(user_id=9), 10, key=b"SN0002"))
    checkpoint = t.checkpoint(0)
    kept = Tracker(60 * SECOND, itertools.count(50).__next__)
    kept.load(0, forget_rides(checkpoint, {1}))
    assert set(kept.partitions[0]) == {b"SN0002"}  # ride 1's bike is no longer carried
    kept.feed(msg(ride_lines(T0 + 4 * SECOND, 1)[1], 11))  # its next line: a new ride
    batch = kept.take()
    assert [r.ride_id for r in batch.new_rides] == [50] and batch.readings[0].ride_id == 50


def test_a_checkpoint_names_the_rider_by_id_and_holds_no_contact_details() -> None:
    t = tracker()
    for i, record in enumerate([RIDER, *ride_lines(T0, 2)]):
        t.feed(msg(record, i))
    checkpoint = t.checkpoint(0)
    assert b"sam@x.com" not in checkpoint and b"Lee" not in checkpoint
    assert b"High" not in checkpoint
    doc = orjson.loads(checkpoint)
    bike = dict(zip(doc["fields"], doc["bikes"]["SN0001"], strict=True))
    assert (bike["ride_id"], bike["user_id"]) == (1, 7)


@settings(max_examples=10, deadline=None)
@given(st.integers(1, len(MESSAGES) - 1))
def test_a_checkpoint_of_an_earlier_format_reads_as_this_one(cut: int) -> None:
    ids = itertools.count(1)
    first = Tracker(5 * SECOND, ids.__next__)
    for partition in (0, 1):
        first.load(partition, None)
    for item in MESSAGES[:cut]:
        first.feed(item)
    done = first.take()
    for partition in (0, 1):
        checkpoint = first.checkpoint(partition)
        for written in (as_format_2, as_unversioned):
            old = Tracker(5 * SECOND, ids.__next__)
            old.load(partition, written(checkpoint))
            assert old.checkpoint(partition) == checkpoint  # nothing lost or misread
    # and before ``heard`` was kept (11 fields with the email): the bike's own time stands in
    rows = orjson.loads(as_unversioned(first.checkpoint(0)))["bikes"]
    older = Tracker(5 * SECOND, ids.__next__)
    older.load(0, orjson.dumps({"bikes": [row[:11] for row in rows]}))
    for key, bike in older.partitions[0].items():
        assert bike.heard == bike.last_at
        assert bike.ride_id == first.partitions[0][key].ride_id
    assert done.messages == cut


def test_a_ride_and_its_alerts_carry_when_their_riders_line_reached_the_broker() -> None:
    """Ingestion judges an erasure by the broker's time of the [SYSTEM] line, never by the
    bike's clock (L1): the ride and every alert of it carry that time, across a checkpoint
    too; a ride of an unknown rider, or one opened by a line with no broker time, none."""
    limit = 220 - 52
    stamp = T0 - 3_600 * SECOND  # the bike's clock is an hour fast
    t = tracker()
    t.feed(msg(RIDER, 0, stamp=stamp), now=T0)
    first = t.take()
    resumed = tracker()
    resumed.load(0, t.checkpoint(0))
    for i, record in enumerate(ride_lines(T0, 4, hrt=limit + 5)):
        resumed.feed(msg(record, 1 + i), now=T0)
    assert first.new_rides[0].named_at == stamp
    assert [a.named_at for a in resumed.take().alerts] == [stamp]
    plain = feed(tracker(), [RIDER, *ride_lines(T0, 4, hrt=limit + 5)])
    assert plain.new_rides[0].named_at is None and plain.alerts[0].named_at is None
    unknown = feed(tracker(), ride_lines(T0, 2))
    assert unknown.new_rides[0].named_at is None
