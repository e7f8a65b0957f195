"""Read side of the daily report, over ``historical.ride_summary`` (every ride, wherever it
is kept), and the record of each report sent."""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

import psycopg
from psycopg.rows import class_row

from ..core.report_figures import ReportRide
from .queries import newest_rider

Connection = psycopg.Connection[Any]

_RIDES = f"""
SELECT v.ride_id, v.user_id, u.first_name, u.last_name,
       coalesce(u.gender, v.rider_gender) AS gender, v.rider_age AS age,
       extract(hour FROM v.started_at AT TIME ZONE %(zone)s)::int AS local_hour,
       coalesce(v.duration_s, 0) AS duration_s, v.heart_rate_avg,
       coalesce(v.heart_rate_readings, 0) AS heart_rate_readings, v.power_avg,
       coalesce(v.power_readings, 0) AS power_readings, coalesce(v.energy_kj, 0) AS energy_kj,
       coalesce(v.alerts_high, 0) AS alerts_high, coalesce(v.alerts_low, 0) AS alerts_low,
       v.heart_rate_sum, v.power_sum, v.seconds_in_hr_zone, v.effort_points, v.bike_serial,
       coalesce(v.readings, 0) AS readings, v.summarised
FROM historical.ride_summary v
{newest_rider("v.user_id", "first_name, last_name, gender")}
WHERE v.started_at >= %(start)s AND v.started_at < %(end)s
ORDER BY v.started_at, v.ride_id
"""

_NEW_RIDERS = """
SELECT count(*) FROM (
    SELECT user_id FROM historical.ride_summary
    WHERE user_id IN (SELECT user_id FROM historical.ride_summary
                      WHERE started_at >= %(start)s AND started_at < %(end)s)
    GROUP BY user_id
    HAVING min(started_at) >= %(start)s
) first_rides
"""


def report_rides(
    conn: Connection, start: dt.datetime, end: dt.datetime, zone: str
) -> list[ReportRide]:
    """The rides started in ``[start, end)``, oldest first, with hours in ``zone``."""
    with conn.cursor(row_factory=class_row(ReportRide)) as cur:
        return cur.execute(_RIDES, {"start": start, "end": end, "zone": zone}).fetchall()


def new_riders(conn: Connection, start: dt.datetime, end: dt.datetime) -> int:
    """Riders of ``[start, end)`` whose first ride ever started in it."""
    row = conn.execute(_NEW_RIDERS, {"start": start, "end": end}).fetchone()
    return int(row[0]) if row else 0


def delivery(conn: Connection, start: dt.datetime, end: dt.datetime) -> dt.datetime | None:
    """When the report of this period was sent, if it was."""
    row = conn.execute(
        "SELECT sent_at FROM historical.report_delivery"
        " WHERE period_start = %s AND period_end = %s",
        [start, end],
    ).fetchone()
    return None if row is None else row[0]


def record_delivery(
    conn: Connection, start: dt.datetime, end: dt.datetime, recipients: int
) -> None:
    """That the report of this period went to ``recipients`` addresses (another send of it
    counts one more); through a definer function, as the reader's login writes no table."""
    conn.execute("SELECT historical.record_report_delivery(%s, %s, %s)", [start, end, recipients])


# Every ride that may overlap the rides' window, as (start, end): a ride still open ends at its
# newest reading (daily.bike_latest), so that a stalled stream shows as a hole, not as rides
# running on. No ride lasts a day.
_SPANS = """
SELECT started_at AS s, ended_at AS e FROM historical.ride
WHERE started_at >= %(from)s - interval '1 day' AND started_at < %(end)s AND ended_at > %(from)s
UNION ALL
SELECT r.started_at, coalesce(r.ended_at, b.at, r.started_at) FROM daily.ride r
LEFT JOIN daily.bike_latest b ON b.ride_id = r.ride_id
WHERE r.summarised_at IS NULL AND r.started_at >= %(from)s - interval '1 day'
  AND r.started_at < %(end)s
"""

_HOLES = f"""
WITH rides AS ({_SPANS}),
covered AS (
    SELECT coalesce(range_agg(tstzrange(s, greatest(s, e), '[]')), '{{}}') AS m FROM rides
)
SELECT lower(h), upper(h)
FROM covered, unnest(tstzmultirange(tstzrange(%(from)s, %(end)s)) - covered.m) h
ORDER BY 1
"""

# quarter hours begin on the quarter in every zone (none is offset by less)
_SLOTS = f"""
WITH rides AS ({_SPANS}),
quarters AS (
    SELECT DISTINCT q AT TIME ZONE %(zone)s AS q FROM rides,
        generate_series(date_bin('15 minutes', s, '2000-01-01'), greatest(s, e),
                        interval '15 minutes') q
    WHERE q >= %(from)s AND q < %(end)s
)
SELECT (extract(hour FROM q) * 4 + extract(minute FROM q)::int / 15)::int AS slot,
       count(DISTINCT q::date) AS days, (SELECT count(DISTINCT q::date) FROM quarters) AS of_days
FROM quarters GROUP BY 1
"""


def holes(
    conn: Connection, start: dt.datetime, end: dt.datetime
) -> list[tuple[dt.datetime, dt.datetime]]:
    """The times in ``[start, end)`` with no ride in progress, oldest first."""
    rows = conn.execute(_HOLES, {"from": start, "end": end}).fetchall()
    return [(lower, upper) for lower, upper in rows]


def days_by_slot(
    conn: Connection, start: dt.datetime, end: dt.datetime, zone: str
) -> tuple[dict[int, int], int]:
    """For each quarter hour of the day in ``zone`` (``data_quality.slot_of``), on how many
    days of ``[start, end)`` rides were in progress in it; and how many days had any."""
    rows = conn.execute(_SLOTS, {"from": start, "end": end, "zone": zone}).fetchall()
    return {slot: days for slot, days, _ in rows}, (rows[0][2] if rows else 0)


class Received(NamedTuple):
    """What the report's data check reads beside the rides."""

    dead_letters: int
    lag_s: float | None
    bikes_known: int
    maintenance: dict[str, int]


def received(conn: Connection, start: dt.datetime, end: dt.datetime) -> Received:
    """Dead letters received in ``[start, end)``; the longest since a partition of the stream
    last committed its position, now; the bikes ever seen; the open findings by kind."""
    dead = conn.execute(
        "SELECT count(*) FROM daily.dead_letter WHERE received_at >= %s AND received_at < %s",
        [start, end],
    ).fetchone()
    # each source's newest commit, of any partition: a partition with no bikes commits
    # nothing (no heartbeat) and would read as lag; a source silent for a week is gone
    lag = conn.execute(
        """SELECT extract(epoch FROM max(now() - newest))::float8 FROM (
               SELECT max(updated_at) AS newest FROM daily.source_position GROUP BY source
           ) s WHERE newest > now() - interval '7 days'"""
    ).fetchone()
    known = conn.execute(
        "SELECT count(*) FROM (SELECT bike_serial FROM historical.bike_health"
        " UNION SELECT bike_serial FROM daily.bike_latest) b"
    ).fetchone()
    kinds = conn.execute(
        "SELECT kind, count(*) FROM historical.bike_finding WHERE cleared_at IS NULL GROUP BY kind"
    ).fetchall()
    return Received(
        int(dead[0]) if dead else 0,
        None if lag is None or lag[0] is None else max(0.0, float(lag[0])),
        int(known[0]) if known else 0,
        {kind: int(n) for kind, n in kinds},
    )
