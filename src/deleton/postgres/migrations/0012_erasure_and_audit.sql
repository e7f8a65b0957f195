-- What the security review of the API's keys, audit and erasure found (README: Who may see
-- what), put right in the database; 0008 stays as it was applied.
--
--   historical.erasure   each erased user id and when it was erased: ingestion, behind its
--                        topic, stores a [SYSTEM] line of theirs dated before that time as an
--                        unknown rider's (no rider row, no alert), so an erasure is not undone
--                        by the rider's older lines; a later line (a new visit) makes them a
--                        rider again
--   erase_rider          finds refused lines by whole fields of a [SYSTEM] line (user_id,
--                        email_address, name), never by a short or shared value (a postcode, a
--                        birth date of "0"); erases a rider known only from refused lines; and
--                        sets an erased rider's high alerts' limit from their age band, not
--                        from their exact age
--   deleton_keeper       a role no service logs in as: it owns historical.audit and
--                        historical.api_key, so that no service login can rewrite or delete the
--                        audit or mint itself a key; the writer's login (`deleton api-key`)
--                        makes, lists and revokes keys through definer functions only
--
-- Runs as deleton_writer but for its last part, which creates a role and hands it tables, and
-- so needs the administrator (`deleton db init`).

CREATE TABLE historical.erasure (
    user_id    bigint PRIMARY KEY,
    erased_at  timestamptz NOT NULL
);

-- Ingestion's question, once per batch holding riders, new rides or alerts: which of these
-- user ids were erased, and when. The rider table's lock comes first: an erasure holds it
-- until it commits, so the batch either commits before the erasure (which then erases what
-- it stored) or, waiting, sees it (each statement of a volatile function takes a snapshot of
-- its own). One round trip: the lock and the question together.
CREATE FUNCTION daily.erased_among(p_user_ids bigint[])
RETURNS TABLE (user_id bigint, erased_at timestamptz)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    LOCK TABLE daily.rider IN ROW EXCLUSIVE MODE;
    RETURN QUERY SELECT e.user_id, e.erased_at FROM historical.erasure e
                 WHERE e.user_id = ANY (p_user_ids);
END $$;
REVOKE ALL ON FUNCTION daily.erased_among(bigint[]) FROM PUBLIC;

-- A pattern matching ``text`` itself, in a value as encode(value, 'escape') shows it.
CREATE FUNCTION historical.escaped_literal(p_text text) RETURNS text
LANGUAGE sql IMMUTABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
    SELECT regexp_replace(encode(convert_to(p_text, 'UTF8'), 'escape'),
                          '([.^$*+?()\[\]{}|\\-])', '\\\1', 'g')
$$;

-- A [SYSTEM] line's field ``name`` holding ``value`` (a string; ``quoted`` false: a number),
-- in a refused message as stored: the line is JSON inside the message's JSON, so its quotes
-- come escaped (once more by encode(..., 'escape')), and nothing but a whole field matches.
CREATE FUNCTION historical.wire_field(p_name text, p_value text, p_quoted boolean)
RETURNS text
LANGUAGE sql IMMUTABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN p_value IS NULL OR p_value = '' THEN NULL
           WHEN p_quoted THEN '"' || p_name || '\\*"\s*:\s*\\*"'
                              || historical.escaped_literal(p_value) || '\\*"'
           ELSE '"' || p_name || '\\*"\s*:\s*' || historical.escaped_literal(p_value)
                || '(?![0-9.eE])' END
$$;

DROP FUNCTION historical.erase_rider(bigint, integer[]);

