"""What each dashboard update shows, from the database: the outputs of the page callbacks.

Each update is a dataclass whose fields are named for what they show; its ``TARGETS`` map each
field to the component and property it fills, once, for ``app`` to declare as Dash outputs.
Tests and the benchmark call exactly what a browser's update runs, and read results by name.
``DashboardData`` says where data comes from and what time it is; the ride page's state lives
in the browser and comes back with each call.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from dash import ALL, Output, html, no_update

from ..cached import Remembered, SharedView
from ..core import alerts, bike_health, leaderboard, training
from ..core.fleet_status import FleetStatus
from ..core.readings import ride_seconds
from ..core.summaries import RecentStats
from ..core.units import energy_text
from ..errors import DeletonError
from ..postgres import health as health_db
from ..postgres import queries
from ..postgres.connection import Connect, run_query
from ..postgres.figures import WINDOW
from ..postgres.recent import RecentRides, shared_today
from . import charts, pages

log = logging.getLogger(__name__)

WAITING = "Waiting for the database…"
# A shared snapshot older than this is shown with a notice of its age. The fleet rebuilds every
# half second, recent rides every ten: a few missed rebuilds are worth saying.
FLEET_FRESH_FOR = 5.0
RECENT_FRESH_FOR = 30.0
Target = tuple[str | dict[str, Any], str]  # a component id, and one of its properties
# personal bests kept for this many rides (a wall of bike screens), for this long: a rider's
# earlier rides change only when one is erased or deleted
# (65,536 small tuples: above the bikes one process serves, or least-recently-used eviction
# would empty it before any entry is asked for again)
BESTS_KEPT, BESTS_FOR = 65_536, 300.0


class Update:
    """A callback's outputs by name. ``TARGETS`` maps each field to its component property."""

    TARGETS: ClassVar[dict[str, Target]]

    @classmethod
    def outputs(cls) -> dict[str, Output]:
        """The Dash outputs, keyed by field name, for ``@app.callback(output=...)``."""
        return {name: Output(*target) for name, target in cls.TARGETS.items()}

    def values(self) -> dict[str, Any]:
        """What the callback returns: each field's value under its name."""
        return {name: getattr(self, name) for name in self.TARGETS}

    @classmethod
    def unchanged(cls, **changed: Any) -> dict[str, Any]:
        """A return value that leaves every output as it is but those named. A pattern's
        output (``ALL``) is a list, a value for each of its components: Dash refuses the whole
        return, notices included, if it is given one ``no_update`` instead."""

        def same(target: Target) -> Any:
            component = target[0]
            if isinstance(component, dict):
                return [no_update] * PATTERN_SIZES[component["type"]]
            return no_update

        return {name: changed.get(name, same(target)) for name, target in cls.TARGETS.items()}


# how many components each pattern of the pages matches: one per sortable fleet column, one
# per training zone
PATTERN_SIZES = {
    "fleet-sort": len(pages.FLEET_COLUMNS),
    "zone-share": len(pages.ZONES),
    "zone-time": len(pages.ZONES),
}


@dataclass(frozen=True)
class RideUpdate(Update):
    """One tick of the ride page."""

    rider: Any
    details: Any
    duration: str
    heart_rate: str
    heart_rate_class: str
    zone: str
    limit: str
    notice: Any
    figure: Any  # a whole new figure, or no_update
    extension: Any  # points to append to the figure shown, or no_update
    state: dict[str, Any]  # what the browser keeps for the next tick
    # the training panel (Issue 20): nothing shown unless the ride is open and in the fleet
    hr_band: str = "–"
    hr_band_class: str = pages.hr_band_class(None)
    zone_shares: list[dict[str, Any]] = field(default_factory=lambda: pages.zone_shares(None))
    zone_times: list[str] = field(default_factory=lambda: pages.zone_times(None))
    effort: str = "–"
    energy: str = "–"
    best: str = ""
    best_class: str = "best"
    place: str = "–"
    place_of: str = ""

    TARGETS: ClassVar[dict[str, Target]] = {
        "rider": ("ride-rider", "children"),
        "details": ("ride-details", "children"),
        "duration": ("ride-duration", "children"),
        "heart_rate": ("hr-value", "children"),
        "heart_rate_class": ("hr", "className"),
        "zone": ("hr-zone", "children"),
        "limit": ("hr-limit", "children"),
        "notice": ("ride-notice", "children"),
        "figure": ("ride-chart", "figure"),
        "extension": ("ride-chart", "extendData"),
        "state": ("ride-state", "data"),
        "hr_band": ("ride-hr-band", "children"),
        "hr_band_class": ("ride-hr-band", "className"),
        "zone_shares": ({"type": "zone-share", "zone": ALL}, "style"),
        "zone_times": ({"type": "zone-time", "zone": ALL}, "children"),
        "effort": ("ride-effort", "children"),
        "energy": ("ride-energy", "children"),
        "best": ("ride-best", "children"),
        "best_class": ("ride-best", "className"),
        "place": ("ride-place", "children"),
        "place_of": ("ride-place-of", "children"),
    }


