"""Ingestion under faults, end to end: crashes, a database and a broker that go away, hostile
input, wrong clocks, a mail server down, members racing on a fresh database, and the dashboard
without its database. Each ends exact: lost 0, duplicated 0, every bad message a dead letter
with its reason, no crash and no restart needed, as the table printed at the end shows."""

from __future__ import annotations

import datetime as dt
import random
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from playwright.sync_api import expect

from deleton.core.batch import Batch
from deleton.core.records import to_datetime
from deleton.core.simulation import TICK_US
from deleton.core.wire import envelope, format_time
from deleton.simulator.riders import simulated_fleet
from tests.faults.conftest import (
    FINDINGS,
    SCALE,
    Finding,
    ingest_env,
    progress,
    wait_progress,
)
from tests.faults.hostile import VALID_KINDS, hostile_messages, judged_bad
from tests.harness.broker import LocalBroker
from tests.harness.browser import Dashboard, Watched
from tests.harness.expected import mismatch, natural, reference, settled, stored
from tests.harness.fleet import SECOND, START, fill_topic, ingest_simulated
from tests.harness.postgres import ControlledPostgres
from tests.harness.services import SmtpServer, deleton, free_port, rows, scalar, wait_for

pytestmark = pytest.mark.slow

# A topic, how many messages it holds, what an uninterrupted run must store, and each
# partition's end offset.
Stream = tuple[str, int, Batch, dict[int, int]]


@pytest.fixture(scope="session")
def stream(broker: LocalBroker) -> Stream:
    """One seeded fleet's five minutes on a topic, and what an uninterrupted run of it must
    store, made once a session (each xdist worker has its own broker): the scenarios that
    differ only in their fault (PostgreSQL stopped, SIGTERM while retrying, the broker
    restarted, one member of two killed) each read it into their own freshly reset database
    in a consumer group of their own, instead of filling and replaying a topic each."""
    topic = "faults-stream"
    count = fill_topic(broker, topic, bikes=scaled(600), seconds=300, seed=22)
    expected, ends, _ = reference(broker, topic, count)
    return topic, count, expected, ends


def scaled(count: int) -> int:
    return max(1, int(count * SCALE))


def differences(want: dict[str, Any], got: dict[str, Any]) -> tuple[int, int]:
    """Rows the reference has and the database lacks, and rows the database has twice or that
    the reference never made, over readings, rides and alerts."""
    lost = sum(sum((want[k] - got[k]).values()) for k in ("readings", "rides", "alerts"))
    extra = sum(sum((got[k] - want[k]).values()) for k in ("readings", "rides", "alerts"))
    return lost, extra


def dead_letters(url: str) -> Counter[tuple[int, int, str]]:
    return Counter(rows(url, "SELECT partition, position, reason FROM daily.dead_letter"))


# Bikes whose row of daily.bike_latest (migration 0023) is not what the rides and readings
# stored say: the bike's newest ride (by start, then id) as it stands, and that ride's newest
# reading (of two at the same moment, either one). The row is kept in ingestion's own
# transaction, so a kill, a fenced member or a batch written twice must leave none.
LATEST_DRIFT = """
SELECT coalesce(w.bike_serial, b.bike_serial)
FROM (SELECT DISTINCT ON (bike_serial) bike_serial, ride_id, started_at, ended_at
      FROM daily.ride ORDER BY bike_serial, started_at DESC, ride_id DESC) w
FULL JOIN daily.bike_latest b ON b.bike_serial = w.bike_serial
WHERE (w.ride_id, w.started_at, w.ended_at) IS DISTINCT FROM (b.ride_id, b.started_at, b.ended_at)
   OR b.at IS DISTINCT FROM (SELECT max(x.at) FROM daily.reading x WHERE x.ride_id = w.ride_id)
   OR (b.at IS NOT NULL AND NOT EXISTS (
       SELECT FROM daily.reading x WHERE x.ride_id = b.ride_id AND x.at = b.at
       AND (x.duration, x.resistance, x.heart_rate, x.rpm, x.power)
           IS NOT DISTINCT FROM (b.duration, b.resistance, b.heart_rate, b.rpm, b.power)))
ORDER BY 1
"""

