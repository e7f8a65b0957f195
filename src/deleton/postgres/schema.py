"""Versioned migrations of the ``daily`` and ``historical`` schemas.

Each ``migrations/NNNN_name.sql`` runs once, in order, in its own transaction, recorded in
``public.deleton_migration``. An advisory lock keeps two processes from migrating at once.
"""

from __future__ import annotations

import logging
from importlib import resources
from typing import Any

import psycopg
from psycopg import sql

from ..errors import TerminalError
from .locks import MIGRATIONS, hold_for_transaction

log = logging.getLogger(__name__)

ROLES = "0006_roles"  # the migration that creates the services' roles
_ACTS_AS_WRITER = (
    "SELECT to_regrole('deleton_writer') IS NOT NULL"
    " AND pg_has_role(current_user, 'deleton_writer', 'MEMBER')"
)
TABLES = (
    "daily.rider",
    "daily.ride",
    "daily.reading",
    "daily.alert",
    "daily.dead_letter",
    "daily.source_position",
    "historical.rider",
    "historical.ride",
)


def migrations() -> list[tuple[str, str]]:
    """(version, SQL) of every migration shipped with the package, in order."""
    folder = resources.files(__package__ or "deleton.postgres") / "migrations"
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return [(f.name.removesuffix(".sql"), f.read_text()) for f in files]


# Whoever migrates resolves no name in public. PostgreSQL 14 let every role create there, and
# 0018's REVOKE leaves what was made before it: a function planted in public that matches one
# of our calls more exactly than pg_catalog's (an int4 argument to pg_advisory_xact_lock,
# which pg_catalog has for bigint) would run as the administrator at every db init.
_PINNED_PATH = "SET LOCAL search_path = pg_catalog, pg_temp"

# Objects in public that neither a superuser, the database's owner nor whoever runs db init
# made: a service login's, planted while PostgreSQL 14 let it (fifth review, Medium).
_PLANTED = """
SELECT format('%s %s (owner %s)', kind, name, pg_get_userbyid(owner)) FROM (
    SELECT 'function' AS kind, p.oid::regprocedure::text AS name, p.proowner AS owner
    FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
    UNION ALL
    SELECT 'operator', o.oid::regoperator::text, o.oprowner
    FROM pg_operator o WHERE o.oprnamespace = 'public'::regnamespace
    UNION ALL
    SELECT 'type', t.oid::regtype::text, t.typowner
    FROM pg_type t WHERE t.typnamespace = 'public'::regnamespace AND t.typrelid = 0
        AND t.typelem = 0
    UNION ALL
    SELECT 'relation', c.oid::regclass::text, c.relowner
    FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace
        AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S', 'c')
    UNION ALL
    SELECT 'conversion', v.conname::text, v.conowner
    FROM pg_conversion v WHERE v.connamespace = 'public'::regnamespace
    UNION ALL
    SELECT 'collation', l.collname::text, l.collowner
    FROM pg_collation l WHERE l.collnamespace = 'public'::regnamespace
    UNION ALL
    SELECT 'text search configuration', f.cfgname::text, f.cfgowner
    FROM pg_ts_config f WHERE f.cfgnamespace = 'public'::regnamespace
    UNION ALL
    SELECT 'text search dictionary', d.dictname::text, d.dictowner
    FROM pg_ts_dict d WHERE d.dictnamespace = 'public'::regnamespace
) planted
WHERE owner <> (SELECT oid FROM pg_roles WHERE rolname = current_user)
  AND owner <> (SELECT datdba FROM pg_database WHERE datname = current_database())
  AND NOT (SELECT rolsuper FROM pg_roles WHERE oid = owner)
ORDER BY 1
"""


def harden(conn: psycopg.Connection[Any]) -> None:
    """What ``db init`` asserts as the administrator on every run, whatever the migrations
    table says (the writer's login may insert into it, so it could mark 0018 applied): no
    object in public that another login made, and CREATE on public revoked from PUBLIC.
    Raises ``TerminalError`` naming what is wrong; changes nothing else."""
    with conn.transaction():
        conn.execute(_PINNED_PATH)
        planted = [row[0] for row in conn.execute(_PLANTED)]
        if planted:
            raise TerminalError(
                "schema public holds objects no administrator made, which a login could have"
                f" planted while PostgreSQL 14 let every role create there: {'; '.join(planted)}."
                " Check and drop them, then run `deleton db init` again"
            )
        # only public's owner (or a member) can; anyone else gets a warning, caught below
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        if _scalar(conn, "SELECT has_schema_privilege('public', 'public', 'CREATE')"):
            raise TerminalError(
                "every role may still create in schema public (its owner is neither a"
                " superuser nor this login): run `REVOKE CREATE ON SCHEMA public FROM PUBLIC`"
                " as its owner, then `deleton db init` again"
            )


