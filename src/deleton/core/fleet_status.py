"""The fleet right now: which bikes are riding, how hard, and in what order staff should look.

Pure: the caller passes the open rides (from the database) and the time. One ``FleetStatus`` is
built per snapshot and shared by every screen and API caller, so each order asked for is
sorted once per snapshot.

The fleet is held as columns (``OpenRides``, numpy arrays with one entry a ride), not as an
object a bike: at 50,000 bikes riding, each sending a reading a second, every bike changes
between two snapshots, and building, judging and sorting 50,000 Python objects a second took
longer than the second (about 300 ms on a quiet two-core machine). The status of the whole
fleet is a few array operations; a ``BikeStatus`` is made only for the rows a screen shows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from typing import Any, NamedTuple, TypeVar, overload

import numpy as np
import numpy.typing as npt

from .alerts import ZONES, high_limit, urgency, zone
from .readings import LatestReading
from .training import EFFORT_DECIMALS, ZONE_SHARES

ALERTING_ZONES = ("dangerously high", "too low", "high")  # counted on their own, most urgent first
# the fleet's words for a bike whose heart rate names no zone
NO_CONTACT, NOTHING = "no contact", "–"

# What the columns hold where a value is missing: no reading yet, a null column, an unknown age
NO_TIME = np.iinfo(np.int64).min  # µs
MISSING = -1  # heart rate, resistance, rpm: runs of digits on the wire, never negative
NO_AGE = np.iinfo(np.int64).min  # an age may be negative (a birth date ahead of the ride)

T = TypeVar("T")
Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Texts = npt.NDArray[np.object_]


class OpenRide(NamedTuple):
    """An open ride, with its newest reading (``None`` before the first)."""

    bike_serial: str
    ride_id: int
    started_at: int  # µs since the epoch
    first_name: str | None  # None: the ride's [SYSTEM] line was never seen
    age: int | None  # at ride start
    latest: LatestReading | None
    # seconds in heart-rate zones 1 to 5 so far; None: not known whole
    zone_seconds: tuple[int, int, int, int, int] | None = None

    @property
    def last_seen(self) -> int:
        return self.latest.at if self.latest else self.started_at


def _or_none(value: Any, missing: Any) -> Any:
    return None if value == missing else value


@dataclass(frozen=True, eq=False)  # arrays have no truth value: identity is equality here
class OpenRides:
    """Every open ride, one a bike, as columns of equal length (entry ``i`` of each is ride
    ``i``); a missing value is ``NO_TIME``, ``MISSING``, ``NO_AGE`` or NaN as its column says.
    The arrays are read-only from construction: one value is shared by every screen while
    its reader goes on to the next."""

    bike_serial: Texts  # str
    ride_id: Ints
    started_at: Ints  # µs since the epoch
    first_name: Texts  # str, or None: the ride's [SYSTEM] line was never seen
    age: Ints  # at ride start
    # the ride's newest reading: its time (NO_TIME before the first), then its values
    at: Ints
    duration: Floats  # seconds, as the bike reports it
    heart_rate: Ints
    power: Floats
    resistance: Ints
    rpm: Ints
    # what the leaderboard shows: the rider's last name's first letter (None: not known), the
    # ride's energy so far in joules (NaN: not known whole), and its seconds in heart-rate
    # zones 1 to 5 (a row of five a ride; MISSING: not known whole)
    last_initial: Texts
    energy_j: Floats
    zone_seconds: Ints

    def __post_init__(self) -> None:
        for field in fields(self):
            getattr(self, field.name).flags.writeable = False

    @classmethod
    def of(cls, rides: Sequence[OpenRide]) -> OpenRides:
        """The columns of ``rides`` (for tests and small fleets: a snapshot reads columns)."""
        latest = [ride.latest or LatestReading(NO_TIME, None, None, None, None, None)
                  for ride in rides]  # fmt: skip

        def ints(values: list[int | None]) -> Ints:
            return np.array([MISSING if v is None else v for v in values], dtype=np.int64)

        def floats(values: list[float | None]) -> Floats:
            return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

        return cls(
            bike_serial=np.array([ride.bike_serial for ride in rides], dtype=object),
            ride_id=np.array([ride.ride_id for ride in rides], dtype=np.int64),
            started_at=np.array([ride.started_at for ride in rides], dtype=np.int64),
            first_name=np.array([ride.first_name for ride in rides], dtype=object),
            age=np.array([NO_AGE if r.age is None else r.age for r in rides], dtype=np.int64),
            at=np.array([r.at for r in latest], dtype=np.int64),
            duration=floats([r.duration for r in latest]),
            heart_rate=ints([r.heart_rate for r in latest]),
            power=floats([r.power for r in latest]),
            resistance=ints([r.resistance for r in latest]),
            rpm=ints([r.rpm for r in latest]),
            last_initial=np.full(len(rides), None, dtype=object),
            energy_j=np.full(len(rides), np.nan),
            zone_seconds=np.array(
                [ride.zone_seconds or (MISSING,) * 5 for ride in rides], dtype=np.int64
            ).reshape(len(rides), 5),
        )

    def __len__(self) -> int:
        return len(self.ride_id)

    def ride(self, i: int) -> OpenRide:
        """Ride ``i`` as one object."""
        at = int(self.at[i])
        latest = None
        if at != NO_TIME:
            duration, power = float(self.duration[i]), float(self.power[i])
            latest = LatestReading(
                at,
                None if np.isnan(duration) else duration,
                _or_none(int(self.heart_rate[i]), MISSING),
                None if np.isnan(power) else power,
                _or_none(int(self.resistance[i]), MISSING),
                _or_none(int(self.rpm[i]), MISSING),
            )
        zones = self.zone_seconds[i]
        return OpenRide(
            str(self.bike_serial[i]),
            int(self.ride_id[i]),
            int(self.started_at[i]),
            self.first_name[i],
            _or_none(int(self.age[i]), NO_AGE),
            latest,
            None if (zones == MISSING).any() else tuple(int(z) for z in zones),  # type: ignore[arg-type]
        )

    def __iter__(self) -> Iterator[OpenRide]:
        return (self.ride(i) for i in range(len(self)))

    def last_seen(self) -> Ints:
        """Each ride's newest reading's time, or its start before the first (µs)."""
        return np.where(self.at == NO_TIME, self.started_at, self.at)


class BikeStatus(NamedTuple):
    """A riding bike as the fleet table and the API show it."""

    serial: str
    rider: str  # first name only, or "unknown"
    seconds: float
    heart_rate: int | None  # None: no reading with a heart rate yet
    zone: str  # a zone, "no contact" or "–"
    effort: float  # heart rate over the rider's maximum
    ride_id: int
    hr_zone: int | None  # the training zone (1-5) of the newest heart rate: None without one
    effort_points: float | None  # so far; None: zones not known whole, or no age


DEFAULT_ORDER = ("zone", True)  # most urgent first
# the orders a fleet can be shown in; "zone": most urgent first, then the hardest working
SORT_KEYS = ("zone", "duration", "heart_rate", "hr_zone", "effort_points", "bike", "rider")


def fleet_zone(heart_rate: int | None, age: int | None) -> str:
    """The zone the fleet shows for a bike's newest heart rate: ``alerts.zone``'s, else
    "no contact" (heart rate 0) or "–" (nothing to judge)."""
    return zone(heart_rate, age) or (NO_CONTACT if heart_rate == 0 else NOTHING)


# Every word fleet_zone can give, and fleet_zone itself as a table over the heart rates and
# ages a rider can have, so that the fleet's zones are one rule applied to arrays: row 0 is
# an unknown age and row a + 1 age a; column 0 no heart rate and column h + 1 heart rate h.
# Past the table's last heart rate every rider's zone is the one at it (dangerously high at
# every age the table holds, "–" at an unknown age), so heart rates are clipped to it.
WORDS = (NOTHING, NO_CONTACT, *ZONES)
_URGENCIES = np.array([urgency(word) for word in WORDS], dtype=np.int64)
_AGES, _HEART_RATES = 150, 255
_TABLE = np.array(
    [[WORDS.index(fleet_zone(hr, age)) for hr in (None, *range(_HEART_RATES + 1))]
     for age in (None, *range(_AGES + 1))],
    dtype=np.int64,
)  # fmt: skip
assert all(  # the clipping above holds: nothing changes past the last heart rate
    fleet_zone(hr, age) == fleet_zone(_HEART_RATES, age)
    for hr in (_HEART_RATES + 1, 1000) for age in (None, 0, _AGES)
)  # fmt: skip


def fleet_zones(heart_rate: Ints, age: Ints) -> Ints:
    """``fleet_zone`` of each (heart rate, age), as indexes into ``WORDS``; a heart rate of
    ``MISSING`` and an age of ``NO_AGE`` are None."""
    in_table = (age >= 0) & (age <= _AGES)
    rows = np.where(in_table, age + 1, 0)
    found = _TABLE[rows, np.clip(heart_rate, MISSING, _HEART_RATES) + 1]
    for i in np.flatnonzero(~in_table & (age != NO_AGE)):  # an age past the table: rare
        hr = int(heart_rate[i])
        found[i] = WORDS.index(fleet_zone(None if hr == MISSING else hr, int(age[i])))
    return found


def seconds_ridden(rides: OpenRides, now: int) -> Floats:
    """``readings.ride_seconds`` (the rule) of every ride at once: as its bike reports it,
    else from its start to its newest reading (to ``now`` before the first). A test holds the
    two together."""
    until = np.where(rides.at == NO_TIME, now, rides.at)
    return np.where(np.isnan(rides.duration), (until - rides.started_at) / 1e6, rides.duration)


def efforts(heart_rate: Ints, age: Ints) -> Floats:
    """Each heart rate over its rider's maximum (``alerts.high_limit``); 0 without both."""
    known = age != NO_AGE
    limit = np.where(known, high_limit(np.where(known, age, 0)), 0)  # type: ignore[arg-type]
    return np.divide(np.maximum(heart_rate, 0), limit, out=np.zeros(len(age)), where=limit != 0)


