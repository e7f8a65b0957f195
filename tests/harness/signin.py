"""Signing in to the dashboard over plain HTTP (urllib with a cookie jar), for tests that need
a signed-in session without a browser; and the sign-in tests' seeded database, one for the
session (``signin_world``)."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from deleton.postgres import schema
from tests.harness.fleet import ingest_simulated
from tests.harness.services import rows


@dataclass
class Client:
    """A client with its own cookies, that does not follow redirects (they are asserted)."""

    base: str
    jar: http.cookiejar.CookieJar = field(default_factory=http.cookiejar.CookieJar)

    def __post_init__(self) -> None:
        class Stay(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: Any, **kwargs: Any) -> None:
                return None

        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), Stay()
        )

    def request(
        self, path: str, form: dict[str, str] | None = None, json_body: bytes | None = None
    ) -> tuple[int, dict[str, str], str]:
        """Status, headers and body of ``path`` (a GET, a form POST or a JSON POST)."""
        data, headers = None, {}
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
        if json_body is not None:
            data, headers = json_body, {"Content-Type": "application/json"}
        url = path if path.startswith("http") else self.base + path
        request = urllib.request.Request(url, data=data, headers=headers)
        try:
            with self.opener.open(request, timeout=30) as reply:
                return reply.status, dict(reply.headers), reply.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read().decode()

    def csrf(self, path: str) -> str:
        """The form token of the page at ``path``."""
        status, _, body = self.request(path)
        found = re.search(r'name="csrf" value="([^"]+)"', body)
        assert found, (status, body[:500])
        return found.group(1)

    def follow_link(self, link: str) -> tuple[int, dict[str, str], str]:
        """Opens a one-time sign-in link and confirms it, as its page asks."""
        path = urllib.parse.urlsplit(link).path
        return self.request(path, form={"csrf": self.csrf(path)})

    def sign_in(self, name: str, password: str, next_path: str = "/") -> tuple[int, str]:
        """The password form: status, and where it sends the browser."""
        token = self.csrf("/login")
        form = {"csrf": token, "name": name, "password": password, "next": next_path}
        status, headers, _ = self.request("/login", form=form)
        return status, headers.get("Location", "")

    def cookie(self, name: str = "deleton_session") -> Any:
        return next((c for c in self.jar if c.name == name), None)


@dataclass(frozen=True)
class SigninWorld:
    """A database of its own on the session's server, seeded once with a simulated fleet
    riding up to now, for the sign-in tests of every folder (the other tests reset theirs)."""

    admin: str  # the administrator's URL
    reader: str  # deleton_reader_login's, as the dashboard runs
    names: list[str]  # every rider's full name
    riders: dict[str, str]  # each bike's current rider's full name
    bikes: list[str]

    def others(self, serial: str) -> list[str]:
        """Every rider's name but that of ``serial``'s current rider."""
        return [name for name in self.names if name != self.riders[serial]]


@pytest.fixture(scope="session")
def signin_world(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> SigninWorld:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        if conn.execute("SELECT FROM pg_database WHERE datname = 'signin'").fetchone() is None:
            conn.execute("CREATE DATABASE signin")
    admin = make_conninfo(pg_url, dbname="signin")
    with psycopg.connect(admin, autocommit=True) as conn:
        schema.reset(conn)
        schema.ensure_logins(conn, {"reader": "r" * 16})
    ingest_simulated(admin, tmp_path_factory.mktemp("signin"), bikes=4, seed=21, seconds=240)
    riders = dict(
        rows(
            admin,
            """SELECT DISTINCT ON (r.bike_serial) r.bike_serial, u.first_name || ' ' || u.last_name
               FROM daily.ride r JOIN daily.rider u USING (user_id)
               ORDER BY r.bike_serial, r.started_at DESC""",
        )
    )
    names = [n for (n,) in rows(admin, "SELECT first_name || ' ' || last_name FROM daily.rider")]
    reader = make_conninfo(admin, user=schema.LOGINS["reader"])
    return SigninWorld(admin, reader, names, riders, sorted(riders))
