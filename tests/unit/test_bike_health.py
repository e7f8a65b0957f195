"""Each bike-health detector (core/bike_health.py) on its own edges: 60 s against 60 s and a
microsecond, 29 against 30 readings, 299 against 300, 4.9% against 5%, 599 against 600
readings, one rider without a strap against three riders, and each finding's clearance."""

from __future__ import annotations

import json

import numpy as np
import pytest

from deleton.core import bike_health as health
from deleton.core.bike_health import HealthState, PowerModel, PowerSamples, RideSignals
from deleton.core.simulation import FAULT_KINDS

S = 1_000_000  # µs


def ride(ride_id: int, user: int | None = 1, **signals: object) -> RideSignals:
    """A sound ride of 10 minutes starting at ``ride_id`` hours, unless told otherwise."""
    start = ride_id * 3600 * S
    values: dict[str, object] = {
        "first_reading_at": start + S, "seconds": 600.0, "readings": 600, "resistances": 4,
        "cadences": 30, "contact": 590, "zero_cadence_run": 0, "held_cadence_run": 12,
    }  # fmt: skip
    return RideSignals(ride_id, user, start, **{**values, **signals})  # type: ignore[arg-type]


def fed(*rides: RideSignals) -> tuple[HealthState, list[health.Change]]:
    state = HealthState("SN0001")
    changes = [change for r in rides for change in state.feed(r)]
    return state, changes


def test_the_kinds_are_the_simulators_faults() -> None:
    assert health.KINDS == FAULT_KINDS


def test_silent_is_no_telemetry_within_60_s_twice_in_a_row_and_clears_on_the_next() -> None:
    late = 60 * S + 1
    assert not fed(ride(1, first_reading_at=3600 * S + 60 * S), ride(2, first_reading_at=None))[
        0
    ].open  # fmt: skip  (60 s is in time)
    state, changes = fed(ride(1, first_reading_at=None), ride(2, first_reading_at=7200 * S + late))
    assert list(state.open) == [health.SILENT]
    assert state.open[health.SILENT].detail == {
        "rides": [1, 2],
        "telemetry_after_s": [None, 60.000001],
    }
    assert [c.kind for c in changes] == [health.SILENT]
    _, cleared = fed(ride(1, first_reading_at=None), ride(2, first_reading_at=None), ride(3))
    assert (cleared[-1].kind, cleared[-1].cleared, cleared[-1].at) == (
        health.SILENT,
        True,
        3 * 3600 * S,
    )


def test_a_stuck_resistance_needs_two_long_varied_rides_by_different_riders() -> None:
    stuck = {"resistances": 1}
    assert fed(ride(1, 7, **stuck), ride(2, 8, **stuck))[0].open.keys() == {health.RESISTANCE_STUCK}
    assert not fed(ride(1, 7, **stuck), ride(2, 7, **stuck))[0].open  # one rider twice
    assert not fed(ride(1, 7, **stuck), ride(2, 8, **stuck, cadences=2))[0].open
    # exactly 5 minutes shows it; a second less does not qualify and breaks nothing
    assert fed(ride(1, 7, **stuck, seconds=300.0), ride(2, 8, **stuck))[0].open
    short = fed(ride(1, 7, **stuck), ride(2, 9, seconds=299.0), ride(3, 8, **stuck))
    assert short[0].open  # the short ride between is not a ride that could show it
    state, changes = fed(ride(1, 7, **stuck), ride(2, 8, **stuck), ride(3, 9, seconds=299.0))
    assert state.open  # nor does it clear it
    state, changes = fed(ride(1, 7, **stuck), ride(2, 8, **stuck), ride(3, 9))
    assert not state.open and changes[-1].cleared


def test_a_stuck_cadence_is_30_readings_at_rpm_0_or_300_of_one_rpm_while_power_moved() -> None:
    assert not fed(ride(1, zero_cadence_run=29, held_cadence_run=299))[0].open
    assert fed(ride(1, zero_cadence_run=30))[0].open.keys() == {health.CADENCE_STUCK}
    assert fed(ride(1, held_cadence_run=300))[0].open.keys() == {health.CADENCE_STUCK}
    rpm = np.array([80] * 300 + [81], dtype=np.int64)
    moving = np.array([150.0] * 299 + [151.0, 150.0])
    assert health.held_cadence_run(rpm, moving) == 300
    assert health.held_cadence_run(rpm, np.full(301, 150.0)) == 0  # power never moved
    zero = np.array([0] * 5 + [1] * 30 + [0], dtype=np.int64) == 1
    assert health.longest_true_run(zero) == 30 and health.longest_true_run(zero[:0]) == 0
    state, changes = fed(ride(1, zero_cadence_run=40), ride(2, readings=29), ride(3))
    assert not state.open and [c.cleared for c in changes] == [False, True]


