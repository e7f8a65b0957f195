-- The audit and the keys move out of the writer's schema into one of deleton_keeper's own.
--
-- 0012 made deleton_keeper own historical.audit and historical.api_key and the definer
-- functions over them, but deleton_writer (ingestion's and the jobs' login) owns the schema
-- historical, and a schema's owner may drop anything in it, whoever owns that: the writer's
-- login dropped historical.api_key, made one of its own holding a key of every scope, and the
-- API's historical.api_key_scopes (which finds the table by name) accepted it; the same with
-- historical.audit. Here:
--
--   keeper               a schema owned by deleton_keeper, which no service logs in as or is
--                        a member of: the writer and the API get USAGE on it and EXECUTE on
--                        the functions they had, nothing else (no CREATE, no table)
--   keeper.audit         historical.audit, moved with its sequence, index and rows
--   keeper.api_key       historical.api_key, moved with its rows
--   keeper.record_audit, keeper.api_key_scopes (the API's), keeper.create_api_key,
--   keeper.revoke_api_key, keeper.api_keys (the writer's, for `deleton api-key`): moved, with
--                        their owner and grants, and their bodies naming the new schema
--
-- Like 0012's last part, all of it needs the administrator (`deleton db init`): it creates a
-- schema in the database and acts as deleton_keeper.

RESET ROLE;
DO $$
BEGIN
    IF NOT pg_has_role(current_user, 'deleton_keeper', 'USAGE') THEN
        BEGIN
            EXECUTE format('GRANT deleton_keeper TO %I', current_user);
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE EXCEPTION 'migration 0014 moves the audit into deleton_keeper''s schema: run'
                            ' `deleton db init` as the administrator'
                USING ERRCODE = 'insufficient_privilege';
        END;
    END IF;
    IF NOT has_database_privilege(current_database(), 'CREATE') THEN
        RAISE EXCEPTION 'migration 0014 creates the schema keeper: run `deleton db init` as'
                        ' the administrator'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
END $$;

CREATE SCHEMA keeper AUTHORIZATION deleton_keeper;
-- A new schema grants PUBLIC nothing; said anyway, as the point of this migration.
REVOKE ALL ON SCHEMA keeper FROM PUBLIC;
GRANT USAGE ON SCHEMA keeper TO deleton_writer, deleton_api;

-- As the keeper itself: it owns every object moved, and what it recreates stays its own.
SET ROLE deleton_keeper;

ALTER TABLE historical.audit SET SCHEMA keeper;
ALTER TABLE historical.api_key SET SCHEMA keeper;

ALTER FUNCTION historical.record_audit(text, text, text, integer, text) SET SCHEMA keeper;
ALTER FUNCTION historical.api_key_scopes(bytea) SET SCHEMA keeper;
ALTER FUNCTION historical.create_api_key(text, bytea, text[]) SET SCHEMA keeper;
ALTER FUNCTION historical.revoke_api_key(text) SET SCHEMA keeper;
ALTER FUNCTION historical.api_keys() SET SCHEMA keeper;

-- The same bodies as 0008's and 0012's, naming the tables where they now are. CREATE OR
-- REPLACE keeps each function's owner and grants.
CREATE OR REPLACE FUNCTION keeper.api_key_scopes(p_key_sha256 bytea)
RETURNS TABLE (name text, scopes text[])
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT name, scopes FROM keeper.api_key
    WHERE key_sha256 = p_key_sha256 AND revoked_at IS NULL
$$;

CREATE OR REPLACE FUNCTION keeper.record_audit(p_key_name text, p_method text, p_path text,
                                               p_status integer, p_client text)
RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO keeper.audit (key_name, method, path, status, client)
    VALUES (left(p_key_name, 80), left(p_method, 16), left(p_path, 2000), p_status,
            left(p_client, 100))
$$;

CREATE OR REPLACE FUNCTION keeper.create_api_key(p_name text, p_key_sha256 bytea,
                                                 p_scopes text[])
RETURNS boolean
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH made AS (
        INSERT INTO keeper.api_key (name, key_sha256, scopes)
        VALUES (p_name, p_key_sha256, p_scopes)
        ON CONFLICT (name) DO NOTHING RETURNING name)
    SELECT EXISTS (SELECT FROM made)
$$;

CREATE OR REPLACE FUNCTION keeper.revoke_api_key(p_name text) RETURNS boolean
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH revoked AS (
        UPDATE keeper.api_key SET revoked_at = now()
        WHERE name = p_name AND revoked_at IS NULL RETURNING name)
    SELECT EXISTS (SELECT FROM revoked)
$$;

CREATE OR REPLACE FUNCTION keeper.api_keys()
RETURNS TABLE (name text, scopes text[], created_at timestamptz, revoked_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT name, scopes, created_at, revoked_at FROM keeper.api_key ORDER BY name
$$;

-- The keeper's functions no longer read historical.
RESET ROLE;
REVOKE USAGE ON SCHEMA historical FROM deleton_keeper;