-- The right to be forgotten: the rider's rows go from both schemas with their name, title,
-- email, address, birth date and account details; their rides and alerts stay, under a
-- tombstone id, with gender and age at the ride cut to the lower bound of its band
-- (p_age_bands: the report's bands' lower bounds) and a high alert's limit to its band's
-- (p_band_high_limits, the limit of each band's lower bound, as core.alerts.high_limit says);
-- pending alerts are not sent; refused lines holding their user id, email or name as a whole
-- field of a [SYSTEM] line go; and the erasure is recorded, so that ingestion does not bring
-- them back from lines older than it. 'riding' while they have an open ride (its bike's
-- checkpoint holds them), 'unknown' when nothing of theirs was found.
CREATE FUNCTION historical.erase_rider(p_user_id bigint, p_age_bands integer[],
                                       p_band_high_limits integer[])
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tombstone bigint;
    patterns text[];
    refused bigint;
    known boolean;
BEGIN
    IF EXISTS (SELECT 1 FROM daily.ride WHERE user_id = p_user_id AND ended_at IS NULL) THEN
        RETURN 'riding';
    END IF;
    SELECT array_agg(DISTINCT p) FILTER (WHERE p IS NOT NULL) INTO patterns FROM (
        SELECT historical.wire_field('user_id', p_user_id::text, false)
        UNION ALL
        SELECT unnest(ARRAY[
            historical.wire_field('email_address', email, true),
            historical.wire_field('name', first_name || ' ' || last_name, true),
            historical.wire_field('name', title || ' ' || first_name || ' ' || last_name, true)])
        FROM daily.rider WHERE user_id = p_user_id
        UNION ALL
        SELECT unnest(ARRAY[
            historical.wire_field('email_address', email, true),
            historical.wire_field('name', first_name || ' ' || last_name, true),
            historical.wire_field('name', title || ' ' || first_name || ' ' || last_name, true)])
        FROM historical.rider WHERE user_id = p_user_id) found(p);
    -- the slow part first, without holding up ingestion
    DELETE FROM daily.dead_letter
    WHERE value IS NOT NULL AND encode(value, 'escape') ~ ANY (patterns);
    GET DIAGNOSTICS refused = ROW_COUNT;
    -- no [SYSTEM] line of theirs may be stored while they are erased: ingestion takes this
    -- table's lock before it reads historical.erasure, so it waits for this transaction and
    -- then sees the erasure
    LOCK TABLE daily.rider IN SHARE ROW EXCLUSIVE MODE;
    -- a ride opened since the check above (its dead letters are gone, as asked)
    IF EXISTS (SELECT 1 FROM daily.ride WHERE user_id = p_user_id AND ended_at IS NULL) THEN
        RETURN 'riding';
    END IF;
    known := EXISTS (SELECT 1 FROM daily.rider WHERE user_id = p_user_id)
             OR EXISTS (SELECT 1 FROM historical.rider WHERE user_id = p_user_id)
             OR EXISTS (SELECT 1 FROM daily.ride WHERE user_id = p_user_id)
             OR EXISTS (SELECT 1 FROM historical.ride WHERE user_id = p_user_id);
    IF NOT known AND refused = 0 THEN
        RETURN 'unknown';
    END IF;
    INSERT INTO historical.erasure (user_id, erased_at) VALUES (p_user_id, now())
    ON CONFLICT (user_id) DO UPDATE SET erased_at = EXCLUDED.erased_at;
    tombstone := -nextval('historical.tombstone_seq');
    UPDATE daily.alert SET status = 'failed', last_error = 'the rider was erased'
    WHERE user_id = p_user_id AND status = 'pending';
    UPDATE daily.ride
    SET user_id = tombstone,
        rider_age = (SELECT max(b) FROM unnest(p_age_bands) b WHERE b <= rider_age)
    WHERE user_id = p_user_id;
    UPDATE historical.ride
    SET user_id = tombstone,
        rider_age = (SELECT max(b) FROM unnest(p_age_bands) b WHERE b <= rider_age)
    WHERE user_id = p_user_id;
    UPDATE daily.alert a
    SET user_id = tombstone,
        heart_rate_limit = CASE WHEN a.kind = 'high' THEN coalesce(
            (SELECT p_band_high_limits[array_position(p_age_bands, r.rider_age)]
             FROM daily.ride r WHERE r.ride_id = a.ride_id AND r.user_id = tombstone),
            (SELECT p_band_high_limits[array_position(p_age_bands, r.rider_age)]
             FROM historical.ride r WHERE r.ride_id = a.ride_id AND r.user_id = tombstone),
            -- a ride with no age: the limit of the lowest band, which tells nothing
            p_band_high_limits[1]) ELSE a.heart_rate_limit END
    WHERE a.user_id = p_user_id;
    UPDATE historical.alert a
    SET user_id = tombstone,
        heart_rate_limit = CASE WHEN a.kind = 'high' THEN coalesce(
            p_band_high_limits[array_position(p_age_bands, r.rider_age)],
            p_band_high_limits[1]) ELSE a.heart_rate_limit END
    FROM historical.ride r
    WHERE r.ride_id = a.ride_id AND r.user_id = tombstone AND a.user_id = p_user_id;
    DELETE FROM daily.rider WHERE user_id = p_user_id;
    DELETE FROM historical.rider WHERE user_id = p_user_id;
    RETURN 'erased';
END $$;

REVOKE ALL ON FUNCTION historical.escaped_literal(text),
    historical.wire_field(text, text, boolean),
    historical.erase_rider(bigint, integer[], integer[])
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION historical.erase_rider(bigint, integer[], integer[]) TO deleton_api;

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
    IF NOT pg_has_role(current_user, 'deleton_keeper', 'USAGE') THEN
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
-- A new owner must have CREATE on the schema unless a superuser hands it over (RDS's master
-- user is none): the keeper holds it until the last function below is handed over.
GRANT CREATE ON SCHEMA historical TO deleton_keeper;
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
REVOKE CREATE ON SCHEMA historical FROM deleton_keeper;
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
