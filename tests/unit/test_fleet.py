"""The simulated fleet: exact wire format, determinism, plausible signals."""

from __future__ import annotations

import io
import itertools
import statistics
from collections import defaultdict
from typing import NamedTuple

import orjson
import pytest

from deleton.cli import build_parser
from deleton.core.records import Invalid, Marker, RideLine, RiderLine, TelemetryLine
from deleton.core.simulation import (
    FAULT_KINDS,
    RESISTANCES,
    FaultyBike,
    Line,
    SimulatedFleet,
    faulty_bikes,
    power_text,
    power_w,
)
from deleton.core.training import ride_figures
from deleton.core.wire import format_line, parse_line, parse_value
from deleton.dump.kcat import KcatSink
from deleton.settings import Settings
from deleton.simulator.fleet_source import FleetSource
from deleton.simulator.riders import simulated_fleet
from deleton.simulator.runner import run
from tests.harness.fleet import SECOND, START


def lines_of(fleet: SimulatedFleet, seconds: int) -> list[Line]:
    return [line for _, lines in fleet.ticks(START + seconds * 1_000_000) for line in lines]


def test_same_seed_same_stream_and_bikes_independent_of_fleet_size() -> None:
    a = lines_of(simulated_fleet(5, 7, START), 120)
    b = lines_of(simulated_fleet(5, 7, START), 120)
    assert a == b
    c = lines_of(simulated_fleet(3, 7, START), 120)
    assert [x for x in a if x[0] == "SN0002"] == [x for x in c if x[0] == "SN0002"]
    assert a != lines_of(simulated_fleet(5, 8, START), 120)


def test_every_line_parses_and_each_bike_is_in_order() -> None:
    per_bike: dict[str, list[object]] = defaultdict(list)
    for key, at, text in lines_of(simulated_fleet(20, 3, START), 900):
        record = parse_line(text)
        assert not isinstance(record, Invalid), (text, record)
        assert getattr(record, "at", None) == at
        per_bike[key].append(record)
    assert len(per_bike) == 20
    for key, records in per_bike.items():
        times = [r.at for r in records if r.at is not None]  # type: ignore[attr-defined]
        assert times == sorted(times)
        riders = [r for r in records if isinstance(r, RiderLine)]
        assert riders and all(r.bike_serial == key for r in riders)
        # the shape of a ride: markers, user data, rider, then Ride/Telemetry pairs
        kinds = [type(r).__name__ for r in records]
        first = kinds.index("RiderLine")
        assert kinds[first - 3 : first] == ["Marker", "Marker", "Marker"]
        assert kinds[first + 1 : first + 5] == ["RideLine", "TelemetryLine"] * 2


def test_signals_are_plausible() -> None:
    lines = lines_of(simulated_fleet(40, 11, START), 1800)
    records = [parse_line(text) for _, _, text in lines]
    rides = [r for r in records if isinstance(r, RideLine)]
    telemetry = [r for r in records if isinstance(r, TelemetryLine)]
    riders = [r for r in records if isinstance(r, RiderLine)]
    assert {r.resistance for r in rides} <= {0, 30, 60, 99, 170}
    assert len({r.resistance for r in rides}) >= 4
    assert all(0 <= t.rpm <= 250 and 0 <= t.power < 1200 for t in telemetry)
    assert any(t.heart_rate == 0 for t in telemetry)  # no contact at first and in dropouts
    beating = [t for t in telemetry if t.heart_rate]
    assert 60 < sum(t.heart_rate for t in beating) / len(beating) < 180
    ages = {r.user_id: r.age_at(r.at) for r in riders}
    assert all(18 <= age <= 85 for age in ages.values())
    # at one resistance, power is a function of cadence that rises with it: pair each bike's
    # Telemetry line with the Ride line just before it, on the same bike
    last_ride: dict[str, RideLine] = {}
    power_at_30: dict[int, set[float]] = defaultdict(set)
    for (key, _, _), record in zip(lines, records, strict=True):
        if isinstance(record, RideLine):
            last_ride[key] = record
        elif isinstance(record, TelemetryLine) and last_ride[key].resistance == 30:
            power_at_30[record.rpm].add(record.power)
    assert len(power_at_30) > 50
    assert all(len(powers) == 1 for powers in power_at_30.values())  # one power per cadence
    curve = [power_at_30[rpm].pop() for rpm in sorted(power_at_30)]
    assert curve == sorted(curve) and curve[0] < curve[-1]
    # the same rider often rides several times in a row
    assert len({r.user_id for r in riders}) < len(riders)


