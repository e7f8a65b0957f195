"""The daily report against real PostgreSQL and a real SMTP server: the figures in the PDF's
own text equal those worked out from the wire lines, with their changes; an empty day; a day
half compressed; the email sent once, and again only when forced. Every page is rendered to
PNG under build/report, kept by CI."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest

from deleton.core import training
from deleton.core.records import to_datetime
from deleton.report import command
from deleton.settings import load_settings
from tests.conftest import ROOT
from tests.harness.expected import ALERTS_NEVER_EXPIRE
from tests.harness.fleet import SECOND, START, dump_fleet, ingest_file
from tests.harness.services import SmtpServer, env_for, run_deleton, scalar
from tests.harness.wire_truth import Ride, alerts_of, last_reading, rides_from_wire

PAGES = Path(os.environ.get("DELETON_REPORT_PAGES", ROOT / "build" / "report"))
DAY = dt.date(2022, 11, 3)
SETTINGS = {"ride_idle_timeout": "5", "alert_max_age": ALERTS_NEVER_EXPIRE}


def duration_text(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def expected(rides: list[Ride], earlier_riders: set[int]) -> dict[str, str]:
    """The headline figures of ``rides``, worked out from the wire lines alone."""
    seconds = [((r.last_line if r.ended else last_reading(r)) - r.started) / SECOND for r in rides]
    readings = [reading for r in rides for reading in r.readings]
    beats = [hr for _, _, _, hr, _, _ in readings if hr > 0]
    watts = [w for *_, w in readings]
    riders = {r.user_id for r in rides}
    alerts = [alerts_of(r) for r in rides]
    energy = sum(watts) / 1000
    efforts = [effort_of(r) for r in rides]
    known = [e for e in efforts if e is not None]
    return {
        "rides": f"{len(rides):,}",
        "riders": f"{len(riders):,}",
        "new riders": f"{len(riders - earlier_riders):,}",
        "total ride time": duration_text(sum(seconds)),
        "average ride time": duration_text(sum(seconds) / len(rides)),
        "average power": f"{sum(watts) / len(watts):,.0f} W",
        "total energy": f"{energy:,.0f} kJ" if energy < 10_000 else f"{energy / 3600:,.1f} kWh",
        "average heart rate": f"{sum(beats) / len(beats):,.0f} bpm",
        "high alerts": f"{sum(h for h, _ in alerts):,}",
        "low alerts": f"{sum(lo for _, lo in alerts):,}",
        "average effort points": f"{sum(known) / len(known):,.1f}" if known else "–",
    }


def effort_of(ride: Ride) -> float | None:
    """A ride's effort points by core/training's rule, from its wire lines."""
    if ride.age is None:
        return None
    return training.effort_points(
        training.seconds_in_hr_zone([r[3] for r in ride.readings], training.max_hr(ride.age))
    )


def tiles(text: str) -> dict[str, str]:
    """Each headline tile's value, read back from the PDF's text (label, value, change)."""
    lines = text.splitlines()
    found = {}
    for label in ("RIDES", "RIDERS", "NEW RIDERS", "TOTAL RIDE TIME", "AVERAGE RIDE TIME",
                  "AVERAGE POWER", "TOTAL ENERGY", "AVERAGE HEART RATE",
                  "AVERAGE EFFORT POINTS", "HIGH HEART-RATE ALERTS",
                  "LOW HEART-RATE ALERTS"):  # fmt: skip
        at = lines.index(label)
        found[label.lower().replace("heart-rate ", "")] = lines[at + 1]
        found[label.lower().replace("heart-rate ", "") + " change"] = lines[at + 2]
    return found


def read_pdf(path: Path, name: str) -> tuple[int, str]:
    """The PDF's page count and text; each page saved as PNG for people to look at."""
    document = pdfium.PdfDocument(io.BytesIO(path.read_bytes()))
    PAGES.mkdir(parents=True, exist_ok=True)
    texts = []
    for number in range(len(document)):
        page = document[number]
        texts.append(page.get_textpage().get_text_range())
        page.render(scale=2).to_pil().save(PAGES / f"{name}-page-{number + 1}.png")
    return len(document), "\n".join(texts).replace("\r\n", "\n")


@pytest.fixture
def two_days(db: str, tmp_path: Path) -> tuple[list[Ride], list[Ride], Path]:
    """A fleet's evening of 2 and of 3 November 2022, ingested; the dump of the 3rd."""
    before, day = tmp_path / "before.jsonl", tmp_path / "day.jsonl"
    dump_fleet(before, bikes=30, seconds=3600, seed=51, start=START - 86_400 * SECOND)
    dump_fleet(day, bikes=40, seconds=3600, seed=41)
    ingest_file(db, before, **SETTINGS)
    return rides_from_wire(before), rides_from_wire(day), day