# What may hang on the keeper's tables, which no login may reach but through its functions:
# nothing but the keeper's own. The writer owned some of them before 0012 and 0020 handed them
# over, and a trigger, a rule, a policy, a default or an index calling its function, or a grant
# it made, would move with them and act as the keeper (sixth review, Medium). The keeper's
# functions are granted to service roles alone (the writer's key grants went with 0019); a
# grant to PUBLIC or to a login is none of ours.
_KEEPER_TAMPERING = """
WITH keeper AS (SELECT oid FROM pg_roles WHERE rolname = 'deleton_keeper'),
kept AS (SELECT oid FROM pg_class WHERE relnamespace = 'keeper'::regnamespace),
-- the relation each part of a table belongs to, so that a trigger, a default, a rule, a
-- policy or a constraint counts as its table's
part (cls, oid, rel) AS (
    SELECT 'pg_class'::regclass, oid, oid FROM pg_class
    UNION ALL SELECT 'pg_trigger'::regclass, oid, tgrelid FROM pg_trigger
    UNION ALL SELECT 'pg_attrdef'::regclass, oid, adrelid FROM pg_attrdef
    UNION ALL SELECT 'pg_rewrite'::regclass, oid, ev_class FROM pg_rewrite
    UNION ALL SELECT 'pg_policy'::regclass, oid, polrelid FROM pg_policy
    UNION ALL SELECT 'pg_constraint'::regclass, oid, conrelid FROM pg_constraint
    WHERE conrelid <> 0
),
dep AS (
    SELECT d.classid, d.objid, d.objsubid, d.refclassid, d.refobjid, d.refobjsubid,
           coalesce((SELECT n.nspname FROM part JOIN pg_class c ON c.oid = part.rel
                     JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE part.cls = d.classid AND part.oid = d.objid),
                    (pg_identify_object(d.classid, d.objid, 0)).schema) AS schema,
           coalesce((SELECT n.nspname FROM part JOIN pg_class c ON c.oid = part.rel
                     JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE part.cls = d.refclassid AND part.oid = d.refobjid),
                    (pg_identify_object(d.refclassid, d.refobjid, 0)).schema) AS refschema
    FROM pg_depend d WHERE d.deptype IN ('n', 'a', 'i')
)
-- anything of a keeper table that needs an object of another schema than pg_catalog (another
-- role's function, operator, type or domain, sequence, parent table, referenced table), and
-- anything of another schema that hangs on a keeper object (a child table, a foreign key)
SELECT format('%s needs %s', pg_describe_object(classid, objid, objsubid),
              pg_describe_object(refclassid, refobjid, refobjsubid))
FROM dep
WHERE (schema = 'keeper' AND coalesce(refschema, 'pg_catalog') NOT IN ('keeper', 'pg_catalog'))
   OR (refschema = 'keeper' AND coalesce(schema, '') NOT IN ('keeper', 'pg_toast')
       -- a session's own temporary objects go with it and act as nobody but their maker: a
       -- login with USAGE on keeper naming a keeper row type there must not block db init
       AND coalesce(schema, '') NOT LIKE 'pg\\_temp\\_%'
       AND coalesce(schema, '') NOT LIKE 'pg\\_toast\\_temp\\_%')
UNION ALL
SELECT format('trigger %I on %s', t.tgname, t.tgrelid::regclass)
FROM pg_trigger t JOIN kept ON kept.oid = t.tgrelid WHERE NOT t.tgisinternal
UNION ALL
SELECT format('policy %I on %s', p.polname, p.polrelid::regclass)
FROM pg_policy p JOIN kept ON kept.oid = p.polrelid
UNION ALL
SELECT format('rule %I on %s', r.rulename, r.ev_class::regclass)
FROM pg_rewrite r JOIN kept ON kept.oid = r.ev_class
UNION ALL
SELECT format('row security on %s', c.oid::regclass)
FROM kept JOIN pg_class c ON c.oid = kept.oid WHERE c.relrowsecurity OR c.relforcerowsecurity
UNION ALL
SELECT format('%s owned by %s', c.oid::regclass, pg_get_userbyid(c.relowner))
FROM kept JOIN pg_class c ON c.oid = kept.oid WHERE c.relowner <> (SELECT oid FROM keeper)
UNION ALL
SELECT format('a grant of %s to %s', c.oid::regclass,
              CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END)
FROM kept JOIN pg_class c ON c.oid = kept.oid, aclexplode(c.relacl) a
WHERE a.grantee <> c.relowner
UNION ALL
SELECT format('a grant of %s.%I to %s', c.oid::regclass, at.attname,
              CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END)
FROM kept JOIN pg_class c ON c.oid = kept.oid
JOIN pg_attribute at ON at.attrelid = c.oid, aclexplode(at.attacl) a
UNION ALL
SELECT format('%s owned by %s', f.oid::regprocedure, pg_get_userbyid(f.proowner))
FROM pg_proc f WHERE f.pronamespace = 'keeper'::regnamespace
  AND f.proowner <> (SELECT oid FROM keeper)
UNION ALL
SELECT format('a grant of %s to %s', f.oid::regprocedure,
              CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END)
FROM pg_proc f, aclexplode(f.proacl) a
WHERE f.pronamespace = 'keeper'::regnamespace AND a.grantee <> f.proowner
  AND a.grantee NOT IN (SELECT oid FROM pg_roles
                        WHERE rolname IN ('deleton_writer', 'deleton_reader', 'deleton_api',
                                          'deleton_operator'))
ORDER BY 1
"""


