"""Heart-rate alert emails: the outbox that sends them, and the ways they can go.

Alerts are rows in ``daily.alert``, written with the readings that fired them; ``sent_at`` stays
null until a backend accepts the email. The outbox runs in its own thread with its own
connection, so a slow or absent mail server never holds up ingestion; it is woken as soon as a
batch with alerts commits, retries failures with backoff, and anything left unsent when a
process stops is sent by the next one. Each email's Message-ID is derived from the alert id, so
a resend after a crash between sending and recording is recognisably the same email.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
import ssl
import threading
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import psycopg

from .errors import TransientError
from .settings import MailConfig

log = logging.getLogger(__name__)


class Alert(NamedTuple):
    alert_id: int
    ride_id: int
    kind: str
    at: dt.datetime
    heart_rate: int
    limit: int
    recipient: str
    first_name: str | None


def compose(alert: Alert, sender: str) -> EmailMessage:
    """The email for one alert."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = alert.recipient
    message["Message-ID"] = f"<alert-{alert.alert_id}@deleton>"
    message["Date"] = format_datetime(alert.at)
    when = alert.at.strftime("%H:%M:%S UTC on %d %B %Y")
    hello = f"Hello {alert.first_name}," if alert.first_name else "Hello,"
    if alert.kind == "high":
        message["Subject"] = "Deleton safety alert: your heart rate is too high"
        detail = (
            f"your heart rate reached {alert.heart_rate} bpm at {when}, above your personal "
            f"maximum of {alert.limit} bpm. Please slow down, lower the resistance and rest."
        )
    else:
        message["Subject"] = "Deleton safety alert: your heart rate is unusually low"
        detail = (
            f"your heart rate read {alert.heart_rate} bpm at {when} while you were pedalling, "
            f"below {alert.limit} bpm. Please stop and check how you feel."
        )
    message.set_content(
        f"{hello}\n\n{detail}\n\nIf you feel unwell, stop riding and seek medical help.\n\n"
        f"Deleton (ride {alert.ride_id})\n"
    )
    return message


class Backend(Protocol):
    def send(self, message: EmailMessage) -> None: ...


class SmtpBackend:
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


class SesBackend:
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


class FolderBackend:
    """Writes each email as an ``.eml`` file: for ``deleton up`` without a mail server."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def send(self, message: EmailMessage) -> None:
        name = str(message["Message-ID"]).strip("<>").replace("@", "_")
        (self.folder / f"{name}.eml").write_bytes(message.as_bytes())


def backend_for(config: MailConfig, home: Path) -> Backend:
    if config.backend == "ses":
        return SesBackend(config)
    if config.backend == "folder":
        return FolderBackend(home / "outbox")
    return SmtpBackend(config)


_CLAIM = """
SELECT a.alert_id, a.ride_id, a.kind, a.at, a.heart_rate, a.heart_rate_limit, a.recipient,
       r.first_name
FROM daily.alert a LEFT JOIN daily.rider r USING (user_id)
WHERE a.sent_at IS NULL AND a.next_attempt_at <= now()
ORDER BY a.alert_id
LIMIT 1
FOR UPDATE OF a SKIP LOCKED
"""


class Outbox:
    """Sends unsent alerts. ``wake()`` after committing alerts; ``drain()`` to send all now."""

    def __init__(self, url: str, backend: Backend, sender: str, poll_seconds: float = 5.0) -> None:
        self.url = url
        self.backend = backend
        self.sender = sender
        self.poll_seconds = poll_seconds
        self.sent = 0
        self.failures = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: psycopg.Connection[Any] | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="outbox", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _run(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            self._wake.wait(self.poll_seconds)
            self._wake.clear()
            try:
                while not self._stop.is_set() and self.send_due():
                    pass
                backoff = 1.0
            except (psycopg.Error, TransientError) as exc:
                log.warning("outbox: %s; retrying in %.0f s", exc, backoff)
                if self._conn is not None and (self._conn.broken or self._conn.closed):
                    self._conn = None
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 60)

    def drain(self) -> int:
        """Send every alert that is due now, in this thread; return how many were sent."""
        before = self.sent
        while self.send_due():
            pass
        return self.sent - before

    def send_due(self) -> int:
        """Try the next few due alerts; return how many were sent (0: nothing due, or the
        mail server refused and the rest wait for the backoff)."""
        if self._conn is None:
            self._conn = psycopg.connect(self.url, autocommit=True)
        conn = self._conn
        sent = 0
        for _ in range(20):
            # one alert per transaction: its row stays locked while it is sent, and a crash
            # resends at most the one in flight
            with conn.transaction():
                row = conn.execute(_CLAIM).fetchone()
                if row is None:
                    return sent
                alert = Alert(*row)
                try:
                    self.backend.send(compose(alert, self.sender))
                except TransientError as exc:
                    self.failures += 1
                    log.warning(
                        "alert %d for ride %d not sent: %s", alert.alert_id, alert.ride_id, exc
                    )
                    conn.execute(
                        "UPDATE daily.alert SET attempts = attempts + 1, last_error = %s,"
                        " next_attempt_at = now() + least(interval '1 second' * 2 ^ attempts,"
                        " interval '5 minutes') WHERE alert_id = %s",
                        [str(exc), alert.alert_id],
                    )
                    return sent
                conn.execute(
                    "UPDATE daily.alert SET sent_at = now(), attempts = attempts + 1,"
                    " last_error = NULL WHERE alert_id = %s",
                    [alert.alert_id],
                )
            self.sent += 1
            sent += 1
            log.info(
                "sent %s heart-rate alert %d for ride %d", alert.kind, alert.alert_id, alert.ride_id
            )
        return sent
