"""What screens show of a ride's readings: its newest one, and its readings as chart columns."""

from __future__ import annotations

from typing import NamedTuple


class LatestReading(NamedTuple):
    """The newest reading of a ride."""

    at: int  # µs since the epoch
    duration: float | None  # seconds, as the bike reports it
    heart_rate: int | None
    power: float | None
    resistance: int | None
    rpm: int | None


class RideSeries(NamedTuple):
    """Readings of one ride as columns; ``minutes`` since the ride started."""

    minutes: list[float]
    heart_rate: list[int | None]
    power: list[float | None]
    resistance: list[int | None]
    rpm: list[int | None]


def ride_seconds(latest: LatestReading | None, started_at: int, now: int) -> float:
    """How long a ride has lasted: as its bike reports it, else from its start to its newest
    reading (to ``now`` before the first)."""
    if latest is not None and latest.duration is not None:
        return latest.duration
    return ((latest.at if latest else now) - started_at) / 1e6
