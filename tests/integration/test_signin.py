"""Dashboard sign-in against real PostgreSQL, through the app's own HTTP interface (Flask's test
client) as the reader login: who is let in, what every callback answers whom, the accounts'
tables out of the reader's reach, one-time links used once, sessions that end, and the AWS
load balancer's signed header. (The browser's view is in tests/e2e/test_signin.py.)

One seeded database for the session (``signin_world``, shared with the browser's tests) and
one dashboard for the module; each test signs in its own clients.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask.testing import FlaskClient
from psycopg_pool import ConnectionPool

from deleton.core.access import ADMIN, BIKE, LEADERBOARD, STAFF, ScreenGrant, token_digest
from deleton.credentials import passwords, tokens
from deleton.dashboard import app as dashboard_app
from deleton.dashboard import views
from deleton.dashboard.alb import AlbIdentity
from deleton.dashboard.gate import Gate
from deleton.postgres import accounts
from deleton.settings import Settings
from tests.harness import dash_calls
from tests.harness.browser import PASSWORD_PEPPER, SCREEN_SECRET, SECRETS, SESSION_SECRET
from tests.harness.idp import AlbKeys, alb_token, served
from tests.harness.services import env_for, execute, rows, run_deleton, scalar
from tests.harness.signin import SigninWorld

pytestmark = pytest.mark.slow

PASSWORD = "a long enough password"
PEPPER = PASSWORD_PEPPER.encode()
FUNCTIONS = (
    "keeper.password_salt(text)",
    "keeper.sign_in_password(text,text,bytea,integer)",
    "keeper.consume_login_link(bytea,bytea,integer)",
    "keeper.start_session(bytea,text,text,text,integer)",
    "keeper.session_role(bytea)",
    "keeper.end_session(bytea)",
    "keeper.screen_generation(text,text)",
)
ARN = (
    "arn:aws:elasticloadbalancing:eu-west-2:123456789012:loadbalancer/app/deleton/50dc6c495c0c9188"
)


@dataclass
class World:
    admin: str  # the administrator's URL
    reader: str  # deleton_reader_login's
    names: list[str]  # every rider's full name
    bikes: list[str]
    riders: dict[str, str]  # each bike's current rider
    pool: ConnectionPool  # the reader's


@pytest.fixture(scope="module")
def world(signin_world: SigninWorld) -> Iterator[World]:
    with psycopg.connect(signin_world.admin, autocommit=True) as conn:
        accounts.add_account(conn, "ada", STAFF, passwords.hash_password(PASSWORD, PEPPER))
        accounts.add_account(conn, "root", ADMIN, None)
    with ConnectionPool(signin_world.reader, min_size=1, kwargs={"autocommit": True}) as pool:
        w = signin_world
        yield World(w.admin, w.reader, w.names, w.bikes, w.riders, pool)


def make_app(world: World, **settings: Any) -> tuple[Any, Gate]:
    """A dashboard over the module's database as the reader login, with these settings."""
    settings = {"session_secret": SESSION_SECRET, "screen_secret": SCREEN_SECRET, **settings}
    access = Settings(**settings).access()
    secrets = (SESSION_SECRET.encode(), str(settings["screen_secret"]).encode())
    gate = Gate(access, *secrets, world.pool.connection, PEPPER)
    alb = None
    if access.alb_arn is not None and access.alb_keys is not None:
        alb = AlbIdentity(access.alb_arn, access.alb_keys, access.role_claim)
    data = views.DashboardData.over(world.pool.connection, 3600 * 10**6)
    return dashboard_app.create_app(data, gate, alb), gate


@pytest.fixture(scope="module")
def app(world: World) -> Any:
    return make_app(world)[0]


