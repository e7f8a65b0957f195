"""The daily report's charts, drawn with matplotlib (no browser, no system library) as PNG
for the PDF, in the colours the dashboard uses, on paper.

Each chart is given its figures and returns PNG bytes; an empty series is never drawn as empty
axes: the document says why there is nothing instead.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files, never a window: before pyplot is imported

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from ..core.demographics import band_names, ordered_genders
from ..core.palette import (
    ACCENT,
    GENDER_COLOURS,
    HR_ZONE_COLOURS,
    PRINT_GRID,
    PRINT_INK,
    PRINT_MUTED,
)

DPI = 200
# rc keys, typed by matplotlib as literals: a plain mapping here
_STYLE: Any = {
    "font.family": "DejaVu Sans",  # shipped with matplotlib: every rider's name can be drawn
    "font.size": 9,
    "axes.edgecolor": PRINT_GRID,
    "axes.labelcolor": PRINT_MUTED,
    "axes.titlecolor": PRINT_INK,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "grid.color": PRINT_GRID,
    "grid.linewidth": 0.6,
    "xtick.color": PRINT_MUTED,
    "ytick.color": PRINT_MUTED,
    "legend.frameon": False,
}


def _png(figure: Figure) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI)  # its exact size: the layout keeps it inside
    plt.close(figure)
    return out.getvalue()


def _whole_numbers(axes: object) -> None:
    from matplotlib.ticker import MaxNLocator

    axes.yaxis.set_major_locator(MaxNLocator(integer=True))  # type: ignore[attr-defined]


def riders_by_gender(counts: Mapping[str, int], size: tuple[float, float]) -> bytes:
    with plt.rc_context(_STYLE):
        figure, axes = plt.subplots(figsize=size, layout="constrained")
        genders = ordered_genders(counts)
        bars = axes.bar(genders, [counts[g] for g in genders],
                        color=[GENDER_COLOURS[g] for g in genders], width=0.6)  # fmt: skip
        axes.bar_label(bars, color=PRINT_INK, padding=2)
        axes.set_title("Riders by gender")
        axes.set_ylabel("riders")
        _whole_numbers(axes)
        axes.margins(y=0.15)
        return _png(figure)


def riders_by_age(bands: Mapping[str, Mapping[str, int]], size: tuple[float, float]) -> bytes:
    with plt.rc_context(_STYLE):
        figure, axes = plt.subplots(figsize=size, layout="constrained")
        names = band_names()
        genders = ordered_genders({g for band in bands.values() for g in band})
        width = 0.8 / max(1, len(genders))
        for i, gender in enumerate(genders):
            offsets = [x + (i - (len(genders) - 1) / 2) * width for x in range(len(names))]
            axes.bar(offsets, [bands.get(n, {}).get(gender, 0) for n in names], width=width,
                     color=GENDER_COLOURS[gender], label=gender)  # fmt: skip
        axes.set_xticks(range(len(names)), names)
        axes.set_title("Riders by age and gender")
        axes.set_ylabel("riders")
        _whole_numbers(axes)
        axes.legend(loc="upper right", ncols=len(genders))
        axes.margins(y=0.2)
        return _png(figure)


def rides_by_hour(counts: Sequence[int], zone: str, size: tuple[float, float]) -> bytes:
    with plt.rc_context(_STYLE):
        figure, axes = plt.subplots(figsize=size, layout="constrained")
        axes.bar(range(24), counts, color=ACCENT, width=0.75)
        axes.set_xticks(range(0, 24, 3), [f"{h:02d}:00" for h in range(0, 24, 3)])
        axes.set_xlim(-0.6, 23.6)
        axes.set_title(f"Rides started per hour ({zone})")
        axes.set_ylabel("rides")
        _whole_numbers(axes)
        return _png(figure)


def effort(points: Sequence[tuple[float, float, str]], size: tuple[float, float]) -> bytes:
    """Each ride's average power against its average heart rate."""
    with plt.rc_context({**_STYLE, "axes.grid.axis": "both"}):
        figure, axes = plt.subplots(figsize=size, layout="constrained")
        for gender in ordered_genders({g for _, _, g in points}):
            mine = [(hr, w) for hr, w, g in points if g == gender]
            axes.scatter([hr for hr, _ in mine], [w for _, w in mine], s=9, alpha=0.7,
                         color=GENDER_COLOURS[gender], label=gender, linewidths=0)  # fmt: skip
        axes.set_title("Average power against average heart rate, per ride")
        axes.set_xlabel("average heart rate (bpm, with sensor contact)")
        axes.set_ylabel("average power (W)")
        axes.legend(loc="upper left", markerscale=2)
        for spine in ("left", "bottom"):
            axes.spines[spine].set_color(PRINT_GRID)
        axes.tick_params(colors=PRINT_MUTED)
        return _png(figure)


def zones_by_age(bands: Mapping[str, Sequence[int]], size: tuple[float, float]) -> bytes:
    """The fleet's hours in each heart-rate zone, stacked, in each age band (youngest first;
    bands without a ride whose zones are known are left out)."""
    with plt.rc_context({**_STYLE, "axes.grid.axis": "x"}):
        figure, axes = plt.subplots(figsize=size, layout="constrained")
        names = [name for name in band_names() if name in bands]
        left = [0.0] * len(names)
        for k, colour in enumerate(HR_ZONE_COLOURS):
            hours = [bands[name][k] / 3600 for name in names]
            axes.barh(names, hours, left=left, color=colour, height=0.62, label=f"zone {k + 1}")
            left = [a + b for a, b in zip(left, hours, strict=True)]
        axes.invert_yaxis()  # youngest at the top, as the bands are read
        axes.set_title("Time in each heart-rate zone, by age band")
        axes.set_xlabel("hours (each reading is one second; zones of the rider's 220 - age)")
        figure.legend(loc="outside upper right", ncols=5, fontsize=7.5)  # clear of the bars
        axes.margins(x=0.02)
        axes.spines["left"].set_visible(False)
        return _png(figure)
