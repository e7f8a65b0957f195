"""Bike health from telemetry (Issue 21): which bikes need a mechanic or read power wrong,
judged from what they send. Pure: the caller passes rides' readings, the fleet's readings and
times; nothing here reads a clock.

Gym members rarely report a broken bike; they move to the next one. These bikes do not measure
power: it is a fixed function of resistance and cadence, so the same (resistance, rpm) gives
the same power on every reading of a sound bike, and a bike whose table drifted or whose
sensor stuck shows in its data. The kinds of finding (their names are the API's and the
table's, and ``core.simulation.FAULT_KINDS`` makes one fault of each):

``silent``
    A rider logged in (a ``[SYSTEM]`` line) and no telemetry followed within 60 s, on two
    rides in a row.
``resistance_stuck``
    One resistance value for a whole ride of at least 5 minutes while cadence took at least
    3 distinct values, on 2 such rides in a row by different riders.
``cadence_stuck``
    Power above 0 with rpm 0 for 30 readings in a row, or one rpm for 300 readings in a row
    while power changed, on a ride.
``heart_strap``
    No heart-rate contact for whole rides, on 3 rides in a row by at least 2 different riders
    (one rider without a strap is not a broken strap).
``power_drift``
    The bike's power against the fleet's own model of it: the median power of the fleet's
    readings at each (resistance, rpm), rpm above 0. The bike's drift is the median over its
    readings with a model value of (power / model) - 1, over at least 600 of them; flagged
    from 5% either way, cleared below 3% (between the two a finding stays as it was).
    A bike with a stuck sensor (``cadence_stuck``, ``resistance_stuck``) is not judged for
    drift: its power is compared at a resistance or rpm it does not ride (``DRIFT_NOT_JUDGED``).
``offline``
    No line at all for ``DELETON_OFFLINE_AFTER`` from a bike seen before, judged against the
    newest line in the data, not the wall clock.

A ride-based finding clears when the bike's next ride that could show it shows none of it
(``HealthState.feed`` says which rides qualify for each kind).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

SILENT = "silent"
RESISTANCE_STUCK = "resistance_stuck"
CADENCE_STUCK = "cadence_stuck"
HEART_STRAP = "heart_strap"
POWER_DRIFT = "power_drift"
OFFLINE = "offline"
KINDS = (SILENT, RESISTANCE_STUCK, CADENCE_STUCK, HEART_STRAP, POWER_DRIFT, OFFLINE)
RIDE_KINDS = (SILENT, RESISTANCE_STUCK, CADENCE_STUCK, HEART_STRAP)  # judged ride by ride

SECOND_US = 1_000_000
SILENT_WITHIN_US = 60 * SECOND_US  # telemetry after a [SYSTEM] line within this, or silent
SILENT_RIDES = 2
STUCK_RIDE_S = 300  # a ride must last this long to show a stuck resistance
STUCK_CADENCES = 3  # distinct rpm values while the resistance held one
STUCK_RIDES = 2  # such rides in a row, by different riders
ZERO_CADENCE_RUN = 30  # readings in a row of power above 0 at rpm 0
HELD_CADENCE_RUN = 300  # readings in a row of one rpm while power changed
STRAP_RIDES = 3  # rides in a row without contact
STRAP_RIDERS = 2  # by at least this many riders
DRIFT_FLAG = 0.05  # |drift| from which a bike is flagged
DRIFT_CLEAR = 0.03  # |drift| below which its finding clears
DRIFT_READINGS = 600  # readings with a model value needed to judge a bike's drift
# a bike with an open finding of these kinds is not judged for drift: its power is compared at
# a resistance or rpm it does not ride, and would read as drift that is not
DRIFT_NOT_JUDGED = ("cadence_stuck", "resistance_stuck")

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


class RideSignals(NamedTuple):
    """What one ride says about its bike, from its readings in time order."""

    ride_id: int
    user_id: int | None  # None: no [SYSTEM] line known
    started_at: int  # µs: its [SYSTEM] line
    first_reading_at: int | None  # µs; None: no telemetry at all
    seconds: float  # from its start to its newest reading (0 without one)
    readings: int
    resistances: int  # distinct resistance values
    cadences: int  # distinct rpm values
    contact: int  # readings with a heart rate above 0
    zero_cadence_run: int  # longest run of readings with power above 0 and rpm 0
    held_cadence_run: int  # longest run of readings of one rpm in which power changed


def _runs(values: npt.NDArray[Any]) -> tuple[Ints, Ints]:
    """The starts and lengths of the runs of equal values in ``values``."""
    if not len(values):
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    lengths = np.diff(np.append(starts, len(values)))
    return starts, lengths


def longest_true_run(flags: npt.NDArray[np.bool_]) -> int:
    """The longest run of True in ``flags``."""
    starts, lengths = _runs(flags)
    held = lengths[flags[starts]] if len(starts) else lengths
    return int(held.max()) if len(held) else 0


def held_cadence_run(rpm: Ints, power: Floats) -> int:
    """The longest run of readings of one rpm during which power took more than one value."""
    starts, lengths = _runs(rpm)
    longest = 0
    for start, length in zip(starts.tolist(), lengths.tolist(), strict=True):
        if length > longest:
            run = power[start : start + length]
            if (run != run[0]).any():
                longest = length
    return longest


def ride_signals(
    ride_id: int,
    user_id: int | None,
    started_at: int,
    at: Ints,
    resistance: Ints,
    rpm: Ints,
    power: Floats,
    heart_rate: Ints,
) -> RideSignals:
    """The signals of one ride from its readings, in time order: their times (µs),
    resistance, rpm, power (W) and heart rate (0: no contact). A value a reading lacks (a Ride
    line without its Telemetry line, or the other way round) is -1 (resistance, rpm) or NaN
    (power): it is no value, so never a stuck one; the held cadence is judged over the
    readings with both rpm and power."""
    n = len(at)
    whole = (rpm >= 0) & ~np.isnan(power)
    return RideSignals(
        ride_id,
        user_id,
        started_at,
        int(at[0]) if n else None,
        (int(at[-1]) - started_at) / SECOND_US if n else 0.0,
        n,
        len(np.unique(resistance[resistance >= 0])),
        len(np.unique(rpm[rpm >= 0])),
        int((heart_rate > 0).sum()),
        longest_true_run((power > 0) & (rpm == 0)),
        held_cadence_run(rpm[whole], power[whole]),
    )


class Finding(NamedTuple):
    """An open finding of a bike: its kind, since when and until when it was seen (µs, the
    rides' starts or the data's times), and its evidence (rides, figures), JSON-ready."""

    kind: str
    first_seen: int
    last_seen: int
    detail: Mapping[str, Any]


class Change(NamedTuple):
    """A finding opened or updated (``finding``), or cleared at ``at`` (µs)."""

    bike_serial: str
    kind: str
    cleared: bool
    at: int
    finding: Finding | None  # the finding as it now stands; None when cleared


def _silent(ride: RideSignals) -> bool:
    return ride.first_reading_at is None or (
        ride.first_reading_at - ride.started_at > SILENT_WITHIN_US
    )


def _stuck_resistance(ride: RideSignals) -> bool:
    return ride.resistances == 1


def _shows_stuck_resistance(ride: RideSignals) -> bool:
    """A ride long enough, with cadence varied enough, to show a stuck resistance."""
    return ride.seconds >= STUCK_RIDE_S and ride.cadences >= STUCK_CADENCES


def _stuck_cadence(ride: RideSignals) -> bool:
    return ride.zero_cadence_run >= ZERO_CADENCE_RUN or ride.held_cadence_run >= HELD_CADENCE_RUN


# each ride-based kind: whether a ride could show it (qualifies), and whether it does
_QUALIFIES: dict[str, Callable[[RideSignals], bool]] = {
    SILENT: lambda ride: True,
    RESISTANCE_STUCK: _shows_stuck_resistance,
    CADENCE_STUCK: lambda ride: ride.readings >= ZERO_CADENCE_RUN,
    HEART_STRAP: lambda ride: ride.readings > 0,
}
_SHOWS: dict[str, Callable[[RideSignals], bool]] = {
    SILENT: _silent,
    RESISTANCE_STUCK: _stuck_resistance,
    CADENCE_STUCK: _stuck_cadence,
    HEART_STRAP: lambda ride: ride.contact == 0,
}
_IN_A_ROW = {SILENT: SILENT_RIDES, RESISTANCE_STUCK: STUCK_RIDES, CADENCE_STUCK: 1,
             HEART_STRAP: STRAP_RIDES}  # fmt: skip
_RIDERS = {RESISTANCE_STUCK: STUCK_RIDES, HEART_STRAP: STRAP_RIDERS}  # distinct riders among them


def _evidence(kind: str, rides: Sequence[RideSignals]) -> dict[str, Any]:
    detail: dict[str, Any] = {"rides": [ride.ride_id for ride in rides]}
    newest = rides[-1]
    if kind == CADENCE_STUCK:
        detail["zero_cadence_readings"] = newest.zero_cadence_run
        detail["held_cadence_readings"] = newest.held_cadence_run
    elif kind == RESISTANCE_STUCK:
        detail["cadences"] = [ride.cadences for ride in rides]
    elif kind == SILENT:
        detail["telemetry_after_s"] = [
            None if r.first_reading_at is None else (r.first_reading_at - r.started_at) / 1e6
            for r in rides
        ]
    return detail


@dataclass
class HealthState:
    """One bike's ride-based health: its recent qualifying rides per kind (newest last) and
    its open findings. Fed the bike's rides in order, once each; what it keeps is bounded by
    the longest run a kind needs, so checks run over what is new, not over history."""

    bike_serial: str
    recent: dict[str, list[RideSignals]] = field(default_factory=dict)
    open: dict[str, Finding] = field(default_factory=dict)

    def feed(self, ride: RideSignals) -> list[Change]:
        """The bike's next ride (each ride once, in order of start): the findings it opens,
        updates or clears."""
        changes = []
        for kind in RIDE_KINDS:
            if not _QUALIFIES[kind](ride):
                continue
            kept = self.recent.setdefault(kind, [])
            kept.append(ride)
            del kept[: -_IN_A_ROW[kind]]
            shows = [r for r in kept if _SHOWS[kind](r)]
            found = len(shows) == _IN_A_ROW[kind] and (
                kind not in _RIDERS
                or len({r.user_id for r in shows if r.user_id is not None}) >= _RIDERS[kind]
            )
            was = self.open.get(kind)
            if found:
                # rides may come out of start order (a clock stepped back, a ride closed late)
                starts = [r.started_at for r in kept]
                first = min(starts) if was is None else min(was.first_seen, *starts)
                last = max(starts) if was is None else max(was.last_seen, *starts)
                now = Finding(kind, first, last, _evidence(kind, kept))
                self.open[kind] = now
                changes.append(Change(self.bike_serial, kind, False, ride.started_at, now))
            elif was is not None and not _SHOWS[kind](ride):
                del self.open[kind]  # the next ride that could show it shows none of it
                changes.append(Change(self.bike_serial, kind, True, ride.started_at, None))
        return changes


class PowerSamples(NamedTuple):
    """Readings as the power model reads them: their bike (an index into a list of serials),
    resistance, rpm and power."""

    bike: Ints
    resistance: Ints
    rpm: Ints
    power: Floats


_RPM_KEYS = 1_000_000  # a pair's key: resistance * this + rpm


def _modelled(resistance: Ints, rpm: Ints) -> npt.NDArray[np.bool_]:
    """Readings the model counts: rpm above 0, and both values ones a key can tell apart
    (nothing real comes near the limits; a reading that does is bad data, left out)."""
    return (rpm > 0) & (rpm < _RPM_KEYS) & (resistance >= 0) & (resistance < _RPM_KEYS)


def _pair_keys(resistance: Ints, rpm: Ints) -> Ints:
    return resistance.astype(np.int64) * _RPM_KEYS + rpm.astype(np.int64)


@dataclass(frozen=True)
class PowerModel:
    """The fleet's median power at each (resistance, rpm) pair, rpm above 0."""

    keys: Ints  # sorted pair keys
    medians: Floats

    @classmethod
    def of(cls, samples: PowerSamples) -> PowerModel:
        ones = np.ones(len(samples.power), dtype=np.int64)
        return cls.of_cells(samples.resistance, samples.rpm, samples.power, ones)

    @classmethod
    def of_cells(cls, resistance: Ints, rpm: Ints, power: Floats, readings: Ints) -> PowerModel:
        """The model from readings counted by (resistance, rpm, power) (``model_cells``): what
        runs keep of the fleet's days."""
        moving = _modelled(resistance, rpm) & ~np.isnan(power)
        keys, medians, _ = weighted_medians(
            _pair_keys(resistance[moving], rpm[moving]), power[moving], readings[moving]
        )
        return cls(keys, medians)

    def at(self, resistance: Ints, rpm: Ints) -> Floats:
        """The model's power at each pair; NaN where the fleet has no reading of it (or the
        rpm is 0)."""
        keys = _pair_keys(resistance, rpm)
        if not len(self.keys):
            return np.full(len(keys), np.nan)
        where = np.clip(np.searchsorted(self.keys, keys), 0, len(self.keys) - 1)
        found = (self.keys[where] == keys) & _modelled(resistance, rpm)
        return np.where(found, self.medians[where], np.nan)


