"""Security review of the dashboard's sign-in (Issue 17 items 1-2): the findings a test can
hold without a database (those that need one are in tests/integration/test_signin_review.py).
Each test failed on the code as merged; the review's proofs of concept that were scripts
(``review/*.py`` in commit 6160dd7, named below) are tests here now.

The app is made over a stand-in for the database that finds every session in force as staff
and every password wrong (``_Answers``), and is asked nothing else.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import urllib.error
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import Message
from typing import Any, ClassVar
from urllib.parse import quote, urljoin, urlsplit

import pytest
from flask.testing import FlaskClient
from joserfc.jwk import ECKey
from joserfc.jws import JWSRegistry
from pydantic import ValidationError
from werkzeug.urls import iri_to_uri

from deleton.core.access import STAFF, Throttle, Viewer, session_of
from deleton.dashboard import alb as alb_module
from deleton.dashboard import app as dashboard_app
from deleton.dashboard import signin, views
from deleton.dashboard.alb import HEADER, AlbIdentity
from deleton.dashboard.gate import Gate
from deleton.settings import Settings
from tests.harness import dash_calls

SECRET = "s" * 40
BASE = "http://dash.example"


DECOY = "$argon2id$v=19$m=65536,t=3,p=4$ZGVjb3lkZWNveWRlY295"


class _Answers:
    """A database connection that finds every session asked about in force, as staff, and
    every password wrong."""

    answers: ClassVar[dict[str, Any]] = {
        "keeper.session_role": (STAFF,),
        "keeper.password_salt": (DECOY,),
        "keeper.sign_in_password": {"role": None, "wait": 0.0},  # read by name
    }

    def execute(self, query: str, params: Any = ()) -> _Answers:
        (self.answer,) = [a for name, a in self.answers.items() if name in query]
        return self

    @contextmanager
    def cursor(self, row_factory: Any = None) -> Iterator[_Answers]:
        yield self

    def fetchone(self) -> Any:
        return self.answer


@contextmanager
def _database() -> Iterator[_Answers]:
    yield _Answers()


@pytest.fixture(scope="module")
def server() -> Any:
    config = Settings(session_secret=SECRET, screen_secret="t" * 40)
    gate = Gate(config.access(), SECRET.encode(), b"t" * 40, _database, b"p" * 32)  # type: ignore[arg-type]
    data = views.DashboardData.over(_database, 3600 * 10**6)  # type: ignore[arg-type]
    return dashboard_app.create_app(data, gate).server


def _signed_in(server: Any) -> FlaskClient:
    client: FlaskClient = server.test_client()
    with client.session_transaction() as session:
        person = Viewer(STAFF, "ops@gym.example", "oidc", 9e9 - 1, session="a-session-id")
        session["viewer"] = session_of(person)
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


# --- F8: the load balancer's identity header (review/alb_probe.py) ----------------------------

ARN = "arn:aws:elasticloadbalancing:eu-west-2:123456789012:loadbalancer/app/x/1"


class _KeyServer:
    """The load balancer's key server, in this process: one key, and what it is asked."""

    def __init__(self) -> None:
        self.key = ECKey.generate_key("P-256")
        self.asked: list[str] = []

    def fetch(self, url: str) -> bytes:
        self.asked.append(url.rsplit("/", 1)[1])
        if not url.endswith("/k1"):
            raise urllib.error.HTTPError(url, 404, "no such key", Message(), None)
        return self.key.as_pem(private=False)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


def _header(server: _KeyServer, head: dict[str, Any], claims: dict[str, Any],
            signature: bytes | None = None) -> str:  # fmt: skip
    h, c = _b64(json.dumps(head).encode()), _b64(json.dumps(claims).encode())
    es256 = JWSRegistry(algorithms=["ES256"]).get_alg("ES256")
    sig = es256.sign(f"{h}.{c}".encode(), server.key) if signature is None else signature
    return f"{h}.{c}.{_b64(sig)}"


