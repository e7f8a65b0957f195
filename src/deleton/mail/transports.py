"""The ways an email can go: an SMTP server, Amazon SES, or a folder of ``.eml`` files (for
``deleton up`` without a mail server). Library errors become ``TransientError`` here."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from ..errors import TransientError
from ..settings import MailConfig


class Transport(Protocol):
    """Hands one email on; raises ``TransientError`` when it could not, so it is retried."""

    def send(self, message: EmailMessage) -> None: ...


class SmtpTransport:
    def __init__(self, config: MailConfig) -> None:
        self.config = config

    def send(self, message: EmailMessage) -> None:
        c = self.config
        try:
            smtp: smtplib.SMTP
            if c.smtp_tls == "ssl":
                smtp = smtplib.SMTP_SSL(
                    c.smtp_host, c.smtp_port, timeout=10, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(c.smtp_host, c.smtp_port, timeout=10)
            with smtp:
                if c.smtp_tls == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if c.smtp_user:
                    password = c.smtp_password.get_secret_value() if c.smtp_password else ""
                    smtp.login(c.smtp_user, password)
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientError(f"SMTP {c.smtp_host}:{c.smtp_port}: {exc}") from exc


class SesTransport:
    def __init__(self, config: MailConfig) -> None:
        import boto3

        self.client = boto3.client("ses", region_name=config.aws_region)

    def send(self, message: EmailMessage) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            # recipients come from the message's own To header
            self.client.send_raw_email(
                Source=message["From"], RawMessage={"Data": message.as_bytes()}
            )
        except (BotoCoreError, ClientError) as exc:
            raise TransientError(f"SES: {exc}") from exc


class FolderTransport:
    """Writes each email as an ``.eml`` file: for ``deleton up`` without a mail server."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def send(self, message: EmailMessage) -> None:
        name = str(message["Message-ID"]).strip("<>").replace("@", "_")
        (self.folder / f"{name}.eml").write_bytes(message.as_bytes())


def transport_for(config: MailConfig, home: Path) -> Transport:
    if config.backend == "ses":
        return SesTransport(config)
    if config.backend == "folder":
        return FolderTransport(home / "outbox")
    return SmtpTransport(config)
