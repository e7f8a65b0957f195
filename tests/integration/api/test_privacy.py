"""Privacy through the real API over real PostgreSQL, as the API's own login: signed out it
shows nothing of anyone; each scope opens what it names and no more; a key over its rate is
told to wait; every use of personal data or of a delete is audited; an erased rider is found
in no text, JSON or bytea column of any table; a ride is deleted whatever its readings' times,
and never copied back by a compression beside the delete."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
import uvicorn
from psycopg import sql

from deleton.api.app import create_app
from deleton.api.command import UVICORN
from deleton.core.alerts import high_limit
from deleton.core.demographics import band_floors
from deleton.core.records import EPOCH, RiderLine, from_datetime, split_address
from deleton.core.report_figures import figures, short_name
from deleton.core.wire import format_value
from deleton.postgres import reports
from deleton.postgres.compression import CompressionRun
from deleton.postgres.connection import Database
from tests.harness.fleet import SECOND, START, dump_fleet, ingest_file
from tests.harness.postgres import database
from tests.harness.services import execute, free_port, rows, scalar, wait_for
from tests.harness.wire_truth import Ride

from .conftest import (
    KEY,
    KEYS,
    NOW,
    Api,
    World,
    _copies,
    as_key,
    as_login,
    data_over,
    serve,
)

NOW_AT = EPOCH + dt.timedelta(microseconds=NOW)


@pytest.fixture(scope="module")
def shared(world: World, pg_url: str) -> Iterator[Api]:
    """A copy of the world for this module's tests that change nothing or only their own
    rides and riders."""
    yield from serve(database(pg_url, "api_privacy", world.template), KEY)


def named(world: World) -> dict[int, Ride]:
    """Each rider's newest ride (with their details), by user id."""
    riders: dict[int, Ride] = {}
    for ride in sorted(world.rides, key=lambda r: r.started):
        if ride.user_id is not None:
            riders[ride.user_id] = ride
    return riders


def identities(world: World) -> set[str]:
    """What identifies anyone in the world: full names, emails, streets and postcodes."""
    found = set()
    for ride in named(world).values():
        address = split_address(ride.address or "")
        assert address is not None
        found |= {f"{ride.first_name} {ride.last_name}", ride.email or "", address.street,
                  address.postcode}  # fmt: skip
    return found


def every_request(api: Api, world: World) -> list[tuple[str, str]]:
    """A request of every operation of the document, with real ids."""
    ride_id = scalar(api.url, "SELECT min(ride_id) FROM historical.ride")
    user_id = next(iter(named(world)))
    document = api.anonymous.get("/openapi.json").json()
    requests = []
    for path, item in document["paths"].items():
        real = path.replace("{ride_id}", str(ride_id)).replace("{user_id}", str(user_id))
        requests += [(method.upper(), real) for method in item]
    return requests


def test_signed_out_every_route_is_refused_and_shows_no_rider(shared: Api, world: World) -> None:
    secrets = identities(world)
    requests = every_request(shared, world)
    assert len(requests) == 10  # /bikes/health (Fleet health) the tenth
    for method, path in requests:
        reply = shared.anonymous.request(method, path)
        shown = [s for s in secrets if s in reply.text]
        assert not shown, (method, path, shown)
        if path == "/health":
            assert reply.status_code == 200
            assert reply.json() == {"status": "ok", "database": "reachable"}  # no topic, offset
        else:
            assert reply.status_code == 401, (method, path)
            assert reply.json() == {"status": 401, "detail": "the X-API-Key header is missing"}
    for free in ("/openapi.json", "/docs"):
        reply = shared.anonymous.get(free)
        assert reply.status_code == 200 and not [s for s in secrets if s in reply.text]


@pytest.mark.parametrize(
    ("scope", "contact", "deletes"),
    [("read", False, 403), ("personal", True, 403), ("erase", False, 404), (None, True, 404)],
)
def test_each_scope_opens_what_it_names_and_no_more(
    shared: Api, world: World, scope: str | None, contact: bool, deletes: int
) -> None:
    headers = as_key(scope) if scope else {"X-API-Key": KEY}  # None: the bootstrap key
    client = shared.anonymous
    user_id, ride = next(iter(named(world).items()))
    for method, path in every_request(shared, world):
        if method == "GET":
            assert client.get(path, headers=headers).status_code == 200, (scope, path)
    body = client.get(f"/rider/{user_id}", headers=headers).json()
    assert (body["contact"] is not None) is contact
    if contact:
        assert body["contact"]["email"] == ride.email
    # the deletes, on ids that are no one's: 403 without the scope, 404 with it
    assert client.delete("/ride/424242", headers=headers).status_code == deletes
    assert client.delete("/rider/424242424", headers=headers).status_code == deletes
    assert client.get("/ride/1", headers={"X-API-Key": KEYS["read"] + "x"}).status_code == 401


