"""Session-wide real services for integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.broker import LocalBroker
from tests.harness.services import SmtpServer


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