class Ride(NamedTuple):
    """One simulated ride as a test sees it: its rider and readings, each a Ride line's
    resistance with its Telemetry line."""

    rider: RiderLine
    resistance: list[int]
    telemetry: list[TelemetryLine]


def rides_of(lines: list[Line]) -> dict[str, list[Ride]]:
    """Each bike's rides, in order, from a fleet's lines."""
    rides: dict[str, list[Ride]] = defaultdict(list)
    resistance: dict[str, int] = {}
    for key, _, text in lines:
        record = parse_line(text)
        if isinstance(record, RiderLine):
            rides[key].append(Ride(record, [], []))
        elif isinstance(record, RideLine):
            resistance[key] = record.resistance
        elif isinstance(record, TelemetryLine):
            rides[key][-1].resistance.append(resistance[key])
            rides[key][-1].telemetry.append(record)
    return rides


@pytest.fixture(scope="module")
def hour_of_150_bikes() -> dict[str, list[Ride]]:
    return rides_of(lines_of(simulated_fleet(150, 5, START), 3600))


def test_a_share_of_riders_goes_beyond_safe_heart_rates(
    hour_of_150_bikes: dict[str, list[Ride]],
) -> None:
    high = low = 0
    for rides in hour_of_150_bikes.values():
        for ride in rides:
            limit = 220 - ride.rider.age_at(ride.rider.at)
            for t in ride.telemetry:
                high += t.heart_rate > limit
                low += 0 < t.heart_rate < 40 and t.rpm > 0
    assert high > 0 and low > 0


def test_riders_differ_and_hearts_drift_over_long_rides(
    hour_of_150_bikes: dict[str, list[Ride]],
) -> None:
    zones = [0] * 5
    drift: list[float] = []
    rates: list[float] = []
    for rides in hour_of_150_bikes.values():
        for ride in rides[:-1]:  # the last may be cut short by the end of the hour
            hr = [t.heart_rate for t in ride.telemetry]
            power = [t.power for t in ride.telemetry]
            figures = ride_figures(hr, power, ride.rider.age_at(ride.rider.at))
            assert figures.seconds_in_hr_zone is not None
            zones = [a + b for a, b in zip(zones, figures.seconds_in_hr_zone, strict=True)]
            if len(power) >= 40 * 60 and figures.aerobic_decoupling_pct is not None:
                drift.append(figures.aerobic_decoupling_pct)
            rates.append(sum(power) / len(power))
    # every zone is ridden in, none by almost everyone
    assert all(0.05 < zone / sum(zones) < 0.5 for zone in zones), zones
    # the heart works harder for the same power late in a long ride: cardiac drift
    assert len(drift) >= 15 and statistics.median(drift) > 3, drift
    # a leaderboard has something to rank: the strongest quarter of rides averages at least
    # half as much power again as the weakest quarter
    quartiles = statistics.quantiles(rates, n=4)
    assert quartiles[2] > 1.5 * quartiles[0], quartiles


def test_power_is_the_real_bikes_function_of_resistance_and_cadence(
    sample_lines: list[str],
) -> None:
    real: dict[tuple[int, int], float] = {}
    resistance = None
    for line in sample_lines:
        record = parse_line(line)
        if isinstance(record, RideLine):
            resistance = record.resistance
        elif isinstance(record, TelemetryLine) and resistance is not None and record.rpm:
            assert real.setdefault((resistance, record.rpm), record.power) == record.power
    assert len(real) == 26  # 25 at resistance 30, one at 151
    for (resistance, rpm), watts in real.items():
        # to the hundredth of a watt at resistance 30 (18-66 rpm), and within 0.01% at 151
        assert abs(power_w(resistance, rpm) - watts) < (0.003 if resistance == 30 else 0.04)
    # written as they write it: 10 significant digits, float artefacts and all
    assert power_text(9.737739856) == "9.737739856000001"
    assert power_text(13.881511652) == "13.88151165"
    assert power_text(0.0) == "0.0"
    texts = {power_text(power_w(r, rpm)) for r in RESISTANCES for rpm in range(1, 256)}
    assert all(float(f"{float(t):.10g}") == pytest.approx(float(t), rel=1e-15) for t in texts)


