-- What the security review of the API's keys, audit and erasure found (README: Who may see
-- what), put right in the database; 0008 stays as it was applied.
--
--   deleton_keeper       a role no service logs in as: it owns historical.audit and
--                        historical.api_key, so that no service login can rewrite or delete the
--                        audit or mint itself a key; the writer's login (`deleton api-key`)
--                        makes, lists and revokes keys through definer functions only
--
-- Runs as deleton_writer but for its last part, which creates a role and hands it tables, and
-- so needs the administrator (`deleton db init`).

-- --- the audit and the keys belong to a role no service logs in as ---------------------------

RESET ROLE;
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'deleton_keeper') THEN
        BEGIN
            CREATE ROLE deleton_keeper NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- another database of this server made it at the same moment
        WHEN insufficient_privilege THEN
            RAISE EXCEPTION 'migration 0012 creates the role deleton_keeper: run'
                            ' `deleton db init` as the administrator'
                USING ERRCODE = 'insufficient_privilege';
        END;
    END IF;
    -- whoever migrates must be able to act as it, to hand it what it owns
    IF NOT pg_has_role(current_user, 'deleton_keeper', 'MEMBER') THEN
        BEGIN
            EXECUTE format('GRANT deleton_keeper TO %I', current_user);
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE EXCEPTION 'migration 0012 hands the audit to deleton_keeper: run'
                            ' `deleton db init` as the administrator'
                USING ERRCODE = 'insufficient_privilege';
        END;
    END IF;
END $$;
GRANT USAGE ON SCHEMA historical TO deleton_keeper;

-- The old owner's privileges pass to the new one: the writer keeps none on either table.
ALTER TABLE historical.audit OWNER TO deleton_keeper;
ALTER TABLE historical.api_key OWNER TO deleton_keeper;
ALTER FUNCTION historical.record_audit(text, text, text, integer, text) OWNER TO deleton_keeper;
ALTER FUNCTION historical.api_key_scopes(bytea) OWNER TO deleton_keeper;

-- `deleton api-key`'s three acts, for the writer's login: it never reads a key's hash.
CREATE FUNCTION historical.create_api_key(p_name text, p_key_sha256 bytea, p_scopes text[])
RETURNS boolean
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH made AS (
        INSERT INTO historical.api_key (name, key_sha256, scopes)
        VALUES (p_name, p_key_sha256, p_scopes)
        ON CONFLICT (name) DO NOTHING RETURNING name)
    SELECT EXISTS (SELECT FROM made)
$$;

CREATE FUNCTION historical.revoke_api_key(p_name text) RETURNS boolean
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH revoked AS (
        UPDATE historical.api_key SET revoked_at = now()
        WHERE name = p_name AND revoked_at IS NULL RETURNING name)
    SELECT EXISTS (SELECT FROM revoked)
$$;

CREATE FUNCTION historical.api_keys()
RETURNS TABLE (name text, scopes text[], created_at timestamptz, revoked_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT name, scopes, created_at, revoked_at FROM historical.api_key ORDER BY name
$$;

ALTER FUNCTION historical.create_api_key(text, bytea, text[]) OWNER TO deleton_keeper;
ALTER FUNCTION historical.revoke_api_key(text) OWNER TO deleton_keeper;
ALTER FUNCTION historical.api_keys() OWNER TO deleton_keeper;
REVOKE ALL ON FUNCTION historical.create_api_key(text, bytea, text[]),
    historical.revoke_api_key(text), historical.api_keys(),
    historical.record_audit(text, text, text, integer, text), historical.api_key_scopes(bytea)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION historical.create_api_key(text, bytea, text[]),
    historical.revoke_api_key(text), historical.api_keys()
    TO deleton_writer;
GRANT EXECUTE ON FUNCTION historical.record_audit(text, text, text, integer, text),
    historical.api_key_scopes(bytea)
    TO deleton_api;
