"""The kiosk's launcher, deploy/kiosk/deleton-screen, with a stand-in browser: what it starts
the browser with, and what it refuses to start. (tests/e2e/test_signin.py runs it with the real
Chromium and searches what it leaves on disk.)"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "kiosk" / "deleton-screen"
LINK = "https://gym.example/screen#eyJrIjoiYmlrZSJ9.c2lnbmF0dXJlLW9mLXRoZS1saW5r"


def _filesystem(path: Path) -> str:
    return subprocess.run(
        ["stat", "-f", "-c", "%T", str(path)], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture
def runtime() -> Iterator[Path]:
    """A runtime folder in memory, as a session's /run/user/UID is."""
    with tempfile.TemporaryDirectory(dir="/dev/shm") as folder:
        yield Path(folder)


def launch(
    link_file: Path, runtime: Path | None, tmp_path: Path, *flags: str
) -> tuple[int, str, list[str]]:
    """Runs the launcher with a browser that writes down its arguments: its exit status, what it
    said on stderr, and the browser's arguments (none if it was not started)."""
    browser, said = tmp_path / "browser", tmp_path / "arguments"
    browser.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {said}\n')
    browser.chmod(0o755)
    env = {"PATH": os.environ["PATH"], "DELETON_CHROMIUM": str(browser)}
    if runtime is not None:
        env["XDG_RUNTIME_DIR"] = str(runtime)
    done = subprocess.run(
        [str(SCRIPT), str(link_file), *flags], env=env, capture_output=True, text=True, timeout=30
    )
    arguments = said.read_text().splitlines() if said.exists() else []
    return done.returncode, done.stderr, arguments


def link_in(tmp_path: Path, link: str) -> Path:
    path = tmp_path / "screen-link"
    path.write_text(link + "\n")
    return path


def test_it_opens_the_link_incognito_with_a_fresh_profile_in_memory(
    tmp_path: Path, runtime: Path
) -> None:
    stale = runtime / "deleton-screen" / "Default"
    stale.mkdir(parents=True)
    (stale / "History").write_text("an older profile")
    status, said, arguments = launch(
        link_in(tmp_path, LINK), runtime, tmp_path, "--ozone-platform=wayland"
    )
    assert (status, said) == (0, "")
    profile = runtime / "deleton-screen"
    assert arguments == [
        "--kiosk",
        "--incognito",
        f"--user-data-dir={profile}",
        "--no-first-run",
        "--noerrdialogs",
        "--disable-session-crashed-bubble",
        "--disable-sync",
        "--ozone-platform=wayland",
        LINK,
    ]
    assert list(profile.iterdir()) == []  # made afresh: nothing of the last run is kept
    assert profile.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize(
    "link",
    [
        "https://gym.example/screen/eyJrIjoiYmlrZSJ9.c2lnbmF0dXJlLW9mLXRoZS1saW5r",  # retired
        "https://gym.example/screen#",
        "",
    ],
)
def test_it_refuses_what_is_no_screen_link_and_never_prints_it(
    tmp_path: Path, runtime: Path, link: str
) -> None:
    status, said, arguments = launch(link_in(tmp_path, link), runtime, tmp_path)
    assert status == 1 and arguments == []
    assert "deleton screen-link SERIAL" in said and "c2lnbmF0dXJl" not in said


@pytest.mark.parametrize(
    ("link", "warned"),
    [
        ("http://192.168.1.20:8050/screen#eyJrIjoiYmlrZSJ9.c2lnbmF0dXJl", True),
        ("http://localhost.example/screen#eyJrIjoiYmlrZSJ9.c2lnbmF0dXJl", True),
        ("http://localhost:8050/screen#eyJrIjoiYmlrZSJ9.c2lnbmF0dXJl", False),
        ("http://127.0.0.1:8050/screen#eyJrIjoiYmlrZSJ9.c2lnbmF0dXJl", False),
        ("http://[::1]:8050/screen#eyJrIjoiYmlrZSJ9.c2lnbmF0dXJl", False),
    ],
)
def test_it_warns_that_plain_http_to_another_machine_asks_for_a_click(
    tmp_path: Path, runtime: Path, link: str, warned: bool
) -> None:
    # the browser sends no Sec-Fetch-Site there, so the dashboard shows its button (README)
    status, said, arguments = launch(link_in(tmp_path, link), runtime, tmp_path)
    assert status == 0 and arguments[-1] == link  # started all the same
    assert ("ask for a click" in said) is warned and "c2lnbmF0dXJl" not in said


def test_it_refuses_a_profile_on_disk(tmp_path: Path) -> None:
    build = ROOT / "build"  # in the clone, on disk
    build.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=build) as folder:
        on_disk = Path(folder)
        assert _filesystem(on_disk) not in ("tmpfs", "ramfs")  # the premise
        status, said, arguments = launch(link_in(tmp_path, LINK), on_disk, tmp_path)
        assert status == 1 and arguments == [] and "not in memory" in said
        assert list(on_disk.iterdir()) == []  # no profile was made there
    status, said, arguments = launch(link_in(tmp_path, LINK), None, tmp_path)
    assert status == 1 and arguments == [] and "XDG_RUNTIME_DIR" in said
