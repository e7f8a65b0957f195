"""The dashboard's updates against real PostgreSQL: appends add up to the whole ride, idleness
follows the clock, the fleet is sorted by urgency, and the incremental recent-rides view
agrees with one built from scratch."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from dash import no_update
from plotly.io.json import to_json_plotly
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from deleton.core import training
from deleton.core.alerts import urgency
from deleton.core.records import from_datetime
from deleton.dashboard import pages, views
from deleton.postgres import figures, queries
from deleton.postgres.figures import WINDOW
from deleton.postgres.recent import RecentRides
from tests.harness.fleet import ingest_file, simulated
from tests.harness.services import rows, scalar

HOUR_US = 3600 * 10**6
SUMS = ("power_sum", "power_readings", "resistance_sum", "resistance_readings")


@pytest.fixture
def pool(db: str) -> Iterator[ConnectionPool]:
    with ConnectionPool(db, min_size=1, kwargs={"autocommit": True}) as pool:
        yield pool


def sources(pool: ConnectionPool, wall: float, idle_s: float = 60) -> views.DashboardData:
    return views.DashboardData.over(pool.connection, int(idle_s * 10**6), lambda: wall)


def newest_reading(db: str) -> float:
    return from_datetime(scalar(db, "SELECT max(at) FROM daily.reading")) / 1e6


def split(dump: Path, share: float) -> tuple[Path, list[bytes]]:
    """The first ``share`` of ``dump``'s lines in a file of their own, and the rest."""
    lines = dump.read_bytes().splitlines(keepends=True)
    cut = int(len(lines) * share)
    part = dump.with_suffix(".part.jsonl")
    part.write_bytes(b"".join(lines[:cut]))
    return part, lines[cut:]


def test_appended_points_add_up_to_the_whole_ride(
    db: str, pool: ConnectionPool, tmp_path: Path
) -> None:
    part, rest = split(simulated(db, tmp_path / "fleet.jsonl", 3, 21, 300), 0.5)
    ingest_file(db, part)
    view = sources(pool, newest_reading(db))
    serials = ("SN0000", "SN0001", "SN0002")
    first = {serial: views.ride_update(view, {"serial": serial}) for serial in serials}
    with part.open("ab") as out:
        out.write(b"".join(rest))
    ingest_file(db, part)
    later_view = sources(pool, newest_reading(db))
    appended = 0
    for serial in serials:
        figure, state = first[serial].figure, first[serial].state
        shown = list(figure["data"][0]["x"])
        later = views.ride_update(later_view, state)
        ride_id = scalar(
            db,
            "SELECT ride_id FROM daily.ride WHERE bike_serial = %s"
            " ORDER BY started_at DESC LIMIT 1",
            [serial],
        )
        if ride_id == state["ride_id"]:  # the same ride: only new points sent, appended
            assert later.figure is no_update
            shown += later.extension[0]["x"][0]
            appended += 1
        else:  # a new ride began: it was drawn afresh
            shown = list(later.figure["data"][0]["x"])
        count = scalar(db, "SELECT count(*) FROM daily.reading WHERE ride_id = %s", [ride_id])
        assert len(shown) == count and shown == sorted(set(shown))
        assert later.state["ride_id"] == ride_id
    assert appended  # the seed has at least one ride that spans both halves


def test_a_bike_silent_beyond_the_timeout_is_idle(
    db: str, pool: ConnectionPool, tmp_path: Path
) -> None:
    ingest_file(db, simulated(db, tmp_path / "fleet.jsonl", 2, 4, 120))
    newest = newest_reading(db)
    fresh = views.ride_update(sources(pool, newest + 1), {"serial": "SN0000"})
    stale = views.ride_update(sources(pool, newest + 61), {"serial": "SN0000"})
    assert "Idle since" not in str(fresh.notice)
    assert "Idle since" in str(stale.notice)
    never = views.ride_update(sources(pool, newest), {"serial": "SN9999"})
    assert "has not sent a ride yet" in str(never.notice)


