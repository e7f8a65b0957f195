"""What each dashboard update shows, from the database: the outputs of the page callbacks.

Dash-free apart from the few components the pages are made of, so that tests and the benchmark
call exactly what a browser's update runs. ``Sources`` says where data comes from and what time
it is; the ride page's state lives in the browser and comes back with each call.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from dash import html, no_update

from . import charts, pages, queries
from .alerts import high_limit, urgency, zone
from .errors import DeletonError
from .queries import FleetRow
from .snapshots import Connect, RecentRides, Shared, reading
from .summaries import RecentStats

log = logging.getLogger(__name__)

WAITING = "Waiting for the database…"


@dataclass
class Sources:
    """Where the dashboard's data comes from, and the clock it judges idleness by."""

    connect: Connect
    fleet: Shared[Fleet]
    recent: Shared[RecentStats]
    idle_timeout_us: int
    wall: Callable[[], float] = time.time

    @classmethod
    def over(
        cls, connect: Connect, idle_timeout_us: int, wall: Callable[[], float] = time.time
    ) -> Sources:
        def build() -> Fleet:
            rides = reading(connect, "the fleet", queries.open_rides)
            return Fleet(rides, int(wall() * 1_000_000), idle_timeout_us)

        fleet = Shared(build, 0.5, background=True)
        recent = Shared(RecentRides(connect, wall).refresh, 10.0, background=True)
        return cls(connect, fleet, recent, idle_timeout_us, wall)

    def now(self) -> int:
        return int(self.wall() * 1_000_000)

    def warm(self) -> threading.Thread:
        """Build the recent-rides view in the background: its first build reads 12 hours of
        readings once, and the first viewer should not wait for it."""

        def build() -> None:
            started = time.monotonic()
            try:
                self.recent.get()
            except DeletonError as exc:
                log.warning("recent rides not built ahead: %s", exc)
                return
            log.info("recent rides built in %.1f s", time.monotonic() - started)

        thread = threading.Thread(target=build, name="recent-rides", daemon=True)
        thread.start()
        return thread


def ride_seconds(latest: queries.Latest | None, started_at: int, now: int) -> float:
    """How long a ride has lasted: as its bike reports it, else from its start to its newest
    reading (to ``now`` before the first)."""
    if latest is not None and latest.duration is not None:
        return latest.duration
    return ((latest.at if latest else now) - started_at) / 1e6


def _rider_words(ride: queries.RideView) -> tuple[str, str]:
    if ride.first_name is None:
        return "Unknown rider", f"Bike {ride.bike_serial} · no rider details for this ride"
    name = f"{ride.first_name} {ride.last_name}"
    parts = [f"Bike {ride.bike_serial}", (ride.gender or "").capitalize()]
    if ride.age is not None:
        parts.append(f"{ride.age} years")
    return name, " · ".join(p for p in parts if p)


class _Bike(NamedTuple):
    """A riding bike as the fleet table sorts it."""

    serial: str
    rider: str
    seconds: float
    heart_rate: int | None  # None: no reading with a heart rate yet
    zone: str  # a zone, "no contact" or "–"
    effort: float  # heart rate over the rider's maximum


_SORT_KEYS: dict[str, Callable[[_Bike], Any]] = {
    "zone": lambda bike: (urgency(bike.zone), bike.effort),
    "duration": lambda bike: bike.seconds,
    "heart_rate": lambda bike: bike.heart_rate or -1,
    "bike": lambda bike: bike.serial,
    "rider": lambda bike: bike.rider.lower(),
}


def _bike(row: FleetRow, now: int) -> _Bike:
    latest = row.latest
    hr = latest.heart_rate if latest else None
    limit = high_limit(row.age) if row.age is not None else None
    return _Bike(
        row.bike_serial,
        row.first_name or "unknown",
        ride_seconds(latest, row.started_at, now),
        hr or None,
        zone(hr, row.age) or ("no contact" if hr == 0 else "–"),
        (hr or 0) / limit if limit else 0.0,
    )


class Fleet:
    """One snapshot of the fleet, built once for every screen: each open ride, and the bikes
    riding at ``now`` (sent something within the idle timeout), ready to sort. Each order asked
    for is sorted once per snapshot, so a screen's tick only cuts out its page."""

    def __init__(self, rides: list[FleetRow], now: int, idle_timeout_us: int) -> None:
        self.rides = rides
        horizon = now - idle_timeout_us
        self.riding = [
            _bike(row, now)
            for row in rides
            if (row.latest.at if row.latest else row.started_at) >= horizon
        ]
        self.counts = {name: 0 for name in ("dangerously high", "too low", "high")}
        for bike in self.riding:
            if bike.zone in self.counts:
                self.counts[bike.zone] += 1
        self._orders: dict[tuple[str, bool], list[_Bike]] = {}

    def ordered(self, column: str, descending: bool) -> list[_Bike]:
        """The riding bikes by ``column`` (``zone``: most urgent, then hardest working, first)."""
        order = self._orders.get((column, descending))
        if order is None:  # two screens may sort at once; both get the same order
            key = _SORT_KEYS.get(column, _SORT_KEYS["zone"])
            order = self._orders[column, descending] = sorted(
                self.riding, key=key, reverse=descending
            )
        return order


def most_recent_bike(sources: Sources) -> str | None:
    rides = sources.fleet.get().rides
    if rides:
        return max(rides, key=lambda r: r.latest.at if r.latest else r.started_at).bike_serial
    return reading(sources.connect, "the newest ride", queries.latest_bike)