def report(db: str, out: Path, *args: str, **settings: str) -> str:
    result = run_deleton("report", "--out", str(out), *args, env=env_for(db, **settings))
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.decode()


def mail_settings(smtp: SmtpServer) -> dict[str, str]:
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": str(smtp.port),
        "report_recipients": "ceo@deleton.example, cfo@deleton.example",
        "mail_from": "reports@deleton.example",
    }


def test_the_report_says_what_the_wire_lines_say_and_is_sent_once(
    db: str, two_days: tuple[list[Ride], list[Ride], Path], smtp: SmtpServer, tmp_path: Path
) -> None:
    before, rides, dump = two_days
    ingest_file(db, dump, **SETTINGS)
    out = tmp_path / "report.pdf"
    report(db, out, "--date", DAY.isoformat(), "--send", **mail_settings(smtp))
    pages, text = read_pdf(out, "day")
    assert pages == 2 and "Thursday 3 November 2022" in text
    got = tiles(text)
    want = expected(rides, {r.user_id for r in before if r.user_id is not None})
    assert {k: got[k] for k in want} == want
    rides_then, rides_now = len(before), len(rides)
    change = rides_now - rides_then
    assert got["rides change"] == f"{change:+,} ({change / rides_then:+.0%})"
    # top riders: first name and last initial, by energy, as the wire lines add up
    energy: dict[Any, float] = {}
    names = {}
    for r in rides:
        energy[r.user_id] = energy.get(r.user_id, 0.0) + sum(w for *_, w in r.readings) / 1000
        names[r.user_id] = f"{r.first_name} {(r.last_name or '')[:1]}."
    leader = max(energy, key=lambda user: energy[user])
    assert f"1. {names[leader]}" in text and f"{energy[leader]:,.0f} kJ" in text
    # and by effort points, each rider's rides' summed
    effort: dict[Any, float] = {}
    for r in rides:
        if (points := effort_of(r)) is not None:
            effort[r.user_id] = effort.get(r.user_id, 0.0) + points
    hardest = max(effort, key=lambda user: effort[user])
    board = text[text.index("Top riders by effort points") :]
    assert f"1. {names[hardest]}" in board and f"{effort[hardest]:,.1f}" in board
    for r in rides:  # no surname whole, no address, no email
        assert f"{r.first_name} {r.last_name}" not in text

    assert len(smtp.messages) == 1
    (message,) = smtp.messages
    assert message["To"] == "ceo@deleton.example, cfo@deleton.example"
    assert want["rides"] in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    (attachment,) = message.iter_attachments()
    assert attachment.get_content() == out.read_bytes()

    report(db, out, "--date", DAY.isoformat(), "--send", **mail_settings(smtp))
    assert len(smtp.messages) == 1  # this day was sent: not again
    report(db, out, "--date", DAY.isoformat(), "--send", "--force", **mail_settings(smtp))
    assert len(smtp.messages) == 2
    assert scalar(db, "SELECT sends FROM historical.report_delivery") == 2


def test_a_day_without_rides_is_a_clean_page_that_says_so(db: str, tmp_path: Path) -> None:
    out = tmp_path / "empty.pdf"
    report(db, out, "--date", "2022-11-10")
    pages, text = read_pdf(out, "empty-day")
    assert pages == 1 and "No rides in this period" in text
    assert tiles(text)["rides"] == "0" and tiles(text)["average power"] == "–"


