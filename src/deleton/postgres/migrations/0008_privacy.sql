-- Privacy and access: nobody reads a rider's contact details but through the API's keyed
-- functions, every definer function belongs to the one role that needs it, the restricted
-- logins write only through definer functions, API keys and an audit of their use, and a
-- rider can be erased.
--
-- Runs as deleton_writer (later migrations do) but for its last part, which changes a role
-- membership and grants on the record of migrations, and so needs the administrator
-- (`deleton db init`).

-- --- the reading partitions: bounded hours, the writer's function alone ------------------------

-- An hour outside [2000-01-01, now + max_skew] is refused (22008, which ingestion takes for bad
-- data: the message is found and dead-lettered): a partition for the year 10000, or one BC,
-- stopped every compression for good. max_skew is DELETON_MAX_CLOCK_SKEW, passed by the caller.
DROP FUNCTION daily.ensure_reading_partition(timestamptz);

CREATE FUNCTION daily.ensure_reading_partition(at timestamptz,
                                               max_skew interval DEFAULT interval '1 day')
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    hour timestamp := date_trunc('hour', at AT TIME ZONE 'UTC');
    name text := 'reading_' || to_char(hour, 'YYYYMMDD_HH24');
    day_name text := 'reading_' || to_char(hour, 'YYYYMMDD');
BEGIN
    IF at IS NULL OR max_skew IS NULL OR max_skew < interval '0'
       OR hour < timestamp '2000-01-01' OR hour > (now() + max_skew) AT TIME ZONE 'UTC' THEN
        RAISE EXCEPTION 'no reading partition for that hour: only hours from 2000-01-01 to now'
                        ' plus the clock skew allowed'
            USING ERRCODE = 'datetime_field_overflow';
    END IF;
    IF to_regclass(format('daily.%I', name)) IS NOT NULL
       OR to_regclass(format('daily.%I', day_name)) IS NOT NULL THEN
        RETURN;
    END IF;
    -- Two members may meet a new hour at once, and the check above cannot see a partition
    -- that another transaction has just committed, so the creation tolerates losing the race.
    BEGIN
        EXECUTE format(
            'CREATE TABLE daily.%I PARTITION OF daily.reading FOR VALUES FROM (%L) TO (%L)',
            name, hour AT TIME ZONE 'UTC', (hour + interval '1 hour') AT TIME ZONE 'UTC');
    EXCEPTION WHEN duplicate_table OR unique_violation THEN
        NULL;
    END;