@dataclass(frozen=True)
class FleetUpdate(Update):
    """One tick of the fleet page."""

    rows: list[list[str]]  # each a ``pages.fleet_row``, drawn in the browser by assets/fleet.js
    summary: list[Any]
    page_label: str
    empty: Any
    stale: Any  # a notice when the fleet shown is older than it should be
    sort_classes: list[str]  # one per column header, in ``pages.FLEET_COLUMNS`` order
    pages: int

    TARGETS: ClassVar[dict[str, Target]] = {
        "rows": ("fleet-data", "data"),
        "summary": ("fleet-summary", "children"),
        "page_label": ("fleet-page-label", "children"),
        "empty": ("fleet-empty", "children"),
        "stale": ("fleet-stale", "children"),
        "sort_classes": ({"type": "fleet-sort", "column": ALL}, "className"),
        "pages": ("fleet-pages", "data"),
    }


@dataclass(frozen=True)
class LeaderboardUpdate(Update):
    """One tick of the leaderboard page."""

    head: Any
    rows: Any
    summary: Any
    page_label: str
    empty: Any
    stale: Any
    pages: int

    TARGETS: ClassVar[dict[str, Target]] = {
        "head": ("leaderboard-head", "children"),
        "rows": ("leaderboard-rows", "children"),
        "summary": ("leaderboard-summary", "children"),
        "page_label": ("leaderboard-page-label", "children"),
        "empty": ("leaderboard-empty", "children"),
        "stale": ("leaderboard-stale", "children"),
        "pages": ("leaderboard-pages", "data"),
    }


@dataclass(frozen=True)
class RecentUpdate(Update):
    """One refresh of the recent-rides page."""

    rides: str
    riders: str
    energy: str
    power: str
    resistance: str
    gender_chart: Any
    age_chart: Any
    time_chart: Any
    notice: Any

    TARGETS: ClassVar[dict[str, Target]] = {
        "rides": ("recent-rides", "children"),
        "riders": ("recent-riders", "children"),
        "energy": ("recent-energy", "children"),
        "power": ("recent-power", "children"),
        "resistance": ("recent-resistance", "children"),
        "gender_chart": ("recent-gender", "figure"),
        "age_chart": ("recent-age", "figure"),
        "time_chart": ("recent-time", "figure"),
        "notice": ("recent-notice", "children"),
    }


@dataclass
class DashboardData:
    """Where the dashboard's data comes from, and the clock it judges idleness by."""

    connect: Connect
    fleet: SharedView[FleetStatus]
    recent: SharedView[RecentStats]
    today: SharedView[leaderboard.Board]  # today's leaderboard
    idle_timeout_us: int
    wall: Callable[[], float] = time.time
    # each open ride's rider's personal bests, by duration band: read once a ride and kept
    # a while, not read at every tick of its screen
    bests: Remembered[int, tuple[float | None, ...]] = field(
        default_factory=lambda: Remembered(BESTS_KEPT, BESTS_FOR)
    )

    @classmethod
    def over(
        cls,
        connect: Connect,
        idle_timeout_us: int,
        wall: Callable[[], float] = time.time,
        reading_window: dt.timedelta = WINDOW,
        day_zone: str = "Europe/London",
    ) -> DashboardData:
        """Over the pool ``connect``; ``reading_window``: how long before its start a ride's
        readings may lie (``Database.reading_window``); ``day_zone``: the zone of the
        leaderboard's "today" (an IANA name)."""
        fleet = queries.shared_fleet(connect, idle_timeout_us, wall)
        recent = SharedView(
            RecentRides(connect, wall, reading_window).refresh, 10.0, background=True
        )
        today = shared_today(connect, ZoneInfo(day_zone), wall, reading_window)
        return cls(connect, fleet, recent, today, idle_timeout_us, wall)

    def now(self) -> int:
        return int(self.wall() * 1_000_000)

    def close(self) -> None:
        """No more rebuilds of the shared views, and one under way waited for: then the pool
        they read may close."""
        self.today.close()
        self.recent.close()
        self.fleet.close()

    def warm(self) -> threading.Thread:
        """Build the fleet, the recent-rides view and today's leaderboard in the background:
        their first builds read every open ride, and the day's and 12 hours' rides, once, and
        the first viewer (a bike screen's training panel reads the fleet) should not wait."""

        def build() -> None:
            views: tuple[tuple[str, SharedView[Any]], ...] = (
                ("the fleet", self.fleet),
                ("recent rides", self.recent),
                ("today's leaderboard", self.today),
            )
            for what, view in views:
                started = time.monotonic()
                try:
                    view.get()
                except DeletonError as exc:
                    log.warning("%s not built ahead: %s", what, exc)
                    continue
                log.info("%s built in %.1f s", what, time.monotonic() - started)

        thread = threading.Thread(target=build, name="dashboard-warm", daemon=True)
        thread.start()
        return thread