def test_a_key_over_its_rate_is_told_how_long_to_wait(world: World, pg_url: str) -> None:
    url = database(pg_url, f"api_scratch_{next(_copies)}", world.template)
    for api in serve(url, KEY, rate=0.5):  # a request every 2 s, one at once
        first = api.anonymous.get("/bikes", headers=as_key("read"))
        second = api.anonymous.get("/bikes", headers=as_key("read"))
        assert first.status_code == 200
        assert second.status_code == 429 and second.headers["retry-after"] == "2"
        assert second.json()["detail"] == "more than 0.5 requests a second with this key"
        # each key has its own allowance; a request without a key is not counted
        assert api.anonymous.get("/bikes", headers=as_key("personal")).status_code == 200
        assert api.anonymous.get("/health").status_code == 200
        assert api.anonymous.get("/health").status_code == 200


def audit(url: str) -> list[tuple[Any, ...]]:
    """The API's rows: requests, whose path begins with "/" (the operator's acts, such as
    making the world's keys, are recorded beside them under their command's name)."""
    return rows(url, "SELECT key_name, method, path, status, client FROM keeper.audit"
                     " WHERE path LIKE '/%%' ORDER BY audit_id")  # fmt: skip


def test_every_use_of_personal_data_or_of_a_delete_is_audited(scratch: Api, world: World) -> None:
    client = scratch.anonymous
    user_id, ride = next(iter(named(world).items()))
    in_progress = scalar(scratch.url, "SELECT min(ride_id) FROM daily.ride WHERE ended_at IS NULL")
    ended = scalar(scratch.url, "SELECT min(ride_id) FROM historical.ride")
    before = dt.datetime.now(dt.UTC)
    # not audited: reads that show nothing personal, and refusals
    assert client.get(f"/rider/{user_id}", headers=as_key("read")).status_code == 200
    assert client.get(f"/ride/{ended}", headers=as_key("personal")).status_code == 200
    assert client.delete(f"/ride/{ended}", headers=as_key("read")).status_code == 403
    assert client.delete(f"/ride/{ended}").status_code == 401
    assert audit(scratch.url) == []
    answers = [
        client.get(f"/rider/{user_id}", headers=as_key("personal")),
        client.get("/rider/424242424", headers=as_key("personal")),
        client.get(f"/rider/{user_id}", headers={"X-API-Key": KEY}),
        client.delete(f"/ride/{in_progress}", headers=as_key("erase")),
        client.delete(f"/ride/{ended}", headers=as_key("erase")),
        client.delete(f"/ride/{ended}", headers=as_key("erase")),
    ]
    assert [a.status_code for a in answers] == [200, 404, 200, 409, 204, 404]
    assert audit(scratch.url) == [
        ("personal-key", "GET", f"/rider/{user_id}", 200, "testclient"),
        ("personal-key", "GET", "/rider/424242424", 404, "testclient"),
        ("env:DELETON_API_KEY", "GET", f"/rider/{user_id}", 200, "testclient"),
        ("erase-key", "DELETE", f"/ride/{in_progress}", 409, "testclient"),
        ("erase-key", "DELETE", f"/ride/{ended}", 204, "testclient"),
        ("erase-key", "DELETE", f"/ride/{ended}", 404, "testclient"),
    ]
    at = [row[0] for row in rows(scratch.url, "SELECT at FROM keeper.audit WHERE path LIKE '/%'")]
    assert all(before - dt.timedelta(seconds=5) <= t <= dt.datetime.now(dt.UTC) for t in at)
    # never the key, never the data it showed
    text = str(rows(scratch.url, "SELECT * FROM keeper.audit"))
    assert not [s for s in [*KEYS.values(), KEY, ride.email or "?", ride.last_name or "?"]
                if s in text]  # fmt: skip


# --- erasure ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Traces:
    """What would identify one rider: each string, if found anywhere, names them."""

    user_id: int
    strings: tuple[str, ...]


