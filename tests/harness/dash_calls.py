"""The bodies a browser posts to ``/_dash-update-component`` for the dashboard's callbacks,
made by hand for tests and the benchmark that call them over HTTP without a browser."""

from __future__ import annotations

import json
from typing import Any

from deleton.dashboard import pages
from deleton.dashboard.views import FleetUpdate, LeaderboardUpdate, RideUpdate

# each pattern-matching output's wildcard key and the values it takes on the page, as rendered
_PATTERNS: dict[str, tuple[str, list[Any]]] = {
    "fleet-sort": ("column", [column for column, _ in pages.FLEET_COLUMNS]),
    "zone-share": ("zone", list(pages.ZONES)),
    "zone-time": ("zone", list(pages.ZONES)),
}


def _outputs(targets: dict[str, Any]) -> list[Any]:
    found: list[Any] = []
    for component, prop in targets.values():
        if isinstance(component, dict):  # a pattern: one per component of it, as rendered
            kind = component["type"]
            key, values = _PATTERNS[kind]
            found.append([{"id": {key: v, "type": kind}, "property": prop} for v in values])
        else:
            found.append({"id": component, "property": prop})
    return found


def _key(targets: dict[str, Any]) -> str:
    parts = []
    for component, prop in targets.values():
        if isinstance(component, dict):
            key, _ = _PATTERNS[component["type"]]
            ident = json.dumps({key: ["ALL"], "type": component["type"]},
                               separators=(",", ":"), sort_keys=True)  # fmt: skip
        else:
            ident = component
        parts.append(f"{ident}.{prop}")
    return ".." + "...".join(parts) + ".."


def route(path: str) -> dict[str, Any]:
    return {
        "output": "page.children",
        "outputs": {"id": "page", "property": "children"},
        "inputs": [{"id": "url", "property": "pathname", "value": path}],
        "changedPropIds": ["url.pathname"],
        "state": [],
    }


def ride_tick(serial: str, state: dict[str, Any] | None = None) -> dict[str, Any]:
    """One tick of bike ``serial``'s page, from the browser's ``state`` (none: a first load)."""
    return {
        "output": _key(RideUpdate.TARGETS),
        "outputs": _outputs(RideUpdate.TARGETS),
        "inputs": [{"id": "ride-tick", "property": "n_intervals", "value": 1}],
        "changedPropIds": ["ride-tick.n_intervals"],
        "state": [{"id": "ride-state", "property": "data", "value": state or {"serial": serial}}],
    }


def fleet_tick(view: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "output": _key(FleetUpdate.TARGETS),
        "outputs": _outputs(FleetUpdate.TARGETS),
        "inputs": [
            {"id": "fleet-tick", "property": "n_intervals", "value": 1},
            {"id": "fleet-view", "property": "data", "value": view or pages.FLEET_SORT},
        ],
        "changedPropIds": ["fleet-tick.n_intervals"],
        "state": [],
    }


def search(text: str) -> dict[str, Any]:
    return {
        "output": "bike-picker.options",
        "outputs": {"id": "bike-picker", "property": "options"},
        "inputs": [{"id": "bike-picker", "property": "search_value", "value": text}],
        "changedPropIds": ["bike-picker.search_value"],
        "state": [{"id": "bike-picker", "property": "value", "value": None}],
    }


def leaderboard_tick(period: str = "now", page: int = 0) -> dict[str, Any]:
    """One tick of the leaderboard page showing ``period``'s page ``page``."""
    return {
        "output": _key(LeaderboardUpdate.TARGETS),
        "outputs": _outputs(LeaderboardUpdate.TARGETS),
        "inputs": [
            {"id": "leaderboard-tick", "property": "n_intervals", "value": 1},
            {"id": "leaderboard-view", "property": "data",
             "value": {"period": period, "page": page}},
        ],
        "changedPropIds": ["leaderboard-tick.n_intervals"],
        "state": [],
    }  # fmt: skip