def test_the_load_balancer_header_is_refused_unless_it_is_the_load_balancers() -> None:
    server, now = _KeyServer(), 1_800_000_000.0
    alb = AlbIdentity(ARN, "https://keys.example/", "groups", lambda: now, server.fetch)
    good = {"alg": "ES256", "kid": "k1", "signer": ARN, "exp": now + 60}
    claims = {"sub": "x", "groups": ["deleton-staff"], "exp": now + 60}
    without = {k: v for k, v in good.items() if k != "exp"}
    refused = {
        "alg none": _header(server, {**good, "alg": "none"}, claims, b""),
        "alg HS256": _header(server, {**good, "alg": "HS256"}, claims),
        "kid ../../evil": _header(server, {**good, "kid": "../../evil"}, claims),
        "kid @evil/": _header(server, {**good, "kid": "@evil.example/x"}, claims),
        "kid %2e%2e": _header(server, {**good, "kid": "%2e%2e%2fx"}, claims),
        "another signer": _header(server, {**good, "signer": ARN + "0"}, claims),
        "no expiry": _header(server, without, {k: v for k, v in claims.items() if k != "exp"}),
        "expiry true": _header(server, {**good, "exp": True}, {**claims, "exp": True}),
        "expired": _header(server, {**good, "exp": now - 1}, claims),
        "claims expired": _header(server, good, {**claims, "exp": now - 1}),
        "short signature": _header(server, good, claims, b"\0" * 10),
        "no group": _header(server, good, {k: v for k, v in claims.items() if k != "groups"}),
        "four segments": _header(server, good, claims) + ".x",
    }
    for why, token in refused.items():
        assert alb.viewer(token) is None, why
    person = alb.viewer(_header(server, good, claims))
    assert person is not None and person.role == "staff" and person.via == "alb"
    listed = alb.viewer(_header(server, good, {**claims, "groups": "deleton-admin,other"}))
    assert listed is not None and listed.role == "admin"  # some providers send one string
    assert server.asked == ["k1"]  # nothing refused before its signature reached the server


def test_forged_key_ids_cost_a_few_fetches_a_minute() -> None:
    # A forged header names any key id; the key is fetched before anything can be verified.
    # Each unknown id was fetched every time (5 s timeout, a server thread held each time).
    server, now = _KeyServer(), [1_800_000_000.0]
    alb = AlbIdentity(ARN, "https://keys.example/", "groups", lambda: now[0], server.fetch)
    good = {"alg": "ES256", "kid": "k1", "signer": ARN, "exp": now[0] + 600}
    claims = {"sub": "x", "groups": ["deleton-staff"]}
    for i in range(20):
        for kid in (f"random{i}", "unknown"):
            alb.viewer(_header(server, {**good, "kid": kid}, claims, b"\0" * 64))
    assert len(server.asked) == alb_module.FETCHES_PER_MINUTE
    assert server.asked.count("unknown") == 1  # a failed id is not asked for again
    assert alb.viewer(_header(server, good, claims)) is None  # the minute's budget is spent
    now[0] += 61
    assert alb.viewer(_header(server, good, claims)) is not None  # the real key, once a minute
    alb.viewer(_header(server, {**good, "kid": "unknown"}, claims, b"\0" * 64))
    assert server.asked.count("unknown") == 2  # asked again once its minute has passed
    assert alb_module.fetch_key.__defaults__ == (alb_module.FETCH_TIMEOUT,)
    assert alb_module.FETCH_TIMEOUT <= 2


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://public-keys.example/", True),
        ("http://127.0.0.1:8123/", True),
        ("http://[::1]:8123/", True),
        ("http://localhost:8123/", True),
        ("http://public-keys.example/", False),
        ("http://127.0.0.1.evil.example/", False),
    ],
)
def test_the_keys_come_over_https_or_from_this_machine(url: str, allowed: bool) -> None:
    if allowed:
        assert Settings(alb_keys_url=url).alb_keys_url == url
    else:
        with pytest.raises(ValidationError, match="https"):
            Settings(alb_keys_url=url)


def test_without_a_pepper_the_dashboard_takes_no_password() -> None:
    # review F5: a password is checked peppered; a dashboard that has no pepper cannot check
    # one, so it offers no password form and refuses one posted
    config = Settings(session_secret=SECRET, screen_secret="t" * 40)
    gate = Gate(config.access(), SECRET.encode(), b"t" * 40, _database)  # type: ignore[arg-type]
    data = views.DashboardData.over(_database, 3600 * 10**6)  # type: ignore[arg-type]
    client = dashboard_app.create_app(data, gate).server.test_client()
    page = client.get("/login").get_data(as_text=True)
    assert "signin-form" not in page and "login-link" in page
    token = page.split('name="csrf" value="', 1)[-1].split('"', 1)[0] if "csrf" in page else ""
    refused = client.post("/login", data={"csrf": token, "name": "ada", "password": "x" * 12})
    assert refused.status_code == 405


# --- F7: the client address's throttle (review/throttle_race.py) ------------------------------


