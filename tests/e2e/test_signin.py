"""Who sees what, in a real browser, on `deleton dashboard` run as the reader login over the
sign-in tests' seeded fleet (real riders' names in the database): signed out, nothing of any
rider on any page or in any answer; a bike's screen link shows that bike's rider alone, and
stops when revoked; staff sign in by link, by password and through an OpenID Connect provider.

Screenshots: ``sign-in`` (the sign-in screen), ``bike-screen`` (a bike's screen opened by
its link) and ``screen-asks`` (a screen link followed from another site, asking for a click),
in build/screenshots.
"""

from __future__ import annotations

import base64
import json
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Browser, Page, Request, expect

from deleton.core.access import token_digest
from tests.harness import dash_calls, kiosk
from tests.harness.browser import (
    CHROMIUM,
    SECRETS,
    Dashboard,
    Watched,
    watch,
)
from tests.harness.idp import IdentityProvider
from tests.harness.services import env_for, run_deleton, wait_for
from tests.harness.signin import SigninWorld

pytestmark = pytest.mark.slow

PASSWORD = "pedals and power"


@pytest.fixture(scope="module")
def idp() -> Iterator[IdentityProvider]:
    provider = IdentityProvider("deleton-dashboard", "client-secret-for-tests")
    with provider.running():
        yield provider


@pytest.fixture(scope="module")
def dashboard(signin_world: SigninWorld, idp: IdentityProvider) -> Iterator[Dashboard]:
    app = Dashboard(
        signin_world.admin,
        reader_database_url=signin_world.reader,
        ride_idle_timeout="3600",
        reading_window="7200",  # longer than the idle timeout, as it must be
        session_recheck="1",  # a revoked screen's reload is awaited below, not ten seconds
        oidc_issuer=idp.issuer,
        oidc_client_id=idp.client_id,
        oidc_client_secret=idp.client_secret,
    )
    yield app
    app.stop()


@pytest.fixture
def stranger(browser: Browser) -> Iterator[Watched]:
    """A browser with no cookie at all."""
    seen, context = watch(browser)
    yield seen
    context.close()


def cli(world: SigninWorld, dashboard: Dashboard, *args: str, stdin: bytes = b"") -> str:
    env = env_for(world.admin, public_url=dashboard.base, **SECRETS)
    result = run_deleton(*args, env=env, input=stdin)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.decode().strip()


def post(page: Page, base: str, body: dict[str, Any]) -> tuple[int, str]:
    """A callback request with the page's cookies, as its scripts would send it."""
    reply = page.request.post(f"{base}/_dash-update-component", data=json.dumps(body),
                              headers={"Content-Type": "application/json"})  # fmt: skip
    return reply.status, reply.text()


def shows_none_of(texts: list[str], names: list[str]) -> list[str]:
    sent = "\n".join(texts)
    return [name for name in names if name in sent]


def test_signed_out_every_page_shows_the_sign_in_screen_and_no_rider(
    signin_world: SigninWorld, dashboard: Dashboard, stranger: Watched
) -> None:
    page, base = stranger.page, dashboard.base
    bike = signin_world.bikes[0]
    for path in ("/", "/fleet", "/recent", f"/bike/{bike}", "/leaderboard", "/nowhere"):
        page.goto(base + path)
        expect(page.locator("#signin-form")).to_be_visible()
        assert page.url.startswith(f"{base}/login?next="), page.url
        assert page.locator("#page").count() == 0  # the app itself is not served
    expect(page.locator("#signin-oidc")).to_be_visible()
    stranger.screenshot("sign-in")
    answers = [
        post(page, base, body)
        for body in (
            dash_calls.route(f"/bike/{bike}"),
            dash_calls.ride_tick(bike),
            dash_calls.fleet_tick(),
            dash_calls.search("SN"),
        )
    ]
    assert [status for status, _ in answers] == [401] * 4
    layout = page.request.get(f"{base}/_dash-layout")
    assert layout.status == 401
    health = page.request.get(f"{base}/healthz")
    assert health.json() == {"status": "ok", "database": "reachable"}
    texts = stranger.bodies + [text for _, text in answers] + [layout.text(), health.text()]
    assert len(texts) >= 12  # what the pages were sent was captured
    assert shows_none_of(texts, signin_world.names) == []
    # the one cookie holds the sign-in form's token, and no one
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "deleton_session"]
    payload = cookie["value"].split(".")[0]
    assert json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))).keys() == {
        "csrf"
    }
    assert stranger.errors == []


