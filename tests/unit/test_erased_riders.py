"""Ingestion's rule for erased riders (``postgres.store._not_erased``), without a database: a
line that reached the broker before its rider's erasure brings nothing of them back, whatever
the bike's clock wrote on it; one that reached it later is a new visit; a line with no broker
time, or from a topic that does not bound its producers' clocks by the margin, brings no
erased rider back; anyone else's lines are untouched; the same lines and erasures give the
same rows. And a refused message that may hold a rider keeps none of its bytes."""

from __future__ import annotations

import hashlib

import pytest

from deleton.core.batch import AlertRow, Batch, DeadLetter, NewRide
from deleton.core.privacy import broker_time_margin, may_hold_rider_data
from deleton.core.records import RiderLine
from deleton.core.wire import format_value
from deleton.postgres.store import _not_erased, dead_letter_row

ERASED_AT = 1_000_000
HOUR = 3_600_000_000


def rider(user_id: int, at: int) -> RiderLine:
    return RiderLine(at, "h v1", user_id, "Sam Lee", "male", "1,High st,Leeds,LS1 1AA", 0,
                 "sam@example.org", 180, 80, 0, "SN0001", "direct")  # fmt: skip


def test_lines_held_before_an_erasure_bring_nothing_back_and_later_ones_are_a_new_visit() -> None:
    batch = Batch(
        riders={7: rider(7, ERASED_AT - 1), 8: rider(8, ERASED_AT - 1), 9: rider(9, ERASED_AT)},
        rider_lines=[
            (rider(7, ERASED_AT - 1), ERASED_AT - 1),
            (rider(8, ERASED_AT - 1), ERASED_AT - 1),
            (rider(9, ERASED_AT), ERASED_AT + 1),
        ],
        new_rides=[
            NewRide(1, "SN0001", 7, ERASED_AT - 1, "h v1", "male", 52, ERASED_AT - 1),
            NewRide(2, "SN0002", 8, ERASED_AT - 1, "h v1", "male", 52, ERASED_AT - 1),
            NewRide(3, "SN0003", 9, ERASED_AT + 1, "h v1", "female", 30, ERASED_AT + 1),
            NewRide(4, "SN0004", None, ERASED_AT - 1, "h v1", None, None, None),
        ],
        alerts=[
            AlertRow(1, 7, "high", ERASED_AT - 1, 190, 168, ERASED_AT - 1),
            AlertRow(2, 8, "high", ERASED_AT - 1, 190, 168, ERASED_AT - 1),
            AlertRow(3, 9, "high", ERASED_AT + 2, 200, 190, ERASED_AT + 1),
        ],
    )
    erased = {7: ERASED_AT, 9: ERASED_AT - 5}  # 9 came back after their erasure
    riders, rides, alerts = _not_erased(batch, erased, 0)
    assert sorted(r.user_id for r in riders) == [8, 9]
    assert rides[0] == NewRide(1, "SN0001", None, ERASED_AT - 1, "h v1", None, None, ERASED_AT - 1)
    assert rides[1:] == batch.new_rides[1:]
    assert [a.ride_id for a in alerts] == [2, 3]
    assert _not_erased(batch, erased, 0) == (riders, rides, alerts)  # a replay: the same rows
    assert _not_erased(batch, {}, 0) == (list(batch.riders.values()), batch.new_rides, batch.alerts)


def test_a_fast_bike_clock_does_not_undo_an_erasure() -> None:
    """L1: the line reached the broker before the erasure; the bike's clock, an hour fast,
    dated it after. Its rider, ride and alerts stay anonymous."""
    fast = ERASED_AT + HOUR
    batch = Batch(
        riders={7: rider(7, fast)},
        rider_lines=[(rider(7, fast), ERASED_AT - 1)],
        new_rides=[NewRide(1, "SN0001", 7, fast, "h v1", "male", 52, ERASED_AT - 1)],
        alerts=[AlertRow(1, 7, "high", fast + 5, 190, 168, ERASED_AT - 1)],
    )
    riders, rides, alerts = _not_erased(batch, {7: ERASED_AT}, 0)
    assert riders == [] and alerts == []
    assert rides == [NewRide(1, "SN0001", None, fast, "h v1", None, None, ERASED_AT - 1)]


