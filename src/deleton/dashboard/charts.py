"""Chart builders: plotly figures as plain dicts, in the colours of ``core.palette``. Pure.

A ride's chart is one figure of four stacked panels (heart rate, power, resistance, cadence) on
one x axis of minutes into the ride, so that a new second of data is one ``extendData`` call
on four traces rather than a redrawn figure.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from ..core.demographics import band_names, ordered_genders
from ..core.palette import (
    ACCENT,
    FONT,
    GENDER_COLOURS,
    GRID,
    INK,
    METRIC_COLOURS,
    MUTED,
    PANEL,
    ZONE_COLOURS,
)
from ..core.readings import RideSeries

Figure = dict[str, Any]

# (column, title, unit, colour) of each panel, top to bottom
PANELS = tuple(
    (column, title, unit, METRIC_COLOURS[column])
    for column, title, unit in (
        ("heart_rate", "Heart rate", "bpm"),
        ("power", "Power", "W"),
        ("resistance", "Resistance", ""),
        ("rpm", "Cadence", "rpm"),
    )
)
MAX_POINTS = 6 * 3600  # a browser keeps at most six hours of one ride


def _base_layout(**extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "paper_bgcolor": PANEL,
        "plot_bgcolor": PANEL,
        "font": {"family": FONT, "color": INK, "size": 15},
        "margin": {"l": 64, "r": 24, "t": 36, "b": 48},
        "showlegend": False,
    }
    layout.update(extra)
    return layout


def empty(message: str) -> Figure:
    """A figure that says why there is nothing to draw, instead of showing empty axes."""
    hidden = {"visible": False}
    return {
        "data": [],
        "layout": _base_layout(
            xaxis=hidden,
            yaxis=hidden,
            annotations=[
                {
                    "text": message,
                    "showarrow": False,
                    "xref": "paper",
                    "yref": "paper",
                    "x": 0.5,
                    "y": 0.5,
                    "font": {"size": 20, "color": MUTED},
                }
            ],
        ),
    }


def ride(points: RideSeries, limit: int | None, revision: object) -> Figure:
    """The whole-ride figure; ``limit`` (the rider's maximum heart rate) is drawn as a line.

    ``revision`` keeps the viewer's zoom while points are appended, and resets it for a new ride.
    """
    count = len(PANELS)
    gap = 0.04
    height = (1 - gap * (count - 1)) / count
    data = []
    layout = _base_layout(
        uirevision=str(revision),
        hovermode="x unified",
        xaxis={
            "anchor": f"y{count}",
            "title": {"text": "minutes into the ride"},
            "gridcolor": GRID,
            "zeroline": False,
        },
    )
    for index, (column, title, unit, colour) in enumerate(PANELS):
        axis = "y" if index == 0 else f"y{index + 1}"
        top = 1 - index * (height + gap)
        layout["yaxis" if index == 0 else f"yaxis{index + 1}"] = {
            "domain": [top - height, top],
            "title": {"text": f"{title} ({unit})" if unit else title, "font": {"size": 13}},
            "gridcolor": GRID,
            "zeroline": False,
            "rangemode": "tozero",
        }
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": title,
                "x": points.minutes,
                "y": getattr(points, column),
                "xaxis": "x",
                "yaxis": axis,
                "line": {"color": colour, "width": 2},
                "connectgaps": False,
            }
        )
    if limit is not None:
        layout["shapes"] = [
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "yref": "y",
                "y0": limit,
                "y1": limit,
                "line": {"color": ZONE_COLOURS["dangerously high"], "dash": "dot", "width": 2},
            }
        ]
        layout["annotations"] = [
            {
                "text": f"your maximum {limit} bpm",
                "xref": "paper",
                "x": 1,
                "xanchor": "right",
                "yref": "y",
                "y": limit,
                "yanchor": "bottom",
                "showarrow": False,
                "font": {"size": 12, "color": ZONE_COLOURS["dangerously high"]},
            }
        ]
    return {"data": data, "layout": layout}


def extension(points: RideSeries) -> list[Any]:
    """``extendData`` for a ride figure: the new points appended to all four panels."""
    columns = [points.minutes] * len(PANELS)
    return [
        {"x": columns, "y": [getattr(points, column) for column, *_ in PANELS]},
        list(range(len(PANELS))),
        MAX_POINTS,
    ]


def _bars(
    title: str,
    categories: Sequence[str],
    series: Mapping[str, Sequence[float]],
    unit: str = "",
    counts: bool = True,
) -> Figure:
    data = [
        {
            "type": "bar",
            "name": name,
            "x": list(categories),
            "y": list(values),
            "marker": {"color": GENDER_COLOURS.get(name, ACCENT)},
            "hovertemplate": f"%{{x}}: %{{y:,.0f}}{unit}<extra>{name}</extra>",
        }
        for name, values in series.items()
    ]
    return {
        "data": data,
        "layout": _base_layout(
            title={"text": title, "x": 0.02, "font": {"size": 18}},
            barmode="group",
            showlegend=len(series) > 1,
            legend={"orientation": "h", "y": -0.18},
            xaxis={"gridcolor": GRID},
            yaxis={
                "gridcolor": GRID,
                "rangemode": "tozero",
                # whole riders: no 0.5 ticks on small counts
                **({"tickformat": ",d", "dtick": 1} if counts and _top(series) <= 10 else {}),
                **({"title": {"text": unit.strip()}} if unit else {}),
            },
        ),
    }


def _top(series: Mapping[str, Sequence[float]]) -> float:
    return max((max(values, default=0) for values in series.values()), default=0)


def riders_by_gender(counts: Mapping[str, int]) -> Figure:
    if not counts:
        return empty("No riders in the last 12 hours")
    genders = ordered_genders(counts)
    figure = _bars("Riders by gender", genders, {"riders": [counts[g] for g in genders]})
    figure["data"][0]["marker"]["color"] = [GENDER_COLOURS[g] for g in genders]
    return figure


def riders_by_age(bands: Mapping[str, Mapping[str, int]]) -> Figure:
    if not bands:
        return empty("No riders of known age in the last 12 hours")
    names = band_names()
    genders = ordered_genders(g for band in bands.values() for g in band)
    series = {g: [bands.get(name, {}).get(g, 0) for name in names] for g in genders}
    return _bars("Riders by age and gender", names, series)


def time_by_gender(seconds: Mapping[str, float]) -> Figure:
    if not seconds:
        return empty("No rides in the last 12 hours")
    genders = ordered_genders(seconds)
    figure = _bars(
        "Ride time by gender",
        genders,
        {"hours": [seconds[g] / 3600 for g in genders]},
        " hours",
        counts=False,
    )
    figure["data"][0]["marker"]["color"] = [GENDER_COLOURS[g] for g in genders]
    figure["data"][0]["hovertemplate"] = "%{x}: %{y:,.2f} hours<extra></extra>"
    return figure


def power_against_model(
    serial: str, model_w: Sequence[float], bike_w: Sequence[float], readings: Sequence[int]
) -> Figure:
    """A bike's power against the fleet's model at the same (resistance, rpm): a point a
    (resistance, rpm, power) it read, sized by its readings, beside the line of a sound bike
    (power = model) and the 5% either side from which drift is flagged."""
    shown = [(m, b, n) for m, b, n in zip(model_w, bike_w, readings, strict=True) if m == m]
    serial = html.escape(serial)  # plotly draws HTML in titles and names: a serial is any text
    if not shown:
        return empty(f"No reading of {serial} in the last 12 hours to draw")
    top = max(max(m, b) for m, b, _ in shown) * 1.08
    biggest = max(n for *_, n in shown)
    line = {"width": 2, "dash": "dot", "color": MUTED}

    def edge(factor: float, name: str) -> dict[str, Any]:
        return {"type": "scatter", "mode": "lines", "x": [0, top], "y": [0, top * factor],
                "name": name, "line": line, "hoverinfo": "skip"}  # fmt: skip

    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines",
                "x": [0, top],
                "y": [0, top],
                "name": "fleet model",
                "line": {"width": 2, "color": INK},
                "hoverinfo": "skip",
            },
            edge(1.05, "+5%"),
            edge(0.95, "-5%"),
            {
                "type": "scatter",
                "mode": "markers",
                "x": [m for m, _, _ in shown],
                "y": [b for _, b, _ in shown],
                "customdata": [n for *_, n in shown],
                "marker": {
                    "size": [6 + 14 * (n / biggest) ** 0.5 for *_, n in shown],
                    "color": ACCENT,
                    "opacity": 0.7,
                },
                "name": serial,
                "hovertemplate": "model %{x:,.1f} W, bike %{y:,.1f} W"
                " (%{customdata:,} readings)<extra></extra>",
            },
        ],
        "layout": _base_layout(
            title={"text": f"{serial}: power against the fleet's model", "x": 0.02},
            xaxis={
                "title": {"text": "fleet model at the same resistance and rpm (W)"},
                "range": [0, top],
                "gridcolor": GRID,
            },
            yaxis={
                "title": {"text": f"{serial}'s power (W)"},
                "range": [0, top],
                "gridcolor": GRID,
            },
        ),
    }
