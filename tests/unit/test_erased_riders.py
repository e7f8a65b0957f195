"""Ingestion's rule for erased riders (``postgres.store._not_erased``), without a database: a
line dated before its rider's erasure brings nothing of them back; a later one is a new
visit; anyone else's lines are untouched; the same lines and erasures give the same rows."""

from __future__ import annotations

from deleton.core.batch import AlertRow, Batch, NewRide
from deleton.core.records import RiderLine
from deleton.postgres.store import _not_erased

ERASED_AT = 1_000_000


def rider(user_id: int, at: int) -> RiderLine:
    return RiderLine(at, "h v1", user_id, "Sam Lee", "male", "1,High st,Leeds,LS1 1AA", 0,
                 "sam@example.org", 180, 80, 0, "SN0001", "direct")  # fmt: skip


def test_lines_before_an_erasure_bring_nothing_back_and_later_ones_are_a_new_visit() -> None:
    batch = Batch(
        riders={7: rider(7, ERASED_AT - 1), 8: rider(8, ERASED_AT - 1), 9: rider(9, ERASED_AT)},
        new_rides=[
            NewRide(1, "SN0001", 7, ERASED_AT - 1, "h v1", "male", 52),
            NewRide(2, "SN0002", 8, ERASED_AT - 1, "h v1", "male", 52),
            NewRide(3, "SN0003", 9, ERASED_AT + 1, "h v1", "female", 30),
            NewRide(4, "SN0004", None, ERASED_AT - 1, "h v1", None, None),
        ],
        alerts=[
            AlertRow(1, 7, "high", ERASED_AT - 1, 190, 168),
            AlertRow(2, 8, "high", ERASED_AT - 1, 190, 168),
            AlertRow(3, 9, "high", ERASED_AT + 2, 200, 190),
        ],
    )
    erased = {7: ERASED_AT, 9: ERASED_AT - 5}  # 9 came back after their erasure
    riders, rides, alerts = _not_erased(batch, erased)
    assert sorted(r.user_id for r in riders) == [8, 9]
    assert rides[0] == NewRide(1, "SN0001", None, ERASED_AT - 1, "h v1", None, None)
    assert rides[1:] == batch.new_rides[1:]
    assert [a.ride_id for a in alerts] == [2, 3]
    assert _not_erased(batch, erased) == (riders, rides, alerts)  # a replay: the same rows
    assert _not_erased(batch, {}) == (list(batch.riders.values()), batch.new_rides, batch.alerts)