def test_a_line_without_a_broker_time_brings_no_erased_rider_back() -> None:
    """A dump of bare values has no broker time: its lines are the past, whatever their
    dates, and an erased rider stays erased; riders never erased are stored as ever."""
    later = ERASED_AT + HOUR
    batch = Batch(
        riders={7: rider(7, later), 8: rider(8, later)},
        rider_lines=[(rider(7, later), None), (rider(8, later), None)],
        new_rides=[
            NewRide(1, "SN0001", 7, later, "h v1", "male", 52, None),
            NewRide(2, "SN0002", 8, later, "h v1", "male", 52, None),
        ],
        alerts=[AlertRow(1, 7, "high", later, 190, 168, None)],
    )
    riders, rides, alerts = _not_erased(batch, {7: ERASED_AT}, 0)
    assert [r.user_id for r in riders] == [8]
    assert [r.user_id for r in rides] == [None, 8]
    assert alerts == []


def test_a_rider_back_after_their_erasure_keeps_the_profile_they_came_back_with() -> None:
    """In one batch, a line held since before the erasure (dated later by a fast clock, with
    the old email) and the rider's new visit (the new email): the rider row is the visit's."""
    stale = rider(7, ERASED_AT + 2 * HOUR)
    visit = rider(7, ERASED_AT + HOUR)._replace(email="new@example.org")
    batch = Batch(
        riders={7: stale},  # the newest by the bike's clock
        rider_lines=[(stale, ERASED_AT - 1), (visit, ERASED_AT + HOUR)],
        new_rides=[
            NewRide(1, "SN0001", 7, stale.at, "h v1", "male", 52, ERASED_AT - 1),
            NewRide(2, "SN0002", 7, visit.at, "h v1", "male", 52, ERASED_AT + HOUR),
        ],
    )
    riders, rides, _ = _not_erased(batch, {7: ERASED_AT}, 0)
    assert riders == [visit]
    assert [r.user_id for r in rides] == [None, 7]


def test_a_producers_clock_may_run_ahead_by_the_margin_and_no_more() -> None:
    """A CreateTime is the producer's clock, which the broker lets run ``margin`` ahead of
    its own (Kafka's message.timestamp.after.max.ms, an hour by default): a line stamped
    within the margin after the erasure may have reached the broker before it, and brings
    nothing back; one stamped beyond it came later."""
    within, beyond = ERASED_AT + HOUR, ERASED_AT + HOUR + 1
    batch = Batch(
        riders={7: rider(7, beyond)},
        rider_lines=[(rider(7, within), within), (rider(7, beyond), beyond)],
        new_rides=[
            NewRide(1, "SN0001", 7, within, "h v1", "male", 52, within),
            NewRide(2, "SN0002", 7, beyond, "h v1", "male", 52, beyond),
        ],
    )
    riders, rides, _ = _not_erased(batch, {7: ERASED_AT}, HOUR)
    assert riders == [rider(7, beyond)]
    assert [r.user_id for r in rides] == [None, 7]


def test_a_topic_whose_producers_may_stamp_beyond_the_margin_brings_no_erased_rider_back() -> None:
    """No margin (None): the topic lets producers stamp further ahead than the margin, or
    would not say how far. No broker time, however late, shows that a line came after the
    erasure; riders never erased are stored as ever (fourth review, finding A)."""
    days_later = ERASED_AT + 72 * HOUR
    batch = Batch(
        riders={7: rider(7, days_later), 8: rider(8, days_later)},
        rider_lines=[(rider(7, days_later), days_later), (rider(8, days_later), days_later)],
        new_rides=[
            NewRide(1, "SN0001", 7, days_later, "h v1", "male", 52, days_later),
            NewRide(2, "SN0002", 8, days_later, "h v1", "male", 52, days_later),
        ],
        alerts=[AlertRow(1, 7, "high", days_later, 190, 168, days_later)],
    )
    riders, rides, alerts = _not_erased(batch, {7: ERASED_AT}, None)
    assert [r.user_id for r in riders] == [8]
    assert [r.user_id for r in rides] == [None, 8]
    assert alerts == []
    assert [r.user_id for r in _not_erased(batch, {7: ERASED_AT}, HOUR)[0]] == [8, 7]


