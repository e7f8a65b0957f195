"""Security review of the dashboard's sign-in (Issue 17 items 1-2): findings that need no
database, each a test marked ``xfail(strict=True)``: it fails on the code as merged (so the suite stays
green), and turns red as XPASS once the finding is fixed, when its marker goes.

The app is made over a connection that is never used: a person signed in through an identity
provider (``via="oidc"``) is taken at the session's word, so these requests never reach the
database.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import pytest
from flask.testing import FlaskClient

from deleton.core.access import STAFF, Viewer, session_of
from deleton.dashboard import app as dashboard_app
from deleton.dashboard import views
from deleton.dashboard.gate import Gate
from deleton.settings import Settings

SECRET = "s" * 40
BASE = "http://dash.example"


def _never() -> Any:
    raise AssertionError("these requests should not reach the database")


@pytest.fixture(scope="module")
def server() -> Any:
    config = Settings(session_secret=SECRET, screen_secret="t" * 40)
    gate = Gate(config.access(), SECRET.encode(), b"t" * 40, _never)
    data = views.DashboardData.over(_never, 3600 * 10**6)
    return dashboard_app.create_app(data, gate).server


def _signed_in(server: Any) -> FlaskClient:
    client: FlaskClient = server.test_client()
    with client.session_transaction() as session:
        session["viewer"] = session_of(Viewer(STAFF, "ops@gym.example", "oidc", 9e9 - 1))
        session["csrf"] = "form-token"
        session.permanent = True
    return client


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="review-signin F1: next=/<TAB>/host is an open redirect",
)
@pytest.mark.parametrize("target", ["/\t/evil.example/", "/\n/evil.example/", "/\r/evil.example/"])
def test_next_never_sends_a_signed_in_person_to_another_site(server: Any, target: str) -> None:
    # GET /login?next=... redirects a signed-in person at once: one click on a mailed link.
    # Browsers (and urlsplit) drop tabs and newlines, so "/<TAB>/evil.example" that passes
    # signin._local becomes "//evil.example" in the Location header: another site.
    reply = _signed_in(server).get(f"/login?next={quote(target)}")
    assert reply.status_code in (302, 303, 400)
    location = reply.headers.get("Location", "/")
    assert urlsplit(urljoin(f"{BASE}/login", location)).netloc == "dash.example", location


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="review-signin F3: signing out ends no copy of the cookie",
)
def test_a_copied_session_cookie_is_refused_after_its_person_signs_out(server: Any) -> None:
    # The README: "Sign out ends it at once". The cookie is the whole session, and signing out
    # only asks the browser to forget it: a copy taken before (a shared computer, a proxy log,
    # malware) goes on working for the rest of DELETON_SESSION_LIFETIME (12 h).
    person = _signed_in(server)
    assert person.get("/fleet").status_code == 200
    cookie = person.get_cookie("deleton_session")
    assert cookie is not None
    copied = cookie.value
    signed_out = person.post("/logout", data={"csrf": "form-token"})
    assert signed_out.status_code == 303 and person.get("/fleet").status_code == 302
    thief: FlaskClient = server.test_client()
    thief.set_cookie("deleton_session", copied)
    assert thief.get("/fleet").status_code != 200
