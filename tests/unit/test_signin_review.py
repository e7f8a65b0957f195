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
from werkzeug.urls import iri_to_uri

from deleton.core.access import STAFF, Viewer, session_of
from deleton.dashboard import app as dashboard_app
from deleton.dashboard import signin, views
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


# what the review tried after a password sign-in (review/redirects.py): each a way that a
# browser, Werkzeug or urlsplit has of reading a path as another site's address
NEXT_VARIANTS = [
    "//evil.example",
    "/\\evil.example",
    "/\t/evil.example/",
    "/%09/evil.example",
    "/\n/evil.example/",
    "/\r/evil.example/",
    "/\r\n/evil.example",
    "/ /evil.example",
    "https://evil.example",
    "/%2F%2Fevil.example",
    "/.//evil.example",
    "/\x00/evil.example",
    "/\x7f/evil.example",
    "/\x85/evil.example",
    "/;/evil.example",
    "/%5Cevil.example",
    "/\u3002evil.example",
    "/\uff0f/evil.example",
    "/..//evil.example",
    " //evil.example",
    "\t//evil.example",
    "javascript:alert(1)",
    "/fleet?next=//evil.example",
]


def _same_site(location: str) -> bool:
    """Whether a browser at ``BASE/login`` sent to ``location`` stays on this site."""
    return urlsplit(urljoin(f"{BASE}/login", location)).netloc == "dash.example"


@pytest.mark.parametrize("target", NEXT_VARIANTS)
def test_next_is_a_path_of_this_site_whatever_it_says(target: str) -> None:
    kept = signin._local(target)
    sent = iri_to_uri(kept)  # as Werkzeug puts it into the Location header
    assert kept == "/" or (sent.startswith("/") and not sent.startswith("//")), repr(kept)
    assert _same_site(sent) and "\\" not in sent, repr(kept)
    assert signin._local("/bike/SN0001?x=1#top") == "/bike/SN0001?x=1#top"  # a path stays


@pytest.mark.parametrize("target", NEXT_VARIANTS)
def test_next_never_sends_a_signed_in_person_to_another_site(server: Any, target: str) -> None:
    # GET /login?next=... redirects a signed-in person at once: one click on a mailed link.
    # Browsers (and urlsplit) drop tabs and newlines, so "/<TAB>/evil.example" became
    # "//evil.example" in the Location header: another site. CR or LF made a 500.
    reply = _signed_in(server).get(f"/login?next={quote(target)}")
    assert reply.status_code == 302
    assert _same_site(reply.headers["Location"]), reply.headers["Location"]


@pytest.mark.parametrize("target", ["/\t/evil.example/", "/\r\n/evil.example/"])
def test_the_sign_in_form_carries_no_foreign_next(server: Any, target: str) -> None:
    page = server.test_client().get(f"/login?next={quote(target)}")
    assert page.status_code == 200
    assert 'name="next" value="/"' in page.get_data(as_text=True)


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
