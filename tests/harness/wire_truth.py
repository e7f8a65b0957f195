"""What the wire lines alone say happened, computed without the tracker or any SQL: the
rides of a dump, their readings and alerts. Tests compare what the platform stored, summarised
and reported with this."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from deleton.core.records import Invalid, Marker, RideLine, RiderLine, TelemetryLine
from deleton.core.wire import parse_value
from deleton.dump.kcat import read_messages


@dataclass
class Ride:
    """A ride as the wire lines alone say it went."""

    bike: str
    started: int
    user_id: int | None
    age: int | None
    first_name: str | None = None
    last_name: str | None = None
    gender: str | None = None
    email: str | None = None
    address: str | None = None  # as the bike sent it: house, street, city and postcode
    date_of_birth: dt.date | None = None
    last_line: int = 0
    ended: bool = False
    readings: list[tuple[int, float, int, int, int, float]] = field(default_factory=list)
    pending: RideLine | None = None


def rides_from_wire(dump: Path) -> list[Ride]:
    """Every ride of a dump, paired and ended as the wire format says, independently of the
    tracker and of any SQL: a [SYSTEM] line starts one, a marker or the next [SYSTEM] line
    ends it, and a Ride line with the Telemetry line after it is one reading."""
    current: dict[str, Ride] = {}
    rides: list[Ride] = []
    with dump.open("rb") as stream:
        for _, _, _, key, value, *_ in read_messages(stream):
            record = parse_value(value)
            assert not isinstance(record, Invalid)
            bike = (key or b"").decode()
            ride = current.get(bike)
            if isinstance(record, Marker | RiderLine) and ride is not None:
                ride.ended = True
                del current[bike]
            if isinstance(record, RiderLine):
                names = record.names
                ride = Ride(bike, record.at, record.user_id, record.age_at(record.at),
                            names.first_name, names.last_name, record.gender_kind, record.email,
                            record.address, record.date_of_birth)  # fmt: skip
                current[bike] = ride
                rides.append(ride)
            elif isinstance(record, RideLine) and ride is not None:
                ride.pending = record
                ride.last_line = record.at
            elif isinstance(record, TelemetryLine) and ride is not None:
                assert ride.pending is not None
                ride.readings.append((ride.pending.at, ride.pending.duration,
                                      ride.pending.resistance, record.heart_rate, record.rpm,
                                      record.power))  # fmt: skip
                ride.pending = None
                ride.last_line = record.at
    return rides


def alerts_of(ride: Ride) -> tuple[int, int]:
    """High and low alerts: three readings in a row beyond a limit (0 bpm skipped), once."""
    high = low = 0
    high_run = low_run = 0
    for _, _, _, hr, rpm, _ in ride.readings:
        if hr <= 0 or ride.age is None:
            continue
        high_run = high_run + 1 if hr > 220 - ride.age else 0
        low_run = low_run + 1 if hr < 40 and rpm > 0 else 0
        high = high or int(high_run >= 3)
        low = low or int(low_run >= 3)
    return high, low


def last_reading(ride: Ride) -> int:
    """The time of a ride's last complete reading (a ride closed as stale ends there)."""
    return ride.readings[-1][0]
