-- Hourly reading partitions, created safely by members racing for the same hour; dead letters
-- with a bounded value; alerts that fail or expire say so.

-- Partitions become an hour wide, so that old detail can leave by dropping whole partitions
-- soon after it is due. Day partitions made before this migration stay as they are: an hour
-- they cover is never created again.
DROP FUNCTION daily.ensure_reading_partition(date);

CREATE FUNCTION daily.ensure_reading_partition(at timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    hour timestamp := date_trunc('hour', at AT TIME ZONE 'UTC');
    name text := 'reading_' || to_char(hour, 'YYYYMMDD_HH24');
    day_name text := 'reading_' || to_char(hour, 'YYYYMMDD');
BEGIN
    IF to_regclass(format('daily.%I', name)) IS NOT NULL
       OR to_regclass(format('daily.%I', day_name)) IS NOT NULL THEN
        RETURN;
    END IF;
    -- Two members may meet a new hour at once, and the check above cannot see a partition
    -- that another transaction has just committed (the catalog snapshot is not refreshed by
    -- an advisory lock), so the creation itself must tolerate losing the race.
    BEGIN
        EXECUTE format(
            'CREATE TABLE daily.%I PARTITION OF daily.reading FOR VALUES FROM (%L) TO (%L)',
            name, hour AT TIME ZONE 'UTC', (hour + interval '1 hour') AT TIME ZONE 'UTC');
    EXCEPTION WHEN duplicate_table OR unique_violation THEN
        NULL;  -- created a moment ago by someone else: what we wanted
    END;
END $$;

-- A dead letter keeps a bounded part of its value; its length and hash say what it was.
ALTER TABLE daily.dead_letter
    ADD COLUMN value_length integer,
    ADD COLUMN value_sha256 bytea;
UPDATE daily.dead_letter
SET value_length = length(value), value_sha256 = sha256(value)
WHERE value IS NOT NULL;

-- pending: to be sent; sent; failed: cannot be sent (last_error says why, without the
-- address); expired: too long after its reading to be worth sending.
ALTER TABLE daily.alert
    ADD COLUMN status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sent', 'failed', 'expired'));
UPDATE daily.alert SET status = 'sent' WHERE sent_at IS NOT NULL;
DROP INDEX daily.alert_unsent;
CREATE INDEX alert_pending ON daily.alert (next_attempt_at) WHERE status = 'pending';