def hr_zones(heart_rate: Ints, age: Ints) -> Ints:
    """``training.hr_zone`` of each (heart rate, age at ride start): 1 to 5, or 0 for None
    (no contact, or ``NO_AGE``). Exact integers, as ``training.zone_edges``."""
    known = (age != NO_AGE) & (heart_rate > 0)
    top = high_limit(np.where(known, age, 0))  # type: ignore[arg-type]
    hundredths = 100 * heart_rate
    found = 1 + sum((hundredths >= share * top).astype(np.int64) for share in ZONE_SHARES)
    return np.where(known, found, 0)


_WEIGHTS = np.arange(1, 6, dtype=np.int64)  # effort points' weights of zones 1 to 5
_EFFORT_SCALE = 10**EFFORT_DECIMALS


def effort_points(zone_seconds: Ints, age: Ints) -> Floats:
    """``training.effort_points`` of each row of zone seconds, NaN where the zones are not
    known whole or the rider's age is not known (no zones without a maximum). Σ seconds ×
    weight is exact; in tenths, half up, it is ⌊(Σ + 3) / 6⌋ (Σ / 60 minutes × 10)."""
    weighted = zone_seconds @ _WEIGHTS
    assert _EFFORT_SCALE == 10  # the integer rounding below is for one decimal
    tenths = (weighted + 3) // 6
    known = (zone_seconds != MISSING).all(axis=1) & (age != NO_AGE)
    return np.where(known, tenths / _EFFORT_SCALE, np.nan)