def test_a_screen_link_shows_its_own_bike_only(
    signin_world: SigninWorld, dashboard: Dashboard, stranger: Watched
) -> None:
    page, base = stranger.page, dashboard.base
    own, other = signin_world.bikes[2], signin_world.bikes[1]
    link = cli(signin_world, dashboard, "screen-link", own)
    assert link.startswith(f"{base}/screen#")
    token = link.split("#", 1)[1]
    sent: list[tuple[str, str]] = []  # every request: method, URL and headers; its body

    def asked(request: Request) -> None:
        sent.append((f"{request.method} {request.url} {request.headers}", request.post_data or ""))

    page.on("request", asked)
    page.goto(link)
    expect(page.locator("#ride-rider")).to_have_text(signin_world.riders[own], timeout=20_000)
    assert page.url == f"{base}/screen/"  # the token left the address bar
    # the token reached the server once, in a POST body: never in an address or a Referer,
    # which logs and proxies keep
    assert [where for where, _ in sent if token in where] == []
    assert [where.split()[:2] for where, body in sent if token in body] == [
        ["POST", f"{base}/screen"]
    ]
    # nor is it in the history: the link's own entry is the script's to clean (Chromium even
    # replaces it, as the form is sent before the page has loaded)
    page.go_back()
    assert token not in page.url and page.url in ("about:blank", f"{base}/screen"), page.url
    page.go_forward()
    expect(page.locator("#ride-rider")).to_have_text(signin_world.riders[own], timeout=20_000)
    expect(page.locator("#ride-details")).to_contain_text(f"Bike {own}")
    expect(page.locator("#hr-value")).to_have_text(re.compile(r"^(\d+|–)$"))
    assert page.locator("#bike-picker").count() == 0 and page.locator("nav").count() == 0
    assert page.locator("#sign-out").count() == 0
    page.wait_for_function(
        "() => { const p = document.querySelector('#ride-chart .js-plotly-plot');"
        " return p && p.data && p.data.length === 4 && p.data[0].x.length > 0; }",
        timeout=20_000,
    )  # the whole ride charted, as the rider sees it
    stranger.screenshot("bike-screen")
    for path in (f"/bike/{other}", "/fleet", "/recent"):
        page.goto(base + path)
        expect(page.locator("#door-message")).to_have_text(f"This screen shows bike {own} only.")
    page.goto(base + "/")  # its own page again, wherever it starts
    expect(page.locator("#ride-rider")).to_have_text(signin_world.riders[own], timeout=20_000)
    answers = {
        "another bike's ride": post(page, base, dash_calls.ride_tick(other)),
        "another bike's page": post(page, base, dash_calls.route(f"/bike/{other}")),
        "the fleet": post(page, base, dash_calls.fleet_tick()),
        "the search": post(page, base, dash_calls.search("SN")),
    }
    assert {why: status for why, (status, _) in answers.items()} == {
        "another bike's ride": 204,
        "another bike's page": 200,  # "Not on this screen"
        "the fleet": 403,
        "the search": 403,
    }
    assert "Not on this screen" in answers["another bike's page"][1]
    texts = stranger.bodies + [text for _, text in answers.values()]
    assert signin_world.riders[own] in "\n".join(texts)  # what the screen was sent was captured
    assert shows_none_of(texts, signin_world.others(own)) == []


def test_another_sites_link_asks_before_opening_a_screen(
    signin_world: SigninWorld, dashboard: Dashboard, stranger: Watched
) -> None:
    # review 3 (login CSRF): a link on another site to /screen#<token> signed a signed-out
    # browser into the screen of the link maker's choosing, as the opener posted the fragment
    # at once. A navigation another site starts (Sec-Fetch-Site: cross-site) now shows a
    # question and a button, and nothing opens until it is clicked
    page, base, own = stranger.page, dashboard.base, signin_world.bikes[2]
    link = cli(signin_world, dashboard, "screen-link", own)  # the link maker's own screen
    token = link.split("#", 1)[1]
    evil = "http://attacker.example/"
    page.route(
        evil + "**",
        lambda route: route.fulfill(
            content_type="text/html", body=f'<a id="go" href="{link}">cute cats</a>'
        ),
    )
    posted: list[str] = []
    page.on("request", lambda r: posted.append(r.url) if r.method == "POST" else None)
    page.goto(evil)
    page.locator("#go").click()
    expect(page.locator("#screen-question")).to_have_text(f"Open the screen of bike {own}?")
    expect(page.locator("#screen-open")).to_be_visible()
    expect(page.locator("#door-message")).to_be_hidden()  # "no link?" is not for a link
    assert page.url == f"{base}/screen"  # the token left the address bar all the same
    assert token.split(".")[-1] not in page.content()  # nor did the page get it from the server
    stranger.screenshot("screen-asks")
    # nothing was sent and nothing opened: the cookie holds the form's token alone
    assert posted == []
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "deleton_session"]
    payload = cookie["value"].split(".")[0]
    assert json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))).keys() == {
        "csrf"
    }
    answer = page.request.get(f"{base}/screen/", max_redirects=0)
    assert answer.status == 302 and "/login" in answer.headers["location"]
    page.locator("#screen-open").click()  # the person meant it
    expect(page.locator("#ride-rider")).to_have_text(signin_world.riders[own], timeout=20_000)
    assert page.url == f"{base}/screen/"
    assert stranger.errors == []


