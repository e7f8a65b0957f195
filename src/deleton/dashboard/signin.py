"""The dashboard's door: every request is authorised here before Dash sees it.

- Open to anyone: ``/healthz`` (status only), the sign-in pages, Dash's scripts and the
  assets (no data in any of them).
- A screen link (``/screen#<token>``) carries its token in the fragment, which a browser
  never sends: no server log, proxy or ``Referer`` sees it. ``/screen`` answers a page without
  data whose script takes the token out of the address bar and the back list (a browser's
  History on disk keeps it all the same: the kiosk recipe keeps none, README), and POSTs it
  to ``/screen`` with the session's form token; that starts the screen's session and
  redirects to the screen's page, ``/screen/``. The script posts at once only when the
  browser says no other site started the navigation (``Sec-Fetch-Site`` ``none`` or
  ``same-origin``); otherwise it asks "Open the screen of bike X?" and posts on a click, so
  that another site's link cannot sign a browser into a screen of its choosing. Any other
  path under ``/screen/`` (links once carried their token there, and so into access logs)
  opens nothing and echoes nothing: it says the link is retired (the tokens of those days no
  longer verify, ``tokens``).
- A person signed in is never turned into a screen: opening one asks them to sign out first.
  A bad screen token ends only a screen's session, never a person's.
- Behind the AWS load balancer, a page load's verified ``x-amzn-oidc-data`` starts a person's
  session.
- Pages need a viewer who may open them: signed out, the sign-in page; a screen asking for
  another page, a refusal. Neither carries any rider's data.
- Dash's own requests (``/_dash-*``) need a viewer, and each update callback needs the
  ``Permission`` it was registered with: signed out, 401; not allowed, 403. An update not
  registered with one is refused.

Sessions are Flask's signed cookies (itsdangerous, ``DELETON_SESSION_SECRET``): HttpOnly,
SameSite=Lax, Secure when the dashboard's public URL is https. Every form carries a token
kept in the session (no cross-site form can sign anyone in or out).
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import secrets
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from flask import Flask, Response, g, jsonify, redirect, render_template_string, request, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.urls import iri_to_uri
from werkzeug.wrappers import Response as WerkzeugResponse

from ..core.access import SCREEN_PAGE, Permission, Viewer, session_of, viewer_from
from ..errors import DeletonError
from .alb import HEADER, AlbIdentity
from .gate import WRONG, Gate
from .oidc import CALLBACK, OidcSignIn

log = logging.getLogger(__name__)

COOKIE = "deleton_session"
OPEN_PATHS = {"/healthz", "/_favicon.ico", "/favicon.ico", "/login", "/logout", CALLBACK}
OPEN_PREFIXES = ("/assets/", "/_dash-component-suites/", "/login/")
STATIC_PREFIXES = ("/assets/", "/_dash-component-suites/", "/_favicon.ico")  # no data in them
# a screen's page, SCREEN_PAGE, is under /screen/, which the load balancer lets through
# unauthenticated as it does the links, so a kiosk never meets the identity provider
SCREEN_LINK = "/screen"  # the links' page: /screen#<token>

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="robots" content="noindex">
  <title>Deleton live · {{ title }}</title>
  <link rel="stylesheet" href="/assets/deleton.css">
</head>
<body>
  <div class="app">
    <header class="topbar">
      <span class="brand"><span class="brand-name">DELETON</span><span>live</span></span>
    </header>
    <main class="page">
      <section class="card door" id="door">
        <h1>{{ title }}</h1>
        {% if message %}<div class="notice" id="door-message">{{ message }}</div>{% endif %}
        {% if form == "password" %}
        <form method="post" action="/login" id="signin-form">
          <input type="hidden" name="csrf" value="{{ csrf }}">
          <input type="hidden" name="next" value="{{ next }}">
          <label>Name <input name="name" autocomplete="username" required maxlength="64"
                             autofocus></label>
          <label>Password <input type="password" name="password" required maxlength="1024"
                                 autocomplete="current-password"></label>
          <button type="submit" id="signin-submit">Sign in</button>
        </form>
        {% elif form == "link" %}
        <form method="post" action="{{ action }}" id="link-form">
          <input type="hidden" name="csrf" value="{{ csrf }}">
          <button type="submit" id="link-submit">Sign in</button>
        </form>
        {% elif form == "screen" %}
        <form method="post" action="/screen" id="screen-form" data-open="{{ start }}">
          <input type="hidden" name="csrf" value="{{ csrf }}">
          <input type="hidden" name="token" id="screen-token" value="">
          <div id="screen-ask" hidden>
            <p id="screen-question">Open this screen?</p>
            <button type="submit" id="screen-open">Open the screen</button>
            <p class="caption door-note">Your browser did not say that this link was typed or
              opened from this dashboard: another site may have sent you here. Open the screen
              only if you meant to.</p>
          </div>
        </form>
        <noscript><p class="caption door-note">A screen needs JavaScript.</p></noscript>
        <script>
          (function () {
            // the token is the screen's credential: out of the address bar and the back list
            // before anything else (the History on disk is the kiosk recipe's to keep out),
            // then sent in a POST body, which no log keeps
            var token = location.hash.slice(1);
            history.replaceState(null, "", location.pathname);
            if (!token) { return; }
            var form = document.getElementById("screen-form");
            form.addEventListener("submit", function () {
              document.getElementById("screen-token").value = decodeURIComponent(token);
            });
            if (form.dataset.open === "now") {
              // typed, bookmarked, launched (the kiosk recipe) or from our own page: the
              // server saw no other site start this navigation
              form.requestSubmit();
              return;
            }
            // another site may have sent this link (login CSRF): a click decides. The screen
            // named is what the link says, unverified: the question, never a permission
            try {
              var part = token.split(".")[0].replace(/-/g, "+").replace(/_/g, "/");
              var claims = JSON.parse(atob(part + "===".slice((part.length + 3) % 4)));
              document.getElementById("screen-question").textContent =
                claims.k === "bike" ? "Open the screen of bike " + claims.t + "?"
                  : "Open the leaderboard screen" + (claims.t ? " " + claims.t : "") + "?";
            } catch (e) { /* not a link of ours: the plain question; the server decides */ }
            var notice = document.getElementById("door-message");  // "no link?": there is one
            if (notice) { notice.style.display = "none"; }
            document.getElementById("screen-ask").hidden = false;
          })();
        </script>
        {% endif %}
        {% if oidc %}
        <p><a class="door-button" id="signin-oidc"
              href="/login/oidc?next={{ next | urlencode }}">Sign in with your organisation's
              account</a></p>
        {% endif %}
        {% for line in notes %}<p class="caption door-note">{{ line }}</p>{% endfor %}
      </section>
    </main>
  </div>
</body>
</html>
"""

