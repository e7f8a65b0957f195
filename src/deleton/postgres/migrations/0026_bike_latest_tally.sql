-- Each bike's newest ride carries the running tally of its readings (the five sums and counts
-- the dashboard's recent rides read, and the newest reading counted), kept by ingestion in the
-- transaction that writes the readings, as it keeps the newest reading (0023). The recent
-- rides then read an open ride's tally from its one row here, instead of its readings since
-- the last look: at 50,000 riding, ten readings each since the last look, that read was half
-- a million rows every refresh (Issue 19: a refresh under 1 s).
--
-- The sums are daily.ride_sums' (0024) over every reading of the ride, added batch by batch
-- (postgres/store.py); power in another order, so equal to the last bits only. A row's tally
-- is whole when every reading of its ride went through that addition:
-- - `tally_whole` is false for the rows here before this migration (their readings were
--   never added; those rides are still counted from their readings, until they end), and a
--   ride opened from now on starts whole, at zero;
-- - a writer that stores readings without adding them moves `at` past `tallied_at`; the next
--   batch that adds finds the two apart and clears `tally_whole` for the rest of the ride.
--   (A reading at or before `at` stored that way is not seen: only a member of an older
--   version during a rolling upgrade writes so, and only for a bike whose clock went back or
--   a line the stream holds twice. A writer from before 0023 moves nothing, and is not seen
--   at all: upgrade through 0023's version, not past it, while members still run.)
-- Readers take a tally only where `tally_whole` and `tallied_at` is `at`.
--
-- Adding columns with constant defaults rewrites nothing; the table stays without an index on
-- anything but its keys, so these updates stay HOT. Needs no administrator: daily's owner,
-- the writer, owns the table and the trigger function.
ALTER TABLE daily.bike_latest
    ADD COLUMN readings            integer          NOT NULL DEFAULT 0,
    ADD COLUMN power_sum           double precision NOT NULL DEFAULT 0,
    ADD COLUMN power_readings      integer          NOT NULL DEFAULT 0,
    ADD COLUMN resistance_sum      bigint           NOT NULL DEFAULT 0,
    ADD COLUMN resistance_readings integer          NOT NULL DEFAULT 0,
    ADD COLUMN tallied_at          timestamptz,     -- the newest reading counted
    ADD COLUMN tally_whole         boolean          NOT NULL DEFAULT false;
ALTER TABLE daily.bike_latest ALTER COLUMN tally_whole SET DEFAULT true;

-- 0023's, with the tally starting whole at zero when a bike's newer ride replaces its row
CREATE OR REPLACE FUNCTION daily.bike_latest_opened() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO daily.bike_latest AS b (bike_serial, ride_id, started_at, ended_at)
    SELECT DISTINCT ON (bike_serial) bike_serial, ride_id, started_at, ended_at
    FROM opened ORDER BY bike_serial, started_at DESC, ride_id DESC
    ON CONFLICT (bike_serial) DO UPDATE
    SET ride_id = EXCLUDED.ride_id, started_at = EXCLUDED.started_at,
        ended_at = EXCLUDED.ended_at, at = NULL, duration = NULL, resistance = NULL,
        heart_rate = NULL, rpm = NULL, power = NULL, readings = 0, power_sum = 0,
        power_readings = 0, resistance_sum = 0, resistance_readings = 0, tallied_at = NULL,
        tally_whole = true, changed = pg_current_xact_id()
    WHERE (EXCLUDED.started_at, EXCLUDED.ride_id) > (b.started_at, b.ride_id);
    RETURN NULL;
END $$;
