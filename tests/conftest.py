"""Shared test fixtures. Services are started here, on loopback, only for tests that ask."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest

from deleton import schema
from deleton.database import embedded_url

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DELETON_SHARED", ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def sample_lines() -> list[str]:
    return (SHARED / "samples" / "real_deloton_lines.txt").read_text().splitlines()


@pytest.fixture(scope="session")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real PostgreSQL 18 (embedded), for the session."""
    return embedded_url(tmp_path_factory.mktemp("pg"))


@pytest.fixture
def db(pg_url: str) -> str:
    """The database with both schemas freshly reset."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        schema.reset(conn)
    return pg_url
