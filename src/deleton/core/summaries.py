"""Figures over a set of rides: what the recent-rides page shows (and the daily report will).

Pure: the store hands over per-ride tallies, sums and counts of a ride's figures as
``daily.ride_figures`` gives them (migration 0011: the one definition of a ride's figures),
merged as readings arrive, and ``summarise`` turns any set of them into the page's figures.
Power is sampled once a second, so the sum of a ride's power readings is its energy in
joules.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .batch import ReadingRow
from .demographics import UNKNOWN, count_riders
from .training import ZoneSeconds, zone_edges


class Tally(NamedTuple):
    """Sums and counts over some of one ride's readings, named as ``daily.ride_figures``
    names them; tallies of one ride add up."""

    readings: int = 0
    power_sum: float = 0.0
    power_readings: int = 0
    resistance_sum: float = 0.0
    resistance_readings: int = 0
    last_at: int | None = None  # µs since the epoch of the newest reading counted

    def merged(self, other: Tally) -> Tally:
        last, more = self.last_at, other.last_at
        return Tally(
            self.readings + other.readings,
            self.power_sum + other.power_sum,
            self.power_readings + other.power_readings,
            self.resistance_sum + other.resistance_sum,
            self.resistance_readings + other.resistance_readings,
            more if last is None else last if more is None else max(last, more),
        )


def newest_and_tallies(
    readings: Iterable[ReadingRow], max_hrs: Mapping[int, int | None] | None = None
) -> list[tuple[ReadingRow, Tally, ZoneSeconds]]:
    """For each ride among ``readings``: its newest reading (by ``at``; of two at once, the
    later in ``readings``), the tally of all of its readings there, as ``daily.ride_sums``
    counts them (a reading counts; a power or a resistance counts and adds where present),
    and their seconds in each heart-rate zone (``core.training``) for the ride's rider's
    maximum heart rate in ``max_hrs`` (none there, or None: every reading in no zone).
    Ingestion adds a batch's tallies to each ride's running tally (``daily.bike_latest``)."""
    rides: dict[int, list[Any]] = {}
    get = rides.get
    maxima = max_hrs or {}
    # one pass with plain numbers in lists: a batch holds every riding bike's readings
    for row in readings:
        ride = get(row[0])
        if ride is None:
            top = maxima.get(row[0])
            # newest, readings, power sum and count, resistance sum and count, zone edges,
            # then seconds in zones 1-5
            edges = None if top is None else zone_edges(top)
            ride = rides[row[0]] = [row, 0, 0.0, 0, 0, 0, edges, 0, 0, 0, 0, 0]
        elif row[1] >= ride[0][1]:
            ride[0] = row
        ride[1] += 1
        power, resistance, heart_rate = row[6], row[3], row[4]
        if power is not None:
            ride[2] += power
            ride[3] += 1
        if resistance is not None:
            ride[4] += resistance
            ride[5] += 1
        if heart_rate and heart_rate > 0 and ride[6] is not None:
            ride[7 + bisect_right(ride[6], 100 * heart_rate)] += 1
    return [
        (newest, Tally(count, power, powers, resistance, resistances, newest[1]),
         (z1, z2, z3, z4, z5))
        for newest, count, power, powers, resistance, resistances, _, z1, z2, z3, z4, z5
        in rides.values()
    ]  # fmt: skip


class RideFacts(NamedTuple):
    """One ride as the recent-rides figures see it."""

    ride_id: int
    user_id: int | None
    gender: str | None
    age: int | None  # at ride start
    started_at: int  # µs since the epoch
    ended_at: int | None
    tally: Tally

    @property
    def seconds(self) -> float:
        """Ride time: from its start to its end, or to its newest reading while it is open."""
        end = self.ended_at if self.ended_at is not None else self.tally.last_at
        return max(0.0, (end - self.started_at) / 1e6) if end is not None else 0.0


@dataclass(frozen=True)
class RecentStats:
    rides: int = 0
    riders: int = 0
    riders_by_gender: dict[str, int] = field(default_factory=dict)
    riders_by_age: dict[str, dict[str, int]] = field(default_factory=dict)  # band -> gender -> n
    energy_kj: float = 0.0
    average_power: float | None = None
    average_resistance: float | None = None
    seconds_by_gender: dict[str, float] = field(default_factory=dict)


def summarise(rides: Iterable[RideFacts]) -> RecentStats:
    """The recent-rides figures. A rider counts once, with the gender and age of their newest
    ride; rides of unknown riders count as rides and ride time, not as riders."""
    count = 0
    riders: dict[int, RideFacts] = {}
    seconds: dict[str, float] = {}
    # the sums Tally.merged would give, kept as plain numbers: a refresh sums 50,000 rides
    power_sum = resistance_sum = 0.0
    power_readings = resistance_readings = 0
    for ride in rides:
        count += 1
        tally = ride.tally
        power_sum += tally.power_sum
        power_readings += tally.power_readings
        resistance_sum += tally.resistance_sum
        resistance_readings += tally.resistance_readings
        gender = ride.gender or UNKNOWN
        seconds[gender] = seconds.get(gender, 0.0) + ride.seconds
        if ride.user_id is not None:
            seen = riders.get(ride.user_id)
            if seen is None or seen.started_at < ride.started_at:
                riders[ride.user_id] = ride
    people = count_riders((ride.gender, ride.age) for ride in riders.values())
    return RecentStats(
        rides=count,
        riders=len(riders),
        riders_by_gender=people.by_gender,
        riders_by_age=people.by_age,
        energy_kj=power_sum / 1000,
        average_power=power_sum / power_readings if power_readings else None,
        average_resistance=resistance_sum / resistance_readings if resistance_readings else None,
        seconds_by_gender=seconds,
    )