class Bikes(Sequence[BikeStatus]):
    """Riding bikes in one order, made into ``BikeStatus`` as they are asked for."""

    def __init__(self, fleet: FleetStatus, order: Ints) -> None:
        self._fleet, self._order = fleet, order

    def __len__(self) -> int:
        return len(self._order)

    @overload
    def __getitem__(self, index: int) -> BikeStatus: ...
    @overload
    def __getitem__(self, index: slice) -> list[BikeStatus]: ...
    def __getitem__(self, index: int | slice) -> BikeStatus | list[BikeStatus]:
        if isinstance(index, slice):
            return [self._fleet.bike(int(i)) for i in self._order[index]]
        return self._fleet.bike(int(self._order[index]))


class FleetStatus:
    """Each open ride, and the bikes riding at ``now`` (they sent something within the idle
    timeout), ready to sort."""

    def __init__(
        self, rides: OpenRides, now: int, idle_timeout_us: int, checked: Iterable[str] = ()
    ) -> None:
        """``checked``: the bikes with open health findings (``core.bike_health``), which the
        live leaderboard leaves unranked."""
        self.rides = rides
        self.now = now
        self.checked = frozenset(checked)
        self._riding = np.flatnonzero(rides.last_seen() >= now - idle_timeout_us)
        self._seconds = seconds_ridden(rides, now)
        self._zones = fleet_zones(rides.heart_rate, rides.age)
        self._effort = efforts(rides.heart_rate, rides.age)
        self._hr_zones = hr_zones(rides.heart_rate, rides.age)
        self._effort_points = effort_points(rides.zone_seconds, rides.age)
        self.riding = len(self._riding)  # bikes riding now
        found = np.bincount(self._zones[self._riding], minlength=len(WORDS))
        self.counts = {name: int(found[WORDS.index(name)]) for name in ALERTING_ZONES}
        self._orders: dict[tuple[str, bool], Bikes] = {}
        self._derived: dict[str, Any] = {}  # views made of this snapshot (memo)
        # the order every fleet page and /bikes open with, sorted as the status is built (in
        # the shared rebuild, off the viewers' path)
        self.ordered(*DEFAULT_ORDER)

    @property
    def riding_rows(self) -> Ints:
        """The rows of ``rides`` riding now, in the rides' order."""
        return self._riding

    @property
    def seconds(self) -> Floats:
        """Each ride's time so far (``seconds_ridden``), a row a ride."""
        return self._seconds

    def hr_zone(self, i: int) -> int | None:
        """The training zone of ride ``i``'s newest heart rate (``training.hr_zone``)."""
        return int(self._hr_zones[i]) or None

    def effort_points(self, i: int) -> float | None:
        """Ride ``i``'s effort points so far (``training.effort_points``), if known."""
        points = float(self._effort_points[i])
        return None if np.isnan(points) else points

    def row_of(self, ride_id: int) -> int | None:
        """The row of open ride ``ride_id``, if it is in this snapshot."""
        found = np.flatnonzero(self.rides.ride_id == ride_id)
        return int(found[0]) if len(found) else None

    def bike(self, i: int) -> BikeStatus:
        """Ride ``i`` as the fleet shows it."""
        rides = self.rides
        hr = int(rides.heart_rate[i])
        return BikeStatus(
            str(rides.bike_serial[i]),
            rides.first_name[i] or "unknown",
            float(self._seconds[i]),
            hr if hr > 0 else None,
            WORDS[self._zones[i]],
            float(self._effort[i]),
            int(rides.ride_id[i]),
            self.hr_zone(i),
            self.effort_points(i),
        )

    def ordered(self, column: str, descending: bool) -> Bikes:
        """The riding bikes by ``column`` (``zone``: most urgent, then hardest working, first);
        an unknown column sorts by zone. Ties keep the rides' order, in either direction."""
        if column not in SORT_KEYS:
            column = "zone"
        order = self._orders.get((column, descending))
        if order is None:  # two screens may sort at once; both get the same order
            order = self._orders[column, descending] = Bikes(self, self._sort(column, descending))
        return order

    def _sort(self, column: str, descending: bool) -> Ints:
        riding, rides = self._riding, self.rides
        sign = -1 if descending else 1  # stable both ways, as sorted(..., reverse=True) is
        if column in ("bike", "rider"):  # text: by Python's comparison, on demand only
            texts = (rides.bike_serial if column == "bike" else
                     [(name or "unknown").lower() for name in rides.first_name])  # fmt: skip
            key: Callable[[int], Any] = texts.__getitem__
            return np.array(sorted(riding.tolist(), key=key, reverse=descending), dtype=np.int64)
        if column == "zone":
            keys = (sign * self._effort[riding], sign * _URGENCIES[self._zones[riding]])
            return riding[np.lexsort(keys)]
        if column == "duration":
            values: Any = self._seconds[riding]
        elif column == "hr_zone":  # none below every zone
            values = np.where(self._hr_zones[riding] > 0, self._hr_zones[riding], MISSING)
        elif column == "effort_points":  # unknown below every figure
            values = np.nan_to_num(self._effort_points[riding], nan=MISSING)
        else:  # heart rate, none (or no contact) below every other
            values = rides.heart_rate[riding]
            values = np.where(values > 0, values, MISSING)
        return riding[np.argsort(sign * values, kind="stable")]

    def memo(self, name: str, make: Callable[[], T]) -> T:
        """``make()``, once per snapshot under ``name``: a view derived from the snapshot (the
        leaderboard), shared by every screen and caller of it. Two callers at once may both
        make it; both get an equal view."""
        found = self._derived.get(name)
        if found is None:
            found = self._derived[name] = make()
        return found

    def most_recent(self) -> str | None:
        """The serial of the bike heard from last, if any ride is open."""
        if not len(self.rides):
            return None
        return str(self.rides.bike_serial[int(np.argmax(self.rides.last_seen()))])
