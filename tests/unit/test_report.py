"""The daily report's parts without services: its figures, its periods in the report's time
zone (clock changes included), its email and its PDF."""

from __future__ import annotations

import datetime as dt
import io
from zoneinfo import ZoneInfo

import pypdfium2 as pdfium
import pytest

from deleton.core.periods import day_period, previous, rolling_period
from deleton.core.report_figures import Figures, ReportRide, figures, headlines, short_name
from deleton.mail.report_email import compose_report
from deleton.pdf.document import render
from deleton.report.command import schedule
from deleton.settings import load_settings

LONDON = ZoneInfo("Europe/London")


def ride(
    ride_id: int, user: int | None, **values: object
) -> ReportRide:  # a ride of 10 minutes at 100 W, 120 bpm
    defaults: dict[str, object] = {
        "first_name": "Sam", "last_name": "Lee", "gender": "female", "age": 40,
        "local_hour": 9, "duration_s": 600.0, "heart_rate_avg": 120.0,
        "heart_rate_readings": 600, "power_avg": 100.0, "power_readings": 600,
        "energy_kj": 60.0, "alerts_high": 0, "alerts_low": 0, "heart_rate_sum": 72_000,
        "power_sum": 60_000.0,
    }  # fmt: skip
    return ReportRide(ride_id, user, **{**defaults, **values})  # type: ignore[arg-type]


def test_riders_are_people_and_averages_weigh_each_reading() -> None:
    rides = [
        ride(
            1,
            7,
            heart_rate_avg=100.0,
            heart_rate_readings=100,
            heart_rate_sum=10_000,
            power_avg=50.0,
            power_readings=100,
            power_sum=5_000.0,
            energy_kj=5.0,
        ),
        ride(
            2,
            7,
            heart_rate_avg=160.0,
            heart_rate_readings=300,
            heart_rate_sum=48_000,
            power_avg=150.0,
            power_readings=300,
            power_sum=45_000.0,
            energy_kj=45.0,
            local_hour=17,
            alerts_high=1,
        ),
        ride(
            3,
            8,
            first_name="Jo",
            last_name="Bloggs",
            gender="male",
            age=70,
            heart_rate_avg=None,
            heart_rate_readings=0,
            heart_rate_sum=None,
            energy_kj=80.0,
        ),
        ride(4, None, first_name=None, last_name=None, gender=None, age=None, alerts_low=1),
    ]
    got = figures(rides, new_riders=1)
    assert (got.rides, got.riders, got.new_riders) == (4, 2, 1)  # rides are not riders
    assert got.average_heart_rate == pytest.approx((100 * 100 + 160 * 300 + 120 * 600) / 1000)
    assert got.average_power == pytest.approx((50 * 100 + 150 * 300 + 100 * 600 + 100 * 600) / 1600)
    assert got.energy_kj == 190.0 and got.ride_seconds == 2400.0
    assert (got.alerts_high, got.alerts_low) == (1, 1)
    assert got.riders_by_gender == {"female": 1, "male": 1}
    assert got.riders_by_age == {"35-44": {"female": 1}, "65 and over": {"male": 1}}
    assert got.rides_by_hour[9] == 3 and got.rides_by_hour[17] == 1
    assert [(t.name, t.rides, t.energy_kj) for t in got.top_riders] == [
        ("Jo B.", 1, 80.0),
        ("Sam L.", 2, 50.0),
    ]