def test_a_heart_strap_is_three_rides_without_contact_by_two_riders_or_more() -> None:
    bare = {"contact": 0}
    one_rider = fed(ride(1, 7, **bare), ride(2, 7, **bare), ride(3, 7, **bare))
    assert not one_rider[0].open  # a rider without a strap, three times
    three = fed(ride(1, 7, **bare), ride(2, 8, **bare), ride(3, 9, **bare))
    assert three[0].open.keys() == {health.HEART_STRAP}
    assert not fed(ride(1, 7, **bare), ride(2, 8, **bare), ride(3, 9))[0].open
    assert not fed(ride(1, 7, **bare), ride(2, 8, **bare))[0].open  # two are not three
    state, _ = fed(ride(1, 7, **bare), ride(2, 8, **bare), ride(3, 9, **bare), ride(4, 9))
    assert not state.open


def test_signals_of_a_ride_from_its_readings() -> None:
    at = np.arange(5, dtype=np.int64) * S + 90 * S
    signals = health.ride_signals(
        4, 7, 0, at, np.array([30] * 5), np.array([0, 0, 80, 80, 81]),
        np.array([10.0, 12.0, 150.0, 151.0, 152.0]), np.array([0, 120, 121, 0, 122]),
    )  # fmt: skip
    assert signals == RideSignals(4, 7, 0, 90 * S, 94.0, 5, 1, 3, 3, 2, 2)
    empty = np.empty(0, dtype=np.int64)
    nothing = health.ride_signals(5, None, 0, empty, empty, empty, empty.astype(float), empty)
    assert (nothing.first_reading_at, nothing.readings, nothing.seconds) == (None, 0, 0.0)


def samples(bike: int, n: int, factor: float, rpm: int = 80) -> PowerSamples:
    return PowerSamples(np.full(n, bike), np.full(n, 30), np.full(n, rpm),
                        np.full(n, 100.0 * factor))  # fmt: skip


def join(*parts: PowerSamples) -> PowerSamples:
    return PowerSamples(*(np.concatenate(column) for column in zip(*parts, strict=True)))


def test_the_power_model_is_the_fleets_median_at_each_pair_with_rpm_above_0() -> None:
    fleet = join(samples(0, 3, 1.0), samples(1, 2, 2.0), samples(2, 5, 9.0, rpm=0),
                 samples(3, 1, 3.0, rpm=90))  # fmt: skip
    model = PowerModel.of(fleet)
    assert model.at(np.array([30, 30, 30, 31]), np.array([80, 90, 0, 80])).tolist()[:2] == [
        100.0, 300.0]  # fmt: skip
    assert np.isnan(model.at(np.array([30, 31]), np.array([0, 80]))).all()
    even = PowerModel.of(join(samples(0, 1, 1.0), samples(1, 1, 2.0)))
    assert even.at(np.array([30]), np.array([80])).tolist() == [150.0]


@pytest.mark.parametrize(
    ("factor", "readings", "flagged"),
    [(1.049, 600, False), (1.05, 600, True), (0.95, 600, True), (1.15, 599, False)],
)
def test_drift_is_flagged_from_5_percent_over_600_readings(
    factor: float, readings: int, flagged: bool
) -> None:
    # the fleet's model at 100 W; the bike's readings ``factor`` times it
    fleet = join(samples(0, 5000, 1.0), samples(1, readings, factor))
    found = health.drifts(fleet, PowerModel.of(fleet), 2)
    assert found[0] == health.Drift(0.0, 5000)
    if readings < health.DRIFT_READINGS:
        assert found[1] is None
        return
    assert found[1] is not None and found[1].drift == pytest.approx(factor - 1)
    finding, _ = health.drift_finding(found[1], None, 9)
    assert (finding is not None) == flagged


