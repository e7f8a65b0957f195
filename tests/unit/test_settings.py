"""Settings: validated at start-up with a message per bad value; secrets never shown."""

from __future__ import annotations

from typing import Any

import pytest

from deleton.errors import ConfigError
from deleton.settings import Settings, load_settings


@pytest.fixture
def settings_from(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> Any:
    """Settings loaded from these ``DELETON_*`` variables alone (no ``.env`` nearby)."""
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]

    def load(**variables: str) -> Settings:
        for name, value in variables.items():
            monkeypatch.setenv(f"DELETON_{name.upper()}", value)
        return load_settings()

    return load


def test_defaults(settings_from: Any) -> None:
    settings = settings_from()
    assert settings.kafka_topic == "deloton"
    assert settings.ride_idle_timeout == 60
    assert settings.database_url is None
    assert settings.riding().idle_timeout_us == 60_000_000  # one rule for every room
    dashboard = settings.dashboard()
    assert (dashboard.host, dashboard.port) == ("127.0.0.1", 8050)  # loopback unless asked
    assert dashboard.db_wait == 5.0
    assert settings_from(dashboard_db_wait="1").dashboard().db_wait == 1.0
    assert settings.api().zone == settings.report().zone == "Europe/London"


def test_the_apis_day_has_its_own_zone_defaulting_to_the_reports(settings_from: Any) -> None:
    assert settings_from(report_tz="Asia/Tokyo").api().zone == "Asia/Tokyo"
    both = settings_from(report_tz="Asia/Tokyo", api_tz="America/New_York")
    assert (both.api().zone, both.report().zone) == ("America/New_York", "Asia/Tokyo")
    with pytest.raises(ConfigError, match="DELETON_API_TZ"):
        settings_from(api_tz="Mars/Olympus")


def test_what_a_setting_does_hangs_on_its_value_never_on_whether_it_was_set(
    settings_from: Any,
) -> None:
    # the mail backend: unset, each command's own default (deleton up writes to a folder)
    unset = settings_from()
    assert (unset.mail().backend, unset.mail(unset="folder").backend) == ("smtp", "folder")
    assert unset.mail(unset="folder").folder == unset.home / "outbox"
    for backend in ("smtp", "folder"):  # set, it is what it says, in every command
        chosen = settings_from(mail_backend=backend)
        assert chosen.mail().backend == chosen.mail(unset="folder").backend == backend
    # links: the dashboard's own address unless DELETON_PUBLIC_URL says otherwise; writing
    # out the default changes nothing
    assert settings_from(dashboard_port="9000").access().public_url == "http://127.0.0.1:9000"
    spelt = settings_from(dashboard_port="9000", public_url="http://127.0.0.1:9000/")
    assert spelt.access().public_url == "http://127.0.0.1:9000"
    assert settings_from(public_url="https://gym.example").access().public_url == (
        "https://gym.example"
    )


def test_every_bad_value_is_named_and_secrets_are_not_shown(settings_from: Any) -> None:
    with pytest.raises(ConfigError) as error:
        settings_from(
            smtp_port="seventy",
            smtp_tls="maybe",
            ride_idle_timeout="-1",
            dashboard_port="80800",
            kafka_sasl_password="hunter2",
            database_url="postgresql://u:s3cret@db/x",
        )
    text = str(error.value)
    for name in (
        "DELETON_SMTP_PORT",
        "DELETON_SMTP_TLS",
        "DELETON_RIDE_IDLE_TIMEOUT",
        "DELETON_DASHBOARD_PORT",
    ):
        assert name in text
    assert "seventy" in text
    assert "hunter2" not in text and "s3cret" not in text


def test_secrets_are_secret_and_each_adapter_gets_its_part(settings_from: Any) -> None:
    settings = settings_from(
        kafka_bootstrap_servers="broker:9092",
        kafka_sasl_username="key",
        kafka_sasl_password="hunter2",
        smtp_password="mailpass",
    )
    assert "hunter2" not in repr(settings) and "mailpass" not in repr(settings)
    kafka = settings.kafka()
    assert kafka.security_protocol == "SASL_SSL"  # Confluent Cloud
    conf = kafka.client_config()
    assert conf["sasl.mechanisms"] == "PLAIN" and conf["sasl.password"] == "hunter2"
    assert "mailpass" not in repr(settings.mail())


