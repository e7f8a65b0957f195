"""The per-bike state machine: ride boundaries, readings, alerts, and state carried across a
checkpoint exactly."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from deleton.core.batch import AlertRow, Batch, DeadLetter, NewRide, ReadingRow, RideEnd
from deleton.core.messages import Message, message
from deleton.core.records import Marker, RideLine, Rider, TelemetryLine
from deleton.core.tracker import Tracker
from deleton.core.wire import envelope, format_value
from deleton.simulator.riders import simulated_fleet
from tests.harness.fleet import SECOND, START

T0 = START
RIDER = Rider(T0, "mendoza v9", 7, "Mr Sam Lee", "male", "1 High st,Leeds,LS1 1AA",
              0, "sam@x.com", 180, 80, 0, "SN0001", "direct")  # fmt: skip  # born 1970


def tracker(timeout: int = 60 * SECOND) -> Tracker:
    return Tracker(timeout, itertools.count(1).__next__)


def msg(
    record: object, position: int, key: bytes | None = b"SN0001", partition: int = 0
) -> Message:
    return message(partition, position, position + 1, key, format_value(record))  # type: ignore[arg-type]


def feed(t: Tracker, records: list[object], key: bytes | None = b"SN0001") -> Batch:
    for i, record in enumerate(records):
        t.feed(msg(record, i, key))
    t.expire_idle()
    return t.take()


def ride_lines(start: int, seconds: int, hrt: int = 100, rpm: int = 60) -> list[object]:
    out: list[object] = []
    for s in range(1, seconds + 1):
        out.append(RideLine(start + s * SECOND, "mendoza v9", float(s), 30))
        out.append(TelemetryLine(start + s * SECOND + SECOND // 2, "mendoza v9", hrt, rpm, 12.5))
    return out


def test_a_ride_from_system_line_to_marker() -> None:
    batch = feed(tracker(), [RIDER, *ride_lines(T0, 3), Marker("--------- beginning of main")])
    assert batch.new_rides == [NewRide(1, "SN0001", 7, T0, "mendoza v9")]
    assert batch.ended_rides == [RideEnd(1, T0 + 3 * SECOND + SECOND // 2)]  # its last line
    assert [r.at for r in batch.readings] == [T0 + s * SECOND for s in (1, 2, 3)]  # Ride lines
    assert batch.readings[0] == ReadingRow(1, T0 + SECOND, 1.0, 30, 100, 60, 12.5)
    assert batch.riders == {7: RIDER}


def test_next_system_line_and_silence_end_rides() -> None:
    t = tracker(timeout=10 * SECOND)
    second = RIDER._replace(at=T0 + 100 * SECOND)
    batch = feed(t, [RIDER, *ride_lines(T0, 2), second, *ride_lines(second.at, 30)])
    assert [r.ride_id for r in batch.new_rides] == [1, 2]
    assert batch.ended_rides == [RideEnd(1, T0 + 2 * SECOND + SECOND // 2)]
    # silence judged on message time: another bike's messages move the partition on
    other = [(RideLine(second.at + 60 * SECOND, "x y", 1.0, 0))]
    for i, record in enumerate(other):
        t.feed(msg(record, 100 + i, key=b"SN0002"))
    t.expire_idle()
    assert RideEnd(2, second.at + 30 * SECOND + SECOND // 2) in t.take().ended_rides


def test_readings_without_a_system_line_start_a_ride_with_unknown_rider() -> None:
    batch = feed(tracker(), ride_lines(T0, 2), key=None)
    assert batch.new_rides == [NewRide(1, "", None, T0 + SECOND, "mendoza v9")]
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
    assert batch.alerts == [AlertRow(1, 7, "high", T0 + 4 * SECOND, limit + 5, limit, "sam@x.com")]


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


def replay(cuts: list[int], timeout: int = 5 * SECOND) -> Batch:
    """Feed MESSAGES, checkpointing at each cut: a new tracker resumes from the snapshots."""
    total = Batch()
    ids = itertools.count(1)
    state: dict[int, bytes | None] = {0: None, 1: None}
    position = 0
    for cut in [*sorted(cuts), len(MESSAGES)]:
        t = Tracker(timeout, ids.__next__)
        for partition, snapshot in state.items():
            t.load(partition, snapshot)
        for item in MESSAGES[position:cut]:
            t.feed(item)
        t.expire_idle()
        batch = t.take()
        state = {p: t.snapshot(p) for p in state}
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