END $$;
REVOKE ALL ON FUNCTION daily.ensure_reading_partition(timestamptz, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION daily.ensure_reading_partition(timestamptz, interval)
    TO deleton_writer;

-- --- the rider's gender and age at each ride, kept on the ride -------------------------------

-- Ingestion knows both from the [SYSTEM] line that opens a ride. Readers then need no birth
-- date (nor a function per ride) for an age, and a ride keeps its coarse figures when its
-- rider is erased: gender, and age cut to the lower bound of its band.
ALTER TABLE daily.ride
    ADD COLUMN rider_gender text CHECK (rider_gender IN ('male', 'female', 'other')),
    ADD COLUMN rider_age integer;
ALTER TABLE historical.ride
    ADD COLUMN rider_gender text CHECK (rider_gender IN ('male', 'female', 'other')),
    ADD COLUMN rider_age integer;
UPDATE daily.ride r
SET rider_gender = u.gender,
    rider_age = date_part('year', age((r.started_at AT TIME ZONE 'UTC')::date,
                                      u.date_of_birth))::int
FROM daily.rider u WHERE u.user_id = r.user_id;
UPDATE historical.ride r
SET rider_gender = u.gender,
    rider_age = date_part('year', age((r.started_at AT TIME ZONE 'UTC')::date,
                                      u.date_of_birth))::int
FROM (SELECT DISTINCT ON (user_id) user_id, gender, date_of_birth
      FROM (SELECT user_id, gender, date_of_birth, 0 AS newer FROM daily.rider
            UNION ALL
            SELECT user_id, gender, date_of_birth, 1 FROM historical.rider) both_schemas
      ORDER BY user_id, newer) u
WHERE u.user_id = r.user_id;

-- The same view, with the two columns at its end.
CREATE OR REPLACE VIEW historical.ride_summary AS
SELECT h.ride_id, h.bike_serial, h.user_id, h.host, h.started_at, h.ended_at, h.duration_s,
       h.readings, h.heart_rate_avg, h.heart_rate_min, h.heart_rate_max, h.power_avg,
       h.power_max, h.energy_kj, h.rpm_avg, h.rpm_max, h.resistance_avg, h.resistance_max,
       h.heart_rate_readings, h.power_readings, h.rpm_readings, h.resistance_readings,
       h.alerts, h.alerts_high, h.alerts_low, true AS summarised, h.rider_gender, h.rider_age
FROM historical.ride h
UNION ALL
SELECT r.ride_id, r.bike_serial, r.user_id, r.host, r.started_at, r.ended_at,
       extract(epoch FROM coalesce(r.ended_at, s.last_at, r.started_at) - r.started_at)::float8,
       s.readings::int, s.heart_rate_avg, s.heart_rate_min, s.heart_rate_max, s.power_avg,
       s.power_max, s.energy_kj, s.rpm_avg, s.rpm_max, s.resistance_avg, s.resistance_max,
       s.heart_rate_readings::int, s.power_readings::int, s.rpm_readings::int,
       s.resistance_readings::int,
       (a.high + a.low)::int, a.high::int, a.low::int, false, r.rider_gender, r.rider_age
FROM daily.ride r
CROSS JOIN LATERAL (
    SELECT count(*) AS readings,
           avg(x.heart_rate) FILTER (WHERE x.heart_rate > 0)::float8 AS heart_rate_avg,
           min(x.heart_rate) FILTER (WHERE x.heart_rate > 0) AS heart_rate_min,
           max(x.heart_rate) FILTER (WHERE x.heart_rate > 0) AS heart_rate_max,
           avg(x.power) AS power_avg, max(x.power) AS power_max,
           sum(x.power) / 1000 AS energy_kj,
           avg(x.rpm)::float8 AS rpm_avg, max(x.rpm) AS rpm_max,
           avg(x.resistance)::float8 AS resistance_avg, max(x.resistance) AS resistance_max,
           count(*) FILTER (WHERE x.heart_rate > 0) AS heart_rate_readings,
           count(x.power) AS power_readings, count(x.rpm) AS rpm_readings,
           count(x.resistance) AS resistance_readings, max(x.at) AS last_at
    FROM daily.reading x
    WHERE x.ride_id = r.ride_id
      AND x.at >= r.started_at - interval '1 hour'
      AND x.at <= coalesce(r.ended_at, 'infinity')
) s
CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE al.kind = 'high') AS high,
           count(*) FILTER (WHERE al.kind = 'low') AS low
    FROM daily.alert al WHERE al.ride_id = r.ride_id
) a
WHERE r.summarised_at IS NULL;

-- The age at a ride is a column now: the function reads it with the caller's own rights.
CREATE OR REPLACE FUNCTION historical.ride_rider_age(p_ride_id bigint) RETURNS integer
LANGUAGE sql STABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
    SELECT rider_age FROM daily.ride WHERE ride_id = p_ride_id
    UNION ALL
    SELECT rider_age FROM historical.ride WHERE ride_id = p_ride_id
    LIMIT 1
$$;

-- --- contact details live in the rider tables only -------------------------------------------

-- The outbox takes an alert's address from daily.rider as it sends; an alert keeps none.
ALTER TABLE daily.alert DROP COLUMN recipient;

-- Checkpoints written before this migration carried each open bike's email (the 7th field of
-- a bike's row): it is blanked, and the checkpoint's version moves so that a member holding
-- the old state reloads this one. A checkpoint that cannot be read as JSON is left as it is
-- (its member reads it the same way) and named in a warning.
DO $$
DECLARE
    item record;
    doc jsonb;