@pytest.mark.parametrize(
    ("timestamp_type", "after_max_ms", "trusted"),
    [
        ("LogAppendTime", None, True),  # the broker's clock: its bound does not matter
        ("LogAppendTime", 2**63 - 1, True),
        ("CreateTime", 3_600_000, True),  # Kafka 4's default, the margin as shipped
        ("CreateTime", 60_000, True),
        ("CreateTime", 3_600_001, False),
        ("CreateTime", 2**63 - 1, False),  # every Kafka before 4.0, MSK 3.x
        ("CreateTime", None, False),  # the broker would not say
        ("CreateTime", -1, False),
        (None, None, False),  # describing the topic was refused
        ("SomethingNew", 0, False),
    ],
)
def test_broker_times_are_trusted_only_as_far_as_the_topic_bounds_them(
    timestamp_type: str | None, after_max_ms: int | None, trusted: bool
) -> None:
    margin = broker_time_margin(timestamp_type, after_max_ms, HOUR)
    assert margin == (HOUR if trusted else None)


def test_a_shorter_margin_than_the_topics_bound_is_not_trusted() -> None:
    assert broker_time_margin("CreateTime", 3_600_000, HOUR - 1) is None
    assert broker_time_margin("LogAppendTime", 3_600_000, 0) == 0


SYSTEM = format_value(rider(7, ERASED_AT)).replace(b'"gender\\":\\"male\\"', b'"gender\\":12')


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        (SYSTEM, False),
        (SYSTEM.replace(b"SYSTEM", b"SYSTM"), False),  # a mistyped tag still holds a rider
        (
            b'{"log": "2022-11-03 18:42:03.0 mendoza v9: [SYSTEM] data = {\\"user_id\\": }\\n"}',
            False,
        ),
        (b'{"log": "\\u0053ome line\\n"}', False),  # an escape may spell anything
        (b'{"log": "mail sam@example.org\\n"}', False),
        (
            b'{"log": "2022-11-03 18:42:02.422451 mendoza v9: [INFO]: Ride - duration = x;'
            b' resistance = 0\\n"}',
            True,
        ),
        (
            b'{"log": "2022-11-03 18:42:02.922469 mendoza v9: [INFO]: Telemetry - hrt = -1;'
            b' rpm = 0; power = 0.0\\n"}',
            True,
        ),
        (b"not json at all", True),
        (b"\xff\xfe\x00", True),
        (None, True),
    ],
)
def test_a_refused_message_that_may_hold_a_rider_keeps_only_its_reason_position_and_length(
    value: bytes | None, kept: bool
) -> None:
    """Fourth review, finding B: a dead letter kept a refused [SYSTEM] line whole, so one
    refused after its rider's erasure stored them again (an erased rider's line can only be
    recognised by an id it may not even hold legibly)."""
    assert may_hold_rider_data(value) is not kept
    row = dead_letter_row("kafka:t", DeadLetter(0, 5, b"SN1", value, "why"), 1024)
    source, partition, position, key, stored, length, digest, reason = row
    assert (source, partition, position, key, reason) == ("kafka:t", 0, 5, b"SN1", "why")
    assert length == (None if value is None else len(value))
    if kept:
        assert stored == value
        assert digest == (None if value is None else hashlib.sha256(value).digest())
    else:
        assert (stored, digest) == (None, None)