def test_an_older_screen_link_opens_nothing(
    signin_world: SigninWorld, dashboard: Dashboard, stranger: Watched
) -> None:
    # review L3: links of the form /screen/<token> put their token in access logs. Retired:
    # such a path opens nothing and echoes nothing, even with a token that works as a link
    page, base, own = stranger.page, dashboard.base, signin_world.bikes[2]
    token = cli(signin_world, dashboard, "screen-link", own).split("#", 1)[1]
    page.goto(f"{base}/screen/{token}")
    expect(page.locator("h1")).to_have_text("This link does not open a screen")
    expect(page.locator("#door-message")).to_contain_text("deleton screen-link SERIAL")
    assert page.locator("form").count() == 0 and page.locator("#ride-rider").count() == 0
    assert token.split(".")[-1] not in page.content()
    stranger.screenshot("older-screen-link")
    page.goto(f"{base}/screen/")  # nothing was opened: the screen's page asks to sign in
    expect(page.locator("#signin-form")).to_be_visible()
    assert shows_none_of(stranger.bodies, signin_world.names) == []


def test_the_kiosk_recipe_keeps_no_screen_link_on_disk(
    signin_world: SigninWorld, dashboard: Dashboard
) -> None:
    # review L2: the page takes the token out of the address bar, but Chromium's profile on the
    # kiosk's disk keeps the link it was opened at in its History, so whoever takes the disk
    # has the screen. The kiosk recipe (deploy/kiosk/deleton-screen, as the README says to run
    # it) opens the screen in an incognito window with its profile in memory. Both run side by
    # side, the recipe started first: the control, Chromium as it starts by default with the
    # same test flags, writes the link into its History (within its commit interval, 10 s) and
    # elsewhere, while the recipe is searched all along; then both stop cleanly, and no file in
    # the recipe's profile, home or temporary folder holds the token, then or after
    own = signin_world.bikes[2]
    link = cli(signin_world, dashboard, "screen-link", own)
    token, screen = link.split("#", 1)[1], f"{dashboard.base}/screen/"
    # short paths: Chromium's singleton socket, in its temporary folder, must fit 108 bytes
    with (
        tempfile.TemporaryDirectory(prefix="kiosk-") as disk,
        tempfile.TemporaryDirectory(dir="/dev/shm") as runtime,  # the session's, in memory
    ):
        plain_home, plain_profile = Path(disk, "plain"), Path(disk, "plain-profile")
        plain = [CHROMIUM, *kiosk.HEADLESS, f"--user-data-dir={plain_profile}", link]
        home, link_file = Path(disk, "home"), Path(disk, "screen-link")
        link_file.write_text(link + "\n")
        link_file.chmod(0o640)
        places = [home, Path(runtime)]
        env = kiosk.chromium_env(home, XDG_RUNTIME_DIR=runtime)
        profile = Path(runtime, "deleton-screen")
        recipe = [str(kiosk.SCRIPT), str(link_file), *kiosk.HEADLESS]
        with (
            kiosk.running(recipe, env, profile, screen),
            kiosk.running(plain, kiosk.chromium_env(plain_home), plain_profile, screen),
        ):

            def control_wrote_it() -> bool:
                holding = kiosk.files_holding(token, places)
                assert holding == [], holding  # the recipe, at every look
                return "History" in kiosk.files_holding(token, [plain_profile / "Default"])

            wait_for(control_wrote_it, timeout=120, interval=0.5,
                     what="Chromium to write the link into its profile's History")  # fmt: skip
        left = kiosk.files_holding(token, [plain_home, plain_profile])
        assert "Default/History" in left, left  # and there it stays
        assert Path(profile, "Default").is_dir()  # the profile searched is the one it used
        assert kiosk.files_holding(token, places) == []


