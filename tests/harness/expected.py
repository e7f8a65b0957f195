"""What ingestion must have stored, computed without it: the pure ``Tracker`` run once,
uninterrupted, over a topic as it reads back, compared with the database on natural keys (bike
and time), since ride ids depend on who allocated them when."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

from deleton.core.batch import Batch
from deleton.core.messages import message
from deleton.core.records import to_datetime
from deleton.core.tracker import Tracker
from tests.harness.broker import LocalBroker
from tests.harness.services import iterate_topic, rows, scalar

SECOND = 1_000_000
IDLE = 5 * SECOND  # what the ingest processes of these tests are given too
MAX_SKEW = 86_400 * SECOND  # the default
LATER = 2**62  # a receiver's clock long after the topic: every bike has gone quiet
# Tests replay fleets simulated years ago: their alerts must still be sent, not expired.
ALERTS_NEVER_EXPIRE = str(100 * 365 * 86_400)
INGEST_SETTINGS = {
    "ride_idle_timeout": str(IDLE / SECOND),
    "alert_max_age": ALERTS_NEVER_EXPIRE,
}


def reference(
    kafka: LocalBroker, topic: str, count: int
) -> tuple[Batch, dict[int, int], list[Any]]:
    """What an uninterrupted run must store, each partition's end offset, and the messages
    read (confluent-kafka's, with their timestamps)."""
    tracker = Tracker(IDLE, itertools.count(1).__next__, MAX_SKEW)
    ends: dict[int, int] = {}
    read = []
    for m in iterate_topic(kafka.bootstrap, topic, count):
        kind, millis = m.timestamp()
        stamp = millis * 1000 if kind else None
        offset = m.offset()
        tracker.feed(message(m.partition(), offset, offset + 1, m.key(), m.value(), None, stamp))
        ends[m.partition()] = offset + 1
        read.append(m)
    tracker.expire_idle(LATER, list(tracker.partitions))
    return tracker.take(), ends, read


def natural(batch: Batch) -> dict[str, Any]:
    """The batch's rows keyed by bike and time instead of ride ids."""
    bike = {ride.ride_id: ride.bike_serial for ride in batch.new_rides}
    ended = {end.ride_id: end.ended_at for end in batch.ended_rides}
    return {
        "readings": Counter(
            (
                bike[r.ride_id],
                to_datetime(r.at),
                r.duration,
                r.resistance,
                r.heart_rate,
                r.rpm,
                r.power,
            )
            for r in batch.readings
        ),
        "rides": Counter(
            (
                ride.bike_serial,
                ride.user_id,
                to_datetime(ride.started_at),
                to_datetime(ended[ride.ride_id]) if ride.ride_id in ended else None,
            )
            for ride in batch.new_rides
        ),
        "alerts": Counter(
            (bike[a.ride_id], a.kind, to_datetime(a.at), a.heart_rate) for a in batch.alerts
        ),
        "riders": len(batch.riders),
    }


def stored(url: str) -> dict[str, Any]:
    """What the database holds, in ``natural``'s terms."""
    return {
        "readings": Counter(
            rows(
                url,
                "SELECT r.bike_serial, g.at, g.duration, g.resistance, g.heart_rate, g.rpm, g.power"
                " FROM daily.reading g JOIN daily.ride r USING (ride_id)",
            )
        ),
        "rides": Counter(
            rows(url, "SELECT bike_serial, user_id, started_at, ended_at FROM daily.ride")
        ),
        "alerts": Counter(
            rows(
                url,
                "SELECT r.bike_serial, a.kind, a.at, a.heart_rate"
                " FROM daily.alert a JOIN daily.ride r USING (ride_id)",
            )
        ),
        "riders": scalar(url, "SELECT count(*) FROM daily.rider"),
    }


def mismatch(got: dict[str, Any], want: dict[str, Any], shown: int = 3) -> str:
    """How ``got`` differs from ``want`` (``stored`` and ``natural`` views, or any dicts of
    Counters), in a few lines: per kind the counts, how many rows are missing and how many
    are extra or duplicated, and the first few of each; ``""`` when they are the same.

    Tests assert ``not mismatch(...)`` rather than ``stored(db) == natural(expected)``:
    pytest explains a failed ``==`` between Counters of a million rows with difflib, which
    outlasted the suite's 300 s timeout instead of saying what went wrong."""
    lines = []
    for kind in sorted(got.keys() | want.keys()):
        mine, theirs = got.get(kind), want.get(kind)
        if isinstance(mine, Counter) and isinstance(theirs, Counter):
            missing, extra = theirs - mine, mine - theirs
            if missing or extra:
                lines.append(
                    f"{kind}: {theirs.total():,} expected, {mine.total():,} found;"
                    f" {missing.total():,} missing, e.g. {_first(missing, shown)};"
                    f" {extra.total():,} extra or duplicated, e.g. {_first(extra, shown)}"
                )
        elif mine != theirs:
            lines.append(f"{kind}: {theirs!r} expected, {mine!r} found")
    return "\n".join(lines)


def _first(rows: Counter[Any], count: int) -> list[Any]:
    return list(itertools.islice(rows.elements(), count))


def caught_up(url: str, source: str, ends: dict[int, int]) -> bool:
    """Every partition stored to its end."""
    got = dict(
        rows(
            url,
            "SELECT partition, next_position FROM daily.source_position WHERE source = %s",
            [source],
        )
    )
    return all(got.get(p) == end for p, end in ends.items())


def settled(url: str, source: str, ends: dict[int, int]) -> bool:
    """Caught up, and every ride closed: the bikes have gone quiet and ingestion saw it."""
    return caught_up(url, source, ends) and not scalar(
        url, "SELECT count(*) FROM daily.ride WHERE ended_at IS NULL"
    )