TODAY_FRESH_FOR = 30.0  # today's board rebuilds every five seconds


def leaderboard_update(data: DashboardData, period: str, page: int, links: bool) -> dict[str, Any]:
    """The leaderboard's ``page`` (from 0) of ``period`` ("now" or "today"); ``links``: the
    bikes link to their rides (staff)."""
    size = pages.LEADERBOARD_PAGE_SIZE
    if period == leaderboard.TODAY:
        board = data.today.get()
        stale = staleness(data.today, TODAY_FRESH_FOR, "today's leaderboard")
    else:
        period = leaderboard.NOW
        board = leaderboard.riding_now(data.fleet.get())
        stale = staleness(data.fleet, FLEET_FRESH_FOR, "the leaderboard")
    count = max(1, -(-len(board) // size))
    page = min(max(0, page), count - 1)
    rows = board[page * size : (page + 1) * size]
    if period == leaderboard.TODAY:
        ids = [row.user_id for row in rows if row.user_id is not None]
        names = run_query(data.connect, "riders' names", lambda c: queries.rider_names(c, ids))
        rows = leaderboard.named(rows, names)
        summary = f"{board.ranked:,} riders today"
        empty = "No one has ridden today yet."
    else:
        summary = f"{len(board):,} riding · {board.ranked:,} ranked by energy this ride"
        empty = "No one is riding right now."
    return LeaderboardUpdate(
        head=html.Tr([html.Th(label) for label in pages.LEADERBOARD_COLUMNS[period]]),
        rows=pages.leaderboard_rows(period, rows, links),
        summary=html.Span(summary, className="pill"),
        page_label=f"page {page + 1} of {count}",
        empty=pages.notice(empty) if not len(board) else None,
        stale=stale,
        pages=count,
    ).values()


def staleness(shared: SharedView[Any], fresh_for: float, what: str) -> Any:
    """A notice when ``shared`` is older than ``fresh_for`` seconds, saying how old and why;
    nothing when it is fresh."""
    age = shared.age()
    if age <= fresh_for:
        return ""
    why = "the database is not answering" if shared.failure is not None else "it is slow to answer"
    return pages.notice(f"Showing {what} as it was {pages.ago(age)}: {why}.")


def _rider_words(ride: queries.RideView) -> tuple[str, str]:
    if ride.first_name is None:
        return "Unknown rider", f"Bike {ride.bike_serial} · no rider details for this ride"
    name = f"{ride.first_name} {ride.last_name}"
    parts = [f"Bike {ride.bike_serial}", (ride.gender or "").capitalize()]
    if ride.age is not None:
        parts.append(f"{ride.age} years")
    return name, " · ".join(p for p in parts if p)


def most_recent_bike(data: DashboardData) -> str | None:
    serial = data.fleet.get().most_recent()
    if serial is not None:
        return serial
    return run_query(data.connect, "the newest ride", queries.latest_bike)


NEXT_RIDER = "Waiting for the next rider"


def ride_update(
    data: DashboardData, state: dict[str, Any], current_only: bool = False
) -> RideUpdate:
    """One tick of the ride page, from the browser's ``state`` (serial, ride id, newest reading
    shown). A new ride redraws the chart; otherwise only the readings newer than the browser
    has are read and appended.

    ``current_only`` (a bike's own screen): the rider is shown only while their ride is open
    and the bike has been heard from within the idle timeout, judged by the database alone
    (the browser's state says what it has, never what may be shown); otherwise the screen
    waits for the next rider and shows nobody. Staff see the bike's newest ride, ended or
    not."""
    serial = state["serial"]

    def read(conn: queries.Connection) -> Any:
        ride = queries.bike_ride(conn, serial)
        if ride is None:
            return None, None, None
        if current_only:
            horizon = data.now() - data.idle_timeout_us
            riding = ride.ended_at is None and (
                ride.started_at > horizon or queries.heard_from(conn, ride.ride_id, horizon)
            )
            if not riding:
                return ride, None, None
        after = state.get("after") if state.get("ride_id") == ride.ride_id else None
        points, latest = queries.ride_points(conn, ride, after)
        return ride, points, latest

    ride, points, latest = run_query(data.connect, f"bike {serial}", read)
    if ride is not None and points is None:
        return RideUpdate(
            rider=NEXT_RIDER,
            details=f"Bike {serial}",
            duration="–",
            heart_rate="–",
            heart_rate_class="hr zone-none",
            zone="",
            limit="",
            notice="",
            # drawn once, not at every tick while the screen waits
            figure=no_update if state.get("waiting") else charts.empty(f"{NEXT_RIDER}."),
            extension=no_update,
            state={"serial": serial, "waiting": True},
        )
    if ride is None:
        message = f"Bike {serial} has not sent a ride yet."
        return RideUpdate(
            rider=f"Bike {serial}",
            details="",
            duration="–",
            heart_rate="–",
            heart_rate_class="hr zone-none",
            zone="",
            limit="",
            notice=pages.notice(message),
            figure=charts.empty(message),
            extension=no_update,
            state={"serial": serial},
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
    current = alerts.zone(heart_rate, ride.age)
    limit = alerts.high_limit(ride.age) if ride.age is not None else None
    activity = max(t for t in (last_at, ride.ended_at, ride.started_at) if t is not None)
    notice: Any = ""
    if data.now() - activity > data.idle_timeout_us:
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
        extension: Any = no_update
    else:
        figure = no_update
        extension = charts.extension(points) if points.minutes else no_update
    if new_ride and not points.minutes:
        last_at = None  # draw the chart afresh when the first reading arrives
        new_state_ride = None
    else:
        new_state_ride = ride.ride_id
    return RideUpdate(
        rider=name,
        details=details,
        duration=pages.span(seconds),
        heart_rate=str(heart_rate) if heart_rate else "–",
        heart_rate_class="hr " + pages.zone_class(current),
        zone=current or ("no sensor contact" if heart_rate == 0 else ""),
        limit=f"maximum {limit} bpm" if limit is not None else "",
        notice=notice,
        figure=figure,
        extension=extension,
        state={
            "serial": serial,
            "ride_id": new_state_ride,
            "after": last_at,
            "heart_rate": heart_rate,
            "seconds": seconds,
        },
        **training_or_nothing(data, ride, heart_rate),
    )


def training_or_nothing(
    data: DashboardData, ride: queries.RideView, heart_rate: int | None
) -> dict[str, Any]:
    """``ride_training``, or an empty panel while the database cannot say: the heart rate
    and its safety zone above it must not wait on the rider's personal bests."""
    try:
        return ride_training(data, ride, heart_rate)
    except DeletonError as exc:
        log.warning("ride %d's training panel not shown: %s", ride.ride_id, exc)
        return {}


def ride_training(
    data: DashboardData, ride: queries.RideView, heart_rate: int | None
) -> dict[str, Any]:
    """The ride page's training panel for ``ride`` showing ``heart_rate``: its training zone,
    and, while it is open and in the fleet's shared snapshot (its running tallies), its time
    in each zone, effort points, energy against the rider's personal best for the ride's
    duration band so far, and its place on the live leaderboard. No other rider is named."""
    zone = training.hr_zone(heart_rate, training.max_hr(ride.age))
    shown: dict[str, Any] = {
        "hr_band": "–" if zone is None else f"Zone {zone}",
        "hr_band_class": pages.hr_band_class(zone),
    }
    fleet = data.fleet.get()
    slot = fleet.row_of(ride.ride_id) if ride.ended_at is None else None
    if slot is None:
        return shown
    rides = fleet.rides
    zones = rides.zone_seconds[slot]
    known = ride.age is not None and bool((zones >= 0).all())
    in_zones = [int(z) for z in zones] if known else None
    shown["zone_shares"] = pages.zone_shares(in_zones)
    shown["zone_times"] = pages.zone_times(in_zones)
    effort = fleet.effort_points(slot)
    shown["effort"] = "–" if effort is None else f"{effort:.1f}"
    place, _ranked = leaderboard.place_of_ride(fleet, slot)
    shown["place"] = "–" if place is None else training.ordinal(place)
    shown["place_of"] = f"of {fleet.riding:,} riding" if place is not None else "not ranked"
    if leaderboard.being_checked(fleet, slot):
        shown["place_of"] = leaderboard.CHECKING
    joules = float(rides.energy_j[slot])
    if joules != joules:  # NaN: the ride's tally is not known whole
        return shown
    kj = float(leaderboard.tenths_kj(rides.energy_j[slot : slot + 1])[0]) / 10
    shown["energy"] = leaderboard.energy_text(kj)
    seconds = float(fleet.seconds[slot])
    band = training.duration_band(seconds)
    bests = data.bests.get(ride.ride_id, lambda: personal_bests(data, ride.ride_id))
    best = bests[band]
    pace = training.on_pace(kj, seconds, best)
    shown["best"] = pages.best_text(band, best, training.projected_kj(kj, seconds), pace)
    shown["best_class"] = "best pace-" + {True: "on", False: "behind", None: "none"}[pace]
    return shown


def personal_bests(data: DashboardData, ride_id: int) -> tuple[float | None, ...]:
    """The personal best (kJ) of ride ``ride_id``'s rider in each duration band, from their
    earlier rides."""
    earlier = run_query(
        data.connect, f"ride {ride_id}'s earlier rides", lambda c: queries.earlier_rides(c, ride_id)
    )
    return tuple(
        training.personal_best_kj(earlier, band) for band in range(len(training.BAND_EDGES) + 1)
    )


@dataclass(frozen=True)
class FleetView:
    """One page of the fleet table, and what the whole fleet looks like."""

    rows: list[dict[str, Any]]
    riding: int
    page: int
    pages: int
    counts: dict[str, int]


def fleet_view(data: DashboardData, column: str, descending: bool, page: int) -> FleetView:
    """The bikes riding now, sorted by ``column`` (``zone`` sorts by urgency, then by effort
    against the rider's maximum), cut to page ``page`` (clamped to the pages there are)."""
    fleet = data.fleet.get()
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
            "hr_zone": bike.hr_zone,
            "effort_points": bike.effort_points,
        }
        for bike in bikes[start : start + pages.FLEET_PAGE_SIZE]
    ]
    return FleetView(shown, len(bikes), page, count, fleet.counts)


def fleet_update(view: FleetView, column: str, descending: bool, stale: Any = "") -> FleetUpdate:
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
    order = "sort sorted-down" if descending else "sort sorted-up"
    return FleetUpdate(
        rows=[pages.fleet_row(row) for row in view.rows],
        summary=summary,
        page_label=f"page {view.page + 1} of {view.pages}",
        empty=empty,
        stale=stale,
        sort_classes=[order if c == column else "sort" for c, _ in pages.FLEET_COLUMNS],
        pages=view.pages,
    )


def recent_update(stats: RecentStats, stale: Any = "") -> RecentUpdate:
    def watts(value: float | None) -> str:
        return "–" if value is None else f"{value:,.0f} W"

    notice: Any = stale or (
        "" if stats.rides else pages.notice("No rides have started in the last 12 hours.")
    )
    return RecentUpdate(
        rides=f"{stats.rides:,}",
        riders=f"{stats.riders:,}",
        energy=energy_text(stats.energy_kj),
        power=watts(stats.average_power),
        resistance=(
            "–" if stats.average_resistance is None else f"{stats.average_resistance:,.0f}"
        ),
        gender_chart=charts.riders_by_gender(stats.riders_by_gender),
        age_chart=charts.riders_by_age(stats.riders_by_age),
        time_chart=charts.time_by_gender(stats.seconds_by_gender),
        notice=notice,
    )


def maintenance(data: DashboardData) -> Any:
    """The maintenance page as of now: the flagged bikes, and each drifting bike's power
    against the fleet's model."""
    bikes = run_query(data.connect, "bike health", health_db.flagged)
    charts_of = {}
    for bike in bikes:
        if any(kind == bike_health.POWER_DRIFT for kind, *_ in bike.findings):
            serial = bike.bike_serial
            found = run_query(data.connect, f"power of {serial}", _power_of(serial))
            charts_of[serial] = charts.power_against_model(serial, *(v.tolist() for v in found))
    as_of = dt.datetime.fromtimestamp(data.wall(), dt.UTC).strftime("%d %b %Y %H:%M UTC")
    return pages.maintenance_page(bikes, charts_of, as_of)


def _power_of(serial: str) -> Callable[[Any], Any]:
    return lambda conn: health_db.power_against_model(conn, serial)