def test_fleet_lists_every_riding_bike_most_urgent_first(
    db: str, pool: ConnectionPool, tmp_path: Path
) -> None:
    ingest_file(db, simulated(db, tmp_path / "fleet.jsonl", 40, 8, 240))
    watching = sources(pool, newest_reading(db), idle_s=600)
    riding = {
        bike for (bike,) in rows(db, "SELECT bike_serial FROM daily.ride WHERE ended_at IS NULL")
    }
    shown: list[dict[str, Any]] = []
    page, pages = 0, 1
    while page < pages:
        view = views.fleet_view(watching, "zone", True, page)
        shown += view.rows
        pages = view.pages
        page += 1
    assert {row["bike"] for row in shown} == riding and view.riding == len(riding)
    ranks = [urgency(row["zone"]) for row in shown]
    assert ranks == sorted(ranks, reverse=True)
    rates = [
        row["heart_rate"] or -1 for row in views.fleet_view(watching, "heart_rate", False, 0).rows
    ]
    assert rates == sorted(rates)
    assert views.fleet_view(watching, "zone", True, 99).page == pages - 1
    assert not any("email" in row or "date_of_birth" in row for row in shown)
    nobody = sources(pool, newest_reading(db) + 3600)  # an hour later: all idle
    assert views.fleet_view(nobody, "zone", True, 0).riding == 0


def test_recent_rides_kept_up_to_date_agree_with_a_fresh_count(
    db: str, pool: ConnectionPool, tmp_path: Path
) -> None:
    part, rest = split(simulated(db, tmp_path / "fleet.jsonl", 12, 5, 600), 0.4)
    ingest_file(db, part)
    wall = newest_reading(db) + 1
    kept = RecentRides(pool.connection, lambda: wall)
    kept.refresh()
    with part.open("ab") as out:
        out.write(b"".join(rest))
    ingest_file(db, part)
    wall = newest_reading(db) + 1
    updated = kept.refresh()
    fresh = RecentRides(pool.connection, lambda: wall).refresh()
    floats = ("energy_kj", "average_power", "average_resistance")
    assert replace(updated, energy_kj=0, average_power=0, average_resistance=0) == replace(
        fresh, energy_kj=0, average_power=0, average_resistance=0
    )
    for name in floats:  # sums taken in another order differ in the last bits
        assert getattr(updated, name) == pytest.approx(getattr(fresh, name))
    power, rides, riders = rows(
        db,
        """SELECT (SELECT sum(power) FROM daily.reading), (SELECT count(*) FROM daily.ride),
                  (SELECT count(DISTINCT user_id) FROM daily.ride)""",
    )[0]
    assert (updated.rides, updated.riders) == (rides, riders)
    assert updated.energy_kj == pytest.approx(power / 1000)
    assert updated.average_power == pytest.approx(
        power / scalar(db, "SELECT count(power) FROM daily.reading")
    )
    assert rides >= 12  # every bike rode: the sums above are over a real dataset


