"""The daily report as an A4 PDF, built with fpdf2: real text (selectable, searchable) in DejaVu
Sans, which every rider's name can be written in, and matplotlib charts as images.

Page one: the Deleton name and its logo (drawn here: a wheel, no image from elsewhere), the
period and when the report was made, the headline figures with their changes, riders by
gender and rides per hour, riders by age and gender. Page two: power against heart rate, the
fleet's time in each heart-rate zone by age band, and the top ten riders by energy beside the
top ten by effort points (first name and last initial only). A period without rides is one
page that says so, with no empty axes.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from collections.abc import Callable
from pathlib import Path

import matplotlib
from fpdf import FPDF

from ..core.bike_health import KIND_NAMES
from ..core.data_quality import DataCheck
from ..core.palette import (
    ACCENT,
    PRINT_GRID,
    PRINT_INK,
    PRINT_MUTED,
    PRINT_PANEL,
    PRINT_WARNING,
    PRINT_WARNING_PANEL,
)
from ..core.periods import Period
from ..core.report_figures import Figures, Headline, TopRider
from ..core.units import energy_text
from . import charts

FONTS = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
WIDTH, HEIGHT, MARGIN = 210.0, 297.0, 14.0
INNER = WIDTH - 2 * MARGIN


def _rgb(colour: str) -> tuple[int, int, int]:
    value = colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


class _Document(FPDF):
    def __init__(self, period: Period, made: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.period = period
        self.made = made
        self.set_auto_page_break(False)
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.add_font("DejaVu", "", FONTS / "DejaVuSans.ttf")
        self.add_font("DejaVu", "B", FONTS / "DejaVuSans-Bold.ttf")
        self.set_title(f"Deleton daily report, {period.label}")
        self.set_author("Deleton")
        self.set_creator("deleton report")
        self.set_subject("Rides, riders, energy and heart-rate safety")

    def ink(self, colour: str) -> None:
        self.set_text_color(*_rgb(colour))

    def fill(self, colour: str) -> None:
        self.set_fill_color(*_rgb(colour))

    def stroke(self, colour: str) -> None:
        self.set_draw_color(*_rgb(colour))

    def text_at(
        self, x: float, y: float, w: float, h: float, text: str, size: float,
        colour: str = PRINT_INK, bold: bool = False, align: str = "L",
    ) -> None:  # fmt: skip
        """``text`` in a box ``w`` wide; a text too wide for it is set smaller, never cut."""
        style = "B" if bold else ""
        self.set_font("DejaVu", style, size)
        while size > 4 and self.get_string_width(text) > w:
            size -= 0.25
            self.set_font("DejaVu", style, size)
        self.ink(colour)
        self.set_xy(x, y)
        self.cell(w, h, text, align=align)

    def footer(self) -> None:
        label = f"Deleton daily report · {self.period.label}"
        self.text_at(MARGIN, HEIGHT - 10, INNER / 2, 5, label, 7.5, PRINT_MUTED)
        self.text_at(WIDTH / 2, HEIGHT - 10, INNER / 2, 5, f"page {self.page_no()}", 7.5,
                     PRINT_MUTED, align="R")  # fmt: skip


def _logo(pdf: _Document, x: float, y: float, radius: float) -> None:
    """A bike wheel: rim, hub and eight spokes, in Deleton teal."""
    pdf.stroke(ACCENT)
    pdf.set_line_width(radius * 0.16)
    pdf.circle(x, y, radius, style="D")
    pdf.set_line_width(radius * 0.06)
    for spoke in range(8):
        angle = spoke * math.pi / 4
        pdf.line(x, y, x + radius * 0.86 * math.cos(angle), y + radius * 0.86 * math.sin(angle))
    pdf.fill(ACCENT)
    pdf.circle(x, y, radius * 0.22, style="F")


def _header(pdf: _Document) -> float:
    pdf.fill(PRINT_PANEL)
    pdf.rect(0, 0, WIDTH, 38, style="F")
    _logo(pdf, MARGIN + 9, 19, 8.5)
    pdf.text_at(MARGIN + 22, 9.5, 80, 10, "DELETON", 22, PRINT_INK, bold=True)
    pdf.text_at(MARGIN + 22, 20.5, 80, 7, "Daily report", 12, ACCENT, bold=True)
    pdf.text_at(WIDTH / 2 - 10, 10.5, INNER / 2 + 10, 7, pdf.period.label, 12, PRINT_INK,
                bold=True, align="R")  # fmt: skip
    span = f"{_utc(pdf.period.start)} to {_utc(pdf.period.end)}"
    pdf.text_at(WIDTH / 2 - 30, 18, INNER / 2 + 30, 5, span, 8, PRINT_MUTED, align="R")
    pdf.text_at(WIDTH / 2 - 30, 23.5, INNER / 2 + 30, 5, f"Made {pdf.made}", 8, PRINT_MUTED,
                align="R")  # fmt: skip
    pdf.stroke(ACCENT)
    pdf.set_line_width(0.8)
    pdf.line(0, 38, WIDTH, 38)
    return 46.0


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%d %b %Y %H:%M UTC")


def _tiles(pdf: _Document, headlines: list[Headline], top: float) -> float:
    columns, gap = 6, 2.6
    width = (INNER - gap * (columns - 1)) / columns
    height = 25.0
    for i, headline in enumerate(headlines):
        x = MARGIN + (i % columns) * (width + gap)
        y = top + (i // columns) * (height + gap)
        pdf.fill(PRINT_PANEL)
        pdf.rect(x, y, width, height, style="F", round_corners=True, corner_radius=2)
        pdf.text_at(x + 3, y + 2.5, width - 6, 4, headline.label.upper(), 6.3, PRINT_MUTED,
                    bold=True)  # fmt: skip
        size = 14 if len(headline.value) <= 8 else 11
        pdf.text_at(x + 3, y + 8, width - 6, 9, headline.value, size, PRINT_INK, bold=True)
        pdf.text_at(x + 3, y + 18, width - 6, 4, headline.change, 7, PRINT_MUTED)
    rows = math.ceil(len(headlines) / columns)
    pdf.text_at(MARGIN, top + rows * (height + gap), INNER, 4,
                "Changes are against the period of the same length just before.", 7,
                PRINT_MUTED)  # fmt: skip
    return top + rows * (height + gap) + 8


def _incomplete(pdf: _Document, reasons: list[str], top: float) -> float:
    """A banner naming why the data is incomplete, before any figure."""
    height = 9 + 5 * len(reasons)
    pdf.fill(PRINT_WARNING_PANEL)
    pdf.rect(MARGIN, top, INNER, height, style="F", round_corners=True, corner_radius=2)
    pdf.text_at(MARGIN + 4, top + 2, INNER - 8, 5, "INCOMPLETE DATA: these figures are low",
                9, PRINT_WARNING, bold=True)  # fmt: skip
    for i, reason in enumerate(reasons):
        pdf.text_at(MARGIN + 4, top + 7.5 + 5 * i, INNER - 8, 5, f"• {reason[0].upper()}"
                    f"{reason[1:]}.", 8.5, PRINT_INK)  # fmt: skip
    return top + height + 4


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}" if value < 0.995 or value == 1 else "99%"


def _strip(pdf: _Document, data: DataCheck, top: float) -> float:
    """The data strip: what the platform received in the period, how far ingestion stood
    behind, how much is summarised, the fleet's availability and its bikes needing a mechanic."""
    lag = "–" if data.lag_s is None else (
        f"{data.lag_s:,.0f} s" if data.lag_s < 120 else f"{data.lag_s / 60:,.0f} min")  # fmt: skip
    usable = data.bikes_known - data.offline
    cells = (
        ("Bikes sending", f"{data.bikes_sending:,}"),
        ("Readings received", f"{data.readings:,}"),
        ("Dead letters", f"{data.dead_letters:,}"),
        ("Ingestion lag", lag),
        ("Rides summarised", _share(data.summarised_share)),
        ("Fleet availability", _share(data.availability)
         + (f" ({data.bikes_sending:,}/{usable:,})" if usable > 0 else "")),
    )  # fmt: skip
    gap = 2.0
    width = (INNER - gap * (len(cells) - 1)) / len(cells)
    for i, (label, value) in enumerate(cells):
        x = MARGIN + i * (width + gap)
        pdf.fill(PRINT_PANEL)
        pdf.rect(x, top, width, 13, style="F", round_corners=True, corner_radius=1.5)
        pdf.text_at(x + 2, top + 1.5, width - 4, 4, label.upper(), 5.8, PRINT_MUTED, bold=True)
        pdf.text_at(x + 2, top + 6, width - 4, 6, value, 9.5, PRINT_INK, bold=True)
    needing = ", ".join(f"{KIND_NAMES.get(kind, kind).lower()} {n:,}"
                        for kind, n in sorted(data.maintenance.items()))  # fmt: skip
    pdf.text_at(MARGIN, top + 14.5, INNER, 4,
                "Data: this period's lines, as received. Bikes needing maintenance now: "
                + (needing or "none") + ". Availability: bikes ridden against bikes known,"
                " offline bikes left out.", 7, PRINT_MUTED)  # fmt: skip
    return top + 21


