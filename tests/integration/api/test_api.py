"""The REST API against real PostgreSQL: every endpoint and every error, with the expected
values worked out from the wire lines alone (``wire_truth``), never from the API's SQL."""

from __future__ import annotations

import datetime as dt
import time
from statistics import mean
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg.types.json import Jsonb

from deleton.api.access import SCOPES
from deleton.core import training
from deleton.core.records import split_address, to_datetime
from tests.harness.fleet import SECOND, START
from tests.harness.wire_truth import Ride, alerts_of, last_reading

from .conftest import IDLE, KEY, NOW, Api, World, as_key, ride_ids

LONDON = ZoneInfo("Europe/London")
TODAY = to_datetime(NOW).astimezone(LONDON).date()


def iso(micros: int) -> dt.datetime:
    return to_datetime(micros)


def ended_at(ride: Ride, in_before: bool) -> int | None:
    """When the platform says ``ride`` ended: its last line; the rides still open at the end
    of the first evening were closed by compression at their last reading; the rest are in
    progress."""
    if ride.ended:
        return ride.last_line
    return last_reading(ride) if in_before else None


def figures(ride: Ride, end: int | None) -> dict[str, Any]:
    """A ride's figures as ``historical.ride`` names them, from its readings."""
    readings = ride.readings
    beats = [hr for _, _, _, hr, _, _ in readings if hr > 0]
    watts = [w for *_, w in readings]
    rpm = [r for *_, r, _ in readings]
    resistance = [res for _, _, res, *_ in readings]
    high, low = alerts_of(ride)
    return {
        "duration_s": ((end if end is not None else last_reading(ride)) - ride.started) / SECOND,
        "readings": len(readings),
        "heart_rate_avg": mean(beats) if beats else None,
        "heart_rate_min": min(beats) if beats else None,
        "heart_rate_max": max(beats) if beats else None,
        "power_avg": mean(watts),
        "power_max": max(watts),
        "energy_kj": sum(watts) / 1000,
        "rpm_avg": mean(rpm),
        "rpm_max": max(rpm),
        "resistance_avg": mean(resistance),
        "resistance_max": max(resistance),
        "alerts": high + low,
        "alerts_high": high,
        "alerts_low": low,
        **training_figures(ride),
    }


def training_figures(ride: Ride) -> dict[str, Any]:
    """A ride's training figures by the reference definition (core/training.py), from its
    readings in time order."""
    ordered = sorted(ride.readings, key=lambda reading: reading[0])
    found = training.ride_figures([r[3] for r in ordered], [r[5] for r in ordered], ride.age)
    zones = found.seconds_in_hr_zone
    return {**found._asdict(), "seconds_in_hr_zone": None if zones is None else list(zones)}


def expected_ride(ride: Ride, ride_id: int, in_before: bool) -> dict[str, Any]:
    end = ended_at(ride, in_before)
    return {
        "ride_id": ride_id,
        "bike_serial": ride.bike,
        "rider": {
            "user_id": ride.user_id,
            "first_name": ride.first_name,
            "last_name": ride.last_name,
        },
        "started_at": iso(ride.started),
        "ended_at": None if end is None else iso(end),
        "in_progress": end is None,
        **figures(ride, end),
    }


def parsed(body: dict[str, Any]) -> dict[str, Any]:
    """A ride as JSON, its times read back as datetimes and its floats made approximate."""
    out = dict(body)
    for name in ("started_at", "ended_at"):
        if out[name] is not None:
            out[name] = dt.datetime.fromisoformat(out[name])
    return out


def approx(ride: dict[str, Any]) -> dict[str, Any]:
    return {k: pytest.approx(v, rel=1e-9) if isinstance(v, float) else v for k, v in ride.items()}


def rides_with_ids(world: World, url: str) -> list[tuple[Ride, int, bool]]:
    ids = ride_ids(url)
    found = []
    for in_before, rides in ((True, world.before), (False, world.day)):
        for ride in rides:
            if ride.readings:  # a ride with no reading at all is ended but never shown
                found.append((ride, ids[ride.bike, iso(ride.started)], in_before))
    return found