def test_a_day_half_compressed_reads_the_same(
    db: str, two_days: tuple[list[Ride], list[Ride], Path], tmp_path: Path
) -> None:
    before, rides, dump = two_days
    lines = dump.read_bytes().splitlines(keepends=True)
    part = tmp_path / "part.jsonl"
    part.write_bytes(b"".join(lines[: len(lines) // 2]))
    ingest_file(db, part, **SETTINGS)
    compressed = run_deleton("compress", "--now", (to_datetime(START) + dt.timedelta(hours=1))
                             .isoformat(), env=env_for(db))  # fmt: skip
    assert compressed.returncode == 0
    with part.open("ab") as rest:
        rest.write(b"".join(lines[len(lines) // 2 :]))
    ingest_file(db, part, **SETTINGS)
    on_3rd = "started_at >= '2022-11-03' AND started_at < '2022-11-04'"
    assert scalar(db, f"SELECT count(*) FROM historical.ride WHERE {on_3rd}") > 0
    assert (
        scalar(db, f"SELECT count(*) FROM daily.ride WHERE summarised_at IS NULL AND {on_3rd}") > 0
    )
    out = tmp_path / "half.pdf"
    report(db, out, "--date", DAY.isoformat())
    _, text = read_pdf(out, "half-compressed")
    want = expected(rides, {r.user_id for r in before if r.user_id is not None})
    assert {k: tiles(text)[k] for k in want} == want


def strip(text: str) -> dict[str, str]:
    """Each cell of the data strip, read back from the PDF's text (label, then value)."""
    lines = text.splitlines()
    return {label: lines[lines.index(label.upper()) + 1] for label in (
        "Bikes sending", "Readings received", "Dead letters", "Ingestion lag",
        "Rides summarised", "Fleet availability")}  # fmt: skip


def test_page_one_says_what_was_received_and_a_complete_day_is_not_incomplete(
    db: str, two_days: tuple[list[Ride], list[Ride], Path], smtp: SmtpServer, tmp_path: Path
) -> None:
    _, rides, dump = two_days
    ingest_file(db, dump, **SETTINGS)
    out = tmp_path / "report.pdf"
    printed = report(db, out, "--date", DAY.isoformat(), "--send", **mail_settings(smtp))
    _, text = read_pdf(out, "day-data")
    cells = strip(text)
    assert cells["Bikes sending"] == f"{len({r.bike for r in rides}):,}"
    assert cells["Readings received"] == f"{sum(len(r.readings) for r in rides):,}"
    assert cells["Dead letters"] == "0" and cells["Rides summarised"] == "0%"
    assert cells["Ingestion lag"].endswith((" s", " min"))
    assert "INCOMPLETE" not in text and "incomplete" not in printed
    (message,) = smtp.messages
    assert message["Subject"].startswith("Deleton daily report")


def test_an_hour_without_readings_in_busy_hours_makes_the_report_incomplete(
    db: str, smtp: SmtpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two evenings of three hours; on the second, the stream is cut for an hour in the
    middle (as an outage would): the report says "Incomplete:" in its subject and names the
    hole on page one."""
    before, day = tmp_path / "before.jsonl", tmp_path / "day.jsonl"
    dump_fleet(before, bikes=6, seconds=3 * 3600, seed=51, start=START - 86_400 * SECOND)
    dump_fleet(day, bikes=6, seconds=3 * 3600, seed=41)
    cut_from, cut_to = START + 75 * 60 * SECOND, START + 135 * 60 * SECOND
    kept = [line for line in day.read_bytes().splitlines(keepends=True)
            if not cut_from <= json.loads(line)["ts"] * 1000 < cut_to]  # fmt: skip
    day.write_bytes(b"".join(kept))
    for dump in (before, day):
        ingest_file(db, dump, **SETTINGS)
    out = tmp_path / "holed.pdf"
    printed = report(db, out, "--date", DAY.isoformat(), "--send", **mail_settings(smtp))
    _, text = read_pdf(out, "incomplete-day")
    assert "INCOMPLETE DATA" in text
    # the hole: from the last reading before the cut to the first after, on London's clock
    # (GMT in November), about the hour cut
    found = re.search(r"No reading from (\d\d):(\d\d) to (\d\d):(\d\d) \((\d+) min\)", text)
    assert found, text[:2000]
    # (the last reading before it lies in the second before 19:57)
    assert found.group(1, 2) in {("19", "56"), ("19", "57")} and found.group(3, 4) == ("20", "57")
    assert 59 <= int(found.group(5)) <= 61
    assert f"incomplete: no reading from 19:{found.group(2)} to 20:57" in printed
    (message,) = smtp.messages
    assert message["Subject"] == "Incomplete: Deleton daily report: Thursday 3 November 2022"

    # on its schedule, an incomplete report is made once more after DELETON_REPORT_RETRY
    # before it is sent; stopped while it waits, it sends nothing
    for name, value in env_for(db, report_retry="600", **mail_settings(smtp)).items():
        monkeypatch.setenv(name, value)
    waits: list[float] = []

    def waited(seconds: float) -> bool:
        waits.append(seconds)
        return True

    command.report(load_settings(), DAY, out, send=True, force=True, retry=waited)
    assert waits == [600.0] and len(smtp.messages) == 2
    assert smtp.messages[1]["Subject"].startswith("Incomplete:")
    command.report(load_settings(), DAY, out, send=True, force=True, retry=lambda _: False)
    assert len(smtp.messages) == 2