def _inches(width_mm: float, height_mm: float) -> tuple[float, float]:
    """A chart's size as drawn: drawn at the size it is printed, every chart's type is the
    same size on the page."""
    return width_mm / 25.4, height_mm / 25.4


def _image(pdf: _Document, png: bytes, x: float, y: float, w: float) -> float:
    """Place a chart ``w`` mm wide; return its height."""
    info = pdf.image(io.BytesIO(png), x=x, y=y, w=w)
    return float(info.rendered_height)


def _empty(pdf: _Document, top: float) -> None:
    pdf.fill(PRINT_PANEL)
    pdf.rect(MARGIN, top, INNER, 40, style="F", round_corners=True, corner_radius=3)
    pdf.text_at(MARGIN, top + 11, INNER, 9, "No rides in this period", 16, PRINT_INK, bold=True,
                align="C")  # fmt: skip
    pdf.text_at(MARGIN, top + 22, INNER, 6,
                "No bike started a ride between these times, so there is nothing to chart.",
                9.5, PRINT_MUTED, align="C")  # fmt: skip


def _table(
    pdf: _Document,
    title: str,
    riders: list[TopRider],
    figure: tuple[str, Callable[[TopRider], str]],
    left: float,
    top: float,
) -> None:
    """A top-ten table of ``riders`` at ``left``, half the page wide: rider, rides, ride time
    and ``figure`` (its heading, and its text of a rider)."""
    width_all = (INNER - 6) / 2
    pdf.text_at(left, top, width_all, 7, title, 11, PRINT_INK, bold=True)
    y = top + 9
    columns = (("Rider", 0.38, "L"), ("Rides", 0.14, "R"), ("Ride time", 0.24, "R"),
               (figure[0], 0.24, "R"))  # fmt: skip
    x = left
    for name, share, align in columns:
        pdf.text_at(x + 1.5, y, width_all * share - 3, 6, name.upper(), 6.5, PRINT_MUTED,
                    bold=True, align=align)  # fmt: skip
        x += width_all * share
    y += 7
    if not riders:
        pdf.text_at(left + 1.5, y, width_all - 3, 5, "No ride with its figure known.", 8.5,
                    PRINT_MUTED)  # fmt: skip
        y += 6.6
    for rank, rider in enumerate(riders, 1):
        if rank % 2:
            pdf.fill(PRINT_PANEL)
            pdf.rect(left, y - 0.8, width_all, 6.6, style="F")
        minutes = round(rider.seconds / 60)
        cells = (
            f"{rank}. {rider.name}",
            f"{rider.rides:,}",
            f"{minutes // 60} h {minutes % 60:02d} min",
            figure[1](rider),
        )
        x = left
        for (_, share, align), text in zip(columns, cells, strict=True):
            pdf.text_at(x + 1.5, y, width_all * share - 3, 5, text, 8.5, PRINT_INK, align=align)
            x += width_all * share
        y += 6.6
    pdf.stroke(PRINT_GRID)
    pdf.set_line_width(0.2)
    pdf.line(left, y + 1, left + width_all, y + 1)


