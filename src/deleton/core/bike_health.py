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
    resistance, rpm, power (W) and heart rate (0: no contact)."""
    n = len(at)
    return RideSignals(
        ride_id,
        user_id,
        started_at,
        int(at[0]) if n else None,
        (int(at[-1]) - started_at) / SECOND_US if n else 0.0,
        n,
        len(np.unique(resistance)),
        len(np.unique(rpm)),
        int((heart_rate > 0).sum()),
        longest_true_run((power > 0) & (rpm == 0)),
        held_cadence_run(rpm, power),
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
                now = Finding(kind, was.first_seen if was else kept[0].started_at,
                              ride.started_at, _evidence(kind, kept))  # fmt: skip
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


def _pair_keys(resistance: Ints, rpm: Ints) -> Ints:
    return resistance.astype(np.int64) * 1_000_000 + rpm.astype(np.int64)


@dataclass(frozen=True)
class PowerModel:
    """The fleet's median power at each (resistance, rpm) pair, rpm above 0."""

    keys: Ints  # sorted pair keys
    medians: Floats

    @classmethod
    def of(cls, samples: PowerSamples) -> PowerModel:
        moving = samples.rpm > 0
        keys = _pair_keys(samples.resistance[moving], samples.rpm[moving])
        power = samples.power[moving]
        order = np.lexsort((power, keys))
        keys, power = keys[order], power[order]
        starts, lengths = _runs(keys)
        # the median of each pair's sorted powers: the middle one, or the mean of the two
        low = starts + (lengths - 1) // 2
        high = starts + lengths // 2
        return cls(keys[starts], (power[low] + power[high]) / 2)

    def at(self, resistance: Ints, rpm: Ints) -> Floats:
        """The model's power at each pair; NaN where the fleet has no reading of it (or the
        rpm is 0)."""
        keys = _pair_keys(resistance, rpm)
        if not len(self.keys):
            return np.full(len(keys), np.nan)
        where = np.clip(np.searchsorted(self.keys, keys), 0, len(self.keys) - 1)
        found = (self.keys[where] == keys) & (rpm > 0)
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