BEGIN
    FOR item IN SELECT source, partition, state FROM daily.source_position
                WHERE state IS NOT NULL FOR UPDATE LOOP
        BEGIN
            doc := convert_from(item.state, 'UTF8')::jsonb;
            CONTINUE WHEN doc ? 'format' OR jsonb_typeof(doc -> 'bikes') IS DISTINCT FROM 'array';
            doc := jsonb_set(doc, '{bikes}', coalesce((
                SELECT jsonb_agg(CASE WHEN jsonb_array_length(b.row) >= 11
                                      THEN jsonb_set(b.row, '{6}', '""') ELSE b.row END
                                 ORDER BY b.n)
                FROM jsonb_array_elements(doc -> 'bikes') WITH ORDINALITY AS b(row, n)),
                '[]'::jsonb));
            UPDATE daily.source_position
            SET state = convert_to(doc::text, 'UTF8'), version = version + 1
            WHERE source = item.source AND partition = item.partition;
        EXCEPTION WHEN data_exception THEN
            RAISE WARNING 'checkpoint of % partition % is not JSON; left as it is',
                item.source, item.partition;
        END;
    END LOOP;
END $$;

-- The reader (dashboard, report) and the API read neither checkpoints nor dead letters'
-- values (a refused [SYSTEM] line holds a rider's whole profile); when each partition last
-- committed, and that a bike sends bad lines, they may.
REVOKE SELECT ON daily.source_position, daily.dead_letter FROM deleton_reader;
GRANT SELECT (source, partition, next_position, updated_at, version)
    ON daily.source_position TO deleton_reader;
GRANT SELECT (dead_letter_id, source, partition, position, key, reason, received_at,
              value_length)
    ON daily.dead_letter TO deleton_reader;
-- Partitions made before are read through daily.reading, never by name.
DO $$
DECLARE
    part regclass;
BEGIN
    FOR part IN SELECT inhrelid::regclass FROM pg_inherits
                WHERE inhparent = 'daily.reading'::regclass LOOP
        EXECUTE format('REVOKE ALL ON %s FROM deleton_reader, deleton_api', part);
    END LOOP;
END $$;

-- --- the report's one write, through a definer function -------------------------------------

REVOKE INSERT, UPDATE ON historical.report_delivery FROM deleton_reader;

CREATE FUNCTION historical.record_report_delivery(p_start timestamptz, p_end timestamptz,
                                                  p_recipients integer)
RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO historical.report_delivery (period_start, period_end, sent_at, recipients)
    VALUES (p_start, p_end, now(), p_recipients)
    ON CONFLICT (period_start, period_end) DO UPDATE
    SET sent_at = now(), recipients = EXCLUDED.recipients,
        sends = historical.report_delivery.sends + 1
$$;

-- --- API keys and the audit of their use ------------------------------------------------------

-- A key is 32 random bytes the caller keeps; only its SHA-256 is stored (a slow hash would
-- cost every request, and 256 random bits need no stretching). A revoked key stays listed.
CREATE TABLE historical.api_key (
    name        text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
    key_sha256  bytea NOT NULL UNIQUE CHECK (length(key_sha256) = 32),
    scopes      text[] NOT NULL
                CHECK (cardinality(scopes) > 0
                       AND scopes <@ ARRAY['read', 'personal', 'erase']::text[]),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

-- Every request that used the personal or erase scope: who (the key's name), what, when, the
-- answer's status and where from. Never the key, never the personal data.
CREATE TABLE historical.audit (
    audit_id  bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    key_name  text NOT NULL,
    method    text NOT NULL,
    path      text NOT NULL,
    status    integer NOT NULL,
    client    text
);
CREATE INDEX audit_at ON historical.audit (at);

-- The API's view of the keys: the name and scopes of the live key with this hash, if any.
CREATE FUNCTION historical.api_key_scopes(p_key_sha256 bytea)
RETURNS TABLE (name text, scopes text[])
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT name, scopes FROM historical.api_key
    WHERE key_sha256 = p_key_sha256 AND revoked_at IS NULL
$$;

CREATE FUNCTION historical.record_audit(p_key_name text, p_method text, p_path text,
                                        p_status integer, p_client text)
RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO historical.audit (key_name, method, path, status, client)
    VALUES (left(p_key_name, 80), left(p_method, 16), left(p_path, 2000), p_status,
            left(p_client, 100))
$$;

-- --- deleting a ride, and erasing a rider -----------------------------------------------------

-- A ride out of both schemas, by id, whatever its readings' times. The ride's rows are locked
-- first: compression locks a ride the same way before it summarises it or copies its readings
-- back from a detached partition, so neither can bring back a ride deleted beside it.
CREATE FUNCTION historical.delete_ride(p_ride_id bigint) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ended timestamptz;
    live boolean;
    kept boolean;
BEGIN
    SELECT ended_at INTO ended FROM daily.ride WHERE ride_id = p_ride_id FOR UPDATE;
    live := FOUND;
    PERFORM 1 FROM historical.ride WHERE ride_id = p_ride_id FOR UPDATE;
    kept := FOUND;
    IF NOT live AND NOT kept THEN
        RETURN 'not found';
    END IF;
    IF live AND ended IS NULL THEN
        RETURN 'in progress';
    END IF;
    DELETE FROM daily.reading WHERE ride_id = p_ride_id;
    DELETE FROM daily.alert WHERE ride_id = p_ride_id;
    DELETE FROM daily.ride WHERE ride_id = p_ride_id;
    DELETE FROM historical.alert WHERE ride_id = p_ride_id;
    DELETE FROM historical.ride WHERE ride_id = p_ride_id;
    RETURN 'deleted';
END $$;

-- Erased riders' rides go on under a tombstone of their own each (negative: the wire's user
-- ids are 0 or more), so the report still counts them as one rider.
CREATE SEQUENCE historical.tombstone_seq;

-- The right to be forgotten: the rider's rows go from both schemas with their name, title,
-- email, address, birth date and account details; their rides and alerts stay, under a
-- tombstone id, with gender and age at the ride cut to the lower bound of its band
-- (p_age_bands: the report's bands' lower bounds); pending alerts are not sent; dead letters
-- that carry them go. 'riding' while they have an open ride (its bike's checkpoint holds
-- them), 'unknown' for no such rider.
CREATE FUNCTION historical.erase_rider(p_user_id bigint, p_age_bands integer[]) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    tombstone bigint;
    traces text[];
BEGIN
    -- what a refused line of theirs would hold: email, name, postcode, birth date as the
    -- wire gives it (epoch milliseconds)
    SELECT array_agg(DISTINCT t) INTO traces FROM (
        SELECT unnest(ARRAY[email, first_name || ' ' || last_name, postcode,
                            (extract(epoch FROM date_of_birth::timestamp) * 1000)::bigint::text])
               AS t
        FROM daily.rider WHERE user_id = p_user_id
        UNION
        SELECT unnest(ARRAY[email, first_name || ' ' || last_name, postcode,
                            (extract(epoch FROM date_of_birth::timestamp) * 1000)::bigint::text])
        FROM historical.rider WHERE user_id = p_user_id) known;
    IF traces IS NULL THEN
        RETURN 'unknown';
    END IF;
    IF EXISTS (SELECT 1 FROM daily.ride WHERE user_id = p_user_id AND ended_at IS NULL) THEN
        RETURN 'riding';
    END IF;
    -- the slow part first, without holding up ingestion: refused lines that carry any of it,
    -- or their user id in a [SYSTEM] line's JSON (escaped or not: what separates the two is
    -- never a digit)
    DELETE FROM daily.dead_letter
    WHERE value IS NOT NULL
      AND (EXISTS (SELECT 1 FROM unnest(traces) t
                   WHERE position(convert_to(t, 'UTF8') IN value) > 0)
           OR encode(value, 'escape') ~ ('user_id[^0-9]{0,8}' || p_user_id || '(?![0-9])'));
    -- no [SYSTEM] line of theirs may be stored while they are erased: ingestion's upsert
    -- waits for this transaction, and then starts them afresh
    LOCK TABLE daily.rider IN SHARE ROW EXCLUSIVE MODE;
    -- a ride opened since the check above (its dead letters are gone, as asked)
    IF EXISTS (SELECT 1 FROM daily.ride WHERE user_id = p_user_id AND ended_at IS NULL) THEN
        RETURN 'riding';
    END IF;
    tombstone := -nextval('historical.tombstone_seq');
    UPDATE daily.alert SET status = 'failed', last_error = 'the rider was erased'
    WHERE user_id = p_user_id AND status = 'pending';
    UPDATE daily.alert SET user_id = tombstone WHERE user_id = p_user_id;
    UPDATE daily.ride
    SET user_id = tombstone,
        rider_age = (SELECT max(b) FROM unnest(p_age_bands) b WHERE b <= rider_age)
    WHERE user_id = p_user_id;
    UPDATE historical.ride
    SET user_id = tombstone,
        rider_age = (SELECT max(b) FROM unnest(p_age_bands) b WHERE b <= rider_age)
    WHERE user_id = p_user_id;
    UPDATE historical.alert SET user_id = tombstone
    WHERE ride_id IN (SELECT ride_id FROM historical.ride WHERE user_id = tombstone)
      AND user_id = p_user_id;
    DELETE FROM daily.rider WHERE user_id = p_user_id;
    DELETE FROM historical.rider WHERE user_id = p_user_id;
    RETURN 'erased';
END $$;

-- --- who may run which function ---------------------------------------------------------------

REVOKE ALL ON FUNCTION historical.ride_rider_age(bigint),
    historical.record_report_delivery(timestamptz, timestamptz, integer),
    historical.api_key_scopes(bytea),
    historical.record_audit(text, text, text, integer, text),
    historical.delete_ride(bigint),
    historical.erase_rider(bigint, integer[])
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION historical.ride_rider_age(bigint),
    historical.record_report_delivery(timestamptz, timestamptz, integer)
    TO deleton_reader;
GRANT EXECUTE ON FUNCTION historical.api_key_scopes(bytea),
    historical.record_audit(text, text, text, integer, text),
    historical.delete_ride(bigint),
    historical.erase_rider(bigint, integer[])
    TO deleton_api;

-- --- the API: its own reads, no longer the reader's -------------------------------------------

-- It deletes and audits only through the functions above and writes nothing directly. It
-- reads what its routes show, and riders' names (never their contact details: those come
-- from historical.rider_contact(), for keys with the personal scope).
REVOKE DELETE ON daily.reading, daily.alert, daily.ride, historical.alert, historical.ride
    FROM deleton_api;
REVOKE UPDATE (ride_id) ON daily.ride, historical.ride FROM deleton_api;
GRANT USAGE ON SCHEMA daily, historical TO deleton_api;
GRANT SELECT ON daily.ride, daily.reading, historical.ride, historical.ride_summary
    TO deleton_api;
GRANT SELECT (user_id, title, first_name, last_name, gender)
    ON daily.rider, historical.rider TO deleton_api;
GRANT SELECT (source, partition, next_position, updated_at)
    ON daily.source_position TO deleton_api;

-- Role membership, and the record of migrations, are the administrator's: the writer's own
-- login cannot apply this migration, and says so.
RESET ROLE;
GRANT SELECT ON public.deleton_migration TO deleton_api;  -- to check it is up to date
DO $$
BEGIN
    IF pg_has_role('deleton_api', 'deleton_reader', 'MEMBER') THEN
        BEGIN
            REVOKE deleton_reader FROM deleton_api;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE EXCEPTION 'migration 0008 takes deleton_api out of deleton_reader: run'
                            ' `deleton db init` as the administrator'
                USING ERRCODE = 'insufficient_privilege';
        END;
    END IF;
END $$;
