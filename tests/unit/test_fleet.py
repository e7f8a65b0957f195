"""The simulated fleet: exact wire format, determinism, plausible signals."""

from __future__ import annotations

import io
from collections import defaultdict

import orjson

from deleton.fleet import Fleet
from deleton.records import Invalid, Marker, Ride, Rider, Telemetry
from deleton.simulator import KcatSink, run
from deleton.wire import parse_line, parse_value

START = 1_667_500_920_000_000  # 2022-11-03 18:42:00 UTC


def lines_of(fleet: Fleet, seconds: int) -> list[tuple[str, int | None, str]]:
    return [line for _, lines in fleet.ticks(START + seconds * 1_000_000) for line in lines]


def test_same_seed_same_stream_and_bikes_independent_of_fleet_size() -> None:
    a = lines_of(Fleet(5, 7, START), 120)
    b = lines_of(Fleet(5, 7, START), 120)
    assert a == b
    c = lines_of(Fleet(3, 7, START), 120)
    assert [x for x in a if x[0] == "SN0002"] == [x for x in c if x[0] == "SN0002"]
    assert a != lines_of(Fleet(5, 8, START), 120)


def test_every_line_parses_and_each_bike_is_in_order() -> None:
    per_bike: dict[str, list[object]] = defaultdict(list)
    for key, at, text in lines_of(Fleet(20, 3, START), 900):
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
        assert kinds[first + 1 : first + 5] == ["Ride", "Telemetry", "Ride", "Telemetry"]


def test_signals_are_plausible() -> None:
    records = [parse_line(text) for _, _, text in lines_of(Fleet(40, 11, START), 1800)]
    rides = [r for r in records if isinstance(r, Ride)]
    telemetry = [r for r in records if isinstance(r, Telemetry)]
    riders = [r for r in records if isinstance(r, Rider)]
    assert {r.resistance for r in rides} <= {0, 30, 60, 99, 170}
    assert len({r.resistance for r in rides}) >= 4
    assert all(0 <= t.rpm <= 250 and 0 <= t.power < 1200 for t in telemetry)
    assert any(t.heart_rate == 0 for t in telemetry)  # no contact at first and in dropouts
    beating = [t for t in telemetry if t.heart_rate]
    assert 60 < sum(t.heart_rate for t in beating) / len(beating) < 180
    ages = {r.user_id: r.age_at(r.at) for r in riders}
    assert all(18 <= age <= 85 for age in ages.values())
    # power rises with cadence at one resistance
    at30 = sorted(
        (t.rpm, t.power) for t, r in zip(telemetry, rides, strict=False) if r.resistance == 30
    )
    assert at30[0][1] < at30[-1][1]
    # the same rider often rides several times in a row
    assert len({r.user_id for r in riders}) < len(riders)


def test_a_share_of_riders_goes_beyond_safe_heart_rates() -> None:
    last_rider: dict[str, Rider] = {}
    high = low = 0
    for key, _, text in lines_of(Fleet(150, 5, START), 3600):
        record = parse_line(text)
        if isinstance(record, Rider):
            last_rider[key] = record
        elif isinstance(record, Telemetry) and record.heart_rate and key in last_rider:
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
    per_bike = lambda lines: sorted(  # noqa: E731
        (orjson.loads(x)["key"], i, orjson.loads(x)["payload"]) for i, x in enumerate(lines)
    )
    key_order = lambda lines: [(k, p) for k, _, p in per_bike(lines)]  # noqa: E731
    assert key_order(a) == key_order(b)
    assert isinstance(parse_value(orjson.loads(a[0])["payload"].encode()), Marker)
