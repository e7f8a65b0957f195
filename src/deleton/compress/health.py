"""Bike health checks (core/bike_health.py), run by compression: each chunk's rides are
checked in the transaction that summarises them, so each ride once and never history again
(their readings read, and what they say worked out, beside the summaries being made); then,
once a run, each bike whose power was read is judged for drift over the days kept, and every
bike seen for being offline."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..core import bike_health
from ..core.bike_health import OFFLINE, POWER_DRIFT, Change, Finding, PowerSamples, RideSignals
from ..core.records import to_datetime
from ..postgres import health as store
from ..postgres.health import Connection

log = logging.getLogger(__name__)


Chunk = tuple[tuple[int, ...], Any, Any]  # a chunk's rides' ids and the bounds of their readings


class Prepared(NamedTuple):
    """What a chunk's rides say, worked out from their readings alone (no kept state): their
    signals and newest lines, and each day's power samples (bikes as indices into
    ``serials``) with their model cells."""

    data: store.RideReadings
    signals: list[RideSignals]
    newest: list[int]
    serials: list[str]
    days: list[tuple[int, PowerSamples, tuple[Any, Any, Any, Any]]]


class Ahead(NamedTuple):
    """A chunk's read-ahead: the readings read, and what they say, or the rules' failure on
    them (raised when the chunk is checked, in its savepoint)."""

    key: Chunk
    data: store.RideReadings
    prepared: Prepared | None
    error: Exception | None


AHEAD_LOCK_TIMEOUT = "500ms"


def prepare(data: store.RideReadings) -> Prepared:
    """``Prepared`` of ``data``, a chunk's readings."""
    signals: list[RideSignals] = []
    newest: list[int] = []
    if data.rides:
        signals = bike_health.rides_signals(data.rides, data.ride_of, data.at, data.resistance,
                                            data.rpm, data.power, data.heart_rate)  # fmt: skip
        newest = bike_health.newest_lines(data.rides, data.ride_of, data.at)
    serials = sorted(set(data.bikes))
    slot = {serial: i for i, serial in enumerate(serials)}
    days = bike_health.power_by_day(store.indices([slot[b] for b in data.bikes]), data.ride_of,
                                    data.at, data.resistance, data.rpm, data.power)  # fmt: skip
    cells = [(day, samples, bike_health.model_cells(samples.resistance, samples.rpm,
                                                    samples.power))
             for day, samples in days]  # fmt: skip
    return Prepared(data, signals, newest, serials, cells)