# Bikes whose running tally (migration 0026) is not whole, or not its ride's sums over every
# reading stored (daily.ride_sums, the one definition): every writer here adds, in the
# transaction of its readings, so a kill, a fenced member or a batch written twice must leave
# none. Power is summed batch by batch there and at once here: equal to the last bits only.
TALLY_DRIFT = """
SELECT b.bike_serial
FROM daily.bike_latest b
LEFT JOIN LATERAL daily.ride_sums(ARRAY[b.ride_id], ARRAY['-infinity'::timestamptz],
                                  '-infinity', 'infinity') s ON true
WHERE NOT b.tally_whole OR b.tallied_at IS DISTINCT FROM b.at
   OR b.readings <> coalesce(s.readings, 0)
   OR b.power_readings <> coalesce(s.power_readings, 0)
   OR b.resistance_readings <> coalesce(s.resistance_readings, 0)
   OR b.resistance_sum <> coalesce(s.resistance_sum, 0)
   OR abs(b.power_sum - coalesce(s.power_sum, 0)) > 1e-9 * greatest(1, abs(s.power_sum))
   -- the seconds in each heart-rate zone (0027), against the ride's own (ride_figures)
   OR b.zoned_readings <> b.readings
   OR ARRAY[b.hr_zone1_s, b.hr_zone2_s, b.hr_zone3_s, b.hr_zone4_s, b.hr_zone5_s]
      <> coalesce((SELECT f.seconds_in_hr_zone FROM daily.ride_figures(ARRAY[b.ride_id],
                   '-infinity', 'infinity') f), '{0,0,0,0,0}')
ORDER BY 1
"""


def record(
    scenario: str,
    done: str,
    messages: int,
    want: dict[str, Any],
    url: str,
    crashes: int,
    expected_dead: Counter[tuple[int, int, str]] | None = None,
) -> tuple[int, int]:
    """Compare the database with the reference, add the row to the table, and return
    (lost, duplicated) for the test to assert."""
    got = stored(url)
    lost, duplicated = differences(want, got)
    found = dead_letters(url)
    expected_dead = expected_dead or Counter()
    letters_ok = found == expected_dead
    drift = rows(url, LATEST_DRIFT) + rows(url, TALLY_DRIFT)
    ok = lost == 0 and duplicated == 0 and crashes == 0 and letters_ok and not drift
    FINDINGS.append(
        Finding(
            scenario,
            done,
            messages,
            lost,
            duplicated,
            f"{sum(found.values()):,} / {sum(expected_dead.values()):,}",
            crashes,
            "exact" if ok else "FAILED",
        )
    )
    assert found == expected_dead
    assert got["riders"] == want["riders"]
    assert drift == [], f"daily.bike_latest is not what was stored for {drift[:3]}"
    return lost, duplicated


def test_ingest_killed_ten_times_in_a_long_stream(
    fdb: str, broker: LocalBroker, mail: SmtpServer, members: Any
) -> None:
    topic = "faults-kills"
    count = fill_topic(broker, topic, bikes=scaled(2000), seconds=275, seed=21)
    assert count >= 1_000_000 * min(SCALE, 1)  # a million at scale 1 (make faults)
    expected, ends, _ = reference(broker, topic, count)
    env = ingest_env(fdb, broker, topic, smtp_host="127.0.0.1", smtp_port=str(mail.port))
    group = members(env)
    rng = random.Random(2026)
    kills = 0
    while kills < 10:
        before = progress(fdb, f"kafka:{topic}")
        (process,) = group.start()
        if kills % 2:  # anywhere from start-up (migrating, joining, assigned) to mid-stream
            time.sleep(rng.uniform(0.5, 3.0))
        elif before < count:  # mid-stream: once it has stored something, soon after
            wait_for(lambda at=before: progress(fdb, f"kafka:{topic}") > at, timeout=60,  # type: ignore[misc]
                     interval=0.02, what="progress")  # fmt: skip
            time.sleep(rng.uniform(0, 0.4))
        group.kill(process)
        kills += 1
    group.start()
    wait_for(lambda: settled(fdb, f"kafka:{topic}", ends), timeout=300, what="all stored")
    alerts = len(expected.alerts)
    wait_for(lambda: len({m["Message-ID"] for m in mail.messages}) >= alerts, timeout=60,
             what="every alert emailed")  # fmt: skip
    crashes = group.crashes()
    assert group.stop() == [0]
    lost, duplicated = record(
        "ingest SIGKILLed", f"{kills} kills at seeded random moments, from start-up to"
        " mid-stream", count, natural(expected), fdb, crashes,
    )  # fmt: skip
    assert (lost, duplicated, crashes) == (0, 0, 0)
    ids = Counter(m["Message-ID"] for m in mail.messages)
    assert len(ids) == alerts > 0
    # a kill between the server accepting an email and the row recording it resends that one
    assert sum(ids.values()) - len(ids) <= kills