def test_faulty_bikes_are_a_function_of_seed_and_count() -> None:
    faults = faulty_bikes(1000, 7, 14)
    assert faults == faulty_bikes(1000, 7, 14) != faulty_bikes(1000, 8, 14)
    assert list(faults) == sorted(faults) and len(faults) == 14
    kinds = [fault.kind for fault in faults.values()]
    assert all(kinds.count(kind) in (2, 3) for kind in FAULT_KINDS)
    drifts = sorted(f.drift for f in faults.values() if f.kind == "power_drift")
    assert drifts == [-0.12, 0.08]  # the 5th and 11th drawn, +8% then -12%
    assert faulty_bikes(10, 7, 0) == {}
    with pytest.raises(ValueError, match="faulty"):
        faulty_bikes(10, 7, 11)
    assert len(FleetSource(20, 1, faulty=3).faults) == 3  # what `deleton up` may ask for
    with pytest.raises(ValueError, match="power_drift"):
        FaultyBike("power-drift")  # a typo must not quietly make a healthy bike
    with pytest.raises(ValueError, match="resistance"):
        FaultyBike("resistance_stuck", resistance=45)


FAULTS = {
    1: FaultyBike("silent"),
    2: FaultyBike("resistance_stuck"),
    3: FaultyBike("cadence_stuck"),
    4: FaultyBike("heart_strap"),
    5: FaultyBike("power_drift", drift=0.15),
    6: FaultyBike("power_drift", drift=-0.02),
    7: FaultyBike("offline", after_s=1500),
}


@pytest.fixture(scope="module")
def faulty_fleet() -> list[Line]:
    return lines_of(simulated_fleet(9, 13, START, faults=FAULTS), 3 * 3600)


def test_faulty_bikes_keep_the_wire_format_and_leave_the_others_alone(
    faulty_fleet: list[Line],
) -> None:
    for _, _, text in faulty_fleet:
        record = parse_line(text)
        assert not isinstance(record, Invalid) and format_line(record) == text, text
    healthy = lines_of(simulated_fleet(9, 13, START), 3 * 3600)
    for key in ("SN0000", "SN0008"):
        assert [x for x in faulty_fleet if x[0] == key] == [x for x in healthy if x[0] == key]


def test_each_fault_shows_in_the_values(faulty_fleet: list[Line]) -> None:
    rides = rides_of(faulty_fleet)
    whole = {key: ride_list[:-1] for key, ride_list in rides.items()}  # the last may be cut

    # silent: riders log in again and again, and no telemetry ever follows
    assert len(rides["SN0001"]) >= 10 and not any(r.telemetry for r in rides["SN0001"])
    logins = [at or 0 for key, at, text in faulty_fleet if key == "SN0001" and "[SYSTEM]" in text]
    assert all(b - a > 60 * SECOND for a, b in itertools.pairwise(logins))

    # resistance stuck: one resistance per ride of 5 minutes or more, cadence varying
    for ride in whole["SN0002"]:
        assert len(set(ride.resistance)) == 1 and len(ride.resistance) >= 300
        assert len({t.rpm for t in ride.telemetry}) >= 3

    # cadence stuck: rpm 0 while power is not, or one rpm for the whole ride while power moves
    modes = set()
    for ride in whole["SN0003"]:
        rpms = {t.rpm for t in ride.telemetry}
        assert len(rpms) == 1 and len(ride.telemetry) >= 300
        assert len({t.power for t in ride.telemetry}) > 1
        modes.add("zero" if rpms == {0} else "frozen")
    assert modes == {"zero", "frozen"}

    # heart strap: never a contact, whoever rides; a rider meeting a fault moves on
    for key in ("SN0001", "SN0002", "SN0003", "SN0004"):
        assert len({r.rider.user_id for r in rides[key]}) == len(rides[key]) >= 3
    assert all(t.heart_rate == 0 for r in rides["SN0004"] for t in r.telemetry)

    # power drift: every reading off by the bike's factor, one text per (resistance, rpm)
    for key, drift in (("SN0005", 0.15), ("SN0006", -0.02)):
        texts: dict[tuple[int, int], float] = {}
        for ride in rides[key]:
            for resistance, t in zip(ride.resistance, ride.telemetry, strict=True):
                assert texts.setdefault((resistance, t.rpm), t.power) == t.power
                if t.rpm:
                    assert t.power / power_w(resistance, t.rpm) - 1 == pytest.approx(drift)
        assert len(texts) > 100

    # offline: lines up to 25 minutes in, none after, not even the end of its ride
    times = [at for key, at, _ in faulty_fleet if key == "SN0007" and at is not None]
    assert times and max(times) <= START + 1500 * SECOND < max(
        at for _, at, _ in faulty_fleet if at
    )
    assert max(times) > START + 1400 * SECOND


