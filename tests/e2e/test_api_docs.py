"""The API's documentation page in a real browser: Swagger UI, served by the API itself from a
pinned package, renders the API under the page's Content-Security-Policy, and the browser
fetches nothing from anywhere else."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import Browser
from pydantic import SecretStr

from deleton.api.app import create_app
from deleton.api.command import UVICORN
from deleton.api.data import ApiData
from tests.harness.browser import SCREENSHOTS
from tests.harness.services import free_port, wait_for


def _unset() -> Any:
    raise AssertionError("the documentation page needs no database")


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    data = ApiData.over(_unset, SecretStr("k" * 32), "Europe/London", 5_000_000)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(data), host="127.0.0.1", port=port,
                                           lifespan="off", **UVICORN))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=30, what="uvicorn to listen")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(30)


def test_the_documentation_renders_from_the_apis_own_files_under_its_policy(
    browser: Browser, api: str
) -> None:
    page = browser.new_page()
    asked: list[str] = []
    complaints: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    page.on("console", lambda message: complaints.append(message.text)
            if message.type == "error" else None)  # fmt: skip
    page.on("pageerror", lambda error: complaints.append(str(error)))
    try:
        reply = page.goto(f"{api}/docs")
        assert reply is not None and reply.ok
        assert "script-src 'self'" in reply.headers["content-security-policy"]
        # Swagger UI ran (its inline start, allowed by hash), read the document, drew the routes
        page.get_by_text("/rider/{user_id}").first.wait_for(timeout=30_000)
        page.get_by_role("button", name="Authorize").wait_for(timeout=30_000)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "api-docs.png"), full_page=False)
    finally:
        page.close()
    foreign = [url for url in asked if not url.startswith(api) and not url.startswith("data:")]
    assert foreign == []
    assert not [c for c in complaints if "Content Security Policy" in c], complaints
