"""The dashboard's page layouts and the words and numbers on them. No I/O.

Each page carries its own timer, so only the page on screen asks for updates. Component ids are
the contract with ``dashboard``'s callbacks and with the browser tests.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from dash import dcc, html

from ..core import bike_health
from ..core.access import Viewer
from ..core.leaderboard import Standing, energy_text
from ..core.palette import ZONE_COLOURS
from ..core.training import band_end_s, band_text, ordinal
from . import charts

if TYPE_CHECKING:
    from ..postgres.health import BikeFindings

RIDE_TICK_MS = 1000
FLEET_TICK_MS = 1000
RECENT_TICK_MS = 30_000
FLEET_PAGE_SIZE = 25

NAV = (
    ("/", "Current ride"),
    ("/recent", "Recent rides"),
    ("/fleet", "Fleet"),
    ("/leaderboard", "Leaderboard"),
    ("/maintenance", "Maintenance"),
)


def clock_time(micros: int) -> str:
    """``HH:MM:SS UTC`` of a moment, for notices."""
    return dt.datetime.fromtimestamp(micros / 1e6, dt.UTC).strftime("%H:%M:%S UTC")


def span(seconds: float | None) -> str:
    """A duration as ``H:MM:SS`` (``M:SS`` under an hour)."""
    if seconds is None:
        return "–"
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def ago(seconds: float) -> str:
    """How long ago, in words: ``42 s ago``, ``3 min ago``, ``2 h ago``."""
    whole = max(0, int(seconds))
    if whole < 120:
        return f"{whole} s ago"
    if whole < 7200:
        return f"{whole // 60} min ago"
    return f"{whole // 3600} h ago"


def zone_class(zone: str | None) -> str:
    """The CSS class of a heart-rate zone: ``zone-safe``, ``zone-dangerously-high``..."""
    return "zone-" + (zone or "none").replace(" ", "-")


def shell(viewer: Viewer | None = None, csrf: str = "") -> html.Div:
    """What every page shares: the brand, the navigation and who is signed in (staff only),
    the page slot. A screen shows its page alone; no one else is served the app at all."""
    brand = [html.Span("DELETON", className="brand-name"), html.Span("live")]
    if viewer is not None and viewer.is_staff:
        top: list[Any] = [
            dcc.Link(brand, href="/", className="brand"),
            html.Nav(
                [
                    dcc.Link(label, href=href, id=f"nav-{label.split()[0].lower()}")
                    for href, label in NAV
                ]
            ),
            html.Form(
                [
                    html.Span(viewer.name, className="who", id="signed-in-as"),
                    dcc.Input(type="hidden", name="csrf", value=csrf),
                    html.Button("Sign out", type="submit", id="sign-out", className="pager"),
                ],
                method="POST",
                action="/logout",
                className="account",
            ),
        ]
    else:
        top = [html.Span(brand, className="brand")]
    return html.Div(
        [
            dcc.Location(id="url", refresh="callback-nav"),
            html.Header(top, className="topbar"),
            html.Main(id="page", className="page"),
        ],
        className="app",
    )


def ticker(name: str, every_ms: int) -> dcc.Interval:
    """The timer of page ``name``; its update callback disables it while it runs."""
    return dcc.Interval(id=f"{name}-tick", interval=every_ms)


def pagers(name: str) -> html.Div:
    """Page ``name``'s previous and next buttons and its page label (ids ``<name>-previous``,
    ``<name>-next``, ``<name>-page-label``)."""
    return html.Div(
        [
            html.Button("‹ Previous", id=f"{name}-previous", className="pager"),
            html.Span(id=f"{name}-page-label"),
            html.Button("Next ›", id=f"{name}-next", className="pager"),
        ],
        className="pagers",
    )


def notice(text: str) -> html.Div:
    return html.Div(text, className="notice")


def _stat(label: str, *shown: Any) -> html.Div:
    return html.Div([html.Span(label, className="caption"), *shown], className="stat")


def ride_page(serial: str | None, kiosk: bool = False) -> html.Div:
    """The current ride of bike ``serial``; ``None`` when no bike has ridden yet. A ``kiosk``
    (the bike's own screen) has no picker: it shows its own bike and nothing else."""
    if serial is None:
        return html.Div(
            [
                html.H1("Current ride"),
                notice(
                    "No bike has sent a ride yet. Rides appear here as soon as the first "
                    "bike starts one."
                ),
            ]
        )
    picker = html.Div(
        [
            html.Label("Bike", htmlFor="bike-picker", className="picker-label"),
            dcc.Dropdown(
                id="bike-picker",
                options=[serial],
                value=serial,
                clearable=False,
                searchable=True,
                placeholder="Find a bike by serial",
                className="picker",
            ),
        ],
        className="picker-row",
    )
    return html.Div(
        [
            html.Div(f"Bike {serial}", className="caption kiosk-bike") if kiosk else picker,
            html.Div(id="ride-notice"),
            html.Section(
                [
                    html.Div(
                        [
                            html.H1("…", id="ride-rider"),
                            html.Div(id="ride-details", className="details"),
                            html.Div(
                                [
                                    html.Span("Ride time", className="caption"),
                                    html.Span("–", id="ride-duration", className="duration"),
                                ],
                                className="stat",
                            ),
                        ],
                        className="rider",
                    ),
                    html.Div(
                        [
                            html.Span("–", id="hr-value", className="hr-value"),
                            html.Span("bpm", className="hr-unit"),
                            html.Div(id="hr-zone", className="hr-zone"),
                            html.Div(id="hr-limit", className="caption"),
                        ],
                        id="hr",
                        className="hr zone-none",
                    ),
                ],
                className="ride-head card",
            ),
            html.Section(
                [
                    _stat(
                        "Heart-rate zone",
                        html.Span("–", id="ride-hr-band", className=hr_band_class(None)),
                    ),
                    html.Div(
                        [html.Span("Time in zones", className="caption"), zone_bar()],
                        className="stat zones",
                    ),
                    _stat("Effort points", html.Span("–", id="ride-effort", className="figure")),
                    _stat(
                        "Energy",
                        html.Span("–", id="ride-energy", className="figure"),
                        html.Div(id="ride-best", className="best"),
                    ),
                    _stat(
                        "Place",
                        html.Span("–", id="ride-place", className="figure"),
                        html.Div(id="ride-place-of", className="caption"),
                    ),
                ],
                className="ride-training card",
            ),
            dcc.Graph(
                id="ride-chart",
                figure=charts.empty("Loading the ride…"),
                config={"displayModeBar": False, "responsive": True},
                style={"height": "560px"},
                className="card",
            ),
            dcc.Store(id="ride-state", data={"serial": serial}),
            ticker("ride", RIDE_TICK_MS),
        ],
        id="ride-page",
        className="kiosk" if kiosk else "",
    )


FLEET_COLUMNS = (
    ("bike", "Bike"),
    ("rider", "Rider"),
    ("duration", "Ride time"),
    ("heart_rate", "Heart rate"),
    ("zone", "Zone"),
    ("hr_zone", "HR zone"),
    ("effort_points", "Effort points"),
)
# a first click shows the most first
DESCENDING_FIRST = {"duration", "heart_rate", "zone", "hr_zone", "effort_points"}
FLEET_SORT = {"column": "zone", "descending": True, "page": 0}


def fleet_page() -> html.Div:
    return html.Div(
        [
            html.H1("Fleet"),
            html.Div(id="fleet-stale"),
            html.Div(id="fleet-summary", className="summary"),
            html.Table(
                [
                    html.Thead(
                        html.Tr(
                            [
                                html.Th(
                                    html.Button(
                                        label,
                                        id={"type": "fleet-sort", "column": column},
                                        className="sort",
                                    )
                                )
                                for column, label in FLEET_COLUMNS
                            ]
                        )
                    ),
                    # drawn by assets/fleet.js from fleet-data (see there): no children here
                    html.Tbody(id="fleet-rows"),
                ],
                id="fleet-table",
                className="fleet card",
            ),
            html.Div(id="fleet-empty"),
            pagers("fleet"),
            dcc.Store(id="fleet-data"),
            dcc.Store(id="fleet-view", data=FLEET_SORT),
            dcc.Store(id="fleet-pages", data=1),
            ticker("fleet", FLEET_TICK_MS),
        ],
        id="fleet-page",
    )


def bike_href(serial: str) -> str:
    """Where a bike's screen is: its serial quoted (a serial is any text a bike sends as its
    key, ``?`` and ``/`` too); the route unquotes it."""
    return f"/bike/{quote(serial, safe='')}"


def fleet_row(row: dict[str, Any]) -> list[str]:
    """One bike of the fleet table as ``assets/fleet.js`` draws it: where the row links (every
    cell links to the bike's ride), the row's class (its zone's), then its cells' texts."""
    return [
        bike_href(row["bike"]),
        zone_class(row["zone"] if row["zone"] in ZONE_COLOURS else None),
        row["bike"],
        row["rider"],
        row["duration"],
        "–" if row["heart_rate"] is None else str(row["heart_rate"]),
        row["zone"],
        "–" if row["hr_zone"] is None else str(row["hr_zone"]),
        "–" if row["effort_points"] is None else f"{row['effort_points']:.1f}",
    ]


def _card(label: str, ident: str) -> html.Div:
    return html.Div(
        [html.Span(label, className="caption"), html.Span("–", id=ident, className="figure")],
        className="card tile",
    )


CHART = {"height": "380px"}


def recent_page() -> html.Div:
    graph_config: Any = {"displayModeBar": False, "responsive": True}
    return html.Div(
        [
            html.H1("Recent rides"),
            html.Div("The last 12 hours, refreshed every 30 seconds.", className="caption"),
            html.Div(id="recent-notice"),
            html.Div(
                [
                    _card("Rides", "recent-rides"),
                    _card("Riders", "recent-riders"),
                    _card("Total energy", "recent-energy"),
                    _card("Average power", "recent-power"),
                    _card("Average resistance", "recent-resistance"),
                ],
                className="tiles",
            ),
            html.Div(
                [
                    dcc.Graph(
                        id="recent-gender", config=graph_config, style=CHART, className="card"
                    ),
                    dcc.Graph(id="recent-age", config=graph_config, style=CHART, className="card"),
                    dcc.Graph(id="recent-time", config=graph_config, style=CHART, className="card"),
                ],
                className="charts",
            ),
            ticker("recent", RECENT_TICK_MS),
        ],
        id="recent-page",
    )


def not_found(path: str) -> html.Div:
    return html.Div([html.H1("Not here"), notice(f"There is no page at {path}.")])


def not_on_this_screen(what: str) -> html.Div:
    """What a screen shows when asked for a page that is not its own: nothing of anyone."""
    return html.Div([html.H1("Not on this screen"), notice(what)], id="elsewhere")


LEADERBOARD_TICK_MS = 1000
LEADERBOARD_PAGE_SIZE = 25
# each board's columns: riding now, a ride a row; today, a rider a row
LEADERBOARD_COLUMNS = {
    "now": ("Place", "Rider", "Bike", "Ride time", "HR zone", "Effort points", "Energy"),
    "today": ("Place", "Rider", "Rides", "Ride time", "Energy"),
}
LEADERBOARD_VIEW = {"period": "now", "page": 0}


def leaderboard_page() -> html.Div:
    """Everyone riding now ranked by energy this ride, or today's riders by the day's energy:
    for staff, and for a gym's big screen (a leaderboard screen link)."""
    return html.Div(
        [
            html.H1("Leaderboard"),
            dcc.Tabs(
                id="leaderboard-period",
                value="now",
                children=[
                    dcc.Tab(
                        label="Riding now",
                        value="now",
                        id="leaderboard-tab-now",
                        className="board-tab",
                        selected_className="board-tab-selected",
                    ),
                    dcc.Tab(
                        label="Today",
                        value="today",
                        id="leaderboard-tab-today",
                        className="board-tab",
                        selected_className="board-tab-selected",
                    ),
                ],
                className="board-tabs",
            ),
            html.Div(id="leaderboard-stale"),
            html.Div(id="leaderboard-summary", className="summary"),
            html.Table(
                [html.Thead(id="leaderboard-head"), html.Tbody(id="leaderboard-rows")],
                id="leaderboard-table",
                className="board card",
            ),
            html.Div(id="leaderboard-empty"),
            pagers("leaderboard"),
            dcc.Store(id="leaderboard-view", data=LEADERBOARD_VIEW),
            dcc.Store(id="leaderboard-pages", data=1),
            ticker("leaderboard", LEADERBOARD_TICK_MS),
        ],
        id="leaderboard-page",
    )


ZONES = range(1, 6)  # training zones 1 to 5


def zone_bar() -> html.Div:
    """Time in each training zone so far as one horizontal bar, each zone's share in its
    colour, with each zone's time beneath: drawn once, its shares and times set by each tick
    (``zone_shares``, ``zone_times``) instead of a bar of new components a second."""
    return html.Div(
        [
            html.Div(
                [html.Div(id={"type": "zone-share", "zone": k}, title=f"Zone {k}",
                          className=f"zone-share hr-band-{k}", style=share)
                 for k, share in zip(ZONES, zone_shares(None), strict=True)],
                className="zone-shares",
            ),
            html.Div(
                [html.Span([html.Span(str(k), className=hr_band_class(k)),
                            html.Span("–", id={"type": "zone-time", "zone": k})],
                           className="zone-time")
                 for k in ZONES],
                className="zone-legend",
            ),
        ],
        id="ride-zone-bar",
    )  # fmt: skip


def zone_shares(seconds: list[int] | None) -> list[dict[str, Any]]:
    """Each zone's segment's style: its seconds as its share of the bar; a zone without any
    is not drawn (none: no bar)."""
    return [{"flexGrow": n, "display": "block" if n else "none"}
            for n in seconds or [0] * len(ZONES)]  # fmt: skip


def zone_times(seconds: list[int] | None) -> list[str]:
    """Each zone's time beneath the bar: ``M:SS`` (``H:MM:SS`` from an hour), or "–"."""
    return [span(n) if seconds is not None else "–" for n in seconds or [0] * len(ZONES)]


def best_text(band: int, best: float | None, projected: float | None, pace: bool | None) -> str:
    """The rider's personal best for the ride's duration band and whether they are on pace
    for it: "Best 20-30 min: 250.0 kJ · on pace: 262.3 kJ at 30 min"."""
    if best is None:
        return f"No earlier ride of {band_text(band)}: this one sets the best"
    said = f"Best {band_text(band)}: {energy_text(best)}"
    end = band_end_s(band)
    if pace is None or projected is None or end is None:
        return said
    verdict = "on pace" if pace else "behind pace"
    return f"{said} · {verdict}: {energy_text(projected)} at {end // 60} min"


def hr_band_class(zone: int | None) -> str:
    """The CSS classes of a training zone's coloured band (``hr-band hr-band-3``)."""
    return f"hr-band hr-band-{zone or 'none'}"


def hr_zone_band(zone: int | None) -> html.Span:
    """A heart-rate zone as a coloured band with its number; "–" without one."""
    return html.Span("–" if zone is None else str(zone), className=hr_band_class(zone))


def leaderboard_rows(period: str, standings: list[Standing], links: bool) -> list[html.Tr]:
    """The board's rows: a ride a row riding now (with ``links``, for staff, its bike links to
    its ride), a rider a row today."""
    rows = []
    for row in standings:
        place = html.Td("–" if row.place is None else ordinal(row.place), className="place")
        if row.unranked:  # a bike being checked: its energy shows, without a place
            place = html.Td(html.Span("unranked", title=row.unranked), className="place unranked")
        energy = html.Td(energy_text(row.energy_kj), className="energy")
        if period == "now":
            cells = [
                place,
                html.Td(row.rider),
                html.Td(
                    dcc.Link(row.bike_serial, href=bike_href(row.bike_serial))
                    if links and row.bike_serial is not None
                    else row.bike_serial
                ),
                html.Td(span(row.seconds)),
                html.Td(hr_zone_band(row.hr_zone)),
                html.Td("–" if row.effort_points is None else f"{row.effort_points:.1f}"),
                energy,
            ]
        else:
            cells = [place, html.Td(row.rider), html.Td(str(row.rides)), html.Td(span(row.seconds)),
                     energy]  # fmt: skip
        top = row.place is not None and row.place <= 3
        rows.append(html.Tr(cells, className=f"podium-{row.place}" if top else ""))
    return rows


def maintenance_page(
    bikes: Sequence[BikeFindings], charts: Mapping[str, Any], as_of: str
) -> html.Div:
    """The bikes compression's health checks flagged (``core.bike_health``), a finding a row:
    the bike (linked to its screen), the kind, since when, last seen and the evidence; then,
    for each bike whose power drifts, its power against the fleet's model. Staff only."""
    graph_config: Any = {"displayModeBar": False, "responsive": True}
    head = [
        html.H1("Maintenance"),
        html.Div(
            "Bikes the health checks flagged from their rides' telemetry, checked as rides are"
            f" summarised (hourly). As of {as_of}.",
            className="caption",
        ),
    ]
    if not bikes:
        return html.Div([*head, notice("No bike needs a mechanic.")], id="maintenance-page")
    rows = [
        html.Tr(
            [
                html.Td(dcc.Link(bike.bike_serial, href=bike_href(bike.bike_serial))),
                html.Td(bike_health.KIND_NAMES.get(kind, kind), className=f"finding-{kind}"),
                html.Td(first.strftime("%d %b %H:%M")),
                html.Td(last.strftime("%d %b %H:%M")),
                html.Td(bike_health.evidence_text(kind, detail)),
            ]
        )
        for bike in bikes
        for kind, first, last, detail in bike.findings
    ]
    table = html.Table(
        [
            html.Thead(
                html.Tr([html.Th(h) for h in ("Bike", "Finding", "Since", "Last seen", "Evidence")])
            ),
            html.Tbody(rows),
        ],
        id="maintenance-table",
        className="board",
    )
    graphs = [
        dcc.Graph(
            # numbered, not named by serial: a serial is any text a bike sends as its key
            figure=figure,
            id=f"drift-{n}",
            config=graph_config,
            style=CHART,
            className="card",
        )
        for n, figure in enumerate(charts.values())
    ]
    summary = html.Div(
        f"{len(bikes):,} bikes flagged, {len(rows):,} findings", id="maintenance-summary",
        className="summary",
    )  # fmt: skip
    return html.Div([*head, summary, table, html.Div(graphs, className="charts")],
                    id="maintenance-page")  # fmt: skip