class Drift(NamedTuple):
    """A bike's power against the model: the median of (power / model) - 1 over ``readings``
    readings with a model value above 0."""

    drift: float
    readings: int


def drifts(samples: PowerSamples, model: PowerModel, bikes: int) -> list[Drift | None]:
    """Each bike's (0 to ``bikes`` - 1) drift from ``samples``; None under
    ``DRIFT_READINGS`` readings with a model value."""
    expected = model.at(samples.resistance, samples.rpm)
    usable = ~np.isnan(expected) & (expected > 0)
    bike = samples.bike[usable]
    ratio = samples.power[usable] / expected[usable] - 1
    order = np.lexsort((ratio, bike))
    bike, ratio = bike[order], ratio[order]
    found: list[Drift | None] = [None] * bikes
    starts, lengths = _runs(bike)
    for start, length in zip(starts.tolist(), lengths.tolist(), strict=True):
        if length >= DRIFT_READINGS:
            middle = (ratio[start + (length - 1) // 2] + ratio[start + length // 2]) / 2
            found[int(bike[start])] = Drift(float(middle), length)
    return found


def drift_finding(drift: Drift | None, was: Finding | None, at: int) -> tuple[Finding | None, bool]:
    """The bike's ``power_drift`` finding after judging ``drift`` at ``at`` (µs), given the
    one open before (``was``), and whether that one cleared: flagged from ``DRIFT_FLAG``
    either way, cleared below ``DRIFT_CLEAR``; between the two, and without enough readings,
    it stays as it was."""
    if drift is None:
        return was, False
    size = abs(drift.drift)
    detail = {"drift_pct": round(drift.drift * 100, 1), "readings": drift.readings}
    if size >= DRIFT_FLAG:
        return Finding(POWER_DRIFT, was.first_seen if was else at, at, detail), False
    if was is not None and size < DRIFT_CLEAR:
        return None, True
    if was is not None:
        return was._replace(last_seen=at, detail=detail), False
    return None, False


def offline(last_line_at: int, newest_line_at: int, after_us: int) -> bool:
    """Whether a bike last heard at ``last_line_at`` is offline when the newest line in the
    data is at ``newest_line_at``: silent for ``after_us`` or more."""
    return newest_line_at - last_line_at >= after_us


def rides_signals(
    rides: Sequence[tuple[int, int | None, int]],
    ride_of: Ints,
    at: Ints,
    resistance: Ints,
    rpm: Ints,
    power: Floats,
    heart_rate: Ints,
) -> list[RideSignals]:
    """``ride_signals`` of many rides at once, in array operations (a day's rides are tens of
    thousands, their readings millions): ``rides`` their id, rider (None: unknown) and start
    (µs); each reading's ride (``ride_of``, an index into ``rides``), with the readings of a
    ride together and in time order."""
    count = len(rides)
    size = len(at)
    readings = np.bincount(ride_of, minlength=count)
    ends = np.cumsum(readings)
    starts = ends - readings
    had = readings > 0
    first = np.where(had, at[np.minimum(starts, max(size - 1, 0))] if size else 0, 0)
    last = np.where(had, at[np.maximum(ends - 1, 0)] if size else 0, 0)

    def distinct(values: Ints) -> Ints:
        """Each ride's distinct values, a value below 0 (none) left out."""
        some = values >= 0
        order = np.lexsort((values[some], ride_of[some]))
        ride, value = ride_of[some][order], values[some][order]
        new = np.ones(len(ride), dtype=bool)
        new[1:] = (ride[1:] != ride[:-1]) | (value[1:] != value[:-1])
        return np.bincount(ride[new], minlength=count)

    def longest(
        rides: Ints, values: npt.NDArray[Any], counted: Callable[[Ints], npt.NDArray[np.bool_]]
    ) -> Ints:
        """Each ride's longest run of equal ``values`` (each one's ride in ``rides``) among
        the runs ``counted`` (given the runs' starts)."""
        out = np.zeros(count, dtype=np.int64)
        n = len(values)
        if not n:
            return out
        edge = np.ones(n, dtype=bool)
        edge[1:] = (values[1:] != values[:-1]) | (rides[1:] != rides[:-1])
        run_starts = np.flatnonzero(edge)
        lengths = np.diff(np.append(run_starts, n))
        kept = counted(run_starts)
        np.maximum.at(out, rides[run_starts[kept]], lengths[kept])
        return out

    zero = (power > 0) & (rpm == 0)
    zero_runs = longest(ride_of, zero, lambda run_starts: zero[run_starts])
    # the held cadence over the readings with both rpm and power (as ride_signals)
    whole = (rpm >= 0) & ~np.isnan(power)
    held_power = power[whole]

    def power_changed(run_starts: Ints) -> npt.NDArray[np.bool_]:
        low = np.minimum.reduceat(held_power, run_starts)
        changed: npt.NDArray[np.bool_] = low != np.maximum.reduceat(held_power, run_starts)
        return changed

    held_runs = longest(ride_of[whole], rpm[whole], power_changed)
    resistances = distinct(resistance)
    cadences = distinct(rpm)
    contact = np.bincount(ride_of[heart_rate > 0], minlength=count)
    return [
        RideSignals(
            ride_id,
            user_id,
            started,
            int(first[i]) if had[i] else None,
            (int(last[i]) - started) / SECOND_US if had[i] else 0.0,
            int(readings[i]),
            int(resistances[i]),
            int(cadences[i]),
            int(contact[i]),
            int(zero_runs[i]),
            int(held_runs[i]),
        )
        for i, (ride_id, user_id, started) in enumerate(rides)
    ]


def state_json(state: HealthState) -> dict[str, list[list[Any]]]:
    """What a bike's ``HealthState`` keeps between runs besides its open findings (which
    their own table keeps): its recent qualifying rides per kind, JSON-ready, without their
    riders. A rider's id kept here would outlive their erasure (which gives their rides a
    tombstone id); ``state_of`` takes each ride's rider from the rides as they are then."""
    return {kind: [list(ride._replace(user_id=None)) for ride in rides]
            for kind, rides in state.recent.items()}  # fmt: skip


def state_of(
    bike_serial: str,
    recent: Mapping[str, Sequence[Sequence[Any]]],
    open_: Mapping[str, Finding],
    riders: Mapping[int, int | None],
) -> HealthState:
    """A bike's ``HealthState`` from ``state_json``'s form, its open findings, and each kept
    ride's rider as the rides now say (a ride gone: None, no rider known)."""
    return HealthState(
        bike_serial,
        {kind: [RideSignals(*ride)._replace(user_id=riders.get(ride[0])) for ride in rides]
         for kind, rides in recent.items()},
        dict(open_),
    )  # fmt: skip


def weighted_medians(keys: Ints, values: Floats, weights: Ints) -> tuple[Ints, Floats, Ints]:
    """For each distinct key, the median of its values each counted ``weights`` times (the
    middle one, or the mean of the two middle ones), and the weight of all its values; keys
    in order."""
    order = np.lexsort((values, keys))
    keys, values, weights = keys[order], values[order], weights[order]
    starts, _ = _runs(keys)
    total = np.add.reduceat(weights, starts) if len(starts) else weights[:0]
    reach = np.cumsum(weights)  # how many counted values end at each, all keys before with
    before = reach[starts] - weights[starts]
    low = np.searchsorted(reach, before + (total - 1) // 2, side="right")
    high = np.searchsorted(reach, before + total // 2, side="right")
    return keys[starts], (values[low] + values[high]) / 2, total


RATIO_SCALE = 10_000  # a reading's power / model - 1 is kept in 0.01% steps between runs
MAX_RATIO = 1_000.0  # |power / model - 1| from which a reading is bad data, not drift


def ratio_cells(model: PowerModel, samples: PowerSamples) -> tuple[Ints, Ints, Ints]:
    """Each bike's readings with a model value, counted by (power / model) - 1 in
    ``RATIO_SCALE`` steps: (bike, ratio step, readings). What a run keeps of a day's readings
    to judge drift over days without reading them again."""
    expected = model.at(samples.resistance, samples.rpm)
    usable = ~np.isnan(expected) & (expected > 0)
    ratio = samples.power[usable] / expected[usable] - 1
    # a power a thousand times the model's, or none, is bad data, not drift: left out
    plausible = np.isfinite(ratio) & (np.abs(ratio) < MAX_RATIO)
    steps = np.rint(ratio[plausible] * RATIO_SCALE).astype(np.int64)
    bikes = samples.bike[usable][plausible].astype(np.int64)
    # one sort of one key (a third of a two-key lexsort's time): |step| < MAX_RATIO *
    # RATIO_SCALE < 2**24, so (bike, step) is exact in bike * 2**25 + step + 2**24 for any
    # bike index below 2**38
    assert MAX_RATIO * RATIO_SCALE < _STEP_OFFSET and (not len(bikes) or bikes.max() < 2**38)
    keys = np.sort(bikes * _STEP_SPAN + (steps + _STEP_OFFSET))
    edge = np.ones(len(keys), dtype=bool)
    edge[1:] = keys[1:] != keys[:-1]
    starts = np.flatnonzero(edge)
    cells = keys[starts]
    return (
        cells // _STEP_SPAN,
        cells % _STEP_SPAN - _STEP_OFFSET,
        np.diff(np.append(starts, len(keys))),
    )


_STEP_OFFSET = 2**24
_STEP_SPAN = 2**25


def drift_of_cells(steps: Ints, readings: Ints) -> Drift | None:
    """A bike's drift from its ``ratio_cells`` over the days judged; None under
    ``DRIFT_READINGS`` readings with a model value."""
    total = int(readings.sum())
    if total < DRIFT_READINGS:
        return None
    one = np.zeros(len(steps), dtype=np.int64)  # the bike's cells as one key
    _, median, _ = weighted_medians(one, steps.astype(np.float64), readings.astype(np.int64))
    return Drift(float(median[0]) / RATIO_SCALE, total)


def model_cells(resistance: Ints, rpm: Ints, power: Floats) -> tuple[Ints, Ints, Floats, Ints]:
    """Readings counted by (resistance, rpm, power), rpm above 0: (resistance, rpm, power,
    readings). A sound fleet gives one power a pair, so a day's cells are a few thousand."""
    moving = _modelled(resistance, rpm) & ~np.isnan(power)
    resistance, rpm, power = resistance[moving], rpm[moving], power[moving]
    order = np.lexsort((power, rpm, resistance))
    resistance, rpm, power = resistance[order], rpm[order], power[order]
    edge = np.ones(len(power), dtype=bool)
    edge[1:] = ((resistance[1:] != resistance[:-1]) | (rpm[1:] != rpm[:-1])
                | (power[1:] != power[:-1]))  # fmt: skip
    starts = np.flatnonzero(edge)
    counts = np.diff(np.append(starts, len(power)))
    return resistance[starts], rpm[starts], power[starts], counts


DAY_US = 86_400 * SECOND_US


def newest_lines(
    rides: Sequence[tuple[int, int | None, int]], ride_of: Ints, at: Ints
) -> list[int]:
    """Each ride's newest line (µs): its newest reading, or its start without one. The
    readings as ``rides_signals`` takes them: ``ride_of`` non-decreasing, each ride's in time
    order."""
    newest = np.array([started for _, _, started in rides], dtype=np.int64)
    counts = np.bincount(ride_of, minlength=len(rides))
    had = counts > 0
    last = at[np.cumsum(counts)[had] - 1]  # each ride's readings together, in time order
    newest[had] = np.maximum(newest[had], last)
    return [int(line) for line in newest.tolist()]


def power_by_day(
    ride_bikes: Ints, ride_of: Ints, at: Ints, resistance: Ints, rpm: Ints, power: Floats
) -> list[tuple[int, PowerSamples]]:
    """Readings as the power model reads them, each day's apart (days since the epoch, UTC):
    their bike is their ride's (``ride_bikes``, indices), and a reading without power, rpm or
    resistance (NaN, -1) is left out."""
    valid = ~np.isnan(power) & (rpm >= 0) & (resistance >= 0)
    samples = PowerSamples(ride_bikes[ride_of][valid], resistance[valid], rpm[valid],
                           power[valid])  # fmt: skip
    days = at[valid] // DAY_US
    return [
        (day, PowerSamples(*(column[days == day] for column in samples)))
        for day in np.unique(days).tolist()
    ]


KIND_NAMES = {
    SILENT: "Silent after sign-in",
    RESISTANCE_STUCK: "Resistance stuck",
    CADENCE_STUCK: "Cadence sensor stuck",
    HEART_STRAP: "Heart-rate strap",
    POWER_DRIFT: "Power drift",
    OFFLINE: "Offline",
}  # how the maintenance page names each kind


def evidence_text(kind: str, detail: Mapping[str, Any]) -> str:
    """A finding's evidence in words, as the maintenance page shows it."""
    rides = ", ".join(str(ride) for ride in detail.get("rides", []))
    if kind == SILENT:
        return f"rides {rides}: no telemetry within 60 s of sign-in"
    if kind == RESISTANCE_STUCK:
        cadences = ", ".join(str(n) for n in detail.get("cadences", []))
        return f"rides {rides}: one resistance all ride while cadence took {cadences} values"
    if kind == CADENCE_STUCK:
        zero, held = detail.get("zero_cadence_readings", 0), detail.get("held_cadence_readings", 0)
        if zero >= ZERO_CADENCE_RUN:
            return f"ride {rides}: {zero:,} readings in a row at 0 rpm with power"
        return f"ride {rides}: one rpm for {held:,} readings in a row while power moved"
    if kind == HEART_STRAP:
        return f"rides {rides}: no heart-rate contact, by different riders"
    if kind == POWER_DRIFT:
        return (
            f"{detail.get('drift_pct', 0.0):+.1f}% against the fleet's power model, over"
            f" {detail.get('readings', 0):,} readings"
        )
    if kind == OFFLINE:
        return f"no line since {detail.get('last_line_at', '?')} ({detail.get('silent_hours')} h)"
    return str(dict(detail))
