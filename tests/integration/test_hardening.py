"""The spine under faults, against real PostgreSQL and SMTP: alert delivery survives any one
alert, old alerts expire, a commit in doubt is not written twice, and members racing for a new
hour's partition never fail."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

from deleton.core.batch import Batch, DeadLetter
from deleton.core.messages import message
from deleton.core.records import Record, RideLine, RiderLine, TelemetryLine
from deleton.core.tracker import Tracker
from deleton.core.wire import format_value
from deleton.errors import FencedError
from deleton.mail.config import MailConfig
from deleton.mail.outbox import Outbox
from deleton.mail.transports import FolderTransport, SmtpTransport
from deleton.postgres.alerts import PostgresAlerts
from deleton.postgres.connection import Database
from deleton.postgres.store import PostgresStore
from tests.harness.fleet import SECOND, START
from tests.harness.services import SmtpServer, execute, rows, scalar, wait_for

RIDER = RiderLine(START, "h v1", 7, "Sam Lee", "male", "1 High st,Leeds,LS1 1AA", 0, "sam@x.com",
              180, 80, 0, "SN1", "direct")  # fmt: skip


def mail_config(smtp: SmtpServer) -> MailConfig:
    return MailConfig("smtp", "alerts@deleton.example", "127.0.0.1", smtp.port, None, None,
                      "none", "eu-west-2", Path("outbox"))  # fmt: skip


def add_alert(db: str, ride_id: int, recipient: str | None, age: dt.timedelta) -> int:
    """An alert of ride ``ride_id``, for a rider of its own whose address is ``recipient``
    (``None``: no such rider any more). An alert keeps no address: the outbox reads it."""
    at = dt.datetime.now(dt.UTC) - age
    if recipient is not None:
        execute(
            db,
            "INSERT INTO daily.rider (user_id, first_name, last_name, gender, gender_as_given,"
            " date_of_birth, email, house, street, city, postcode, height_cm, weight_kg,"
            " account_created, original_source, seen_at) VALUES (%s, 'Sam', 'Lee', 'male',"
            " 'male', '1970-01-01', %s, '1', 'High st', 'Leeds', 'LS1 1AA', 180, 80,"
            " '2020-01-01', 'direct', now())",
            [ride_id, recipient],
        )
    alert_id: int = scalar(
        db,
        "INSERT INTO daily.alert (ride_id, user_id, kind, at, heart_rate, heart_rate_limit)"
        " VALUES (%s, %s, 'high', %s, 190, 168) RETURNING alert_id",
        [ride_id, ride_id, at],
    )
    return alert_id


def outbox_over(db: str, transport: Any, max_age: float = 900.0) -> Outbox:
    database = Database(db)
    alerts = PostgresAlerts(lambda: database.connect(autocommit=True))
    return Outbox(alerts, transport, "alerts@deleton.example", max_age, poll_seconds=0.2)


def statuses(db: str) -> dict[int, tuple[str, str | None]]:
    return {
        a: (s, e) for a, s, e in rows(db, "SELECT alert_id, status, last_error FROM daily.alert")
    }


def test_one_alert_that_cannot_go_never_stops_the_others(db: str, smtp: SmtpServer) -> None:
    smtp.mailbox.refuse.add("gone@example.com")
    refused = add_alert(db, 1, "gone@example.com", dt.timedelta(seconds=5))
    injected = add_alert(db, 2, "sam@x.com\r\nBcc: everyone@x.com", dt.timedelta(seconds=5))
    good = add_alert(db, 3, "sam@x.com", dt.timedelta(seconds=5))
    late = add_alert(db, 4, "late@example.com", dt.timedelta(hours=2))
    nobody = add_alert(db, 5, None, dt.timedelta(seconds=5))  # its rider erased since
    outbox = outbox_over(db, SmtpTransport(mail_config(smtp)))
    outbox.start()
    try:
        wait_for(lambda: statuses(db)[good][0] == "sent", timeout=30, what="the good alert")
        assert outbox.alive()
    finally:
        outbox.stop()
    seen = statuses(db)
    assert seen[refused][0] == "failed" and "550" in (seen[refused][1] or "")
    assert seen[injected][0] == "failed"
    assert seen[late] == ("expired", "not sent within 900 s of its reading")
    assert seen[nobody][0] == "failed" and "no address" in (seen[nobody][1] or "")
    for _, error in seen.values():  # no address in anything we keep about a failure
        assert "gone@" not in (error or "") and "sam@" not in (error or "")
    assert [m["To"] for m in smtp.messages] == ["sam@x.com"]
    assert (outbox.sent, outbox.failed, outbox.expired, outbox.backlog) == (1, 3, 1, 0)


def test_a_full_disk_keeps_alerts_pending_and_measured_until_it_clears(
    db: str, tmp_path: Path
) -> None:
    blocked = tmp_path / "outbox"
    transport = FolderTransport(blocked)
    blocked.rmdir()
    blocked.write_text("not a folder: every write fails as on a full disk")
    alert = add_alert(db, 1, "sam@x.com", dt.timedelta(seconds=30))
    outbox = outbox_over(db, transport)
    outbox.cycle()
    status, error = statuses(db)[alert]
    assert status == "pending" and "cannot write" in (error or "")
    assert outbox.backlog == 1 and outbox.oldest_pending is not None
    assert 25 < dt.datetime.now(dt.UTC).timestamp() - outbox.oldest_pending < 120
    blocked.unlink()
    blocked.mkdir()
    execute(db, "UPDATE daily.alert SET next_attempt_at = now()")
    outbox.cycle()
    assert statuses(db)[alert][0] == "sent" and outbox.backlog == 0
    assert len(list(blocked.glob("*.eml"))) == 1


def small_batch() -> tuple[Batch, dict[int, bytes]]:
    tracker = Tracker(60 * SECOND, itertools.count(1000).__next__)
    records: list[Record] = [RIDER]
    for s in range(1, 4):
        records += [RideLine(START + s * SECOND, "h v1", float(s), 30),
                    TelemetryLine(START + s * SECOND + SECOND // 2, "h v1", 100, 60, 9.0)]  # fmt: skip
    for i, record in enumerate(records):
        tracker.feed(message(0, i, i + 1, b"SN1", format_value(record)))
    return tracker.take(), {0: tracker.checkpoint(0)}


def test_a_batch_whose_commit_was_in_doubt_is_not_written_twice(db: str) -> None:
    store = PostgresStore(Database(db))
    store.claim("test", [0])
    batch, checkpoints = small_batch()
    store.write("test", batch, checkpoints, {0: None})
    # the connection dropped during COMMIT, and the batch is tried again from the same place
    store.write("test", batch, checkpoints, {0: None})
    assert scalar(db, "SELECT count(*) FROM daily.reading") == 3
    assert scalar(db, "SELECT count(*) FROM daily.ride") == 1
    assert scalar(db, "SELECT next_position FROM daily.source_position") == 7
    # another member's batch over the same messages (other ride ids) is not ours: fenced
    other, other_checkpoints = small_batch()
    other_checkpoints = {0: other_checkpoints[0].replace(b"1000", b"2000")}
    with pytest.raises(FencedError):
        store.write("test", other, other_checkpoints, {0: None})
    store.close()


def test_a_dead_letter_keeps_a_bounded_value_with_its_length_and_hash(db: str) -> None:
    store = PostgresStore(Database(db), dead_letter_max_bytes=1024)
    store.claim("test", [0])
    huge = b"x" * 2**20
    batch = Batch(messages=1, positions={0: 1})
    batch.dead_letters.append(DeadLetter(0, 0, b"k" * 5000, huge, "too large"))
    store.write("test", batch, {0: b'{"bikes": []}'}, {0: None})
    key, value, length, digest = rows(
        db, "SELECT key, value, value_length, value_sha256 FROM daily.dead_letter"
    )[0]
    assert (len(key), bytes(value), length) == (1024, huge[:1024], 2**20)
    assert bytes(digest) == hashlib.sha256(huge).digest()
    store.close()


def test_a_refused_riders_line_keeps_no_byte_and_waits_for_an_erasure_under_way(db: str) -> None:
    """Fourth review, finding B: a [SYSTEM] line refused after its rider's erasure stored
    their name, email, address and birth date again in ``daily.dead_letter``, and a batch of
    dead letters alone never took the lock an erasure holds. A refused line that may hold a
    rider keeps its reason, position and length, never its bytes nor their hash; the batch
    waits for an erasure under way as every batch that stores a rider does."""
    store = PostgresStore(Database(db))
    store.claim("test", [0])
    line = format_value(RIDER).replace(b'"gender\\":\\"male\\"', b'"gender\\":12')
    assert b"sam@x.com" in line and b'"gender\\":12' in line
    batch = Batch(messages=1, positions={0: 1})
    batch.dead_letters.append(DeadLetter(0, 0, b"SN1", line, "rider field gender is not str"))
    written = threading.Event()

    def write() -> None:
        store.write("test", batch, {0: b'{"bikes": []}'}, {0: None})
        written.set()

    waiting = ("SELECT count(*) FROM pg_locks WHERE NOT granted"
               " AND relation = 'daily.rider'::regclass")  # fmt: skip
    with psycopg.connect(db) as erasure:  # as historical.erase_rider holds it until it commits
        erasure.execute("LOCK TABLE daily.rider IN SHARE ROW EXCLUSIVE MODE")
        writer = threading.Thread(target=write)
        writer.start()
        wait_for(lambda: scalar(db, waiting) == 1, 30, what="the batch waiting for the lock")
        assert not written.is_set()
    writer.join(30)
    assert written.is_set()
    assert rows(db, "SELECT position, key, value, value_length, value_sha256, reason"
                    " FROM daily.dead_letter") == [
        (0, b"SN1", None, len(line), None, "rider field gender is not str")
    ]  # fmt: skip
    store.close()


def test_members_racing_for_a_new_hour_all_succeed(db: str) -> None:
    # a new hour within the clock skew the partition function allows (migration 0008)
    hour = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    hour += dt.timedelta(hours=5)
    racers = 8
    ready = threading.Barrier(racers)
    failures: list[BaseException] = []

    def race() -> None:
        try:
            with psycopg.connect(db) as conn:  # one transaction each, as an ingest batch
                conn.execute("SELECT 1")
                ready.wait(10)
                conn.execute("SELECT daily.ensure_reading_partition(%s)", [hour])
                conn.execute(
                    "INSERT INTO daily.reading (ride_id, at) VALUES (1, %s)",
                    [hour + dt.timedelta(minutes=30)],
                )
        except BaseException as exc:  # collected for the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=race) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert failures == []
    assert scalar(db, "SELECT count(*) FROM daily.reading") == racers
    tables = "SELECT relname FROM pg_class WHERE relkind = 'r' AND relname = %s"
    name = f"reading_{hour:%Y%m%d_%H}"
    assert rows(db, tables, [name]) == [(name,)]


def test_a_checkpoint_edited_by_compression_fences_the_member_that_held_it(db: str) -> None:
    store = PostgresStore(Database(db))
    store.claim("test", [0])
    batch, checkpoints = small_batch()
    store.write("test", batch, checkpoints, {0: None})
    # compression took a ride out of this checkpoint: the version moved
    execute(db, "UPDATE daily.source_position SET version = version + 1")
    more = Batch(messages=1, positions={0: 8})
    with pytest.raises(FencedError):
        store.write("test", more, {0: checkpoints[0]}, {0: 7})
    store.claim("test", [0])  # reloading takes the new version: writing goes on
    store.write("test", more, {0: checkpoints[0]}, {0: 7})
    assert scalar(db, "SELECT next_position FROM daily.source_position") == 8
    store.close()