def test_the_world_holds_a_ride_in_every_state(api: Api) -> None:
    with psycopg.connect(api.url) as conn:
        states = conn.execute(
            """SELECT count(*) FILTER (WHERE d.ride_id IS NULL),
                      count(*) FILTER (WHERE d.ride_id IS NOT NULL AND h.ride_id IS NOT NULL),
                      count(*) FILTER (WHERE h.ride_id IS NULL AND d.ended_at IS NOT NULL),
                      count(*) FILTER (WHERE d.ended_at IS NULL AND h.ride_id IS NULL)
               FROM daily.ride d FULL JOIN historical.ride h USING (ride_id)"""
        ).fetchone()
    # only in historical; in both; ended and only in daily; in progress
    assert states is not None and all(count > 0 for count in states), states


def test_every_ride_reads_as_its_wire_lines_say_wherever_it_is_kept(api: Api, world: World) -> None:
    rides = rides_with_ids(world, api.url)
    assert len(rides) > 40
    for ride, ride_id, in_before in rides:
        reply = api.client.get(f"/ride/{ride_id}")
        assert reply.status_code == 200
        assert parsed(reply.json()) == approx(expected_ride(ride, ride_id, in_before)), ride_id


def test_a_rider_is_their_rides_added_up_and_private_data_needs_the_key(
    api: Api, world: World
) -> None:
    by_rider: dict[int, list[Ride]] = {}
    for ride in world.rides:
        if ride.user_id is not None and ride.readings:
            by_rider.setdefault(ride.user_id, []).append(ride)
    ids = ride_ids(api.url)
    for user_id, rides in by_rider.items():
        rides.sort(key=lambda r: r.started)
        beats = [hr for r in rides for _, _, _, hr, _, _ in r.readings if hr > 0]
        rider = rides[-1]
        born = rider.date_of_birth
        assert born is not None
        want = {
            "user_id": user_id,
            "first_name": rider.first_name,
            "last_name": rider.last_name,
            "gender": rider.gender,
            "age": TODAY.year - born.year - ((TODAY.month, TODAY.day) < (born.month, born.day)),
            "rides": len(rides),
            "heart_rate_avg": pytest.approx(mean(beats)),
            "energy_kj": pytest.approx(sum(w for r in rides for *_, w in r.readings) / 1000),
            "first_ride": {
                "ride_id": ids[rides[0].bike, iso(rides[0].started)],
                "started_at": iso(rides[0].started),
            },
            "latest_ride": {
                "ride_id": ids[rider.bike, iso(rider.started)],
                "started_at": iso(rider.started),
            },
        }
        reply = api.client.get(f"/rider/{user_id}")
        assert reply.status_code == 200
        assert reply.headers["cache-control"] == "private, no-store"
        body = reply.json()
        for link in ("first_ride", "latest_ride"):
            body[link]["started_at"] = dt.datetime.fromisoformat(body[link]["started_at"])
        assert body.pop("contact") is None
        assert {k: body[k] for k in want} == want

        keyed = api.client.get(f"/rider/{user_id}", headers={"X-API-Key": KEY}).json()
        address = split_address(rider.address or "")
        assert address is not None
        assert keyed["contact"] == {
            "email": rider.email,
            "address": address._asdict(),
            "date_of_birth": born.isoformat(),
        }


def test_a_wrong_key_is_refused_not_taken_for_none(api: Api, world: World) -> None:
    user_id = world.day[0].user_id
    for wrong in ("x", KEY[:-1], KEY + "x", KEY.upper(), f"{KEY} ", "' OR ''='"):
        reply = api.client.get(f"/rider/{user_id}", headers={"X-API-Key": wrong})
        assert reply.status_code == 401 and "contact" not in reply.text


def test_a_riders_rides_come_newest_first_a_page_at_a_time(api: Api, world: World) -> None:
    counts: dict[int, int] = {}
    for ride in world.rides:
        if ride.user_id is not None and ride.readings:
            counts[ride.user_id] = counts.get(ride.user_id, 0) + 1
    user_id = max(counts, key=lambda user: counts[user])
    assert counts[user_id] >= 3
    whole = api.client.get(f"/rider/{user_id}/rides?limit=100").json()
    starts = [ride["started_at"] for ride in whole["rides"]]
    assert len(starts) == counts[user_id] and starts == sorted(starts, reverse=True)
    assert whole["next_offset"] is None
    pages, offset = [], 0
    while offset is not None:
        page = api.client.get(f"/rider/{user_id}/rides", params={"limit": 2, "offset": offset})
        assert page.status_code == 200
        pages += page.json()["rides"]
        offset = page.json()["next_offset"]
    assert pages == whole["rides"]
    assert api.client.get("/rider/424242424/rides").status_code == 404


