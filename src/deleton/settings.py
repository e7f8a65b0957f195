"""The one settings object: environment variables ``DELETON_*`` (and an optional ``.env``).

Built once at the entry point; each adapter receives only its own part (``database()``,
``kafka()``, ``mail()``...). Secrets are ``SecretStr`` so they never print or log.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from ipaddress import ip_address
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import ConfigError

# seconds before its start that a ride's readings may lie (DELETON_READING_WINDOW)
READING_WINDOW = 3600.0


@dataclass(frozen=True)
class DatabaseConfig:
    """Where PostgreSQL is (a URL, or ``None`` for the embedded server kept under ``home``), and
    how long anything may wait for it."""

    url: SecretStr | None
    home: Path
    connect_timeout: float = 10.0  # seconds to establish a connection
    statement_timeout: float = 30.0  # seconds any one statement may run
    keepalive_idle: int = 30  # seconds of silence before TCP probes a connection
    keepalive_interval: int = 10
    keepalive_count: int = 3
    # False for a service's own restricted login (reader, API): it checks that the schema is
    # up to date and never migrates, which only the writer or an administrator may
    migrates: bool = True
    # seconds before its start that a ride's readings may lie: what reads them reads no earlier
    reading_window: float = READING_WINDOW

    def connect_options(self) -> dict[str, Any]:
        """libpq options for every connection: a dead server or network is noticed in about
        ``keepalive_idle + interval * count`` seconds instead of never."""
        return {
            "connect_timeout": max(1, round(self.connect_timeout)),
            "keepalives": 1,
            "keepalives_idle": self.keepalive_idle,
            "keepalives_interval": self.keepalive_interval,
            "keepalives_count": self.keepalive_count,
            # a send that is not acknowledged within this long fails the connection
            "tcp_user_timeout": (self.keepalive_idle + self.keepalive_interval) * 1000,
            "options": f"-c statement_timeout={round(self.statement_timeout * 1000)}",
        }


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
    alert_max_age: float = 900.0  # seconds after its reading that an alert is still worth sending


@dataclass(frozen=True)
class IngestConfig:
    """How ingestion judges time and bounds what it holds."""

    idle_timeout_us: int  # a bike silent for longer has ended its ride
    max_clock_skew_us: int  # a line this far from its broker timestamp is not believed
    batch_max_bytes: int  # message bytes held before a batch is written
    dead_letter_max_bytes: int  # of a bad message's value kept with its length and hash


@dataclass(frozen=True)
class CompressConfig:
    """How long detail stays in ``daily``, and how often compression runs inside ``up``."""

    retention: dt.timedelta  # after a ride ends
    dead_letter_retention: dt.timedelta  # after a dead letter arrives
    every: float  # seconds between runs inside ``deleton up``
    chunk: int = 2_000  # rides summarised per transaction


@dataclass(frozen=True)
class ReportConfig:
    """Who the daily report goes to, in which time zone its days are, and when it is made."""

    zone: str  # an IANA name: Europe/London
    recipients: tuple[str, ...]
    at: dt.time  # when, in ``zone``, inside ``deleton up``


@dataclass(frozen=True)
class ApiConfig:
    """Where the REST API listens, its bootstrap key (every scope; ``None``: only keys made by
    ``deleton api-key``), how many requests a second a key may make, and the zone whose
    calendar days ``/daily`` means."""

    host: str
    port: int
    key: SecretStr | None
    zone: str
    idle_timeout_us: int  # a bike silent for longer is not riding
    workers: int = 1  # processes of `deleton api`, each with its own pool and fleet view
    rate_limit: float = 20.0  # requests a second per key, per process
    proxy_hops: int = 0  # proxies whose X-Forwarded-For hop is believed (Settings.proxy_hops)


@dataclass(frozen=True)
class DashboardConfig:
    host: str
    port: int
    idle_timeout_us: int  # a bike silent for longer is shown as idle


@dataclass(frozen=True)
class AccessConfig:
    """Who may sign in to the dashboard, and how: the base of printed links, the secrets that
    sign sessions and screen links and the key passwords are peppered with (``None``: the one
    kept in ``home``, if any), how long a person stays signed in, an OpenID Connect provider,
    and the AWS load balancer whose signed identity header stands in for the app's own
    sign-in."""

    public_url: str
    home: Path
    session_secret: SecretStr | None
    screen_secret: SecretStr | None
    password_pepper: SecretStr | None  # the key passwords are peppered with
    session_lifetime: float  # seconds a person stays signed in
    oidc_issuer: str | None
    oidc_client_id: str | None
    oidc_client_secret: SecretStr | None
    role_claim: str  # the claim listing groups, from the identity provider or the ALB
    alb_arn: str | None
    alb_keys_url: str | None
    proxy_hops: int = 0  # proxies whose X-Forwarded-For hop is believed (Settings.proxy_hops)

    @property
    def secure_cookies(self) -> bool:
        """Cookies only over HTTPS when the dashboard is reached over HTTPS."""
        return self.public_url.startswith("https://")

    @property
    def oidc(self) -> bool:
        return self.oidc_issuer is not None and self.oidc_client_id is not None

    @property
    def alb_keys(self) -> str | None:
        """Where the load balancer's public keys are, by key id; ``None`` without a balancer."""
        if self.alb_arn is None:
            return None
        if self.alb_keys_url is not None:
            return self.alb_keys_url.rstrip("/") + "/"
        region = self.alb_arn.split(":")[3]
        return f"https://public-keys.auth.elb.{region}.amazonaws.com/"


