"""Review findings (review-deploy) shown on a real PostgreSQL set up as rds.tf sets up RDS:
log_min_duration_statement = 1000, log_parameter_max_length(_on_error) = 0, and
pg_stat_statements loaded (RDS's default parameter groups preload it; Performance Insights,
which rds.tf turns on, reads its SQL statistics).

Each test fails on the code as reviewed:
- ``deleton db init`` sends each login's password as SQL text, which pg_stat_statements keeps;
- a rider row that fails a constraint is written to the server log with its email and address
  (the log RDS exports to CloudWatch), bind values hidden or not.

Debian's PostgreSQL (make deploy-check installs it); without it, these skip.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from deleton.postgres import schema

from .conftest import free_port

pytestmark = [pytest.mark.timeout(300)]

# rds.tf's parameter group, and what RDS's default group adds that matters here
RDS_PARAMETERS = {
    "log_min_duration_statement": "1000",
    "log_parameter_max_length": "0",
    "log_parameter_max_length_on_error": "0",
    "shared_preload_libraries": "pg_stat_statements",
    "log_destination": "stderr",
    "logging_collector": "off",
}


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Path]]:
    """A PostgreSQL with RDS's logging parameters: its administrator's URL and its log."""
    servers = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    if not servers:
        pytest.skip("no Debian PostgreSQL server (make deploy-check installs postgresql)")
    if not list(servers[-1].parents[1].glob("lib/pg_stat_statements.so")):
        pytest.skip("no pg_stat_statements module beside Debian's PostgreSQL")
    try:
        owner = pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("no postgres user to run the server as")
    binaries = servers[-1].parent
    folder = Path(tempfile.mkdtemp(prefix="deleton-review-pg-"))
    os.chown(folder, owner.pw_uid, owner.pw_gid)
    as_postgres = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_postgres, str(binaries / "initdb"), "-D", str(folder / "data"), "-A",
                    "trust", "-U", "postgres", "--no-sync"], check=True, capture_output=True)  # fmt: skip
    port = free_port()
    log = folder / "server.log"
    settings = [f"-c{key}={value}" for key, value in RDS_PARAMETERS.items()]
    with log.open("w") as sink:
        process = subprocess.Popen(
            [*as_postgres, str(binaries / "postgres"), "-D", str(folder / "data"),
             "-p", str(port), "-k", str(folder), "-c", "listen_addresses=127.0.0.1",
             "-c", "fsync=off", *settings],
            stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=2) as conn:
                conn.execute("CREATE DATABASE deleton")
            break
        except psycopg.OperationalError:
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
    yield f"postgresql://postgres@127.0.0.1:{port}/deleton", log
    process.terminate()
    process.wait(timeout=30)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def migrated(server: tuple[str, Path]) -> tuple[str, Path]:
    url, log = server
    with psycopg.connect(url) as conn:
        schema.init(conn)
    return url, log


def test_db_init_keeps_each_login_password_out_of_pg_stat_statements(
    migrated: tuple[str, Path],
) -> None:
    url, _ = migrated
    passwords = {group: f"{group}-{uuid.uuid4().hex}" for group in ("writer", "reader", "api")}
    with psycopg.connect(url) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        schema.ensure_logins(conn, passwords)
    with psycopg.connect(url) as conn:
        texts = "\n".join(row[0] for row in conn.execute("SELECT query FROM pg_stat_statements"))
    leaked = [group for group, password in passwords.items() if password in texts]
    assert not leaked, f"pg_stat_statements holds the {leaked} logins' passwords in clear"


def test_a_rider_row_refused_by_a_constraint_leaves_no_contact_details_in_the_log(
    migrated: tuple[str, Path],
) -> None:
    url, log = migrated
    email = f"rider-{uuid.uuid4().hex[:8]}@example.com"
    street = "Secret Garden Lane"
    row = (900_001, "Ms", "Ada", "Lovelace", "unknown", "?", "1815-12-10", email, "12", street,
           "London", "W1 1AA", 170, 60, "2020-01-01", "review", "2026-01-01T00:00:00Z")  # fmt: skip
    with psycopg.connect(url) as conn, pytest.raises(psycopg.errors.CheckViolation):
        # store.py's rider upsert, with a gender its CHECK refuses
        conn.execute(
            "INSERT INTO daily.rider (user_id, title, first_name, last_name, gender,"
            " gender_as_given, date_of_birth, email, house, street, city, postcode,"
            " height_cm, weight_kg, account_created, original_source, seen_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            row,
        )
    deadline = time.monotonic() + 10
    while "violates check constraint" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    text = log.read_text()
    assert "violates check constraint" in text  # the error itself is logged, as it should be
    assert email not in text and street not in text, "the log carries the rider's contact details"