def needs_administrator(sql_text: str) -> bool:
    """Whether a migration acts as the administrator: each that does (0008, 0012, 0014,
    0018-0021) leaves the writer's role for that part with ``RESET ROLE``, and a service
    login running it is refused."""
    return "\nRESET ROLE;" in sql_text


# What shows that a migration needing the administrator took effect: its row alone does not
# (the writer's login held INSERT on the whole table before ``applied_by``, and could write a
# version it never applied). 0008 and 0018 need none: 0008's grants are asserted by
# test_roles' lists, and ``harden`` re-asserts 0018 at every db init.
_TOOK_EFFECT = {
    "0012_erasure_and_audit": "SELECT to_regrole('deleton_keeper') IS NOT NULL",
    "0014_keeper_schema": "SELECT to_regnamespace('keeper') IS NOT NULL",
    "0019_operator": "SELECT to_regrole('deleton_operator') IS NOT NULL",
    "0020_keeper_accounts": "SELECT to_regclass('keeper.account') IS NOT NULL",
    "0021_audit_requests": (
        "SELECT coalesce(bool_or(position('left(p_path, 1)' IN prosrc) > 0), false) FROM pg_proc"
        " WHERE oid = to_regprocedure('keeper.record_audit(text,text,text,integer,text)')"
    ),
}
# How long db init waits for the migrations' record before it says who holds it: a service
# login may read the table, and one left idle in a transaction would hold it for ever.
_RECORD_WAIT = "SET LOCAL lock_timeout = '10s'"