def _efforts(rider: TopRider) -> str:
    return "–" if rider.effort_points is None else f"{rider.effort_points:,.1f}"


def _energy(rider: TopRider) -> str:
    return energy_text(rider.energy_kj)


def _notes(pdf: _Document, zone: str, top: float) -> None:
    pdf.set_font("DejaVu", "", 7.5)
    pdf.ink(PRINT_MUTED)
    pdf.set_xy(MARGIN, top)
    pdf.multi_cell(
        INNER, 4,
        "Riders are distinct people; a rider's gender and age are those of their latest ride. "
        "Energy is each reading's power over the second it stands for (the bikes report once a "
        "second), in kJ, or kWh from 10,000 kJ (1 kWh = 3,600 kJ). Average power and heart "
        "rate are over readings, each ride weighted by its readings; heart rate counts only "
        "readings with sensor contact (a reading of 0 is none). New riders rode for the first "
        f"time in this period. Hours are in {zone}. Rides are counted in the period they "
        "started in, from the summaries of finished rides and from rides not yet summarised. "
        "Heart-rate zones are shares of the rider's maximum, 220 - age at the ride's start "
        "(zone 1 below 60%, then 70, 80 and 90%); effort points are minutes in each zone times "
        "its number, to 0.1, known for riders whose age is known.",
        align="L",
    )  # fmt: skip