def test_postgres_stopped_hard_for_ten_seconds_mid_stream(
    fdb: str, pg: ControlledPostgres, broker: LocalBroker, members: Any, stream: Stream
) -> None:
    topic, count, expected, ends = stream
    group = members(ingest_env(fdb, broker, topic, group="pg"))
    group.start()
    wait_progress(fdb, f"kafka:{topic}", 0.2, count)
    pg.crash()
    try:
        time.sleep(10)  # the fault itself: ten seconds without a database
        assert group.crashes() == 0
    finally:
        pg.start()
    wait_for(lambda: settled(fdb, f"kafka:{topic}", ends), timeout=180, what="all stored")
    crashes = group.crashes()
    assert group.stop() == [0]
    lost, duplicated = record(
        "PostgreSQL stopped hard", "immediate shutdown for 10 s mid-stream", count,
        natural(expected), fdb, crashes,
    )  # fmt: skip
    assert (lost, duplicated, crashes) == (0, 0, 0)


def scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as reply:
            return str(reply.read().decode())
    except OSError:
        return ""


def retries(port: int) -> float:
    found = re.search(r"^deleton_ingest_retries_total ([0-9.e+]+)$", scrape(port), re.M)
    return float(found.group(1)) if found else 0.0


def test_sigterm_while_retrying_for_an_absent_database_stops_within_seconds(
    fdb: str, pg: ControlledPostgres, broker: LocalBroker, members: Any, stream: Stream
) -> None:
    topic, count, expected, ends = stream
    env = ingest_env(fdb, broker, topic, group="sigterm")
    port = free_port()
    first = deleton("ingest", "--metrics-port", str(port), env=env, stderr=subprocess.DEVNULL)
    group = members(env)
    group.processes.append(first)
    wait_progress(fdb, f"kafka:{topic}", 0.2, count)
    pg.crash()
    try:
        wait_for(lambda: retries(port) >= 2, timeout=60, what="it to be retrying")
        asked = time.monotonic()
        codes = group.stop()
        took = time.monotonic() - asked
    finally:
        pg.start()
    group.start()  # what the stopped member had not committed is read again
    wait_for(lambda: settled(fdb, f"kafka:{topic}", ends), timeout=180, what="all stored")
    crashes = group.crashes()
    assert group.stop() == [0]
    lost, duplicated = record(
        "SIGTERM while retrying", f"SIGTERM with PostgreSQL away, mid-retry: stopped cleanly in"
        f" {took:.1f} s; the next member read on", count, natural(expected), fdb, crashes,
    )  # fmt: skip
    assert (lost, duplicated, crashes) == (0, 0, 0)
    assert codes == [0] and took < 10


def test_broker_stopped_and_restarted_mid_stream(
    fdb: str, broker: LocalBroker, members: Any, stream: Stream
) -> None:
    topic, count, expected, ends = stream
    group = members(ingest_env(fdb, broker, topic, group="broker"))
    group.start()
    wait_progress(fdb, f"kafka:{topic}", 0.2, count)
    broker.stop()
    try:
        time.sleep(5)  # the fault itself: the broker away
        assert group.crashes() == 0
    finally:
        broker.start()
    wait_for(lambda: settled(fdb, f"kafka:{topic}", ends), timeout=180, what="all stored")
    crashes = group.crashes()
    assert group.stop() == [0]
    lost, duplicated = record(
        "broker stopped and restarted", "broker down for 5 s mid-stream", count,
        natural(expected), fdb, crashes,
    )  # fmt: skip
    assert (lost, duplicated, crashes) == (0, 0, 0)


