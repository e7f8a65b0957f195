"""Session-wide real services for integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from deleton import schema
from deleton.broker import LocalBroker
from deleton.database import embedded_url
from tests.services import SmtpServer


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.path):
            item.add_marker(pytest.mark.integration)


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


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """A real Apache Kafka 4 broker in KRaft mode, for the session."""
    with LocalBroker(Path(tmp_path_factory.mktemp("kafka"))) as broker:
        yield broker


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()