def test_daily_is_a_calendar_day_in_london_in_either_date_format(api: Api, world: World) -> None:
    day_start = dt.datetime(2022, 11, 3, tzinfo=LONDON)
    want = sorted(
        (ride.started, ride.bike)
        for ride in world.rides
        if ride.readings and day_start <= iso(ride.started) < day_start + dt.timedelta(days=1)
    )
    assert want and len(want) == len([r for r in world.day if r.readings])
    for query in ({"date": "03-11-2022"}, {"date": "2022-11-03"}, {}):  # {}: today, by the clock
        got, offset = [], 0
        while offset is not None:
            reply = api.client.get("/daily", params={**query, "limit": 7, "offset": offset})
            assert reply.status_code == 200
            body = reply.json()
            assert body["date"] == "2022-11-03" and body["zone"] == "Europe/London"
            got += [(dt.datetime.fromisoformat(r["started_at"]), r["bike_serial"])
                    for r in body["rides"]]  # fmt: skip
            offset = body["next_offset"]
        assert got == [(iso(started), bike) for started, bike in want]
    before = api.client.get("/daily?date=2022-11-02&limit=100").json()["rides"]
    assert len(before) == len([r for r in world.before if r.readings])
    assert api.client.get("/daily?date=2022-11-10").json()["rides"] == []


def _standings(energies: dict[Any, float], names: dict[Any, str]) -> list[tuple[int, str, float]]:
    """(place, name, kJ) by energy to 0.1 kJ, half up, descending; ties share a place."""
    shown = {key: training.round_half_up(kj, 1) for key, kj in energies.items()}
    order = sorted(shown, key=lambda key: -shown[key])
    places = training.places([shown[key] for key in order])
    return sorted(
        ((place, names[key], shown[key]) for place, key in zip(places, order, strict=True)),
        key=lambda row: (row[0], row[1]),
    )


def test_the_leaderboards_rank_riders_by_the_energy_their_wire_lines_add_up_to(
    api: Api, world: World
) -> None:
    riding = [
        ride
        for ride in world.day
        if not ride.ended and ride.readings and last_reading(ride) >= NOW - int(IDLE) * SECOND
    ]
    assert len(riding) >= 3

    def name(ride: Ride) -> str:
        return f"{ride.first_name} {(ride.last_name or '')[:1]}."

    def board(period: str) -> list[dict[str, Any]]:
        reply = api.client.get("/leaderboard", params={"period": period, "limit": 100})
        assert reply.status_code == 200
        standings: list[dict[str, Any]] = reply.json()["standings"]
        return standings

    now = board("now")
    want = _standings({r.bike: sum(p for *_, p in r.readings) / 1000 for r in riding},
                      {r.bike: name(r) for r in riding})  # fmt: skip
    got = sorted((row["place"], row["rider"], row["energy_kj"]) for row in now)
    assert got == sorted(want) and [row["place"] for row in now] == sorted(r[0] for r in want)
    # today (3 November in London, the API's clock at its end): each rider's rides summed
    day: dict[Any, float] = {}
    names: dict[Any, str] = {}
    for ride in world.day:
        if ride.user_id is not None:
            day[ride.user_id] = (
                day.get(ride.user_id, 0.0) + sum(p for *_, p in ride.readings) / 1000
            )
            names[ride.user_id] = name(ride)
    today = board("today")
    got = sorted((row["place"], row["rider"], row["energy_kj"]) for row in today)
    assert got == sorted(_standings(day, names))


