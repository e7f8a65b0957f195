"""A real single-node Apache Kafka 4 broker in KRaft mode, for tests and benchmarks.

No Docker here: the broker's jars come from Maven Central (``kafka/pom.xml``, fetched by
``make kafka-jars`` into ``DELETON_KAFKA_LIBS``) and run on the machine's Java 17. It listens on
a free loopback port and keeps its log in a folder the caller owns.

Beside its PLAINTEXT listener it has a SASL/PLAIN one (``sasl_bootstrap``) whose users are
``SASL_USERS``, and the KRaft ``StandardAuthorizer``, so that tests can refuse a password, a
topic or a group (``AdminClient.create_acls``) on the same JVM. Every other test is
unaffected: a resource without ACLs is open to all, and the PLAINTEXT and CONTROLLER
listeners' principal (``User:ANONYMOUS``) is a super user.
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path
from types import TracebackType

from tests.harness.services import free_port

log = logging.getLogger(__name__)

DEFAULT_LIBS = Path("~/.cache/deleton/kafka-libs").expanduser()
# SASL/PLAIN users of the second listener, and their passwords
SASL_USERS = {"rider": "pedal-secret-4711", "walled": "walled-secret-0815"}


def kafka_libs() -> Path:
    libs = Path(os.environ.get("DELETON_KAFKA_LIBS", DEFAULT_LIBS)).expanduser()
    if not any(libs.glob("kafka_2.13-*.jar")):
        raise FileNotFoundError(f"no Kafka jars in {libs}: run 'make kafka-jars'")
    return libs


class LocalBroker:
    """Start with ``with LocalBroker(folder) as broker:``; ``broker.bootstrap`` is its address."""

    def __init__(self, folder: Path, libs: Path | None = None, heap: str = "768m") -> None:
        self.folder = folder
        self.libs = libs or kafka_libs()
        self.heap = heap
        self.port = free_port()
        self.controller_port = free_port()
        self.sasl_port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.sasl_bootstrap = f"127.0.0.1:{self.sasl_port}"
        self.process: subprocess.Popen[bytes] | None = None

    def _write_config(self) -> Path:
        data = self.folder / "data"
        config = self.folder / "server.properties"
        config.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},"
                    f"CONTROLLER://127.0.0.1:{self.controller_port},"
                    f"SASL_PLAINTEXT://127.0.0.1:{self.sasl_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port},"
                    f"SASL_PLAINTEXT://127.0.0.1:{self.sasl_port}",
                    "controller.listener.names=CONTROLLER",
                    "inter.broker.listener.name=PLAINTEXT",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,"
                    "SASL_PLAINTEXT:SASL_PLAINTEXT",
                    "listener.name.sasl_plaintext.sasl.enabled.mechanisms=PLAIN",
                    "listener.name.sasl_plaintext.plain.sasl.jaas.config="
                    "org.apache.kafka.common.security.plain.PlainLoginModule required "
                    + " ".join(f'user_{user}="{secret}"' for user, secret in SASL_USERS.items())
                    + ";",
                    "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                    "allow.everyone.if.no.acl.found=true",
                    # the PLAINTEXT and CONTROLLER listeners' principal: the broker itself,
                    # the controller, and every test that does not sign in
                    "super.users=User:ANONYMOUS",
                    f"log.dirs={data}",
                    "num.partitions=1",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=4",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    # members of the tests may ask for short sessions (SESSION_TIMEOUT), so
                    # that a SIGKILLed one's partitions move on within seconds
                    "group.min.session.timeout.ms=1000",
                    "auto.create.topics.enable=true",
                    "log.segment.bytes=268435456",
                    # room for the fault tests' 1 MB values
                    "message.max.bytes=2097152",
                    "replica.fetch.max.bytes=2097152",
                    # simulated messages may carry old timestamps: never expire them mid-test
                    "log.retention.ms=-1",
                ]
            )
            + "\n"
        )
        return config

    def _java(self, *args: str) -> list[str]:
        java = shutil.which("java") or "java"
        return [
            java,
            f"-Xmx{self.heap}",
            "-Xms256m",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            "-Dlog4j2.level=WARN",
            "-cp",
            f"{self.libs}/*",
            *args,
        ]

    def start(self, timeout: float = 60.0) -> LocalBroker:
        """Start the broker; its storage is formatted the first time only, so a broker stopped
        and started again keeps its topics and messages, on the same ports."""
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self._write_config()
        if not (self.folder / "data" / "meta.properties").exists():
            cluster = "-"
            while cluster.startswith("-"):  # the tool would read a leading dash as an option
                cluster = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            subprocess.run(
                self._java("kafka.tools.StorageTool", "format", "-t", cluster, "-c", str(config)),
                check=True,
                capture_output=True,
            )
        self._log = (self.folder / "broker.log").open("ab")
        self.process = subprocess.Popen(
            self._java("kafka.Kafka", str(config)),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_ready(timeout)
        log.info("Kafka broker ready on %s", self.bootstrap)
        return self

    def _wait_ready(self, timeout: float) -> None:
        from confluent_kafka.admin import AdminClient

        deadline = time.monotonic() + timeout
        while (
            time.monotonic() < deadline
        ):  # the port first, so librdkafka has nothing to moan about
            assert self.process is not None
            if self.process.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"Kafka broker exited: {(self.folder / 'broker.log').read_text()[-3000:]}"
                )
            try:
                metadata = admin.list_topics(timeout=1)
                if metadata.brokers:
                    return
            except Exception:  # the broker is still starting
                pass
            time.sleep(0.2)
        raise TimeoutError(f"Kafka broker not ready on {self.bootstrap} after {timeout} s")

    def create_topic(
        self, name: str, partitions: int, config: dict[str, str] | None = None
    ) -> None:
        """A topic of ``partitions`` with ``config`` (topic settings), once it is usable."""
        from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        wanted = NewTopic(name, partitions, 1, config=config or {})
        futures = admin.create_topics([wanted], operation_timeout=30)
        futures[name].result(timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            topic = admin.list_topics(name, timeout=5).topics.get(name)
            if topic and topic.error is None and len(topic.partitions) == partitions:
                return
            time.sleep(0.1)
        raise TimeoutError(f"topic {name} did not appear")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
