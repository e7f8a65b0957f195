"""A bike's kiosk for tests: the real Chromium, started from the outside as a kiosk starts it
(a process, not Playwright's browser), watched through its DevTools port, stopped as a
kiosk's shutdown stops it (SIGTERM, and it closes cleanly), and the files it left searched for
a secret."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from tests.harness.browser import CHROMIUM, ROOT
from tests.harness.services import wait_for

SCRIPT = ROOT / "deploy" / "kiosk" / "deleton-screen"
# what a test adds to a kiosk's own flags: there is no display, root needs no sandbox, and the
# DevTools port is how the test sees the page (Chromium writes its number, and nothing else,
# into the profile)
HEADLESS = ("--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-port=0")
STOP_SECONDS = 30  # a clean shutdown's; systemd waits 90 before it kills


def _shows(profile: Path, address: str) -> bool:
    try:
        port = (profile / "DevToolsActivePort").read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as reply:
            return any(target.get("url") == address for target in json.load(reply))
    except (OSError, IndexError, ValueError):
        return False


@contextlib.contextmanager
def running(
    command: Sequence[str], env: dict[str, str], profile: Path, address: str
) -> Iterator[None]:
    """Runs the browser ``command`` (whose profile is ``profile``) and enters once its page is
    at ``address``; on leaving, stops it with SIGTERM and waits for it to exit, as a kiosk's
    shutdown does. Fails, with the end of what it said, if either takes too long."""
    with tempfile.TemporaryFile() as said:
        process = subprocess.Popen(
            command,
            env=env,
            stdout=said,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its renderers and helpers in a group of its own
        )

        def tail() -> str:
            said.seek(0)
            return said.read().decode(errors="replace")[-3000:]

        try:
            wait_for(
                lambda: process.poll() is not None or _shows(profile, address),
                timeout=60,
                what=f"the kiosk to show {address}",
            )
            assert process.poll() is None, f"the kiosk exited ({process.returncode}): {tail()}"
            yield
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"the kiosk did not stop on SIGTERM: {tail()}") from None
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # whatever of this browser is left
            process.wait()


def files_holding(secret: str, places: Iterable[Path]) -> list[str]:
    """The files under ``places`` whose bytes hold ``secret``, or its last 32 characters (the
    signature's end: a copy cut short or stored with another prefix is found too)."""
    needles = (secret.encode(), secret[-32:].encode())
    found = []
    for place in places:
        for path in sorted(place.rglob("*")):
            if path.is_file() and not path.is_symlink():
                data = path.read_bytes()
                if any(needle in data for needle in needles):
                    found.append(str(path.relative_to(place)))
    return found


def chromium_env(home: Path, **more: str) -> dict[str, str]:
    """An environment whose home and temporary folder are ``home``'s (on disk, searched
    after), so that whatever Chromium writes outside its profile is found too."""
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    keep = {key: os.environ[key] for key in ("PATH", "LANG") if key in os.environ}
    return {**keep, "HOME": str(home), "TMPDIR": str(home / "tmp"), "DELETON_CHROMIUM": CHROMIUM,
            **more}  # fmt: skip