def test_a_drift_finding_clears_below_3_percent_and_holds_between() -> None:
    open_, cleared = health.drift_finding(health.Drift(0.148, 1494), None, 1)
    assert open_ is not None and open_.detail == {"drift_pct": 14.8, "readings": 1494}
    held, cleared = health.drift_finding(health.Drift(0.04, 900), open_, 2)
    assert held is not None and not cleared and (held.first_seen, held.last_seen) == (1, 2)
    assert health.drift_finding(health.Drift(0.04, 900), None, 2) == (None, False)
    assert health.drift_finding(health.Drift(-0.029, 900), open_, 3) == (None, True)
    assert health.drift_finding(None, open_, 3) == (open_, False)  # too few to judge


def test_offline_is_judged_against_the_newest_line_in_the_data() -> None:
    days = 3 * 86_400 * S
    assert health.offline(0, days, days) and not health.offline(1, days, days)


def test_many_rides_signals_at_once_are_each_rides_own() -> None:
    """``rides_signals`` over many rides' readings equals ``ride_signals`` ride by ride,
    including rides without readings, runs at a ride's edges and one-reading rides."""
    rng = np.random.default_rng(21)
    rides, parts = [], []
    for n in range(300):
        size = int(rng.choice([0, 1, 2, 40, 400]))
        start = n * 10_000 * S
        at = start + np.cumsum(rng.integers(1, 3, size)) * S
        # -1 and NaN: a value a reading lacks (half a reading)
        rpm = rng.choice([0, 0, 60, 61, 90, -1], size) if n % 3 else np.full(size, 70)
        resistance = rng.choice([10, 20, 30, -1], size) if n % 4 else np.full(size, 25)
        power = rng.choice([0.0, 50.5, 60.25, np.nan], size) if n % 5 else np.full(size, 40.0)
        heart = rng.choice([0, 120], size) if n % 7 else np.zeros(size, dtype=np.int64)
        rides.append((n, None if n % 11 == 0 else n % 13, start))
        parts.append((np.full(size, n), at, resistance, rpm, power, heart))
    columns = [np.concatenate([p[i] for p in parts]) for i in range(6)]
    many = health.rides_signals(rides, *columns)
    for (ride_id, user, start), (_, *readings), signals in zip(rides, parts, many, strict=True):
        at, resistance, rpm, power, heart = readings
        watts = np.asarray(power, dtype=np.float64)
        assert signals == health.ride_signals(ride_id, user, start, at, resistance, rpm, watts,
                                              heart)  # fmt: skip


def test_a_median_counted_by_weights_is_the_median_of_the_values_repeated() -> None:
    rng = np.random.default_rng(5)
    keys = rng.integers(0, 20, 500)
    values = rng.choice([1.0, 2.5, 3.0, 7.25], 500)
    weights = rng.integers(1, 6, 500)
    found, medians, totals = health.weighted_medians(keys, values, weights)
    for key, median, total in zip(found.tolist(), medians.tolist(), totals.tolist(), strict=True):
        repeated = np.repeat(values[keys == key], weights[keys == key])
        assert median == np.median(repeated) and total == len(repeated)


def test_the_model_and_drift_from_kept_cells_are_those_from_the_readings() -> None:
    """What a run keeps (the fleet's model cells, each bike's ratio cells) judges as the
    readings themselves would: the same model, the same drift to the 0.01% step."""
    fleet = join(*(samples(b, 700, 1.0, rpm=60 + b % 3) for b in range(6)),
                 samples(6, 700, 1.049, rpm=61), samples(7, 601, 0.85))  # fmt: skip
    model = PowerModel.of(fleet)
    cells = health.model_cells(fleet.resistance, fleet.rpm, fleet.power)
    kept = PowerModel.of_cells(*cells)
    assert np.array_equal(kept.keys, model.keys) and np.array_equal(kept.medians, model.medians)
    bikes, steps, counts = health.ratio_cells(model, fleet)
    direct = health.drifts(fleet, model, 8)
    for bike in range(8):
        drift = health.drift_of_cells(steps[bikes == bike], counts[bikes == bike])
        expected = direct[bike]
        assert (drift is None) == (expected is None)
        if drift is not None and expected is not None:
            assert drift.readings == expected.readings
            assert abs(drift.drift - expected.drift) <= 0.5 / health.RATIO_SCALE