def csrf(client: FlaskClient, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    return page.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def sign_in(client: FlaskClient, name: str, password: str) -> Any:
    form = {"csrf": csrf(client, "/login"), "name": name, "password": password, "next": "/fleet"}
    return client.post("/login", data=form)


def link_for(world: World, name: str) -> str:
    token = tokens.random_token()
    with psycopg.connect(world.admin, autocommit=True) as conn:
        assert accounts.add_login_link(conn, name, token_digest(token), 600) is not None
    return token


def screen_link(world: World, serial: str, kind: str = BIKE) -> str:
    with psycopg.connect(world.admin, autocommit=True) as conn:
        generation = accounts.open_screen(conn, kind, serial)
    return tokens.screen_token(SCREEN_SECRET.encode(), ScreenGrant(kind, serial, generation))


def open_screen(client: FlaskClient, token: str) -> Any:
    """What the opener page's script does with /screen#<token>: posts the token with the
    session's form token."""
    form = {"csrf": csrf(client, "/screen"), "token": token}
    return client.post("/screen", data=form, headers={"Sec-Fetch-Site": "same-origin"})


def update(client: FlaskClient, body: dict[str, Any]) -> tuple[int, str]:
    reply = client.post("/_dash-update-component", json=body)
    return reply.status_code, reply.get_data(as_text=True)


def no_rider_in(world: World, text: str, but: str | None = None) -> bool:
    return not [name for name in world.names if name in text and name != but]


def test_the_reader_reaches_the_accounts_only_through_its_functions(world: World) -> None:
    for table in ("account", "login_link", "screen", "dashboard_session"):
        for sql in (f"SELECT * FROM keeper.{table}", f"DELETE FROM keeper.{table}"):
            with (
                psycopg.connect(world.reader, autocommit=True) as conn,
                pytest.raises(psycopg.errors.InsufficientPrivilege),
            ):
                conn.execute(sql)
    with psycopg.connect(world.reader, autocommit=True) as conn:
        salt = accounts.password_salt(conn, "ada")
        assert salt is not None and salt.startswith("$argon2id$") and salt.count("$") == 4
        stored = scalar(world.admin, "SELECT password_hash FROM keeper.account WHERE name='ada'")
        assert salt == passwords.salt_of(stored) and stored not in salt  # the salt, not the hash

        def sign_in(password: str) -> tuple[str | None, float]:
            hashed = passwords.hash_with(password, salt, PEPPER) or ""
            session = token_digest(tokens.random_token())
            return accounts.sign_in_password(conn, "ada", hashed, session, 600)

        assert sign_in("guess") == (None, 0.0)
        assert sign_in(PASSWORD) == (STAFF, 0.0)
        # a name without a password (link only, or none at all) has a decoy salt of the same
        # shape, the same at each call: the answer tells nobody which names exist
        for name in ("root", "nobody-at-all"):
            decoy = accounts.password_salt(conn, name)
            assert decoy is not None and decoy != salt and len(decoy) == len(salt)
            assert decoy.rsplit("$", 1)[0] == salt.rsplit("$", 1)[0]  # the same parameters
            assert accounts.password_salt(conn, name) == decoy
    # the functions are the reader's alone: revoked from PUBLIC, granted to no other role
    for function in FUNCTIONS:
        grantees = rows(
            world.admin,
            "SELECT DISTINCT grantee::regrole::text FROM pg_proc,"
            " aclexplode(proacl) WHERE oid = %s::regprocedure AND privilege_type = 'EXECUTE'",
            [function],
        )
        # the owner (0020: the keeper, which no login is a member of), and the reader
        assert sorted(g for (g,) in grantees) == ["deleton_keeper", "deleton_reader"], function
        definer = scalar(
            world.admin, "SELECT prosecdef FROM pg_proc WHERE oid = %s::regprocedure", [function]
        )
        assert definer is True


def test_a_link_is_used_once_even_when_two_use_it_at_once(world: World) -> None:
    token = link_for(world, "ada")
    results: list[Any] = []

    def use() -> None:
        session = token_digest(tokens.random_token())
        with psycopg.connect(world.reader, autocommit=True) as conn:
            results.append(accounts.consume_login_link(conn, token_digest(token), session, 600))

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results, key=str) == [("ada", STAFF)] + [None] * 7


