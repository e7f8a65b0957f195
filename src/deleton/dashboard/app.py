"""The live Dash app over the daily schema: routes and callbacks, wired to ``views``.

Four pages: a bike's current ride (``/``, ``/bike/<serial>``), recent rides (``/recent``), the
fleet (``/fleet``) and the leaderboard (``/leaderboard``), for staff; a bike's screen (opened
by ``/screen#<token>``, shown at ``/screen/``) sees its own ride alone, a leaderboard's screen
the leaderboard alone. Every request passes ``signin``'s door first, and every
callback is registered with the ``Permission`` it needs, which the door checks; callbacks that
show a bike check its serial.

Each page's timer is disabled while its update runs, so a slow update delays the next one
instead of piling up behind the timer. The ride page keeps its place in the browser (ride id
and newest reading time) and asks only for newer readings, appended with ``extendData``; the
fleet and recent-rides pages read shared snapshots, so a wall of screens costs the database
what one does. What each update shows, and which component each output fills, is in
``views``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from dash import ALL, ClientsideFunction, Dash, Input, Output, State, ctx, no_update
from dash.exceptions import PreventUpdate

from ..core.access import Permission, Viewer
from ..errors import DeletonError
from ..postgres.connection import reachable, run_query
from . import pages, signin
from .alb import AlbIdentity
from .gate import Gate
from .serving import Server
from .views import (
    FLEET_FRESH_FOR,
    RECENT_FRESH_FOR,
    WAITING,
    DashboardData,
    FleetUpdate,
    LeaderboardUpdate,
    RecentUpdate,
    RideUpdate,
    fleet_update,
    fleet_view,
    leaderboard_update,
    maintenance,
    most_recent_bike,
    recent_update,
    ride_update,
    staleness,
)

log = logging.getLogger(__name__)

ASSETS = Path(__file__).with_name("assets")
SEARCH_LIMIT = 50


def create_app(data: DashboardData, gate: Gate, alb: AlbIdentity | None = None) -> Dash:
    """The Dash app behind its door; its Flask server is ``app.server``."""
    app = Dash(
        __name__,
        title="Deleton live",
        update_title=None,  # type: ignore[arg-type]  # documented: no title flicker
        assets_folder=str(ASSETS),
        suppress_callback_exceptions=True,
    )
    # the layout is made for each viewer: staff get the navigation, a screen its page alone
    app.layout = lambda: pages.shell(signin.viewer(), signin.csrf_token())
    policies: dict[str, Permission] = {}

    def callback(permission: Permission, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        """``app.callback``, recording the permission the door asks of its callers."""

        def register(func: Callable[..., Any]) -> Callable[..., Any]:
            before = set(app.callback_map)
            app.callback(*args, **kwargs)(func)
            (key,) = set(app.callback_map) - before
            policies[key] = permission
            return func

        return register

    browser_only: set[str] = set()

    def clientside(function: str, *args: Any) -> None:
        """``app.clientside_callback`` of ``window.dash_clientside.deleton[function]``
        (assets/): the browser alone runs it, so the door refuses its key to everyone."""
        before = set(app.callback_map)
        app.clientside_callback(ClientsideFunction("deleton", function), *args)  # type: ignore[no-untyped-call]
        (key,) = set(app.callback_map) - before
        browser_only.add(key)

    def healthz() -> tuple[dict[str, str], int]:
        # for a load balancer or container health check: 200 while the database answers
        try:
            run_query(data.connect, "health", reachable)
        except DeletonError:
            return {"status": "unavailable", "database": "unreachable"}, 503
        return {"status": "ok", "database": "reachable"}, 200

    app.server.add_url_rule("/healthz", "healthz", healthz)

    @callback(Permission.SIGNED_IN, Output("page", "children"), Input("url", "pathname"))
    def route(path: str | None) -> Any:
        path = path or "/"
        viewer = signin.viewer()
        if viewer is None:
            raise PreventUpdate
        if not viewer.is_staff:
            return screen_page(viewer, path)
        if path == "/leaderboard":
            return pages.leaderboard_page()
        if path == "/":
            try:
                return pages.ride_page(most_recent_bike(data))
            except DeletonError:
                return pages.notice(WAITING)
        if path.startswith("/bike/") and len(path) > len("/bike/"):
            return pages.ride_page(unquote(path.removeprefix("/bike/")))
        if path == "/fleet":
            return pages.fleet_page()
        if path == "/recent":
            return pages.recent_page()
        if path == "/maintenance":
            try:
                return maintenance(data)
            except DeletonError:
                return pages.notice(WAITING)
        return pages.not_found(path)

    @callback(
        Permission.STAFF,
        Output("url", "pathname", allow_duplicate=True),
        Input("bike-picker", "value"),
        State("ride-state", "data"),
        prevent_initial_call=True,
    )
    def pick(serial: str | None, state: dict[str, Any]) -> Any:
        if not serial or serial == state.get("serial"):
            return no_update
        return f"/bike/{serial}"

    @callback(
        Permission.STAFF,
        Output("bike-picker", "options"),
        Input("bike-picker", "search_value"),
        State("bike-picker", "value"),
        prevent_initial_call=True,
    )
    def search(text: str | None, current: str | None) -> Any:
        wanted = (text or "").strip().upper()
        if not wanted:
            return no_update
        try:
            riding = data.fleet.get().rides.bike_serial.tolist()
        except DeletonError:
            riding = []  # the database is away: any serial typed can still be opened
        found = [serial for serial in riding if wanted in serial.upper()]
        options = sorted(found)[:SEARCH_LIMIT]
        if wanted not in options and not found:
            options.append(wanted)  # any serial may be looked up, riding or not
        if current and current not in options:
            options.insert(0, current)
        return options

    @callback(
        Permission.BIKE,
        output=RideUpdate.outputs(),
        inputs=[Input("ride-tick", "n_intervals"), State("ride-state", "data")],
        running=[(Output("ride-tick", "disabled"), True, False)],
    )
    def update_ride(_tick: int | None, state: dict[str, Any]) -> dict[str, Any]:
        viewer = signin.viewer()
        if viewer is None or not viewer.may_see_bike(str(state.get("serial"))):
            raise PreventUpdate
        try:
            return ride_update(data, state, current_only=not viewer.is_staff).values()
        except DeletonError as exc:
            log.warning("ride page for bike %s: %s", state.get("serial"), exc)
            return RideUpdate.unchanged(notice=pages.notice(WAITING))

    @callback(
        Permission.STAFF,
        Output("fleet-view", "data"),
        Input({"type": "fleet-sort", "column": ALL}, "n_clicks"),
        Input("fleet-previous", "n_clicks"),
        Input("fleet-next", "n_clicks"),
        State("fleet-view", "data"),
        State("fleet-pages", "data"),
        prevent_initial_call=True,
    )
    def steer_fleet(
        _sorts: Any, _previous: Any, _next: Any, view: dict[str, Any], count: int | None
    ) -> Any:
        clicked = ctx.triggered_id
        if clicked == "fleet-previous":
            return {**view, "page": max(0, view["page"] - 1)}
        if clicked == "fleet-next":
            return {**view, "page": min(view["page"] + 1, max(0, (count or 1) - 1))}
        if isinstance(clicked, dict):
            column = clicked["column"]
            if column == view["column"]:
                return {**view, "descending": not view["descending"], "page": 0}
            return {"column": column, "descending": column in pages.DESCENDING_FIRST, "page": 0}
        return no_update

    @callback(
        Permission.STAFF,
        output=FleetUpdate.outputs(),
        inputs=[Input("fleet-tick", "n_intervals"), Input("fleet-view", "data")],
        running=[(Output("fleet-tick", "disabled"), True, False)],
    )
    def update_fleet(_tick: int | None, view: dict[str, Any]) -> dict[str, Any]:
        column, descending = view["column"], view["descending"]
        try:
            shown = fleet_view(data, column, descending, view["page"])
        except DeletonError as exc:
            log.warning("fleet page: %s", exc)
            return FleetUpdate.unchanged(empty=pages.notice(WAITING))
        stale = staleness(data.fleet, FLEET_FRESH_FOR, "the fleet")
        return fleet_update(shown, column, descending, stale).values()

    # the fleet's rows, drawn from the data update_fleet sends; the output is never changed
    clientside("fleetRows", Output("fleet-rows", "className"), Input("fleet-data", "data"))

    @callback(
        Permission.STAFF,
        output=RecentUpdate.outputs(),
        inputs=[Input("recent-tick", "n_intervals")],
        running=[(Output("recent-tick", "disabled"), True, False)],
    )
    def update_recent(_tick: int | None) -> dict[str, Any]:
        try:
            stats = data.recent.get()
            stale = staleness(data.recent, RECENT_FRESH_FOR, "recent rides")
            return recent_update(stats, stale).values()
        except DeletonError as exc:
            log.warning("recent rides page: %s", exc)
            return RecentUpdate.unchanged(notice=pages.notice(WAITING))

    @callback(
        Permission.LEADERBOARD,
        Output("leaderboard-view", "data"),
        Input("leaderboard-period", "value"),
        Input("leaderboard-previous", "n_clicks"),
        Input("leaderboard-next", "n_clicks"),
        State("leaderboard-view", "data"),
        State("leaderboard-pages", "data"),
        prevent_initial_call=True,
    )
    def steer_leaderboard(
        period: str | None, _previous: Any, _next: Any, view: dict[str, Any], count: int | None
    ) -> Any:
        clicked = ctx.triggered_id
        if clicked == "leaderboard-previous":
            return {**view, "page": max(0, view["page"] - 1)}
        if clicked == "leaderboard-next":
            return {**view, "page": min(view["page"] + 1, max(0, (count or 1) - 1))}
        if clicked == "leaderboard-period" and period != view["period"]:
            return {"period": period, "page": 0}
        return no_update

    @callback(
        Permission.LEADERBOARD,
        output=LeaderboardUpdate.outputs(),
        inputs=[Input("leaderboard-tick", "n_intervals"), Input("leaderboard-view", "data")],
        running=[(Output("leaderboard-tick", "disabled"), True, False)],
    )
    def update_leaderboard(_tick: int | None, view: dict[str, Any]) -> dict[str, Any]:
        viewer = signin.viewer()
        if viewer is None:
            raise PreventUpdate
        # the view comes from the browser: anything but a page number is the first page
        page = view.get("page") if isinstance(view, dict) else 0
        period = view.get("period") if isinstance(view, dict) else "now"
        page = page if isinstance(page, int) else 0
        try:
            return leaderboard_update(data, str(period), page, viewer.is_staff)
        except DeletonError as exc:
            log.warning("leaderboard page: %s", exc)
            return LeaderboardUpdate.unchanged(empty=pages.notice(WAITING))

    unguarded = set(app.callback_map) - set(policies) - browser_only
    if unguarded:
        raise RuntimeError(f"callbacks without a permission: {sorted(unguarded)}")
    signin.install(app.server, gate, policies, alb)
    return app


def screen_page(viewer: Viewer, path: str) -> Any:
    """A screen's page (its own bike's ride, or the leaderboard) at any path the screen may
    open; anything else shows nothing of anyone."""
    if viewer.bike is not None:
        if viewer.may_open(path):
            return pages.ride_page(viewer.bike, kiosk=True)
        return pages.not_on_this_screen(f"This screen shows bike {viewer.bike} only.")
    if viewer.may_open(path):
        return pages.leaderboard_page()
    return pages.not_on_this_screen("This screen shows the leaderboard only.")


def serve(app: Dash, host: str, port: int, stop: threading.Event | None = None) -> None:
    """Serve ``app`` in this thread until the process ends, or until ``stop`` is set: then
    the requests in flight are answered and the workers stopped before this returns."""
    server = Server(app.server, host, port)
    if stop is not None:

        def stop_when_told() -> None:
            stop.wait()
            server.stop_accepting()

        threading.Thread(target=stop_when_told, name="dashboard-stop", daemon=True).start()
    server.run()
