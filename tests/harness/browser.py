"""Debian's Chromium driven by Playwright, and the dashboard it looks at: fixtures for the
browser tests and the fault suite (one browser for the session, however many folders use it),
and the flags the soak benchmark launches it with.

Never ``playwright install``: the browser is /usr/bin/chromium, installed by ``make test``.
Screenshots go to ``build/screenshots`` (``DELETON_SCREENSHOTS``), kept as build artefacts.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

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


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
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
    yield seen
    context.close()


class Dashboard:
    """``deleton dashboard`` as a subprocess on a free loopback port."""

    def __init__(self, url: str, **settings: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = deleton(
            "dashboard",
            "--port",
            str(self.port),
            env=env_for(url, **settings),
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._answers, timeout=60, what="the dashboard to answer")

    def _answers(self) -> bool:
        assert self.process.poll() is None, "the dashboard exited"
        try:
            with urllib.request.urlopen(self.base + "/_dash-layout", timeout=2) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)
