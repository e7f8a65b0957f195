"""Per-bike ride state: turns a stream of messages into riders, rides, readings and alerts.

Pure (no I/O, no clock): the caller feeds messages in source order with the time it received
them, and takes a ``Batch`` of rows to write. Bikes are keyed by the message key (no key: the
single stream of the original topic) and grouped by source partition, because a partition's
state is checkpointed with its position: ``checkpoint(p)`` is everything needed to continue
partition ``p`` after a restart exactly where the committed position left it, including a Ride
line still waiting for its Telemetry line (its format is ``core/checkpoint.py``'s).

A ride starts at a ``[SYSTEM]`` line and ends at a marker, at the bike's next ``[SYSTEM]`` line,
or after ``idle_timeout_us`` of silence, with ``ended_at`` the time of its last line. Time is
judged per bike, never across bikes: a gap longer than the timeout between two of a bike's own
lines ends its ride, and a bike that stops sending is expired by ``expire_idle`` once nothing
has arrived from it for the timeout by the receiver's clock (the caller says which partitions
are caught up, so that a backlog is not taken for silence). One bike's wrong clock therefore
never ends another bike's ride. A line stamped further than ``max_skew_us`` from its broker
timestamp is not believed and becomes a dead letter. Readings with no open ride (the
``[SYSTEM]`` line was never seen) start a ride with an unknown rider rather than being dropped.

Nothing a message holds can raise out of ``feed_all``: bad input, and as a last line of defence
any error while handling a message, become a dead letter for that message.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Any

from ..errors import DeletonError
from . import alerts
from .batch import AlertRow, Batch, DeadLetter, NewRide, ReadingRow, RideEnd
from .checkpoint import BikeState
from .checkpoint import dumps as dump_checkpoint
from .checkpoint import loads as load_checkpoint
from .messages import Message
from .records import Invalid, Marker, RideLine, RiderLine, TelemetryLine
from .wire import FastLine, match_reading, parse_unmatched, parse_value

# A reading's row is built on the hot path a hundred thousand times a second: going straight to
# tuple's constructor skips NamedTuple's Python-level __new__, a third of a row's cost.
_row = tuple.__new__
MAX_KEY_BYTES = 64  # a bike serial; the column is text, the key is anything a producer sent


class Rejected(Exception):
    """A message that cannot be taken, and why (no values quoted: they may be personal)."""


def check_key(key: bytes) -> None:
    """Raise ``Rejected`` unless ``key`` can be a bike serial: short UTF-8 text without NUL."""
    if len(key) > MAX_KEY_BYTES:
        raise Rejected(f"message key longer than {MAX_KEY_BYTES} bytes")
    if b"\x00" in key:
        raise Rejected("message key holds a NUL byte")
    try:
        key.decode()
    except UnicodeDecodeError:
        raise Rejected("message key is not UTF-8") from None


class Tracker:
    """Feed messages with ``feed``; take rows with ``take``. ``new_ride_id`` hands out ids.

    ``max_skew_us`` None believes every line's time."""

    def __init__(
        self,
        idle_timeout_us: int,
        new_ride_id: Callable[[], int],
        max_skew_us: int | None = None,
    ) -> None:
        self.idle_timeout_us = idle_timeout_us
        self.new_ride_id = new_ride_id
        self.max_skew_us = max_skew_us
        self.partitions: dict[int, dict[bytes, BikeState]] = {}
        self.batch = Batch()
        self._now = 0  # the receiver's time of the messages being fed

    # --- partitions come and go with the source's assignment -------------------------------

    def load(self, partition: int, state: bytes | None) -> None:
        """Take over ``partition`` with the checkpoint stored with its position."""
        self.partitions[partition] = load_checkpoint(state)

    def drop(self, partition: int) -> None:
        """Forget ``partition``: another process owns it now."""
        self.partitions.pop(partition, None)

    def checkpoint(self, partition: int) -> bytes:
        """The checkpoint to store with ``partition``'s position: open rides and pending
        halves."""
        return dump_checkpoint(self.partitions.get(partition, {}))

    # --- the hot path -------------------------------------------------------------------------

    def feed(self, message: Message, now: int = 0) -> None:
        """Account for one message received at ``now`` (µs); bad input becomes a dead letter,
        never an exception."""
        self.feed_all((message,), now)

    def feed_all(self, messages: Iterable[Message], now: int = 0) -> None:
        """``feed`` for many messages received at ``now``: the ingest hot path (a hundred
        thousand times a second), so Ride and Telemetry lines travel as bare ``FastLine``
        tuples rather than records."""
        batch = self.batch
        positions = batch.positions
        timeout = self.idle_timeout_us
        skew = self.max_skew_us
        self._now = now
        count = 0
        for partition, position, next_position, raw_key, value, unreadable, stamp in messages:
            count += 1
            try:
                line: FastLine | None = (
                    match_reading(value) if unreadable is None and value is not None else None
                )
                if line is None:
                    record: Any = (
                        Invalid(unreadable)
                        if unreadable is not None
                        else parse_value(value)
                        if value is None
                        else parse_unmatched(value)
                    )
                    kind = type(record)
                    if kind is Invalid:
                        raise Rejected(record.reason)
                    if kind is RideLine:
                        line = (True, record.at, record.host, record.duration, record.resistance,
                                None)  # fmt: skip
                    elif kind is TelemetryLine:
                        line = (False, record.at, record.host, record.heart_rate, record.rpm,
                                record.power)  # fmt: skip
                    else:
                        if stamp is not None and record.at is not None and skew is not None:
                            self._check_skew(record.at, stamp, skew)
                        self._event(partition, raw_key or b"", record)
                        positions[partition] = next_position
                        continue
                is_ride, at, host, a, b, c = line
                if stamp is not None and skew is not None and not -skew <= at - stamp <= skew:
                    self._check_skew(at, stamp, skew)
                key = raw_key or b""
                bike = self._arrive(partition, key, at)
                last = bike.last_at
                if bike.ride_id is not None and (at - last > timeout or last - at > timeout):
                    self._end(bike)  # a gap in this bike's own lines, either way
                if is_ride:
                    if bike.ride_id is None:
                        self._open(bike, key, at, host, None)
                    elif bike.pending is not None:  # the Telemetry line never came: keep half
                        self._half_ride(bike)
                    bike.pending = (at, a, b)
                    bike.last_at = at
                else:
                    self._telemetry(bike, key, at, host, a, b, c)  # type: ignore[arg-type]
            except Rejected as why:
                batch.dead_letters.append(DeadLetter(partition, position, raw_key, value, str(why)))
            except DeletonError:
                raise  # the store's, or a stop: not this message's doing
            except Exception as exc:  # the last line of defence: one message, never the stream
                batch.dead_letters.append(
                    DeadLetter(partition, position, raw_key, value,
                               f"could not be handled: {type(exc).__name__}")
                )  # fmt: skip
            positions[partition] = next_position
        batch.messages += count

    @staticmethod
    def _check_skew(at: int, stamp: int, skew: int) -> None:
        if not -skew <= at - stamp <= skew:
            hours = abs(at - stamp) / 3_600_000_000
            raise Rejected(
                f"line time is {hours:,.1f} h from the message's broker time"
                f" (at most {skew / 3_600_000_000:,.1f} h is believed)"
            )

    def _arrive(self, partition: int, key: bytes, at: int | None) -> BikeState:
        """The bike a message is for, heard from now."""
        bikes = self.partitions.get(partition)
        if bikes is None:
            bikes = self.partitions[partition] = {}
        bike = bikes.get(key)
        if bike is None:
            check_key(key)
            bike = bikes[key] = BikeState()
        bike.heard = self._now
        if at is not None and self.batch.first_at is None:
            self.batch.first_at = at
        return bike

    def _event(self, partition: int, key: bytes, record: RiderLine | Marker) -> None:
        """A ``[SYSTEM]`` line or a marker: both end the bike's ride; the first starts one."""
        bike = self._arrive(partition, key, record.at)
        self._end(bike)
        if type(record) is RiderLine:
            self._open(bike, key, record.at, record.host, record)

    def _telemetry(
        self, bike: BikeState, key: bytes, at: int, host: str, hr: int, rpm: int, power: float
    ) -> None:
        if bike.ride_id is None:
            self._open(bike, key, at, host, None)
        ride_id: int = bike.ride_id  # type: ignore[assignment]
        pending = bike.pending
        if pending is not None:
            reading = _row(
                ReadingRow, (ride_id, pending[0], pending[1], pending[2], hr, rpm, power)
            )
            bike.pending = None
        else:
            reading = _row(ReadingRow, (ride_id, at, None, None, hr, rpm, power))
        self.batch.readings.append(reading)
        bike.last_at = at
        limit = bike.limit
        if limit is not None and (
            bike.high_run or bike.low_run or hr > limit or (0 < hr < alerts.LOW_LIMIT and rpm)
        ):
            streak, kind = alerts.judge(
                alerts.Streak(bike.high_run, bike.low_run, bike.fired), limit, hr, rpm
            )
            bike.high_run, bike.low_run, bike.fired = streak
            if kind:
                self.batch.alerts.append(
                    AlertRow(
                        ride_id,
                        bike.user_id,  # type: ignore[arg-type]
                        alerts.KIND_NAMES[kind],
                        reading.at,
                        hr,
                        limit if kind == alerts.HIGH else alerts.LOW_LIMIT,
                    )
                )

    def _half_ride(self, bike: BikeState) -> None:
        pending = bike.pending
        assert pending is not None and bike.ride_id is not None
        self.batch.readings.append(
            ReadingRow(bike.ride_id, pending[0], pending[1], pending[2], None, None, None)
        )
        bike.pending = None

    def _open(
        self, bike: BikeState, key: bytes, at: int, host: str, rider: RiderLine | None
    ) -> None:
        bike.ride_id = self.new_ride_id()
        bike.host = host
        bike.last_at = at
        bike.high_run = bike.low_run = bike.fired = 0
        bike.pending = None
        gender = age = None
        if rider is None:
            bike.user_id = None
            bike.limit = None
        else:
            bike.user_id = rider.user_id
            gender, age = rider.gender_kind, rider.age_at(at)
            bike.limit = alerts.high_limit(age)
            known = self.batch.riders.get(rider.user_id)
            if known is None or known.at <= at:
                self.batch.riders[rider.user_id] = rider
        self.batch.new_rides.append(
            NewRide(bike.ride_id, key.decode(), bike.user_id, at, host, gender, age)
        )

    def _end(self, bike: BikeState) -> None:
        if bike.ride_id is None:
            return
        if bike.pending is not None:
            self._half_ride(bike)
        self.batch.ended_rides.append(RideEnd(bike.ride_id, bike.last_at))
        bike.ride_id = None
        bike.user_id = None
        bike.limit = None

    def expire_idle(self, now: int, partitions: Collection[int]) -> set[int]:
        """In ``partitions`` (those caught up with their source, so that silence is silence and
        not a backlog), end the ride of every bike heard from last more than the idle timeout
        before ``now``, and forget bikes with nothing open. Returns the partitions whose state
        changed."""
        changed = set()
        horizon = now - self.idle_timeout_us
        for partition in partitions:
            bikes = self.partitions.get(partition)
            if not bikes:
                continue
            # in key order: the dict's order depends on what a checkpoint carried (a bike with
            # nothing open is not), and the rows must not
            for key in sorted([k for k, b in bikes.items() if b.heard < horizon]):
                bike = bikes.pop(key)
                if bike.ride_id is not None or bike.pending is not None:
                    self._end(bike)
                    changed.add(partition)
        return changed

    def take(self) -> Batch:
        """The rows accumulated so far; the tracker starts a new batch."""
        batch, self.batch = self.batch, Batch()
        return batch