def test_signed_out_every_page_and_every_callback_is_refused(world: World, app: Any) -> None:
    client = app.server.test_client()
    for path in ("/", "/fleet", "/recent", f"/bike/{world.bikes[0]}", "/leaderboard", "/x"):
        reply = client.get(path)
        assert reply.status_code == 302 and reply.location.startswith("/login?next=")
    page = client.get("/login").get_data(as_text=True)
    assert 'id="signin-form"' in page and no_rider_in(world, page)
    for path in ("/_dash-layout", "/_dash-dependencies", "/_reload-hash", "/static/x"):
        assert client.get(path).status_code in (302, 401), path
    assert (
        sorted(app.callback_map) and len(app.callback_map) == 10
    )  # the fleet rows: in the browser
    for key in app.callback_map:  # every callback, the bike picker's search among them
        status, body = update(client, {"output": key, "inputs": [], "state": []})
        assert status == 401 and no_rider_in(world, body), key
    status, body = update(client, dash_calls.ride_tick(world.bikes[0]))
    assert status == 401 and no_rider_in(world, body)
    health = client.get("/healthz")
    assert health.status_code == 200 and health.get_json() == {
        "status": "ok",
        "database": "reachable",
    }


def test_staff_sign_in_by_password_and_by_link(world: World, app: Any) -> None:
    staff = app.server.test_client()
    reply = sign_in(staff, "ada", PASSWORD)
    assert (reply.status_code, reply.location) == (303, "/fleet")
    status, body = update(staff, dash_calls.fleet_tick())
    assert status == 200 and all(world.riders[bike].split()[0] in body for bike in world.bikes)
    # the fleet rows' drawing runs in the browser: its key is refused, not a server error
    drawing = {"output": "fleet-rows.className", "inputs": [], "state": []}
    assert update(staff, drawing)[0] == 403
    status, body = update(staff, dash_calls.ride_tick(world.bikes[1]))
    assert status == 200 and world.riders[world.bikes[1]] in body
    status, body = update(staff, dash_calls.search("SN"))
    assert status == 200 and world.bikes[0] in body
    # a link: confirmed by a click (a form), then used up
    token = link_for(world, "root")
    admin = app.server.test_client()
    landing = admin.get(f"/login/{token}")
    assert landing.status_code == 200 and 'id="link-form"' in landing.get_data(as_text=True)
    used = admin.post(f"/login/{token}", data={"csrf": csrf(admin, f"/login/{token}")})
    assert (used.status_code, used.location) == (303, "/")
    assert update(admin, dash_calls.fleet_tick())[0] == 200
    again = app.server.test_client()
    refused = again.post(f"/login/{token}", data={"csrf": csrf(again, f"/login/{token}")})
    assert refused.status_code == 401 and "used already" in refused.get_data(as_text=True)
    # a link past its ten minutes
    late = link_for(world, "root")
    with psycopg.connect(world.admin, autocommit=True) as conn:
        conn.execute(
            "UPDATE keeper.login_link SET expires_at = now() - interval '1 second'"
            " WHERE digest = %s",
            [token_digest(late)],
        )
    client = app.server.test_client()
    expired = client.post(f"/login/{late}", data={"csrf": csrf(client, f"/login/{late}")})
    assert expired.status_code == 401 and client.get("/fleet").status_code == 302
    # without its form token, nothing signs anyone in or out
    forged = app.server.test_client().post(f"/login/{link_for(world, 'root')}", data={})
    assert forged.status_code == 400
    staff.post("/logout", data={})
    assert update(staff, dash_calls.fleet_tick())[0] == 200  # a forged sign-out did nothing
    form = re.search(
        r'"value":"([^"]+)","type":"hidden","name":"csrf"',
        staff.get("/_dash-layout").get_data(as_text=True),
    )
    assert form is not None  # the sign-out form in the page's top bar carries it
    staff.post("/logout", data={"csrf": form.group(1)})
    assert update(staff, dash_calls.fleet_tick())[0] == 401