def traces_of(ride: Ride, world: World) -> Traces:
    address = split_address(ride.address or "")
    assert address is not None and ride.date_of_birth is not None
    born = ride.date_of_birth
    millis = str((dt.datetime(born.year, born.month, born.day, tzinfo=dt.UTC) - EPOCH)
                 // dt.timedelta(milliseconds=1))  # fmt: skip
    mine = {ride.email or "", f"{ride.first_name} {ride.last_name}", ride.address or "",
            f"{address.house} {address.street}", address.street, address.postcode,
            born.isoformat(), millis}  # fmt: skip
    # a street or postcode another rider shares identifies no one in particular
    theirs = set().union(*(traces_of_strings(r) for r in named(world).values() if r != ride))
    return Traces(ride.user_id or 0, tuple(sorted(mine - theirs - {""})))


def traces_of_strings(ride: Ride) -> set[str]:
    address = split_address(ride.address or "")
    assert address is not None
    return {address.street, address.postcode, f"{address.house} {address.street}"}


# Every row of every table of our schemas (daily, historical, keeper: the audit, the keys, the
# dashboard's accounts; and public) as text: its text and JSON columns as they are, its bytea
# columns as escaped text (a dead letter's value, a checkpoint).
SCANNABLE = """
SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname IN ('daily', 'historical', 'keeper', 'public') AND c.relkind IN ('r', 'p')
  AND NOT c.relispartition
  AND a.atttypid IN ('text'::regtype, 'varchar'::regtype, 'json'::regtype, 'jsonb'::regtype,
                     'bytea'::regtype, 'text[]'::regtype, 'name'::regtype)
ORDER BY 1, 2, 3
"""


def scan(url: str, traces: Traces) -> list[tuple[str, str, str]]:
    """Where any of ``traces`` is found: (table, column, what)."""
    found = []
    with psycopg.connect(url) as conn:
        for schema, table, column, kind in conn.execute(SCANNABLE).fetchall():
            value = sql.SQL("encode({}, 'escape')" if kind == "bytea" else "{}::text").format(
                sql.Identifier(column)
            )
            hits = conn.execute(
                sql.SQL(
                    "SELECT t FROM unnest(%s::text[]) t WHERE EXISTS ("
                    " SELECT 1 FROM {} WHERE strpos({}, t) > 0)"
                ).format(sql.Identifier(schema, table), value),
                [list(traces.strings)],
            ).fetchall()
            found += [(f"{schema}.{table}", column, hit) for (hit,) in hits]
        for table in ("daily.rider", "historical.rider"):
            if conn.execute(
                f"SELECT 1 FROM {table} WHERE user_id = %s", [traces.user_id]
            ).fetchone():
                found.append((table, "user_id", str(traces.user_id)))
    return found


def refused_system_line(ride: Ride) -> bytes:
    """The message of a [SYSTEM] line of ``ride``'s rider that ingestion refused (a gender it
    cannot read): a dead letter holds the whole of it."""
    born = ride.date_of_birth
    assert born is not None and ride.first_name and ride.email and ride.address
    rider = RiderLine(ride.started, "mendoza v9", ride.user_id or 0, f"{ride.first_name} {ride.last_name}",
                  ride.gender or "", ride.address,
                  from_datetime(dt.datetime(born.year, born.month, born.day, tzinfo=dt.UTC)) // 1000,
                  ride.email, 170, 70, 0, ride.bike, "direct")  # fmt: skip
    line = format_value(rider)
    assert ride.email.encode() in line
    return line.replace(f'"gender\\":\\"{ride.gender}\\"'.encode(), b'"gender\\":12')


def add_dead_letter(url: str, value: bytes) -> None:
    execute(url, "INSERT INTO daily.dead_letter (source, partition, position, key, value,"
                 " value_length, reason) VALUES ('kafka:deloton', 0, 1, 'SN0001', %s, %s,"
                 " 'rider gender is not text')", [value, len(value)])  # fmt: skip


def report_figures(url: str, top: int = 1000) -> dict[str, Any]:
    """The report's figures for each day of the world, its top lists holding every rider."""
    out = {}
    with psycopg.connect(url) as conn:
        for day in (2, 3):
            start = dt.datetime(2022, 11, day, tzinfo=dt.UTC)
            end = start + dt.timedelta(days=1)
            rides = reports.report_rides(conn, start, end, "Europe/London")
            out[f"2022-11-{day}"] = figures(rides, reports.new_riders(conn, start, end), top)
    return out


def without_top_tens(report: dict[str, Any]) -> dict[str, Any]:
    return {day: replace(made, top_riders=[], top_by_effort=[]) for day, made in report.items()}


def test_an_erased_rider_is_found_nowhere_and_the_report_does_not_change(
    scratch: Api, world: World
) -> None:
    url, client = scratch.url, scratch.anonymous
    riding = {u for (u,) in rows(url, "SELECT user_id FROM daily.ride WHERE ended_at IS NULL")}
    kept = {u for (u,) in rows(url, "SELECT user_id FROM historical.ride")}
    live = {u for (u,) in rows(url, "SELECT user_id FROM daily.ride")}
    everyone = named(world)
    # a rider with rides in both schemas and none open; and another, to tell tombstones apart
    chosen = sorted((kept & live) - riding)
    assert len(chosen) >= 2 and riding
    erased, other = everyone[chosen[0]], everyone[chosen[1]]
    traces = traces_of(erased, world)
    assert len(traces.strings) >= 5, traces
    add_dead_letter(url, refused_system_line(erased))
    # their user id alone, in a line's JSON as Kafka carries it (quotes escaped)
    add_dead_letter(url, b'{"log": "[SYSTEM] data = {\\"user_id\\":%d,\\"gender\\":1}"}'
                    % traces.user_id)  # fmt: skip
    # another rider whose user id begins with theirs: kept
    add_dead_letter(url, b'{"log": "[SYSTEM] data = {\\"user_id\\":%d1}"}' % traces.user_id)
    found = scan(url, traces)
    assert {table for table, _, _ in found} == {"daily.rider", "historical.rider",
                                                 "daily.dead_letter"}, found  # fmt: skip
    their_rides = {r for (r,) in rows(url, "SELECT ride_id FROM historical.ride_summary"
                                           " WHERE user_id = %s", [erased.user_id])}  # fmt: skip
    figures_of = ("SELECT ride_id, started_at, ended_at, readings, energy_kj, heart_rate_avg,"
                  " rider_gender FROM historical.ride_summary WHERE ride_id = ANY(%s)"
                  " ORDER BY ride_id")  # fmt: skip
    before = rows(url, figures_of, [list(their_rides)])
    report = report_figures(url)

    key = as_key("erase")
    rider_now = scalar(url, "SELECT min(user_id) FROM daily.ride WHERE ended_at IS NULL")
    assert client.delete(f"/rider/{rider_now}", headers=key).status_code == 409
    assert client.get(f"/rider/{rider_now}", headers=key).status_code == 200  # untouched
    assert client.delete(f"/rider/{erased.user_id}", headers=as_key("personal")).status_code == 403
    assert client.delete(f"/rider/{erased.user_id}", headers=key).status_code == 204
    assert client.delete(f"/rider/{erased.user_id}", headers=key).status_code == 404
    assert client.get(f"/rider/{erased.user_id}", headers=key).status_code == 404
    assert client.delete(f"/rider/{other.user_id}", headers=key).status_code == 204

    assert scan(url, traces) == []
    assert scalar(url, "SELECT count(*) FROM daily.dead_letter") == 1  # the other rider's
    # their rides stay, as figures under a tombstone of their own
    after = rows(url, figures_of, [list(their_rides)])
    assert [row[:6] for row in after] == [row[:6] for row in before]
    tombstones = rows(url, "SELECT DISTINCT user_id FROM historical.ride_summary"
                           " WHERE ride_id = ANY(%s)", [list(their_rides)])  # fmt: skip
    assert len(tombstones) == 1 and tombstones[0][0] < 0
    other_tombstone = scalar(url, "SELECT min(user_id) FROM historical.ride WHERE user_id < 0"
                                  " AND user_id <> %s", [tombstones[0][0]])  # fmt: skip
    assert other_tombstone is not None and other_tombstone < 0
    for ride_id in their_rides:
        body = client.get(f"/ride/{ride_id}", headers=key).json()
        assert body["rider"] is None and body["ride_id"] == ride_id
    # the report's bands and totals are as they were; the erased leave its top riders (by
    # energy and by effort), everyone else's rows are as they were
    now = report_figures(url)
    assert without_top_tens(now) == without_top_tens(report)
    gone = {short_name(rider.first_name, rider.last_name) for rider in (erased, other)}
    for day, made in report.items():
        for ranking in ("top_riders", "top_by_effort"):
            was = [replace(t, name="") for t in getattr(made, ranking) if t.name not in gone]
            assert len(was) < len(getattr(made, ranking)) or ranking == "top_by_effort"
            assert [replace(t, name="") for t in getattr(now[day], ranking)] == was


def test_a_ride_is_deleted_whatever_its_readings_times(scratch: Api) -> None:
    url = scratch.url
    ride_id, started, ended = rows(
        url, "SELECT ride_id, started_at, ended_at FROM daily.ride WHERE ended_at IS NOT NULL"
             " ORDER BY ride_id LIMIT 1")[0]  # fmt: skip
    # readings stamped well outside [start - 1 h, end]: a bike's clock, a replay
    for at in (started - dt.timedelta(hours=3), ended + dt.timedelta(hours=2)):
        execute(url, "SELECT daily.ensure_reading_partition(%s)", [at])
        execute(url, "INSERT INTO daily.reading (ride_id, at, heart_rate) VALUES (%s, %s, 90)",
                [ride_id, at])  # fmt: skip
    reply = scratch.anonymous.delete(f"/ride/{ride_id}", headers=as_key("erase"))
    assert reply.status_code == 204
    assert scalar(url, "SELECT count(*) FROM daily.reading WHERE ride_id = %s", [ride_id]) == 0


def test_a_delete_beside_compression_is_never_copied_back(scratch: Api) -> None:
    """Compression detaches an old hour, then copies back the readings of rides still kept;
    a delete that commits between the two must not have its ride's readings copied back."""
    url = scratch.url
    ride_id, started = rows(
        url, "SELECT ride_id, started_at FROM daily.ride WHERE ended_at IS NOT NULL"
             " AND summarised_at IS NULL ORDER BY ended_at DESC LIMIT 1")[0]  # fmt: skip
    hour = f"reading_{started.astimezone(dt.UTC):%Y%m%d_%H}"
    beside = dict(rows(url, f"SELECT ride_id, count(*) FROM daily.{hour}"
                            " WHERE ride_id <> %s GROUP BY ride_id", [ride_id]))  # fmt: skip
    assert scalar(url, f"SELECT count(*) FROM daily.{hour} WHERE ride_id = %s", [ride_id]) > 0
    assert beside  # other rides' readings share the hour, and must come back
    execute(url, f"ALTER TABLE daily.reading DETACH PARTITION daily.{hour}")  # as a run does
    run = CompressionRun(Database(as_login(url, "writer")), NOW_AT, dt.timedelta(hours=12),
                      dt.timedelta(days=7))  # fmt: skip
    run.conn.execute("SET lock_timeout = '60s'")  # the test holds the lock, not ingestion
    done: list[int] = []
    with psycopg.connect(as_login(url, "api")) as delete:  # one transaction, left open
        assert delete.execute("SELECT historical.delete_ride(%s)", [ride_id]).fetchone() == (
            "deleted",
        )
        copier = threading.Thread(target=lambda: done.append(run.finish_detached(hour)))
        copier.start()
        wait_for(lambda: scalar(url, "SELECT count(*) FROM pg_stat_activity"
                                     " WHERE wait_event_type = 'Lock'") >= 1,
                 timeout=30, what="compression to wait for the deleted ride")  # fmt: skip
        delete.commit()
    copier.join(60)
    run.close()
    assert done, "the copy-back did not finish"
    assert scalar(url, "SELECT count(*) FROM daily.reading WHERE ride_id = %s", [ride_id]) == 0
    # the hour made again, holding every other ride's readings and none of the deleted one
    back = dict(rows(url, f"SELECT ride_id, count(*) FROM daily.{hour} GROUP BY ride_id"))
    assert back == beside
    assert scalar(url, "SELECT to_regclass(%s)", [f"daily.{hour}_moving"]) is None  # dropped


# --- the security review of Issue 17's API side: each test fails until its finding is fixed ---


def test_a_rider_known_only_from_refused_lines_is_erased_from_them(
    shared: Api, world: World
) -> None:
    """A rider whose every [SYSTEM] line was refused (a one-word name, an odd gender) has no
    rider row, only dead letters holding their whole profile for the dead letters' retention
    (7 days). Their erasure must still reach those lines: ``erase_rider`` looks for traces in
    the rider tables only, finds none, answers 404 and deletes nothing."""
    url = shared.url
    model = next(iter(named(world).values()))
    user_id = 987_654_321
    assert scalar(url, "SELECT count(*) FROM daily.rider WHERE user_id = %s", [user_id]) == 0
    stranger = replace(model, user_id=user_id, first_name="Refused", last_name="Onlyline",
                       email="refused.onlyline@example.org")  # fmt: skip
    line = refused_system_line(stranger)
    add_dead_letter(url, line)
    assert scalar(url, "SELECT count(*) FROM daily.dead_letter WHERE position(%s::bytea IN value) > 0",
                  [b"refused.onlyline@example.org"]) == 1  # fmt: skip
    reply = shared.anonymous.delete(f"/rider/{user_id}", headers=as_key("erase"))
    assert reply.status_code in (204, 404)
    left = scalar(url, "SELECT count(*) FROM daily.dead_letter WHERE position(%s::bytea IN value) > 0",
                  [b"refused.onlyline@example.org"])  # fmt: skip
    execute(url, "DELETE FROM daily.dead_letter WHERE position(%s::bytea IN value) > 0",
            [b"refused.onlyline@example.org"])  # fmt: skip
    assert left == 0, "the erased rider's email, address and birth date stay in a dead letter"


def test_an_erased_riders_alerts_do_not_tell_their_exact_age(scratch: Api) -> None:
    """Erasure cuts the age on a ride to its band's lower bound, but a high alert keeps
    ``heart_rate_limit``, which is 220 - the exact age (core.alerts.high_limit): the age the
    erasure meant to blur is read back from the alert by the reader's login (the dashboard)."""
    url = scratch.url
    ride_id, user_id, age = _ended_rider_with_a_high_alert(url)
    assert scratch.anonymous.delete(f"/rider/{user_id}", headers=as_key("erase")).status_code == 204
    tombstone, banded = rows(url, "SELECT user_id, rider_age FROM daily.ride WHERE ride_id = %s",
                             [ride_id])[0]  # fmt: skip
    assert tombstone < 0 and banded != age  # the ride itself holds the band only
    # the reader's login reads daily.alert and historical.alert whole (test_roles.EXPECTED)
    limits = [limit for (limit,) in rows(
        url,
        "SELECT heart_rate_limit FROM daily.alert WHERE user_id = %s AND kind = 'high'",
        [tombstone])]  # fmt: skip
    assert limits
    assert 220 - age not in limits, f"the erased rider's exact age ({age}) is 220 - {limits}"


def test_erasing_one_rider_keeps_every_other_riders_dead_letters(scratch: Api) -> None:
    """The dead letters erasure deletes are those holding any of the rider's traces as a
    substring; a trace as short as a birth date of 1970-01-01 (epoch milliseconds "0") or a
    shared postcode takes every other bike's refused lines with it: the evidence of bad
    input the operators keep for a week goes for riders nobody asked to erase."""
    url = scratch.url
    riding = {u for (u,) in rows(url, "SELECT user_id FROM daily.ride WHERE ended_at IS NULL")}
    user_id = next(u for (u,) in rows(url, "SELECT user_id FROM daily.rider ORDER BY user_id")
                   if u not in riding)  # fmt: skip
    execute(url, "UPDATE daily.rider SET date_of_birth = '1970-01-01' WHERE user_id = %s",
            [user_id])  # fmt: skip
    execute(url, "UPDATE historical.rider SET date_of_birth = '1970-01-01' WHERE user_id = %s",
            [user_id])  # fmt: skip
    # another bike's refused Telemetry line: no one's identity in it
    other = (
        b'{"log": "2022-11-03 18:00:00.000000 mendoza v9: [INFO]: Telemetry - hrt = -10;'
        b' rpm = 0; power = 0.0\\n"}'
    )
    add_dead_letter(url, other)
    assert scratch.anonymous.delete(f"/rider/{user_id}", headers=as_key("erase")).status_code == 204
    assert scalar(url, "SELECT count(*) FROM daily.dead_letter WHERE value = %s", [other]) == 1


def test_the_audited_client_is_the_connections_not_what_x_forwarded_for_says(
    world: World, pg_url: str
) -> None:
    """The API as ``deleton api`` serves it (uvicorn, ``command.UVICORN``): uvicorn believes
    X-Forwarded-For from 127.0.0.1 by default, so any caller on the API's own host writes
    whatever client address it likes into the audit; behind the load balancer (whose address
    uvicorn does not trust) the audit holds the balancer's address instead of the client's.
    Nothing in the API decides which proxy to believe, as the dashboard does (ProxyFix)."""
    url = database(pg_url, f"api_scratch_{next(_copies)}", world.template)
    for data in data_over(url, KEY):
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(data), host="127.0.0.1", port=port,
                                               lifespan="off", **UVICORN))  # fmt: skip
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            wait_for(lambda: server.started, timeout=30, what="uvicorn to listen")  # noqa: B023
            user_id = scalar(url, "SELECT min(user_id) FROM daily.rider")
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/rider/{user_id}",
                headers={"X-API-Key": KEYS["personal"], "X-Forwarded-For": "203.0.113.9"},
            )
            with urllib.request.urlopen(request, timeout=30) as reply:
                assert reply.status == 200
        finally:
            server.should_exit = True
            thread.join(30)
    clients = [c for (c,) in rows(url, "SELECT client FROM keeper.audit")]
    assert clients and "203.0.113.9" not in clients, clients


