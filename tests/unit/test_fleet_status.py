"""The fleet as columns (``core.fleet_status``) shows what judging each ride on its own shows:
the same zones, efforts, ride times, counts and orders (ties included), for fleets hypothesis
makes up, unknown riders, missing readings and ages past the zones' table among them."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from deleton.core import alerts, training
from deleton.core.fleet_status import (
    MISSING,
    NO_AGE,
    SORT_KEYS,
    WORDS,
    BikeStatus,
    FleetStatus,
    OpenRide,
    OpenRides,
    effort_points,
    fleet_zone,
    fleet_zones,
    hr_zones,
)
from deleton.core.readings import LatestReading, ride_seconds

NOW = 1_700_000_000_000_000
IDLE = 60_000_000


def reference(ride: OpenRide, now: int) -> BikeStatus:
    """A ride judged on its own, as the fleet did before it held columns."""
    latest = ride.latest
    hr = latest.heart_rate if latest else None
    limit = alerts.high_limit(ride.age) if ride.age is not None else None
    return BikeStatus(
        ride.bike_serial,
        ride.first_name or "unknown",
        ride_seconds(latest, ride.started_at, now),
        hr or None,
        fleet_zone(hr, ride.age),
        (hr or 0) / limit if limit else 0.0,
        ride.ride_id,
        training.hr_zone(hr, training.max_hr(ride.age)),
        training.effort_points(ride.zone_seconds) if ride.age is not None else None,
    )


ORDERS: dict[str, Any] = {
    "zone": lambda bike: (alerts.urgency(bike.zone), bike.effort),
    "duration": lambda bike: bike.seconds,
    "heart_rate": lambda bike: bike.heart_rate or -1,
    "hr_zone": lambda bike: bike.hr_zone or -1,
    "effort_points": lambda bike: -1 if bike.effort_points is None else bike.effort_points,
    "bike": lambda bike: bike.serial,
    "rider": lambda bike: bike.rider.lower(),
}

readings = st.builds(
    LatestReading,
    # the idle horizon itself, and a µs before it, as often as anywhere else
    at=st.sampled_from([NOW - IDLE, NOW - IDLE - 1]) | st.integers(NOW - 2 * IDLE, NOW),
    duration=st.none() | st.floats(0, 7200, allow_nan=False),
    heart_rate=st.none() | st.sampled_from([0, 1, 39, 40, 100, 170, 185, 200, 250, 300]),
    power=st.none() | st.floats(0, 1000, allow_nan=False),
    resistance=st.none() | st.integers(0, 100),
    rpm=st.none() | st.integers(0, 200),
)


@st.composite
def fleets(draw: st.DrawFn) -> list[OpenRide]:
    count = draw(st.integers(0, 40))
    serials = draw(st.lists(st.sampled_from([f"SN{i:03}" for i in range(60)]), min_size=count,
                            max_size=count, unique=True))  # fmt: skip
    return [
        OpenRide(
            serial,
            ride_id,
            draw(st.sampled_from([NOW - IDLE, NOW - IDLE - 1]) | st.integers(NOW - 3 * IDLE, NOW)),
            draw(st.none() | st.sampled_from(["Ann", "bob", "Émile", "ann", "Zoë"])),
            # a birth date ahead of the ride gives a negative age
            draw(st.none() | st.sampled_from([-1, -40, 0, 18, 30, 45, 70, 151, 219, 220, 230])),
            draw(st.none() | readings),
            draw(st.none() | st.tuples(*[st.integers(0, 7200)] * 5)),
        )
        for ride_id, serial in enumerate(serials, start=1)
    ]


@settings(max_examples=300, deadline=None)
@given(fleets())
def test_the_columns_judge_and_order_every_ride_as_it_would_be_judged_alone(
    rides: list[OpenRide],
) -> None:
    columns = OpenRides.of(rides)
    assert list(columns) == rides  # the columns hold every ride as it was
    status = FleetStatus(columns, NOW, IDLE)
    riding = [reference(r, NOW) for r in rides if r.last_seen >= NOW - IDLE]
    assert status.riding == len(riding)
    assert status.counts == {
        name: sum(bike.zone == name for bike in riding) for name in status.counts
    }
    for column in SORT_KEYS:
        for descending in (True, False):
            expected = sorted(riding, key=ORDERS[column], reverse=descending)
            shown = status.ordered(column, descending)
            assert len(shown) == len(expected)
            assert shown[:] == expected, (column, descending)
            if expected:
                assert shown[0] == expected[0] and shown[len(shown) - 1] == expected[-1]
    assert status.ordered("no such column", True)[:] == status.ordered("zone", True)[:]
    newest = max(rides, key=lambda r: r.last_seen).bike_serial if rides else None
    assert status.most_recent() == newest


def test_the_zones_table_is_fleet_zone_at_every_heart_rate_and_age() -> None:
    import numpy as np

    heart_rates = [None, *range(0, 400)]
    ages = [None, -300, -5, -1, *range(0, 160), 220, 221, 400]
    pairs = [(hr, age) for hr in heart_rates for age in ages]
    found = fleet_zones(
        np.array([-1 if hr is None else hr for hr, _ in pairs], dtype=np.int64),
        np.array([NO_AGE if age is None else age for _, age in pairs], dtype=np.int64),
    )
    assert [WORDS[i] for i in found] == [fleet_zone(hr, age) for hr, age in pairs]


def test_the_fleets_training_zones_are_hr_zone_at_every_heart_rate_and_age() -> None:
    import numpy as np

    heart_rates = [None, *range(0, 300)]
    ages = [None, -40, -1, *range(0, 120), 219, 220, 221, 400]
    pairs = [(hr, age) for hr in heart_rates for age in ages]
    found = hr_zones(
        np.array([-1 if hr is None else hr for hr, _ in pairs], dtype=np.int64),
        np.array([NO_AGE if age is None else age for _, age in pairs], dtype=np.int64),
    )
    assert [int(z) or None for z in found] == [
        training.hr_zone(hr, training.max_hr(age)) for hr, age in pairs
    ]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(*[st.integers(0, 10**7)] * 5) | st.none(), max_size=30))
def test_the_fleets_effort_points_are_effort_points_to_the_last_digit(
    rows: list[tuple[int, int, int, int, int] | None],
) -> None:
    import numpy as np

    zones = np.array([row or (MISSING,) * 5 for row in rows], dtype=np.int64).reshape(-1, 5)
    found = effort_points(zones, np.full(len(rows), 30, dtype=np.int64))
    assert [None if np.isnan(f) else float(f) for f in found] == [
        training.effort_points(row) for row in rows
    ]
    assert np.isnan(effort_points(zones, np.full(len(rows), NO_AGE, dtype=np.int64))).all()
