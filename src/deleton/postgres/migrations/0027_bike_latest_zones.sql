-- Each bike's newest ride carries, beside its running tally (0026), the seconds of its readings
-- in each heart-rate zone (core/training.py: zones of 220 - the rider's age at ride start),
-- kept by ingestion in the transaction that writes the readings. The live leaderboard, the
-- fleet and the bike screen then show a ride's effort points so far from its one row here,
-- instead of reading its readings (Issue 20, on Issue 19's incremental live state).
--
-- `zoned_readings` counts the readings whose zone was counted (with contact or not). The zones
-- are whole while it equals `readings`: a writer from before this migration adds to
-- `readings` and not here, and rows from before it hold readings with no zones counted; both
-- then differ, and the ride's zones are unknown (null) until its bike's next ride, while its
-- other tallies stand. A ride whose rider's age is unknown counts its readings here with no
-- zone: its zones are null to readers, who know the age.
--
-- Constant defaults rewrite nothing; no index is added, so the updates stay HOT. Needs no
-- administrator: daily's owner, the writer, owns the table and the trigger function.
ALTER TABLE daily.bike_latest
    ADD COLUMN hr_zone1_s     integer NOT NULL DEFAULT 0,
    ADD COLUMN hr_zone2_s     integer NOT NULL DEFAULT 0,
    ADD COLUMN hr_zone3_s     integer NOT NULL DEFAULT 0,
    ADD COLUMN hr_zone4_s     integer NOT NULL DEFAULT 0,
    ADD COLUMN hr_zone5_s     integer NOT NULL DEFAULT 0,
    ADD COLUMN zoned_readings integer NOT NULL DEFAULT 0;

-- 0026's, with the zones starting at zero too when a bike's newer ride replaces its row
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
        tally_whole = true, hr_zone1_s = 0, hr_zone2_s = 0, hr_zone3_s = 0, hr_zone4_s = 0,
        hr_zone5_s = 0, zoned_readings = 0, changed = pg_current_xact_id()
    WHERE (EXCLUDED.started_at, EXCLUDED.ride_id) > (b.started_at, b.ride_id);
    RETURN NULL;
END $$;
