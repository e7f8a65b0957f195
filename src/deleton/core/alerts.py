"""Heart-rate safety rules: personal limits and when a run of readings becomes an alert.

A reading is beyond the high limit when heart rate exceeds ``220 - age`` (age at ride start), and
beyond the low limit when it is above 0 but below 40 while the rider pedals (rpm > 0). An alert
fires on the third consecutive reading beyond a limit, at most once per ride for each kind.
Heart rate 0 means no sensor contact: it neither counts towards a run nor breaks one.

The same limits name the zone a single reading is in, for screens: ``zone``.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

RUN = 3
LOW_LIMIT = 40
HIGH = 1
LOW = 2
KIND_NAMES = {HIGH: "high", LOW: "low"}
HIGH_SHARE = 0.85  # from 85% of the rider's maximum, effort is high though not yet dangerous
ZONES = ("too low", "safe", "high", "dangerously high")  # from mild to urgent after "safe"


def high_limit(age: int) -> int:
    """The rider's own maximum heart rate: above it is dangerous."""
    return 220 - age


class Streak(NamedTuple):
    """How many readings in a row were beyond each limit, and which kinds already fired."""

    high_run: int = 0
    low_run: int = 0
    fired: int = 0  # bit set of HIGH and LOW


def judge(streak: Streak, limit: int, heart_rate: int, rpm: int) -> tuple[Streak, int]:
    """The streak after one reading, and the kind of alert it fires (0 for none)."""
    if heart_rate <= 0:
        return streak, 0
    high_run = streak.high_run + 1 if heart_rate > limit else 0
    low_run = streak.low_run + 1 if heart_rate < LOW_LIMIT and rpm > 0 else 0
    fired = streak.fired
    kind = 0
    if high_run >= RUN and not fired & HIGH:
        kind = HIGH
    elif low_run >= RUN and not fired & LOW:
        kind = LOW
    return Streak(high_run, low_run, fired | kind), kind


def zone(heart_rate: int | None, age: int | None) -> str | None:
    """The plain-words zone of one heart rate for a rider of ``age``, one of ``ZONES``.

    ``None`` when there is nothing to judge: no reading, heart rate 0 (no sensor contact), or an
    unknown rider whose maximum is unknown and who is not below the low limit.
    """
    if heart_rate is None or heart_rate <= 0:
        return None
    if heart_rate < LOW_LIMIT:
        return "too low"
    if age is None:
        return None
    limit = high_limit(age)
    if heart_rate > limit:
        return "dangerously high"
    if heart_rate >= HIGH_SHARE * limit:
        return "high"
    return "safe"


_URGENCY = {"dangerously high": 3, "too low": 2, "high": 1}


def urgency(zone_name: str | None) -> int:
    """How urgently staff should look at a zone: 3 dangerously high ... 0 safe or unknown."""
    return _URGENCY.get(zone_name or "", 0)


class AlertToSend(NamedTuple):
    """An alert the outbox is to email: what fired, and to whom (read as it is sent)."""

    alert_id: int
    ride_id: int
    kind: str  # a name of ``KIND_NAMES``
    at: dt.datetime
    heart_rate: int
    limit: int
    recipient: str | None  # the rider's email; None once the rider is gone
    first_name: str | None