SIGN_IN_NOTES = (
    "Staff (gyms, coaches, support) see the fleet and every bike's ride.",
    "No password? An administrator can give you a one-time link: deleton login-link NAME.",
    "Riders need no account: a bike's own screen opens with its screen link.",
)


SCREEN_OPENING = (
    "This page opens a bike's screen from its link. No link? Ask for one:"
    " deleton screen-link SERIAL."
)
RETIRED_LINK = (
    "Links of this older form carried their token in the address, where logs keep it: every one"
    " of them has stopped working. Ask for a new link: deleton screen-link SERIAL."
)


def _page(title: str, status: int, message: str = "", **fields: Any) -> Response:
    fields.setdefault("notes", ())
    body = render_template_string(PAGE, title=title, message=message, **fields)
    reply = Response(body, status=status, mimetype="text/html")
    reply.headers["Cache-Control"] = "no-store"
    return reply


def _csrf() -> str:
    token = session.get("csrf")
    if not isinstance(token, str):
        token = session["csrf"] = secrets.token_urlsafe(24)
    return token


def csrf_token() -> str:
    """The form token of this session (made if it has none), for forms in Dash's layout."""
    return _csrf()


def _csrf_ok() -> bool:
    sent, kept = request.form.get("csrf", ""), session.get("csrf")
    return isinstance(kept, str) and hmac.compare_digest(sent.encode(), kept.encode())


def _local(target: str | None) -> str:
    """Where to go after signing in: a path of this site, else ``/``.

    Refused: a control character (browsers and Werkzeug drop tabs and newlines, so
    ``/<TAB>/host`` reaches the ``Location`` header as ``//host``, another site; CR and LF cannot
    go into a header at all), a backslash (browsers read it as ``/``), and anything with a
    scheme or a host, or that starts with ``//``."""
    if not target or len(target) > 2048 or "\\" in target:
        return "/"
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in target):
        return "/"
    if not target.startswith("/") or target.startswith("//"):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def _go(target: str | None, code: int) -> WerkzeugResponse:
    """A redirect to ``_local(target)``, checked once more as it will be sent: Werkzeug turns
    the location into a URI (``iri_to_uri``), and what comes out must still be one path of
    this site."""
    path = _local(target)
    sent = iri_to_uri(path)
    if not sent.startswith("/") or sent.startswith("//") or "\\" in sent:
        path = "/"
    return redirect(path, code)


