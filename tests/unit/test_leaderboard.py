"""The leaderboard's order and places (core/leaderboard.py) against fleets whose energies are
known, and its places against the reference rule (core/training.places)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from deleton.core import leaderboard, training
from deleton.core.fleet_status import FleetStatus, OpenRide, OpenRides
from deleton.core.readings import LatestReading
from deleton.core.summaries import RideFacts, Tally

NOW = 1_800_000_000_000_000


def fleet(
    energies: list[float | None],
    names: list[str | None] | None = None,
    checked: tuple[str, ...] = (),
) -> FleetStatus:
    """Riding bikes SN0..SNn whose rides have the energies given (J; None: not known whole)."""
    rides = [
        OpenRide(f"SN{i}", i + 1, NOW - 600_000_000, (names or [f"R{i}"] * len(energies))[i], 30,
                 LatestReading(NOW - 1_000_000, 599.0, 150, 200.0, 30, 80))
        for i in range(len(energies))
    ]  # fmt: skip
    columns = OpenRides.of(rides)
    energy = np.array([np.nan if e is None else e for e in energies], dtype=np.float64)
    zones = np.tile(np.array([60, 120, 180, 120, 120], dtype=np.int64), (len(rides), 1))
    initials = np.array(["L"] * len(rides), dtype=object)
    fields = {name: getattr(columns, name) for name in columns.__dataclass_fields__}
    whole = {**fields, "energy_j": energy, "zone_seconds": zones, "last_initial": initials}
    return FleetStatus(OpenRides(**whole), NOW, 60_000_000, checked)


def test_riding_now_ranks_by_energy_shown_ties_share_a_place_and_unknown_come_last() -> None:
    # 98.44 and 98.36 kJ both show as 98.4: one place; 98.35 rounds half up to 98.4 too
    board = leaderboard.riding_now(fleet([50_000, 98_440, None, 98_360, 120_000, 98_350]))
    rows = board[:]
    assert [(r.place, r.bike_serial, r.energy_kj) for r in rows] == [
        (1, "SN4", 120.0), (2, "SN1", 98.4), (2, "SN3", 98.4), (2, "SN5", 98.4),
        (5, "SN0", 50.0), (None, "SN2", None),
    ]  # fmt: skip
    assert board.ranked == 5 and len(board) == 6
    top = rows[0]
    assert top.rider == "R4 L." and top.hr_zone == training.hr_zone(150, 190)
    # 60 s zone 1 + 120 s zone 2 + 180 s zone 3 + 120 s zone 4 + 120 s zone 5 = 1,920 / 60
    assert top.effort_points == 32.0 and top.seconds == 599.0
    assert leaderboard.riding_now(board_fleet := fleet([1.0])) is leaderboard.riding_now(
        board_fleet
    )


def test_a_rider_nobody_knows_is_shown_and_not_ranked() -> None:
    board = leaderboard.riding_now(fleet([10_000, 20_000], names=["Ada", None]))
    assert [(r.place, r.rider) for r in board] == [(1, "Ada L."), (None, "unknown")]


def test_today_sums_each_riders_rides_of_the_day_and_ranks_them() -> None:
    since = NOW - 3_600_000_000

    def ride(ride_id: int, user: int | None, started: int, joules: float) -> RideFacts:
        return RideFacts(ride_id, user, None, 30, started, started + 60_000_000,
                         Tally(60, joules, 60, 0, 0, started + 59_000_000))  # fmt: skip

    rides = [
        ride(1, 7, since, 30_000),
        ride(2, 7, since + 1, 20_000),
        ride(3, 8, since, 50_000),
        ride(4, 9, since - 1, 90_000),
        ride(5, None, since, 99_000),
        ride(6, -3, since, 99_000),
    ]  # fmt: skip  (6: an erased rider's tombstone)
    board = leaderboard.today(leaderboard.rider_days(rides, since), NOW)
    named = leaderboard.named(board[:], {7: ("Ada", "L"), 8: ("Bo", None)})
    assert [(r.place, r.rider, r.rides, r.energy_kj) for r in named] == [
        (1, "Ada L.", 2, 50.0),
        (1, "Bo", 1, 50.0),
    ]


@given(st.lists(st.integers(0, 20), max_size=40))
def test_places_are_the_reference_rules(values: list[int]) -> None:
    ordered = sorted(values, reverse=True)
    found = leaderboard.places_in_order(np.array(ordered, dtype=np.float64)).tolist()
    assert found == training.places(ordered)


def test_a_rides_own_place_is_its_row_on_the_board_and_nothing_for_one_not_ranked() -> None:
    status = fleet([50_000, 98_440, None, 98_360, 120_000, 98_350], names=[
        "A", "B", "C", "D", "E", None])  # fmt: skip
    board = leaderboard.riding_now(status)
    shown = {row.ride_id: row.place for row in board}
    for slot in range(len(status.rides)):
        ride_id = int(status.rides.ride_id[slot])
        assert leaderboard.place_of_ride(status, slot) == (shown[ride_id], board.ranked)
    assert leaderboard.place_of_ride(status, 3) == (2, 4)  # 98.4 kJ: shares second
    idle = FleetStatus(status.rides, NOW + 120_000_000, 60_000_000)  # nobody heard from
    assert leaderboard.place_of_ride(idle, 4) == (None, 0)


def test_a_bike_being_checked_shows_its_energy_unranked_and_the_rest_close_up() -> None:
    """A ride on a bike with an open health finding keeps its row and energy, with no place
    and the mark saying why; those below it move up; its own screen has no place either."""
    status = fleet([50_000, 120_000, 98_000], checked=("SN1", "SN9"))  # SN9 is not riding
    board = leaderboard.riding_now(status)
    assert [(r.place, r.bike_serial, r.energy_kj, r.unranked) for r in board] == [
        (1, "SN2", 98.0, None), (2, "SN0", 50.0, None),
        (None, "SN1", 120.0, leaderboard.CHECKING),
    ]  # fmt: skip
    assert board.ranked == 2
    assert leaderboard.being_checked(status, 1) and not leaderboard.being_checked(status, 0)
    assert leaderboard.place_of_ride(status, 1) == (None, 2)
    assert leaderboard.place_of_ride(status, 2) == (1, 2)
