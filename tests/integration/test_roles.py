"""Least privilege in the database (migration 0006), against real PostgreSQL: each service's
login does its work and nothing of the others', and riders' email, address and birth date are
readable only through the API's own functions."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from pydantic import SecretStr

from deleton.core.records import to_datetime
from deleton.errors import TerminalError
from deleton.postgres import queries, schema
from deleton.postgres import rides as store
from deleton.postgres.connection import migrated
from deleton.settings import DatabaseConfig
from tests.harness.fleet import SECOND, START, dump_fleet, ingest_file
from tests.harness.services import SmtpServer, env_for, execute, rows, run_deleton, scalar

PASSWORDS = {"writer": "w" * 16, "reader": "r" * 16, "api": "a" * 16}
PERSONAL = ("email", "house", "street", "city", "postcode", "date_of_birth")


@pytest.fixture
def logins(db: str, tmp_path: Path) -> dict[str, str]:
    """Each service's login, made by ``deleton db init``, over a fleet the writer ingested;
    and ``admin``, the administrator's."""
    env = env_for(db, **{f"db_{group}_password": pw for group, pw in PASSWORDS.items()})
    result = run_deleton("db", "init", env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert b"deleton_reader_login" in result.stdout
    assert all(pw.encode() not in result.stdout + result.stderr for pw in PASSWORDS.values())
    urls = {group: make_conninfo(db, user=login) for group, login in schema.LOGINS.items()}
    dump = tmp_path / "fleet.jsonl"
    dump_fleet(dump, bikes=6, seconds=3600, seed=51)
    ingest_file(urls["writer"], dump)
    return {**urls, "admin": db}


def refused(url: str, sql: str, params: Any = None) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            conn.execute(sql, params)
        except psycopg.errors.InsufficientPrivilege:
            return True
    return False


def test_partitions_made_by_one_writer_are_dropped_by_another(logins: dict[str, str]) -> None:
    db = logins["writer"]
    owners = (
        "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class WHERE relname LIKE 'reading_2%'"
    )
    assert rows(db, owners) == [("deleton_writer",)]  # not the login that met the hour
    execute(db, "SELECT 1")  # the writer's login works
    admin = logins["admin"]
    execute(admin, "CREATE ROLE other_writer LOGIN IN ROLE deleton_writer")
    try:
        other = make_conninfo(db, user="other_writer")
        before = scalar(admin, "SELECT count(*) FROM pg_inherits")
        now = to_datetime(START + 2 * 86_400 * SECOND).isoformat()
        result = run_deleton("compress", "--now", now, env=env_for(other))
        assert result.returncode == 0, result.stderr[-2000:]
        assert scalar(admin, "SELECT count(*) FROM pg_inherits") < before  # dropped
        assert scalar(admin, "SELECT count(*) FROM daily.ride") == 0
        assert scalar(admin, "SELECT count(*) FROM historical.ride") > 0
    finally:
        execute(admin, "DROP OWNED BY other_writer")
        execute(admin, "DROP ROLE other_writer")


def test_the_reader_reads_everything_but_personal_data(
    logins: dict[str, str], smtp: SmtpServer, tmp_path: Path
) -> None:
    reader = logins["reader"]
    for table in ("daily.rider", "historical.rider"):
        assert refused(reader, f"SELECT * FROM {table}")
        for column in PERSONAL:
            assert refused(reader, f"SELECT {column} FROM {table}"), (table, column)
        assert not refused(reader, f"SELECT user_id, first_name, gender FROM {table}")
    assert refused(reader, "SELECT * FROM historical.rider_contact(1)")
    assert refused(reader, "SELECT historical.rider_age(1, current_date)")
    assert refused(reader, "DELETE FROM daily.ride")
    assert refused(reader, "INSERT INTO daily.alert (ride_id) VALUES (1)")
    assert refused(reader, "UPDATE daily.rider SET first_name = 'x'")
    # the dashboard's reads, as its login
    admin = logins["admin"]
    expected = dict(
        rows(
            admin,
            "SELECT r.ride_id, date_part('year', age((r.started_at AT TIME ZONE 'UTC')::date,"
            " u.date_of_birth))::int FROM daily.ride r JOIN daily.rider u USING (user_id)",
        )
    )
    assert expected
    with psycopg.connect(reader, autocommit=True) as conn:
        ages = {ride.ride_id: ride.age for ride in queries.rides_since(conn, START - SECOND)}
        assert {k: ages[k] for k in expected} == expected  # age without the birth date
        assert queries.bike_ride(conn, "SN0001") is not None
        queries.fleet(conn, START + 1800 * SECOND, 60 * SECOND)
    # the report, read and sent as its login: the record of the send is its one write
    env = env_for(
        admin,
        reader_database_url=reader,
        smtp_host="127.0.0.1",
        smtp_port=str(smtp.port),
        report_recipients="ceo@deleton.example",
    )
    out = tmp_path / "report.pdf"
    day = dt.date(2022, 11, 3).isoformat()
    result = run_deleton("report", "--date", day, "--out", str(out), "--send", env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert out.stat().st_size > 10_000
    assert scalar(admin, "SELECT count(*) FROM historical.report_delivery") == 1


def test_the_api_reads_contact_details_only_through_its_functions(
    logins: dict[str, str],
) -> None:
    api = logins["api"]
    for column in PERSONAL:
        assert refused(api, f"SELECT {column} FROM daily.rider")
    assert refused(api, "INSERT INTO daily.alert (ride_id) VALUES (1)")
    admin = logins["admin"]
    user_id, email, born = rows(admin, "SELECT user_id, email, date_of_birth FROM daily.rider")[0]
    ride_id = scalar(admin, "SELECT min(ride_id) FROM daily.ride WHERE ended_at IS NOT NULL")
    with psycopg.connect(api, autocommit=True) as conn:
        rider = store.rider(conn, user_id, dt.date(2022, 11, 3), contact=True)
        assert rider is not None and rider.contact is not None
        assert (rider.contact.email, rider.contact.date_of_birth) == (email, born)
        assert store.delete_ride(conn, ride_id) is store.Deletion.DELETED
    assert scalar(admin, "SELECT count(*) FROM daily.reading WHERE ride_id = %s", [ride_id]) == 0


def test_a_login_that_may_not_migrate_says_what_is_missing(logins: dict[str, str]) -> None:
    reader = logins["reader"]
    admin = logins["admin"]
    config = DatabaseConfig(url=None, home=Path("."), migrates=False)
    migrated(_at(config, reader))  # up to date: nothing to say
    execute(admin, "DELETE FROM public.deleton_migration WHERE version = %s", [schema.ROLES])
    with pytest.raises(TerminalError, match=r"0006_roles.*deleton db init"):
        migrated(_at(config, reader))


def _at(config: DatabaseConfig, url: str) -> DatabaseConfig:
    return replace(config, url=SecretStr(url))
