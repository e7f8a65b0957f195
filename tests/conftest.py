"""Shared test fixtures. Services are started here, on loopback, only for tests that ask."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DELETON_SHARED", ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def sample_lines() -> list[str]:
    return (SHARED / "samples" / "real_deloton_lines.txt").read_text().splitlines()
