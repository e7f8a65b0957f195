"""The simulated fleet: exact wire format, determinism, plausible signals."""

from __future__ import annotations

import io
from collections import defaultdict

import orjson

from deleton.core.records import Invalid, Marker, RideLine, Rider, TelemetryLine
from deleton.core.simulation import Line, SimulatedFleet
from deleton.core.wire import parse_line, parse_value
from deleton.dump.kcat import KcatSink
from deleton.simulator.riders import simulated_fleet
from deleton.simulator.runner import run
from tests.harness.fleet import START


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
        riders = [r for r in records if isinstance(r, Rider)]
        assert riders and all(r.bike_serial == key for r in riders)
        # the shape of a ride: markers, user data, rider, then Ride/Telemetry pairs
        kinds = [type(r).__name__ for r in records]
        first = kinds.index("Rider")
        assert kinds[first - 3 : first] == ["Marker", "Marker", "Marker"]
        assert kinds[first + 1 : first + 5] == ["RideLine", "TelemetryLine"] * 2


def test_signals_are_plausible() -> None:
    lines = lines_of(simulated_fleet(40, 11, START), 1800)
    records = [parse_line(text) for _, _, text in lines]
    rides = [r for r in records if isinstance(r, RideLine)]
    telemetry = [r for r in records if isinstance(r, TelemetryLine)]
    riders = [r for r in records if isinstance(r, Rider)]
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


def test_a_share_of_riders_goes_beyond_safe_heart_rates() -> None:
    last_rider: dict[str, Rider] = {}
    high = low = 0
    for key, _, text in lines_of(simulated_fleet(150, 5, START), 3600):
        record = parse_line(text)
        if isinstance(record, Rider):
            last_rider[key] = record
        elif isinstance(record, TelemetryLine) and record.heart_rate and key in last_rider:
            rider = last_rider[key]
            high += record.heart_rate > 220 - rider.age_at(record.at)
            low += record.heart_rate < 40 and record.rpm > 0
    assert high > 0 and low > 0


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