def test_the_audit_names_the_rider_whose_data_was_shown_whatever_the_ids_spelling(
    scratch: Api,
) -> None:
    """The audit keeps the path as sent, but the id is parsed leniently (``int`` takes
    ``01``, ``+1``, ``1.0``, `` 1``, and ``1_0`` for 10): a key holder who reads rider 10's
    email as ``/rider/1_0`` is not found by anyone asking the audit who read ``/rider/10``.
    Each answer that showed a rider's contact details must be audited under that rider's
    one spelling (or the odd spellings refused)."""
    client, url = scratch.anonymous, scratch.url
    user_id = scalar(url, "SELECT min(user_id) FROM daily.rider WHERE user_id >= 10")
    head, tail = str(user_id)[0], str(user_id)[1:]
    odd = [f"0{user_id}", f"+{user_id}", f"{user_id}.0", f"%20{user_id}", f"{head}_{tail}"]
    shown = [s for s in odd if client.get(f"/rider/{s}", headers=as_key("personal")).status_code
             == 200]  # fmt: skip
    audited = {path for (path,) in rows(url, "SELECT path FROM keeper.audit WHERE status = 200")}
    assert audited <= {f"/rider/{user_id}"}, f"{sorted(audited)} for rider {user_id}"
    assert len(audited) == (1 if shown else 0)


