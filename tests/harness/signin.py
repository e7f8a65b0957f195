"""Signing in to the dashboard over plain HTTP (urllib with a cookie jar), for tests that need
a signed-in session without a browser."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any


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