def test_effort_points_rank_their_own_top_ten_and_zones_add_up_by_age_band() -> None:
    rides = [
        ride(1, 7, seconds_in_hr_zone=[60, 120, 0, 0, 0], effort_points=5.0, energy_kj=90.0),
        ride(2, 7, age=41, seconds_in_hr_zone=[0, 0, 300, 0, 60], effort_points=20.0),
        ride(3, 8, first_name="Jo", last_name="Bloggs", age=70,
             seconds_in_hr_zone=[0, 0, 0, 600, 0], effort_points=40.0, energy_kj=10.0),
        # summarised before zones were kept, and a rider of unknown age: no figures
        ride(4, 9, first_name="Al", last_name="Ng", energy_kj=500.0),
        ride(5, None, first_name=None, last_name=None, gender=None, age=None),
        # a rider with one ride of each: not ranked by effort on one ride's figure alone
        ride(6, 10, first_name="Bo", last_name="Ek", effort_points=90.0,
             seconds_in_hr_zone=[0, 0, 0, 0, 1080]),
        ride(7, 10, first_name="Bo", last_name="Ek", age=None),
        # an erased rider's ride (a tombstone id): in the totals, in no top ten
        ride(8, -3, first_name=None, last_name=None, energy_kj=900.0, effort_points=99.0,
             seconds_in_hr_zone=[0, 0, 0, 0, 1188]),
    ]  # fmt: skip
    got = figures(rides, new_riders=0)
    assert [(t.name, t.effort_points) for t in got.top_by_effort] == [
        ("Jo B.", 40.0), ("Sam L.", 25.0),
    ]  # fmt: skip
    assert got.top_riders[0].name == "Al N."  # energy ranks apart
    assert got.average_effort_points == pytest.approx(254.0 / 5)
    assert got.energy_kj == 90.0 + 60.0 + 10.0 + 500.0 + 60.0 * 3 + 900.0  # the erased ride too
    assert "Unknown rider" not in {t.name for t in got.top_riders + got.top_by_effort}
    assert got.zone_seconds_by_age == {
        "35-44": [60, 120, 300, 0, 60 + 1080 + 1188],
        "65 and over": [0, 0, 0, 600, 0],
    }
    tile = {h.label: h for h in headlines(got, figures(rides[:1], new_riders=0))}
    assert tile["Average effort points"].value == "50.8"
    assert tile["Average effort points"].change == "+45.8 (+916%)"


def test_an_empty_period_divides_by_nothing() -> None:
    empty = figures([], new_riders=0)
    assert empty.empty and empty.average_power is None and empty.average_heart_rate is None
    lines = headlines(empty, empty)
    assert [h.value for h in lines][:3] == ["0", "0", "0"]
    assert all(h.change in ("no change", "–") for h in lines)


def test_changes_say_how_much_and_in_the_figures_own_unit() -> None:
    now = Figures(rides=110, riders=50, energy_kj=36_000.0, average_power=90.0)
    then = Figures(rides=100, riders=50, energy_kj=18_000.0, average_power=None)
    by_label = {h.label: h for h in headlines(now, then)}
    assert by_label["Rides"].change == "+10 (+10%)"
    assert by_label["Riders"].change == "no change"
    assert by_label["Total energy"].value == "10.0 kWh"
    assert by_label["Total energy"].change == "+5.0 kWh (+100%)"
    assert by_label["Average power"].change == "no earlier figure"


def test_names_are_first_name_and_last_initial_only() -> None:
    assert short_name("Sam", "O'Neill-Smith") == "Sam O."
    assert short_name(None, "Lee") == "Unknown rider"


@pytest.mark.parametrize(
    ("day", "hours"),
    [(dt.date(2022, 3, 27), 23), (dt.date(2022, 10, 30), 25), (dt.date(2022, 11, 3), 24)],
)
def test_a_day_is_midnight_to_midnight_in_the_reports_zone(day: dt.date, hours: int) -> None:
    period = day_period(day, LONDON)
    assert period.hours == hours
    assert period.start.astimezone(LONDON).time() == dt.time(0, 0)
    assert period.end.astimezone(LONDON) == dt.datetime.combine(
        day + dt.timedelta(days=1), dt.time(), LONDON
    )
    before = previous(period, day, LONDON)
    assert before.end == period.start and before.slug == (day - dt.timedelta(days=1)).isoformat()


def test_by_default_the_24_hours_to_now_against_the_24_before() -> None:
    now = dt.datetime(2022, 7, 1, 16, 0, tzinfo=dt.UTC)  # 17:00 in London, summer time
    period = rolling_period(now, LONDON)
    assert (period.start, period.end) == (now - dt.timedelta(hours=24), now)
    assert period.label == "24 hours to 17:00 on 1 July 2022"
    before = previous(period, None, LONDON)
    assert before.end == period.start and before.hours == 24