def test_a_bikes_state_survives_its_json_without_its_riders() -> None:
    """What a run keeps of a bike names no rider (an id kept there would outlive the
    rider's erasure); the riders come back from the rides, an erased one as its tombstone."""
    state, _ = fed(ride(1, contact=0), ride(2, user=2, contact=0))
    kept = json.loads(json.dumps(health.state_json(state)))
    assert all(r[1] is None for rides in kept.values() for r in rides)
    assert health.state_of("SN0001", kept, state.open, {1: 1, 2: 2}) == state
    erased = health.state_of("SN0001", kept, {}, {1: -7, 2: 2})
    assert [r.user_id for r in erased.recent[health.HEART_STRAP]] == [-7, 2]
    # a third ride without contact: by the tombstone and another rider, still two riders
    assert [c.kind for c in erased.feed(ride(3, user=2, contact=0))] == [health.HEART_STRAP]


def test_half_readings_are_no_values_never_stuck_ones() -> None:
    """Ride lines without their Telemetry line (rpm -1, power NaN) and the other way round
    (resistance -1) say nothing of a sensor: 400 of them neither hold a cadence nor a
    resistance."""
    n = 400
    at = np.arange(n, dtype=np.int64) * S + S
    signals = health.ride_signals(1, 1, 0, at, np.full(n, -1), np.full(n, -1),
                                  np.full(n, np.nan), np.zeros(n, dtype=np.int64))  # fmt: skip
    assert (signals.held_cadence_run, signals.resistances, signals.cadences) == (0, 0, 0)
    assert not fed(signals)[1]


def test_rides_out_of_start_order_give_a_finding_that_begins_before_it_ends() -> None:
    late, early = ride(5, first_reading_at=None), ride(2, user=2, first_reading_at=None)
    _, changes = fed(late, early)  # the later ride checked first (a clock stepped back)
    (change,) = changes
    assert change.finding is not None
    assert change.finding.first_seen == early.started_at <= change.finding.last_seen
    assert change.finding.last_seen == late.started_at


def test_an_absurd_power_is_bad_data_not_drift_and_never_another_bikes() -> None:
    model = PowerModel.of(samples(0, 700, 1.0))
    absurd = PowerSamples(np.array([0, 1, 2, 3]), np.full(4, 30), np.full(4, 80),
                          np.array([1e8, 1e12, 1e99, np.inf]))  # fmt: skip
    bikes, steps, counts = health.ratio_cells(model, join(absurd, samples(4, 3, 1.1)))
    assert bikes.tolist() == [4] and steps.tolist() == [1000] and counts.tolist() == [3]
    # an rpm or resistance no key can tell apart is no pair of the model either
    huge = PowerSamples(np.array([0]), np.array([30]), np.array([2_000_000_080]), np.array([1.0]))
    assert np.isnan(model.at(huge.resistance, huge.rpm)).all()


def test_ratio_cells_count_each_bike_and_step_as_a_plain_count_does() -> None:
    """The cells are one sort of one packed key: held to a count by (bike, step) over random
    readings, ratios of either sign up to the plausible limit, bike indices far apart."""
    rng = np.random.default_rng(5)
    n = 3_000
    model = PowerModel.of(samples(0, 700, 1.0))
    ratio = rng.choice([-0.999, -0.3, -0.0001, 0.0, 0.05, 2.5, 999.0], n)
    bike = rng.choice([0, 1, 7, 2**20, 2**37], n)
    fleet = PowerSamples(bike, np.full(n, 30), np.full(n, 80), (1 + ratio) * model.medians[0])
    bikes, steps, counts = health.ratio_cells(model, fleet)
    expected: dict[tuple[int, int], int] = {}
    for b, r in zip(bike.tolist(), ratio.tolist(), strict=True):
        key = (b, int(np.rint(r * health.RATIO_SCALE)))
        expected[key] = expected.get(key, 0) + 1
    got = {(b, s): c for b, s, c in zip(bikes.tolist(), steps.tolist(), counts.tolist(),
                                        strict=True)}  # fmt: skip
    assert got == expected and list(got) == sorted(expected)


def test_a_rides_newest_line_is_its_newest_reading_or_its_start() -> None:
    rides = [(1, 1, 500), (2, 1, 100), (3, 2, 900)]  # the third has no reading
    ride_of = np.array([0, 0, 1, 1, 1])
    at = np.array([400, 700, 50, 150, 300])
    assert health.newest_lines(rides, ride_of, at) == [700, 300, 900]
    assert health.newest_lines(rides, ride_of[:0], at[:0]) == [500, 100, 900]