def ride_update(sources: Sources, state: dict[str, Any]) -> tuple[Any, ...]:
    """One tick of the ride page: the outputs of ``update_ride``, from the browser's ``state``
    (serial, ride id, newest reading shown). A new ride redraws the chart; otherwise only the
    readings newer than the browser has are read and appended."""
    serial = state["serial"]

    def read(conn: queries.Connection) -> Any:
        ride = queries.bike_ride(conn, serial)
        if ride is None:
            return None, None, None
        after = state.get("after") if state.get("ride_id") == ride.ride_id else None
        points, latest = queries.ride_points(conn, ride, after)
        return ride, points, latest

    ride, points, latest = reading(sources.connect, f"bike {serial}", read)
    if ride is None:
        message = f"Bike {serial} has not sent a ride yet."
        return (
            f"Bike {serial}",
            "",
            "–",
            "–",
            "hr zone-none",
            "",
            "",
            pages.notice(message),
            charts.empty(message),
            no_update,
            {"serial": serial},
        )
    new_ride = state.get("ride_id") != ride.ride_id
    heart_rate = state.get("heart_rate") if not new_ride else None
    seconds = state.get("seconds") if not new_ride else None
    last_at = state.get("after") if not new_ride else None
    if latest is not None:
        last_at = latest.at
        if latest.heart_rate is not None:
            heart_rate = latest.heart_rate
        seconds = ride_seconds(latest, ride.started_at, latest.at)
    name, details = _rider_words(ride)
    current = zone(heart_rate, ride.age)
    limit = high_limit(ride.age) if ride.age is not None else None
    activity = max(t for t in (last_at, ride.ended_at, ride.started_at) if t is not None)
    notice: Any = ""
    if sources.now() - activity > sources.idle_timeout_us:
        notice = pages.notice(
            f"Idle since {pages.clock_time(activity)}: no data from bike {serial} since then. "
            "Showing its last ride."
        )
    elif ride.ended_at is not None:
        notice = pages.notice(
            f"Ride ended at {pages.clock_time(ride.ended_at)}; waiting for the next rider."
        )
    if new_ride:
        figure: Any = (
            charts.ride(points, limit, ride.ride_id)
            if points.minutes
            else charts.empty("The ride has started; waiting for its first reading")
        )
        extend: Any = no_update
    else:
        figure = no_update
        extend = charts.extension(points) if points.minutes else no_update
    if new_ride and not points.minutes:
        last_at = None  # draw the chart afresh when the first reading arrives
        new_state_ride = None
    else:
        new_state_ride = ride.ride_id
    return (
        name,
        details,
        pages.span(seconds),
        str(heart_rate) if heart_rate else "–",
        "hr " + pages.zone_class(current),
        current or ("no sensor contact" if heart_rate == 0 else ""),
        f"maximum {limit} bpm" if limit is not None else "",
        notice,
        figure,
        extend,
        {
            "serial": serial,
            "ride_id": new_state_ride,
            "after": last_at,
            "heart_rate": heart_rate,
            "seconds": seconds,
        },
    )


@dataclass(frozen=True)
class FleetView:
    """One page of the fleet table, and what the whole fleet looks like."""

    rows: list[dict[str, Any]]
    riding: int
    page: int
    pages: int
    counts: dict[str, int]


def fleet_view(sources: Sources, column: str, descending: bool, page: int) -> FleetView:
    """The bikes riding now, sorted by ``column`` (``zone`` sorts by urgency, then by effort
    against the rider's maximum), cut to page ``page`` (clamped to the pages there are)."""
    fleet = sources.fleet.get()
    bikes = fleet.ordered(column, descending)
    count = max(1, -(-len(bikes) // pages.FLEET_PAGE_SIZE))
    page = max(0, min(page, count - 1))
    start = page * pages.FLEET_PAGE_SIZE
    shown = [
        {
            "bike": bike.serial,
            "rider": bike.rider,
            "duration": pages.span(bike.seconds),
            "heart_rate": bike.heart_rate,
            "zone": bike.zone,
        }
        for bike in bikes[start : start + pages.FLEET_PAGE_SIZE]
    ]
    return FleetView(shown, len(bikes), page, count, fleet.counts)


def render_fleet(view: FleetView) -> tuple[Any, Any, Any, Any]:
    summary = [html.Span(f"{view.riding:,} bikes riding", className="pill")] + [
        html.Span(f"{n:,} {name}", className="pill " + pages.zone_class(name))
        for name, n in view.counts.items()
        if n
    ]
    empty = (
        ""
        if view.riding
        else pages.notice("No bike is riding now. Bikes appear here as they start.")
    )
    return (
        [pages.fleet_row(row) for row in view.rows],
        summary,
        f"page {view.page + 1} of {view.pages}",
        empty,
    )


def recent_view(stats: RecentStats) -> tuple[Any, ...]:
    def watts(value: float | None) -> str:
        return "–" if value is None else f"{value:,.0f} W"

    notice: Any = "" if stats.rides else pages.notice("No rides have started in the last 12 hours.")
    return (
        f"{stats.rides:,}",
        f"{stats.riders:,}",
        f"{stats.energy_kj / 3600:,.{2 if stats.energy_kj < 36_000 else 0}f} kWh",
        watts(stats.average_power),
        "–" if stats.average_resistance is None else f"{stats.average_resistance:,.0f}",
        charts.riders_by_gender(stats.riders_by_gender),
        charts.riders_by_age(stats.riders_by_age),
        charts.time_by_gender(stats.seconds_by_gender),
        notice,
    )