def start_session(viewer: Viewer) -> None:
    """A new session for ``viewer``: nothing of any session before it is kept."""
    session.clear()
    session["viewer"] = session_of(viewer)
    session["csrf"] = secrets.token_urlsafe(24)
    session.permanent = True
    g.viewer = viewer


class SignedCookies(SecureCookieSessionInterface):
    """Flask's signed cookie sessions, that remember the cookies they have verified.

    A screen asks for an update every second with the same cookie, and checking its signature
    again each time was most of what the sign-in cost an update. A cookie seen before is taken
    from memory only while it is byte for byte the one verified, and only within the session's
    lifetime from when it was signed, as Flask would judge it."""

    KEPT = 4096
    _serializer: URLSafeTimedSerializer | None = None

    def __init__(self) -> None:
        self._verified: dict[str, tuple[dict[str, Any], float]] = {}

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        if self._serializer is None:  # Flask makes one per request; the secret never changes
            self._serializer = super().get_signing_serializer(app)
        return self._serializer

    def open_session(self, app: Flask, request: Any) -> SecureCookieSession | None:
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        value = request.cookies.get(self.get_cookie_name(app))
        if not value:
            return self.session_class()
        lifetime = app.permanent_session_lifetime.total_seconds()
        known = self._verified.get(value)
        if known is not None and time.time() - known[1] <= lifetime:
            # a copy of the top level, which is all the app and Authlib change: their values
            # are replaced whole (``start_session``), never changed in place
            return self.session_class(known[0])
        try:
            data, signed = serializer.loads(value, max_age=int(lifetime), return_timestamp=True)
        except BadSignature:
            return self.session_class()
        if len(self._verified) >= self.KEPT:
            self._verified.clear()  # a bound: those still in use are verified again
        self._verified[value] = (data, signed.timestamp())
        return self.session_class(data)


