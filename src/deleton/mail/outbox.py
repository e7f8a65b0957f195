"""The alert outbox: sends the heart-rate alerts that ingestion stored, on a thread of its own.

Alerts are rows in ``daily.alert``, written with the readings that fired them; ``sent_at`` stays
null until a transport accepts the email. The outbox runs in its own thread with its own
connection, so a slow or absent mail server never holds up ingestion; it is woken as soon as a
batch with alerts commits, retries failures with backoff, and anything left unsent when a
process stops is sent by the next one.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import psycopg

from ..errors import TransientError
from .alert_email import Alert, compose
from .transports import Transport

log = logging.getLogger(__name__)


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

    def __init__(
        self, url: str, transport: Transport, sender: str, poll_seconds: float = 5.0
    ) -> None:
        self.url = url
        self.transport = transport
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
                    self.transport.send(compose(alert, self.sender))
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
