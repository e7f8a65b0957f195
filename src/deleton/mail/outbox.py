"""The alert outbox: sends the heart-rate alerts that ingestion stored, on a thread of its own.

Alerts are rows (``core.ports.AlertRows``; in PostgreSQL, ``postgres.alerts``), written with
the readings that fired them, ``pending`` until a transport accepts the email. The outbox runs
in its own thread over rows of its own, so a slow or absent mail server never holds up
ingestion; it is woken as soon as a batch with alerts commits, and anything left pending when
a process stops is sent by the next one.

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

import logging
import threading

from ..core.alerts import AlertToSend
from ..core.ports import AlertRows
from ..core.privacy import redact
from ..errors import TransientError
from .alert_email import compose
from .transports import Transport

log = logging.getLogger(__name__)


class Outbox:
    """Sends pending alerts. ``wake()`` after committing alerts; ``drain()`` to send all now."""

    def __init__(
        self,
        alerts: AlertRows,
        transport: Transport,
        sender: str,
        max_age: float = 900.0,
        poll_seconds: float = 5.0,
    ) -> None:
        self.alerts = alerts
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
        self.alerts.close()

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
                self.alerts.close()
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

    def expire(self) -> int:
        """Mark expired every pending alert whose reading is older than ``max_age``."""
        count = self.alerts.expire(
            self.max_age, f"not sent within {self.max_age:,.0f} s of its reading"
        )
        if count:
            self.expired += count
            log.warning("%d alerts expired unsent (older than %.0f s)", count, self.max_age)
        return count

    def measure(self) -> None:
        self.backlog, self.oldest_pending = self.alerts.pending()

    def send_due(self) -> int:
        """Try the next few due alerts; return how many were handled (0: nothing due, or the
        transport could not deliver and the rest wait for its backoff)."""
        handled = 0
        for _ in range(20):
            # one alert per claim: it stays claimed while it is sent, and a crash resends at
            # most the one in flight
            with self.alerts.claim() as alert:
                if alert is None:
                    return handled
                try:
                    self.transport.send(compose(alert, self.sender))
                except TransientError as exc:
                    self._retry_later(alert, exc)
                    return handled
                except Exception as exc:  # this alert cannot go; the others can
                    self._fail(alert, exc)
                else:
                    self._mark_sent(alert)
            handled += 1
        return handled

    def _mark_sent(self, alert: AlertToSend) -> None:
        self.alerts.sent(alert.alert_id)
        self.sent += 1
        log.info(
            "sent %s heart-rate alert %d for ride %d", alert.kind, alert.alert_id, alert.ride_id
        )

    def _retry_later(self, alert: AlertToSend, exc: Exception) -> None:
        self.retries += 1
        reason = redact(str(exc))
        log.warning("alert %d for ride %d not sent yet: %s", alert.alert_id, alert.ride_id, reason)
        self.alerts.retry_later(alert.alert_id, reason)

    def _fail(self, alert: AlertToSend, exc: Exception) -> None:
        self.failed += 1
        reason = redact(f"{type(exc).__name__}: {exc}")
        log.error("alert %d for ride %d failed: %s", alert.alert_id, alert.ride_id, reason)
        self.alerts.failed(alert.alert_id, reason)
