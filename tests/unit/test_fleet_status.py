"""The fleet as columns (``core.fleet_status``) shows what judging each ride on its own shows:
the same zones, efforts, ride times, counts and orders (ties included), for fleets hypothesis
makes up, unknown riders, missing readings and ages past the zones' table among them."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from deleton.core import alerts
from deleton.core.fleet_status import (
    NO_AGE,
    SORT_KEYS,
    WORDS,
    BikeStatus,
    FleetStatus,
    OpenRide,
    OpenRides,
    fleet_zone,
    fleet_zones,
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
    )


ORDERS: dict[str, Any] = {
    "zone": lambda bike: (alerts.urgency(bike.zone), bike.effort),
    "duration": lambda bike: bike.seconds,
    "heart_rate": lambda bike: bike.heart_rate or -1,
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