def test_one_member_of_two_killed(
    fdb: str, broker: LocalBroker, members: Any, stream: Stream
) -> None:
    topic, count, expected, ends = stream
    group = members(ingest_env(fdb, broker, topic, group="group"))
    _first, second = group.start(2)
    wait_progress(fdb, f"kafka:{topic}", 0.3, count)
    group.kill(second)
    wait_for(lambda: settled(fdb, f"kafka:{topic}", ends), timeout=180, what="all stored")
    crashes = group.crashes()
    assert group.stop() == [0]
    lost, duplicated = record(
        "one member of two killed", "SIGKILL to one of two group members mid-stream", count,
        natural(expected), fdb, crashes,
    )  # fmt: skip
    assert (lost, duplicated, crashes) == (0, 0, 0)


def produce(broker: LocalBroker, topic: str, messages: list[tuple[Any, Any, int]]) -> None:
    """Messages as (key, value, timestamp in ms), in order, to ``topic``."""
    # idempotent: on a loaded machine a batch retried after a timeout was written twice, and
    # the hostile test's good-stream-alone reference then found rides the stream never made
    producer = Producer({"bootstrap.servers": broker.bootstrap, "message.max.bytes": 2_097_152,
                         "linger.ms": 20, "queue.buffering.max.messages": 1_000_000,
                         "enable.idempotence": True})  # fmt: skip
    for key, value, millis in messages:
        while True:
            try:
                producer.produce(topic, value=value, key=key, timestamp=millis)
                break
            except BufferError:
                producer.poll(0.05)
    assert producer.flush(60) == 0


