"""The one settings object: environment variables ``DELETON_*`` (and an optional ``.env``).

Built once at the entry point, and mapped here onto each room's own configuration: every
adapter and service declares the dataclass it is configured with (``postgres/config.py``,
``mail/config.py``, ``report/config.py``...) and receives only that (``database()``,
``kafka()``, ``mail()``...), never the raw fields around it. What a setting does depends on its
value alone, never on whether it was set. Secrets are ``SecretStr`` so they never print or log.
"""

from __future__ import annotations

import datetime as dt
import re
from ipaddress import ip_address
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .api.config import ApiConfig
from .compress.config import CompressConfig
from .core.access import RECHECK_SECONDS
from .core.riding import Riding
from .credentials.config import AccessConfig
from .dashboard.config import DashboardConfig
from .errors import ConfigError
from .ingest.config import IngestConfig
from .kafka.config import KafkaConfig
from .mail.config import Backend, MailConfig
from .postgres.config import READING_WINDOW, DatabaseConfig
from .report.config import ReportConfig


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
    # the operator's login, for `deleton api-key`, `users`, `login-link` and `screen-link`
    # (migrations 0019, 0020: the writer makes no key, account, link or screen); unset,
    # DELETON_DATABASE_URL, as deleton up does
    operator_database_url: SecretStr | None = None
    # `deleton db init` makes (or updates) the services' logins when given their passwords;
    # the operator's is also what the operator's commands connect with, beside
    # DELETON_OPERATOR_DATABASE_URL, when that URL carries none
    db_writer_password: SecretStr | None = None
    db_reader_password: SecretStr | None = None
    db_api_password: SecretStr | None = None
    db_operator_password: SecretStr | None = None
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
    # Kafka's message.timestamp.after.max.ms (1 hour by default): how far a CreateTime, the
    # producer's clock, may run ahead of when the broker took the message; 0 for a topic of
    # LogAppendTime, the broker's own clock
    broker_time_margin: float = Field(
        3_600.0, ge=0, description="seconds a broker timestamp may be ahead of its arrival"
    )
    ingest_batch_bytes: int = Field(32 * 2**20, ge=2**16)
    dead_letter_max_bytes: int = Field(64 * 2**10, ge=0)
    alert_max_age: float = Field(900.0, gt=0, description="seconds after the reading")

    daily_retention: float = Field(43_200.0, gt=0, description="seconds after a ride ends")
    dead_letter_retention: float = Field(7 * 86_400.0, gt=0, description="seconds")
    compress_every: float = Field(3_600.0, gt=0, description="seconds, inside deleton up")
    compress_chunk: int = Field(2_000, ge=1, description="rides summarised per transaction")
    offline_after: float = Field(
        3 * 86_400.0,
        gt=0,
        description="seconds without a line before a bike seen before is offline, judged by"
        " the newest line in the data (not the wall clock)",
    )

    report_tz: str = "Europe/London"
    api_tz: str | None = None  # the zone of the API's /daily; unset: the report's
    report_recipients: str = ""  # comma-separated addresses
    report_at: dt.time = dt.time(17, 0)
    report_gap: float = Field(
        900.0, gt=0, description="seconds without a reading, in hours that normally have rides,"
        " from which the report says its data is incomplete",
    )  # fmt: skip
    report_retry: float = Field(
        900.0, ge=0, description="seconds the scheduled report waits to try once more when its"
        " data is incomplete, before it sends (0: no retry)",
    )  # fmt: skip
    report_max_lag: float = Field(
        300.0, gt=0, description="seconds ingestion may stand behind when the report is made"
        " before the report says its data is incomplete",
    )  # fmt: skip

    # unset: folder inside deleton up (which needs no mail server), smtp for every other command
    mail_backend: Backend | None = None
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
    dashboard_db_wait: float = Field(
        5.0, gt=0, description="seconds a screen's update waits for a database connection"
    )

    api_host: str = "127.0.0.1"  # 0.0.0.0 behind a load balancer
    api_port: int = Field(8000, ge=1, le=65535)
    api_key: SecretStr | None = None
    api_workers: int = Field(1, ge=1, le=64)
    # requests a second each API key may make, per process; beyond it, 429
    api_rate_limit: float = Field(20.0, gt=0, description="requests a second per key")

    # dashboard sign-in and screen links (README: Access)
    # unset: the dashboard's own address, http://DELETON_DASHBOARD_HOST:DELETON_DASHBOARD_PORT
    public_url: str | None = Field(None, pattern=r"^https?://[^/\s?#]+(/[^\s?#]*)?$")
    session_secret: SecretStr | None = None
    screen_secret: SecretStr | None = None
    password_pepper: SecretStr | None = None
    session_lifetime: float = Field(
        43_200.0, ge=60, le=2_592_000, description="seconds a person stays in"
    )
    # seconds each dashboard process trusts what it last read of a session or a screen before
    # asking the database again: sign-outs, removed accounts and revoked screens take effect
    # everywhere within it (a shorter one asks the database more often)
    session_recheck: float = Field(
        RECHECK_SECONDS, ge=0.5, le=300, description="seconds a session's state is trusted"
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

    @field_validator("report_tz", "api_tz")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        if value is None:
            return None
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

    def database(
        self, login: Literal["writer", "reader", "api", "operator"] = "writer"
    ) -> DatabaseConfig:
        """The database as ``login`` sees it: ingestion and compression write, the dashboard
        and the report read, the API reads and deletes, the operator makes the API's keys."""
        own = {
            "reader": self.reader_database_url,
            "api": self.api_database_url,
            "operator": self.operator_database_url,
        }.get(login)
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
            # the operator's login connects with the password db init gives it, where
            # PGPASSWORD is another login's (a host that runs services and the CLI alike)
            password=self.db_operator_password if login == "operator" and own else None,
        )

    def riding(self) -> Riding:
        """When a bike is riding: for ingestion, the dashboard and the API alike."""
        return Riding(int(self.ride_idle_timeout * 1_000_000))

    def ingest(self) -> IngestConfig:
        return IngestConfig(
            int(self.max_clock_skew * 1_000_000),
            self.ingest_batch_bytes,
            self.dead_letter_max_bytes,
            self.metrics_host,
            self.kafka_group_id if self.metrics_emf else None,
            int(self.broker_time_margin * 1_000_000),
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
            dt.timedelta(seconds=self.offline_after),
        )

    def report(self) -> ReportConfig:
        recipients = tuple(filter(None, (a.strip() for a in self.report_recipients.split(","))))
        return ReportConfig(
            self.report_tz,
            recipients,
            self.report_at,
            self.home / "reports",
            dt.timedelta(seconds=self.report_gap),
            dt.timedelta(seconds=self.report_retry),
            dt.timedelta(seconds=self.report_max_lag),
        )

    def mail(self, unset: Backend = "smtp") -> MailConfig:
        """How emails go: ``DELETON_MAIL_BACKEND``, or ``unset`` when it is not set (the
        command's own default: ``deleton up`` writes to a folder)."""
        if self.smtp_user and self.smtp_tls == "none" and not self.smtp_plaintext_login:
            raise ConfigError(
                "DELETON_SMTP_USER is set but DELETON_SMTP_TLS is none: the password would cross"
                " the network in clear. Use starttls or ssl, or set"
                " DELETON_SMTP_PLAINTEXT_LOGIN=true to allow it"
            )
        return MailConfig(
            self.mail_backend or unset,
            self.mail_from,
            self.smtp_host,
            self.smtp_port,
            self.smtp_user,
            self.smtp_password,
            self.smtp_tls,
            self.aws_region,
            self.home / "outbox",
            self.alert_max_age,
        )

    def api(self) -> ApiConfig:
        return ApiConfig(
            self.api_host,
            self.api_port,
            self.api_key,
            self.api_tz or self.report_tz,
            self.api_workers,
            self.api_rate_limit,
            self.proxy_hops,
            self.report_tz,
        )

    def dashboard(self) -> DashboardConfig:
        return DashboardConfig(
            self.dashboard_host, self.dashboard_port, self.dashboard_db_wait, self.report_tz
        )

    def access(self) -> AccessConfig:
        public = self.public_url or f"http://{self.dashboard_host}:{self.dashboard_port}"
        return AccessConfig(
            public.rstrip("/"),
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
            self.session_recheck,
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
