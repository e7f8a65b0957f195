"""Real services on loopback for tests: an SMTP server (aiosmtpd), PostgreSQL helpers, and the
``deleton`` command as a subprocess. Helpers here wait for conditions by polling with a
deadline rather than sleeping a guess. (The Kafka broker is in ``broker``.)
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from aiosmtpd.controller import Controller

T = TypeVar("T")
SESSION_TIMEOUT = "3"  # seconds: DELETON_KAFKA_SESSION_TIMEOUT of every deleton under test


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(
    condition: Callable[[], T], timeout: float = 60.0, interval: float = 0.1, what: str = ""
) -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        time.sleep(interval)


class Mailbox:
    """Collects what an aiosmtpd server receives; refuses (550) the recipients in ``refuse``,
    as a server does for addresses it does not know."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse: set[str] = set()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 Message accepted for delivery"


class SmtpServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.mailbox = Mailbox()
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def restart(self) -> None:
        """Start again on the same port with the same mailbox, after ``stop`` (a controller
        cannot be started twice)."""
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    @property
    def messages(self) -> list[EmailMessage]:
        return self.mailbox.messages


def env_for(url: str, **settings: str) -> dict[str, str]:
    """The environment of a ``deleton`` subprocess with these ``DELETON_*`` settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DELETON_")}
    env["DELETON_DATABASE_URL"] = url
    env["DELETON_HOME"] = str(Path(url.split("host=")[-1]).parent / "home")
    env["DELETON_METRICS_HOST"] = "127.0.0.1"  # tests listen on loopback only
    env["DELETON_DASHBOARD_PORT"] = str(free_port())  # never a port something else holds
    env["DELETON_API_PORT"] = str(free_port())
    # a SIGKILLed group member is waited out for this long before its partitions move on:
    # short, on the tests' brokers, which allow it (broker.py)
    env["DELETON_KAFKA_SESSION_TIMEOUT"] = SESSION_TIMEOUT
    for name, value in settings.items():
        env[f"DELETON_{name.upper()}"] = value
    if "DELETON_KAFKA_LIBS" in os.environ:
        env["DELETON_KAFKA_LIBS"] = os.environ["DELETON_KAFKA_LIBS"]
    return env


DELETON = (sys.executable, "-m", "deleton.cli")  # the installed console script's module


def deleton(*args: str, env: dict[str, str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """Start ``deleton ARGS`` as a subprocess."""
    return subprocess.Popen([*DELETON, *args], env=env, **kwargs)


def run_deleton(
    *args: str, env: dict[str, str], timeout: float = 120, **kwargs: Any
) -> subprocess.CompletedProcess[bytes]:
    """Run ``deleton ARGS`` to its end, its output captured unless told otherwise."""
    kwargs.setdefault("capture_output", "stdout" not in kwargs)
    return subprocess.run([*DELETON, *args], env=env, timeout=timeout, **kwargs)


def rows(url: str, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def execute(url: str, query: str, params: Any = None) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(query, params)


def scalar(url: str, query: str, params: Any = None) -> Any:
    return rows(url, query, params)[0][0]


def value(conn: psycopg.Connection[Any], query: str, params: Any = None) -> Any:
    """The one value ``query`` returns on an open connection."""
    row = conn.execute(query, params).fetchone()
    assert row is not None, query
    return row[0]


def iterate_topic(bootstrap: str, topic: str, count: int, timeout: float = 60) -> Iterator[Any]:
    """Every message of ``topic`` from the beginning, until ``count`` have been read."""
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{topic}-{time.monotonic_ns()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    seen = 0
    deadline = time.monotonic() + timeout
    try:
        while seen < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"read {seen} of {count} messages from {topic}")
            for message in consumer.consume(10_000, timeout=0.5):
                if message.error() is None:
                    seen += 1
                    yield message
    finally:
        consumer.close()