def test_kcat_output_and_pacing_with_an_injected_clock() -> None:
    out = io.BytesIO()
    slept: list[float] = []
    wall = [0.0]

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        wall[0] += seconds

    count = run(
        KcatSink(out, "deloton", partitions=2),
        size=3,
        seed=1,
        start=START,
        until=START + 20_000_000,
        speed=2.0,
        now=lambda: wall[0],
        sleep=sleep,
    )
    assert abs(wall[0] - 10.0) < 0.2  # 20 simulated seconds at twice real time
    docs = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert len(docs) == count > 0
    offsets: dict[int, list[int]] = defaultdict(list)
    for doc in docs:
        offsets[doc["partition"]].append(doc["offset"])
        assert doc["topic"] == "deloton" and doc["key"].startswith("SN")
        assert not isinstance(parse_value(doc["payload"].encode()), Invalid)
    assert all(v == list(range(len(v))) for v in offsets.values())


def test_worker_processes_give_the_same_messages() -> None:
    one, two = io.BytesIO(), io.BytesIO()
    for out, workers in ((one, 1), (two, 2)):
        run(
            KcatSink(out, "t", partitions=2),
            size=6,
            seed=2,
            start=START,
            until=START + 60_000_000,
            speed=None,
            workers=workers,
            faults={1: FaultyBike("heart_strap"), 4: FaultyBike("power_drift", drift=0.1)},
        )
    a, b = one.getvalue().splitlines(), two.getvalue().splitlines()
    assert len(a) == len(b)

    def per_bike(lines: list[bytes]) -> list[tuple[str, str]]:
        """Each bike's payloads in the order written: all that must survive the workers."""
        docs = [orjson.loads(line) for line in lines]
        ordered = sorted((doc["key"], i, doc["payload"]) for i, doc in enumerate(docs))
        return [(key, payload) for key, _, payload in ordered]

    assert per_bike(a) == per_bike(b)
    assert isinstance(parse_value(orjson.loads(a[0])["payload"].encode()), Marker)


def test_simulate_faulty_from_the_command_line(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    settings = Settings(kafka_topic="deloton")
    command = ["simulate", "--bikes", "4", "--fast", "--duration", "120"]
    args = build_parser().parse_args([*command, "--faulty", "2", "--start", "2022-11-03T18:42"])
    assert args.func(args, settings) == 0
    expected = io.BytesIO()
    faults = faulty_bikes(4, 1, 2)
    run(KcatSink(expected, "deloton", 1), size=4, seed=1, start=START,
        until=START + 120 * SECOND, speed=None, faults=faults)  # fmt: skip
    assert capsysbinary.readouterr().out == expected.getvalue()
    too_many = build_parser().parse_args([*command, "--faulty", "5"])
    assert too_many.func(too_many, settings) == 2
    assert b"--faulty" in capsysbinary.readouterr().err
