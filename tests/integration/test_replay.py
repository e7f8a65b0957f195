"""`deleton ingest --from-file`, alerts through a mail server that is down then up, and
`deleton up` end to end."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import urllib.request

from deleton.simulator import KcatSink, run
from tests.services import SmtpServer, deleton, env_for, execute, scalar, wait_for

START = 1_667_500_920_000_000


def dump(path: str, bikes: int, seconds: int, seed: int) -> int:
    out = io.BytesIO()
    count = run(KcatSink(out, "deloton", 4), size=bikes, seed=seed, start=START,
                until=START + seconds * 1_000_000, speed=None)  # fmt: skip
    with open(path, "wb") as f:
        f.write(out.getvalue())
    return count


def test_replay_a_dump_resumes_and_sends_alerts_once_the_mail_server_is_up(
    db: str, tmp_path: object, smtp: SmtpServer
) -> None:
    path = f"{tmp_path}/fleet.jsonl"
    count = dump(path, bikes=30, seconds=900, seed=3)
    with open(path, "ab") as f:
        f.write(b"this line is not a message\n")
    down = env_for(db, smtp_host="127.0.0.1", smtp_port="1")  # nothing listens there
    first = subprocess.run([sys.executable, "-m", "deleton.cli", "ingest", "--from-file", path],
                           env=down, capture_output=True, timeout=120)  # fmt: skip
    assert first.returncode == 0, first.stderr[-2000:]
    readings = scalar(db, "SELECT count(*) FROM daily.reading")
    alerts = scalar(db, "SELECT count(*) FROM daily.alert")
    assert readings > 30 * 800 and alerts > 0
    assert scalar(db, "SELECT count(*) FROM daily.alert WHERE sent_at IS NULL") == alerts
    assert scalar(db, "SELECT count(*) FROM daily.dead_letter") == 1
    size = scalar(db, "SELECT next_position FROM daily.source_position")
    assert size == os.path.getsize(path)

    # the next run finds the file already read, and sends the alerts the last one could not
    execute(db, "UPDATE daily.alert SET next_attempt_at = now()")
    up = env_for(db, smtp_host="127.0.0.1", smtp_port=str(smtp.port))
    again = subprocess.run([sys.executable, "-m", "deleton.cli", "ingest", "--from-file", path],
                           env=up, capture_output=True, timeout=120)  # fmt: skip
    assert again.returncode == 0, again.stderr[-2000:]
    assert scalar(db, "SELECT count(*) FROM daily.reading") == readings  # nothing twice
    assert len(smtp.messages) == alerts
    assert scalar(db, "SELECT count(*) FROM daily.alert WHERE sent_at IS NULL") == 0
    assert count > 0


def test_up_runs_the_fleet_into_the_database_and_stops_cleanly(db: str) -> None:
    env = env_for(db, log_level="INFO")
    process = deleton("up", "--bikes", "5", "--speed", "20", env=env, stdout=subprocess.PIPE)
    try:
        wait_for(lambda: scalar(db, "SELECT count(*) FROM daily.reading") > 50, timeout=60,
                 what="readings from the in-process fleet")  # fmt: skip
        assert scalar(db, "SELECT count(DISTINCT bike_serial) FROM daily.ride") >= 3
        dashboard = f"http://127.0.0.1:{env['DELETON_DASHBOARD_PORT']}/_dash-layout"
        with urllib.request.urlopen(dashboard, timeout=10) as reply:
            assert reply.status == 200 and b"ride" in reply.read()
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    assert b"Deleton is up" in out and b"Deleton stopped" in out
