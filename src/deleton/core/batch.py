"""The rows a ``Tracker`` hands to a store: one ``Batch`` per write, each row named.

Times are microseconds since the epoch, UTC. Rows are named tuples: as cheap to build as bare
tuples on the hot path (a reading each half second per bike), and read by name everywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from .records import RiderLine


class ReadingRow(NamedTuple):
    """A row of ``daily.reading``: a Ride line and the Telemetry line after it. Either half
    alone is still stored, with the other half's columns empty."""

    ride_id: int
    at: int  # time of the Ride line (of the Telemetry line when it came alone)
    duration: float | None
    resistance: int | None
    heart_rate: int | None  # 0: no sensor contact
    rpm: int | None
    power: float | None


class NewRide(NamedTuple):
    """A ride that started: a row of ``daily.ride``."""

    ride_id: int
    bike_serial: str  # the message key; '' for the single unkeyed stream
    user_id: int | None  # None: its [SYSTEM] line was never seen
    started_at: int
    host: str
    # who rides it, coarsely, as its [SYSTEM] line says (None with no such line): kept on the
    # ride so that readers need no birth date, and so that it outlives the rider's erasure
    rider_gender: str | None
    rider_age: int | None  # whole years at the ride's start
    # when the [SYSTEM] line naming its rider reached the broker (µs; None: no rider, or a
    # line with no broker time): an erasure is undone only by a line that reached the broker
    # after it, whatever the line's own time says (a bike's clock is not believed)
    named_at: int | None = None


class RideEnd(NamedTuple):
    """A ride that ended, at the time of its last line."""

    ride_id: int
    ended_at: int


class AlertRow(NamedTuple):
    """A heart-rate alert to store and email: a row of ``daily.alert``. Its address is the
    rider's, read from ``daily.rider`` as it is sent: an alert keeps none."""

    ride_id: int
    user_id: int
    kind: str  # "high" or "low"
    at: int  # time of the reading that fired it
    heart_rate: int
    limit: int
    named_at: int | None = None  # the ride's ``NewRide.named_at``: whose alert it may be


class DeadLetter(NamedTuple):
    """A message that could not be used, kept with its position and the reason."""

    partition: int
    position: int
    key: bytes | None
    value: bytes | None
    reason: str


@dataclass
class Batch:
    """Rows produced since the last flush, and where each partition resumes once they are
    stored."""

    readings: list[ReadingRow] = field(default_factory=list)
    riders: dict[int, RiderLine] = field(default_factory=dict)  # each one's newest line
    # every [SYSTEM] line of the batch, with when it reached the broker (None: no broker
    # time), in stream order: an erased rider's profile is taken only from lines that reached
    # the broker after the erasure, whichever is newest by the bike's clock
    rider_lines: list[tuple[RiderLine, int | None]] = field(default_factory=list)
    new_rides: list[NewRide] = field(default_factory=list)
    ended_rides: list[RideEnd] = field(default_factory=list)
    alerts: list[AlertRow] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    positions: dict[int, int] = field(default_factory=dict)
    messages: int = 0
    first_at: int | None = None  # time of the batch's first timed message, for freshness

    def __len__(self) -> int:
        return self.messages
