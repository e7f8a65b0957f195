"""The colours every picture of Deleton shares: the dashboard's pages and charts, and the daily
report. ``dashboard/assets/deleton.css`` repeats them as CSS variables."""

from __future__ import annotations

from .demographics import UNKNOWN

BACKGROUND = "#0d1117"
PANEL = "#161d29"
GRID = "#263042"
INK = "#e6edf3"
MUTED = "#8b98a9"
ACCENT = "#2dd4bf"  # Deleton teal: the brand, and cadence

ZONE_COLOURS: dict[str | None, str] = {
    "too low": "#60a5fa",
    "safe": "#22c55e",
    "high": "#f59e0b",
    "dangerously high": "#ef4444",
    None: MUTED,
}
# heart-rate zones 1 to 5 (core/training.py), from easy to all out
HR_ZONE_COLOURS = ("#94a3b8", "#60a5fa", "#22c55e", "#f59e0b", "#ef4444")
GENDER_COLOURS = {"female": "#f472b6", "male": "#38bdf8", "other": "#a78bfa", UNKNOWN: MUTED}
# one colour per measurement, wherever it is drawn
METRIC_COLOURS = {
    "heart_rate": "#ef4444",
    "power": "#facc15",
    "resistance": "#a78bfa",
    "rpm": ACCENT,
}
FONT = "Inter, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"

# The same colours on paper (the daily report): dark ink on white, the panels a faint grey.
PAPER = "#ffffff"
PRINT_INK = "#0d1117"  # the dashboard's background, as ink
PRINT_MUTED = "#5b6778"
PRINT_GRID = "#d5dbe3"
PRINT_PANEL = "#f2f5f8"
PRINT_WARNING = "#b45309"  # a report's incomplete data: amber, darkened to print
PRINT_WARNING_PANEL = "#fef3c7"