def test_the_documentation_page_runs_no_script_it_does_not_pin(shared: Api) -> None:
    """``/docs`` is where a data client pastes their key ("Authorize"). FastAPI's default page
    loads ``swagger-ui-dist@5`` (any 5.x, whatever is newest) from cdn.jsdelivr.net with no
    Subresource Integrity and no Content-Security-Policy: whoever publishes a 5.x, or serves
    the CDN, runs script beside every key typed there. Each script and stylesheet must be
    served by the API itself or carry an ``integrity`` hash."""
    page = shared.anonymous.get("/docs").text
    tags = re.findall(r"<script\b[^>]*>|<link\b[^>]*stylesheet[^>]*>", page)
    assert tags
    foreign = [t for t in tags if re.search(r'(?:src|href)="https?://', t)
               and "integrity=" not in t]  # fmt: skip
    assert not foreign, foreign


def test_an_erasure_is_not_undone_by_lines_older_than_it(
    scratch: Api, world: World, tmp_path: Path
) -> None:
    """``DELETE /rider`` answers 204 from the database's state alone. A [SYSTEM] line of the
    rider sent before the erasure but not yet ingested (ingestion behind its topic: down for
    a while, a backlog, a partition stuck) is stored after it, and the rider is back with
    name, email, address and birth date: nobody is told, so nobody erases again. Lines dated
    before an erasure must not bring the erased rider back (only a later visit may)."""
    url = scratch.url
    riding = {u for (u,) in rows(url, "SELECT user_id FROM daily.ride WHERE ended_at IS NULL")}
    early = START + 600 * SECOND  # the backlog: the first ten minutes of the 3rd
    user_id = next(r.user_id for r in sorted(world.day, key=lambda r: r.started)
                   if r.started < early and r.user_id is not None and r.user_id not in riding)  # fmt: skip
    key = as_key("erase")
    assert scratch.anonymous.delete(f"/rider/{user_id}", headers=key).status_code == 204
    # the topic as a member that fell behind still has it to read: lines from before NOW
    backlog = tmp_path / "backlog.jsonl"
    dump_fleet(backlog, bikes=12, seconds=600, seed=41)
    ingest_file(as_login(url, "writer"), backlog, ride_idle_timeout="5")
    back = rows(url, "SELECT email FROM daily.rider WHERE user_id = %s", [user_id])
    assert back == [], f"rider {user_id}, erased, is back from lines older than the erasure"