def test_bikes_are_those_riding_now_with_their_latest_heart_rate(api: Api, world: World) -> None:
    riding = {
        ride.bike: ride
        for ride in world.day
        if not ride.ended and ride.readings and last_reading(ride) >= NOW - int(IDLE) * SECOND
    }
    assert len(riding) >= 3
    body = api.client.get("/bikes", params={"limit": 1000}).json()
    assert body["riding"] == len(riding) and dt.datetime.fromisoformat(body["as_of"]) == iso(NOW)
    got = {bike["bike_serial"]: bike for bike in body["bikes"]}
    assert set(got) == set(riding)
    ids = ride_ids(api.url)
    for serial, ride in riding.items():
        _at, duration, _, hr, _, _ = ride.readings[-1]
        assert ride.age is not None
        limit = 220 - ride.age
        zone = ("no contact" if hr == 0 else "too low" if hr < 40
                else "dangerously high" if hr > limit else "high" if hr >= 0.85 * limit
                else "safe")  # fmt: skip
        assert got[serial] == {
            "bike_serial": serial,
            "rider": ride.first_name,
            "ride_id": ids[serial, iso(ride.started)],
            "ride_seconds": round(duration, 1),
            "heart_rate": hr or None,
            "zone": zone,
            # the training zone now, and effort points over every reading so far (wire truth)
            "hr_zone": training.hr_zone(hr, limit),
            "effort_points": training.effort_points(
                training.seconds_in_hr_zone([r[3] for r in ride.readings], limit)
            ),
        }
    urgency = {"dangerously high": 3, "too low": 2, "high": 1}
    order = [urgency.get(bike["zone"], 0) for bike in body["bikes"]]
    assert order == sorted(order, reverse=True)  # most urgent first
    by_serial = api.client.get("/bikes", params={"sort": "bike", "descending": False}).json()
    assert [b["bike_serial"] for b in by_serial["bikes"]] == sorted(riding)
    page = api.client.get("/bikes", params={"limit": 2, "offset": 1}).json()
    assert page["bikes"] == body["bikes"][1:3] and page["next_offset"] == 3
    hardest = api.client.get("/bikes", params={"sort": "effort_points"}).json()["bikes"]
    efforts = [bike["effort_points"] for bike in hardest]
    assert efforts == sorted(efforts, reverse=True) and len(set(efforts)) > 1


def test_health_says_the_database_answers_and_to_a_key_how_fresh_the_data_is(api: Api) -> None:
    reply = api.client.get("/health")
    assert reply.status_code == 200
    body = reply.json()
    assert body["status"] == "ok" and body["database"] == "reachable"
    assert 0 <= body["newest_reading_age_s"] <= int(IDLE)
    assert {p["source"].rsplit("/", 1)[-1] for p in body["ingestion"]} == {
        "before.jsonl", "part.jsonl"
    }  # fmt: skip
    # without a key: the status alone, no topic, file or offset
    signed_out = api.anonymous.get("/health")
    assert signed_out.status_code == 200
    assert signed_out.json() == {"status": "ok", "database": "reachable"}


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/ride/abc", 400, "ride_id"),
        ("/ride/0", 400, "ride_id"),
        ("/ride/-5", 400, "ride_id"),
        ("/ride/1.5", 400, "ride_id"),
        ("/ride/9223372036854775808", 400, "ride_id"),  # past bigint
        ("/ride/9223372036854775807", 404, "no ride"),
        ("/ride/424242", 404, "no ride 424242"),
        ("/rider/abc", 400, "user_id"),
        ("/rider/424242424", 404, "no rider"),
        ("/rider/1/rides?limit=101", 400, "limit"),
        ("/rider/1/rides?limit=0", 400, "limit"),
        ("/rider/1/rides?offset=-1", 400, "offset"),
        ("/rider/1/rides?offset=99999999999999999999", 400, "offset"),
        ("/daily?date=2022-13-01", 400, "date"),
        ("/daily?date=31-02-2022", 400, "date"),
        ("/daily?date=2022/11/03", 400, "date"),
        ("/daily?date=yesterday", 400, "date"),
        ("/daily?date=0001-01-01", 400, "date"),
        ("/daily?date=9999-12-31", 400, "date"),
        ("/daily?limit=1000", 400, "limit"),
        ("/bikes?limit=1001", 400, "limit"),
        ("/bikes?sort=email", 400, "sort"),
        ("/nowhere", 404, "Not Found"),
    ],
)
def test_errors_are_json_with_the_right_status_and_say_what_is_wrong(
    api: Api, path: str, status: int, words: str
) -> None:
    reply = api.client.get(path)
    assert reply.status_code == status
    assert reply.headers["content-type"] == "application/json"
    assert reply.json()["status"] == status and words in reply.json()["detail"]


def test_a_method_a_path_does_not_take_is_405_json(api: Api) -> None:
    reply = api.client.post("/ride/1")
    assert reply.status_code == 405 and reply.json()["status"] == 405


def counts(url: str) -> tuple[int, ...]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            """SELECT (SELECT count(*) FROM daily.ride), (SELECT count(*) FROM daily.reading),
                      (SELECT count(*) FROM daily.rider), (SELECT count(*) FROM historical.ride),
                      (SELECT count(*) FROM historical.rider),
                      (SELECT count(*) FROM information_schema.tables
                       WHERE table_schema IN ('daily', 'historical'))"""
        ).fetchone()
    assert row is not None
    return tuple(row)


