"""What the Kafka adapter is configured with: the brokers, the topic, the consumer group and
how to reach them. ``settings`` maps the environment onto it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr


@dataclass(frozen=True)
class KafkaConfig:
    bootstrap_servers: str
    topic: str
    group_id: str
    security_protocol: str
    sasl_username: str | None
    sasl_password: SecretStr | None
    ssl_ca_location: Path | None = None  # a CA bundle, for brokers signed by a private CA
    # seconds without a heartbeat before the group gives a member's partitions to the others
    session_timeout: float = 10.0

    def client_config(self) -> dict[str, str]:
        """librdkafka settings common to consumers and producers."""
        conf = {"bootstrap.servers": self.bootstrap_servers}
        if self.security_protocol != "PLAINTEXT":
            conf["security.protocol"] = self.security_protocol
        if self.ssl_ca_location is not None:
            conf["ssl.ca.location"] = str(self.ssl_ca_location)
        if self.sasl_username is not None:
            conf["sasl.mechanisms"] = "PLAIN"
            conf["sasl.username"] = self.sasl_username
            conf["sasl.password"] = (
                self.sasl_password.get_secret_value() if self.sasl_password else ""
            )
        return conf