def test_a_wrong_name_reads_as_a_wrong_password_and_failures_are_throttled(world: World) -> None:
    app, gate = make_app(world)
    # the address's wait is judged by the gate's clock, held still here: argon2 under a loaded
    # machine could otherwise outlast the 8 s this address must wait, and the test say nothing
    frozen = time.time()
    gate.wall = lambda: frozen
    client = app.server.test_client()
    wrong = sign_in(client, "ada", "not the password")
    unknown = sign_in(client, "nobody-at-all", "not the password")
    link_only = sign_in(client, "root", "not the password")
    bodies = {r.get_data(as_text=True).split("csrf")[0] for r in (wrong, unknown, link_only)}
    assert {r.status_code for r in (wrong, unknown, link_only)} == {401} and len(bodies) == 1
    assert "Wrong name or password." in bodies.pop()
    for _ in range(gate.throttle.free):
        sign_in(client, "ada", "still not it")
    slowed = sign_in(client, "ada", PASSWORD)  # even the right password waits its turn
    assert slowed.status_code == 429 and "Too many attempts" in slowed.get_data(as_text=True)
    assert client.get("/fleet").status_code == 302
    gate.throttle = replace(gate.throttle, free=100, _failures=type(gate.throttle._failures)())
    # the name's failures are the database's, for every process: waited for, or forgiven
    execute(world.admin, "DELETE FROM keeper.sign_in_failure WHERE name_key = 'ada'")
    assert sign_in(client, "ada", PASSWORD).status_code == 303


