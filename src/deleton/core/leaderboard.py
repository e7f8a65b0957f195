"""The live leaderboard (Issue 20): everyone riding now, ranked by energy this ride, and
everyone who rode today, ranked by energy over the day's rides.

Pure. Built from what the platform already keeps up to date, not from a scan: the riding
bikes from the fleet's snapshot (``FleetStatus``, read from ``daily.bike_latest``, whose
running tallies carry each ride's energy and seconds in each heart-rate zone) and the day's
rides from the recent rides' incremental tallies (``RideFacts``). One board is built a
snapshot and shared by every screen and API caller; a row is made only for those shown.

Energy is ranked as it is shown, in tenths of a kJ (half up): two riders shown with the same
energy share a place. Places follow ``core.training.places``: descending, ties share a place
(1, 2, 2, 4). A ride whose energy is not known whole (its tally was not kept, which only a
rolling upgrade leaves), a rider nobody knows (no ``[SYSTEM]`` line) and a ride on a bike being
checked (an open health finding, ``core.bike_health``: its power may read wrong) are not
ranked; the last are marked ``CHECKING``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import NamedTuple, overload

import numpy as np
import numpy.typing as npt

from .fleet_status import FleetStatus
from .summaries import RideFacts

NOW, TODAY = "now", "today"
PERIODS = (NOW, TODAY)
UNKNOWN_RIDER = "unknown"
CHECKING = "unranked: this bike is being checked"  # why a ride on a flagged bike has no place

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


def tenths_kj(energy_j: Floats) -> Floats:
    """Energy in tenths of a kJ, half up (energy is never negative); NaN stays NaN."""
    return np.floor(np.asarray(energy_j, dtype=np.float64) / 100 + 0.5)


def places_in_order(values: Floats) -> Ints:
    """The places of ``values`` sorted descending: each the place of the first value equal to
    it (``training.places`` over an ordered list, as SQL's ``rank()``)."""
    n = len(values)
    if not n:
        return np.empty(0, dtype=np.int64)
    starts = np.ones(n, dtype=bool)
    starts[1:] = values[1:] != values[:-1]
    return np.maximum.accumulate(np.where(starts, np.arange(n), 0)) + 1


def rider_text(first_name: str | None, last_initial: str | None) -> str:
    """How a leaderboard names a rider: first name and last initial (``Ada L.``)."""
    if not first_name:
        return UNKNOWN_RIDER
    return f"{first_name} {last_initial}." if last_initial else first_name


class Standing(NamedTuple):
    """A row of a leaderboard. ``place`` is None for a ride not ranked (energy not known).
    On the board of riders riding now: the ride, its bike, its time so far, the zone of its
    newest heart rate and its effort points so far. On today's: the rider and their rides."""

    place: int | None
    rider: str
    user_id: int | None
    energy_kj: float | None
    seconds: float
    rides: int
    bike_serial: str | None = None
    ride_id: int | None = None
    hr_zone: int | None = None
    effort_points: float | None = None
    unranked: str | None = None  # why a ride that could be ranked is not (``CHECKING``)


class Board(Sequence[Standing]):
    """A leaderboard: its rows in order (the ranked by place, then those not ranked), made as
    they are asked for. ``ranked`` of ``len(board)`` have a place; ``as_of``: when it was
    made (µs)."""

    def __init__(
        self,
        period: str,
        as_of: int,
        order: Ints,
        places: Ints,
        row: Callable[[int, int | None], Standing],
        values: Floats | None = None,
    ) -> None:
        self.period = period
        self.as_of = as_of
        self.ranked = len(places)
        self._order, self._places, self._row = order, places, row
        self._values = values  # the ranked values, descending (``place_of``)

    def place_of(self, tenths: float) -> int | None:
        """The place a value of ``tenths`` (of a kJ, as ranked) holds on this board: one more
        than the values above it (ties share a place). None when it is NaN or the board keeps
        no values."""
        if self._values is None or np.isnan(tenths):
            return None
        return int(np.searchsorted(-self._values, -tenths, side="left")) + 1

    def __len__(self) -> int:
        return len(self._order)

    def _at(self, i: int) -> Standing:
        place = int(self._places[i]) if i < self.ranked else None
        return self._row(int(self._order[i]), place)

    @overload
    def __getitem__(self, index: int) -> Standing: ...
    @overload
    def __getitem__(self, index: slice) -> list[Standing]: ...
    def __getitem__(self, index: int | slice) -> Standing | list[Standing]:
        if isinstance(index, slice):
            return [self._at(i) for i in range(len(self))[index]]
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        return self._at(index % len(self))


def _ranked(tenths: Floats) -> tuple[Ints, Ints]:
    """The order of ``tenths`` (the known ones by value descending, ties in their order, then
    the unknown) and the places of the known."""
    known = ~np.isnan(tenths)
    keys = np.where(known, -tenths, 0.0)
    ranked = np.flatnonzero(known)
    ranked = ranked[np.argsort(keys[ranked], kind="stable")]
    order = np.concatenate([ranked, np.flatnonzero(~known)])
    return order, places_in_order(tenths[ranked])


def energy_text(kj: float | None) -> str:
    """Energy as a leaderboard shows and ranks it: kJ to 0.1 (``1,234.5 kJ``)."""
    return "–" if kj is None else f"{kj:,.1f} kJ"


def riding_now(fleet: FleetStatus) -> Board:
    """The bikes riding now (``FleetStatus.riding_rows``), ranked by their ride's energy: made
    once per snapshot of the fleet, however many ask."""
    return fleet.memo(NOW, lambda: _riding_now(fleet))


def _riding_now(fleet: FleetStatus) -> Board:
    rides, rows = fleet.rides, fleet.riding_rows
    tenths = tenths_kj(rides.energy_j[rows])
    # a ride with energy but no rider known is not ranked: no one to place
    tenths[rides.first_name[rows] == None] = np.nan  # noqa: E711  (object array: elementwise)
    checking = _checking(fleet)[rows]
    shown = tenths.copy()  # a bike being checked shows its energy, without a place
    tenths[checking] = np.nan
    order, places = _ranked(tenths)
    seconds = fleet.seconds

    def row(i: int, place: int | None) -> Standing:
        slot = int(rows[i])
        return Standing(
            place,
            rider_text(rides.first_name[slot], rides.last_initial[slot]),
            None,
            None if np.isnan(shown[i]) else float(shown[i]) / 10,
            float(seconds[slot]),
            1,
            str(rides.bike_serial[slot]),
            int(rides.ride_id[slot]),
            fleet.hr_zone(slot),
            fleet.effort_points(slot),
            CHECKING if checking[i] else None,
        )

    return Board(NOW, fleet.now, order, places, row, tenths[order[: len(places)]])


def _checking(fleet: FleetStatus) -> npt.NDArray[np.bool_]:
    """Whether each open ride's bike is being checked (``FleetStatus.checked``)."""
    if not fleet.checked:
        return np.zeros(len(fleet.rides.ride_id), dtype=bool)
    return np.isin(fleet.rides.bike_serial, list(fleet.checked))


def place_of_ride(fleet: FleetStatus, slot: int) -> tuple[int | None, int]:
    """Ride ``slot``'s place on the board of riders riding now, and how many are ranked there:
    (None, ranked) when it is not ranked (not riding, energy or rider not known, or its bike
    being checked: ``being_checked``)."""
    board = riding_now(fleet)
    rows, rides = fleet.riding_rows, fleet.rides
    at = int(np.searchsorted(rows, slot))
    riding = at < len(rows) and int(rows[at]) == slot
    if not riding or rides.first_name[slot] is None or being_checked(fleet, slot):
        return None, board.ranked
    return board.place_of(float(tenths_kj(rides.energy_j[slot : slot + 1])[0])), board.ranked


def being_checked(fleet: FleetStatus, slot: int) -> bool:
    """Whether open ride ``slot``'s bike has an open health finding: its ride is unranked."""
    return str(fleet.rides.bike_serial[slot]) in fleet.checked


class RiderDay(NamedTuple):
    """A rider's rides of a day, as today's board ranks them."""

    user_id: int
    rides: int
    seconds: float
    energy_j: float


def rider_days(rides: Iterable[RideFacts], since: int) -> list[RiderDay]:
    """Each known rider's rides started at or after ``since`` (µs), summed: energy is the sum
    of their rides' power readings (a reading a second: joules). An erased rider's rides
    (their user id a negative tombstone) count for no one."""
    days: dict[int, list[float]] = {}
    for ride in rides:
        if ride.user_id is None or ride.user_id < 0 or ride.started_at < since:
            continue
        day = days.get(ride.user_id)
        if day is None:
            day = days[ride.user_id] = [0, 0.0, 0.0]
        day[0] += 1
        day[1] += ride.seconds
        day[2] += ride.tally.power_sum
    return [RiderDay(user, int(n), seconds, energy) for user, (n, seconds, energy) in days.items()]


def today(days: Sequence[RiderDay], as_of: int) -> Board:
    """Riders ranked by their energy over ``days`` as of ``as_of`` (µs); rows come without
    names (``named``)."""
    tenths = tenths_kj(np.array([day.energy_j for day in days], dtype=np.float64))
    order, places = _ranked(tenths)

    def row(i: int, place: int | None) -> Standing:
        day = days[i]
        return Standing(
            place, UNKNOWN_RIDER, day.user_id, float(tenths[i]) / 10, day.seconds, day.rides
        )

    return Board(TODAY, as_of, order, places, row)


def named(
    rows: Iterable[Standing], names: Mapping[int, tuple[str | None, str | None]]
) -> list[Standing]:
    """``rows`` of today's board with their riders' names (first name, last initial) from
    ``names``, read for the rows shown only."""
    unknown = (None, None)
    return [
        row._replace(rider=rider_text(*names.get(row.user_id, unknown)))
        if row.user_id is not None
        else row
        for row in rows
    ]
