"""The fleet right now: which bikes are riding, how hard, and in what order staff should look.

Pure: the caller passes the open rides (from the database) and the time. One ``FleetStatus`` is
built per snapshot and shared by every screen and API caller, so each order asked for is
sorted once per snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from .alerts import high_limit, urgency, zone
from .readings import LatestReading, ride_seconds

ALERTING_ZONES = ("dangerously high", "too low", "high")  # counted on their own, most urgent first


class OpenRide(NamedTuple):
    """An open ride, with its newest reading (``None`` before the first)."""

    bike_serial: str
    ride_id: int
    started_at: int  # µs since the epoch
    first_name: str | None  # None: the ride's [SYSTEM] line was never seen
    age: int | None  # at ride start
    latest: LatestReading | None

    @property
    def last_seen(self) -> int:
        return self.latest.at if self.latest else self.started_at


class BikeStatus(NamedTuple):
    """A riding bike as the fleet table and the API show it."""

    serial: str
    rider: str  # first name only, or "unknown"
    seconds: float
    heart_rate: int | None  # None: no reading with a heart rate yet
    zone: str  # a zone, "no contact" or "–"
    effort: float  # heart rate over the rider's maximum
    ride_id: int


DEFAULT_ORDER = ("zone", True)  # most urgent first

SORT_KEYS: dict[str, Callable[[BikeStatus], Any]] = {
    "zone": lambda bike: (urgency(bike.zone), bike.effort),
    "duration": lambda bike: bike.seconds,
    "heart_rate": lambda bike: bike.heart_rate or -1,
    "bike": lambda bike: bike.serial,
    "rider": lambda bike: bike.rider.lower(),
}


def bike_status(ride: OpenRide, now: int) -> BikeStatus:
    latest = ride.latest
    hr = latest.heart_rate if latest else None
    limit = high_limit(ride.age) if ride.age is not None else None
    return BikeStatus(
        ride.bike_serial,
        ride.first_name or "unknown",
        ride_seconds(latest, ride.started_at, now),
        hr or None,
        zone(hr, ride.age) or ("no contact" if hr == 0 else "–"),
        (hr or 0) / limit if limit else 0.0,
        ride.ride_id,
    )


class FleetStatus:
    """Each open ride, and the bikes riding at ``now`` (they sent something within the idle
    timeout), ready to sort."""

    def __init__(self, rides: list[OpenRide], now: int, idle_timeout_us: int) -> None:
        self.rides = rides
        self.now = now
        horizon = now - idle_timeout_us
        # last_seen spelt out: at 50,000 bikes a snapshot, a property call per ride counts
        self.riding = [
            bike_status(ride, now)
            for ride in rides
            if (ride.latest.at if ride.latest else ride.started_at) >= horizon
        ]
        self.counts = dict.fromkeys(ALERTING_ZONES, 0)
        for bike in self.riding:
            if bike.zone in self.counts:
                self.counts[bike.zone] += 1
        self._orders: dict[tuple[str, bool], list[BikeStatus]] = {}
        # the order every fleet page and /bikes open with, sorted as the status is built (in
        # the shared rebuild, off the viewers' path): at 50,000 bikes a sort takes tens of ms
        self.ordered(*DEFAULT_ORDER)

    def ordered(self, column: str, descending: bool) -> list[BikeStatus]:
        """The riding bikes by ``column`` (``zone``: most urgent, then hardest working, first);
        an unknown column sorts by zone."""
        order = self._orders.get((column, descending))
        if order is None:  # two screens may sort at once; both get the same order
            key = SORT_KEYS.get(column, SORT_KEYS["zone"])
            order = self._orders[column, descending] = sorted(
                self.riding, key=key, reverse=descending
            )
        return order

    def most_recent(self) -> str | None:
        """The serial of the bike heard from last, if any ride is open."""
        if not self.rides:
            return None
        return max(self.rides, key=lambda ride: ride.last_seen).bike_serial
