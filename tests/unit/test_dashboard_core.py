"""The pure parts of the dashboard: heart-rate zones, recent-ride figures, charts, words."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deleton.core import training
from deleton.core.alerts import ZONES, high_limit, urgency, zone
from deleton.core.batch import ReadingRow
from deleton.core.demographics import age_band
from deleton.core.readings import RideSeries
from deleton.core.summaries import RideFacts, Tally, newest_and_tallies, summarise
from deleton.dashboard import charts, pages, views


@pytest.mark.parametrize(
    ("heart_rate", "age", "expected"),
    [
        (0, 30, None),  # no sensor contact: no label
        (None, 30, None),
        (39, 30, "too low"),
        (40, 30, "safe"),
        (161, 30, "safe"),  # 85% of 190 is 161.5
        (162, 30, "high"),
        (190, 30, "high"),  # at the maximum is not beyond it
        (191, 30, "dangerously high"),
        (120, None, None),  # unknown rider: no maximum to judge by
        (35, None, "too low"),
    ],
)
def test_zone_follows_the_riders_own_maximum(
    heart_rate: int | None, age: int | None, expected: str | None
) -> None:
    assert zone(heart_rate, age) == expected


@given(st.integers(1, 260), st.integers(10, 100))
def test_dangerously_high_is_exactly_the_alert_limit(heart_rate: int, age: int) -> None:
    assert (zone(heart_rate, age) == "dangerously high") == (heart_rate > high_limit(age))
    assert zone(heart_rate, age) in ZONES


def test_urgency_puts_danger_first() -> None:
    ranked = sorted([None, "safe", "high", "too low", "dangerously high"], key=urgency)
    assert ranked[-2:] == ["too low", "dangerously high"]
    assert urgency("safe") == urgency(None) == 0


@pytest.mark.parametrize(
    ("age", "band"),
    [(18, "under 25"), (25, "25-34"), (44, "35-44"), (54, "45-54"), (90, "65 and over")],
)
def test_age_groups(age: int, band: str) -> None:
    assert age_band(age) == band


def ride(
    ride_id: int, user: int | None, gender: str | None, age: int | None, **tally: float
) -> RideFacts:
    return RideFacts(ride_id, user, gender, age, 0, 600_000_000, Tally(**tally))  # type: ignore[arg-type]


def test_summarise_counts_riders_once_and_unknown_riders_as_rides_only() -> None:
    stats = summarise(
        [
            ride(1, 10, "female", 30, readings=2, power_sum=200.0, power_readings=2),
            ride(2, 10, "female", 30, readings=1, power_sum=100.0, power_readings=1),
            ride(3, 11, "male", 70, resistance_sum=90.0, resistance_readings=3),
            ride(4, None, None, None, readings=1, power_sum=300.0, power_readings=1),
        ]
    )
    assert stats.rides == 4 and stats.riders == 2
    assert stats.riders_by_gender == {"female": 1, "male": 1}
    assert stats.riders_by_age == {"25-34": {"female": 1}, "65 and over": {"male": 1}}
    assert stats.energy_kj == pytest.approx(0.6)
    assert stats.average_power == pytest.approx(150.0)
    assert stats.average_resistance == pytest.approx(30.0)
    assert stats.seconds_by_gender == {"female": 1200.0, "male": 600.0, "unknown": 600.0}


def test_an_empty_window_has_no_averages() -> None:
    stats = summarise([])
    assert stats.rides == 0 and stats.average_power is None and stats.average_resistance is None


def test_tallies_of_one_ride_add_up() -> None:
    a = Tally(2, 10.0, 2, 60.0, 2, 5)
    b = Tally(1, 4.0, 1, 30.0, 1, 9)
    assert a.merged(b) == Tally(3, 14.0, 3, 90.0, 3, 9)
    assert Tally().merged(a) == a


@given(
    st.lists(
        st.tuples(
            st.integers(1, 3),  # ride
            st.integers(0, 5),  # at: ties and any order
            st.none() | st.integers(0, 40),  # resistance
            st.none() | st.floats(0, 2000, allow_nan=False),  # power
            st.none() | st.integers(-1, 260),  # heart rate: none, no contact, any
        ),
        max_size=30,
    ),
    # each ride's rider's maximum heart rate: unknown, absent, or any (ages past 220 too)
    st.dictionaries(st.integers(1, 3), st.none() | st.integers(-20, 220)),
)
def test_a_batch_tallies_each_ride_as_its_readings_merged_one_by_one(
    rows: list[tuple[int, int, int | None, float | None, int | None]],
    maxima: dict[int, int | None],
) -> None:
    """A batch's tally of a ride is its readings' tallies merged in order, its newest reading
    the last of those at the latest time, and its seconds in each zone those the reference
    definition counts: what ingestion adds to a running tally."""
    readings = [ReadingRow(ride, at, 1.0, res, hr, 60, power) for ride, at, res, power, hr in rows]
    expected: dict[int, tuple[ReadingRow, Tally]] = {}
    for r in readings:
        one = Tally(1, r.power or 0.0, r.power is not None, r.resistance or 0,
                    r.resistance is not None, r.at)  # fmt: skip
        newest, tally = expected.get(r.ride_id, (r, Tally()))
        expected[r.ride_id] = (r if r.at >= newest.at else newest, tally.merged(one))
    found = newest_and_tallies(readings, maxima)
    assert {row.ride_id: (row, tally) for row, tally, _ in found} == {
        ride: (row, tally._replace(power_readings=int(tally.power_readings),
                                   resistance_readings=int(tally.resistance_readings)))
        for ride, (row, tally) in expected.items()
    }  # fmt: skip
    for row, _, zones in found:
        heart_rates = [r.heart_rate for r in readings if r.ride_id == row.ride_id]
        top = maxima.get(row.ride_id)
        assert zones == (training.seconds_in_hr_zone(heart_rates, top) or (0, 0, 0, 0, 0))


def test_ride_chart_has_four_panels_and_extends_all_of_them() -> None:
    points = RideSeries([0.1, 0.2], [90, 0], [50.0, None], [30, 30], [60, 61])
    figure = charts.ride(points, 190, revision=7)
    assert [trace["y"] for trace in figure["data"]] == [[90, 0], [50.0, None], [30, 30], [60, 61]]
    assert len({trace["yaxis"] for trace in figure["data"]}) == 4
    assert figure["layout"]["shapes"][0]["y0"] == 190
    update, traces, most = charts.extension(points)
    assert traces == [0, 1, 2, 3] and most == charts.MAX_POINTS
    assert update["y"][3] == [60, 61] and update["x"][0] == [0.1, 0.2]


def test_empty_states_say_what_is_happening() -> None:
    assert charts.riders_by_gender({})["layout"]["annotations"][0]["text"].startswith("No riders")
    assert charts.riders_by_gender({"male": 2, "female": 3})["data"][0]["x"] == ["female", "male"]


@pytest.mark.parametrize(
    ("seconds", "text"), [(None, "–"), (0, "0:00"), (59.9, "0:59"), (61, "1:01"), (3725, "1:02:05")]
)
def test_durations_read_as_a_clock(seconds: float | None, text: str) -> None:
    assert pages.span(seconds) == text


def test_zone_classes() -> None:
    assert pages.zone_class("dangerously high") == "zone-dangerously-high"
    assert pages.zone_class(None) == "zone-none"


@pytest.mark.parametrize(
    "update", [views.RideUpdate, views.FleetUpdate, views.RecentUpdate, views.LeaderboardUpdate]
)
def test_an_unchanged_update_is_a_return_dash_accepts(update: type[views.Update]) -> None:
    """What a callback returns while the database is away: Dash refuses the whole of it (the
    notice with it) if a pattern's output is not a list of one value per component."""
    from dash._validate import validate_multi_return

    def spec(component: str | dict[str, str]) -> object:
        if isinstance(component, dict):
            kind = component["type"]
            return [{"id": {"type": kind, "n": i}} for i in range(views.PATTERN_SIZES[kind])]
        return {"id": component}

    specs = [spec(component) for component, _ in update.TARGETS.values()]
    first = next(iter(update.TARGETS))
    returned = update.unchanged(**{first: "changed"})
    validate_multi_return(specs, list(returned.values()), "test")  # type: ignore[no-untyped-call]
    assert returned[first] == "changed"
