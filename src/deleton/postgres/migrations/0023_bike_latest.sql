-- Each bike's newest ride and that ride's newest reading, kept in the transactions that write
-- them, so that the live fleet (the dashboard's fleet page, the API's /bikes) reads only what
-- changed since its last look instead of probing every open ride's readings every second.
--
-- `changed` is the id of the transaction that last changed the row. A reader that noted the
-- oldest transaction still running when it last read (pg_snapshot_xmin of that statement's
-- snapshot) finds everything committed since among the rows with `changed` at or above that
-- mark: a transaction it could not see then was either running (its id is at least the mark)
-- or had not begun. Some rows it saw are read again; none is missed.
--
-- No index on `changed` (nor on anything but the keys): a reading's update then changes no
-- indexed column and stays on its page (HOT, with the room fillfactor leaves), and a scan of
-- one row per bike costs less than keeping such an index at every flush.
--
-- Needs no administrator: it makes a table and functions in daily and grants SELECT on the
-- table, all of which the writer (daily's owner, as whom `schema.init` runs every migration
-- after 0006) may do; so ingestion's login applies it as it starts. Every name is
-- schema-qualified and the functions pin their search_path (no login resolves in public).
CREATE TABLE daily.bike_latest (
    bike_serial text PRIMARY KEY,
    ride_id     bigint NOT NULL UNIQUE REFERENCES daily.ride (ride_id) ON DELETE CASCADE,
    started_at  timestamptz NOT NULL,
    ended_at    timestamptz,
    -- the ride's newest reading (as in daily.reading); null before its first
    at          timestamptz,
    duration    double precision,
    resistance  integer,
    heart_rate  integer,
    rpm         integer,
    power       double precision,
    changed     xid8 NOT NULL DEFAULT pg_current_xact_id()
) WITH (fillfactor = 50);

-- Rides reach the table by triggers, so that whoever opens or closes a ride (ingestion, the
-- compression that closes a stale ride, a test or a benchmark) keeps it: a bike's newest ride
-- replaces the one before (by start, then id, as the fleet chose with DISTINCT ON), and its
-- reading starts empty.
CREATE FUNCTION daily.bike_latest_opened() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO daily.bike_latest AS b (bike_serial, ride_id, started_at, ended_at)
    SELECT DISTINCT ON (bike_serial) bike_serial, ride_id, started_at, ended_at
    FROM opened ORDER BY bike_serial, started_at DESC, ride_id DESC
    ON CONFLICT (bike_serial) DO UPDATE
    SET ride_id = EXCLUDED.ride_id, started_at = EXCLUDED.started_at,
        ended_at = EXCLUDED.ended_at, at = NULL, duration = NULL, resistance = NULL,
        heart_rate = NULL, rpm = NULL, power = NULL, changed = pg_current_xact_id()
    WHERE (EXCLUDED.started_at, EXCLUDED.ride_id) > (b.started_at, b.ride_id);
    RETURN NULL;
END $$;

CREATE FUNCTION daily.bike_latest_ended() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE daily.bike_latest b SET ended_at = e.ended_at, changed = pg_current_xact_id()
    FROM ended e
    WHERE b.ride_id = e.ride_id AND b.ended_at IS DISTINCT FROM e.ended_at;
    RETURN NULL;
END $$;

CREATE TRIGGER bike_latest_opened AFTER INSERT ON daily.ride
    REFERENCING NEW TABLE AS opened FOR EACH STATEMENT
    EXECUTE FUNCTION daily.bike_latest_opened();
-- (a trigger with a transition table takes no column list: every update fires it, and it
-- changes only rows whose end did change)
CREATE TRIGGER bike_latest_ended AFTER UPDATE ON daily.ride
    REFERENCING NEW TABLE AS ended FOR EACH STATEMENT
    EXECUTE FUNCTION daily.bike_latest_ended();

REVOKE ALL ON FUNCTION daily.bike_latest_opened(), daily.bike_latest_ended() FROM PUBLIC;

-- The rides open now, as they stand.
INSERT INTO daily.bike_latest (bike_serial, ride_id, started_at, ended_at)
SELECT DISTINCT ON (bike_serial) bike_serial, ride_id, started_at, ended_at
FROM daily.ride ORDER BY bike_serial, started_at DESC, ride_id DESC;

-- Readings are not a trigger's: a transition table on the partitioned daily.reading would
-- make ingestion's COPY insert row by row. Ingestion updates the newest reading of each ride
-- of a batch in the batch's own transaction (postgres/store.py); here, the readings already
-- stored.
UPDATE daily.bike_latest b
SET at = x.at, duration = x.duration, resistance = x.resistance, heart_rate = x.heart_rate,
    rpm = x.rpm, power = x.power
FROM daily.bike_latest l
CROSS JOIN LATERAL (
    SELECT at, duration, resistance, heart_rate, rpm, power FROM daily.reading r
    WHERE r.ride_id = l.ride_id
    ORDER BY r.at DESC LIMIT 1
) x
WHERE b.bike_serial = l.bike_serial;

-- Heart rate is health data: the logins that read readings read this, no other.
GRANT SELECT ON daily.bike_latest TO deleton_reader, deleton_api;
