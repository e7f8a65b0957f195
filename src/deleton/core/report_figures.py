"""The daily report's figures, from the ride summaries of a period. Pure.

The original report counted rides and called them riders, summed watts and called the total
"cumulative power", and averaged heart rates of 0 (no sensor contact). Here riders are
distinct people, energy is power over time (each reading stands for one second) in kJ or kWh,
and heart rate is averaged over readings with sensor contact only: the rides' sums over their
counts, as is average power (never a ride's average times its count).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from .demographics import UNKNOWN, age_band, count_riders
from .units import energy_text, energy_unit


class ReportRide(NamedTuple):
    """One ride of the period, summarised, with who rode it."""

    ride_id: int
    user_id: int | None
    first_name: str | None
    last_name: str | None
    gender: str | None
    age: int | None  # at the ride's start
    local_hour: int  # of its start, in the report's time zone
    duration_s: float
    heart_rate_avg: float | None
    heart_rate_readings: int
    power_avg: float | None
    power_readings: int
    energy_kj: float
    alerts_high: int
    alerts_low: int
    heart_rate_sum: int | None  # over readings with sensor contact
    power_sum: float | None
    # its training figures (core/training.py): None where the rider's age is unknown, or the
    # ride was summarised before they were kept
    seconds_in_hr_zone: Sequence[int] | None = None  # zones 1 to 5
    effort_points: float | None = None
    # what the data check counts (core/data_quality.py)
    bike_serial: str | None = None
    readings: int = 0
    summarised: bool = True


@dataclass(frozen=True)
class TopRider:
    name: str  # first name and last initial only
    rides: int
    energy_kj: float
    seconds: float
    effort_points: float | None = None  # their rides', summed; None: one of them has none


@dataclass(frozen=True)
class Figures:
    rides: int = 0
    riders: int = 0
    new_riders: int = 0
    ride_seconds: float = 0.0
    average_ride_seconds: float | None = None
    average_power: float | None = None  # W, over readings with power
    energy_kj: float = 0.0
    average_heart_rate: float | None = None  # bpm, over readings with sensor contact only
    alerts_high: int = 0
    alerts_low: int = 0
    riders_by_gender: dict[str, int] = field(default_factory=dict)
    riders_by_age: dict[str, dict[str, int]] = field(default_factory=dict)  # band -> gender
    rides_by_hour: list[int] = field(default_factory=lambda: [0] * 24)
    effort: list[tuple[float, float, str]] = field(default_factory=list)  # (hr, W, gender)
    top_riders: list[TopRider] = field(default_factory=list)  # by energy
    top_by_effort: list[TopRider] = field(default_factory=list)  # by effort points
    average_effort_points: float | None = None  # a ride's, over rides whose zones are known
    # seconds in heart-rate zones 1-5 over the rides of each age band (of the rider at the
    # ride's start), for rides whose zones are known
    zone_seconds_by_age: dict[str, list[int]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return self.rides == 0


def short_name(first: str | None, last: str | None) -> str:
    """First name and last initial: "Sam L." (never the whole surname)."""
    if not first:
        return "Unknown rider"
    return f"{first} {last[0]}." if last else first


def figures(rides: Iterable[ReportRide], new_riders: int, top: int = 10) -> Figures:
    """The report's figures for ``rides``; ``new_riders`` is how many of their riders rode
    for the first time ever in the period (the caller knows history; this does not)."""
    rides = list(rides)
    if not rides:
        return Figures(new_riders=new_riders)
    newest: dict[int, ReportRide] = {}
    per_rider: dict[int, list[ReportRide]] = {}
    by_hour = [0] * 24
    for ride in rides:
        by_hour[ride.local_hour] += 1
        if ride.user_id is not None:
            per_rider.setdefault(ride.user_id, []).append(ride)
            newest[ride.user_id] = ride  # rides come oldest first: the last is the newest
    people = count_riders((ride.gender, ride.age) for ride in newest.values())
    seconds = sum(r.duration_s for r in rides)
    power_n = sum(r.power_readings for r in rides if r.power_sum is not None)
    beats_n = sum(r.heart_rate_readings for r in rides if r.heart_rate_sum is not None)
    # the top tens name people: an erased rider's tombstone (a negative id) is no one, and
    # counts only in the totals; a rider is ranked by effort only if every ride of theirs has
    # it, so that their rides and time beside it are the ones it sums
    riders = [
        TopRider(
            short_name(mine[-1].first_name, mine[-1].last_name),
            len(mine),
            sum(r.energy_kj for r in mine),
            sum(r.duration_s for r in mine),
            _sum_all(r.effort_points for r in mine),
        )
        for user, mine in per_rider.items()
        if user >= 0
    ]
    leaders = sorted(riders, key=lambda t: (-t.energy_kj, t.name))
    hardest = sorted((t for t in riders if t.effort_points is not None),
                     key=lambda t: (-(t.effort_points or 0.0), t.name))  # fmt: skip
    efforts = [r.effort_points for r in rides if r.effort_points is not None]
    zones: dict[str, list[int]] = {}
    for r in rides:
        if r.seconds_in_hr_zone is not None and r.age is not None:
            band = zones.setdefault(age_band(r.age), [0] * 5)
            for k, seconds_in in enumerate(r.seconds_in_hr_zone):
                band[k] += seconds_in
    return Figures(
        rides=len(rides),
        riders=len(newest),
        new_riders=new_riders,
        ride_seconds=seconds,
        average_ride_seconds=seconds / len(rides),
        average_power=(
            sum(r.power_sum for r in rides if r.power_sum is not None) / power_n
            if power_n
            else None
        ),
        energy_kj=sum(r.energy_kj for r in rides),
        average_heart_rate=(
            sum(r.heart_rate_sum for r in rides if r.heart_rate_sum is not None) / beats_n
            if beats_n
            else None
        ),
        alerts_high=sum(r.alerts_high for r in rides),
        alerts_low=sum(r.alerts_low for r in rides),
        riders_by_gender=people.by_gender,
        riders_by_age=people.by_age,
        rides_by_hour=by_hour,
        effort=[
            (r.heart_rate_avg, r.power_avg, r.gender or UNKNOWN)
            for r in rides
            if r.heart_rate_avg is not None and r.power_avg is not None
        ],
        top_riders=leaders[:top],
        top_by_effort=hardest[:top],
        average_effort_points=sum(efforts) / len(efforts) if efforts else None,
        zone_seconds_by_age=zones,
    )


def _sum_all(values: Iterable[float | None]) -> float | None:
    """The sum, or None if any value is None."""
    total = 0.0
    for value in values:
        if value is None:
            return None
        total += value
    return total


class Headline(NamedTuple):
    """One headline figure, as the report and its email show it."""

    label: str
    value: str
    change: str  # against the previous period: "+12 (+8%)", "no change", "new"


def _change(now: float | None, then: float | None, unit: str, digits: int) -> str:
    if now is None or then is None:
        return "–" if now is None else "no earlier figure"
    delta = now - then
    if abs(delta) < 10**-digits / 2:
        return "no change"
    share = f" ({delta / then:+.0%})" if then else ""
    return f"{delta:+,.{digits}f}{unit}{share}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def headlines(now: Figures, then: Figures) -> list[Headline]:
    """The headline figures of the period, each with its change against the previous one."""

    def value(x: float | None, unit: str, digits: int = 0) -> str:
        return "–" if x is None else f"{x:,.{digits}f}{unit}"

    energy = energy_unit(now.energy_kj)  # the change in the unit the figure is shown in

    return [
        Headline("Rides", f"{now.rides:,}", _change(now.rides, then.rides, "", 0)),
        Headline("Riders", f"{now.riders:,}", _change(now.riders, then.riders, "", 0)),
        Headline(
            "New riders", f"{now.new_riders:,}", _change(now.new_riders, then.new_riders, "", 0)
        ),
        Headline(
            "Total ride time",
            _duration(now.ride_seconds),
            _change(now.ride_seconds / 3600, then.ride_seconds / 3600, " h", 1),
        ),
        Headline(
            "Average ride time",
            _duration(now.average_ride_seconds),
            _change(
                _minutes(now.average_ride_seconds), _minutes(then.average_ride_seconds), " min", 1
            ),
        ),
        Headline(
            "Average power",
            value(now.average_power, " W"),
            _change(now.average_power, then.average_power, " W", 0),
        ),
        Headline(
            "Total energy",
            energy_text(now.energy_kj),
            _change(
                now.energy_kj / energy.kj,
                then.energy_kj / energy.kj,
                f" {energy.name}",
                energy.digits,
            ),
        ),
        Headline(
            "Average heart rate",
            value(now.average_heart_rate, " bpm"),
            _change(now.average_heart_rate, then.average_heart_rate, " bpm", 0),
        ),
        Headline(
            "Average effort points",
            value(now.average_effort_points, "", 1),
            _change(now.average_effort_points, then.average_effort_points, "", 1),
        ),
        Headline(
            "High heart-rate alerts",
            f"{now.alerts_high:,}",
            _change(now.alerts_high, then.alerts_high, "", 0),
        ),
        Headline(
            "Low heart-rate alerts",
            f"{now.alerts_low:,}",
            _change(now.alerts_low, then.alerts_low, "", 0),
        ),
    ]


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 60