def test_kafka_needs_its_servers(settings_from: Any) -> None:
    with pytest.raises(ConfigError, match="BOOTSTRAP"):
        settings_from().kafka()


def test_smtp_login_without_tls_is_refused_unless_allowed(settings_from: Any) -> None:
    with pytest.raises(ConfigError, match="DELETON_SMTP_TLS"):
        settings_from(smtp_user="alerts", smtp_password="pw").mail()
    assert settings_from(smtp_user="alerts", smtp_tls="starttls").mail().smtp_user == "alerts"
    allowed = settings_from(smtp_tls="none", smtp_plaintext_login="true").mail()
    assert allowed.smtp_tls == "none"


def test_listeners_are_on_loopback_and_every_connection_has_timeouts(settings_from: Any) -> None:
    settings = settings_from(db_statement_timeout="12.5", kafka_bootstrap_servers="b:9093",
                             kafka_ssl_ca_location="/etc/ssl/private-ca.pem")  # fmt: skip
    assert settings.metrics_host == "127.0.0.1" and settings.dashboard_host == "127.0.0.1"
    options = settings.database().connect_options()
    assert options["connect_timeout"] == 10 and options["keepalives"] == 1
    assert options["options"] == "-c statement_timeout=12500"
    assert settings.kafka().client_config()["ssl.ca.location"] == "/etc/ssl/private-ca.pem"
    ingest = settings.ingest()
    assert ingest.max_clock_skew_us == 86_400_000_000 and ingest.dead_letter_max_bytes == 65_536
    assert ingest.broker_time_margin_us == 3_600_000_000  # Kafka's after.max.ms default


def test_the_reading_window_must_be_longer_than_a_ride_gap(settings_from: Any) -> None:
    assert settings_from().reading_window == 3600  # an hour, against a 60 s idle timeout
    with pytest.raises(ConfigError) as error:
        settings_from(ride_idle_timeout="900", reading_window="600")
    assert "DELETON_READING_WINDOW" in str(error.value)
    assert "longer than DELETON_RIDE_IDLE_TIMEOUT (900 s)" in str(error.value)
    with pytest.raises(ConfigError, match="DELETON_READING_WINDOW"):
        settings_from(ride_idle_timeout="900", reading_window="900")  # equal is not longer
    settings = settings_from(ride_idle_timeout="900", reading_window="901")
    assert settings.database("reader").reading_window == 901  # every login reads with it


def test_the_operators_login_is_its_own_with_its_own_password(settings_from: Any) -> None:
    """`deleton api-key` (migration 0019): the admin task holds the writer's URL and
    PGPASSWORD for accounts and links, and the operator's URL and password for keys."""
    from deleton.postgres.connection import Database, database_url

    settings = settings_from(
        database_url="postgresql://deleton_writer_login@db/deleton",
        operator_database_url="postgresql://deleton_operator_login@db/deleton",
        db_operator_password="o-secret-password",
    )
    operator = settings.database("operator")
    assert not operator.migrates
    url = database_url(operator)
    assert "deleton_operator_login" in url and "o-secret-password" in url
    assert "o-secret-password" not in repr(Database(url))
    # the writer's own login never takes the operator's password
    assert database_url(settings.database()) == "postgresql://deleton_writer_login@db/deleton"
    # unset, the operator is whoever DELETON_DATABASE_URL is (deleton up's embedded superuser)
    alone = settings_from(operator_database_url="").database("operator")
    assert alone.password is None


def test_how_long_a_dashboard_trusts_a_session_is_a_setting_the_gate_obeys(
    settings_from: Any, tmp_path: Any
) -> None:
    from deleton.dashboard.command import gate_for

    assert settings_from().access().recheck == 10.0  # the README's "within 10 seconds"
    settings = settings_from(session_recheck="2.5", session_secret="s" * 32, home=str(tmp_path))
    gate, _ = gate_for(settings, connect=None)  # type: ignore[arg-type]
    assert gate.recheck == 2.5
    for bad in ("0", "0.1", "301", "soon"):
        with pytest.raises(ConfigError, match="SESSION_RECHECK"):
            settings_from(session_recheck=bad)