def install(
    server: Flask,
    gate: Gate,
    policies: Mapping[str, Permission],
    alb: AlbIdentity | None = None,
) -> None:
    """Puts the door in front of ``server`` (the Dash app's Flask server). ``policies``: the
    permission each update callback needs, by Dash's output key."""
    config = gate.config
    if config.proxy_hops:
        # behind the load balancer, the client's address is the one it appends last to
        # X-Forwarded-For (whatever came before is the client's to say); elsewhere the header
        # is anyone's to forge, and the connection's address is taken (Settings.proxy_hops)
        server.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            server.wsgi_app, x_for=config.proxy_hops
        )
    server.secret_key = gate.session_secret
    server.session_interface = SignedCookies()
    server.config.update(
        SESSION_COOKIE_NAME=COOKIE,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.secure_cookies,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(seconds=config.session_lifetime),
        # a person's sign-in lasts its lifetime from when it began, however busy; a screen's
        # cookie is signed again now and then below, so a kiosk stays in until revoked
        SESSION_REFRESH_EACH_REQUEST=False,
    )
    oidc = OidcSignIn(server, config, gate.wall) if config.oidc and alb is None else None
    # behind the load balancer it alone signs people in; without a pepper, no password can be
    # checked
    passwords_allowed = alb is None and gate.passwords

    def sign_in_page(message: str = "", status: int = 200) -> Response:
        if alb is not None:
            return _page(
                "Sign in",
                401,
                message or "Sign in through your organisation's sign-in page, then reload.",
            )
        return _page(
            "Sign in",
            status,
            message,
            form="password" if passwords_allowed else "",
            csrf=_csrf(),
            next=_local(request.args.get("next") or request.form.get("next")),
            oidc=oidc is not None,
            notes=SIGN_IN_NOTES,
        )

    @server.before_request
    def door() -> Any:
        path = request.path
        if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            return None
        if path == SCREEN_LINK:
            if request.method != "POST":
                return screen_opener()
            if (
                request.headers.get("Sec-Fetch-Site", "same-origin")
                not in (
                    "same-origin",
                    "none",
                )
                or not _csrf_ok()
            ):
                # another site's form would sign this browser into its screen (and out of a
                # person's session): only our own page posts here. Browsers leave
                # Sec-Fetch-Site out on plain http, so the form token decides; the session
                # cookie is SameSite, so another site's post carries none to match
                return _page("Not allowed", 403, "A screen link opens from its own page.")
            return _open_screen(request.form.get("token", "")[:1024])
        if path.startswith("/screen/") and path != SCREEN_PAGE:
            # links of the older form, /screen/<token>, whose tokens went into access logs: no
            # token of theirs verifies any more, and what was asked for is neither echoed nor
            # logged, nor does it change the session (another site can send a browser here)
            return _page("This link does not open a screen", 404, RETIRED_LINK)
        dash = path.startswith("/_")
        if alb is not None and not dash and HEADER in request.headers:
            # the header comes with every page load: who it names, and their role, is taken
            # afresh each time (a person taken out of the group loses their session)
            person = alb.viewer(request.headers[HEADER])
            current = viewer_now()
            if person is None:
                log.warning("a load balancer identity was refused (client %s)", request.remote_addr)
                if current is not None:
                    gate.end(current)
                session.clear()
                return _page("Not allowed", 403, "Your sign-in does not allow you to see riders.")
            if current is None or (current.name, current.role, current.via) != (
                person.name,
                person.role,
                person.via,
            ):
                try:
                    person = gate.start(person)
                except DeletonError:
                    return _page("Waiting for the database", 503, "Please reload in a moment.")
                if current is not None:
                    gate.end(current)
                start_session(person)
        viewer = viewer_now()
        if dash:
            if viewer is None:
                return jsonify(status=401, detail="sign in first"), 401
            if path == "/_dash-update-component":
                try:
                    # parsed once: Dash reads the same cached body (a silent read would not)
                    body = request.get_json()
                except HTTPException:
                    body = None
                key = body.get("output") if isinstance(body, dict) else None
                permission = policies.get(key) if isinstance(key, str) else None
                if permission is None or not _may(viewer, permission):
                    return jsonify(status=403, detail="not for this viewer"), 403
            return None
        if viewer is None:
            if _was_screen():
                return _screen_refused()  # a kiosk reloading: say why, not the sign-in page
            if alb is not None:
                return sign_in_page()
            return redirect(f"/login?next={quote(path)}")
        if not viewer.may_open(path):
            return _page("Not on this screen", 403, _elsewhere(viewer))
        return None

    def viewer_now() -> Viewer | None:
        viewer = gate.viewer(session)
        g.viewer = viewer
        if viewer is not None and viewer.screen is not None:
            _keep_screen_signed_in()
        return viewer

    def _keep_screen_signed_in() -> None:
        signed = session.get("signed", 0.0)
        if gate.wall() - signed > config.session_lifetime / 4:
            session["signed"] = gate.wall()  # modified: the cookie is signed again

    def screen_opener() -> Response:
        # Browsers say who started a navigation: "none" when typed, bookmarked or launched
        # from the command line (the kiosk recipe), "same-origin" from our own pages. Anything
        # else, or nothing (browsers send no Sec-Fetch-* to plain http origins other than
        # localhost), may be another site's link signing this browser into its screen (login
        # CSRF): the page asks for a click then. The two pages differ by that header alone
        fetched = request.headers.get("Sec-Fetch-Site")
        now = fetched in ("none", "same-origin")
        reply = _page(
            "Opening the screen" if now else "A screen link",
            200,
            SCREEN_OPENING,
            form="screen",
            start="now" if now else "ask",
            csrf=_csrf(),
        )
        reply.vary.add("Sec-Fetch-Site")  # and no-store: no cache serves one for the other
        return reply

    def _open_screen(token: str) -> Any:
        try:
            current = viewer_now()
            if current is not None and current.screen is None:
                # a person's session is theirs to end: a screen link does not end it silently
                # (a staff browser would lose its sign-in, a shared one would look signed out)
                return _page(
                    "Signed in",
                    409,
                    "You are signed in as a person. Sign out first, then open the screen link.",
                )
            viewer = gate.open_screen(token, request.remote_addr or "")
        except DeletonError:
            return _page("Waiting for the database", 503, "Please reload in a moment.")
        if viewer is None:
            if _was_screen():
                session.clear()  # a kiosk given a bad link: its old screen is not kept on
            return _screen_refused()
        start_session(viewer)
        session["signed"] = gate.wall()
        # the session carries the screen from here, and the address bar shows the screen's
        # page. The browser's history on disk may still hold the link it was opened at: the
        # kiosk recipe runs Chromium so that it keeps none (README, deploy/kiosk)
        return redirect(SCREEN_PAGE, 303)

    # on every answer: no other site may frame the dashboard (clickjacking of Sign out, or of
    # a kiosk), no type is guessed, no address of ours leaves in a Referer; and nothing with
    # data in it is kept by a browser or a proxy (Dash's scripts and the assets are the same for
    # everyone, and keep their own caching). Nothing else sets these: added, not looked up
    # first, as a screen asks every second (setdefault cost 10 us an answer, this 2)
    security = [
        ("X-Frame-Options", "DENY"),
        ("Content-Security-Policy", "frame-ancestors 'none'"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
    ]
    if config.secure_cookies:
        security.append(("Strict-Transport-Security", "max-age=31536000"))

    @server.after_request
    def headers(reply: Response) -> Response:
        reply.headers.extend(security)
        if not request.path.startswith(STATIC_PREFIXES):
            reply.headers["Cache-Control"] = "no-store"
        return reply

    @server.route("/login", methods=["GET", "POST"])
    def login() -> Any:
        if request.method == "GET":
            if gate.viewer(session) is not None and alb is None:
                return _go(request.args.get("next"), 302)
            return sign_in_page()
        if not passwords_allowed:
            return sign_in_page(status=405)
        if not _csrf_ok():
            return sign_in_page("The form had expired. Please try again.", 400)
        name = request.form.get("name", "").strip()[:64]
        password = request.form.get("password", "")[:1024]
        try:
            result = gate.sign_in_password(name, password, request.remote_addr or "")
        except DeletonError:
            return sign_in_page("Waiting for the database: please try again in a moment.", 503)
        if isinstance(result, str):
            return sign_in_page(result, 401 if result == WRONG else 429)
        start_session(result)
        return _go(request.form.get("next"), 303)

    @server.route("/login/<token>", methods=["GET", "POST"])
    def login_link(token: str) -> Any:
        if alb is not None:
            return sign_in_page()
        if request.method == "GET":
            # a click is asked for, so that a mail scanner or a link preview that fetches the
            # link does not use it up
            return _page(
                "Sign in",
                200,
                "This link signs you in once, within ten minutes of being made.",
                form="link",
                action=f"/login/{quote(token)}",
                csrf=_csrf(),
            )
        if not _csrf_ok():
            return _page("Sign in", 400, "The form had expired: open the link again.")
        try:
            viewer = gate.sign_in_link(token, request.remote_addr or "")
        except DeletonError:
            return _page("Sign in", 503, "Waiting for the database: open the link again soon.")
        if viewer is None:
            return _page(
                "This sign-in link does not work",
                401,
                "It has been used already, or its ten minutes are over, or it was never made."
                " Ask for a new one: deleton login-link NAME.",
            )
        start_session(viewer)
        return redirect("/", 303)

    @server.route("/logout", methods=["POST"])
    def logout() -> Any:
        if _csrf_ok():
            signed_in = viewer_from(session)
            if signed_in is not None:
                gate.end(signed_in)  # every copy of the cookie ends with it
            session.clear()
        return redirect("/login", 303)

    if oidc is not None:
        provider = oidc

        @server.route("/login/oidc")
        def login_oidc() -> Any:
            session["after"] = _local(request.args.get("next"))
            return provider.start()

        @server.route(CALLBACK)
        def oidc_callback() -> Any:
            after = _local(session.get("after"))
            result = provider.finish()
            if isinstance(result, str):
                log.warning("an identity provider sign-in from %s was refused", request.remote_addr)
                return _page("Not signed in", 403, result, notes=SIGN_IN_NOTES)
            try:
                person = gate.start(result)
            except DeletonError:
                return _page("Waiting for the database", 503, "Please sign in again soon.")
            start_session(person)
            return _go(after, 303)


def _was_screen() -> bool:
    """Whether this request's session held a screen (now revoked, or of an older secret)."""
    held = viewer_from(session)
    return held is not None and held.screen is not None


def _screen_refused() -> Response:
    return _page(
        "This screen link does not work",
        403,
        "It is not a screen link of this dashboard, or it has been revoked. Ask for a new one:"
        " deleton screen-link SERIAL.",
    )


def _may(viewer: Viewer, permission: Permission) -> bool:
    """The door's check; a ``BIKE`` update checks its serial itself, as only it knows it."""
    if permission is Permission.BIKE:
        return viewer.is_staff or viewer.bike is not None
    return viewer.allows(permission)


def _elsewhere(viewer: Viewer) -> str:
    if viewer.bike is not None:
        return f"This screen shows bike {viewer.bike} only."
    return "This screen shows the leaderboard only."


def viewer() -> Viewer | None:
    """The viewer of the request being served (set by the door)."""
    found: Viewer | None = g.get("viewer")
    return found