def test_a_screen_sees_its_own_bike_only_until_revoked(world: World) -> None:
    app, gate = make_app(world)
    gate.recheck = 0.0  # ask the database every time
    own, other = world.bikes[0], world.bikes[1]
    link = screen_link(world, own)
    screen = app.server.test_client()
    # a link, /screen#<token>: the browser asks for /screen alone, a page without data whose
    # script posts the token from the fragment
    opener = screen.get("/screen")
    assert opener.status_code == 200 and 'id="screen-form"' in opener.text
    assert no_rider_in(world, opener.text) and screen.get("/").status_code == 302
    form_token = opener.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    assert form_token  # the opener's form carries the session's form token
    cross = screen.post(
        "/screen",
        data={"token": link, "csrf": form_token},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert cross.status_code == 403 and screen.get("/").status_code == 302  # not another site's
    # without its form token, even same-origin, nothing opens (browsers send no Sec-Fetch-Site
    # on plain http, so another site's form looks like ours but has no session to match)
    bare = screen.post("/screen", data={"token": link})
    assert bare.status_code == 403 and screen.get("/").status_code == 302
    opened = open_screen(screen, link)
    assert (opened.status_code, opened.location) == (303, "/screen/")
    assert open_screen(screen, link[:-2] + "xx").status_code == 403
    # a bad token on a screen's session ends it (the kiosk is not left on its old screen)
    assert screen.get("/").status_code == 302
    opened = open_screen(screen, link)
    assert (opened.status_code, opened.location) == (303, "/screen/")
    status, body = update(screen, dash_calls.route("/screen/"))
    assert status == 200 and "ride-state" in body and "bike-picker" not in body
    # the older links' form, /screen/<token>: retired. It opens nothing, echoes nothing, and
    # leaves the screen's session as it was (a GET changes nothing: another site can send a
    # browser to a link); within the app, such a path is not the screen's page
    older = screen.get(f"/screen/{link}")
    assert older.status_code == 404 and "does not open a screen" in older.text
    assert link not in older.text and link[-12:] not in older.text and "<form" not in older.text
    assert no_rider_in(world, older.text)
    status, body = update(screen, dash_calls.route(f"/screen/{link}"))
    assert status == 200 and "Not on this screen" in body and link not in body
    status, body = update(screen, dash_calls.route("/screen/"))
    assert status == 200 and "ride-state" in body  # still the screen it was
    status, body = update(screen, dash_calls.ride_tick(own))
    assert status == 200 and world.riders[own] in body
    assert no_rider_in(world, body, but=world.riders[own])
    assert update(screen, dash_calls.ride_tick(other)) == (204, "")
    for path in ("/fleet", "/recent", f"/bike/{other}"):
        reply = screen.get(path)
        assert reply.status_code == 403 and no_rider_in(world, reply.get_data(as_text=True))
        status, body = update(screen, dash_calls.route(path))
        assert status == 200 and "Not on this screen" in body and no_rider_in(world, body)
    for key in app.callback_map:
        if key in (dash_calls.route("/")["output"], dash_calls.ride_tick(own)["output"]):
            continue
        assert update(screen, {"output": key})[0] == 403, key
    # a forged link, and another bike's link used on this one
    assert open_screen(screen, f"{link[:-2]}xx").status_code == 403
    assert screen.get("/").status_code == 302  # the forged link ended the screen's session
    assert open_screen(screen, link).status_code == 303
    result = run_deleton("screen-link", "--revoke", own, env=env_for(world.admin))
    assert result.returncode == 0, result.stderr
    assert update(screen, dash_calls.ride_tick(own))[0] == 401  # its session ended
    reloaded = screen.get("/screen/")  # the kiosk reloads: told why, not sent to sign in
    assert reloaded.status_code == 403 and "screen link does not work" in reloaded.text
    assert open_screen(app.server.test_client(), link).status_code == 403


def test_a_leaderboard_screen_shows_first_names_and_initials_and_nothing_else(
    world: World,
) -> None:
    app, _gate = make_app(world)
    screen = app.server.test_client()
    assert open_screen(screen, screen_link(world, "", LEADERBOARD)).status_code == 303
    status, body = update(screen, dash_calls.route("/screen/"))
    assert status == 200 and "leaderboard-rows" in body and "ride-state" not in body
    for period in ("now", "today"):
        status, body = update(screen, dash_calls.leaderboard_tick(period))
        assert status == 200 and no_rider_in(world, body), period  # no whole surname
        assert "/bike/" not in body  # bikes are not links on a screen
    shown = [f"{first} {last[0]}." for first, last in (n.split(" ", 1) for n in world.names)]
    status, body = update(screen, dash_calls.leaderboard_tick("now"))
    assert any(name in body for name in shown)  # the riders riding, as a wall shows them
    for call in (dash_calls.fleet_tick(), dash_calls.ride_tick(world.bikes[0]),
                 dash_calls.search("SN")):  # fmt: skip
        assert update(screen, call)[0] in (204, 403), call["output"]
    for path in ("/fleet", "/recent", f"/bike/{world.bikes[0]}"):
        status, body = update(screen, dash_calls.route(path))
        assert status == 200 and "Not on this screen" in body and no_rider_in(world, body)


def test_a_screen_link_never_replaces_a_persons_session(world: World) -> None:
    # an attacker's review: another site's form (no Sec-Fetch-Site on plain http), its link
    # to /screen/<token>, or a bad token could each end a staff member's session or turn it
    # into a screen of the attacker's choosing
    app, _ = make_app(world)
    link = screen_link(world, world.bikes[0])
    staff = app.server.test_client()
    assert sign_in(staff, "ada", PASSWORD).status_code == 303
    # another site's form: no Sec-Fetch-Site, and no form token (it cannot read ours)
    forged = staff.post("/screen", data={"token": link})
    assert forged.status_code == 403
    assert update(staff, dash_calls.fleet_tick())[0] == 200  # still staff, not a screen
    # another site's link to the older form: retired, nothing opened, nothing echoed
    followed = staff.get(f"/screen/{link}")
    assert followed.status_code == 404 and link not in followed.text
    assert update(staff, dash_calls.fleet_tick())[0] == 200
    injected = staff.get("/screen/%22%3E%3Cscript%3Ealert(1)%3C/script%3E").text
    assert "alert(1)" not in injected and "&#34;" not in injected
    # a bad token signs no one out (a person is asked to sign out before any token is read)
    assert open_screen(staff, link[:-2] + "xx").status_code == 409
    assert staff.get(f"/screen/{link[:-2]}xx").status_code == 404
    assert update(staff, dash_calls.fleet_tick())[0] == 200
    # even a good link, posted from our own page, asks a person to sign out first
    asked = open_screen(staff, link)
    assert asked.status_code == 409 and "Sign out first" in asked.text
    assert update(staff, dash_calls.fleet_tick())[0] == 200


def test_the_opener_posts_at_once_only_when_no_other_site_started_the_navigation(
    world: World, app: Any
) -> None:
    # review 3 (login CSRF): another site's link to /screen#<token> must not sign a browser
    # into its screen. Typed, bookmarked, launched by the kiosk recipe ("none") or from our own
    # pages ("same-origin"): the opener posts at once. Otherwise (another site, or no header, as
    # on plain http away from localhost) it asks for a click
    client = app.server.test_client()
    for fetched, start in [
        ("none", "now"),
        ("same-origin", "now"),
        ("same-site", "ask"),
        ("cross-site", "ask"),
        (None, "ask"),
    ]:
        headers = {} if fetched is None else {"Sec-Fetch-Site": fetched}
        opener = client.get("/screen", headers=headers)
        assert opener.status_code == 200, fetched
        assert f'data-open="{start}"' in opener.text, fetched
        assert 'id="screen-open"' in opener.text  # the button, shown by the script on "ask"
        # one address, two pages: no cache may answer one with the other
        assert "Sec-Fetch-Site" in opener.vary and opener.headers["Cache-Control"] == "no-store"
    assert client.get("/").status_code == 302  # a page asked for opened nothing


def test_sessions_end_with_their_account_and_their_lifetime(world: World) -> None:
    app, gate = make_app(world, session_lifetime=3600)
    gate.recheck = 0.0
    with psycopg.connect(world.admin, autocommit=True) as conn:
        accounts.add_account(conn, "temp", STAFF, None)
    client = app.server.test_client()
    token = link_for(world, "temp")
    client.post(f"/login/{token}", data={"csrf": csrf(client, f"/login/{token}")})
    assert update(client, dash_calls.fleet_tick())[0] == 200
    result = run_deleton("users", "remove", "temp", env=env_for(world.admin))
    assert result.returncode == 0, result.stderr
    assert update(client, dash_calls.fleet_tick())[0] == 401
    later = app.server.test_client()
    sign_in(later, "ada", PASSWORD)
    assert update(later, dash_calls.fleet_tick())[0] == 200
    now = gate.wall()
    gate.wall = lambda: now + 3601
    assert update(later, dash_calls.fleet_tick())[0] == 401


def test_cookies_are_http_only_same_site_and_secure_over_https(world: World, app: Any) -> None:
    client = app.server.test_client()
    reply = sign_in(client, "ada", PASSWORD)
    cookie = reply.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert "Expires=" in cookie  # a lifetime, not for ever
    # a cookie verified once is remembered, but only byte for byte
    assert update(client, dash_calls.fleet_tick())[0] == 200
    kept = client.get_cookie("deleton_session")
    assert kept is not None
    signed, signature = kept.value.rsplit(".", 1)
    forged = f"{signed}.{signature[:-3]}{'AAA' if signature[-3:] != 'AAA' else 'BBB'}"
    client.set_cookie("deleton_session", forged)
    assert update(client, dash_calls.fleet_tick())[0] == 401
    client.set_cookie("deleton_session", kept.value)
    assert update(client, dash_calls.fleet_tick())[0] == 200
    secure, _ = make_app(world, public_url="https://deleton.example")
    https = secure.server.test_client()
    cookie = sign_in(https, "ada", PASSWORD).headers["Set-Cookie"]
    assert "Secure" in cookie


def test_the_cli_makes_accounts_links_and_screens(world: World) -> None:
    env = env_for(world.admin, public_url="https://gym.example", **SECRETS)
    added = run_deleton("users", "add", "bea", "--role", "admin", "--password-stdin",
                        env=env, input=b"another long password\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    short = run_deleton("users", "add", "cy", "--role", "staff", "--password-stdin",
                        env=env, input=b"short\n")  # fmt: skip
    assert short.returncode == 1 and b"at least 12" in short.stderr
    twice = run_deleton("users", "add", "bea", "--role", "staff", env=env)
    assert twice.returncode == 1 and b"exists" in twice.stderr
    listed = run_deleton("users", "list", env=env)
    assert b"bea\tadmin\tpassword or link" in listed.stdout
    assert b"root\tadmin\tlink only" in listed.stdout
    stored = scalar(world.admin, "SELECT password_hash FROM keeper.account WHERE name='bea'")
    assert stored.startswith("$argon2id$") and b"another" not in added.stdout + added.stderr
    link = run_deleton("login-link", "bea", env=env)
    assert link.returncode == 0 and link.stdout.startswith(b"https://gym.example/login/")
    assert link.stdout.count(b"\n") == 1  # the link alone on stdout, for scripts
    assert run_deleton("login-link", "nobody", env=env).returncode == 1
    screen = run_deleton("screen-link", world.bikes[2], env=env)
    # the token in the fragment, which no browser sends to a server, proxy or Referer
    assert screen.stdout.startswith(b"https://gym.example/screen#")
    token = screen.stdout.decode().strip().split("#", 1)[1]
    assert tokens.screen_grant(SCREEN_SECRET.encode(), token) == ScreenGrant(
        BIKE, world.bikes[2], 1
    )
    board = run_deleton("screen-link", "--leaderboard", env=env)
    grant = tokens.screen_grant(
        SCREEN_SECRET.encode(), board.stdout.decode().strip().split("#", 1)[1]
    )
    assert grant is not None and (grant.kind, grant.target) == ("leaderboard", "")
    assert run_deleton("screen-link", "--revoke", "SN9999", env=env).returncode == 1
    bare = env_for(world.admin)  # no screen secret anywhere: refused, saying what to do
    bare["DELETON_HOME"] = str(Path(bare["DELETON_HOME"]) / "empty")
    refused = run_deleton("screen-link", world.bikes[2], env=bare)
    assert refused.returncode == 1 and b"DELETON_SCREEN_SECRET" in refused.stderr


@pytest.fixture(scope="module")
def alb_keys() -> Iterator[tuple[AlbKeys, str]]:
    keys = AlbKeys()
    with served(keys.app) as base:
        yield keys, base + "/"


def test_the_load_balancer_header_stands_in_for_signing_in(
    world: World, alb_keys: tuple[AlbKeys, str]
) -> None:
    keys, url = alb_keys
    app, _ = make_app(world, alb_arn=ARN, alb_keys_url=url)
    kid, key = keys.new_key()
    staff = {"sub": "1234", "email": "ops@deleton.example", "groups": ["deleton-staff"]}

    def header(token: str) -> dict[str, str]:
        return {"x-amzn-oidc-data": token}

    client = app.server.test_client()
    assert client.get("/fleet").status_code == 401  # no header: the load balancer's to ask
    assert "signin-form" not in client.get("/login").get_data(as_text=True)  # no passwords
    good = alb_token(key, kid, ARN, staff)
    assert "=" in good  # padded, as the load balancer sends it
    assert client.get("/fleet", headers=header(good)).status_code == 200
    # Dash's requests carry no header (the load balancer lets them through): the session
    status, body = update(client, dash_calls.fleet_tick())
    assert status == 200 and world.riders[world.bikes[0]].split()[0] in body
    for _ in range(3):
        other = app.server.test_client()
        assert (
            other.get("/recent", headers=header(alb_token(key, kid, ARN, staff))).status_code == 200
        )
    assert keys.asked == [kid]  # fetched once, then kept
    refused = {
        "another load balancer": alb_token(key, kid, ARN.replace("50dc", "60dc"), staff),
        "expired": alb_token(key, kid, ARN, staff, expires_in=-5),
        "not staff": alb_token(key, kid, ARN, {**staff, "groups": ["everyone"]}),
        "another key": alb_token(keys.new_key()[1], kid, ARN, staff),
        "tampered": good.replace(good.split(".")[1], good.split(".")[1][:-4] + "AAA="),
        "unknown key": alb_token(key, "no-such-key", ARN, staff),
    }
    for why, token in refused.items():
        client = app.server.test_client()
        reply = client.get("/fleet", headers=header(token))
        assert reply.status_code == 403, why
        assert update(client, dash_calls.fleet_tick())[0] == 401, why
    admin = app.server.test_client()
    claims = {**staff, "groups": "deleton-admin"}
    assert admin.get("/", headers=header(alb_token(key, kid, ARN, claims))).status_code == 200
    layout = json.loads(admin.get("/_dash-layout").get_data(as_text=True))
    assert "ops@deleton.example" in json.dumps(layout)  # who is signed in, shown to them
