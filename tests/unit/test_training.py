"""The training figures of Issue 20, against figures worked by hand, on their edges, and as
properties: the power-mean inequality, a live ride equal to the whole ride, consistent places."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deleton.core.alerts import high_limit
from deleton.core.training import (
    RideTraining,
    TrainingFigures,
    aerobic_decoupling_pct,
    band_end_s,
    band_text,
    duration_band,
    efficiency_factor,
    effort_points,
    fourth_power_mean,
    hr_zone,
    max_hr,
    normalized_power_w,
    on_pace,
    ordinal,
    personal_best_kj,
    place_text,
    places,
    projected_kj,
    ride_figures,
    rolling_means,
    round_half_up,
    seconds_in_hr_zone,
    variability_index,
)

# The README's worked example ("Rider figures"): a 32-second ride by a rider aged 40.
EXAMPLE_HR = [0, 0] + [108] * 14 + [140] * 14 + [162] * 2
EXAMPLE_POWER = [100.0] * 30 + [250.0] * 2


def test_the_worked_example() -> None:
    # m = 220 - 40 = 180; zone edges 60% 108, 70% 126, 80% 144, 90% 162.
    # 2 readings without contact: no zone. 14 at 108 = exactly 60%: zone 2. 14 at 140: zone 3
    # (126 <= 140 < 144). 2 at 162 = exactly 90%: zone 5.
    # effort points = (14*2 + 14*3 + 2*5) / 60 = 80 / 60 = 1.333... -> 1.3
    # NP: rolling means from the 30th reading: m30 = 3000/30 = 100, m31 = (2900+250)/30 = 105,
    #   m32 = (2800+500)/30 = 110; fourth powers 100,000,000 + 121,550,625 + 146,410,000
    #   = 367,960,625; / 3 = 122,653,541.67; sqrt = 11,074.906; sqrt = 105.237 -> 105.2 W
    # average power = (30*100 + 2*250) / 32 = 3500 / 32 = 109.375 W
    # VI = 105.237 / 109.375 = 0.96217 -> 0.962
    # average heart rate with contact = (14*108 + 14*140 + 2*162) / 30 = 3796 / 30 = 126.533
    # EF = 105.237 / 126.533 = 0.83170 -> 0.832
    # decoupling: n = 32, halves of 16. P1 = 1600/16 = 100, H1 = 1512/14 = 108,
    #   r1 = 0.925926; P2 = (14*100 + 2*250)/16 = 118.75, H2 = (1960 + 324)/16 = 142.75,
    #   r2 = 0.831874; (r1 - r2) / r1 * 100 = 10.158 -> 10.2 %
    assert ride_figures(EXAMPLE_HR, EXAMPLE_POWER, 40) == TrainingFigures(
        (0, 14, 14, 0, 2), 1.3, 105.2, 0.962, 0.832, 10.2
    )
    live = RideTraining(40)
    for heart_rate, power in zip(EXAMPLE_HR, EXAMPLE_POWER, strict=True):
        live.add(heart_rate, power)
    assert live.figures() == ride_figures(EXAMPLE_HR, EXAMPLE_POWER, 40)
    assert live.energy_kj == 3.5  # 3500 J
    assert live.hr_zone == 5  # the newest reading's


def test_the_readme_works_the_same_example() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("## Rider figures", 1)[1].split("\n## ", 1)[0]
    figures = ride_figures(EXAMPLE_HR, EXAMPLE_POWER, 40)
    shown = [f"**{value}**" for value in figures[1:]]
    assert all(text in section for text in shown), shown
    assert str(figures.seconds_in_hr_zone) in section


def test_maximum_heart_rate_is_the_alerts_own() -> None:
    assert max_hr(40) == high_limit(40) == 180
    assert max_hr(None) is None


@pytest.mark.parametrize(
    ("heart_rate", "zone"),
    [
        # m = 180: 60% = 108, 70% = 126, 80% = 144, 90% = 162
        (1, 1),
        (107, 1),
        (108, 2),  # exactly 60% of m
        (125, 2),
        (126, 3),
        (143, 3),
        (144, 4),
        (161, 4),
        (162, 5),  # exactly 90%
        (230, 5),  # above the maximum: still zone 5
        (0, None),  # no contact
        (None, None),
    ],
)
def test_zone_edges(heart_rate: int | None, zone: int | None) -> None:
    assert hr_zone(heart_rate, 180) == zone


def test_zone_edges_that_are_not_whole_beats() -> None:
    # m = 220 - 33 = 187: 60% = 112.2, so 112 is zone 1 and 113 zone 2; 90% = 168.3
    assert [hr_zone(hr, 187) for hr in (112, 113, 168, 169)] == [1, 2, 4, 5]


def test_no_age_no_zones_and_no_effort_points_but_power_figures_stay() -> None:
    assert hr_zone(150, None) is None
    figures = ride_figures(EXAMPLE_HR, EXAMPLE_POWER, None)
    assert figures.seconds_in_hr_zone is None and figures.effort_points is None
    assert figures.normalized_power_w == 105.2 and figures.efficiency_factor == 0.832


def test_effort_points_round_half_up_not_to_even() -> None:
    # 15 seconds in zone 1 = 15/60 = 0.25 exactly: half up gives 0.3 (round() would give 0.2)
    assert effort_points((15, 0, 0, 0, 0)) == 0.3
    # 9 seconds in zone 5 = 45/60 = 0.75 -> 0.8; 1 second in zone 2 = 2/60 = 0.033 -> 0.0
    assert effort_points((0, 0, 0, 0, 9)) == 0.8
    assert effort_points((0, 1, 0, 0, 0)) == 0.0
    # an hour in zone 3 = 60 min * 3 = 180.0
    assert effort_points((0, 0, 3600, 0, 0)) == 180.0
    assert effort_points(None) is None
    assert seconds_in_hr_zone([100, 0, None, 150, 170], 180) == (1, 0, 0, 1, 1)


def test_rounding_is_postgresql_numeric_rounding() -> None:
    # a float goes through 15 significant digits first, as float8::numeric does: 2.675 is
    # 2.67499999999999982236431605997495353221893310546875 in binary, 2.675 at 15 digits
    assert round_half_up(2.675, 2) == 2.68
    assert round_half_up(0.15, 1) == 0.2
    assert round_half_up(-0.25, 1) == -0.3  # half away from zero
    assert str(round_half_up(-0.04, 1)) == "0.0"  # no negative zero, as in numeric


def test_normalized_power_needs_30_readings() -> None:
    assert normalized_power_w([200.0] * 29) is None
    # exactly 30: one rolling mean, (15*100 + 15*200)/30 = 150; NP = 150 = average power
    alternating = [100.0, 200.0] * 15
    assert normalized_power_w(alternating) == 150.0
    assert variability_index(alternating) == 1.0
    # a reading without power (no Telemetry line) is left out of the power series
    assert normalized_power_w([*alternating[:10], None, *alternating[10:]]) == 150.0


def test_normalized_power_below_average_power() -> None:
    # 29 zeros then 100, 100: rolling means 100/30 = 3.333 and 200/30 = 6.667; fourth powers
    # 123.457 and 1975.309, mean 1049.383, fourth root 5.6916 -> 5.7 W. Average power is
    # 200/31 = 6.4516 W: NP >= average power does NOT hold. VI = 5.6916 / 6.4516 = 0.8822.
    powers = [0.0] * 29 + [100.0, 100.0]
    assert rolling_means(powers) == pytest.approx([10 / 3, 20 / 3])
    raw = fourth_power_mean(rolling_means(powers))
    assert raw is not None and round(raw, 2) == 5.69
    assert normalized_power_w(powers) == 5.7
    assert round(sum(powers) / len(powers), 2) == 6.45
    assert variability_index(powers) == 0.882


def test_zero_divisors_give_null() -> None:
    zeros = [0.0] * 40
    assert normalized_power_w(zeros) == 0.0
    assert variability_index(zeros) is None  # average power 0
    assert efficiency_factor([0] * 40, [100.0] * 40) is None  # no contact
    assert aerobic_decoupling_pct([120] * 40, zeros) is None  # P1/H1 = 0
    assert aerobic_decoupling_pct([], []) is None
    assert aerobic_decoupling_pct([120], [100.0]) is None  # an empty first half


def test_absurd_powers_give_null_or_a_figure_never_an_error() -> None:
    # (m·m)·(m·m) overflows a double at m ~ 1e77 W: NP is then null, as are VI and EF
    figures = ride_figures([120] * 40, [1e300] * 40, 40)
    assert figures.normalized_power_w is None and figures.variability_index is None
    # r1 = 1e-250/30 against r2 = 1/30: a decoupling of -1e252 %, rounded without trouble
    assert aerobic_decoupling_pct([30, 30], [1e-250, 1.0]) == pytest.approx(-1e252)


def test_decoupling_null_when_a_half_has_no_contact() -> None:
    # 10 readings, halves of 5: the first half has no contact at all
    assert aerobic_decoupling_pct([0] * 5 + [120] * 5, [100.0] * 10) is None
    assert aerobic_decoupling_pct([120] * 5 + [None] * 5, [100.0] * 10) is None
    # one reading with contact in the first half is enough: H1 = 100, r1 = 100/100 = 1;
    # the second half r2 = 100/125 = 0.8; (1 - 0.8) / 1 * 100 = 20.0
    assert aerobic_decoupling_pct([0, 0, 0, 0, 100] + [125] * 5, [100.0] * 10) == 20.0


def test_decoupling_halves_of_an_odd_ride() -> None:
    # 5 readings: the first half is the first 2 (⌊5/2⌋), the second the other 3.
    # P1 = 100, H1 = 100, r1 = 1; P2 = (100 + 100 + 160)/3 = 120, H2 = 120, r2 = 1: 0.0 %
    powers = [100.0, 100.0, 100.0, 100.0, 160.0]
    assert aerobic_decoupling_pct([100, 100, 120, 120, 120], powers) == 0.0
    # the heart drifts up for the same power: r1 = 150/100 = 1.5, r2 = 150/120 = 1.25,
    # (1.5 - 1.25) / 1.5 * 100 = 16.667 -> 16.7
    assert aerobic_decoupling_pct([100, 100, 120, 120, 120], [150.0] * 5) == 16.7
    with pytest.raises(ValueError, match="same readings"):
        aerobic_decoupling_pct([100], [])


def test_bands_pace_and_personal_best() -> None:
    assert [duration_band(s) for s in (0, 1199.9, 1200, 1799, 1800, 2700, 3599, 3600, 9e9)] == [
        0, 0, 1, 1, 2, 3, 3, 4, 4,
    ]  # fmt: skip
    assert [band_text(b) for b in range(5)] == [
        "under 20 min", "20-30 min", "30-45 min", "45-60 min", "60 min and over",
    ]  # fmt: skip
    assert band_end_s(0) == 1200 and band_end_s(4) is None
    # 100 kJ in 10 minutes, band [0, 20): at that rate 200 kJ at 20 minutes
    assert projected_kj(100.0, 600) == 200.0
    # 150 kJ in 25 minutes, band [20, 30): 150 / 1500 s * 1800 s = 180 kJ
    assert projected_kj(150.0, 1500) == pytest.approx(180.0)
    assert projected_kj(500.0, 3600) is None  # [60, ∞) has no end
    assert projected_kj(0.0, 0) is None
    earlier = [(600.0, 50.0), (1500.0, 80.0), (900.0, 60.0), (1199.0, 55.0)]
    assert personal_best_kj(earlier, 0) == 60.0
    assert personal_best_kj(earlier, 1) == 80.0
    assert personal_best_kj(earlier, 4) is None
    assert on_pace(100.0, 600, 199.0) is True  # projects 200
    assert on_pace(100.0, 600, 201.0) is False
    assert on_pace(100.0, 600, None) is None
    assert on_pace(500.0, 3700, 400.0) is None


def test_places_and_their_text() -> None:
    assert places([5.0, 9.0, 7.0, 7.0, 1.0]) == [4, 1, 2, 2, 5]
    assert places([3.0, 3.0, 3.0]) == [1, 1, 1]
    assert places([]) == []
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 101, 111, 112, 1000)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd",
        "101st", "111th", "112th", "1,000th",
    ]  # fmt: skip
    assert place_text(12, 340) == "12th of 340"
    assert place_text(1, 50_000) == "1st of 50,000"


# 0, or a watt's thousandth to 2 kW: below ~1e-77 W a fourth power underflows to 0
powers_st = st.one_of(st.just(0.0), st.floats(1e-3, 2000))


@given(st.lists(powers_st, min_size=30, max_size=300))
def test_normalized_power_is_at_least_the_mean_rolling_mean(powers: list[float]) -> None:
    # the power-mean inequality: the fourth-power mean of the rolling means is at least their
    # plain mean (up to the last bits of the fourth root)
    means = rolling_means(powers)
    assert len(means) == len(powers) - 29
    normalized = fourth_power_mean(means)
    assert normalized is not None
    assert normalized >= math.fsum(means) / len(means) * (1 - 1e-12)


readings_st = st.lists(
    st.tuples(
        st.one_of(st.none(), st.just(0), st.integers(30, 230)),
        st.one_of(st.none(), powers_st),
    ),
    max_size=140,
)


@settings(max_examples=60, deadline=None)
@given(readings_st, st.one_of(st.none(), st.integers(18, 90)))
def test_a_live_ride_equals_the_whole_ride_after_every_reading(
    readings: list[tuple[int | None, float | None]], age: int | None
) -> None:
    live = RideTraining(age)
    heart_rates: list[int | None] = []
    powers: list[float | None] = []
    for heart_rate, power in readings:
        live.add(heart_rate, power)
        heart_rates.append(heart_rate)
        powers.append(power)
        assert live.figures() == ride_figures(heart_rates, powers, age)
        assert live.hr_zone == hr_zone(heart_rate, max_hr(age))
    assert live.readings == len(readings)
    assert live.energy_kj * 1000 == pytest.approx(math.fsum(p for p in powers if p is not None))
    light = RideTraining(age, halves=False)  # a fleet-wide view's: no decoupling kept
    for heart_rate, power in readings:
        light.add(heart_rate, power)
    assert light.figures() == live.figures()._replace(aerobic_decoupling_pct=None)


@given(st.lists(st.integers(0, 20).map(float), max_size=50))
def test_places_are_consistent(values: list[float]) -> None:
    got = places(values)
    for value, place in zip(values, got, strict=True):
        assert place == 1 + sum(other > value for other in values)  # ties share a place
    ranked = sorted(zip(values, got, strict=True), key=lambda pair: -pair[0])
    assert [place for _, place in ranked] == sorted(got)
    assert not got or (min(got) == 1 and max(got) <= len(values))
