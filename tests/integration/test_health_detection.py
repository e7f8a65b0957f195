"""Bike health's detectors over a simulated fleet of 1,000 bikes on simulated time: 14 faulty
(2 of each kind but drift, and 4 drifting at +6%, -6%, +15% and -15%) and one drifting by 2%,
within tolerance. The wire lines go through ingestion's own ride assembly (core.tracker) and
the detectors as compression runs them (each ended ride's signals fed to its bike in order of
start, the fleet's power model and each bike's drift, offline against the newest line): every
faulty bike is found with its kind, no sound bike is flagged, and the confusion matrix is
written to build/health/confusion.txt for people to read. The fleet is built once a session.

The same checks through PostgreSQL and ``deleton compress`` are test_bike_health.py's, over a
smaller fleet (a thousand bikes' lines would take minutes to ingest)."""

from __future__ import annotations

import itertools
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from deleton.core import bike_health
from deleton.core.bike_health import HealthState, PowerModel, PowerSamples
from deleton.core.simulation import FaultyBike, serial
from deleton.core.tracker import Tracker
from deleton.core.wire import envelope
from deleton.simulator.riders import simulated_fleet
from tests.conftest import ROOT
from tests.harness.fleet import START

BIKES = 1000
# simulated: rides last 5 to 60 minutes, so two ended rides with a stuck resistance, or three
# without a strap, can take this long
SECONDS = 2 * 3600
SEED = 21
IDLE_US = 60 * 1_000_000  # ingestion's default ride idle timeout
OFFLINE_AFTER_US = 2700 * 1_000_000
SOUND = "sound"
KINDS = ("silent", "resistance_stuck", "cadence_stuck", "heart_strap", "offline")
FAULTS: dict[int, FaultyBike] = {}
for n, kind in enumerate(k for k in KINDS for _ in range(2)):
    FAULTS[37 + 97 * n] = FaultyBike(kind, after_s=600.0)
for n, drift in enumerate((0.06, -0.06, 0.15, -0.15)):
    FAULTS[11 + 211 * n] = FaultyBike("power_drift", drift)
WITHIN_TOLERANCE = 503  # drifts by 2%: never flagged
FAULTS[WITHIN_TOLERANCE] = FaultyBike("power_drift", 0.02)
REPORT = Path(os.environ.get("DELETON_HEALTH_REPORT", ROOT / "build" / "health"))


def actual(index: int) -> str:
    fault = FAULTS.get(index)
    return SOUND if fault is None or index == WITHIN_TOLERANCE else fault.kind