class Settings(BaseSettings):
    """Every setting of the platform; see the README for what each one does."""

    model_config = SettingsConfigDict(
        env_prefix="DELETON_", env_file=".env", extra="ignore", validate_default=True
    )

    database_url: SecretStr | None = None
    # the restricted logins of the dashboard and report, and of the API (deploy/terraform);
    # unset, they use DELETON_DATABASE_URL, as deleton up does
    reader_database_url: SecretStr | None = None
    api_database_url: SecretStr | None = None
    # `deleton db init` makes (or updates) the services' logins when given their passwords
    db_writer_password: SecretStr | None = None
    db_reader_password: SecretStr | None = None
    db_api_password: SecretStr | None = None
    home: Path = Path("~/.local/share/deleton")

    kafka_bootstrap_servers: str | None = None
    kafka_topic: str = Field("deloton", min_length=1)
    kafka_group_id: str = Field("deleton-ingest", min_length=1)
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_ca_location: Path | None = None
    kafka_session_timeout: float = Field(10.0, ge=1, le=300)

    db_connect_timeout: float = Field(10.0, gt=0)
    db_statement_timeout: float = Field(30.0, gt=0)
    db_keepalive_idle: int = Field(30, ge=1)
    db_keepalive_interval: int = Field(10, ge=1)
    db_keepalive_count: int = Field(3, ge=1)

    ride_idle_timeout: float = Field(60.0, gt=0, description="seconds of silence that end a ride")
    # after ride_idle_timeout, which its check reads
    reading_window: float = Field(
        READING_WINDOW, gt=0, description="seconds before its start a ride's readings may lie"
    )
    max_clock_skew: float = Field(
        86_400.0, gt=0, description="seconds a line may be from its broker time"
    )
    ingest_batch_bytes: int = Field(32 * 2**20, ge=2**16)
    dead_letter_max_bytes: int = Field(64 * 2**10, ge=0)
    alert_max_age: float = Field(900.0, gt=0, description="seconds after the reading")

    daily_retention: float = Field(43_200.0, gt=0, description="seconds after a ride ends")
    dead_letter_retention: float = Field(7 * 86_400.0, gt=0, description="seconds")
    compress_every: float = Field(3_600.0, gt=0, description="seconds, inside deleton up")
    compress_chunk: int = Field(2_000, ge=1, description="rides summarised per transaction")

    report_tz: str = "Europe/London"
    report_recipients: str = ""  # comma-separated addresses
    report_at: dt.time = dt.time(17, 0)

    mail_backend: Literal["smtp", "ses", "folder"] = "smtp"
    mail_from: str = Field("alerts@deleton.example", pattern=r"^[^@\s]+@[^@\s]+$")
    smtp_host: str = "localhost"
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_tls: Literal["none", "starttls", "ssl"] = "none"
    # Logging in sends the password; without TLS anyone on the path reads it. Only on request.
    smtp_plaintext_login: bool = False
    aws_region: str = "eu-west-2"

    dashboard_host: str = "127.0.0.1"  # 0.0.0.0 to serve screens on other machines
    dashboard_port: int = Field(8050, ge=1, le=65535)

    api_host: str = "127.0.0.1"  # 0.0.0.0 behind a load balancer
    api_port: int = Field(8000, ge=1, le=65535)
    api_key: SecretStr | None = None
    api_workers: int = Field(1, ge=1, le=64)
    # requests a second each API key may make, per process; beyond it, 429
    api_rate_limit: float = Field(20.0, gt=0, description="requests a second per key")

    # dashboard sign-in and screen links (README: Access)
    public_url: str = Field("http://127.0.0.1:8050", pattern=r"^https?://[^/\s?#]+(/[^\s?#]*)?$")
    session_secret: SecretStr | None = None
    screen_secret: SecretStr | None = None
    password_pepper: SecretStr | None = None
    session_lifetime: float = Field(
        43_200.0, ge=60, le=2_592_000, description="seconds a person stays in"
    )
    oidc_issuer: str | None = Field(None, pattern=r"^https?://\S+$")
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_role_claim: str = Field("groups", min_length=1)
    alb_arn: str | None = Field(
        None, pattern=r"^arn:aws[\w-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:loadbalancer/\S+$"
    )
    alb_keys_url: str | None = Field(None, pattern=r"^https?://\S+$")
    # how many proxies in front of the dashboard and the API append to X-Forwarded-For; unset:
    # the load balancer's one when alb_arn is set, else none (Settings.proxy_hops)
    trusted_proxies: int | None = Field(None, ge=0, le=8)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    metrics_emf: bool = False  # ingestion's lag as CloudWatch EMF lines on stdout (ECS)
    metrics_host: str = "127.0.0.1"  # where --metrics-port listens; 0.0.0.0 for a remote scraper

    @field_validator("home")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("reading_window")
    @classmethod
    def _longer_than_a_ride_gap(cls, value: float, info: ValidationInfo) -> float:
        # a line stamped further than the idle timeout from the bike's one before ends the
        # ride, so a ride's first readings lie within the timeout of its start: readers look
        # that far back for them (an idle timeout that failed its own check is named there)
        idle = info.data.get("ride_idle_timeout")
        if idle is not None and value <= idle:
            raise ValueError(
                f"must be longer than DELETON_RIDE_IDLE_TIMEOUT ({idle:g} s): a ride's readings"
                " may lie that long before its start"
            )
        return value

    @field_validator("report_tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"not a time zone: {value}") from None
        return value

    @field_validator("api_key")
    @classmethod
    def _strong_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters: it holds every scope")
        return value

    @field_validator("session_secret", "screen_secret", "password_pepper")
    @classmethod
    def _strong_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters: it guards who may see riders")
        return value

    @field_validator("alb_keys_url")
    @classmethod
    def _keys_over_https(cls, value: str | None) -> str | None:
        # the keys say whose identity header to believe: fetched in clear, anyone on the path
        # could hand us theirs; plain http only to this machine (a test's key server)
        if value is None or value.startswith("https://"):
            return value
        host = urlsplit(value).hostname or ""
        if host == "localhost" or (_is_ip(host) and ip_address(host).is_loopback):
            return value
        raise ValueError("must be https:// (http:// only to a loopback address)")

    @field_validator("report_recipients")
    @classmethod
    def _addresses(cls, value: str) -> str:
        for address in filter(None, (a.strip() for a in value.split(","))):
            if not re.fullmatch(r"[^@\s,<>]+@[^@\s,<>]+\.[^@\s,<>]+", address):
                raise ValueError("a recipient is not an email address")
        return value

    def database(self, login: Literal["writer", "reader", "api"] = "writer") -> DatabaseConfig:
        """The database as ``login`` sees it: ingestion and compression write, the dashboard
        and the report read, the API reads and deletes."""
        own = {"reader": self.reader_database_url, "api": self.api_database_url}.get(login)
        return DatabaseConfig(
            own or self.database_url,
            self.home,
            self.db_connect_timeout,
            self.db_statement_timeout,
            self.db_keepalive_idle,
            self.db_keepalive_interval,
            self.db_keepalive_count,
            migrates=own is None,
            reading_window=self.reading_window,
        )

    def ingest(self) -> IngestConfig:
        return IngestConfig(
            self.idle_timeout_us,
            int(self.max_clock_skew * 1_000_000),
            self.ingest_batch_bytes,
            self.dead_letter_max_bytes,
        )

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
            self.kafka_ssl_ca_location,
            self.kafka_session_timeout,
        )

    def compress(self) -> CompressConfig:
        return CompressConfig(
            dt.timedelta(seconds=self.daily_retention),
            dt.timedelta(seconds=self.dead_letter_retention),
            self.compress_every,
            self.compress_chunk,
        )

    def report(self) -> ReportConfig:
        recipients = tuple(filter(None, (a.strip() for a in self.report_recipients.split(","))))
        return ReportConfig(self.report_tz, recipients, self.report_at)

    def mail(self) -> MailConfig:
        if self.smtp_user and self.smtp_tls == "none" and not self.smtp_plaintext_login:
            raise ConfigError(
                "DELETON_SMTP_USER is set but DELETON_SMTP_TLS is none: the password would cross"
                " the network in clear. Use starttls or ssl, or set"
                " DELETON_SMTP_PLAINTEXT_LOGIN=true to allow it"
            )
        return MailConfig(
            self.mail_backend,
            self.mail_from,
            self.smtp_host,
            self.smtp_port,
            self.smtp_user,
            self.smtp_password,
            self.smtp_tls,
            self.aws_region,
            self.alert_max_age,
        )

    def api(self) -> ApiConfig:
        return ApiConfig(
            self.api_host,
            self.api_port,
            self.api_key,
            self.report_tz,
            self.idle_timeout_us,
            self.api_workers,
            self.api_rate_limit,
            self.proxy_hops,
        )

    def dashboard(self) -> DashboardConfig:
        return DashboardConfig(self.dashboard_host, self.dashboard_port, self.idle_timeout_us)

    def access(self) -> AccessConfig:
        return AccessConfig(
            self.public_url.rstrip("/"),
            self.home,
            self.session_secret,
            self.screen_secret,
            self.password_pepper,
            self.session_lifetime,
            self.oidc_issuer.rstrip("/") if self.oidc_issuer else None,
            self.oidc_client_id,
            self.oidc_client_secret,
            self.oidc_role_claim,
            self.alb_arn,
            self.alb_keys_url,
            self.proxy_hops,
        )

    @property
    def proxy_hops(self) -> int:
        """How many proxies' hops of X-Forwarded-For the dashboard and the API believe, counted
        from its right end (each proxy appends the address it was reached from): the client is
        the address that many hops from the right, and whatever came before it is the
        client's to forge. ``DELETON_TRUSTED_PROXIES``; unset, the AWS load balancer's one
        when ``DELETON_ALB_ARN`` is set, else none (the connection's own address)."""
        if self.trusted_proxies is not None:
            return self.trusted_proxies
        return 1 if self.alb_arn is not None else 0

    @property
    def idle_timeout_us(self) -> int:
        return int(self.ride_idle_timeout * 1_000_000)


def _is_ip(text: str) -> bool:
    try:
        ip_address(text)
    except ValueError:
        return False
    return True


def load_settings() -> Settings:
    """Read and validate the settings; every bad value is named in one ``ConfigError``."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = "DELETON_" + "_".join(str(part) for part in error["loc"]).upper()
            secret = any(word in name for word in ("PASSWORD", "URL", "KEY", "SECRET"))
            shown = "" if secret else f" (got {error.get('input')!r})"
            problems.append(f"  {name}: {error['msg']}{shown}")
        raise ConfigError("invalid settings:\n" + "\n".join(problems)) from None