def guard_migrations(conn: psycopg.Connection[Any]) -> list[str]:
    """What ``db init`` does as the administrator about the migrations' record, before and
    after migrating. Each row records the login that wrote it (``applied_by``, which the
    writer's login, allowed to insert a version and nothing else, cannot choose). A row of a
    migration that needs the administrator is removed, so that this run applies it, when a
    service login wrote it (it cannot have applied it) or when what the migration does is
    not there (``_TOOK_EFFECT``: rows from before ``applied_by`` name nobody) (sixth and
    seventh reviews, Low: the writer marked 0021 applied so the upgrade skipped it). Returns
    the versions removed. Changes nothing that is already as it should be, so a reader of the
    table holds it off for no longer than ``_RECORD_WAIT``."""
    try:
        with conn.transaction():
            conn.execute(_PINNED_PATH)
            conn.execute(_RECORD_WAIT)
            if _scalar(conn, "SELECT to_regclass('public.deleton_migration')") is None:
                return []
            present = _scalar(
                conn,
                "SELECT atthasdef FROM pg_attribute WHERE attname = 'applied_by'"
                " AND attrelid = 'public.deleton_migration'::regclass AND NOT attisdropped",
            )
            if present is None:  # no default for the rows there: it would stamp them as ours
                conn.execute("ALTER TABLE public.deleton_migration ADD COLUMN applied_by name")
            if not present:
                conn.execute(
                    "ALTER TABLE public.deleton_migration"
                    " ALTER COLUMN applied_by SET DEFAULT session_user"
                )
            whole = (
                "SELECT has_table_privilege('deleton_writer', 'public.deleton_migration',"
                " 'INSERT, UPDATE, DELETE')"
            )
            if _scalar(conn, "SELECT to_regrole('deleton_writer') IS NOT NULL") and _scalar(
                conn, whole
            ):
                conn.execute(
                    "REVOKE INSERT, UPDATE, DELETE ON public.deleton_migration FROM deleton_writer"
                )
                conn.execute("GRANT INSERT (version) ON public.deleton_migration TO deleton_writer")
            rows = conn.execute(
                "SELECT version, applied_by = ANY(%s::name[]) FROM public.deleton_migration"
                " WHERE version = ANY(%s)",
                [
                    list(LOGINS.values()),
                    [version for version, text in migrations() if needs_administrator(text)],
                ],
            ).fetchall()
            forged = [
                version
                for version, by_service in rows
                if by_service
                or (version in _TOOK_EFFECT and not _scalar(conn, _TOOK_EFFECT[version]))
            ]
            conn.execute("DELETE FROM public.deleton_migration WHERE version = ANY(%s)", [forged])
    except psycopg.errors.LockNotAvailable:
        raise TerminalError(
            "waited 10 s for public.deleton_migration, which another session holds (a login"
            " idle in a transaction?): see pg_stat_activity, end it, and run db init again"
        ) from None
    for version in forged:
        log.warning("migration %s is recorded but was not applied by an administrator:"
                    " applying it now", version)  # fmt: skip
    return forged


# A migration the writer may apply runs inside a function the writer defines (SECURITY
# DEFINER, in this session's own pg_temp, where no other login reaches), not under SET ROLE.
# Whatever it runs of the writer's (a policy on a table it reads, a trigger, a function)
# could otherwise RESET ROLE and act as the session's login: the administrator, when db init
# runs as one (a review's attack: a policy on daily.ride, run by 0023's fill, minted a key of
# every scope and made the writer's login a keeper). Within a definer function PostgreSQL
# refuses every SET or RESET of the role, so the writer's code stays the writer's.
_AS_WRITER = """
CREATE FUNCTION pg_temp.deleton_apply_as_writer(p_sql text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE p_sql;
END $$
"""


def _apply_as_writer(conn: psycopg.Connection[Any], migration: str) -> None:
    """Run ``migration`` as ``deleton_writer`` (which owns what it makes), with no way back to
    the session's own role for anything it runs."""
    if _scalar(conn, "SELECT to_regprocedure('pg_temp.deleton_apply_as_writer(text)')") is None:
        conn.execute(_AS_WRITER)
        conn.execute("ALTER FUNCTION pg_temp.deleton_apply_as_writer(text) OWNER TO deleton_writer")
    try:
        conn.execute("SELECT pg_temp.deleton_apply_as_writer(%s)", [migration])
    except psycopg.errors.InsufficientPrivilege as e:
        if "within security-definer function" not in str(e):
            raise
        raise TerminalError(
            "a migration ran code of the writer's that tried to change its role (a row security"
            " policy, rule, trigger or function in daily or historical that no migration made?):"
            " the writer's login may have been used to plant it. Find it (pg_policy, pg_trigger,"
            " pg_rewrite, the schemas' functions), drop it, then run `deleton db init` again"
        ) from None


