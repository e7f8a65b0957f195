"""The alert outbox's rows in ``daily.alert``, as the mail outbox sends them: the SQL behind the
``core.ports.AlertRows`` port, so that ``mail`` speaks mail only.

Ingestion writes each alert ``pending`` with the readings that fired it; here one is claimed at
a time, its row locked (``FOR UPDATE SKIP LOCKED``) for as long as its email is being sent, and
marked ``sent``, ``failed`` or retried later in the same transaction, so that a crash resends
at most the one in flight. One connection of its own, opened on first use and again after a
failure (``close``). Database errors come out translated (``connection.translate``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
from psycopg.rows import class_row, dict_row

from ..core.alerts import AlertToSend
from .connection import translate

# The address is the rider's, read as the alert is sent: alerts keep none (migration 0008).
# No rider row (an erased rider's pending alerts are failed as they are erased): no address,
# and the alert fails.
_CLAIM = """
SELECT a.alert_id, a.ride_id, a.kind, a.at, a.heart_rate, a.heart_rate_limit AS "limit",
       r.email AS recipient, r.first_name
FROM daily.alert a LEFT JOIN daily.rider r USING (user_id)
WHERE a.status = 'pending' AND a.next_attempt_at <= now()
ORDER BY a.alert_id
LIMIT 1
FOR UPDATE OF a SKIP LOCKED
"""
_EXPIRE = """
UPDATE daily.alert SET status = 'expired', last_error = %s
WHERE status = 'pending' AND at < now() - %s * interval '1 second'
RETURNING alert_id
"""
_PENDING = "SELECT count(*) AS count, min(at) AS oldest FROM daily.alert WHERE status = 'pending'"
_SENT = """
UPDATE daily.alert SET status = 'sent', sent_at = now(), attempts = attempts + 1,
                       last_error = NULL
WHERE alert_id = %s
"""
# backoff doubles with each attempt, up to five minutes
_RETRY = """
UPDATE daily.alert SET attempts = attempts + 1, last_error = %s,
       next_attempt_at = now() + least(interval '1 second' * 2 ^ attempts, interval '5 minutes')
WHERE alert_id = %s
"""
_FAILED = """
UPDATE daily.alert SET status = 'failed', attempts = attempts + 1, last_error = %s
WHERE alert_id = %s
"""


class PostgresAlerts:
    """``daily.alert`` through one connection of its own, from ``connect`` (autocommit)."""

    def __init__(self, connect: Callable[[], psycopg.Connection[Any]]) -> None:
        self._connect = connect
        self._conn: psycopg.Connection[Any] | None = None

    def expire(self, max_age: float, reason: str) -> int:
        with self._translated():
            return len(self._connection().execute(_EXPIRE, [reason, max_age]).fetchall())

    def pending(self) -> tuple[int, float | None]:
        with self._translated(), self._connection().cursor(row_factory=dict_row) as cur:
            row = cur.execute(_PENDING).fetchone()
        assert row is not None  # an aggregate: one row, always
        oldest = row["oldest"]
        return int(row["count"]), None if oldest is None else oldest.timestamp()

    @contextlib.contextmanager
    def claim(self) -> Iterator[AlertToSend | None]:
        with self._translated():
            conn = self._connection()
            with conn.transaction(), conn.cursor(row_factory=class_row(AlertToSend)) as cur:
                yield cur.execute(_CLAIM).fetchone()

    def sent(self, alert_id: int) -> None:
        with self._translated():
            self._connection().execute(_SENT, [alert_id])

    def retry_later(self, alert_id: int, reason: str) -> None:
        with self._translated():
            self._connection().execute(_RETRY, [reason, alert_id])

    def failed(self, alert_id: int, reason: str) -> None:
        with self._translated():
            self._connection().execute(_FAILED, [reason, alert_id])

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = self._connect()
        return self._conn

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except psycopg.Error as exc:
            raise translate(exc, "the alert outbox") from exc