# every ride apart (a probe each), all by time, and split at the rides' middle first
@pytest.mark.parametrize("split", ["apart", "by time", "split"])
def test_a_rides_tally_is_its_figures_sums_from_any_point(
    db: str, tmp_path: Path, split: str
) -> None:
    """The recent view's tallies (``queries.tallies_after``, one pass over every ride) are
    ``daily.ride_figures``' own sums and counts, over a ride's readings from any point on,
    whether a ride is counted among the tail (by time) or apart (by a probe of its own)."""
    ingest_file(db, simulated(db, tmp_path / "fleet.jsonl", 8, 9, 600))
    with psycopg.connect(db, autocommit=True) as conn:
        rides = rows(db, "SELECT ride_id, started_at FROM daily.ride")
        assert len(rides) >= 8
        for cut in (dt.timedelta(0), dt.timedelta(seconds=200), dt.timedelta(hours=2)):
            firsts = {ride: started - WINDOW + cut for ride, started in rides}
            marks = [(ride, from_datetime(first)) for ride, first in firsts.items()]
            middle = sorted(first for _, first in marks)[len(marks) // 2]
            tail_from = {"apart": None, "by time": 0, "split": middle}[split]
            tallies = queries.tallies_after(conn, marks, tail_from)
            expected = {}
            for ride, first in firsts.items():
                found = figures.read(conn, [ride], first, figures.NO_END, dict_row,
                                     ("readings", *SUMS, "last_at"))  # fmt: skip
                if found and found[0]["readings"]:
                    expected[ride] = found[0]
            assert set(tallies) == set(expected)
            for ride, tally in tallies.items():
                want = expected[ride]
                assert tally.readings == want["readings"]
                assert tally.last_at == from_datetime(want["last_at"])
                for name in SUMS:  # sums taken in another order differ in the last bits
                    assert getattr(tally, name) == pytest.approx(want[name] or 0)
        assert len(tallies) < len(rides)  # two hours on, some rides have nothing left


def test_a_bike_screen_shows_its_rides_zone_effort_energy_best_and_place(
    db: str, pool: ConnectionPool, tmp_path: Path
) -> None:
    ingest_file(db, simulated(db, tmp_path / "fleet.jsonl", 12, 5, 300))
    watching = sources(pool, newest_reading(db), idle_s=600)
    # each open ride's figures by daily.ride_figures (the one definition), through the view
    with psycopg.connect(db, row_factory=dict_row) as conn:
        figures_of = {
            row["bike_serial"]: row
            for row in conn.execute(
                """SELECT s.bike_serial, s.ride_id, s.user_id, s.started_at, s.energy_kj,
                          s.effort_points, s.seconds_in_hr_zone, u.first_name
                   FROM historical.ride_summary s LEFT JOIN daily.rider u USING (user_id)
                   WHERE s.ended_at IS NULL"""
            )
        }
    known = {b: f for b, f in figures_of.items() if f["first_name"] and f["effort_points"]}
    assert len(known) >= 3
    serial, ride = sorted(known.items())[0]
    # the rider's earlier rides: one of under 20 minutes to beat, one longer and one later
    with psycopg.connect(db, autocommit=True) as conn:
        for ride_id, ago, seconds, kj in ((-1, 7200, 600, 5.0), (-2, 5400, 2000, 900.0),
                                          (-3, -60, 600, 999.0)):  # fmt: skip
            started = ride["started_at"] - dt.timedelta(seconds=ago)
            conn.execute(
                """INSERT INTO historical.ride (ride_id, bike_serial, user_id, started_at,
                       ended_at, duration_s, readings, energy_kj)
                   VALUES (%s, 'SN9999', %s, %s, %s, %s, %s, %s)""",
                [ride_id, ride["user_id"], started, started + dt.timedelta(seconds=seconds),
                 seconds, seconds, kj],
            )  # fmt: skip
    shown = views.ride_update(watching, {"serial": serial})
    kiosk = views.ride_update(watching, {"serial": serial}, current_only=True)
    assert to_json_plotly(shown.values()) == to_json_plotly(kiosk.values())  # its own screen
    assert shown.effort == f"{ride['effort_points']:.1f}"
    assert abs(float(shown.energy.split()[0].replace(",", "")) - ride["energy_kj"]) <= 0.051
    assert shown.best.startswith("Best under 20 min: 5.0 kJ · on pace: ")
    assert shown.best_class == "best pace-on"
    assert shown.zone_times == [pages.span(n) for n in ride["seconds_in_hr_zone"]]
    assert [share["flexGrow"] for share in shown.zone_shares] == ride["seconds_in_hr_zone"]
    heart_rate = shown.state["heart_rate"]
    with pool.connection() as conn:
        found = queries.bike_ride(conn, serial)
    assert found is not None and found.age is not None
    zone = training.hr_zone(heart_rate, training.max_hr(found.age))
    assert shown.hr_band == (f"Zone {zone}" if zone else "–")
    # its place among the riders ranked by energy as shown (0.1 kJ), ties sharing a place
    tenths = {b: training.round_half_up(f["energy_kj"], 1) for b, f in figures_of.items()
              if f["first_name"] and f["energy_kj"] is not None}  # fmt: skip
    place = 1 + sum(value > tenths[serial] for value in tenths.values())
    assert (shown.place, shown.place_of) == (
        training.ordinal(place),
        f"of {len(figures_of)} riding",
    )
    # a rider with no earlier ride of the band has none to beat; an ended ride shows no panel
    other, _ = sorted(known.items())[1]
    assert views.ride_update(watching, {"serial": other}).best.startswith("No earlier ride of")
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("UPDATE daily.ride SET ended_at = now() WHERE ride_id = %s", [ride["ride_id"]])
    ended = views.ride_update(watching, {"serial": serial})
    assert (ended.effort, ended.energy, ended.place, ended.best) == ("–", "–", "–", "")
