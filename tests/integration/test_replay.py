"""`deleton ingest --from-file`, alerts through a mail server that is down then up, and
`deleton up` end to end (its printed sign-in link and its scheduled compression included)."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psycopg
import pytest

from deleton.api.keys import local_read_key
from deleton.core.records import RiderLine, TelemetryLine
from deleton.core.wire import parse_value
from deleton.dump.kcat import read_messages
from deleton.postgres import access as access_db
from deleton.postgres.connection import open_database
from deleton.settings import Settings
from tests.harness.expected import ALERTS_NEVER_EXPIRE
from tests.harness.fleet import dump_fleet, ingest_file
from tests.harness.services import (
    SmtpServer,
    deleton,
    env_for,
    execute,
    rows,
    run_deleton,
    scalar,
    wait_for,
)
from tests.harness.signin import Client
from tests.harness.wire_truth import rides_from_wire


def test_replay_a_dump_resumes_and_sends_alerts_once_the_mail_server_is_up(
    db: str, tmp_path: Path, smtp: SmtpServer
) -> None:
    path = tmp_path / "fleet.jsonl"
    count = dump_fleet(path, bikes=30, seconds=900, seed=3)
    with path.open("ab") as f:
        f.write(b"this line is not a message\n")
    # nothing listens on port 1; the fleet rode in 2022, and its alerts must still go
    down = env_for(db, smtp_host="127.0.0.1", smtp_port="1", alert_max_age=ALERTS_NEVER_EXPIRE)
    first = run_deleton("ingest", "--from-file", str(path), env=down)
    assert first.returncode == 0, first.stderr[-2000:]
    readings = scalar(db, "SELECT count(*) FROM daily.reading")
    alerts = scalar(db, "SELECT count(*) FROM daily.alert")
    # each Telemetry line completes one reading (a Ride line still waiting at the end of the
    # file is carried in the checkpoint, not stored)
    with path.open("rb") as stream:
        records = [parse_value(m[4]) for m in read_messages(stream)]
    assert len(records) == count + 1
    assert readings == sum(isinstance(r, TelemetryLine) for r in records)
    assert scalar(db, "SELECT count(*) FROM daily.ride") == sum(
        isinstance(r, RiderLine) for r in records
    )
    assert alerts > 0
    assert scalar(db, "SELECT count(*) FROM daily.alert WHERE sent_at IS NULL") == alerts
    assert scalar(db, "SELECT count(*) FROM daily.dead_letter") == 1
    assert scalar(db, "SELECT next_position FROM daily.source_position") == path.stat().st_size

    # the next run finds the file already read, and sends the alerts the last one could not
    execute(db, "UPDATE daily.alert SET next_attempt_at = now()")
    up = env_for(
        db, smtp_host="127.0.0.1", smtp_port=str(smtp.port), alert_max_age=ALERTS_NEVER_EXPIRE
    )
    again = run_deleton("ingest", "--from-file", str(path), env=up)
    assert again.returncode == 0, again.stderr[-2000:]
    assert scalar(db, "SELECT count(*) FROM daily.reading") == readings  # nothing twice
    assert len(smtp.messages) == alerts
    assert scalar(db, "SELECT count(*) FROM daily.alert WHERE sent_at IS NULL") == 0


def get_json(url: str, key: str | None = None) -> Any:
    """``url``'s JSON answer, asked with ``key`` in ``X-API-Key`` (if any)."""
    request = urllib.request.Request(url, headers={"X-API-Key": key} if key else {})
    with urllib.request.urlopen(request, timeout=10) as reply:
        return json.load(reply)


def test_up_runs_the_fleet_into_the_database_compresses_on_its_schedule_and_stops_cleanly(
    db: str, tmp_path: Path
) -> None:
    # rides of 2022 for up's compression to summarise, and their detail to remove
    old = tmp_path / "old.jsonl"
    dump_fleet(old, bikes=3, seconds=600, seed=8)
    ingest_file(db, old)
    assert scalar(db, "SELECT count(*) FROM daily.ride") == len(rides_from_wire(old)) > 0
    env = env_for(db, log_level="INFO", compress_every="0.5")
    home = Path(env["DELETON_HOME"])
    for name in ("session-secret", "screen-secret", "password-pepper", "api-key"):
        (home / name).unlink(missing_ok=True)
    process = deleton("up", "--bikes", "5", "--speed", "20", env=env, stdout=subprocess.PIPE)
    printed: list[bytes] = []
    try:
        assert process.stdout is not None
        while not printed or b"Ctrl-C" not in printed[-1]:
            printed.append(process.stdout.readline())
            assert printed[-1], b"".join(printed)
        link = next(line.split()[-1] for line in printed if line.strip().startswith(b"sign in"))
        base = f"http://127.0.0.1:{env['DELETON_DASHBOARD_PORT']}"
        assert link.decode().startswith(f"{base}/login/")  # under the port it was given
        # the quick start's sign-in: the link, once; secrets made in DELETON_HOME, for it only
        for name in ("session-secret", "screen-secret", "password-pepper", "api-key"):
            assert (home / name).stat().st_mode & 0o777 == 0o600
        assert home.stat().st_mode & 0o777 == 0o700
        browser = Client(base)
        assert browser.request("/_dash-layout")[0] == 401
        status, headers, _ = browser.follow_link(link.decode())
        assert (status, headers["Location"]) == (303, "/")
        assert Client(base).follow_link(link.decode())[0] == 401  # used: refused
        # compression: each old ride summarised and its detail gone (first, so that the
        # readings and rides counted below are the live fleet's)
        wait_for(
            lambda: (
                rows(
                    db,
                    """SELECT (SELECT count(*) FROM historical.ride
                                        WHERE started_at < '2023-01-01'),
                                       (SELECT count(*) FROM daily.ride
                                        WHERE started_at < '2023-01-01'),
                                       (SELECT count(*) FROM daily.reading
                                        WHERE at < '2023-01-01')""",
                )
                == [(len(rides_from_wire(old)), 0, 0)]
            ),
            timeout=60,
            what="up's scheduled compression of the 2022 rides",
        )
        wait_for(lambda: scalar(db, "SELECT count(*) FROM daily.reading") > 50, timeout=60,
                 what="readings from the in-process fleet")  # fmt: skip
        wait_for(
            lambda: scalar(db, "SELECT count(DISTINCT bike_serial) FROM daily.ride") == 5,
            timeout=60,
            what="every bike to start a ride",
        )
        status, _, layout = browser.request("/_dash-layout")
        assert status == 200 and "ride" in layout and "Sign out" in layout
        health = f"http://127.0.0.1:{env['DELETON_DASHBOARD_PORT']}/healthz"
        with urllib.request.urlopen(health, timeout=10) as reply:
            assert json.load(reply)["database"] == "reachable"
        api = f"http://127.0.0.1:{env['DELETON_API_PORT']}"
        assert get_json(f"{api}/health")["database"] == "reachable"
        # the quick start's key, printed by up: scope read, so the fleet but no rider's identity
        key = next(line.split()[-1] for line in printed if line.strip().startswith(b"API key"))
        assert (home / "api-key").read_bytes().split()[1] == key
        key_text = key.decode()
        # the API's fleet is the dashboard's logic over the same rows: all five riding
        wait_for(lambda: len(get_json(f"{api}/bikes", key_text)["bikes"]) == 5,
                 timeout=30, what="the API to list the five bikes riding")  # fmt: skip
        rider = scalar(db, "SELECT min(user_id) FROM daily.ride")
        assert get_json(f"{api}/rider/{rider}", key_text)["contact"] is None  # not personal
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=60)
    out = b"".join(printed) + out
    assert process.returncode == 0
    assert b"Deleton is up" in out and b"Deleton stopped" in out
    assert f"{api}/docs".encode() in out  # where the interactive docs are, said at start


