"""Read side of the daily report, over ``historical.ride_summary`` (every ride, wherever it
is kept), and the record of each report sent."""

from __future__ import annotations

import datetime as dt
from typing import Any

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
       v.heart_rate_sum, v.power_sum, v.seconds_in_hr_zone, v.effort_points
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