def fleet_messages(bikes: int, seconds: int, seed: int, start: int = START) -> list[Any]:
    return [
        (key.encode(), envelope(text), (tick_end if at is None else at) // 1000)
        for tick_end, lines in simulated_fleet(bikes, seed, start).ticks(start + seconds * SECOND)
        for key, at, text in lines
    ]


def test_hostile_messages_in_a_good_stream(
    fdb: str, broker: LocalBroker, members: Any, sample_lines: list[str]
) -> None:
    topic = "faults-hostile"
    broker.create_topic(topic, 4)
    good = fleet_messages(bikes=200, seconds=300, seed=25)
    hostile = hostile_messages(sample_lines, scaled(100_000), seed=26)  # 100,000 at scale 1
    rng = random.Random(27)
    mixed: list[tuple[Any, Any, int]] = []
    g = h = 0
    while g < len(good) or h < len(hostile):  # interleaved, each stream in its own order
        if h >= len(hostile) or (
            g < len(good) and rng.random() < len(good) / (len(good) + len(hostile))
        ):
            mixed.append(good[g])
            g += 1
        else:
            mixed.append(hostile[h][1:])
            h += 1
    produce(broker, topic, mixed)
    expected, ends, read = reference(broker, topic, len(mixed))
    want_letters = Counter((d.partition, d.position, d.reason) for d in expected.dead_letters)
    group = members(ingest_env(fdb, broker, topic))
    group.start()
    wait_for(lambda: settled(fdb, f"kafka:{topic}", ends), timeout=300, what="all stored")
    crashes = group.crashes()
    assert group.stop() == [0]
    kinds = Counter(m.kind for m in hostile)
    lost, duplicated = record(
        "hostile messages", f"{len(hostile):,} mutations of real lines in {len(kinds)} kinds,"
        f" among {len(good):,} good ones", len(mixed), natural(expected), fdb, crashes,
        want_letters,
    )  # fmt: skip
    assert (lost, duplicated, crashes) == (0, 0, 0)
    assert len(kinds) >= 20 and min(kinds.values()) >= 1
    bad = [m for m in hostile if m.kind not in VALID_KINDS]
    assert all(judged_bad(m) for m in bad)  # every kind meant to hurt is refused
    assert not any(judged_bad(m) for m in hostile if m.kind in VALID_KINDS)
    assert sum(want_letters.values()) == len(bad)  # and each is a dead letter, none else
    # the good bikes' rows are exactly what the good stream alone makes
    alone = natural_for(good_reference(broker, good), "SN")
    assert not (wrong := mismatch(stored_for(fdb, "SN"), alone)), wrong
    # and the database holds the megabyte values as a bounded part with length and hash
    assert scalar(fdb, "SELECT max(length(value)) FROM daily.dead_letter") <= 65_536
    assert scalar(fdb, "SELECT max(value_length) FROM daily.dead_letter") >= 1_000_000
    assert not scalar(fdb, "SELECT count(*) FROM daily.dead_letter WHERE reason = ''")
    del read


def good_reference(broker: LocalBroker, good: list[Any]) -> dict[str, Any]:
    topic = f"faults-good-{time.monotonic_ns()}"
    broker.create_topic(topic, 4)
    produce(broker, topic, good)
    expected, _, _ = reference(broker, topic, len(good))
    return natural(expected)


def natural_for(view: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {
        k: Counter({row: n for row, n in view[k].items() if row[0].startswith(prefix)})
        for k in ("readings", "rides", "alerts")
    }


def stored_for(url: str, prefix: str) -> dict[str, Any]:
    return natural_for(stored(url), prefix)


def test_a_bike_ten_minutes_fast_and_lines_from_1970_and_2099(
    fdb: str, broker: LocalBroker, members: Any
) -> None:
    topic = "faults-clocks"
    broker.create_topic(topic, 2)
    fast = 10 * 60 * SECOND
    messages = []
    for tick_end, lines in simulated_fleet(12, 28, START).ticks(START + 600 * SECOND):
        for key, at, text in lines:
            sent = (tick_end if at is None else at) // 1000  # the broker's time: the true one
            if key == "SN0003" and at is not None:  # its clock runs ten minutes fast
                text = format_time(at + fast) + text[26:]
            messages.append((key.encode(), envelope(text), sent))
    late = START + 300 * SECOND
    for year, serial in ((1970, "SN0005"), (2099, "SN0007")):
        when = dt.datetime(year, 6, 1, 12, tzinfo=dt.UTC)
        line = f"{format_time(int(when.timestamp() * 1e6))} mendoza v9: [INFO]: Ride - duration = 5.0; resistance = 30"
        messages.append((serial.encode(), envelope(line), late // 1000))
    messages.sort(key=lambda m: m[2])  # as sent
    produce(broker, topic, messages)
    expected, ends, _ = reference(broker, topic, len(messages))
    group = members(ingest_env(fdb, broker, topic))
    group.start()
    wait_for(lambda: settled(fdb, f"kafka:{topic}", ends), timeout=120, what="all stored")
    crashes = group.crashes()
    assert group.stop() == [0]
    letters = Counter((d.partition, d.position, d.reason) for d in expected.dead_letters)
    lost, duplicated = record(
        "wrong clocks", "one bike 10 min fast; lines stamped 1970 and 2099", len(messages),
        natural(expected), fdb, crashes, letters,
    )  # fmt: skip
    assert (lost, duplicated, crashes) == (0, 0, 0)
    assert sum(letters.values()) == 2
    assert all("broker time" in reason for _, _, reason in letters)
    # every ride began with its [SYSTEM] line: none was split by another bike's clock
    assert not scalar(fdb, "SELECT count(*) FROM daily.ride WHERE user_id IS NULL")
    first = scalar(
        fdb, "SELECT min(g.at) FROM daily.reading g JOIN daily.ride r USING (ride_id)"
        " WHERE r.bike_serial = 'SN0003'",
    )  # fmt: skip
    assert first >= to_datetime(START + fast)  # its readings kept as the bike stamped them
    # the other bikes' rides are exactly those of the fleet without the fast bike
    without = [m for m in messages if m[0] != b"SN0003"]
    others = natural_for(good_reference(broker, without), "SN")
    mine = stored_for(fdb, "SN")
    mine = {k: Counter({r: n for r, n in v.items() if r[0] != "SN0003"}) for k, v in mine.items()}
    assert not (wrong := mismatch(mine, others)), wrong


def test_the_mail_server_down_while_alerts_fire_then_back(
    fdb: str, broker: LocalBroker, mail: SmtpServer, members: Any
) -> None:
    topic = "faults-mail"
    count = fill_topic(broker, topic, bikes=scaled(300), seconds=600, seed=29)
    expected, ends, _ = reference(broker, topic, count)
    alerts = len(expected.alerts)
    assert alerts > 0
    mail.stop()
    group = members(ingest_env(fdb, broker, topic, smtp_host="127.0.0.1",
                               smtp_port=str(mail.port)))  # fmt: skip
    group.start()
    wait_for(lambda: settled(fdb, f"kafka:{topic}", ends), timeout=180, what="all stored")
    wait_for(lambda: scalar(fdb, "SELECT count(*) FROM daily.alert WHERE attempts > 0") > 0,
             timeout=60, what="sending to be tried")  # fmt: skip
    assert scalar(fdb, "SELECT count(*) FROM daily.alert WHERE status = 'pending'") == alerts
    mail.restart()  # the mail server is back, on the same port
    wait_for(lambda: len(mail.messages) >= alerts, timeout=120, what="every alert emailed")
    crashes = group.crashes()
    assert group.stop() == [0]
    lost, duplicated = record(
        "mail server down", f"SMTP down while {alerts} alerts fired, then back", count,
        natural(expected), fdb, crashes,
    )  # fmt: skip
    assert (lost, duplicated, crashes) == (0, 0, 0)
    ids = Counter(m["Message-ID"] for m in mail.messages)
    assert len(ids) == alerts and sum(ids.values()) == alerts  # each exactly once
    assert scalar(fdb, "SELECT count(*) FROM daily.alert WHERE status <> 'sent'") == 0


@pytest.mark.parametrize("count", [2, 4])
def test_members_started_together_on_a_fresh_database_cross_an_hour(
    fdb: str, broker: LocalBroker, members: Any, count: int
) -> None:
    topic = f"faults-fresh-{count}"
    hour = 3600 * SECOND
    start = (START // hour + 1) * hour - 90 * SECOND - (START // hour + 1) * hour % TICK_US
    broker.create_topic(topic, 8)
    messages = fleet_messages(bikes=scaled(400), seconds=180, seed=30 + count, start=start)
    produce(broker, topic, messages)
    expected, ends, _ = reference(broker, topic, len(messages))
    group = members(ingest_env(fdb, broker, topic))
    group.start(count)  # together, on a database that has no partition yet
    wait_for(lambda: settled(fdb, f"kafka:{topic}", ends), timeout=180, what="all stored")
    crashes = group.crashes()
    codes = group.stop()
    lost, duplicated = record(
        f"{count} members on a fresh database", f"{count} started at once, crossing an hour",
        len(messages), natural(expected), fdb, crashes,
    )  # fmt: skip
    assert (lost, duplicated, crashes) == (0, 0, 0)
    assert codes == [0] * count
    hours = rows(fdb, "SELECT relname FROM pg_class WHERE relkind = 'r' AND relname LIKE"
                      " 'reading_20%' ORDER BY 1")  # fmt: skip
    assert len(hours) >= 2  # the stream crossed an hour: two partitions at least


def test_the_dashboard_while_the_database_is_away(
    fdb: str, pg: ControlledPostgres, watched: Watched, tmp_path: Path
) -> None:
    ingest_simulated(fdb, tmp_path, bikes=4, seed=31, seconds=120)
    # a request waits 1 s, not 5, for a connection: each step with the database away waited
    # that long, and the pool's reconnection backs off (1, 2, 4, ... s) for as long as it was
    # away (36.8 s -> 11.5 s); what the pages say, and that nothing crashes, is the same
    app = Dashboard(fdb, ride_idle_timeout="3600", reading_window="7200", dashboard_db_wait="1")
    try:
        page = watched.page
        page.goto(f"{app.base}/fleet")
        expect(page.locator("#fleet-table")).to_contain_text("SN0001", timeout=15_000)
        pg.crash()
        try:
            stale = page.locator("#fleet-stale")
            expect(stale).to_contain_text("the database is not answering", timeout=30_000)
            expect(page.locator("#fleet-table")).to_contain_text("SN0001")  # still shown
            watched.screenshot("fleet-database-away")
            assert _status(f"{app.base}/healthz") == 503  # a load balancer sees it too
            page.goto(f"{app.base}/bike/SN0001")
            expect(page.locator("#ride-notice")).to_contain_text("Waiting for the database",
                                                                 timeout=30_000)  # fmt: skip
            assert app.process.poll() is None
        finally:
            pg.start()
        expect(page.locator("#ride-rider")).not_to_have_text("…", timeout=30_000)
        page.goto(f"{app.base}/fleet")
        expect(page.locator("#fleet-stale")).to_have_text("", timeout=30_000)
        assert _status(f"{app.base}/healthz") == 200
        crashes = 0 if app.process.poll() is None else 1
    finally:
        app.stop()
    FINDINGS.append(
        Finding("dashboard, database away", "PostgreSQL stopped hard under the fleet and ride"
                " pages, then started", 0, 0, 0, "–", crashes, "exact" if not crashes else "FAILED")
    )  # fmt: skip
    assert crashes == 0
    assert all("Failed to load resource" in e or "500" in e for e in watched.errors)


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as refusal:
        return refusal.code
