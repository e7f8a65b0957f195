"""Alert emails: what they say, and the SES backend against moto."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from deleton.core.alerts import AlertToSend
from deleton.core.privacy import REDACTED, redact
from deleton.errors import TransientError
from deleton.mail.alert_email import compose
from deleton.mail.config import MailConfig
from deleton.mail.transports import FolderTransport, SesTransport, SmtpTransport

ALERT = AlertToSend(7, 42, "high", dt.datetime(2022, 11, 3, 18, 44, tzinfo=dt.UTC), 187, 168,
              "sam@x.com", "Sam")  # fmt: skip


def config(**changes: object) -> MailConfig:
    values: dict[str, object] = {
        "backend": "ses", "sender": "alerts@deleton.example", "smtp_host": "127.0.0.1",
        "smtp_port": 1, "smtp_user": None, "smtp_password": None, "smtp_tls": "none",
        "aws_region": "eu-west-2", "folder": Path("outbox"),
    }  # fmt: skip
    values.update(changes)
    return MailConfig(**values)  # type: ignore[arg-type]


def test_the_email_names_the_rider_the_reading_and_the_limit() -> None:
    message = compose(ALERT, "alerts@deleton.example")
    assert message["To"] == "sam@x.com"
    assert message["Message-ID"] == "<alert-7@deleton>"  # stable: a resend is the same email
    assert "too high" in message["Subject"]
    body = message.get_content()
    assert "Hello Sam" in body and "187 bpm" in body and "168 bpm" in body
    low = compose(ALERT._replace(kind="low", heart_rate=35, limit=40), "a@b.c")
    assert "low" in low["Subject"] and "35 bpm" in low.get_content()


@mock_aws
def test_ses_backend_sends_the_raw_email() -> None:
    ses = boto3.client("ses", region_name="eu-west-2")
    ses.verify_email_identity(EmailAddress="alerts@deleton.example")
    SesTransport(config()).send(compose(ALERT, "alerts@deleton.example"))
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    sent = ses_backends[DEFAULT_ACCOUNT_ID]["eu-west-2"].sent_messages
    assert len(sent) == 1
    assert sent[0].destinations == ["sam@x.com"]
    assert b"<alert-7@deleton>" in sent[0].raw_data.encode()


@mock_aws
def test_ses_refusal_is_transient_so_the_alert_waits() -> None:
    with pytest.raises(TransientError, match="SES"):  # the sender is not verified
        SesTransport(config()).send(compose(ALERT, "alerts@deleton.example"))


def test_smtp_down_is_transient() -> None:
    with pytest.raises(TransientError, match="SMTP"):
        SmtpTransport(config(backend="smtp")).send(compose(ALERT, "alerts@deleton.example"))


def test_the_outbox_is_read_by_its_owner_alone(tmp_path: Path) -> None:
    # review F10: an alert email holds the rider's address, first name and heart rate; it was
    # written 0644 in a 0755 folder
    (tmp_path / "outbox").mkdir(mode=0o755)
    (tmp_path / "outbox").chmod(0o755)
    folder = FolderTransport(tmp_path / "outbox")
    folder.send(compose(ALERT, "alerts@deleton.example"))
    folder.send(compose(ALERT, "alerts@deleton.example"))  # sent again: one file, replaced
    (written,) = (tmp_path / "outbox").iterdir()
    assert stat.S_IMODE((tmp_path / "outbox").stat().st_mode) == 0o700
    assert stat.S_IMODE(written.stat().st_mode) == 0o600 and written.suffix == ".eml"
    assert b"alerts@deleton.example" in written.read_bytes()


def test_a_full_disk_leaves_the_alert_waiting(tmp_path: Path) -> None:
    folder = FolderTransport(tmp_path / "outbox")
    (tmp_path / "outbox").rmdir()
    (tmp_path / "outbox").write_text("a file where the folder was: every write fails")
    with pytest.raises(TransientError, match="cannot write"):
        folder.send(compose(ALERT, "alerts@deleton.example"))


@pytest.mark.parametrize(
    "text",
    [
        "(550, b'5.1.1 <sam.lee@example.com>: Recipient address rejected')",
        "{'sam.lee@example.com': (550, b'User unknown')}",
        "bounce to SAM.LEE@EXAMPLE.CO.UK please",
    ],
)
def test_addresses_are_taken_out_of_error_text(text: str) -> None:
    cleaned = redact(text)
    assert "@" not in cleaned.replace(REDACTED, "") and REDACTED in cleaned
    assert "sam" not in cleaned.lower()


def test_redacted_text_is_bounded() -> None:
    assert len(redact("x" * 10_000, limit=100)) == 100
