"""A world for the API: two evenings of a simulated fleet in a real PostgreSQL, in every state
a ride can be in, and the API over it in-process with the clock at the end of the second.

- the 2nd November: ended rides summarised into ``historical`` with their detail dropped (and
  the rides still open at its end closed as stale, at their last reading);
- the 3rd: ended rides summarised but still in ``daily`` too, rides ended since, and rides in
  progress at the end.

The world is loaded once into a template database, with an API key of each scope; tests that
change it get a copy.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.conninfo import make_conninfo
from psycopg_pool import ConnectionPool
from pydantic import SecretStr

from deleton.api.access import HEADER, SCOPES, digest, granted
from deleton.api.app import create_app
from deleton.api.data import ApiData
from deleton.core.records import to_datetime
from deleton.postgres import access, schema
from tests.harness.fleet import SECOND, START, dump_fleet, ingest_file
from tests.harness.postgres import database

__all__ = ["SECOND"]
from tests.harness.services import env_for, run_deleton
from tests.harness.wire_truth import Ride, rides_from_wire

KEY = "a-key-long-enough-for-the-settings-0123"  # DELETON_API_KEY: the bootstrap, every scope
# keys made as `deleton api-key create` makes them, one of each scope (the world holds them)
KEYS = {scope: f"{scope}-key-of-the-api-world-{'x' * 20}" for scope in SCOPES}
RATE = 100_000.0  # requests a second per key: the suite's own pace is not what is tested
IDLE = "5"  # seconds: rides end on short gaps, so an hour holds many
NOW = START + 3600 * SECOND  # the API's clock: the end of the second evening
_copies = itertools.count()


@dataclass
class World:
    template: str  # the database loaded once: copied, never connected to by tests
    before: list[Ride]  # the 2nd November, by the wire lines
    day: list[Ride]  # the 3rd

    @property
    def rides(self) -> list[Ride]:
        return self.before + self.day


@pytest.fixture(scope="session")
def world(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> World:
    folder = tmp_path_factory.mktemp("api-world")
    admin = database(pg_url, "api_template")
    with psycopg.connect(admin, autocommit=True) as conn:
        schema.init(conn)
        schema.ensure_logins(conn, {"writer": "w" * 16, "api": "a" * 16})
        for scope, key in KEYS.items():
            assert access.create_key(conn, f"{scope}-key", digest(key), list(granted([scope])))
    # the world is written as production writes it: by the writer's own login
    url = as_login(admin, "writer")
    before, day = folder / "before.jsonl", folder / "day.jsonl"
    dump_fleet(before, bikes=12, seconds=3600, seed=41, start=START - 86_400 * SECOND)
    dump_fleet(day, bikes=12, seconds=3600, seed=41)  # the same riders, a day on
    ingest_file(url, before, ride_idle_timeout=IDLE)
    compress(url, START)  # a day later: the 2nd is summarised and its detail dropped
    lines = day.read_bytes().splitlines(keepends=True)
    part = folder / "part.jsonl"
    part.write_bytes(b"".join(lines[: len(lines) // 2]))
    ingest_file(url, part, ride_idle_timeout=IDLE)
    compress(url, START + 1800 * SECOND)  # the 3rd's first half summarised, detail kept
    with part.open("ab") as rest:
        rest.write(b"".join(lines[len(lines) // 2 :]))
    ingest_file(url, part, ride_idle_timeout=IDLE)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return World(admin, rides_from_wire(before), rides_from_wire(day))


def as_login(url: str, group: str) -> str:
    """``url`` as the service login of ``group`` (migration 0006's roles)."""
    return make_conninfo(url, user=schema.LOGINS[group])


def compress(url: str, now: int) -> None:
    result = run_deleton("compress", "--now", to_datetime(now).isoformat(), env=env_for(url))
    assert result.returncode == 0, result.stderr[-2000:]


@dataclass
class Api:
    client: TestClient  # sends the read key unless told otherwise
    anonymous: TestClient  # sends no key
    url: str  # its database


def data_over(
    url: str, key: str | None, now: int = NOW, rate: float = RATE, wait: float = 1.0
) -> Iterator[ApiData]:
    """What the API reads: ``url`` as the API's own login, with its clock at ``now``; a
    request waits ``wait`` seconds for a connection."""
    # a second's wait for a connection, as a database away is then told in a second
    pool = ConnectionPool(
        as_login(url, "api"), min_size=1, max_size=4, kwargs={"autocommit": True}, timeout=wait
    )
    with pool:
        yield ApiData.over(pool.connection, SecretStr(key) if key else None, "Europe/London",
                           int(IDLE) * SECOND, wall=lambda: now / SECOND,
                           rate_limit=rate)  # fmt: skip


def serve(
    url: str, key: str | None, now: int = NOW, rate: float = RATE, wait: float = 1.0
) -> Iterator[Api]:
    for data in data_over(url, key, now, rate, wait):
        app = create_app(data)
        with (
            TestClient(app, raise_server_exceptions=False,
                       headers={HEADER: KEYS["read"]}) as client,
            TestClient(app, raise_server_exceptions=False) as anonymous,
        ):  # fmt: skip
            yield Api(client, anonymous, url)


@pytest.fixture(scope="session")
def api(world: World, pg_url: str) -> Iterator[Api]:
    """The API with a key, over a copy of the world that no test changes."""
    yield from serve(database(pg_url, "api_world", world.template), KEY)


@pytest.fixture
def scratch(world: World, pg_url: str) -> Iterator[Api]:
    """The API with a key, over a copy of the world of this test's own."""
    yield from serve(database(pg_url, f"api_scratch_{next(_copies)}", world.template), KEY)


@pytest.fixture
def keyless(world: World, pg_url: str) -> Iterator[Api]:
    """The API with no bootstrap key configured, over a copy of the world of this test's
    own."""
    yield from serve(database(pg_url, f"api_scratch_{next(_copies)}", world.template), None)


def as_key(scope: str) -> dict[str, str]:
    """The headers of a request made with the world's key of ``scope``."""
    return {HEADER: KEYS[scope]}


def ride_ids(url: str) -> dict[tuple[str, dt.datetime], int]:
    """Every ride's id by bike and start, wherever it is kept."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT bike_serial, started_at, ride_id FROM daily.ride"
            " UNION SELECT bike_serial, started_at, ride_id FROM historical.ride"
        ).fetchall()
    return {(bike, started): ride_id for bike, started, ride_id in rows}