def test_a_revoked_screen_link_stops_working(
    signin_world: SigninWorld, dashboard: Dashboard, stranger: Watched, browser: Browser
) -> None:
    page, bike = stranger.page, signin_world.bikes[3]
    link = cli(signin_world, dashboard, "screen-link", bike)
    page.goto(link)
    expect(page.locator("#ride-rider")).to_have_text(signin_world.riders[bike], timeout=20_000)
    cli(signin_world, dashboard, "screen-link", "--revoke", bike)
    # the screen open on the bike: its next check finds it revoked, and it reloads to say so
    expect(page.locator("h1")).to_have_text("This screen link does not work", timeout=30_000)
    assert shows_none_of([page.content()], signin_world.names) == []
    fresh, context = watch(browser)
    try:
        fresh.page.goto(link)
        expect(fresh.page.locator("h1")).to_have_text("This screen link does not work")
        assert shows_none_of(fresh.bodies, signin_world.names) == []
    finally:
        context.close()
    again = cli(signin_world, dashboard, "screen-link", bike)  # a new link works again
    assert again != link
    page.goto(again)
    expect(page.locator("#ride-rider")).to_have_text(signin_world.riders[bike], timeout=20_000)


def test_staff_sign_in_by_link_and_by_password(
    signin_world: SigninWorld, dashboard: Dashboard, stranger: Watched, browser: Browser
) -> None:
    page, base = stranger.page, dashboard.base
    cli(signin_world, dashboard, "users", "add", "lin", "--role", "staff")
    link = cli(signin_world, dashboard, "login-link", "lin")
    page.goto(link)
    page.locator("#link-submit").click()
    expect(page).to_have_url(f"{base}/")
    page.goto(f"{base}/fleet")
    for bike in signin_world.bikes:
        expect(page.locator("#fleet-table")).to_contain_text(bike, timeout=15_000)
    expect(page.locator("#signed-in-as")).to_have_text("lin")
    page.locator("#sign-out").click()
    expect(page.locator("#signin-form")).to_be_visible()
    # a shared computer: Back after signing out must not bring the fleet back (the pages are
    # no-store, so the browser asks again, and is sent to sign in; review/back_after_signout)
    page.go_back()
    expect(page.locator("#signin-form")).to_be_visible()
    assert page.locator("#fleet-table").count() == 0
    assert shows_none_of([page.content()], signin_world.names) == []
    page.goto(f"{base}/fleet")
    expect(page).to_have_url(re.compile(r"/login\?next=/fleet$"))
    # used, then expired: refused
    page.goto(link)
    page.locator("#link-submit").click()
    expect(page.locator("h1")).to_have_text("This sign-in link does not work")
    late = cli(signin_world, dashboard, "login-link", "lin")
    with psycopg.connect(signin_world.admin, autocommit=True) as conn:
        conn.execute(
            "UPDATE keeper.login_link SET expires_at = now() - interval '1 second'"
            " WHERE digest = %s",
            [token_digest(late.rsplit("/", 1)[1])],
        )
    page.goto(late)
    page.locator("#link-submit").click()
    expect(page.locator("h1")).to_have_text("This sign-in link does not work")
    # a password: a wrong one is refused, the right one goes where the person was going
    cli(signin_world, dashboard, "users", "add", "pat", "--role", "staff", "--password-stdin",
        stdin=f"{PASSWORD}\n".encode())  # fmt: skip
    page.goto(f"{base}/recent")
    page.fill("input[name=name]", "pat")
    page.fill("input[name=password]", "pedals and powder")
    page.locator("#signin-submit").click()
    expect(page.locator("#door-message")).to_have_text("Wrong name or password.")
    page.fill("input[name=name]", "pat")
    page.fill("input[name=password]", PASSWORD)
    page.locator("#signin-submit").click()
    expect(page).to_have_url(f"{base}/recent")
    expect(page.locator("#recent-rides")).not_to_have_text("–", timeout=15_000)
    cookie = next(c for c in page.context.cookies() if c["name"] == "deleton_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["expires"] > 0


def test_staff_sign_in_through_the_identity_provider(
    signin_world: SigninWorld, dashboard: Dashboard, stranger: Watched, idp: IdentityProvider
) -> None:
    page, base = stranger.page, dashboard.base
    idp.person = {"sub": "u-1", "preferred_username": "olivia", "groups": ["deleton-staff"]}
    page.goto(f"{base}/fleet")
    page.locator("#signin-oidc").click()
    expect(page).to_have_url(f"{base}/fleet")  # through the provider and back
    for bike in signin_world.bikes:
        expect(page.locator("#fleet-table")).to_contain_text(bike, timeout=15_000)
    expect(page.locator("#signed-in-as")).to_have_text("olivia")
    page.locator("#sign-out").click()
    expect(page.locator("#signin-form")).to_be_visible()
    # someone the provider knows, but in no group of ours
    idp.person = {"sub": "u-2", "preferred_username": "visitor", "groups": ["gym-members"]}
    page.goto(f"{base}/fleet")
    page.locator("#signin-oidc").click()
    expect(page.locator("#door-message")).to_contain_text("neither deleton-staff nor")
    page.goto(f"{base}/fleet")
    expect(page.locator("#signin-form")).to_be_visible()
