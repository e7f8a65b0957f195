"""Shared test fixtures. Services are started here, on loopback, only for tests that ask.

Everything the suite reads is inside the repository: real wire lines are in ``tests/data``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from deleton.postgres import schema
from tests.harness.broker import LocalBroker
from tests.harness.postgres import ControlledPostgres, embedded
from tests.harness.services import SmtpServer

# the browser fixtures, for tests/e2e and tests/faults alike: one browser per session; the
# sign-in tests' seeded database, shared by tests/integration and tests/e2e; and the fault
# suite's table, printed by the process that reports (the xdist controller too); and the order
# that runs the known-slow tests first (tests/slowest.txt)
pytest_plugins = [
    "tests.harness.browser",
    "tests.harness.signin",
    "tests.harness.findings",
    "tests.harness.slowest",
]

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
# tests are marked by the folder they live in: what they need says where they go
FOLDER_MARKS = {
    "integration": pytest.mark.integration,
    "e2e": pytest.mark.e2e,
    "faults": pytest.mark.faults,
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        folder = Path(item.path).relative_to(ROOT / "tests").parts[0]
        if folder in FOLDER_MARKS:
            item.add_marker(FOLDER_MARKS[folder])


@pytest.fixture(scope="session")
def sample_lines() -> list[str]:
    """The 279 real lines of the production topic, as the bikes wrote them."""
    return (DATA / "real_deloton_lines.txt").read_text().splitlines()


@pytest.fixture(scope="session")
def postgres() -> Iterator[ControlledPostgres]:
    """A real PostgreSQL 18 (embedded), for the session (one per xdist worker)."""
    with embedded("pg") as server:
        yield server


@pytest.fixture(scope="session")
def pg_url(postgres: ControlledPostgres) -> str:
    return postgres.url


@pytest.fixture
def db(pg_url: str) -> str:
    """The database with both schemas freshly reset."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        schema.reset(conn)
    return pg_url


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """A real Apache Kafka 4 broker in KRaft mode, for the session (one per xdist worker).
    The fault tests stop and start it again mid-test; it is back, on the same ports and with
    the same topics, before any such test ends."""
    with LocalBroker(Path(tmp_path_factory.mktemp("kafka"))) as broker:
        yield broker


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()