@pytest.mark.parametrize("workers", ["1", "2"])
def test_api_alone_serves_keys_made_by_the_cli_until_revoked_and_stops_on_sigterm(
    db: str, workers: str
) -> None:
    env = env_for(db, api_key="k" * 16, api_workers=workers)
    made = run_deleton("api-key", "create", "reporting", "--scope", "read", env=env)
    assert made.returncode == 0, made.stderr[-2000:]
    key = made.stdout.decode().strip()  # the key, alone on stdout, shown this once
    assert len(key) == 43 and b"shown this once" in made.stderr
    listed = run_deleton("api-key", "list", env=env)
    assert b"reporting" in listed.stdout and b"read" in listed.stdout
    assert key.encode() not in listed.stdout + listed.stderr
    assert scalar(db, "SELECT count(*) FROM keeper.api_key WHERE key_sha256 = sha256(%s)",
                  [key.encode()]) == 1  # fmt: skip  # its hash, never the key
    process = deleton("api", env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    api = f"http://127.0.0.1:{env['DELETON_API_PORT']}"
    try:
        wait_for(lambda: _answers(f"{api}/health"), timeout=60, what="the API to listen")
        assert "/ride/{ride_id}" in get_json(f"{api}/openapi.json")["paths"]
        assert get_json(f"{api}/bikes", key)["riding"] == 0
        assert get_json(f"{api}/bikes", "k" * 16)["riding"] == 0  # the bootstrap key
        with pytest.raises(urllib.error.HTTPError) as refused:
            get_json(f"{api}/bikes")
        assert refused.value.code == 401
        revoked = run_deleton("api-key", "revoke", "reporting", env=env)
        assert revoked.returncode == 0, revoked.stderr[-2000:]
        # refused by every process within the keys' cache time (5 s)
        wait_for(lambda: _status(f"{api}/bikes", key) == 401, timeout=20, what="the revoke")
        again = run_deleton("api-key", "create", "reporting", "--scope", "read", env=env)
        assert again.returncode == 1 and b"exists" in again.stderr  # a name is never reused
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err[-2000:]
    assert f"{workers} process".encode() in out
    assert b"k" * 16 not in out + err  # the key is never printed


def _status(url: str, key: str) -> int:
    try:
        get_json(url, key)
    except urllib.error.HTTPError as refusal:
        return refusal.code
    return 200


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def test_the_quick_start_key_is_kept_while_live_and_replaced_once_revoked(
    db: str, tmp_path: Path
) -> None:
    database = open_database(Settings(database_url=db).database())
    now = dt.datetime(2026, 12, 1, 4, 0, tzinfo=dt.UTC)
    name, key = local_read_key(database, tmp_path, now)
    assert name.startswith("up-20261201-040000-") and len(key) == 43
    assert (tmp_path / "api-key").stat().st_mode & 0o777 == 0o600
    assert local_read_key(database, tmp_path, now) == (name, key)  # the next up: the same key
    with psycopg.connect(db, autocommit=True) as conn:
        made = {k.name: k for k in access_db.keys(conn)}
        assert made[name].scopes == ("read",)
        access_db.revoke_key(conn, name)
    again, fresh = local_read_key(database, tmp_path, now)
    assert again != name and fresh != key  # revoked: a new key, under a new name
    assert (tmp_path / "api-key").read_text().split() == [again, fresh]
    (tmp_path / "api-key").unlink()  # DELETON_HOME lost: its key must not stay live
    third, _ = local_read_key(database, tmp_path, now)
    with psycopg.connect(db, autocommit=True) as conn:
        live = [k.name for k in access_db.keys(conn) if k.revoked_at is None]
    assert live == [third]