def render(
    period: Period,
    now: Figures,
    headlines: list[Headline],
    made: dt.datetime,
    zone: str,
    data: DataCheck | None = None,
) -> bytes:
    """The report's PDF bytes; with ``data``, page one says what was received and, if the
    data is incomplete, why, above everything else."""
    pdf = _Document(period, made.strftime("%d %B %Y %H:%M %Z").strip())
    pdf.add_page()
    top = _header(pdf)
    reasons = data.reasons(lambda t: t.astimezone(made.tzinfo)) if data is not None else []
    if reasons:
        top = _incomplete(pdf, reasons, top)
    top = _tiles(pdf, headlines, top)
    if data is not None:
        top = _strip(pdf, data, top - 3)
    if now.empty:
        _empty(pdf, top)
        _notes(pdf, zone, top + 50)
        return bytes(pdf.output())
    # the charts give the banner its room: page one stays one page
    room = 13.0 + 5 * len(reasons) if reasons else 0.0  # reasons are few (GAPS_NAMED)
    tall = 52.0 - room / 2
    narrow = 66.0  # riders by gender: three bars at most
    genders = charts.riders_by_gender(now.riders_by_gender, _inches(narrow, tall))
    height = _image(pdf, genders, MARGIN, top, narrow)
    hours = charts.rides_by_hour(now.rides_by_hour, zone, _inches(INNER - narrow - 6, tall))
    _image(pdf, hours, MARGIN + narrow + 6, top, INNER - narrow - 6)
    top += height + 5
    ages = charts.riders_by_age(now.riders_by_age, _inches(INNER, 56.0 - room / 2))
    top += _image(pdf, ages, MARGIN, top, INNER)
    _notes(pdf, zone, top + 6)

    pdf.add_page()
    effort = charts.effort(now.effort, _inches(INNER, 84))
    top = MARGIN + _image(pdf, effort, MARGIN, MARGIN, INNER) + 4
    if now.zone_seconds_by_age:
        zones = charts.zones_by_age(now.zone_seconds_by_age, _inches(INNER, 70))
        top += _image(pdf, zones, MARGIN, top, INNER) + 6
    else:
        pdf.text_at(MARGIN, top, INNER, 6, "No ride of this period has its heart-rate zones "
                    "known (its rider's age is needed).", 9, PRINT_MUTED)  # fmt: skip
        top += 12
    half = (INNER - 6) / 2
    _table(pdf, "Top riders by energy", now.top_riders, ("Energy", _energy), MARGIN, top)
    _table(pdf, "Top riders by effort points", now.top_by_effort, ("Effort", _efforts),
           MARGIN + half + 6, top)  # fmt: skip
    return bytes(pdf.output())
