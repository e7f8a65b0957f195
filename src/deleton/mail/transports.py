"""The ways an email can go: an SMTP server, Amazon SES, or a folder of ``.eml`` files (for
``deleton up`` without a mail server).

Library errors are translated here: ``TransientError`` when trying again later may work (the
server away, a 4xx reply, a full disk), ``TerminalError`` when this email will never be taken
(a 5xx refusal of its recipient or content). Their text has any address taken out: servers
quote the recipient they refuse."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from .. import private
from ..core.privacy import redact
from ..errors import TerminalError, TransientError
from .config import MailConfig


class Transport(Protocol):
    """Hands one email on; raises ``TransientError`` when it could not now, so that it is
    retried, and ``TerminalError`` when it never will."""

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
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            raise TerminalError(f"SMTP {c.smtp_host}: recipient refused ({codes})") from None
        except smtplib.SMTPResponseException as exc:
            text = (
                exc.smtp_error.decode(errors="replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            what = f"SMTP {c.smtp_host}:{c.smtp_port}: {exc.smtp_code} {redact(text, 200)}"
            # a 5xx about this email (not about our login or sender) will not change on retry
            config_fault = isinstance(
                exc, smtplib.SMTPSenderRefused | smtplib.SMTPAuthenticationError
            )
            if 500 <= exc.smtp_code < 600 and not config_fault:
                raise TerminalError(what) from None
            raise TransientError(what) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientError(
                f"SMTP {c.smtp_host}:{c.smtp_port}: {redact(f'{type(exc).__name__}: {exc}', 200)}"
            ) from None


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
        except ClientError as exc:
            # MessageRejected also means "sender not verified": a setting to put right, so the
            # alert waits (and expires if nobody does)
            raise TransientError(f"SES: {redact(str(exc), 200)}") from None
        except BotoCoreError as exc:
            raise TransientError(f"SES: {redact(str(exc), 200)}") from None


class FolderTransport:
    """Writes each email as an ``.eml`` file: for ``deleton up`` without a mail server. An alert
    carries the rider's address, first name and heart rate: the folder is 0700 and each file
    0600 (``private``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = private.folder(folder)

    def send(self, message: EmailMessage) -> None:
        name = str(message["Message-ID"]).strip("<>").replace("@", "_").replace("/", "_")
        try:
            private.write(self.folder / f"{name}.eml", message.as_bytes())
        except OSError as exc:  # a full disk, or permissions: may be put right
            raise TransientError(f"cannot write to {self.folder}: {exc.strerror}") from None


def transport_for(config: MailConfig) -> Transport:
    if config.backend == "ses":
        return SesTransport(config)
    if config.backend == "folder":
        return FolderTransport(config.folder)
    return SmtpTransport(config)