def test_tries_made_at_once_get_the_free_ones_and_no_more() -> None:
    # each try was checked before its work and counted after: 40 at once all passed the
    # check. Now a try is counted as it starts, and forgiven if it succeeds.
    throttle = Throttle(free=5)
    assert [throttle.attempt("address:1.2.3.4", 100.0) for _ in range(40)].count(0.0) == 5
    throttle.succeeded("address:1.2.3.4")
    assert throttle.attempt("address:1.2.3.4", 100.0) == 0.0
    throttle.refund("address:1.2.3.4")  # a try the database could not judge
    assert "address:1.2.3.4" not in throttle._failures


def test_a_forged_forwarded_for_does_not_escape_the_address_throttle() -> None:
    # Without the load balancer, X-Forwarded-For is anyone's to write: the connection's
    # address is the one throttled, whatever the header says.
    config = Settings(session_secret=SECRET, screen_secret="t" * 40)
    gate = Gate(config.access(), SECRET.encode(), b"t" * 40, _database, b"p" * 32)  # type: ignore[arg-type]
    frozen = time.time()
    gate.wall = lambda: (
        frozen
    )  # a hash slower than the 1 s wait, on a loaded machine, is not a pass
    data = views.DashboardData.over(_database, 3600 * 10**6)  # type: ignore[arg-type]
    client: FlaskClient = dashboard_app.create_app(data, gate).server.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    codes = []
    for i in range(7):
        form = {"csrf": token, "name": f"user{i}", "password": "a wrong password"}
        headers = {"X-Forwarded-For": f"203.0.113.{i}"}
        reply = client.post("/login", data=form, headers=headers, environ_base=_FROM)
        codes.append(reply.status_code)
    assert codes == [401] * 5 + [429] * 2


def test_behind_the_load_balancer_the_client_is_the_last_forwarded_address(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The load balancer appends the address it saw to X-Forwarded-For; what comes before is
    # the client's to say. Only behind it (DELETON_ALB_ARN) is the header read at all.
    config = Settings(session_secret=SECRET, screen_secret="t" * 40, alb_arn=ARN)
    gate = Gate(config.access(), SECRET.encode(), b"t" * 40, _database)  # type: ignore[arg-type]
    data = views.DashboardData.over(_database, 3600 * 10**6)  # type: ignore[arg-type]
    alb = AlbIdentity(ARN, "https://keys.example/", "groups", fetch=_KeyServer().fetch)
    client = dashboard_app.create_app(data, gate, alb).server.test_client()
    headers = {"X-Forwarded-For": "198.51.100.7, 203.0.113.9", HEADER: "not.a.token"}
    with caplog.at_level(logging.WARNING, logger="deleton.dashboard.signin"):
        assert client.get("/fleet", headers=headers, environ_base=_FROM).status_code == 403
    assert "(client 203.0.113.9)" in caplog.text and "198.51.100.7" not in caplog.text


_FROM = {"REMOTE_ADDR": "10.0.0.5"}


# --- Info: every answer's security headers ----------------------------------------------------

SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def test_every_answer_carries_the_security_headers_and_data_is_never_cached(server: Any) -> None:
    person = _signed_in(server)
    answers = {
        "the sign-in page": server.test_client().get("/login"),
        "a refusal": server.test_client().get("/_dash-layout"),
        "a page": person.get("/fleet"),
        "the layout": person.get("/_dash-layout"),
        "a callback's answer": person.post("/_dash-update-component", json=dash_calls.route("/x")),
        "a redirect": server.test_client().get("/fleet"),
        "an asset": server.test_client().get("/assets/deleton.css"),
    }
    for what, reply in answers.items():
        for name, value in SECURITY_HEADERS.items():
            assert reply.headers.getlist(name) == [value], (what, name)
        assert "Strict-Transport-Security" not in reply.headers  # not over plain http
    assert answers["the layout"].status_code == 200
    assert answers["a callback's answer"].status_code == 200
    for what in ("the sign-in page", "a page", "the layout", "a callback's answer"):
        assert answers[what].headers.getlist("Cache-Control") == ["no-store"], what
    assert answers["an asset"].status_code == 200
    assert "no-store" not in answers["an asset"].headers.get("Cache-Control", "")


def test_over_https_browsers_are_told_to_keep_to_it() -> None:
    config = Settings(session_secret=SECRET, public_url="https://dash.example")
    gate = Gate(config.access(), SECRET.encode(), None, _database)  # type: ignore[arg-type]
    data = views.DashboardData.over(_database, 3600 * 10**6)  # type: ignore[arg-type]
    reply = dashboard_app.create_app(data, gate).server.test_client().get("/login")
    assert reply.headers["Strict-Transport-Security"] == "max-age=31536000"