@pytest.fixture(scope="session")
def found() -> dict[str, set[str]]:
    """Each bike's open findings' kinds, after the fleet's two hours."""
    ride_ids = itertools.count(1)
    tracker = Tracker(IDLE_US, lambda: next(ride_ids))
    rides: dict[int, tuple[str, int | None, int]] = {}  # id: bike, rider, start
    ended: list[int] = []
    readings = []
    position = itertools.count()
    fleet = simulated_fleet(BIKES, SEED, START, faults=FAULTS)
    for tick_end, lines in fleet.ticks(START + SECONDS * 1_000_000):
        messages = []
        for key, line_at, text in lines:
            p = next(position)
            messages.append((0, p, p + 1, key.encode(), envelope(text), None, line_at or tick_end))
        tracker.feed_all(messages, tick_end)
        batch = tracker.take()
        for new in batch.new_rides:
            rides[new.ride_id] = (new.bike_serial, new.user_id, new.started_at)
        ended += [end.ride_id for end in batch.ended_rides]
        readings += batch.readings
    columns = list(zip(*readings, strict=True))
    ride_id = np.array(columns[0], dtype=np.int64)
    at = np.array(columns[1], dtype=np.int64)
    resistance, heart_rate, rpm = (np.array([-1 if v is None else v for v in columns[i]])
                                   for i in (3, 4, 5))  # fmt: skip
    power = np.array([np.nan if v is None else v for v in columns[6]], dtype=np.float64)

    # compression's checks: the ended rides, in order of start, fed to their bikes
    checked = sorted(set(ended), key=lambda r: (rides[r][2], r))
    index = {ride: i for i, ride in enumerate(checked)}
    keep = np.array([r in index for r in ride_id.tolist()])
    ride_of = np.array([index[r] for r in ride_id[keep].tolist()], dtype=np.int64)
    order = np.lexsort((at[keep], ride_of))
    signals = bike_health.rides_signals(
        [(r, rides[r][1], rides[r][2]) for r in checked], ride_of[order], at[keep][order],
        resistance[keep][order], rpm[keep][order], power[keep][order],
        np.where(heart_rate[keep][order] < 0, 0, heart_rate[keep][order]),
    )  # fmt: skip
    states: dict[str, HealthState] = {}
    for checked_ride, signal in zip(checked, signals, strict=True):
        bike = rides[checked_ride][0]
        states.setdefault(bike, HealthState(bike)).feed(signal)
    findings = {bike: set(state.open) for bike, state in states.items()}

    # drift over every reading with power; offline against the newest line
    serials = sorted({bike for bike, _, _ in rides.values()})
    slot = {bike: i for i, bike in enumerate(serials)}
    bike_of = np.array([slot[rides[r][0]] for r in ride_id.tolist()], dtype=np.int64)
    valid = ~np.isnan(power) & (rpm >= 0) & (resistance >= 0)
    samples = PowerSamples(bike_of[valid], resistance[valid], rpm[valid], power[valid])
    newest = int(at.max())
    for i, drift in enumerate(bike_health.drifts(samples, PowerModel.of(samples), len(serials))):
        if findings.get(serials[i], set()) & set(bike_health.DRIFT_NOT_JUDGED):
            continue  # a stuck sensor's power is not judged for drift
        finding, _ = bike_health.drift_finding(drift, None, newest)
        if finding is not None:
            findings.setdefault(serials[i], set()).add(bike_health.POWER_DRIFT)
    last = dict.fromkeys(serials, 0)
    for bike, _, started in rides.values():
        last[bike] = max(last[bike], started)
    for b, when in zip(bike_of.tolist(), at.tolist(), strict=True):
        if when > last[serials[b]]:
            last[serials[b]] = when
    for bike, when in last.items():
        if bike_health.offline(when, newest, OFFLINE_AFTER_US):
            findings.setdefault(bike, set()).add(bike_health.OFFLINE)
    return findings


def test_every_faulty_bike_is_found_with_its_kind_and_no_sound_bike_is_flagged(
    found: dict[str, set[str]],
) -> None:
    labels = (SOUND, *KINDS, bike_health.POWER_DRIFT)
    matrix: Counter[tuple[str, str]] = Counter()
    for index in range(BIKES):
        kinds = found.get(serial(index), set())
        for kind in kinds or {SOUND}:
            matrix[actual(index), kind] += 1
    width = max(len(label) for label in labels) + 2
    table = ["actual \\ found".ljust(width) + "".join(lab[:14].rjust(16) for lab in labels)]
    table += [a.ljust(width) + "".join(str(matrix[a, f]).rjust(16) for f in labels)
              for a in labels]  # fmt: skip
    REPORT.mkdir(parents=True, exist_ok=True)
    (REPORT / "confusion.txt").write_text(
        f"bike health over {BIKES:,} simulated bikes, {SECONDS / 3600:.2f} h, seed {SEED}\n"
        + "\n".join(table) + "\n"
    )  # fmt: skip
    print("\n".join(table))
    wrong = {serial(i): (actual(i), found.get(serial(i), set())) for i in range(BIKES)
             if found.get(serial(i), set()) != ({actual(i)} if actual(i) != SOUND else set())}  # fmt: skip
    assert wrong == {}
    assert sum(matrix[a, a] for a in labels if a != SOUND) == 14
    assert matrix[SOUND, SOUND] == BIKES - 14
