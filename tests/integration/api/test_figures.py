"""A ride's figures have one definition, ``daily.ride_figures``: a ride reads the same, to the
last bit, from ``daily`` (the function, the view), after compression (``historical.ride``, the
view) and through the API; and the API's read of a ride in ``daily`` is planned over the hours
the ride lies in only."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from deleton.api.rides import FIGURES_SHOWN
from deleton.core import training
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


def partitions_in(plan: Any, pruned: bool = False) -> set[str]:
    """Every partition of daily.reading a JSON plan scans, and that the planner left none
    for the executor to prune (a plan made over all of them), or with ``pruned`` that the
    executor pruned some as the run started."""
    found: set[str] = set()
    removed = 0
    nodes = [plan]
    while nodes:
        node = nodes.pop()
        if isinstance(node, list):
            nodes += node
        elif isinstance(node, dict):
            removed += node.get("Subplans Removed", 0)
            if "Relation Name" in node:
                found.add(node["Relation Name"])
            nodes += node.values()
    assert removed > 0 if pruned else removed == 0, removed
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
        # inside a caller's transaction the API's read leaves no setting behind
        assert store.ride(conn, ride_id, WINDOW) is not None
        assert conn.execute("SHOW plan_cache_mode").fetchone() == ("auto",)
    # the API's own read on its own (autocommit) connection, however often: one plan for any
    # bounds (custom plans would plan the whole function again each time), whose runs read
    # only the ride's hours, the rest pruned as each starts; nothing left set after it
    with psycopg.connect(as_login(url, "api"), autocommit=True) as api:
        for _ in range(12):
            assert store.ride(api, ride_id, WINDOW) is not None
            assert store.ride(api, open_ride, WINDOW) is not None
        assert api.execute("SHOW plan_cache_mode").fetchone() == ("auto",)
        ((name, generic, custom),) = api.execute(
            "SELECT name, generic_plans, custom_plans FROM pg_prepared_statements"
            " WHERE statement LIKE '%ride_figures%'"
        ).fetchall()
        assert (generic, custom) == (24, 0)
        for ride, start, end in ((ride_id, started, ended), (open_ride, open_start, None)):
            lower, upper = figures.bounds(start, end, WINDOW)
            with api.transaction():
                api.execute("SET LOCAL plan_cache_mode = force_generic_plan")
                (run,) = api.execute(
                    sql.SQL("EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE {}({}, {}, {})").format(
                        sql.Identifier(name), [ride], lower, upper
                    )
                ).fetchone() or (None,)
            own = (
                hours(lower, upper) if end else {n for n in every if n >= min(hours(lower, lower))}
            )
            assert partitions_in(run, pruned=True) == own & every


# --- the training figures: SQL against core/training.py, the contract, on the same rides -----

TRAINING = ("seconds_in_hr_zone", "effort_points", "normalized_power_w", "variability_index",
            "efficiency_factor", "aerobic_decoupling_pct")  # fmt: skip
Reading = tuple[int | None, float | None]  # heart rate, power; (None, None): a Ride line alone


def training_rides() -> list[tuple[int | None, list[Reading]]]:
    """Rides as (age, readings): the README's worked example, each null rule, the edges of a
    double, and random rides of every length around the 30-power window."""
    example: list[Reading] = [(0, 100.0)] * 2
    example += [(108, 100.0)] * 14 + [(140, 100.0)] * 14 + [(162, 250.0)] * 2
    tiny: list[Reading] = [(120, 1e-81)] * 40
    tiny += [(120, 1e-80)] * 10
    gaps: list[Reading] = [(None, None)] * 3
    gaps += [(150, 200.0)] * 35 + [(None, None)] * 4
    rides: list[tuple[int | None, list[Reading]]] = [
        (40, example),
        (None, example),  # no age: zones and effort points null, the power figures given
        (40, [(120, 100.0)] * 29),  # under 30 powers: no NP, VI or EF
        (35, [(120, 0.0)] * 40),  # average power 0: no VI
        (35, [(0, 150.0)] * 40),  # no contact: no EF, no decoupling
        (30, [(120, 1e300)] * 40),  # (m·m)·(m·m) beyond a double: no NP, VI, EF
        (30, [(120, 1.1e77)] * 31),  # each fourth power fits, their sum does not
        (30, [(120, 2e76)] * 40),  # sums near a double's top, kept
        (30, tiny),  # fourth powers below a double's least value, or in its subnormals
        (30, [(30, 1e-250), (30, 1.0)]),  # a decoupling of -1e252 %
        (30, [(1, 1e-300), (1, 1e10)]),  # a decoupling beyond a double: null
        (30, [(120, 100.0)]),  # one reading: an empty first half
        (220, [(100, 100.0)] * 40),  # m = 0: every contact reading in zone 5
        (25, gaps),  # Ride lines whose Telemetry never came
    ]
    rng = random.Random(18)
    for length in (0, 29, 30, 31, 59, 61, 300, 1801, 3600):
        age = rng.choice([None, 19, 33, 47, 58, 71])
        readings: list[Reading] = []
        for _ in range(length):
            if rng.random() < 0.03:
                readings.append((None, None))
                continue
            heart = 0 if rng.random() < 0.1 else rng.randint(60, 200)
            readings.append((heart, rng.choice([0.0, rng.uniform(0, 800), rng.random() * 300])))
        rides.append((age, readings))
    return rides


def test_the_sql_training_figures_are_core_trainings_to_the_last_digit(scratch: Api) -> None:
    url = scratch.url
    start = to_datetime(NOW) - dt.timedelta(hours=6)
    for hour in range(0, 3):
        execute(url, "SELECT daily.ensure_reading_partition(%s, interval '100 years')",
                [start + dt.timedelta(hours=hour)])  # fmt: skip
    expected: dict[int, training.TrainingFigures] = {}
    with psycopg.connect(url) as conn:
        for number, (age, readings) in enumerate(training_rides()):
            end = start + dt.timedelta(seconds=len(readings))
            (ride_id,) = conn.execute(
                "INSERT INTO daily.ride (bike_serial, started_at, ended_at, rider_age)"
                " VALUES (%s, %s, %s, %s) RETURNING ride_id",
                [f"training-{number}", start, end, age],
            ).fetchone() or (0,)
            with conn.cursor().copy(
                "COPY daily.reading (ride_id, at, heart_rate, power) FROM STDIN"
            ) as copy:
                for second, (heart, power) in enumerate(readings):
                    copy.write_row((ride_id, start + dt.timedelta(seconds=second), heart, power))
            expected[ride_id] = training.ride_figures(
                [heart for heart, _ in readings], [power for _, power in readings], age
            )
        conn.commit()
        lower = start - WINDOW
        got = figures.read(conn, list(expected), lower, figures.NO_END, dict_row,
                           ("ride_id", *TRAINING, "power_sum", "power_avg"))  # fmt: skip
    assert len(got) == len(expected)
    for row in got:
        zones = row["seconds_in_hr_zone"]
        sql_figures = training.TrainingFigures(
            None if zones is None else tuple(zones), *(row[name] for name in TRAINING[1:])
        )
        assert sql_figures == expected[row["ride_id"]], row["ride_id"]
    # the worked example's figures, as the README gives them
    example = expected[min(expected)]
    assert example == ((0, 14, 14, 0, 2), 1.3, 105.2, 0.962, 0.832, 10.2)
