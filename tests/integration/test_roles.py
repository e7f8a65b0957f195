"""Least privilege in the database (migrations 0006 and 0008), against real PostgreSQL: each
service's login does its work and nothing of the others', reaches exactly the tables, columns
and functions listed here, and riders' email, address and birth date are readable only
through the API's own functions."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from pydantic import SecretStr

from deleton.core.records import to_datetime
from deleton.core.tracker import Tracker
from deleton.errors import TerminalError
from deleton.postgres import queries, schema
from deleton.postgres import rides as rides_db
from deleton.postgres.config import DatabaseConfig
from deleton.postgres.connection import migrated
from tests.harness.browser import SECRETS
from tests.harness.fleet import SECOND, START, dump_fleet, ingest_file
from tests.harness.postgres import database, drop_database, embedded
from tests.harness.services import SmtpServer, env_for, execute, rows, run_deleton, scalar

PASSWORDS = {"writer": "w" * 16, "reader": "r" * 16, "api": "a" * 16, "operator": "o" * 16}
PERSONAL = ("email", "house", "street", "city", "postcode", "date_of_birth")


@pytest.fixture(scope="session")
def logins_template(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database made by ``deleton db init`` as an administrator with each service's
    password, over a fleet the writer's login ingested: made once a worker, copied by
    ``logins`` for each test, never connected to after."""
    url = database(pg_url, "roles_template")
    env = env_for(url, **{f"db_{group}_password": pw for group, pw in PASSWORDS.items()})
    result = run_deleton("db", "init", env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert b"deleton_reader_login" in result.stdout
    assert all(pw.encode() not in result.stdout + result.stderr for pw in PASSWORDS.values())
    dump = tmp_path_factory.mktemp("roles") / "fleet.jsonl"
    dump_fleet(dump, bikes=6, seconds=3600, seed=51)
    ingest_file(make_conninfo(url, user=schema.LOGINS["writer"]), dump)
    return url


_copies = itertools.count()


@pytest.fixture
def logins(pg_url: str, logins_template: str) -> Iterator[dict[str, str]]:
    """Each service's login, as ``deleton db init`` makes them, over a fleet the writer
    ingested (a copy of ``logins_template``); and ``admin``, the administrator's."""
    url = database(pg_url, f"roles_{next(_copies)}", logins_template)
    # the logins are the server's, not the copy's: as db init would, they are given their
    # group, path and password again, whatever a test before this one did to them
    with psycopg.connect(url, autocommit=True) as conn:
        schema.ensure_logins(conn, PASSWORDS)
    yield {**{group: make_conninfo(url, user=login) for group, login in schema.LOGINS.items()},
           "admin": url}  # fmt: skip
    drop_database(pg_url, url)


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
        rider = rides_db.rider(conn, user_id, dt.date(2022, 11, 3), contact=True)
        assert rider is not None and rider.contact is not None
        assert (rider.contact.email, rider.contact.date_of_birth) == (email, born)
        assert rides_db.delete_ride(conn, ride_id) is rides_db.Deletion.DELETED
    assert scalar(admin, "SELECT count(*) FROM daily.reading WHERE ride_id = %s", [ride_id]) == 0


def test_a_login_that_may_not_migrate_says_what_is_missing(logins: dict[str, str]) -> None:
    reader = logins["reader"]
    admin = logins["admin"]
    config = DatabaseConfig(url=None, home=Path("."), migrates=False)
    migrated(_at(config, reader))  # up to date: nothing to say
    migrated(_at(config, logins["api"]))
    execute(admin, "DELETE FROM public.deleton_migration WHERE version = %s", [schema.ROLES])
    with pytest.raises(TerminalError, match=r"0006_roles.*deleton db init"):
        migrated(_at(config, reader))


def _at(config: DatabaseConfig, url: str) -> DatabaseConfig:
    return replace(config, url=SecretStr(url))


# --- what each login reaches, from the catalogs, against the lists below ----------------------

# Every privilege each login holds on everything in daily, historical, keeper and public: tables,
# views and sequences (hourly partitions apart: see below), columns where the table is not
# granted whole, functions, and the schemas themselves.
REACH = """
WITH rels AS (
    SELECT c.oid, n.nspname || '.' || c.relname AS name, c.relkind FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname IN ('daily', 'historical', 'keeper', 'public')
      AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND NOT c.relispartition
)
SELECT r.name || ': ' || p.priv FROM rels r,
    unnest(CASE WHEN r.relkind = 'S' THEN ARRAY['USAGE', 'SELECT', 'UPDATE']
                ELSE ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES',
                           'TRIGGER'] END) p(priv)
WHERE CASE WHEN r.relkind = 'S' THEN has_sequence_privilege(%(login)s, r.oid, p.priv)
           ELSE has_table_privilege(%(login)s, r.oid, p.priv) END
UNION ALL
SELECT r.name || '(' || a.attname || '): ' || p.priv
FROM rels r JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped,
    unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'REFERENCES']) p(priv)
WHERE r.relkind <> 'S' AND has_column_privilege(%(login)s, r.oid, a.attnum, p.priv)
  AND NOT has_table_privilege(%(login)s, r.oid, p.priv)
UNION ALL
SELECT f.oid::regprocedure::text || ': EXECUTE' FROM pg_proc f
JOIN pg_namespace n ON n.oid = f.pronamespace
WHERE n.nspname IN ('daily', 'historical', 'keeper', 'public')
  AND has_function_privilege(%(login)s, f.oid, 'EXECUTE')
UNION ALL
SELECT 'schema ' || s || ': ' || p.priv
FROM unnest(ARRAY['daily', 'historical', 'keeper', 'public']) s, unnest(ARRAY['USAGE', 'CREATE']) p(priv)
WHERE has_schema_privilege(%(login)s, s, p.priv)
"""
TABLE = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
TSTZ = "timestamp with time zone"
# a ride's figures, defined once (migration 0011; 0013 drops its plpgsql helper; 0024 takes
# the sums apart, which the dashboard's tallies call too): each login that reads rides calls it
RIDE_FIGURES = (
    f"daily.ride_figures(bigint[],{TSTZ},{TSTZ})",
    f"daily.ride_sums(bigint[],{TSTZ}[],{TSTZ},{TSTZ})",  # the sums it is built on (0024)
)


def whole(*tables: str, privileges: tuple[str, ...] = TABLE) -> set[str]:
    return {f"{table}: {privilege}" for table in tables for privilege in privileges}


def columns(table: str, *names: str) -> set[str]:
    return {f"{table}({name}): SELECT" for name in names}


def functions(*signatures: str) -> set[str]:
    return {f"{signature}: EXECUTE" for signature in signatures}


RIDER_NOT_PERSONAL = ("user_id", "title", "first_name", "last_name", "gender",
                      "gender_as_given", "height_cm", "weight_kg", "account_created",
                      "original_source", "seen_at")  # fmt: skip
READ_SCHEMAS = {"schema daily: USAGE", "schema historical: USAGE", "schema public: USAGE"}
# the dashboard's sign-in (migrations 0009, 0010; in the keeper's schema since 0020): the
# functions the reader calls, and those the operator calls for `deleton users`, `login-link`
# and `screen-link`; no login reaches a sign-in table
SIGN_IN_FUNCTIONS = functions(
    "keeper.consume_login_link(bytea,bytea,integer)",
    "keeper.end_session(bytea)",
    "keeper.password_salt(text)",
    "keeper.screen_generation(text,text)",
    "keeper.session_role(bytea)",
    "keeper.sign_in_password(text,text,bytea,integer)",
    "keeper.start_session(bytea,text,text,text,integer)",
)
OPERATORS_ACCOUNT_FUNCTIONS = functions(
    "keeper.accounts()",
    "keeper.add_account(text,text,text)",
    "keeper.add_login_link(text,bytea,integer)",
    "keeper.open_screen(text,text)",
    "keeper.remove_account(text)",
    "keeper.revoke_screen(text,text)",
    "keeper.set_password(text,text)",
)
EXPECTED = {
    # ingestion and compression: owns both schemas and everything in them; the audit, the
    # keys and the dashboard's accounts are in deleton_keeper's schema (migrations 0012, 0014,
    # 0020), which it cannot reach (0019, 0020: the operator makes keys and accounts)
    "writer": whole(
        "daily.alert",
        "daily.bike_latest",
        "daily.dead_letter",
        "daily.reading",
        "daily.ride",
        "daily.rider",
        "daily.source_position",
        "historical.alert",
        # bike health (migration 0028): compression's checks write what they find and keep
        "historical.bike_finding",
        "historical.bike_health",
        "historical.erasure",
        "historical.report_delivery",
        "historical.ride",
        "historical.power_drift_cell",
        "historical.power_model_cell",
        "historical.ride_summary",
        "historical.rider",
    )
    | whole(
        "daily.alert_alert_id_seq",
        "historical.bike_finding_finding_id_seq",
        "daily.dead_letter_dead_letter_id_seq",
        "daily.ride_id_seq",
        "historical.tombstone_seq",
        privileges=("USAGE", "SELECT", "UPDATE"),
    )
    # the versions it applies as it starts, never who applied them (schema.guard_migrations)
    | whole("public.deleton_migration", privileges=("SELECT",))
    | {"public.deleton_migration(version): INSERT"}
    | functions(
        # the triggers that keep each bike's newest ride (migration 0023): the owner's alone
        "daily.bike_latest_ended()",
        "daily.bike_latest_opened()",
        f"daily.ensure_reading_partition({TSTZ},interval)",
        *RIDE_FIGURES,
        "daily.erased_among(bigint[])",
        "historical.delete_ride(bigint)",
        "historical.age_band_floor(integer)",
        "historical.erase_rider(bigint)",
        "historical.escaped_literal(text)",
        f"historical.record_report_delivery({TSTZ},{TSTZ},integer)",
        "historical.ride_rider_age(bigint)",
        "historical.rider_age(bigint,date)",
        "historical.rider_contact(bigint)",
        "historical.high_limit(integer)",
        "historical.names_user_id(bytea,bigint)",
        "historical.number_is(text,bigint)",
        "historical.user_id_candidates(bigint)",
        "historical.wire_field(text,text,boolean)",
    )
    | READ_SCHEMAS
    | {"schema daily: CREATE", "schema historical: CREATE"},
    # the dashboard and the report: every ride, riders but their contact details and birth
    # date, no checkpoint state, no dead letter's value, no key, no audit; one write, through
    # a function
    "reader": whole(
        "daily.alert",
        "daily.bike_latest",  # each bike's newest reading (migration 0023), as daily.reading
        "daily.reading",
        "daily.ride",
        "historical.alert",
        # bike health's findings and the fleet's power model (migration 0028): bikes, no rider
        "historical.bike_finding",
        "historical.power_model_cell",
        "historical.report_delivery",
        "historical.ride",
        "historical.ride_summary",
        "public.deleton_migration",
        privileges=("SELECT",),
    )
    | columns("daily.rider", *RIDER_NOT_PERSONAL)
    | columns("historical.rider", *RIDER_NOT_PERSONAL)
    # the bikes known, for the report's fleet availability; what is kept of them, not
    | columns("historical.bike_health", "bike_serial")
    | columns(
        "daily.source_position", "source", "partition", "next_position", "updated_at", "version"
    )
    | columns(
        "daily.dead_letter",
        "dead_letter_id",
        "source",
        "partition",
        "position",
        "key",
        "reason",
        "received_at",
        "value_length",
    )
    | functions(
        *RIDE_FIGURES,
        f"historical.record_report_delivery({TSTZ},{TSTZ},integer)",
        "historical.ride_rider_age(bigint)",
    )
    | SIGN_IN_FUNCTIONS
    | READ_SCHEMAS
    | {"schema keeper: USAGE"},
    # the API: what its routes show, riders' names; contact details, deletes, erasure, keys
    # and the audit only through its functions
    "api": whole(
        "daily.bike_latest",  # each bike's newest reading (migration 0023), as daily.reading
        "daily.reading",
        "daily.ride",
        "historical.bike_finding",  # GET /bikes/health (migration 0028)
        "historical.ride",
        "historical.ride_summary",
        "public.deleton_migration",
        privileges=("SELECT",),
    )
    | columns("daily.rider", "user_id", "title", "first_name", "last_name", "gender")
    | columns("historical.rider", "user_id", "title", "first_name", "last_name", "gender")
    | columns("daily.source_position", "source", "partition", "next_position", "updated_at")
    | columns("daily.alert", "ride_id", "kind")  # counted by the ride's figures
    | functions(
        *RIDE_FIGURES,
        "historical.delete_ride(bigint)",
        "historical.erase_rider(bigint)",
        "historical.rider_age(bigint,date)",
        "historical.rider_contact(bigint)",
        "keeper.api_key_scopes(bytea)",
        "keeper.record_audit(text,text,text,integer,text)",
    )
    | READ_SCHEMAS
    | {"schema keeper: USAGE"},
    # the operator at the CLI (0019, 0020): makes, lists and revokes the API's keys and the
    # dashboard's accounts, links and screens through the keeper's functions; reads no rider,
    # writes no table
    "operator": whole("public.deleton_migration", privileges=("SELECT",))
    | functions(
        "keeper.api_keys()",
        "keeper.create_api_key(text,bytea,text[])",
        "keeper.revoke_api_key(text)",
    )
    | OPERATORS_ACCOUNT_FUNCTIONS
    | {"schema public: USAGE", "schema keeper: USAGE"},
}


def test_each_login_reaches_exactly_what_its_service_needs(logins: dict[str, str]) -> None:
    for group, login in schema.LOGINS.items():
        reach = {row[0] for row in rows(logins["admin"], REACH, {"login": login})}
        assert reach - EXPECTED[group] == set(), f"{group} reaches more than listed"
        assert EXPECTED[group] - reach == set(), f"{group} lacks what is listed"
        # hourly partitions are the writer's, whoever met the hour; the others read the parent
        partitions = rows(
            logins["admin"],
            """SELECT pg_get_userbyid(c.relowner),
                      has_table_privilege(%s, c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE')
               FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
               WHERE i.inhparent = 'daily.reading'::regclass""",
            [login],
        )
        assert partitions
        assert set(partitions) == {("deleton_writer", group == "writer")}, group


def test_only_the_writer_makes_partitions_and_only_for_hours_that_can_be(
    logins: dict[str, str],
) -> None:
    for group in ("reader", "api"):
        assert refused(logins[group], "SELECT daily.ensure_reading_partition(now())"), group
    writer = logins["writer"]
    now = dt.datetime.now(dt.UTC)
    for at, skew in (
        ("10000-01-01 00:00+00", None),  # stopped every compression for good, once
        ("0001-06-01 00:00+00 BC", None),
        ("1999-12-31 23:59+00", None),
        (now + dt.timedelta(days=2), None),  # beyond the clock skew allowed (a day by default)
        (now + dt.timedelta(hours=2), dt.timedelta(hours=1)),
    ):
        with (
            psycopg.connect(writer, autocommit=True) as conn,
            pytest.raises(psycopg.errors.DatetimeFieldOverflow),
        ):
            conn.execute(
                "SELECT daily.ensure_reading_partition(%s::timestamptz,"
                " coalesce(%s, interval '1 day'))",
                [at, skew],
            )
    for at, skew in (
        ("2000-01-01 00:00+00", None),  # replays of old dumps stay possible
        ("2022-11-03 08:30+00", None),
        (now + dt.timedelta(hours=20), None),
        (now + dt.timedelta(days=2), dt.timedelta(days=3)),  # DELETON_MAX_CLOCK_SKEW, larger
    ):
        execute(writer, "SELECT daily.ensure_reading_partition(%s::timestamptz,"
                " coalesce(%s, interval '1 day'))", [at, skew])  # fmt: skip
    made = rows(
        writer,
        "SELECT relname FROM pg_class WHERE relkind = 'r' AND relname ~ %s",
        [r"^reading_(2000|10000|0001)"],
    )
    assert made == [("reading_20000101_00",)]


def test_upgrading_to_0008_blanks_checkpoint_emails_and_keeps_ages_on_rides(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database of 0007 with what its ingestion wrote: checkpoints carrying open bikes'
    emails, alerts carrying their recipient. 0008 leaves no email outside the rider tables,
    and gives every ride its rider's gender and age at its start."""
    execute(db, "DROP SCHEMA daily CASCADE; DROP SCHEMA historical CASCADE;"
                " DROP SCHEMA IF EXISTS keeper CASCADE; DROP TABLE public.deleton_migration")  # fmt: skip
    every = schema.migrations()
    monkeypatch.setattr(schema, "migrations", lambda: [m for m in every if m[0] < "0008"])
    with psycopg.connect(db, autocommit=True) as conn:
        schema.init(conn)
    execute(db, """INSERT INTO daily.rider VALUES (7, 'Mr', 'Sam', 'Lee', 'male', 'Male',
                   '1970-06-01', 'sam@x.com', '1', 'High st', 'Leeds', 'LS1 1AA', 180, 80,
                   '2020-01-01', 'direct', '2022-11-03 08:00+00')""")  # fmt: skip
    execute(db, "INSERT INTO daily.ride (ride_id, bike_serial, user_id, started_at) VALUES"
                " (1, 'SN0001', 7, '2022-11-03 08:00+00')")  # fmt: skip
    execute(db, "INSERT INTO daily.alert (ride_id, user_id, kind, at, heart_rate,"
                " heart_rate_limit, recipient) VALUES (1, 7, 'high', now(), 190, 168,"
                " 'sam@x.com')")  # fmt: skip
    legacy = b'{"bikes":[["SN0001",1,7,"h v1",1667462400000000,168,"sam@x.com",null,0,0,0,1]]}'
    execute(db, "INSERT INTO daily.source_position (source, partition, next_position, state)"
                " VALUES ('kafka:deloton', 0, 10, %s)", [legacy])  # fmt: skip
    monkeypatch.setattr(schema, "migrations", lambda: [m for m in every if m[0] < "0009"])
    with psycopg.connect(db, autocommit=True) as conn:
        assert schema.init(conn) == ["0008_privacy"]
    monkeypatch.setattr(schema, "migrations", lambda: every)
    with psycopg.connect(db, autocommit=True) as conn:
        schema.init(conn)  # and whatever came after it
    state, version = rows(db, "SELECT state, version FROM daily.source_position")[0]
    assert b"sam@x.com" not in bytes(state) and version == 1  # the member that held it reloads
    tracker = Tracker(60 * SECOND, lambda: 2)
    tracker.load(0, bytes(state))  # still the format before 2, read as such
    bike = tracker.partitions[0][b"SN0001"]
    assert (bike.ride_id, bike.user_id, bike.limit, bike.heard) == (1, 7, 168, 1)
    assert rows(db, "SELECT column_name FROM information_schema.columns WHERE table_schema ="
                    " 'daily' AND table_name = 'alert' AND column_name = 'recipient'") == []  # fmt: skip
    assert rows(db, "SELECT rider_gender, rider_age FROM daily.ride") == [("male", 52)]


def test_no_service_login_can_rewrite_or_erase_the_audit(logins: dict[str, str]) -> None:
    """Review finding: ``historical.audit`` belongs to ``deleton_writer``, the login of
    ingestion (which parses whatever the bikes send) and of the jobs. Whoever holds it can
    delete or rewrite the record of who read riders' contact details and who erased whom,
    and it can make itself a key of every scope in ``historical.api_key`` beside. The audit
    must be append-only for every service login: rows added through
    ``keeper.record_audit``, never changed or removed but by the administrator."""
    execute(logins["admin"], "INSERT INTO keeper.audit (key_name, method, path, status)"
                             " VALUES ('personal-key', 'GET', '/rider/1', 200)")  # fmt: skip
    for group in ("writer", "reader", "api", "operator"):
        for statement in ("DELETE FROM keeper.audit",
                          "UPDATE keeper.audit SET key_name = 'nobody'",
                          "TRUNCATE keeper.audit"):  # fmt: skip
            assert refused(logins[group], statement), (group, statement)
    assert scalar(logins["admin"], "SELECT key_name FROM keeper.audit") == "personal-key"


# the dashboard's accounts, links, sessions and screens too (migration 0020)
KEEPERS_TABLES = ("audit", "api_key", "account", "dashboard_session", "login_link", "screen",
                  "sign_in_failure", "sign_in_secret")  # fmt: skip
KEEPERS_FUNCTIONS = ("record_audit", "api_key_scopes", "create_api_key", "revoke_api_key",
                     "api_keys", "record_operator_act", "password_salt", "sign_in_password",
                     "consume_login_link", "start_session", "session_role", "end_session",
                     "screen_generation", "add_account", "set_password", "remove_account",
                     "accounts", "add_login_link", "open_screen", "revoke_screen")  # fmt: skip


def test_no_service_login_can_drop_or_replace_the_keepers_tables_or_functions(
    logins: dict[str, str],
) -> None:
    """Review finding: the owner of a schema may drop any table or function in it, whoever
    owns that. While the audit and the keys lay in ``historical``, the writer's schema, its
    login dropped ``api_key``, made one of its own with a key of every scope, and the API's
    ``api_key_scopes`` (which finds the table by name) accepted that key. The keeper's tables
    and functions are found here by name, wherever they live, and no service login may drop
    them or put anything of its own beside them."""
    admin = logins["admin"]
    tables = rows(admin, "SELECT c.oid::regclass::text, c.relnamespace::regnamespace::text"
                         " FROM pg_class c WHERE c.relkind = 'r' AND c.relname = ANY(%s)",
                  [list(KEEPERS_TABLES)])  # fmt: skip
    procs = [row[0] for row in rows(admin, "SELECT p.oid::regprocedure::text FROM pg_proc p"
                                           " WHERE p.proname = ANY(%s)",
                                    [list(KEEPERS_FUNCTIONS)])]  # fmt: skip
    assert len(tables) == len(KEEPERS_TABLES) and len(procs) == len(KEEPERS_FUNCTIONS)
    for group in ("writer", "reader", "api", "operator"):
        for table, namespace in tables:
            assert refused(logins[group], f"DROP TABLE {table}"), (group, table)
            assert refused(logins[group], f"ALTER TABLE {table} RENAME TO stolen"), (group, table)
            assert refused(logins[group], f"CREATE TABLE {namespace}.shadow (x int)"), group
        for proc in procs:
            assert refused(logins[group], f"DROP FUNCTION {proc}"), (group, proc)
    # all still there, as they were
    after = rows(admin, "SELECT c.oid::regclass::text, c.relnamespace::regnamespace::text"
                        " FROM pg_class c WHERE c.relkind = 'r' AND c.relname = ANY(%s)",
                 [list(KEEPERS_TABLES)])  # fmt: skip
    assert sorted(after) == sorted(tables)


def test_upgrading_to_0014_needs_the_administrator_and_keeps_the_keys_and_the_audit(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """0014 makes a schema and acts as deleton_keeper: the writer's login, migrating as it
    starts, is told to run ``deleton db init`` and changes nothing; the administrator's run
    moves the keys and the audit with their rows, and a key made before works after."""
    execute(db, "DROP SCHEMA daily CASCADE; DROP SCHEMA historical CASCADE;"
                " DROP SCHEMA IF EXISTS keeper CASCADE; DROP TABLE public.deleton_migration")  # fmt: skip
    every = schema.migrations()
    monkeypatch.setattr(schema, "migrations", lambda: [m for m in every if m[0] < "0014"])
    with psycopg.connect(db, autocommit=True) as conn:
        schema.init(conn)
        # the operator's role comes with 0019: before it, the services' logins alone
        schema.ensure_logins(conn, {g: pw for g, pw in PASSWORDS.items() if g != "operator"})
    sha = bytes(range(32))
    execute(db, "SELECT historical.create_api_key('old', %s, ARRAY['personal'])", [sha])
    execute(db, "SELECT historical.record_audit('old', 'GET', '/rider/1', 200, 'x')")
    # up to 0014 alone: later migrations are not this upgrade's
    monkeypatch.setattr(schema, "migrations", lambda: [m for m in every if m[0] < "0015"])
    writer = make_conninfo(db, user=schema.LOGINS["writer"])
    with (
        psycopg.connect(writer, autocommit=True) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match=r"0014.*deleton db init"),
    ):
        schema.init(conn)
    assert scalar(db, "SELECT to_regnamespace('keeper')") is None
    with psycopg.connect(db, autocommit=True) as conn:
        # 0014 is applied (later migrations are not this upgrade's)
        assert schema.init(conn) == ["0014_keeper_schema"]
    api = make_conninfo(db, user=schema.LOGINS["api"])
    assert rows(api, "SELECT * FROM keeper.api_key_scopes(%s)", [sha]) == [("old", ["personal"])]
    assert rows(db, "SELECT key_name, path FROM keeper.audit") == [("old", "/rider/1")]
    assert scalar(db, "SELECT to_regclass('historical.audit')") is None
    assert scalar(db, "SELECT to_regclass('historical.api_key')") is None


# --- schema public: PostgreSQL 14 let every role create there (migration 0018) ---------------

# The reviewer's plant: an aggregate that matches ride_figures' last_value(double precision)
# closer than pg_catalog's polymorphic one, whose step makes a key of every scope when the
# writer runs it (the reader and the API may not make keys: nothing happens as them).
PLANT = """
CREATE FUNCTION public.step(a double precision, b double precision) RETURNS double precision
LANGUAGE plpgsql AS $f$
BEGIN
    BEGIN
        EXECUTE 'SELECT keeper.create_api_key($1, $2, $3)'
        USING 'planted', sha256(convert_to('planted-key-of-the-reader-0123456789', 'UTF8')),
              ARRAY['read', 'personal', 'erase'];
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
    RETURN b;
END $f$;
CREATE AGGREGATE public.last_value(double precision) (SFUNC = public.step, STYPE = float8);
"""
UNPLANT = "DROP AGGREGATE IF EXISTS public.last_value(double precision);" \
          " DROP FUNCTION IF EXISTS public.step(double precision, double precision)"  # fmt: skip


@pytest.fixture
def database_of_14(pg_url: str) -> Iterator[str]:
    """A new database of the session's server where PUBLIC may create in schema public, as
    PostgreSQL 14 makes every database (and 15+ keeps through an upgrade from 14); dropped
    after."""
    name = "of_14"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # a run stopped midway
        conn.execute(f"CREATE DATABASE {name}")
    url = make_conninfo(pg_url, dbname=name)
    execute(url, "GRANT CREATE ON SCHEMA public TO PUBLIC")
    try:
        yield url
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


def test_no_service_login_can_create_in_public_where_postgresql_14_let_every_role(
    database_of_14: str,
) -> None:
    """Review finding (High): on a database of PostgreSQL 14 every login could create in
    public, and the reader's login planted an aggregate that compression, as the writer,
    ran. Migrated there by ``deleton db init``, no service role or login may create in any
    schema but its own, and the plant is refused to each."""
    admin = database_of_14
    assert scalar(admin, "SELECT has_schema_privilege('public', 'public', 'CREATE')")
    env = env_for(admin, **{f"db_{group}_password": pw for group, pw in PASSWORDS.items()})
    result = run_deleton("db", "init", env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    roles = [*schema.LOGINS.values(), "deleton_writer", "deleton_reader", "deleton_api",
             "deleton_keeper", "deleton_operator"]  # fmt: skip
    creates = rows(
        admin,
        "SELECT r, n.nspname FROM unnest(%s::text[]) r, pg_namespace n"
        " WHERE n.nspname NOT LIKE 'pg\\_%%' AND has_schema_privilege(r, n.oid, 'CREATE')",
        [roles],
    )
    assert sorted(creates) == sorted(
        [(login, s) for login in ("deleton_writer", schema.LOGINS["writer"])
         for s in ("daily", "historical")] + [("deleton_keeper", "keeper")]
    )  # fmt: skip
    for login in schema.LOGINS.values():
        url = make_conninfo(admin, user=login)
        assert refused(url, PLANT), login
        assert refused(url, "CREATE TABLE public.shadow (x int)"), login
    # the writer's login, migrating as it starts, may not apply 0018 and is told who may
    execute(admin, "DELETE FROM public.deleton_migration WHERE version >= '0018'")
    writer = make_conninfo(admin, user=schema.LOGINS["writer"])
    with (
        psycopg.connect(writer, autocommit=True) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match=r"0018.*deleton db init"),
    ):
        schema.init(conn)


def test_a_plant_in_public_is_not_what_compression_runs(
    logins: dict[str, str], tmp_path: Path
) -> None:
    """Defence in depth, for a public that someone can still create in (an owner who never
    revoked, an administrator's slip): every service login's search_path leaves public out,
    so the planted aggregate is not found, and compression (as the writer's login) makes no
    key."""
    admin = logins["admin"]
    for login in schema.LOGINS.values():
        url = make_conninfo(admin, user=login)
        assert scalar(url, "SHOW search_path") == "pg_catalog, pg_temp", login
    execute(admin, PLANT)  # as the administrator, standing in for whoever could
    try:
        now = to_datetime(START + 2 * 86_400 * SECOND).isoformat()
        result = run_deleton("compress", "--now", now, env=env_for(logins["writer"]))
        assert result.returncode == 0, result.stderr[-2000:]
        assert scalar(admin, "SELECT count(*) FROM historical.ride") > 0  # it ran
        keys = rows(admin, "SELECT name FROM keeper.api_key")
        assert ("planted",) not in keys, "compression ran the aggregate planted in public"
    finally:
        execute(admin, UNPLANT)


def test_0018_names_the_fix_where_it_cannot_revoke_create_on_public(
    database_of_14: str,
) -> None:
    """On RDS, public may belong to a role other than the one that migrates: its REVOKE
    then changes nothing (PostgreSQL only warns), and 0018 must fail, naming who must run
    what, rather than be recorded as done."""
    admin = database_of_14
    with psycopg.connect(admin, autocommit=True) as conn:
        schema.init(conn)
    execute(admin, "DELETE FROM public.deleton_migration WHERE version >= '0018'")
    execute(admin, "CREATE ROLE public_owner NOLOGIN; ALTER SCHEMA public OWNER TO public_owner;"
                   " GRANT CREATE ON SCHEMA public TO PUBLIC;"
                   " CREATE ROLE migrator LOGIN IN ROLE deleton_keeper;"
                   " GRANT SELECT, INSERT ON public.deleton_migration TO migrator")  # fmt: skip
    try:
        migrator = make_conninfo(admin, user="migrator")  # an administrator, not a superuser
        with (
            psycopg.connect(migrator, autocommit=True) as conn,
            pytest.raises(psycopg.errors.InsufficientPrivilege, match="0018") as refusal,
        ):
            schema.init(conn)
        assert "deleton_reader in public" in str(refusal.value)
        hint = refusal.value.diag.message_hint or ""
        assert "as public_owner" in hint and "REVOKE CREATE ON SCHEMA public FROM PUBLIC" in hint
        assert scalar(admin, "SELECT max(version) FROM public.deleton_migration") < "0018"
    finally:
        execute(admin, "ALTER SCHEMA public OWNER TO pg_database_owner; DROP ROLE public_owner;"
                       " REVOKE ALL ON public.deleton_migration FROM migrator;"
                       " DROP ROLE migrator")  # fmt: skip


# --- the operator's login (Issue 17; migrations 0019 and 0020) -------------------------------
# Review 4 (Medium): the writer, whose process parses every bike's bytes, could mint a key of
# every scope and add a dashboard admin, because `deleton api-key`, `users`, `login-link` and
# `screen-link` ran with its login. They run with deleton_operator's login, through the
# keeper's definer functions, each act audited.
KEY_CALLS = (
    "SELECT keeper.create_api_key('backdoor', %s, ARRAY['read', 'personal', 'erase'])",
    "SELECT keeper.revoke_api_key('backdoor')",
    "SELECT * FROM keeper.api_keys()",
)
# found by name, wherever the migrations put them (keeper since 0020)
ACCOUNT_TABLES = ("account", "dashboard_session", "login_link", "screen", "sign_in_failure",
                  "sign_in_secret")  # fmt: skip
WRITE = ("INSERT", "UPDATE", "DELETE", "TRUNCATE")


def test_the_writer_can_neither_make_nor_list_nor_revoke_a_key(logins: dict[str, str]) -> None:
    """The writer's login calls none of the key functions: not to mint one of every scope
    (review 3's attack), not to revoke the API's keys, not to list their names and scopes."""
    key = b"\x01" * 32
    for call in KEY_CALLS:
        assert refused(logins["writer"], call, [key] if "%s" in call else None), call
    assert scalar(logins["admin"], "SELECT count(*) FROM keeper.api_key") == 0


def test_the_writer_can_add_no_account_link_session_or_screen(logins: dict[str, str]) -> None:
    """Neither owns nor writes the dashboard's sign-in tables, so it can add no admin, mint no
    sign-in link, forge no session and open no screen."""
    admin = logins["admin"]
    tables = [row[0] for row in rows(admin, "SELECT c.oid::regclass::text FROM pg_class c"
                                            " WHERE c.relkind = 'r' AND c.relname = ANY(%s)",
                                     [list(ACCOUNT_TABLES)])]  # fmt: skip
    assert len(tables) == len(ACCOUNT_TABLES)
    writer = schema.LOGINS["writer"]
    for table in tables:
        owner = scalar(admin, "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = %s::regclass",
                       [table])  # fmt: skip
        assert not scalar(admin, "SELECT pg_has_role(%s, %s, 'USAGE')", [writer, owner]), table
        for privilege in WRITE:
            assert not scalar(admin, "SELECT has_table_privilege(%s, %s, %s)",
                              [writer, table, privilege]), (table, privilege)  # fmt: skip
    account = next(t for t in tables if t.endswith(".account"))
    assert refused(logins["writer"],
                   f"INSERT INTO {account} (name, role) VALUES ('mallory', 'admin')")  # fmt: skip
    assert scalar(admin, f"SELECT count(*) FROM {account} WHERE name = 'mallory'") == 0


@pytest.fixture
def operator(logins: dict[str, str]) -> str:
    """The operator's login, made by ``deleton db init`` beside the services' logins."""
    return logins["operator"]


def test_the_operators_login_makes_lists_and_revokes_a_key(operator: str) -> None:
    """What `deleton api-key` does, with DELETON_OPERATOR_DATABASE_URL."""
    key = b"\x02" * 32
    with psycopg.connect(operator, autocommit=True) as conn:
        made = conn.execute(
            "SELECT keeper.create_api_key('ops-key', %s, ARRAY['read'])", [key]
        ).fetchone()
        listed = conn.execute("SELECT name, scopes FROM keeper.api_keys()").fetchall()
        revoked = conn.execute("SELECT keeper.revoke_api_key('ops-key')").fetchone()
    assert made == (True,) and revoked == (True,)
    assert listed == [("ops-key", ["read"])]
    # the operator is a person at the CLI: it reads no rider and ingests nothing
    assert refused(operator, "SELECT email FROM historical.rider")
    assert refused(operator, "INSERT INTO daily.dead_letter (source) VALUES ('x')")


def test_making_and_revoking_a_key_is_audited(operator: str, logins: dict[str, str]) -> None:
    """Inside the definer functions, so no caller can skip it; the audit stays append-only."""
    with psycopg.connect(operator, autocommit=True) as conn:
        conn.execute("SELECT keeper.create_api_key('ops-key', %s, ARRAY['read'])", [b"\x03" * 32])
        conn.execute("SELECT keeper.revoke_api_key('ops-key')")
    audit = rows(logins["admin"], "SELECT key_name, method FROM keeper.audit ORDER BY 1, 2")
    assert audit == [("ops-key", "CREATE"), ("ops-key", "REVOKE")]


def test_the_key_command_runs_with_the_operators_url(operator: str, logins: dict[str, str]) -> None:
    """`deleton api-key create` with DELETON_OPERATOR_DATABASE_URL set and the writer's
    DELETON_DATABASE_URL beside it (as the admin task would not have): the key is made by the
    operator's login."""
    env = env_for(logins["writer"], operator_database_url=operator)
    result = run_deleton("api-key", "create", "ops-cli", "--scope", "read", env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert scalar(logins["admin"], "SELECT scopes FROM keeper.api_key WHERE name = 'ops-cli'") == [
        "read"
    ]


def test_the_writer_the_reader_and_the_api_call_none_of_the_operators_functions(
    logins: dict[str, str],
) -> None:
    """Only the operator's login adds, changes, lists or removes an account, mints a sign-in
    link or opens or revokes a screen: not the writer (the finding), not the dashboard's
    reader, not the API. Each refusal leaves nothing behind, in the tables or the audit."""
    admin = logins["admin"]
    execute(admin, "SELECT keeper.add_account('ada', 'staff', NULL)")  # as the administrator
    execute(admin, "DELETE FROM keeper.audit")
    for group in ("writer", "reader", "api"):
        for call, params in OPERATORS_CALLS:
            assert refused(logins[group], call, params), (group, call)
    assert rows(admin, "SELECT name, role, password_hash FROM keeper.account") == [
        ("ada", "staff", None)
    ]
    assert scalar(admin, "SELECT count(*) FROM keeper.login_link") == 0
    assert scalar(admin, "SELECT count(*) FROM keeper.screen") == 0
    assert scalar(admin, "SELECT count(*) FROM keeper.audit") == 0


OPERATORS_CALLS = (
    ("SELECT keeper.add_account('mallory', 'admin', NULL)", None),
    ("SELECT keeper.set_password('ada', NULL)", None),
    ("SELECT * FROM keeper.remove_account('ada')", None),
    ("SELECT * FROM keeper.accounts()", None),
    ("SELECT keeper.add_login_link('ada', %s, 600)", [b"\x04" * 32]),
    ("SELECT keeper.open_screen('bike', 'SN0001')", None),
    ("SELECT keeper.revoke_screen('bike', 'SN0001')", None),
)


def test_the_operators_login_keeps_the_accounts_and_every_act_is_audited(
    operator: str, logins: dict[str, str]
) -> None:
    """What `deleton users`, `login-link` and `screen-link` do, through the keeper's
    functions: the hash never comes back out, and each act that changes something (or tried
    to) is one audit row, written by the function itself, naming the operator's login."""
    digest = b"\x05" * 32
    with psycopg.connect(operator, autocommit=True) as conn:
        made = [
            conn.execute(call, params).fetchone()
            for call, params in (
                ("SELECT keeper.add_account('bea', 'admin', NULL)", None),
                ("SELECT keeper.add_account('bea', 'staff', NULL)", None),
                ("SELECT keeper.set_password('bea', %s)", ["$argon2id$v=19$m=65536,t=3,p=4$s$h"]),
                ("SELECT keeper.add_login_link('bea', %s, 600) IS NOT NULL", [digest]),
                ("SELECT keeper.add_login_link('nobody', %s, 600)", [bytes(32)]),
                ("SELECT keeper.open_screen('bike', 'SN0001')", None),
                ("SELECT keeper.revoke_screen('bike', 'SN0001')", None),
                ("SELECT keeper.open_screen('bike', 'SN0001')", None),
            )
        ]
        listed = conn.execute("SELECT * FROM keeper.accounts()").fetchall()
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            conn.execute("SELECT keeper.add_login_link('bea', %s, 31536000)", [bytes(32)])
        removed = conn.execute("SELECT * FROM keeper.remove_account('bea')").fetchone()
    assert made == [(True,), (False,), (True,), (True,), (None,), (1,), (True,), (2,)]
    assert [row[:3] for row in listed] == [("bea", "admin", True)]  # whether, never the hash
    assert "$argon2id$" not in repr(listed)
    assert removed == (True, 0)
    assert scalar(logins["admin"], "SELECT count(*) FROM keeper.login_link") == 0  # with it
    audit = rows(logins["admin"], "SELECT key_name, method, path, status, client"
                                  " FROM keeper.audit ORDER BY audit_id")  # fmt: skip
    login = schema.LOGINS["operator"]
    assert audit == [
        ("bea", "ADD", "users", 1, login),
        ("bea", "ADD", "users", 0, login),
        ("bea", "PASSWORD", "users", 1, login),
        ("bea", "LINK", "login-link", 1, login),
        ("nobody", "LINK", "login-link", 0, login),
        ("bike:SN0001", "OPEN", "screen-link", 1, login),
        ("bike:SN0001", "REVOKE", "screen-link", 1, login),
        ("bike:SN0001", "OPEN", "screen-link", 1, login),
        ("bea", "REMOVE", "users", 1, login),
    ]
    assert all(digest.hex() not in str(row) for row in audit)


def test_the_account_commands_run_with_the_operators_url(
    operator: str, logins: dict[str, str]
) -> None:
    """`deleton users`, `login-link` and `screen-link` with DELETON_OPERATOR_DATABASE_URL set
    and the writer's DELETON_DATABASE_URL beside it: they work, so they ran as the operator
    (the writer's login may call none of it), and the audit names the operator's login; and
    with the operator's URL alone, as the admin task has it."""
    env = env_for(logins["writer"], operator_database_url=operator,
                  public_url="https://gym.example", **SECRETS)  # fmt: skip
    added = run_deleton("users", "add", "cleo", "--role", "staff", "--password-stdin",
                        env=env, input=b"a long enough password\n")  # fmt: skip
    assert added.returncode == 0, added.stderr[-2000:]
    listed = run_deleton("users", "list", env=env)
    assert listed.returncode == 0 and b"cleo\tstaff\tpassword or link" in listed.stdout
    link = run_deleton("login-link", "cleo", env=env)
    assert link.returncode == 0 and link.stdout.startswith(b"https://gym.example/login/")
    screen = run_deleton("screen-link", "SN0001", env=env)
    assert screen.returncode == 0 and screen.stdout.startswith(b"https://gym.example/screen#")
    revoked = run_deleton("screen-link", "--revoke", "SN0001", env=env)
    assert revoked.returncode == 0, revoked.stderr[-2000:]
    password = run_deleton("users", "password", "cleo", env=env)
    assert password.returncode == 0, password.stderr[-2000:]
    removed = run_deleton("users", "remove", "cleo", env=env)
    assert removed.returncode == 0, removed.stderr[-2000:]
    audit = rows(logins["admin"], "SELECT method, path, client FROM keeper.audit ORDER BY audit_id")
    login = schema.LOGINS["operator"]
    assert audit == [("ADD", "users", login), ("LINK", "login-link", login),
                     ("OPEN", "screen-link", login), ("REVOKE", "screen-link", login),
                     ("PASSWORD", "users", login), ("REMOVE", "users", login)]  # fmt: skip
    # as the admin task on AWS runs them: the operator's URL and nothing of the writer's
    alone = {k: v for k, v in env.items() if k != "DELETON_DATABASE_URL"}
    for command in (("users", "list"), ("api-key", "list")):
        result = run_deleton(*command, env=alone)
        assert result.returncode == 0, (command, result.stderr[-2000:])


def test_upgrading_from_0018_needs_the_administrator_and_keeps_keys_accounts_and_sessions(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database of 0018, as the writer's CLI and the dashboard left it: a key, an account
    with a link used (its session signed in) and one not yet, a screen. Run by the writer's
    login as it starts, 0019 and then 0020 are refused, each naming ``deleton db init`` (as
    the writer their REVOKE and GRANT would be mere warnings, and it owns no keeper's object);
    the administrator's run hands the keys to the operator and the accounts to the keeper,
    and the dashboard's session, the link and the screen work on."""
    db = pg_url
    execute(db, "DROP SCHEMA IF EXISTS daily CASCADE; DROP SCHEMA IF EXISTS historical CASCADE;"
                " DROP SCHEMA IF EXISTS keeper CASCADE;"
                " DROP TABLE IF EXISTS public.deleton_migration")  # fmt: skip
    every = schema.migrations()
    monkeypatch.setattr(schema, "migrations", lambda: [m for m in every if m[0] < "0019"])
    with psycopg.connect(db, autocommit=True) as conn:
        schema.init(conn)
        schema.ensure_logins(conn, {g: pw for g, pw in PASSWORDS.items() if g != "operator"})
    writer = make_conninfo(db, user=schema.LOGINS["writer"])
    reader = make_conninfo(db, user=schema.LOGINS["reader"])
    execute(writer, "SELECT keeper.create_api_key('old', %s, ARRAY['read'])", [bytes(32)])
    # what 0018's `deleton users`, `login-link` and `screen-link` did, as the writer
    used, unused, session = b"\x06" * 32, b"\x07" * 32, b"\x08" * 32
    execute(writer, "INSERT INTO historical.account (name, role) VALUES ('old-admin', 'admin')")
    execute(writer, "INSERT INTO historical.login_link (digest, name, expires_at) VALUES"
                    " (%s, 'old-admin', now() + interval '10 minutes'),"
                    " (%s, 'old-admin', now() + interval '10 minutes')", [used, unused])  # fmt: skip
    execute(writer, "INSERT INTO historical.screen (kind, target) VALUES ('bike', 'SN0001')")
    signed_in = rows(reader, "SELECT * FROM historical.consume_login_link(%s, %s, 3600)",
                     [used, session])  # fmt: skip
    assert signed_in == [("old-admin", "admin")]

    monkeypatch.setattr(schema, "migrations", lambda: [m for m in every if m[0] < "0020"])
    with (
        psycopg.connect(writer, autocommit=True) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match=r"0019.*deleton db init"),
    ):
        schema.init(conn)
    with psycopg.connect(db, autocommit=True) as conn:
        assert schema.init(conn) == ["0019_operator"]
        schema.ensure_logins(conn, {"operator": PASSWORDS["operator"]})
    assert refused(writer, "SELECT * FROM keeper.api_keys()")
    operator = make_conninfo(db, user=schema.LOGINS["operator"])
    assert rows(operator, "SELECT name, scopes FROM keeper.api_keys()") == [("old", ["read"])]

    monkeypatch.setattr(schema, "migrations", lambda: every)
    with (
        psycopg.connect(writer, autocommit=True) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match=r"0020.*deleton db init"),
    ):
        schema.init(conn)
    assert scalar(db, "SELECT to_regclass('historical.account')") is not None  # left as it was
    with psycopg.connect(db, autocommit=True) as conn:
        assert schema.init(conn) == [v for v, _ in every if v >= "0020"]
    for table in ACCOUNT_TABLES:
        assert scalar(db, "SELECT to_regclass(%s)", [f"historical.{table}"]) is None, table
        owner = scalar(db, "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = %s::regclass",
                       [f"keeper.{table}"])  # fmt: skip
        assert owner == "deleton_keeper", table
    # the dashboard's session signed in before the move holds; the link not used works, once
    assert scalar(reader, "SELECT keeper.session_role(%s)", [session]) == "admin"
    again = b"\x09" * 32
    assert rows(reader, "SELECT * FROM keeper.consume_login_link(%s, %s, 3600)",
                [unused, again]) == [("old-admin", "admin")]  # fmt: skip
    assert rows(reader, "SELECT * FROM keeper.consume_login_link(%s, %s, 3600)",
                [used, b"\x0a" * 32]) == []  # fmt: skip
    assert scalar(reader, "SELECT keeper.screen_generation('bike', 'SN0001')") == 1
    assert [r[:3] for r in rows(operator, "SELECT * FROM keeper.accounts()")] == [
        ("old-admin", "admin", False)
    ]
    # and the writer reaches none of it any more
    assert refused(writer, "INSERT INTO keeper.account (name, role) VALUES ('mallory', 'admin')")
    assert refused(writer, "SELECT keeper.add_account('mallory', 'admin', NULL)")
    assert refused(writer, "DROP TABLE keeper.account")


def test_an_administrator_who_is_no_superuser_makes_the_database_as_rds_master_would(
    tmp_path: Path,
) -> None:
    """RDS's master user is no superuser: it may create roles and owns the database, and since
    PostgreSQL 16 a role it creates is granted to it with ADMIN alone (neither SET nor
    INHERIT), so it may not hand that role what it owns, and a role handed a table must have
    CREATE on its schema. Every other test migrates as a superuser, which none of that binds;
    before this test, `deleton db init` on RDS 17 stopped at 0006. On a server of its own
    (roles belong to the whole server, and the session's already has ours), such an
    administrator applies every migration and makes the four logins; the writer's login
    ingests, the operator's makes a key."""
    with embedded("rds") as server:
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute("CREATE ROLE master LOGIN CREATEROLE CREATEDB NOSUPERUSER")
            conn.execute("CREATE DATABASE on_rds OWNER master")
        admin = make_conninfo(server.url, user="master", dbname="on_rds")
        assert scalar(admin, "SELECT NOT rolsuper FROM pg_roles WHERE rolname = current_user")
        env = env_for(admin, **{f"db_{group}_password": pw for group, pw in PASSWORDS.items()})
        result = run_deleton("db", "init", env=env)
        assert result.returncode == 0, result.stderr[-2000:]
        done = {row[0] for row in rows(admin, "SELECT version FROM public.deleton_migration")}
        assert done == {version for version, _ in schema.migrations()}
        urls = {group: make_conninfo(admin, user=login) for group, login in schema.LOGINS.items()}
        dump = tmp_path / "fleet.jsonl"
        dump_fleet(dump, bikes=2, seconds=120, seed=52)
        ingest_file(urls["writer"], dump)
        assert scalar(admin, "SELECT count(*) FROM daily.reading") > 0
        env = env_for(urls["writer"], operator_database_url=urls["operator"])
        result = run_deleton("api-key", "create", "rds-key", "--scope", "read", env=env)
        assert result.returncode == 0, result.stderr[-2000:]
        # the administrator keeps no privilege it was lent to hand things over
        assert not scalar(
            admin, "SELECT has_schema_privilege('deleton_keeper', 'historical', 'CREATE')"
        )


# psycopg sends an int as int4 and pg_catalog has pg_advisory_xact_lock(bigint) alone, so this,
# planted in public, matched the migrations' lock more exactly than pg_catalog's, for a caller
# whose search_path holds public: the administrator's (fifth review, Medium).
PLANTED_LOCK = """
CREATE FUNCTION public.pg_advisory_xact_lock(integer) RETURNS void
LANGUAGE plpgsql AS $f$
BEGIN
    EXECUTE 'CREATE TABLE IF NOT EXISTS public.planted_ran (who text)';
    EXECUTE 'INSERT INTO public.planted_ran VALUES (current_user)';
    PERFORM pg_catalog.pg_advisory_xact_lock($1::bigint);
END $f$;
"""


def _at_0015_made_by_14(db: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The database as release 0015 left it on PostgreSQL 14 (PUBLIC may CREATE in public),
    with the services' logins; their URLs and the administrator's."""
    execute(db, "DROP SCHEMA IF EXISTS daily CASCADE; DROP SCHEMA IF EXISTS historical CASCADE;"
                " DROP SCHEMA IF EXISTS keeper CASCADE;"
                " DROP TABLE IF EXISTS public.deleton_migration")  # fmt: skip
    every = schema.migrations()
    monkeypatch.setattr(schema, "migrations", lambda: [m for m in every if m[0] < "0016"])
    with psycopg.connect(db, autocommit=True) as conn:
        schema.init(conn)
        schema.ensure_logins(conn, {g: pw for g, pw in PASSWORDS.items() if g != "operator"})
    monkeypatch.setattr(schema, "migrations", lambda: every)
    execute(db, "GRANT CREATE ON SCHEMA public TO PUBLIC")
    return {group: make_conninfo(db, user=login) for group, login in schema.LOGINS.items()}


def test_what_a_login_planted_in_public_before_0018_never_runs_as_the_administrator(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """0018 stops new plants but leaves old ones. The reader's login planted a function in
    public while PostgreSQL 14 let it; the upgrade (`deleton db init`) refuses, naming it, and
    runs nothing of it; the migrations themselves, run by any login, resolve no name in
    public. Dropped, db init goes on."""
    urls = _at_0015_made_by_14(db, monkeypatch)
    execute(urls["reader"], PLANTED_LOCK)
    env = env_for(db, **{f"db_{group}_password": pw for group, pw in PASSWORDS.items()})
    result = run_deleton("db", "init", env=env)
    assert result.returncode != 0
    assert b"public.pg_advisory_xact_lock(integer) (owner deleton_reader_login)" in result.stderr
    with psycopg.connect(db, autocommit=True) as conn:
        assert schema.init(conn) == [v for v, _ in schema.migrations() if v >= "0018"]
        assert schema.init(conn) == []
    assert scalar(db, "SELECT to_regclass('public.planted_ran')") is None  # never ran
    execute(db, "DROP FUNCTION public.pg_advisory_xact_lock(integer)")
    assert run_deleton("db", "init", env=env).returncode == 0


def test_db_init_keeps_public_closed_whatever_the_writer_marked_applied(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer's login may insert into public.deleton_migration (it migrates as it starts):
    on PostgreSQL 14 at release 0015 it marks 0018 applied before the upgrade, so that
    PUBLIC would keep CREATE on public. `deleton db init` revokes it on every run, whatever
    the table says (fifth review, Low)."""
    urls = _at_0015_made_by_14(db, monkeypatch)
    execute(urls["writer"], "INSERT INTO public.deleton_migration VALUES ('0018_public_schema')")
    env = env_for(db, **{f"db_{group}_password": pw for group, pw in PASSWORDS.items()})
    result = run_deleton("db", "init", env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert not scalar(db, "SELECT has_schema_privilege('public', 'public', 'CREATE')")
    assert refused(urls["reader"], "CREATE TABLE public.shadow (x int)")


def test_the_api_records_requests_and_cannot_pass_one_off_as_an_operators_act(
    operator: str, logins: dict[str, str]
) -> None:
    """keeper.record_audit is the API's and its row is the caller's to choose: it could write
    one the same as the operator's own (fifth review, Low). A request's path begins with "/",
    an operator's command never does, and record_audit refuses any other."""
    with psycopg.connect(operator, autocommit=True) as conn:
        conn.execute("SELECT keeper.create_api_key('real', %s, ARRAY['read'])", [b"x" * 32])
        conn.execute("SELECT keeper.revoke_api_key('real')")
    forge = (
        "SELECT keeper.record_audit('backdoor', 'REVOKE', 'api-key', 1, 'deleton_operator_login')"
    )
    with psycopg.connect(logins["api"], autocommit=True) as conn:
        with pytest.raises(psycopg.errors.CheckViolation, match="begins with"):
            conn.execute(forge)
        conn.execute("SELECT keeper.record_audit('k', 'GET', '/ride/1', 200, '203.0.113.9')")
    audit = rows(logins["admin"], "SELECT key_name, method, path FROM keeper.audit ORDER BY 1, 2")
    assert audit == [
        ("k", "GET", "/ride/1"),
        ("real", "CREATE", "api-key"),
        ("real", "REVOKE", "api-key"),
    ]


def _released(db: str, release: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The database as ``release`` (its last migration) left it, with the logins there were
    then; their URLs. Later migrations are shipped again for the upgrade."""
    execute(db, "DROP SCHEMA IF EXISTS daily CASCADE; DROP SCHEMA IF EXISTS historical CASCADE;"
                " DROP SCHEMA IF EXISTS keeper CASCADE;"
                " DROP TABLE IF EXISTS public.deleton_migration")  # fmt: skip
    every = schema.migrations()
    monkeypatch.setattr(schema, "migrations", lambda: [m for m in every if m[0] <= release])
    with psycopg.connect(db, autocommit=True) as conn:
        schema.init(conn)
        groups = {g: pw for g, pw in PASSWORDS.items() if g != "operator" or release >= "0019"}
        schema.ensure_logins(conn, groups)
    monkeypatch.setattr(schema, "migrations", lambda: every)
    return {group: make_conninfo(db, user=login) for group, login in schema.LOGINS.items()}


WRITERS_FUNCTION = """
CREATE FUNCTION historical.planted(v text) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
    RETURN true;  -- as the keeper, once the table is the keeper's: it could make a key
END $f$;
CREATE FUNCTION historical.planted() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    RETURN NEW;
END $f$;
"""

# What the writer's login could hang on a table of its own before 0012 (keys, audit) or 0020
# (accounts, sessions) handed it to the keeper; the administrator's statement that undoes it.
HUNG = {
    "trigger": (
        "0019_operator",
        "CREATE TRIGGER planted BEFORE INSERT ON historical.account"
        " FOR EACH ROW EXECUTE FUNCTION historical.planted()",
        "DROP TRIGGER planted ON historical.account",
        "trigger planted on keeper.account",
    ),
    "trigger on the audit": (
        "0011_ride_figures",
        "CREATE TRIGGER planted BEFORE INSERT ON historical.audit"
        " FOR EACH ROW EXECUTE FUNCTION historical.planted()",
        "DROP TRIGGER planted ON historical.audit",
        "trigger planted on keeper.audit",
    ),
    "grant": (
        "0019_operator",
        "GRANT ALL ON historical.sign_in_secret TO PUBLIC",
        "REVOKE ALL ON historical.sign_in_secret FROM PUBLIC",
        "a grant of keeper.sign_in_secret to PUBLIC",
    ),
    "domain": (
        "0019_operator",
        "CREATE DOMAIN historical.role AS text CHECK (historical.planted(VALUE));"
        " ALTER TABLE historical.account ALTER COLUMN role TYPE historical.role",
        "ALTER TABLE historical.account ALTER COLUMN role TYPE text",
        "needs type historical.role",
    ),
    "operator": (
        "0019_operator",
        "CREATE FUNCTION historical.same(a text, b text) RETURNS boolean LANGUAGE sql"
        " AS 'SELECT true'; CREATE OPERATOR historical.=== (LEFTARG = text, RIGHTARG = text,"
        " FUNCTION = historical.same); ALTER TABLE historical.account ADD CONSTRAINT planted"
        " CHECK (role OPERATOR(historical.===) role)",
        "ALTER TABLE historical.account DROP CONSTRAINT planted",
        "needs operator historical.===",
    ),
    "parent": (
        "0019_operator",
        "CREATE TABLE historical.people (name text, role text);"
        " ALTER TABLE historical.account INHERIT historical.people",
        "ALTER TABLE historical.account NO INHERIT historical.people",
        "needs table historical.people",
    ),
    "child": (
        "0011_ride_figures",
        "CREATE TABLE historical.more_keys () INHERITS (historical.api_key)",
        "DROP TABLE historical.more_keys",
        "table historical.more_keys needs table keeper.api_key",
    ),
    "foreign key to the writer": (
        "0019_operator",
        "CREATE TABLE historical.roles (role text PRIMARY KEY);"
        " INSERT INTO historical.roles VALUES ('staff'), ('admin');"
        " ALTER TABLE historical.account ADD CONSTRAINT planted FOREIGN KEY (role)"
        " REFERENCES historical.roles ON DELETE SET DEFAULT",
        "ALTER TABLE historical.account DROP CONSTRAINT planted",
        "needs column role of table historical.roles",
    ),
    "foreign key to the keeper": (
        "0019_operator",
        "CREATE TABLE historical.probe (name text REFERENCES historical.account (name))",
        "DROP TABLE historical.probe",
        "constraint probe_name_fkey on table historical.probe needs",
    ),
    "sequence": (
        "0011_ride_figures",
        "CREATE SEQUENCE historical.ids; ALTER TABLE historical.audit"
        " ALTER COLUMN audit_id SET DEFAULT nextval('historical.ids')",
        "ALTER TABLE historical.audit ALTER COLUMN audit_id"
        " SET DEFAULT nextval('historical.audit_audit_id_seq')",
        "needs sequence historical.ids",
    ),
    "row security": (
        "0019_operator",
        "ALTER TABLE historical.account FORCE ROW LEVEL SECURITY",
        "ALTER TABLE historical.account NO FORCE ROW LEVEL SECURITY",
        "row security on keeper.account",
    ),
}


# A review's attack (the ninth): code of the writer's that a migration runs, here a row
# security policy on daily.ride read by 0023's fill, leaves the writer's role for the
# session's own: the administrator's, when db init runs as one.
ESCAPE = """
CREATE FUNCTION daily.ride_visible(bigint) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
    IF session_user <> current_user THEN
        RESET ROLE;
        SET LOCAL ROLE deleton_keeper;
        INSERT INTO keeper.api_key (name, key_sha256, scopes)
        VALUES ('backdoor', sha256('k'::bytea), ARRAY['read', 'personal', 'erase']);
        RESET ROLE;
        GRANT deleton_keeper TO deleton_writer_login;
    END IF;
    RETURN true;
END $f$;
ALTER TABLE daily.ride ENABLE ROW LEVEL SECURITY;
ALTER TABLE daily.ride FORCE ROW LEVEL SECURITY;
CREATE POLICY everyone ON daily.ride USING (daily.ride_visible(ride_id));
INSERT INTO daily.ride (bike_serial, started_at) VALUES ('SN0001', now());
"""


def test_what_the_writer_planted_for_a_migration_to_run_never_acts_as_the_administrator(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migrations the writer may apply ran under SET ROLE deleton_writer, which anything of
    the writer's they ran could undo with RESET ROLE (ninth review, High: a key of every
    scope minted, the writer's login made a keeper). They run inside a definer function of
    the writer's now, where PostgreSQL refuses any change of role: the upgrade stops, names
    the cause and keeps none of its migrations; nothing was minted or granted."""
    urls = _released(db, "0022_ride_figures_sums_apart", monkeypatch)
    execute(urls["writer"], ESCAPE)
    with psycopg.connect(db, autocommit=True) as conn:
        with pytest.raises(TerminalError, match="tried to change its role"):
            schema.init(conn)
        versions = [v for (v,) in conn.execute("SELECT version FROM public.deleton_migration")]
        assert max(versions) == "0022_ride_figures_sums_apart"
        assert scalar(db, "SELECT count(*) FROM keeper.api_key WHERE name = 'backdoor'") == 0
        assert not scalar(db, "SELECT pg_has_role('deleton_writer_login', 'deleton_keeper',"
                              " 'MEMBER')")  # fmt: skip
        conn.execute("DROP POLICY everyone ON daily.ride;"
                     " ALTER TABLE daily.ride DISABLE ROW LEVEL SECURITY")  # fmt: skip
        assert schema.init(conn)[-1] == schema.migrations()[-1][0]


@pytest.mark.parametrize("kind", list(HUNG))
def test_what_the_writer_hung_on_its_tables_before_the_keeper_took_them_stops_the_upgrade(
    db: str, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """Before 0012 (keys, audit) and 0020 (accounts, sessions) the writer owned those tables;
    what it hung on them moved with them and would act as the keeper, or let a login reach
    them (sixth and seventh reviews, Medium). Every migration run ends by checking the
    keeper's schema for anything of another role's but pg_catalog's, either way round: the
    upgrade refuses, naming it, and keeps none of its migrations; once undone, it goes on."""
    release, plant, undo, named = HUNG[kind]
    urls = _released(db, release, monkeypatch)
    execute(urls["writer"], WRITERS_FUNCTION + plant)
    with psycopg.connect(db, autocommit=True) as conn:
        with pytest.raises(TerminalError, match=re.escape(named)):
            schema.init(conn)
        assert (
            max(v for (v,) in conn.execute("SELECT version FROM public.deleton_migration"))
            == release
        )
        conn.execute(undo)
        assert schema.init(conn)[-1] == schema.migrations()[-1][0]


def test_a_migration_the_writer_marked_applied_is_applied_by_db_init(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer's login records the migrations it applies as it starts, so it may insert a
    version: at release 0020 it wrote 0021's (the audit's fix), and the upgrade would have
    skipped it (sixth review, Low). Each row says who wrote it, which the writer cannot
    choose; db init applies a migration that needs the administrator whose row a service
    login wrote."""
    urls = _released(db, "0020_keeper_accounts", monkeypatch)
    env = env_for(db, **{f"db_{group}_password": pw for group, pw in PASSWORDS.items()})
    assert run_deleton("db", "init", env=env).returncode == 0  # 0021 and later applied
    # 0021's row alone: the later migrations stay applied (0023 makes a table, and a
    # migration no service login can have forged is not written to run twice)
    execute(db, "DELETE FROM public.deleton_migration WHERE version = '0021_audit_requests'")
    execute(urls["writer"], "INSERT INTO public.deleton_migration VALUES ('0021_audit_requests')")
    assert refused(
        urls["writer"],
        "INSERT INTO public.deleton_migration (version, applied_by) VALUES ('0022_x', 'postgres')",
    )
    result = run_deleton("db", "init", env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (
        b"migration 0021_audit_requests is recorded but was not applied by an administrator"
        in result.stderr
    )
    forge = "SELECT keeper.record_audit('x', 'REVOKE', 'api-key', 1, 'deleton_operator_login')"
    with pytest.raises(psycopg.errors.CheckViolation):
        execute(urls["api"], forge)
    assert scalar(db, "SELECT applied_by FROM public.deleton_migration"
                      " WHERE version = '0021_audit_requests'") == "postgres"  # fmt: skip


@pytest.mark.parametrize(
    ("plant", "named"),
    [
        ("CREATE TYPE public.planted_row AS (a integer)", "relation public.planted_row"),
        ('CREATE COLLATION public.planted_coll FROM "C"', "collation planted_coll"),
        ("CREATE TEXT SEARCH CONFIGURATION public.planted_ts (COPY = pg_catalog.english)",
         "text search configuration planted_ts"),
        ("CREATE TEXT SEARCH DICTIONARY public.planted_dict (TEMPLATE = pg_catalog.simple)",
         "text search dictionary planted_dict"),
    ],
)  # fmt: skip
def test_db_init_names_every_kind_of_object_a_login_planted_in_public(
    db: str, monkeypatch: pytest.MonkeyPatch, plant: str, named: str
) -> None:
    """Beside functions, operators and tables, what else a login may make in a schema it may
    create in (sixth review, Low)."""
    urls = _released(db, "0015_erasure_lows", monkeypatch)
    execute(db, "GRANT CREATE ON SCHEMA public TO PUBLIC")
    execute(urls["reader"], plant)
    try:
        with (
            psycopg.connect(db, autocommit=True) as conn,
            pytest.raises(TerminalError, match=f"{named} \\(owner deleton_reader_login\\)"),
        ):
            schema.harden(conn)
    finally:  # public outlives the schemas the next test's database is reset to
        execute(
            db, "DROP OWNED BY deleton_reader_login; REVOKE CREATE ON SCHEMA public FROM PUBLIC"
        )


def test_a_migration_the_writer_marked_applied_before_rows_said_who_is_applied_by_db_init(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At release 0020 the record had no ``applied_by`` and the writer held INSERT on it
    whole: it wrote 0021's row, which 0021 never ran for. Upgraded, the row names nobody,
    and db init applies 0021 because what 0021 does is not there (seventh review, Low)."""
    urls = _released(db, "0020_keeper_accounts", monkeypatch)
    execute(db, "ALTER TABLE public.deleton_migration DROP COLUMN applied_by;"
                " GRANT INSERT ON public.deleton_migration TO deleton_writer")  # fmt: skip
    execute(urls["writer"], "INSERT INTO public.deleton_migration VALUES ('0021_audit_requests')")
    env = env_for(db, **{f"db_{group}_password": pw for group, pw in PASSWORDS.items()})
    result = run_deleton("db", "init", env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert b"0021_audit_requests is recorded but was not applied" in result.stderr
    forge = "SELECT keeper.record_audit('x', 'REVOKE', 'api-key', 1, 'deleton_operator_login')"
    with pytest.raises(psycopg.errors.CheckViolation):
        execute(urls["api"], forge)
    assert refused(urls["writer"], "UPDATE public.deleton_migration SET version = version")


def test_a_sessions_temporary_object_naming_a_keeper_type_does_not_block_db_init(
    logins: dict[str, str],
) -> None:
    """The API's login may name a keeper row type in a temporary function of its session;
    that acts as nobody but it and goes with the session, so it does not stop migrations
    (eighth review, Low)."""
    with psycopg.connect(logins["api"], autocommit=True) as held:
        held.execute(
            "CREATE FUNCTION pg_temp.pin(keeper.api_key) RETURNS int LANGUAGE sql AS 'SELECT 1'"
        )
        with psycopg.connect(logins["admin"], autocommit=True) as conn:
            assert schema.init(conn) == []
