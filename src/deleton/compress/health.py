"""Bike health checks (core/bike_health.py), run by compression: each chunk's rides are
checked in the transaction that summarises them, so each ride once and never history again;
then, once a run, each bike whose power was read is judged for drift over the days kept, and
every bike seen for being offline."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from ..core import bike_health
from ..core.bike_health import OFFLINE, POWER_DRIFT, Change, Finding
from ..core.records import to_datetime
from ..postgres import health as store
from ..postgres.health import Connection

log = logging.getLogger(__name__)


@dataclass
class HealthCheck:
    """One compression run's checks: ``rides`` for each chunk, then ``judge`` once."""

    offline_after_us: int
    touched: set[str] = field(default_factory=set)  # bikes whose power cells grew this run
    rides_checked: int = 0
    readings_checked: int = 0
    seconds: float = 0.0
    failures: int = 0  # chunks (or the judging) whose checks failed and were left out
    opened: int = 0  # findings opened or updated
    cleared: int = 0
    flagged: dict[str, int] = field(default_factory=dict)  # open findings by kind, after judge

    def rides(self, conn: Connection, ride_ids: list[int], lower: Any, upper: Any) -> None:
        """Check ``ride_ids`` (a chunk being summarised, readings within ``lower``..``upper``)
        and count their power into the cells, on ``conn`` in its transaction. In a savepoint:
        checks that fail (bad data the rules did not foresee) are logged and counted, and
        their rides go unchecked; the summaries, and compression, go on."""
        try:
            with conn.transaction():
                self._rides(conn, ride_ids, lower, upper)
        except Exception:
            self.failures += 1
            log.exception("bike health: the checks of %d rides failed; they go unchecked",
                          len(ride_ids))  # fmt: skip

    def _rides(self, conn: Connection, ride_ids: list[int], lower: Any, upper: Any) -> None:
        began = time.monotonic()
        data = store.readings_of(conn, ride_ids, lower, upper)
        if data.rides:
            signals = bike_health.rides_signals(data.rides, data.ride_of, data.at,
                                                data.resistance, data.rpm, data.power,
                                                data.heart_rate)  # fmt: skip
            states = store.states_of(conn, data.bikes)
            lines: dict[str, int] = {}
            changes: list[Change] = []
            newest = bike_health.newest_lines(data.rides, data.ride_of, data.at)
            for bike, signal, line in zip(data.bikes, signals, newest, strict=True):
                changes += states[bike].feed(signal)  # rides come in order of start
                lines[bike] = max(line, lines.get(bike, line))
            store.save_states(conn, states.values(), lines)
            self._count(conn, changes)
            self._power(conn, data)
        self.rides_checked += len(data.rides)
        self.readings_checked += len(data.at)
        self.seconds += time.monotonic() - began

    def _power(self, conn: Connection, data: store.RideReadings) -> None:
        serials = sorted(set(data.bikes))
        slot = {serial: i for i, serial in enumerate(serials)}
        days = bike_health.power_by_day(store.indices([slot[b] for b in data.bikes]),
                                        data.ride_of, data.at, data.resistance, data.rpm,
                                        data.power)  # fmt: skip
        for day, samples in days:
            cells = bike_health.model_cells(samples.resistance, samples.rpm, samples.power)
            store.add_model_cells(conn, day, cells)
        newest = store.newest_day(conn)
        if newest is None:
            return
        model = store.model(conn, newest)
        for day, samples in days:
            bikes, steps, readings = bike_health.ratio_cells(model, samples)
            store.add_drift_cells(conn, day, serials, (bikes, steps, readings))
            self.touched.update(serials[b] for b in set(bikes.tolist()))

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
