"""A ride's figures, as ``daily.ride_figures`` (migration 0011) defines them, once: compression
stores what it returns in ``historical.ride``, the view ``historical.ride_summary`` returns it
for rides still in ``daily``, the API reads a ride in ``daily`` through it and the dashboard
merges the sums and counts it returns. Here are their names and how a caller asks for them.

A ride's readings lie from its start less the reading window (``DELETON_READING_WINDOW``,
longer than the idle timeout: an earlier line would have ended the ride) to its end. Callers
pass those bounds as values, never as columns, so that PostgreSQL scans only the hourly
partitions they cover: planned knowing them (never prepared), for a batch of rides read once
(compression, the dashboard); or, for a ride or a few read again and again (the API),
prepared on the connection as a generic plan, made again only when a partition comes, goes
or is analysed, whose partitions PostgreSQL prunes as each run starts. Planning all of
``ride_figures`` with literal bounds cost the API more than reading the ride did: in-process,
11.2 ms a ride against 4.1 ms with 27 hourly partitions, 11.6 ms against 5.2 ms with 197
(Issue 19). Such a plan names, and locks at each run, every partition, which is why the
batches keep plans made with their bounds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus
from psycopg.rows import RowFactory

from .config import READING_WINDOW

# The figures historical.ride keeps, named as daily.ride_figures returns them (besides the
# ride's id, first, and the newest reading counted, last); a test holds the two together.
FIGURES = (
    "duration_s", "readings", "heart_rate_avg", "heart_rate_min", "heart_rate_max",
    "power_avg", "power_max", "energy_kj", "rpm_avg", "rpm_max", "resistance_avg",
    "resistance_max", "heart_rate_readings", "power_readings", "rpm_readings",
    "resistance_readings", "alerts", "alerts_high", "alerts_low", "heart_rate_sum",
    "power_sum", "rpm_sum", "resistance_sum",
    # the training figures, to the last digit of core/training.py's
    "seconds_in_hr_zone", "effort_points", "normalized_power_w", "variability_index",
    "efficiency_factor", "aerobic_decoupling_pct",
)  # fmt: skip
# The reading window unless one is given (DELETON_READING_WINDOW's default), and what every
# Deleton connection sets to the one it was given, for the view (connection.Database).
WINDOW = dt.timedelta(seconds=READING_WINDOW)
WINDOW_SETTING = "deleton.reading_window"
# The upper bound of an open ride: later than any reading can be (no partition is made for
# an hour past now and the clock skew allowed).
NO_END = dt.datetime.max.replace(tzinfo=dt.UTC)

Row = TypeVar("Row")


def bounds(
    started_at: dt.datetime, ended_at: dt.datetime | None, window: dt.timedelta
) -> tuple[dt.datetime, dt.datetime]:
    """Where the readings of a ride started at ``started_at`` (and ended at ``ended_at``, or
    still open) may lie."""
    return started_at - window, NO_END if ended_at is None else ended_at


def statement(columns: Sequence[str] = ("ride_id", *FIGURES)) -> sql.Composed:
    """``columns`` of ``daily.ride_figures`` for the rides ``%(rides)s`` over the readings
    from ``%(lower)s`` to ``%(upper)s``."""
    return sql.SQL(
        "SELECT {} FROM daily.ride_figures(%(rides)s::bigint[], %(lower)s, %(upper)s)"
    ).format(sql.SQL(", ").join(map(sql.Identifier, columns)))


def read(
    conn: psycopg.Connection[Any],
    rides: Sequence[int],
    lower: dt.datetime,
    upper: dt.datetime,
    row_factory: RowFactory[Row],
    columns: Sequence[str] = ("ride_id", *FIGURES),
    *,
    generic: bool = False,
) -> list[Row]:
    """``columns`` of the figures of ``rides`` over their readings from ``lower`` to ``upper``,
    each row made by ``row_factory``. Only the partitions the bounds cover are read: planned
    with the bounds known (never prepared); or, with ``generic`` on a connection outside a
    transaction, prepared on ``conn`` as one plan for any rides and bounds, the partitions
    pruned as each run starts. Inside a caller's transaction ``generic`` is ignored: the
    setting that asks for the generic plan would last to that transaction's end."""
    params = {"rides": list(rides), "lower": lower, "upper": upper}
    with conn.cursor(row_factory=row_factory) as cur:
        if not generic or conn.info.transaction_status != TransactionStatus.IDLE:
            cur.execute(statement(columns), params, prepare=False)
            return cur.fetchall()
        with conn.transaction():
            # Left to itself PostgreSQL plans afresh at every run: it costs a generic plan as
            # reading every partition (what it prunes at run time is not costed), so the
            # plans made with the bounds always look cheaper
            cur.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            cur.execute(statement(columns), params, prepare=True)
            return cur.fetchall()
