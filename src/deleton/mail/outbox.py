"""The alert outbox: sends the heart-rate alerts that ingestion stored, on a thread of its own.

Alerts are rows in ``daily.alert``, written with the readings that fired them, ``pending`` until
a transport accepts the email. The outbox runs in its own thread with its own connection, so a
slow or absent mail server never holds up ingestion; it is woken as soon as a batch with alerts
commits, and anything left pending when a process stops is sent by the next one.

Nothing one alert does can stop the others:

- a transport that cannot deliver now (``TransientError``) leaves the alert pending, retried
  with backoff;
- anything else (an address no server accepts, an email that cannot be composed) marks that
  alert ``failed`` with the reason, its address taken out;
- an alert whose reading is older than ``max_age`` is marked ``expired``: a safety warning
  hours late helps nobody;
- an error outside any one alert (the database away) is logged and the loop goes on after a
  backoff; the owner restarts the thread if it ever dies (``alive``).

``backlog`` and ``oldest_pending`` are measured every cycle, for metrics.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from typing import Any

import psycopg

from ..core.privacy import redact
from ..errors import TransientError
from .alert_email import Alert, compose
from .transports import Transport

log = logging.getLogger(__name__)

Connect = Callable[[], psycopg.Connection[Any]]

# The address is the rider's, read as the alert is sent: alerts keep none (migration 0008).
# No rider row (an erased rider's pending alerts are failed as they are erased): no address,
# and the alert fails.
_CLAIM = """
SELECT a.alert_id, a.ride_id, a.kind, a.at, a.heart_rate, a.heart_rate_limit, r.email,
       r.first_name
FROM daily.alert a LEFT JOIN daily.rider r USING (user_id)
WHERE a.status = 'pending' AND a.next_attempt_at <= now()
ORDER BY a.alert_id
LIMIT 1
FOR UPDATE OF a SKIP LOCKED
"""


class Outbox:
    """Sends pending alerts. ``wake()`` after committing alerts; ``drain()`` to send all now."""

    def __init__(
        self,
        connect: Connect,
        transport: Transport,
        sender: str,
        max_age: float = 900.0,
        poll_seconds: float = 5.0,
    ) -> None:
        self.connect = connect
        self.transport = transport
        self.sender = sender
        self.max_age = max_age
        self.poll_seconds = poll_seconds
        self.sent = 0
        self.failed = 0
        self.expired = 0
        self.retries = 0
        self.backlog = 0  # alerts pending at the last count
        self.oldest_pending: float | None = None  # epoch seconds of the oldest pending reading
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: psycopg.Connection[Any] | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="outbox", daemon=True)
        self._thread.start()

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._disconnect()

    def _run(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            self._wake.wait(self.poll_seconds)
            self._wake.clear()
            try:
                self.cycle()
                backoff = 1.0
            except Exception as exc:  # the thread outlives anything: log it, wait, go on
                log.warning(
                    "outbox: %s; trying again in %.0f s", redact(f"{type(exc).__name__}: {exc}"),
                    backoff,
                )  # fmt: skip
                self._disconnect()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 60)

    def cycle(self) -> None:
        """Expire what is too old, send what is due, then count what is left."""
        self.expire()
        while not self._stop.is_set() and self.send_due():
            pass
        self.measure()

    def drain(self) -> int:
        """Send every alert that is due now, in this thread; return how many were sent."""
        before = self.sent
        self.expire()
        while self.send_due():
            pass
        self.measure()
        return self.sent - before

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = self.connect()
        return self._conn

    def _disconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def expire(self) -> int:
        """Mark expired every pending alert whose reading is older than ``max_age``."""
        rows = (
            self._connection()
            .execute(
                "UPDATE daily.alert SET status = 'expired', last_error = %s"
                " WHERE status = 'pending' AND at < now() - %s * interval '1 second'"
                " RETURNING alert_id",
                [f"not sent within {self.max_age:,.0f} s of its reading", self.max_age],
            )
            .fetchall()
        )
        if rows:
            self.expired += len(rows)
            log.warning("%d alerts expired unsent (older than %.0f s)", len(rows), self.max_age)
        return len(rows)

    def measure(self) -> None:
        count, oldest = self._connection().execute(
            "SELECT count(*), min(at) FROM daily.alert WHERE status = 'pending'"
        ).fetchone() or (0, None)
        self.backlog = int(count)
        self.oldest_pending = oldest.timestamp() if isinstance(oldest, dt.datetime) else None

    def send_due(self) -> int:
        """Try the next few due alerts; return how many were handled (0: nothing due, or the
        transport could not deliver and the rest wait for its backoff)."""
        conn = self._connection()
        handled = 0
        for _ in range(20):
            # one alert per transaction: its row stays locked while it is sent, and a crash
            # resends at most the one in flight
            with conn.transaction():
                row = conn.execute(_CLAIM).fetchone()
                if row is None:
                    return handled
                alert = Alert(*row)
                try:
                    self.transport.send(compose(alert, self.sender))
                except TransientError as exc:
                    self._retry_later(conn, alert, exc)
                    return handled
                except Exception as exc:  # this alert cannot go; the others can
                    self._fail(conn, alert, exc)
                else:
                    self._mark_sent(conn, alert)
            handled += 1
        return handled

    def _mark_sent(self, conn: psycopg.Connection[Any], alert: Alert) -> None:
        conn.execute(
            "UPDATE daily.alert SET status = 'sent', sent_at = now(), attempts = attempts + 1,"
            " last_error = NULL WHERE alert_id = %s",
            [alert.alert_id],
        )
        self.sent += 1
        log.info(
            "sent %s heart-rate alert %d for ride %d", alert.kind, alert.alert_id, alert.ride_id
        )

    def _retry_later(self, conn: psycopg.Connection[Any], alert: Alert, exc: Exception) -> None:
        self.retries += 1
        reason = redact(str(exc))
        log.warning("alert %d for ride %d not sent yet: %s", alert.alert_id, alert.ride_id, reason)
        conn.execute(
            "UPDATE daily.alert SET attempts = attempts + 1, last_error = %s,"
            " next_attempt_at = now() + least(interval '1 second' * 2 ^ attempts,"
            " interval '5 minutes') WHERE alert_id = %s",
            [reason, alert.alert_id],
        )

    def _fail(self, conn: psycopg.Connection[Any], alert: Alert, exc: Exception) -> None:
        self.failed += 1
        reason = redact(f"{type(exc).__name__}: {exc}")
        log.error("alert %d for ride %d failed: %s", alert.alert_id, alert.ride_id, reason)
        conn.execute(
            "UPDATE daily.alert SET status = 'failed', attempts = attempts + 1, last_error = %s"
            " WHERE alert_id = %s",
            [reason, alert.alert_id],
        )