INJECTIONS = [
    "1; DROP TABLE daily.ride",
    "1 OR 1=1",
    "1' OR '1'='1",
    "1); DELETE FROM daily.reading; --",
    "1 UNION SELECT email FROM daily.rider",
    "$$; TRUNCATE historical.ride; $$",
]


@pytest.mark.parametrize("attack", INJECTIONS)
def test_sql_injection_changes_nothing_and_shows_nothing(
    scratch: Api, world: World, attack: str
) -> None:
    before = counts(scratch.url)
    client = scratch.client
    replies = [
        client.get(f"/ride/{attack}"),
        client.delete(f"/ride/{attack}", headers={"X-API-Key": KEY}),
        client.delete("/ride/1", headers={"X-API-Key": attack}),
        client.get(f"/rider/{attack}"),
        client.get(f"/rider/{attack}/rides"),
        client.get("/rider/1/rides", params={"limit": attack}),
        client.get("/daily", params={"date": attack}),
        client.get("/daily", params={"date": f"2022-11-03{attack}"}),
        client.get("/bikes", params={"sort": attack}),
        client.get(f"/rider/{world.day[0].user_id}", headers={"X-API-Key": attack}),
        client.delete(f"/rider/{attack}", headers={"X-API-Key": KEY}),
    ]
    assert [r.status_code for r in replies] == [400, 400, 401, 400, 400, 400, 400, 400, 400, 401,
                                                400]  # fmt: skip
    for reply in replies:
        assert "@" not in reply.text and "Traceback" not in reply.text
    assert counts(scratch.url) == before


def test_nothing_personal_is_shown_without_the_personal_scope(api: Api, world: World) -> None:
    secrets = set()
    for ride in world.rides:
        if ride.email:
            address = split_address(ride.address or "")
            assert address is not None and ride.date_of_birth is not None
            secrets |= {ride.email, address.street, address.postcode,
                        ride.date_of_birth.isoformat()}  # fmt: skip
    paths = ["/bikes?limit=1000", "/health", "/daily?limit=100", "/daily?date=2022-11-02&limit=100",
             "/openapi.json"]  # fmt: skip
    for user_id in {ride.user_id for ride in world.rides}:
        paths += [f"/rider/{user_id}", f"/rider/{user_id}/rides?limit=100"]
    paths += [f"/ride/{ride_id}" for ride_id in ride_ids(api.url).values()]
    for path in paths:
        for scope in ("read", "erase"):
            text = api.client.get(path, headers=as_key(scope)).text
            assert not [s for s in secrets if s in text], (path, scope)


def test_a_ride_is_deleted_everywhere_once_and_only_with_the_key(
    scratch: Api, world: World
) -> None:
    with psycopg.connect(scratch.url) as conn:
        in_both, only_historical, with_alerts, in_progress = (
            conn.execute(query).fetchone()[0]  # type: ignore[index]
            for query in (
                "SELECT min(ride_id) FROM daily.ride JOIN historical.ride USING (ride_id)",
                "SELECT min(ride_id) FROM historical.ride h WHERE NOT EXISTS"
                " (SELECT 1 FROM daily.ride d WHERE d.ride_id = h.ride_id)",
                "SELECT min(ride_id) FROM daily.alert JOIN daily.ride USING (ride_id)"
                " WHERE ended_at IS NOT NULL",
                "SELECT min(ride_id) FROM daily.ride WHERE ended_at IS NULL",
            )
        )
    client, key = scratch.client, as_key("erase")
    assert scratch.anonymous.delete(f"/ride/{in_both}").status_code == 401
    assert client.delete(f"/ride/{in_both}", headers={"X-API-Key": "wrong"}).status_code == 401
    for scope in ("read", "personal"):  # a key without the erase scope
        assert client.delete(f"/ride/{in_both}", headers=as_key(scope)).status_code == 403
    assert client.get(f"/ride/{in_both}").status_code == 200
    assert client.delete(f"/ride/{in_progress}", headers=key).status_code == 409
    for ride_id in {in_both, only_historical, with_alerts}:
        reply = client.delete(f"/ride/{ride_id}", headers=key)
        assert reply.status_code == 204 and reply.content == b""
        assert client.get(f"/ride/{ride_id}").status_code == 404
        assert client.delete(f"/ride/{ride_id}", headers=key).status_code == 404
        with psycopg.connect(scratch.url) as conn:
            left = conn.execute(
                """SELECT (SELECT count(*) FROM daily.ride WHERE ride_id = %(id)s)
                        + (SELECT count(*) FROM daily.reading WHERE ride_id = %(id)s)
                        + (SELECT count(*) FROM daily.alert WHERE ride_id = %(id)s)
                        + (SELECT count(*) FROM historical.ride WHERE ride_id = %(id)s)
                        + (SELECT count(*) FROM historical.alert WHERE ride_id = %(id)s)""",
                {"id": ride_id},
            ).fetchone()
        assert left == (0,)
    assert client.get(f"/ride/{in_progress}").status_code == 200


