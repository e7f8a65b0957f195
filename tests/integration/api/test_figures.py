"""A ride's figures have one definition, ``daily.ride_figures``: a ride reads the same, to the
last bit, from ``daily`` (the function, the view), after compression (``historical.ride``, the
view) and through the API; and the API's read of a ride in ``daily`` is planned over the hours
the ride lies in only."""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from deleton.api.rides import FIGURES_SHOWN
from deleton.core.records import to_datetime
from deleton.postgres import figures
from deleton.postgres import rides as store
from deleton.postgres.connection import Database
from deleton.postgres.figures import FIGURES, WINDOW
from tests.harness.services import execute, rows

from .conftest import NOW, Api, as_login, compress

Figures = dict[str, Any]


def in_daily(url: str) -> list[tuple[int, dt.datetime, dt.datetime | None]]:
    """The rides not summarised yet: ended since the last compression, or in progress."""
    return [
        (ride_id, started, ended)
        for ride_id, started, ended in rows(
            url,
            "SELECT ride_id, started_at, ended_at FROM daily.ride"
            " WHERE summarised_at IS NULL ORDER BY ride_id",
        )
    ]


def by_function(conn: psycopg.Connection[Any], ride_id: int, started: Any, ended: Any) -> Figures:
    lower, upper = figures.bounds(started, ended, WINDOW)
    (row,) = figures.read(conn, [ride_id], lower, upper, dict_row, FIGURES)
    return row


def by_view(conn: psycopg.Connection[Any], ride_id: int) -> Figures:
    query = sql.SQL("SELECT {} FROM historical.ride_summary WHERE ride_id = %s").format(
        sql.SQL(", ").join(map(sql.Identifier, FIGURES))
    )
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(query, [ride_id]).fetchone()
    assert row is not None
    return row


def by_api(api: Api, ride_id: int) -> Figures:
    reply = api.client.get(f"/ride/{ride_id}")
    assert reply.status_code == 200, reply.text
    return {name: value for name, value in reply.json().items() if name in FIGURES}


def shown(row: Figures) -> Figures:
    return {name: value for name, value in row.items() if name in FIGURES_SHOWN}


def test_the_figures_are_named_as_the_function_returns_them(api: Api) -> None:
    with psycopg.connect(api.url) as conn:
        returned = conn.execute(
            "SELECT * FROM daily.ride_figures('{}'::bigint[], now(), now())"
        ).description
        kept = conn.execute("SELECT * FROM historical.ride LIMIT 0").description
        viewed = conn.execute("SELECT * FROM historical.ride_summary LIMIT 0").description
    assert returned is not None and kept is not None and viewed is not None
    assert [c.name for c in returned] == ["ride_id", *FIGURES, "last_at"]
    assert set(FIGURES) <= {c.name for c in kept} and set(FIGURES) <= {c.name for c in viewed}


def test_a_ride_reads_the_same_from_daily_after_compression_and_through_the_api(
    scratch: Api,
) -> None:
    url = scratch.url
    rides = in_daily(url)
    ended = [(r, s, e) for r, s, e in rides if e is not None]
    riding = [(r, s, e) for r, s, e in rides if e is None]
    assert len(ended) >= 3 and riding
    before: dict[int, Figures] = {}
    # the API's login, with the window its connections set (the view reads it), and without
    with (
        Database(as_login(url, "api")).connect() as conn,
        psycopg.connect(as_login(url, "api")) as bare,
    ):
        for ride_id, started, end in rides:
            own = by_function(conn, ride_id, started, end)
            assert own["readings"] > 0 and own["power_sum"] is not None
            assert by_view(conn, ride_id) == own  # exactly: the same SQL
            assert by_view(bare, ride_id) == own  # a session without the window reads all
            assert by_api(scratch, ride_id) == shown(own)
            before[ride_id] = own
    compress(url, NOW)  # summarised, detail kept: it ended within the retention
    with Database(as_login(url, "api")).connect() as conn:
        for ride_id, _, _ in ended:
            kept = conn.execute(
                sql.SQL("SELECT {} FROM historical.ride WHERE ride_id = %s").format(
                    sql.SQL(", ").join(map(sql.Identifier, FIGURES))
                ),
                [ride_id],
            ).fetchone()
            assert dict(zip(FIGURES, kept or (), strict=True)) == before[ride_id]
            assert by_view(conn, ride_id) == before[ride_id]
            assert by_api(scratch, ride_id) == shown(before[ride_id])
        for ride_id, started, _ in riding:  # still in progress: still from daily, unchanged
            assert by_view(conn, ride_id) == before[ride_id]
            assert by_function(conn, ride_id, started, None) == before[ride_id]


def partitions_in(plan: Any) -> set[str]:
    """Every table a JSON plan scans, and that no partition was left for the executor to
    prune (which would mean a plan made over all of them)."""
    found: set[str] = set()
    nodes = [plan]
    while nodes:
        node = nodes.pop()
        if isinstance(node, list):
            nodes += node
        elif isinstance(node, dict):
            assert node.get("Subplans Removed", 0) == 0, node
            if "Relation Name" in node:
                found.add(node["Relation Name"])
            nodes += node.values()
    return {name for name in found if name.startswith("reading_")}


def hours(lower: dt.datetime, upper: dt.datetime) -> set[str]:
    """The hourly partitions that hold ``[lower, upper]``."""
    hour = lower.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    names = set()
    while hour <= upper:
        names.add(f"reading_{hour:%Y%m%d_%H}")
        hour += dt.timedelta(hours=1)
    return names


def test_a_ride_in_daily_is_read_over_its_own_hours_only_planned_so(scratch: Api) -> None:
    url = scratch.url
    # a day of hours around the world's, as a busy database holds them
    for hour in range(-24, 6):
        execute(url, "SELECT daily.ensure_reading_partition(%s, interval '100 years')",
                [to_datetime(NOW) + dt.timedelta(hours=hour)])  # fmt: skip
    every = {name for (name,) in rows(url, "SELECT relname FROM pg_class WHERE relname ~"
                                           " '^reading_[0-9]{8}_[0-9]{2}$'")}  # fmt: skip
    ride_id, started, ended = next(r for r in in_daily(url) if r[2] is not None)
    lower, upper = figures.bounds(started, ended, WINDOW)
    explain = sql.SQL("EXPLAIN (FORMAT JSON) ") + figures.statement(FIGURES)
    with psycopg.connect(as_login(url, "api")) as conn:
        (plan,) = conn.execute(
            explain, {"rides": [ride_id], "lower": lower, "upper": upper}, prepare=False
        ).fetchone() or (None,)
        scanned = partitions_in(plan)
        assert scanned == hours(lower, upper) & every and len(every) > len(scanned) + 20
        # an open ride: from its own start less the window to the newest hour there is
        open_ride, open_start, _ = next(r for r in in_daily(url) if r[2] is None)
        lower, upper = figures.bounds(open_start, None, WINDOW)
        (plan,) = conn.execute(
            explain, {"rides": [open_ride], "lower": lower, "upper": upper}, prepare=False
        ).fetchone() or (None,)
        assert partitions_in(plan) == {name for name in every if name >= min(hours(lower, lower))}
        # the API's own read, however often: planned each time with its bounds, never a
        # generic plan over every partition
        for _ in range(12):
            assert store.ride(conn, ride_id, WINDOW) is not None
        statements = [s for (s,) in conn.execute("SELECT statement FROM pg_prepared_statements")]
        assert statements and not any("ride_figures" in s for s in statements), statements
