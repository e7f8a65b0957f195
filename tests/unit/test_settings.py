"""Settings: validated at start-up with a message per bad value; secrets never shown."""

from __future__ import annotations

import pytest

from deleton.errors import ConfigError
from deleton.settings import load_settings


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]
    settings = load_settings()
    assert settings.kafka_topic == "deloton"
    assert settings.ride_idle_timeout == 60
    assert settings.database_url is None
    assert settings.idle_timeout_us == 60_000_000
    dashboard = settings.dashboard()
    assert (dashboard.host, dashboard.port) == ("127.0.0.1", 8050)  # loopback unless asked
    assert dashboard.idle_timeout_us == settings.idle_timeout_us


def test_every_bad_value_is_named_and_secrets_are_not_shown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]
    monkeypatch.setenv("DELETON_SMTP_PORT", "seventy")
    monkeypatch.setenv("DELETON_SMTP_TLS", "maybe")
    monkeypatch.setenv("DELETON_RIDE_IDLE_TIMEOUT", "-1")
    monkeypatch.setenv("DELETON_DASHBOARD_PORT", "80800")
    monkeypatch.setenv("DELETON_KAFKA_SASL_PASSWORD", "hunter2")
    monkeypatch.setenv("DELETON_DATABASE_URL", "postgresql://u:s3cret@db/x")
    with pytest.raises(ConfigError) as error:
        load_settings()
    text = str(error.value)
    for name in (
        "DELETON_SMTP_PORT",
        "DELETON_SMTP_TLS",
        "DELETON_RIDE_IDLE_TIMEOUT",
        "DELETON_DASHBOARD_PORT",
    ):
        assert name in text
    assert "seventy" in text


def test_secrets_are_secret_and_each_adapter_gets_its_part(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]
    monkeypatch.setenv("DELETON_KAFKA_BOOTSTRAP_SERVERS", "broker:9092")
    monkeypatch.setenv("DELETON_KAFKA_SASL_USERNAME", "key")
    monkeypatch.setenv("DELETON_KAFKA_SASL_PASSWORD", "hunter2")
    monkeypatch.setenv("DELETON_SMTP_PASSWORD", "mailpass")
    settings = load_settings()
    assert "hunter2" not in repr(settings) and "mailpass" not in repr(settings)
    kafka = settings.kafka()
    assert kafka.security_protocol == "SASL_SSL"  # Confluent Cloud
    conf = kafka.client_config()
    assert conf["sasl.mechanisms"] == "PLAIN" and conf["sasl.password"] == "hunter2"
    assert "mailpass" not in repr(settings.mail())


def test_kafka_needs_its_servers(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="BOOTSTRAP"):
        load_settings().kafka()
