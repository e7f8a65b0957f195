-- What the third attacker's review found low in erasure (Issue 17: L4, L5), put right in the
-- database; 0012 stays as it was applied.
--
--   L4  historical.erase_rider(bigint, integer[], integer[]) took the age bands and each
--       band's high heart-rate limit from its caller, so the API's login chose the limit
--       written onto an erased rider's alerts (and the bands their ages are cut to). The rule
--       now lives here: historical.age_band_floor (core.demographics.AGE_BANDS' lower bounds)
--       and historical.high_limit (core.alerts.high_limit, 220 - age); erase_rider(bigint)
--       takes the user id alone. The bands are constants of the code, not a setting; a test
--       (tests/integration/api/test_privacy.py) holds both functions to core's definitions.
--   L5  refused [SYSTEM] lines whose user_id was written "123" (quoted), 123.0, 1.23e2, or
--       with JSON escapes survived the erasure of rider 123: erase_rider matched the digits
--       alone. historical.names_user_id matches every form the parser could have read as that
--       user id, comparing numbers as numbers.
--
-- L1 (an erased rider restored by a line whose bike clock runs fast) needs no change here:
-- ingestion compares historical.erasure.erased_at with the message's broker time instead of
-- the line's own (postgres/store.py).
--
-- Runs as deleton_writer, like every migration after 0006.

-- --- L4: the bands and the limit, defined in the database ----------------------------------

-- The lower bound of the band ``age`` falls in (core.demographics.AGE_BANDS, youngest first);
-- NULL for no age or a negative one.
CREATE FUNCTION historical.age_band_floor(p_age integer) RETURNS integer
LANGUAGE sql IMMUTABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
    SELECT max(b) FROM unnest(ARRAY[0, 25, 35, 45, 55, 65]) b WHERE b <= p_age
$$;

-- A rider's own maximum heart rate at ``age``: above it is dangerous (core.alerts.high_limit).
CREATE FUNCTION historical.high_limit(p_age integer) RETURNS integer
LANGUAGE sql IMMUTABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
    SELECT 220 - p_age
$$;

-- --- L5: a refused line's user id, in whatever form it was written ---------------------------

-- Whether ``p_number`` (digits, a point, an exponent, as JSON writes a number) is ``p_id``.
-- Never raises: a number too long for numeric (the digits are not bounded) is no user id.
CREATE FUNCTION historical.number_is(p_number text, p_id bigint) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF length(p_number) <= 100 THEN  -- the common case, which no cast below can overflow
        RETURN p_number::numeric = p_id;
    END IF;
    BEGIN
        RETURN p_number::numeric = p_id;
    EXCEPTION WHEN data_exception THEN
        RETURN false;
    END;
END $$;

-- Whether a refused message (as stored in daily.dead_letter.value) gives ``p_user_id`` as the
-- user_id of a [SYSTEM] line in any form the parser could have read as that number: 123,
-- "123", 123.0, 1.23e2, " 123 ", with the quotes escaped once (the line is JSON inside the
-- message's JSON) or not at all (a bare line), and, in a message holding JSON escapes,
-- "\u0075ser_id" or "\u0031\u0032\u0033", as the message's and the line's JSON decode them.
-- Numbers are compared as numbers, so 1230 or 12.3 never match 123. Never raises: a value
-- that is not UTF-8 or not JSON is judged by its raw text alone.
CREATE FUNCTION historical.names_user_id(p_value bytea, p_user_id bigint) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    raw text := encode(p_value, 'escape');
    written text;
    line text;
    field jsonb;
BEGIN
    -- as written: the key, an optional (escaped) quote, and a number
    IF position('user_id' IN raw) > 0 THEN
        FOR written IN
            SELECT (regexp_matches(raw,
                '"user_id\\*"\s*:\s*(?:\\*"\s*)?([-+]?[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]{1,4})?)'
                '(?![0-9.eE])', 'g'))[1]
        LOOP
            IF historical.number_is(written, p_user_id) THEN
                RETURN true;
            END IF;
        END LOOP;
    END IF;
    -- as the parser decodes it: only a message holding a JSON escape can say more than its
    -- raw text did (a subtransaction each, so only those)
    IF position('\\u' IN raw) = 0 THEN
        RETURN false;
    END IF;
    BEGIN
        line := convert_from(p_value, 'UTF8')::jsonb ->> 'log';
        IF position('[SYSTEM] data = ' IN line) = 0 THEN
            RETURN false;
        END IF;
        field := substr(line, position('[SYSTEM] data = ' IN line) + 16)::jsonb -> 'user_id';
        IF jsonb_typeof(field) = 'number' THEN
            RETURN field::numeric = p_user_id;
        END IF;
        written := field #>> '{}';
        RETURN jsonb_typeof(field) = 'string'
               AND written ~ '^\s*[-+]?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]{1,4})?\s*$'
               AND historical.number_is(btrim(written, E' \t\n\r\f\x0b'), p_user_id);
    EXCEPTION WHEN data_exception THEN  -- not UTF-8, not JSON, \u0000 in a string: raw only
        RETURN false;
    END;
END $$;

-- A cheap first filter for historical.names_user_id: a pattern that every message it accepts
-- matches (and some more), so that erasure runs it on few dead letters, not on all. Any number
-- equal to the id has, once its point is dropped and its leading zeros stripped, the id's
-- digits without their trailing zeros, then zeros (1.23e2, 0.0123e4, 12300e-2 for 123); a
-- message holding a JSON escape may say anything.
CREATE FUNCTION historical.user_id_candidates(p_user_id bigint) RETURNS text
LANGUAGE sql IMMUTABLE STRICT SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
    SELECT '"user_id\\*"\s*:\s*(?:\\*"\s*)?[-+]?'
           || CASE WHEN significant = '' THEN '[0.]*0[0.]*'
                   ELSE '0*\.?0*' || array_to_string(regexp_split_to_array(significant, ''), '\.?')
                        || '\.?[0.]*' END
           || '(?:[eE][-+]?[0-9]{1,4})?(?![0-9.eE])|\\\\u'
    FROM (SELECT rtrim(ltrim(p_user_id::text, '-'), '0') AS significant) id
$$;

-- --- erase_rider, taking the user id alone ----------------------------------------------------

DROP FUNCTION historical.erase_rider(bigint, integer[], integer[]);

-- The right to be forgotten: the rider's rows go from both schemas with their name, title,
-- email, address, birth date and account details; their rides and alerts stay, under a
-- tombstone id, with gender and age at the ride cut to the lower bound of its band
-- (historical.age_band_floor) and a high alert's limit to that bound's
-- (historical.high_limit); pending alerts are not sent; refused lines holding their user id
-- in any form (historical.names_user_id), or their email or name as a whole field of a
-- [SYSTEM] line, go; and the erasure is recorded, so that ingestion does not bring them back
-- from lines that reached the broker before it. 'riding' while they have an open ride (its
-- bike's checkpoint holds them), 'unknown' when nothing of theirs was found.
CREATE FUNCTION historical.erase_rider(p_user_id bigint) RETURNS text
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
    SELECT coalesce(array_agg(DISTINCT p) FILTER (WHERE p IS NOT NULL), '{}') INTO patterns
    FROM (
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
    WHERE value IS NOT NULL
      AND encode(value, 'escape') ~ ANY (patterns || historical.user_id_candidates(p_user_id))
      AND (encode(value, 'escape') ~ ANY (patterns)
           OR historical.names_user_id(value, p_user_id));
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
    SET user_id = tombstone, rider_age = historical.age_band_floor(rider_age)
    WHERE user_id = p_user_id;
    UPDATE historical.ride
    SET user_id = tombstone, rider_age = historical.age_band_floor(rider_age)
    WHERE user_id = p_user_id;
    -- a ride with no age: the limit of the lowest band, which tells nothing
    UPDATE daily.alert a
    SET user_id = tombstone,
        heart_rate_limit = CASE WHEN a.kind = 'high' THEN historical.high_limit(coalesce(
            (SELECT r.rider_age FROM daily.ride r
             WHERE r.ride_id = a.ride_id AND r.user_id = tombstone),
            (SELECT r.rider_age FROM historical.ride r
             WHERE r.ride_id = a.ride_id AND r.user_id = tombstone),
            historical.age_band_floor(0))) ELSE a.heart_rate_limit END
    WHERE a.user_id = p_user_id;
    UPDATE historical.alert a
    SET user_id = tombstone,
        heart_rate_limit = CASE WHEN a.kind = 'high' THEN historical.high_limit(
            coalesce(r.rider_age, historical.age_band_floor(0))) ELSE a.heart_rate_limit END
    FROM historical.ride r
    WHERE r.ride_id = a.ride_id AND r.user_id = tombstone AND a.user_id = p_user_id;
    DELETE FROM daily.rider WHERE user_id = p_user_id;
    DELETE FROM historical.rider WHERE user_id = p_user_id;
    RETURN 'erased';
END $$;

REVOKE ALL ON FUNCTION historical.age_band_floor(integer), historical.high_limit(integer),
    historical.number_is(text, bigint), historical.names_user_id(bytea, bigint),
    historical.user_id_candidates(bigint), historical.erase_rider(bigint)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION historical.erase_rider(bigint) TO deleton_api;