@dataclass
class HealthCheck:
    """One compression run's checks: ``rides`` for each chunk, then ``judge`` once.

    With ``connect`` (a connection of the checks' own), ``ahead`` reads a chunk's readings
    and works out what they say while PostgreSQL makes the chunk's summaries: it makes them
    in one process, and the read and the arrays' work take the other core. ``rides`` then
    only feeds what was worked out into the kept state, in the chunk's transaction. Call
    ``close`` when the run is done."""

    offline_after_us: int
    connect: Callable[[], Connection] | None = None
    touched: set[str] = field(default_factory=set)  # bikes whose power cells grew this run
    rides_checked: int = 0
    readings_checked: int = 0
    seconds: float = 0.0  # the time the checks added to the run's transactions
    ahead_seconds: float = 0.0  # the time the read-ahead took, beside the summaries
    failures: int = 0  # chunks (or the judging) whose checks failed and were left out
    opened: int = 0  # findings opened or updated
    cleared: int = 0
    flagged: dict[str, int] = field(default_factory=dict)  # open findings by kind, after judge
    _side: Connection | None = field(default=None, init=False, repr=False, compare=False)
    _pool: ThreadPoolExecutor | None = field(default=None, init=False, repr=False, compare=False)
    _ahead: Future[Ahead] | None = field(default=None, init=False, repr=False, compare=False)

    def ahead(self, ride_ids: list[int], lower: Any, upper: Any) -> None:
        """Begin reading and working out ``ride_ids``' readings (``lower``..``upper``) on the
        checks' own connection, for the ``rides`` call of the same chunk; nothing without
        ``connect``. Never raises: without a read-ahead, ``rides`` reads in the transaction."""
        self._ahead = None
        if self.connect is None:
            return
        try:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="health-ahead")
            self._ahead = self._pool.submit(self._read_ahead, (tuple(ride_ids), lower, upper))
        except Exception:  # e.g. the interpreter shutting down: no new threads
            log.warning("bike health: no read-ahead; the chunk is read in its transaction",
                        exc_info=True)  # fmt: skip

    def _read_ahead(self, key: Chunk) -> Ahead:
        began = time.monotonic()
        try:
            try:
                data = store.readings_of(self._connection(), *key)
            except Exception:
                self._drop_side()  # broken or timed out: a new one for the next chunk
                raise
            try:
                return Ahead(key, data, prepare(data), None)
            except Exception as exc:  # the rules' own failure: raised in the savepoint
                return Ahead(key, data, None, exc)
        finally:
            self.ahead_seconds += time.monotonic() - began

    def _connection(self) -> Connection:
        if self._side is None:
            assert self.connect is not None
            side = self.connect()
            try:
                # read-only, and never queued behind ingestion's new partition (an ACCESS
                # EXCLUSIVE lock that itself waits for the chunk's transaction, which waits
                # for this read: a cycle PostgreSQL cannot see); on a timeout the chunk is
                # read in its transaction, under the lock it holds
                side.execute("SET default_transaction_read_only = on")
                side.execute(f"SET lock_timeout = '{AHEAD_LOCK_TIMEOUT}'")
                # one process: the summaries take the other core, and a parallel read would
                # take theirs (measured: the run no faster than reading in the transaction)
                side.execute("SET max_parallel_workers_per_gather = 0")
            except BaseException:
                side.close()
                raise
            self._side = side
        return self._side

    def _drop_side(self) -> None:
        side, self._side = self._side, None
        if side is not None:
            side.close()

    def close(self) -> None:
        """Stop the read-ahead (a read in flight is cancelled) and close its connection."""
        ahead, self._ahead = self._ahead, None
        side = self._side  # the worker may drop it meanwhile: cancel the one it reads on
        if ahead is not None and not ahead.done() and side is not None:
            side.cancel_safe(timeout=2.0)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._drop_side()

    def rides(self, conn: Connection, ride_ids: list[int], lower: Any, upper: Any) -> None:
        """Check ``ride_ids`` (a chunk being summarised, readings within ``lower``..``upper``)
        and count their power into the cells, on ``conn`` in its transaction. In a savepoint:
        checks that fail (bad data the rules did not foresee) are logged and counted, and
        their rides go unchecked; the summaries, and compression, go on."""
        began = time.monotonic()
        try:
            with conn.transaction():
                self._rides(conn, self._prepared(conn, (tuple(ride_ids), lower, upper)))
        except Exception:
            self.failures += 1
            log.exception("bike health: the checks of %d rides failed; they go unchecked",
                          len(ride_ids))  # fmt: skip
        finally:
            self.seconds += time.monotonic() - began

    def _prepared(self, conn: Connection, key: Chunk) -> Prepared:
        """The chunk's read-ahead, when it was of these rides and they are, on ``conn``, as it
        read them: the same rides, riders, starts and bikes, and as many readings each as the
        chunk's summaries counted (a ride deleted, a rider erased or a late reading
        meanwhile: read again, on ``conn``)."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            try:
                found = ahead.result()
            except Exception:
                log.warning("bike health: the read-ahead failed; read in the transaction",
                            exc_info=True)  # fmt: skip
            else:
                if found.key == key and store.as_read(conn, key[0], found.data):
                    if found.error is not None:
                        raise found.error
                    assert found.prepared is not None
                    return found.prepared
        return prepare(store.readings_of(conn, *key))

    def _rides(self, conn: Connection, prepared: Prepared) -> None:
        data = prepared.data
        if data.rides:
            states = store.states_of(conn, data.bikes)
            lines: dict[str, int] = {}
            changes: list[Change] = []
            for bike, signal, line in zip(data.bikes, prepared.signals, prepared.newest,
                                          strict=True):  # fmt: skip
                changes += states[bike].feed(signal)  # rides come in order of start
                lines[bike] = max(line, lines.get(bike, line))
            store.save_states(conn, states.values(), lines)
            self._count(conn, changes)
            self._power(conn, prepared)
        self.rides_checked += len(data.rides)
        self.readings_checked += len(data.at)

    def _power(self, conn: Connection, prepared: Prepared) -> None:
        for day, _, cells in prepared.days:
            store.add_model_cells(conn, day, cells)
        newest = store.newest_day(conn)
        if newest is None:
            return
        model = store.model(conn, newest)
        for day, samples, _ in prepared.days:
            bikes, steps, readings = bike_health.ratio_cells(model, samples)
            store.add_drift_cells(conn, day, prepared.serials, (bikes, steps, readings))
            self.touched.update(prepared.serials[b] for b in set(bikes.tolist()))

    def _count(self, conn: Connection, changes: list[Change]) -> None:
        store.record(conn, changes)
        for change in changes:  # serials as %r: a serial is any text a bike sends as its key
            if change.cleared:
                self.cleared += 1
                log.info("bike %r: %s cleared", change.bike_serial, change.kind)
            else:
                self.opened += 1
                # an offline bike's hours of silence change at every run: news only once
                level = logging.DEBUG if change.kind == OFFLINE else logging.INFO
                log.log(level, "bike %r: %s, %s", change.bike_serial, change.kind,
                        change.finding.detail if change.finding else "")  # fmt: skip

    def judge(self, conn: Connection) -> None:
        """Judge drift for the bikes whose power was read this run, over the days kept, and
        every bike seen for being offline, as of the newest line in the data; in a savepoint,
        as ``rides``."""
        try:
            with conn.transaction():
                self._judge(conn)
        except Exception:
            self.failures += 1
            log.exception("bike health: judging drift and offline bikes failed")

    def _judge(self, conn: Connection) -> None:
        began = time.monotonic()
        lines = store.last_lines(conn)
        if not lines:
            self.flagged = store.open_counts(conn)
            return
        newest_line = max(lines.values())
        changes: list[Change] = []
        newest = store.newest_day(conn)
        if newest is not None and self.touched:
            bikes = sorted(self.touched)
            cells = store.drift_cells(conn, bikes, newest)
            drifting = dict(store.open_findings(conn, [POWER_DRIFT], bikes))
            stuck = {b for b, _ in store.open_findings(conn, bike_health.DRIFT_NOT_JUDGED, bikes)}
            for bike in bikes:
                if bike in stuck:
                    continue
                drift = bike_health.drift_of_cells(*cells[bike]) if bike in cells else None
                was = drifting.get(bike)
                now, cleared = bike_health.drift_finding(drift, was, newest_line)
                if cleared:
                    changes.append(Change(bike, POWER_DRIFT, True, newest_line, None))
                elif now is not None and now != was:
                    changes.append(Change(bike, POWER_DRIFT, False, newest_line, now))
            store.forget_cells(conn, newest)
        silent = dict(store.open_findings(conn, [OFFLINE]))
        for bike, last in sorted(lines.items()):
            was = silent.get(bike)
            if bike_health.offline(last, newest_line, self.offline_after_us):
                detail = {"last_line_at": to_datetime(last).isoformat(),
                          "silent_hours": round((newest_line - last) / 3.6e9, 1)}  # fmt: skip
                first = was.first_seen if was else last + self.offline_after_us
                finding = Finding(OFFLINE, first, newest_line, detail)
                if finding != was:
                    changes.append(Change(bike, OFFLINE, False, newest_line, finding))
            elif was is not None:
                changes.append(Change(bike, OFFLINE, True, newest_line, None))
        self._count(conn, changes)
        self.touched.clear()
        self.flagged = store.open_counts(conn)
        self.seconds += time.monotonic() - began