def test_without_a_bootstrap_key_only_made_keys_open_anything(keyless: Api) -> None:
    for headers in ({}, {"X-API-Key": KEY}, {"X-API-Key": ""}):
        reply = keyless.anonymous.delete("/ride/1", headers=headers)
        assert reply.status_code == 401 and "X-API-Key" in reply.json()["detail"]
        assert keyless.anonymous.get("/ride/1", headers=headers).status_code == 401
    first = min(ride_ids(keyless.url).values())  # a ride of the 2nd, long ended
    assert keyless.client.get(f"/ride/{first}").status_code == 200
    assert keyless.client.delete(f"/ride/{first}", headers=as_key("erase")).status_code == 204


def test_the_openapi_document_names_every_answer_with_a_model_and_examples(api: Api) -> None:
    document = api.client.get("/openapi.json").json()
    operations = {(method.upper(), path): op for path, item in document["paths"].items()
                  for method, op in item.items()}  # fmt: skip
    assert set(operations) == {
        ("GET", "/ride/{ride_id}"), ("DELETE", "/ride/{ride_id}"), ("GET", "/rider/{user_id}"),
        ("DELETE", "/rider/{user_id}"), ("GET", "/rider/{user_id}/rides"), ("GET", "/daily"),
        ("GET", "/bikes"), ("GET", "/health"), ("GET", "/leaderboard"), ("GET", "/bikes/health"),
    }  # fmt: skip
    for (method, path), op in operations.items():
        assert op.get("summary") and op.get("description"), (method, path)
        for status, answer in op["responses"].items():
            if status == "204":
                continue
            schema = answer["content"]["application/json"]["schema"]
            schema = schema.get("items", schema)  # a list's items (/bikes/health)
            assert "$ref" in schema or "anyOf" in schema, (method, path, status)
        assert "422" not in op["responses"]
        if method == "GET" and path != "/health":
            assert "400" in op["responses"]
        if path != "/health":  # every other route needs a key, with a scope
            assert {"401", "403", "429"} <= set(op["responses"]), (method, path)
            assert op["security"] == [{"APIKeyHeader": []}], (method, path)
            assert "Retry-After" in op["responses"]["429"]["headers"]
    schemas = document["components"]["schemas"]
    for name in ("Ride", "Rider", "Fleet", "Health", "Problem", "DailyRides", "Contact"):
        assert schemas[name].get("examples"), name
    assert document["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"


def test_the_database_away_is_a_503_that_says_so(world: World) -> None:
    from tests.harness.services import free_port

    from .conftest import serve

    nowhere = f"host=127.0.0.1 port={free_port()} dbname=x user=x connect_timeout=1"
    # each of the ten requests waits for a connection that never comes: 0.2 s, not 1 s, each
    for api in serve(nowhere, KEY, wait=0.2):
        for path in ("/ride/1", "/rider/1", "/daily", "/bikes"):
            # a made key cannot even be looked up; the bootstrap key is checked in memory
            for headers in ({}, {"X-API-Key": KEY}):
                reply = api.client.get(path, headers=headers)
                assert reply.status_code == 503, path
                assert reply.headers["retry-after"] == "5"
                assert "database" in reply.json()["detail"] and "127.0.0.1" not in reply.text
        for headers in ({}, {"X-API-Key": KEY}):
            health = api.anonymous.get("/health", headers=headers)
            assert health.status_code == 503 and health.json()["database"] == "unreachable"


def test_ride_times_are_utc(api: Api) -> None:
    body = api.client.get("/daily?date=2022-11-03&limit=1").json()
    assert body["rides"][0]["started_at"].endswith("Z")
    assert iso(START) <= dt.datetime.fromisoformat(body["rides"][0]["started_at"])


def test_bikes_health_lists_the_bikes_with_open_findings_by_serial(scratch: Api) -> None:
    """``GET /bikes/health``: the bikes with open findings only (a cleared one is history),
    by serial, each finding with its kind, times and evidence; ``?kind=`` keeps one kind;
    behind the same gate as ``/bikes`` (scope ``read``)."""
    at = dt.datetime(2026, 11, 28, 8, tzinfo=dt.UTC)
    with psycopg.connect(scratch.url) as conn:
        conn.cursor().executemany(
            "INSERT INTO historical.bike_finding (bike_serial, kind, first_seen, last_seen,"
            " detail, cleared_at) VALUES (%s, %s, %s, %s, %s, %s)",
            [("SN0002", "power_drift", at, at + dt.timedelta(hours=3),
              Jsonb({"drift_pct": 14.8, "readings": 1494}), None),
             ("SN0001", "silent", at, at, Jsonb({"rides": [7, 9]}), None),
             ("SN0001", "heart_strap", at, at, Jsonb({"rides": [1, 2, 3]}), at),
             ("SN0003", "offline", at, at, Jsonb({"last_line_at": "2026-11-25T08:00:00+00:00"}),
              None)],
        )  # fmt: skip
    body = scratch.client.get("/bikes/health").json()
    assert [bike["bike_serial"] for bike in body] == ["SN0001", "SN0002", "SN0003"]
    assert [f["kind"] for f in body[0]["findings"]] == ["silent"]  # the strap's was cleared
    drift = body[1]["findings"][0]
    assert drift["detail"] == {"drift_pct": 14.8, "readings": 1494}
    assert dt.datetime.fromisoformat(drift["first_seen"]) == at
    assert dt.datetime.fromisoformat(drift["last_seen"]) == at + dt.timedelta(hours=3)
    only = scratch.client.get("/bikes/health", params={"kind": "power_drift"}).json()
    assert [bike["bike_serial"] for bike in only] == ["SN0002"]
    assert scratch.client.get("/bikes/health", params={"kind": "flat_tyre"}).status_code == 400
    assert scratch.client.get("/bikes/health", params={"kind": "heart_strap"}).json() == []
    assert scratch.anonymous.get("/bikes/health").status_code == 401
    for scope in SCOPES:
        gate = scratch.client.get("/bikes", headers=as_key(scope)).status_code
        assert scratch.client.get("/bikes/health", headers=as_key(scope)).status_code == gate


def test_a_bike_being_checked_is_on_the_board_unranked_and_says_why(scratch: Api) -> None:
    """A riding bike with an open health finding keeps its row and energy on the live board,
    without a place and marked; the others close up. An offline finding (stale, as the bike
    rides) does not unrank it."""

    def board() -> list[dict[str, Any]]:
        reply = scratch.client.get("/leaderboard", params={"period": "now", "limit": 100})
        assert reply.status_code == 200
        rows: list[dict[str, Any]] = reply.json()["standings"]
        return rows

    before = board()
    top, offline = before[0]["bike_serial"], before[1]["bike_serial"]
    at = dt.datetime(2022, 11, 3, 18, tzinfo=dt.UTC)
    with psycopg.connect(scratch.url) as conn:
        conn.cursor().executemany(
            "INSERT INTO historical.bike_finding (bike_serial, kind, first_seen, last_seen,"
            " detail) VALUES (%s, %s, %s, %s, %s)",
            [(top, "power_drift", at, at, Jsonb({"drift_pct": 9.1, "readings": 900})),
             (offline, "offline", at, at, Jsonb({}))],
        )  # fmt: skip
    deadline = time.monotonic() + 10
    while (after := board()) == before and time.monotonic() < deadline:
        time.sleep(0.05)  # the shared fleet is rebuilt at most every half second
    row = next(r for r in after if r["bike_serial"] == top)
    assert row["place"] is None and row["unranked"] == "unranked: this bike is being checked"
    assert row["energy_kj"] == before[0]["energy_kj"]
    ranked = [r for r in after if r["place"] is not None]
    assert len(ranked) == len([r for r in before if r["place"] is not None]) - 1
    assert ranked[0]["bike_serial"] == offline and ranked[0]["place"] == 1
