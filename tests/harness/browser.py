"""Debian's Chromium as Playwright launches it, for the browser tests and the soak benchmark.

Never ``playwright install``: the browser is /usr/bin/chromium, installed by ``make test``.
"""

from __future__ import annotations

import os

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
