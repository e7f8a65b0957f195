"""Debian's Chromium driven by Playwright, and the dashboard it looks at: fixtures for the
browser tests and the fault suite (one browser for the session, however many folders use it),
and the flags the soak benchmark launches it with.

The dashboard lets no one in unsigned: ``watched`` pages come signed in as the staff account
``STAFF``, whose sign-in (by a one-time link, in the browser) happens once per session and
whose cookie every test reuses. Every dashboard a test starts signs sessions with the same
``SESSION_SECRET`` and finds the account in its database (``ensure_staff``).

Never ``playwright install``: the browser is /usr/bin/chromium, installed by ``make test``.
Screenshots go to ``build/screenshots`` (``DELETON_SCREENSHOTS``), kept as build artefacts.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import psycopg
import pytest
from dash import Dash
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from playwright.sync_api import Browser, ConsoleMessage, Page, StorageState, sync_playwright
from psycopg_pool import ConnectionPool

from deleton.core.access import STAFF as STAFF_ROLE
from deleton.core.access import token_digest
from deleton.credentials.tokens import random_token
from deleton.dashboard import app as dashboard_app
from deleton.dashboard import views
from deleton.dashboard.gate import Gate
from deleton.postgres import accounts, schema
from deleton.postgres.connection import Connect
from deleton.settings import Settings
from tests.harness.services import deleton, env_for, free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("DELETON_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(os.environ.get("DELETON_SCREENSHOTS", ROOT / "build" / "screenshots"))

# what every dashboard under test signs with, and the account the browser is signed in as
SESSION_SECRET = "test-session-secret-" + "s" * 32
SCREEN_SECRET = "test-screen-secret-" + "k" * 32
PASSWORD_PEPPER = "test-password-pepper-" + "p" * 32
STAFF = "e2e-staff"
SECRETS = {
    "session_secret": SESSION_SECRET,
    "screen_secret": SCREEN_SECRET,
    "password_pepper": PASSWORD_PEPPER,
}


_staff_session: list[str] = []  # the id of the browser's staff session, once signed in


def ensure_staff(url: str) -> None:
    """The staff account the browser is signed in as, and its session, in the database at
    ``url`` (migrated): sessions are kept in the database, and the browser's one session is
    used on the dashboards of several, so every database a dashboard under test reads needs
    them."""
    with psycopg.connect(url, autocommit=True) as conn:
        accounts.add_account(conn, STAFF, STAFF_ROLE, None)
        for session in _staff_session:
            conn.execute(
                """INSERT INTO keeper.dashboard_session
                       (digest, name, role, via, account_key, expires_at)
                   SELECT %s, name, role, 'link', session_key, now() + interval '1 day'
                   FROM keeper.account WHERE name = %s
                   ON CONFLICT (digest) DO UPDATE SET account_key = excluded.account_key""",
                [token_digest(session), STAFF],
            )


def session_data(cookie: str) -> dict[str, Any]:
    """What a dashboard session cookie signed with ``SESSION_SECRET`` holds."""
    app = Flask("cookie-reader")
    app.secret_key = SESSION_SECRET
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    assert serializer is not None
    data: dict[str, Any] = serializer.loads(cookie)
    return data


def gate_over(connect: Connect, **settings: Any) -> Gate:
    """The door of a dashboard made in a test's own process, with the tests' secrets."""
    config = Settings(**SECRETS, **settings).access()  # type: ignore[arg-type]
    secrets = (SESSION_SECRET.encode(), SCREEN_SECRET.encode())
    return Gate(config, *secrets, connect, PASSWORD_PEPPER.encode())


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def serving(app: Dash) -> Iterator[str]:
    """``app`` served by waitress on a free loopback port, in this process; its base URL."""
    stop = threading.Event()
    port = free_port()
    thread = threading.Thread(target=dashboard_app.serve, args=(app, "127.0.0.1", port, stop))
    thread.start()
    wait_for(lambda: _listening(port), timeout=30, what="the dashboard to listen")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        thread.join(timeout=10)


def sign_in_by_link(page: Page, base: str, token: str) -> None:
    """Opens a one-time link and confirms it, as a person would."""
    page.goto(f"{base}/login/{token}")
    page.locator("#link-submit").click()
    page.wait_for_url(lambda url: "/login" not in url, timeout=15_000)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


@dataclass
class Watched:
    """A page, with what its console complained about and every body the server sent it."""

    page: Page
    errors: list[str] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture(scope="session")
def staff_state(browser: Browser, pg_url: str) -> StorageState:
    """The browser's cookies once the staff account has signed in, by a one-time link, on a
    dashboard of this session's database: once per session, reused by every test."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        schema.init(conn)
        accounts.add_account(conn, STAFF, STAFF_ROLE, None)
        token = random_token()
        accounts.add_login_link(conn, STAFF, token_digest(token), 600)
    with ConnectionPool(pg_url, min_size=1, kwargs={"autocommit": True}) as pool:
        data = views.DashboardData.over(pool.connection, 3600 * 10**6)
        app = dashboard_app.create_app(data, gate_over(pool.connection))
        with serving(app) as base:
            context = browser.new_context()
            try:
                sign_in_by_link(context.new_page(), base, token)
                state = context.storage_state()
            finally:
                context.close()
    (cookie,) = [c for c in state["cookies"] if c["name"] == "deleton_session"]
    _staff_session[:] = [session_data(cookie["value"])["viewer"]["sid"]]
    return state


def watch(browser: Browser, state: StorageState | None = None) -> tuple[Watched, Any]:
    """A new page (signed out, or with ``state``'s cookies) and what it saw; close its
    context (the second value) when done."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, storage_state=state)
    page = context.new_page()
    seen = Watched(page)

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            seen.errors.append(message.text)

    def response(reply: Any) -> None:
        kind = reply.headers.get("content-type", "")
        if "text" in kind or "json" in kind:
            # a navigation can discard a body before it is read
            with contextlib.suppress(Exception):
                seen.bodies.append(reply.text())

    page.on("console", console)
    page.on("pageerror", lambda error: seen.errors.append(str(error)))
    page.on("response", response)
    return seen, context


@pytest.fixture
def watched(browser: Browser, staff_state: StorageState) -> Iterator[Watched]:
    """A page signed in as staff."""
    seen, context = watch(browser, staff_state)
    yield seen
    context.close()


class Dashboard:
    """``deleton dashboard`` as a subprocess on a free loopback port, with the tests' secrets
    and the staff account the browser is signed in as."""

    def __init__(self, url: str, **settings: str) -> None:
        ensure_staff(url)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = deleton(
            "dashboard",
            "--port",
            str(self.port),
            env=env_for(url, **{**SECRETS, "public_url": self.base, **settings}),
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._answers, timeout=60, what="the dashboard to answer")

    def _answers(self) -> bool:
        assert self.process.poll() is None, "the dashboard exited"
        try:
            with urllib.request.urlopen(self.base + "/healthz", timeout=2) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)


def steady_growth(heaps: Sequence[float], per_window: float) -> bool:
    """Whether a page's heap, measured after a forced GC at the ends of equal windows of its
    updates, grew by more than ``per_window`` in every window: a leak grows at each. A one-off
    jump (a backlog of updates in flight on a loaded machine, a cache filling once) grows in
    one window, not in all, and is no leak."""
    return all(later - before > per_window for before, later in pairwise(heaps))