def test_the_email_carries_the_figures_in_html_and_text_and_the_pdf() -> None:
    period = day_period(dt.date(2022, 11, 3), LONDON)
    now = figures([ride(1, 7)], new_riders=1)
    lines = headlines(now, figures([], 0))
    message = compose_report("reports@deleton.example", ["ceo@x.com", "cfo@x.com"], period,
                             lines, b"%PDF-1.4 fake", "report.pdf", now.empty)  # fmt: skip
    assert message["To"] == "ceo@x.com, cfo@x.com"
    assert message["Subject"] == "Deleton daily report: Thursday 3 November 2022"
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    for headline in lines:
        assert headline.value in text and headline.value in html
    (attachment,) = message.iter_attachments()
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "report.pdf"
    assert attachment.get_content() == b"%PDF-1.4 fake"


def pdf_text(data: bytes) -> tuple[int, str, tuple[float, float]]:
    document = pdfium.PdfDocument(io.BytesIO(data))
    text = "\n".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
    return len(document), text, document[0].get_size()


def test_the_pdf_is_a4_with_real_text_and_names_that_need_unicode() -> None:
    period = day_period(dt.date(2022, 11, 3), LONDON)
    rides = [ride(1, 7, first_name="Zoë", last_name="Çelik", energy_kj=12_345.0)]
    now = figures(rides, new_riders=1)
    pages, text, size = pdf_text(render(period, now, headlines(now, figures([], 0)),
                                        period.end, "Europe/London"))  # fmt: skip
    assert pages == 2 and size == pytest.approx((595.28, 841.89), abs=0.1)  # A4 in points
    for words in ("DELETON", "Thursday 3 November 2022", "Top riders by energy", "Zoë Ç.",
                  "3.4 kWh", "120 bpm", "Europe/London"):  # fmt: skip
        assert words in text, words
    assert "Çelik" not in text  # first name and last initial only


def test_an_empty_period_is_one_clean_page_that_says_so() -> None:
    period = day_period(dt.date(2022, 11, 5), LONDON)
    empty = figures([], 0)
    pages, text, _ = pdf_text(render(period, empty, headlines(empty, empty), period.end, "UTC"))
    assert pages == 1 and "No rides in this period" in text


@pytest.mark.parametrize(
    ("now", "due"),
    [
        ("2022-07-01T15:59:00+00:00", "2022-07-01T16:00:00+00:00"),  # 17:00 BST is 16:00 UTC
        ("2022-07-01T16:00:00+00:00", "2022-07-02T16:00:00+00:00"),  # just made: tomorrow
        ("2022-11-03T12:00:00+00:00", "2022-11-03T17:00:00+00:00"),  # 17:00 GMT
        ("2022-03-26T18:00:00+00:00", "2022-03-27T16:00:00+00:00"),  # across the clock change
    ],
)
def test_the_report_is_made_daily_at_its_time_in_its_zone(
    now: str, due: str, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]
    daily = schedule(load_settings())
    assert daily.next_due(dt.datetime.fromisoformat(now)) == dt.datetime.fromisoformat(due)


def test_a_day_of_many_gaps_still_makes_a_report_that_names_them() -> None:
    """Sixteen holes (a flapping stream): page one names the first few and counts the rest;
    the charts give the banner room and the report is still made, never dropped."""
    from deleton.core.data_quality import DataCheck

    period = day_period(dt.date(2022, 11, 3), LONDON)
    now = figures([ride(1, 7)], new_riders=1)
    start = period.start
    holes = [(start + dt.timedelta(hours=h), start + dt.timedelta(hours=h, minutes=30))
             for h in range(6, 22)]  # fmt: skip
    data = DataCheck(bikes_sending=1, readings=600, rides=1, summarised=1, dead_letters=0,
                     lag_s=2.0, bikes_known=1, gaps=holes)  # fmt: skip
    pages, text, _ = pdf_text(render(period, now, headlines(now, figures([], 0)), period.end,
                                     "Europe/London", data))  # fmt: skip
    assert pages == 2 and "INCOMPLETE DATA" in text and "12 more such gaps" in text
