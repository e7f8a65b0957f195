-- Least privilege inside the database. Three group roles (NOLOGIN); each service's own login
-- is made a member of one (`deleton db init` makes the logins when given their passwords):
--
--   deleton_writer  ingestion and compression. Owns both schemas and everything in them, as
--                   creating and dropping hourly partitions takes an owner; later migrations
--                   run as it.
--   deleton_reader  the dashboard and the report. Reads every table and view, but riders'
--                   email, street address and birth date; a rider's age at a ride comes from
--                   historical.ride_rider_age(ride_id), which tells no more than the pages
--                   show. Writes only the record of the report's own sends.
--   deleton_api     the REST API: a reader that may also delete a ride (its keyed DELETE)
--                   and read a rider's contact details and age today through
--                   historical.rider_contact() and historical.rider_age() (its keyed GET).
--
-- Roles belong to the whole server: several databases of one server share them, and two
-- may migrate at once, so each creation tolerates losing that race.
DO $$
DECLARE
    role text;
BEGIN
    FOREACH role IN ARRAY ARRAY['deleton_writer', 'deleton_reader', 'deleton_api'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = role) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', role);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;
            END;
        END IF;
    END LOOP;
END $$;

-- Whoever migrates (the server's administrator, on RDS the master user) must be able to act
-- as the writer to hand it what it owns. USAGE, not MEMBER: since PostgreSQL 16 a role's
-- creator without superuser is a member with ADMIN alone, which may not act as it.
DO $$
BEGIN
    IF NOT pg_has_role(current_user, 'deleton_writer', 'USAGE') THEN
        EXECUTE format('GRANT deleton_writer TO %I', current_user);
    END IF;
END $$;

-- The writer owns the schemas and every table, partition, view, sequence and function in them.
DO $$
DECLARE
    item record;
BEGIN
    ALTER SCHEMA daily OWNER TO deleton_writer;
    ALTER SCHEMA historical OWNER TO deleton_writer;
    FOR item IN
        SELECT c.oid::regclass AS name, c.relkind FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname IN ('daily', 'historical') AND c.relkind IN ('r', 'p', 'v', 'S')
          -- a serial's sequence follows its table
          AND (c.relkind <> 'S' OR NOT EXISTS (
              SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
              AND d.objid = c.oid AND d.deptype IN ('a', 'i')))
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO deleton_writer',
                       CASE item.relkind WHEN 'v' THEN 'VIEW' WHEN 'S' THEN 'SEQUENCE'
                                         ELSE 'TABLE' END, item.name);
    END LOOP;
    FOR item IN
        SELECT p.oid::regprocedure AS name FROM pg_proc p
        JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname IN ('daily', 'historical')
    LOOP
        EXECUTE format('ALTER FUNCTION %s OWNER TO deleton_writer', item.name);
    END LOOP;
END $$;
GRANT SELECT, INSERT ON public.deleton_migration TO deleton_writer;

-- Any writer's login may meet a new hour; the partition it makes must be the writer's, so
-- that compression, under another login, may later drop it.
ALTER FUNCTION daily.ensure_reading_partition(timestamptz)
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- The reader: everything, but the riders' personal columns.
GRANT USAGE ON SCHEMA daily, historical TO deleton_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA daily, historical TO deleton_reader;
REVOKE SELECT ON daily.rider, historical.rider FROM deleton_reader;
GRANT SELECT (user_id, title, first_name, last_name, gender, gender_as_given, height_cm,
              weight_kg, account_created, original_source, seen_at)
    ON daily.rider, historical.rider TO deleton_reader;
GRANT SELECT ON public.deleton_migration TO deleton_reader;
GRANT INSERT, UPDATE ON historical.report_delivery TO deleton_reader;

-- A rider's age in whole years at the start of one of their rides: the dashboard's and the
-- report's figure, without the birth date it comes from.
CREATE FUNCTION historical.ride_rider_age(p_ride_id bigint) RETURNS integer
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT date_part('year', age((r.started_at AT TIME ZONE 'UTC')::date, u.date_of_birth))::int
    FROM (SELECT started_at, user_id FROM daily.ride WHERE ride_id = p_ride_id
          UNION ALL
          SELECT started_at, user_id FROM historical.ride WHERE ride_id = p_ride_id
          LIMIT 1) r
    CROSS JOIN LATERAL (
        SELECT date_of_birth FROM daily.rider WHERE user_id = r.user_id
        UNION ALL
        SELECT date_of_birth FROM historical.rider WHERE user_id = r.user_id
        LIMIT 1) u
$$;

-- The API's keyed path: age on any day (from which a birth date follows) and contact details.
CREATE FUNCTION historical.rider_age(p_user_id bigint, p_on date) RETURNS integer
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT date_part('year', age(p_on, u.date_of_birth))::int
    FROM (SELECT date_of_birth FROM daily.rider WHERE user_id = p_user_id
          UNION ALL
          SELECT date_of_birth FROM historical.rider WHERE user_id = p_user_id
          LIMIT 1) u
$$;

CREATE FUNCTION historical.rider_contact(p_user_id bigint)
RETURNS TABLE (email text, house text, street text, city text, postcode text,
               date_of_birth date)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT email, house, street, city, postcode, date_of_birth FROM daily.rider
    WHERE user_id = p_user_id
    UNION ALL
    SELECT email, house, street, city, postcode, date_of_birth FROM historical.rider
    WHERE user_id = p_user_id
    LIMIT 1
$$;

REVOKE ALL ON FUNCTION historical.ride_rider_age(bigint), historical.rider_age(bigint, date),
    historical.rider_contact(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION historical.ride_rider_age(bigint) TO deleton_reader;
GRANT EXECUTE ON FUNCTION historical.rider_age(bigint, date), historical.rider_contact(bigint)
    TO deleton_api;
ALTER FUNCTION historical.ride_rider_age(bigint) OWNER TO deleton_writer;
ALTER FUNCTION historical.rider_age(bigint, date) OWNER TO deleton_writer;
ALTER FUNCTION historical.rider_contact(bigint) OWNER TO deleton_writer;

-- The API: a reader, that may delete a ride everywhere. Locking a row FOR UPDATE, as a delete
-- does to keep compression from summarising the ride back, takes UPDATE on some column.
GRANT deleton_reader TO deleton_api;
GRANT DELETE ON daily.reading, daily.alert, daily.ride, historical.alert, historical.ride
    TO deleton_api;
GRANT UPDATE (ride_id) ON daily.ride, historical.ride TO deleton_api;
