"""The one settings object: environment variables ``DELETON_*`` (and an optional ``.env``).

Built once at the entry point; each adapter receives only its own part (``database()``,
``kafka()``, ``mail()``...). Secrets are ``SecretStr`` so they never print or log.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import ConfigError


@dataclass(frozen=True)
class DatabaseConfig:
    """Where PostgreSQL is: a URL, or ``None`` for the embedded server kept under ``home``."""

    url: SecretStr | None
    home: Path


@dataclass(frozen=True)
class KafkaConfig:
    bootstrap_servers: str
    topic: str
    group_id: str
    security_protocol: str
    sasl_username: str | None
    sasl_password: SecretStr | None

    def client_config(self) -> dict[str, str]:
        """librdkafka settings common to consumers and producers."""
        conf = {"bootstrap.servers": self.bootstrap_servers}
        if self.security_protocol != "PLAINTEXT":
            conf["security.protocol"] = self.security_protocol
        if self.sasl_username is not None:
            conf["sasl.mechanisms"] = "PLAIN"
            conf["sasl.username"] = self.sasl_username
            conf["sasl.password"] = (
                self.sasl_password.get_secret_value() if self.sasl_password else ""
            )
        return conf


@dataclass(frozen=True)
class MailConfig:
    backend: Literal["smtp", "ses", "folder"]
    sender: str
    smtp_host: str
    smtp_port: int
    smtp_user: str | None
    smtp_password: SecretStr | None
    smtp_tls: Literal["none", "starttls", "ssl"]
    aws_region: str


@dataclass(frozen=True)
class DashboardConfig:
    host: str
    port: int
    idle_timeout_us: int  # a bike silent for longer is shown as idle


class Settings(BaseSettings):
    """Every setting of the platform; see the README for what each one does."""

    model_config = SettingsConfigDict(
        env_prefix="DELETON_", env_file=".env", extra="ignore", validate_default=True
    )

    database_url: SecretStr | None = None
    home: Path = Path("~/.local/share/deleton")

    kafka_bootstrap_servers: str | None = None
    kafka_topic: str = Field("deloton", min_length=1)
    kafka_group_id: str = Field("deleton-ingest", min_length=1)
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None

    ride_idle_timeout: float = Field(60.0, gt=0, description="seconds of silence that end a ride")

    mail_backend: Literal["smtp", "ses", "folder"] = "smtp"
    mail_from: str = Field("alerts@deleton.example", pattern=r"^[^@\s]+@[^@\s]+$")
    smtp_host: str = "localhost"
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_tls: Literal["none", "starttls", "ssl"] = "none"
    aws_region: str = "eu-west-2"

    dashboard_host: str = "127.0.0.1"  # 0.0.0.0 to serve screens on other machines
    dashboard_port: int = Field(8050, ge=1, le=65535)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    metrics_host: str = "0.0.0.0"  # where --metrics-port listens; Prometheus scrapes from afar

    @field_validator("home")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    def database(self) -> DatabaseConfig:
        return DatabaseConfig(self.database_url, self.home)

    def kafka(self) -> KafkaConfig:
        if not self.kafka_bootstrap_servers:
            raise ConfigError("DELETON_KAFKA_BOOTSTRAP_SERVERS is not set")
        protocol = self.kafka_security_protocol or (
            "SASL_SSL" if self.kafka_sasl_username else "PLAINTEXT"
        )
        return KafkaConfig(
            self.kafka_bootstrap_servers,
            self.kafka_topic,
            self.kafka_group_id,
            protocol,
            self.kafka_sasl_username,
            self.kafka_sasl_password,
        )

    def mail(self) -> MailConfig:
        return MailConfig(
            self.mail_backend,
            self.mail_from,
            self.smtp_host,
            self.smtp_port,
            self.smtp_user,
            self.smtp_password,
            self.smtp_tls,
            self.aws_region,
        )

    def dashboard(self) -> DashboardConfig:
        return DashboardConfig(self.dashboard_host, self.dashboard_port, self.idle_timeout_us)

    @property
    def idle_timeout_us(self) -> int:
        return int(self.ride_idle_timeout * 1_000_000)


def load_settings() -> Settings:
    """Read and validate the settings; every bad value is named in one ``ConfigError``."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = "DELETON_" + "_".join(str(part) for part in error["loc"]).upper()
            secret = "PASSWORD" in name or "URL" in name
            shown = "" if secret else f" (got {error.get('input')!r})"
            problems.append(f"  {name}: {error['msg']}{shown}")
        raise ConfigError("invalid settings:\n" + "\n".join(problems)) from None