# --- the third review's Low findings (Issue 17): each test fails until its finding is fixed ---


def test_no_caller_chooses_the_limit_written_onto_an_erased_riders_alerts(scratch: Api) -> None:
    """L4: ``erase_rider`` took the age bands and each band's high limit from its caller, so
    the API's login decided what an erased rider's alerts say (any limit, any bands). It
    takes the user id alone now, and the limit written is the band's, by core's rules."""
    url = scratch.url
    ride_id, user_id, age = _ended_rider_with_a_high_alert(url)
    with (
        psycopg.connect(as_login(url, "api")) as conn,
        pytest.raises(psycopg.errors.UndefinedFunction),
    ):
        conn.execute("SELECT historical.erase_rider(%s, ARRAY[0], ARRAY[250])", [user_id])
    assert scratch.anonymous.delete(f"/rider/{user_id}", headers=as_key("erase")).status_code == 204
    (tombstone,) = rows(url, "SELECT user_id FROM daily.ride WHERE ride_id = %s", [ride_id])[0]
    limits = rows(url, "SELECT heart_rate_limit FROM daily.alert WHERE ride_id = %s"
                       " AND kind = 'high' AND user_id = %s", [ride_id, tombstone])  # fmt: skip
    floor = max(b for b in band_floors() if b <= age)
    assert limits == [(high_limit(floor),)]