def init(conn: psycopg.Connection[Any]) -> list[str]:
    """Apply the migrations not yet applied; return their versions. Idempotent.

    The migrations up to ``ROLES`` need the server's administrator (they create schemas and
    roles); later ones run as ``deleton_writer``, which owns what they change, so the writer's
    own login can apply them as it starts."""
    applied: list[str] = []
    with conn.transaction():
        conn.execute(_PINNED_PATH)
        hold_for_transaction(conn, MIGRATIONS)
        # checked first: CREATE ... IF NOT EXISTS still asks for CREATE on public, which the
        # writer's login has no need of
        if _scalar(conn, "SELECT to_regclass('public.deleton_migration')") is None:
            conn.execute(
                "CREATE TABLE public.deleton_migration ("
                " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now(),"
                " applied_by name DEFAULT session_user)"  # guard_migrations
            )
        done = {row[0] for row in conn.execute("SELECT version FROM public.deleton_migration")}
        for version, sql in migrations():
            if version in done:
                continue
            log.info("applying migration %s", version)
            if version > ROLES and _scalar(conn, _ACTS_AS_WRITER):
                if needs_administrator(sql):
                    conn.execute("SET LOCAL ROLE deleton_writer")  # its RESET ROLE leaves it
                    conn.execute(sql.encode())
                else:
                    _apply_as_writer(conn, sql)
            else:
                conn.execute(sql.encode())
            conn.execute("INSERT INTO public.deleton_migration (version) VALUES (%s)", [version])
            applied.append(version)
        if _scalar(conn, "SELECT to_regnamespace('keeper')") is not None:
            tampered = [row[0] for row in conn.execute(_KEEPER_TAMPERING)]
            if tampered:  # raised inside the transaction: none of this run's migrations stays
                raise TerminalError(
                    "the keeper's tables carry what only the keeper may put there:"
                    f" {'; '.join(tampered)}. A login that owned them before they were handed"
                    " over may have left it: check, drop or revoke it, then run `deleton db"
                    " init` again"
                )
    return applied


# the three services' and the operator's (migration 0019: the CLI's keys, not a service's)
LOGINS = {"writer": "deleton_writer_login", "reader": "deleton_reader_login",
          "api": "deleton_api_login", "operator": "deleton_operator_login"}  # fmt: skip
# Every service login's, as migration 0018 sets it on the logins there were: an unqualified
# name never resolves in public, where PostgreSQL 14 let every login create (our SQL names
# each table and function with its schema).
LOGIN_SEARCH_PATH = sql.SQL("pg_catalog, pg_temp")


def ensure_logins(conn: psycopg.Connection[Any], passwords: dict[str, str]) -> list[str]:
    """Each service's login (``LOGINS``), made or given its password anew, in its group role,
    with ``LOGIN_SEARCH_PATH``; returns their names. Only an administrator may.

    The password itself never reaches the server: libpq computes its salted SCRAM-SHA-256
    verifier here, and the statement carries that, so pg_stat_statements, Performance
    Insights and a logged failing statement keep no password."""
    made = []
    conn.execute("SET search_path = pg_catalog, pg_temp")  # as init's, for the same reason
    for group, password in passwords.items():
        login = LOGINS[group]
        exists = _scalar(conn, "SELECT to_regrole(%s) IS NOT NULL", [login])
        verb = "ALTER" if exists else "CREATE"
        verifier = conn.pgconn.encrypt_password(
            password.encode(), login.encode(), b"scram-sha-256"
        ).decode()
        # quoted by psycopg as a literal: a utility statement takes no bound parameters
        conn.execute(
            sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(
                sql.SQL(verb), sql.Identifier(login), sql.Literal(verifier)
            )
        )
        conn.execute(
            sql.SQL("ALTER ROLE {} SET search_path = {}").format(
                sql.Identifier(login), LOGIN_SEARCH_PATH
            )
        )
        conn.execute(
            sql.SQL("GRANT {} TO {}").format(
                sql.Identifier(f"deleton_{group}"), sql.Identifier(login)
            )
        )
        made.append(login)
    return made


def check(conn: psycopg.Connection[Any]) -> None:
    """For a login that may not migrate: fail unless every migration has been applied."""
    shipped = [version for version, _ in migrations()]
    try:
        done = {row[0] for row in conn.execute("SELECT version FROM public.deleton_migration")}
    except psycopg.Error:
        done = set()
    missing = [version for version in shipped if version not in done]
    if missing:
        raise TerminalError(
            f"the database lacks migrations {', '.join(missing)}: run `deleton db init` as its"
            " writer or administrator"
        )


def _scalar(conn: psycopg.Connection[Any], query: str, params: Any = None) -> Any:
    row = conn.execute(query, params).fetchone()
    return None if row is None else row[0]


def reset(conn: psycopg.Connection[Any]) -> list[str]:
    """Drop the schemas with everything in them, then migrate from scratch."""
    with conn.transaction():
        conn.execute(_PINNED_PATH)
        hold_for_transaction(conn, MIGRATIONS)
        conn.execute("DROP SCHEMA IF EXISTS daily CASCADE")
        conn.execute("DROP SCHEMA IF EXISTS historical CASCADE")
        conn.execute("DROP SCHEMA IF EXISTS keeper CASCADE")
        conn.execute("DROP TABLE IF EXISTS public.deleton_migration")
    return init(conn)
