"""The fault suite's own services, which its tests stop and start, and the table it prints.

Each scenario runs ``deleton ingest`` (and the dashboard) as real processes against a real
Kafka broker, PostgreSQL and SMTP server, breaks something, and compares what was stored with
what the pure tracker says an uninterrupted run must store. Each adds a row to the table
printed at the end of the run (and written to ``build/faults.md``): what was done, how many
messages, how many rows lost and duplicated, dead letters expected and found, and crashes.

``DELETON_FAULTS_SCALE`` multiplies the sizes (``make soak`` runs it larger). The table is
``tests/harness/findings.py``'s.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from deleton.postgres import schema
from tests.harness.broker import LocalBroker
from tests.harness.expected import INGEST_SETTINGS
from tests.harness.findings import FINDINGS, SCALE, Finding
from tests.harness.postgres import ControlledPostgres, embedded
from tests.harness.services import SmtpServer, deleton, env_for, rows, wait_for

__all__ = ["FINDINGS", "SCALE", "Finding"]


@pytest.fixture(scope="session")
def pg() -> Iterator[ControlledPostgres]:
    """A PostgreSQL of the fault suite's own, which its tests stop hard and start again."""
    with embedded("faults-pg") as server:
        yield server


@pytest.fixture
def fdb(pg: ControlledPostgres) -> str:
    """The fault suite's database, both schemas freshly reset."""
    with psycopg.connect(pg.url, autocommit=True) as conn:
        schema.reset(conn)
    return pg.url


@pytest.fixture(scope="session")
def broker(kafka: LocalBroker) -> LocalBroker:
    """The session's broker, which these tests stop and start again: each test's topics are
    its own, and the broker is back before the test ends."""
    return kafka


@pytest.fixture
def mail(smtp: SmtpServer) -> SmtpServer:
    return smtp


class Members:
    """``deleton ingest`` group members, started, killed and stopped as a test says; counts
    the ones that died on their own (crashes) and how long a SIGTERM took."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.processes: list[subprocess.Popen[bytes]] = []
        self.killed: set[int] = set()

    def start(self, count: int = 1) -> list[subprocess.Popen[bytes]]:
        started = [deleton("ingest", env=self.env, stderr=subprocess.DEVNULL) for _ in range(count)]
        self.processes += started
        return started

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        process.kill()
        process.wait()
        self.killed.add(process.pid)

    def crashes(self) -> int:
        """Members that exited without being killed or stopped: there must be none."""
        return sum(1 for p in self.processes if p.poll() is not None and p.pid not in self.killed)

    def stop(self) -> list[int | None]:
        """SIGTERM every member still running; their exit codes (None: it did not stop)."""
        codes: list[int | None] = []
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    codes.append(process.wait(timeout=20))
                except subprocess.TimeoutExpired:
                    process.kill()
                    codes.append(None)
                self.killed.add(process.pid)
        return codes


@pytest.fixture
def members() -> Iterator[Any]:
    made: list[Members] = []

    def make(env: dict[str, str]) -> Members:
        made.append(Members(env))
        return made[-1]

    yield make
    for group in made:
        for process in group.processes:
            if process.poll() is None:
                process.kill()


def ingest_env(
    url: str, broker: LocalBroker, topic: str, group: str | None = None, **extra: str
) -> dict[str, str]:
    """The environment of an ingest member of the fault suite, for ``topic``, in consumer
    group ``faults-{group}`` (by default, the topic's name)."""
    return env_for(
        url,
        kafka_bootstrap_servers=broker.bootstrap,
        kafka_topic=topic,
        kafka_group_id=f"faults-{group or topic}",
        log_level="WARNING",
        db_connect_timeout="2",
        **{**INGEST_SETTINGS, **extra},
    )


def progress(url: str, source: str) -> int:
    """Messages stored so far from ``source``, across its partitions."""
    found = rows(
        url,
        "SELECT coalesce(sum(next_position), 0) FROM daily.source_position WHERE source = %s",
        [source],
    )
    return int(found[0][0])


def wait_progress(url: str, source: str, share: float, total: int) -> None:
    wait_for(
        lambda: progress(url, source) >= share * total, timeout=120, what=f"{share:.0%} stored"
    )