def test_the_databases_bands_and_limit_are_cores(shared: Api) -> None:
    """L4's rule lives in SQL (migration 0015) and in core (demographics, alerts): one rule,
    held to one meaning here, for every age a rider can have and some they cannot."""
    ages = list(range(-2, 131))
    found = rows(shared.url, "SELECT a, historical.age_band_floor(a), historical.high_limit(a)"
                             " FROM unnest(%s::int[]) a ORDER BY a", [ages])  # fmt: skip
    expected = [(a, max((b for b in band_floors() if b <= a), default=None), high_limit(a))
                for a in ages]  # fmt: skip
    assert found == expected


def test_refused_lines_go_whatever_way_they_write_the_user_id(scratch: Api, world: World) -> None:
    """L5: a refused [SYSTEM] line whose user_id is written "123", 123.0, 1.23e2, with JSON
    escapes in its digits or its key, is still that rider's (the parser reads them all as
    123 before refusing the type), and survived their erasure, which matched 123 alone.
    Lines of other user ids, however close their digits, stay."""
    url = scratch.url
    model = next(iter(named(world).values()))
    user_id = 987_654_000
    stranger = replace(model, user_id=user_id, first_name="Refused", last_name="Manyforms",
                       email="refused.manyforms@example.org")  # fmt: skip
    line = refused_system_line(stranger)
    written = b'\\"user_id\\":987654000'
    assert written in line

    def escaped(digits: str) -> bytes:  # each digit a JSON escape, inside the envelope's JSON
        return b"".join(b"\\\\u%04x" % ord(c) for c in digits)

    theirs = [b"987654000", b'\\"987654000\\"', b"987654000.0", b"9.87654e8", b"987654000E+0",
              b'\\" 987654000 \\"', b'\\"' + escaped("987654000") + b'\\"', b"+987654000",
              b"0.0987654e10", b"98765400000e-2", b'\\"9.876540E+08\\"']  # fmt: skip
    others = [b'\\"9876540001\\"', b"987654000.5", b"9.87654001e8", b"98765400",
              b'\\"' + escaped("987654001") + b'\\"']  # fmt: skip
    values = {form: line.replace(written, b'\\"user_id\\":' + form) for form in theirs + others}
    values[b"key"] = line.replace(written, b'\\"' + escaped("user_id") + b'\\":987654000')
    for value in values.values():
        add_dead_letter(url, value)
    reply = scratch.anonymous.delete(f"/rider/{user_id}", headers=as_key("erase"))
    assert reply.status_code == 204
    left = {bytes(v) for (v,) in rows(url, "SELECT value FROM daily.dead_letter")}
    survived = [form for form, value in values.items() if value in left]
    assert survived == others, f"the erased rider's refused lines that stay: {survived}"


def _ended_rider_with_a_high_alert(url: str) -> tuple[int, int, int]:
    """A rider (not riding now) of an ended ride, whose age is not a band's bottom, given the
    alert ingestion writes when the heart passes their own maximum: the ride, user id and age."""
    riding = {u for (u,) in rows(url, "SELECT user_id FROM daily.ride WHERE ended_at IS NULL")}
    candidates = rows(url, "SELECT ride_id, user_id, rider_age, ended_at FROM daily.ride"
                           " WHERE ended_at IS NOT NULL AND user_id >= 0 AND rider_age % 5 <> 0"
                           " ORDER BY ride_id")  # fmt: skip
    ride_id, user_id, age, ended = next(c for c in candidates if c[1] not in riding)
    execute(url, "INSERT INTO daily.alert (ride_id, user_id, kind, at, heart_rate,"
                 " heart_rate_limit, status) VALUES (%s, %s, 'high', %s, %s, %s, 'sent')"
                 " ON CONFLICT DO NOTHING",
            [ride_id, user_id, ended, 230 - age, 220 - age])  # fmt: skip
    return ride_id, user_id, age


# --- the fourth review's Low findings (Issue 17): each test fails until its finding is fixed ---


def test_a_refused_line_from_before_the_erasure_does_not_store_the_rider_again(
    scratch: Api, world: World, tmp_path: Path
) -> None:
    """Finding B: the rider's [SYSTEM] line waited in the topic (ingestion behind) while they
    were erased; ingestion refuses it (a gender it cannot read) after the erasure, and the
    dead letter kept the whole message: their name, email, address and birth date, stored
    again for the dead letters' week. Its reason and position are kept; none of its bytes."""
    url = scratch.url
    riding = {u for (u,) in rows(url, "SELECT user_id FROM daily.ride WHERE ended_at IS NULL")}
    ride = next(r for r in named(world).values() if r.user_id not in riding)
    assert (
        scratch.anonymous.delete(f"/rider/{ride.user_id}", headers=as_key("erase")).status_code
        == 204
    )
    line = refused_system_line(ride)
    before = (time.time_ns() // 1000 - 600 * SECOND) // 1000  # the broker's time, in ms
    backlog = tmp_path / "backlog.jsonl"
    backlog.write_bytes(orjson.dumps({"topic": "deloton", "partition": 0, "offset": 0,
                                      "tstype": "create", "ts": before, "broker": -1,
                                      "key": ride.bike, "payload": line.decode()}) + b"\n")  # fmt: skip
    ingest_file(as_login(url, "writer"), backlog)
    kept = rows(url, "SELECT position, value, value_length, value_sha256, reason"
                     " FROM daily.dead_letter WHERE source LIKE 'file:%'")  # fmt: skip
    assert kept == [(0, None, len(line), None, "rider field gender is not str")], (
        f"rider {ride.user_id} was erased, then a refused line older than the erasure stored"
        f" their email, name, address and birth date in daily.dead_letter: {kept}"
    )
    assert scan(url, traces_of(ride, world)) == []
