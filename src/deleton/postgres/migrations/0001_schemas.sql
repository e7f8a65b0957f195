-- Both schemas and every table that analysts and dashboards query by name.
-- daily: short-term detail, written by ingestion. historical: one summary row per ride.

CREATE SCHEMA daily;
CREATE SCHEMA historical;

CREATE TABLE daily.rider (
    user_id          bigint PRIMARY KEY,
    title            text,
    first_name       text NOT NULL,
    last_name        text NOT NULL,
    gender           text NOT NULL CHECK (gender IN ('male', 'female', 'other')),
    gender_as_given  text NOT NULL,
    date_of_birth    date NOT NULL,
    email            text NOT NULL,
    house            text NOT NULL,
    street           text NOT NULL,
    city             text NOT NULL,
    postcode         text NOT NULL,
    height_cm        integer NOT NULL,
    weight_kg        integer NOT NULL,
    account_created  date NOT NULL,
    original_source  text NOT NULL,
    -- time of the [SYSTEM] line this row was last taken from; older lines never overwrite it
    seen_at          timestamptz NOT NULL
);

CREATE SEQUENCE daily.ride_id_seq;

CREATE TABLE daily.ride (
    ride_id      bigint PRIMARY KEY DEFAULT nextval('daily.ride_id_seq'),
    bike_serial  text NOT NULL,       -- the message key; '' for the single unkeyed stream
    user_id      bigint,              -- null when the ride's [SYSTEM] line was never seen
    started_at   timestamptz NOT NULL,
    ended_at     timestamptz,         -- null while the ride is open
    host         text
);
ALTER SEQUENCE daily.ride_id_seq OWNED BY daily.ride.ride_id;
CREATE INDEX ride_bike_started ON daily.ride (bike_serial, started_at DESC);
CREATE INDEX ride_started ON daily.ride (started_at);
CREATE INDEX ride_user ON daily.ride (user_id);
CREATE INDEX ride_open ON daily.ride (bike_serial) WHERE ended_at IS NULL;

-- One row per Ride+Telemetry pair. Partitioned by day so old detail is dropped as a whole
-- partition; no foreign key, so that binary COPY runs at full speed.
CREATE TABLE daily.reading (
    ride_id     bigint NOT NULL,
    at          timestamptz NOT NULL,   -- time of the Ride line (of the Telemetry line if alone)
    duration    double precision,
    resistance  integer,
    heart_rate  integer,                -- 0: no sensor contact
    rpm         integer,
    power       double precision
) PARTITION BY RANGE (at);
CREATE INDEX reading_ride_at ON daily.reading (ride_id, at);

CREATE FUNCTION daily.ensure_reading_partition(day date) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    name text := format('reading_%s', to_char(day, 'YYYYMMDD'));
BEGIN
    IF to_regclass(format('daily.%I', name)) IS NOT NULL THEN
        RETURN;
    END IF;
    -- two ingest processes may meet the same new day at once
    PERFORM pg_advisory_xact_lock(hashtext('daily.reading partitions'));
    IF to_regclass(format('daily.%I', name)) IS NULL THEN
        EXECUTE format(
            'CREATE TABLE daily.%I PARTITION OF daily.reading FOR VALUES FROM (%L) TO (%L)',
            name, day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');
    END IF;
END $$;

CREATE TABLE daily.alert (
    alert_id          bigserial PRIMARY KEY,
    ride_id           bigint NOT NULL,
    user_id           bigint NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('high', 'low')),
    at                timestamptz NOT NULL,   -- time of the reading that fired it
    heart_rate        integer NOT NULL,
    heart_rate_limit  integer NOT NULL,
    recipient         text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    sent_at           timestamptz,            -- null until the email is accepted
    attempts          integer NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    last_error        text,
    UNIQUE (ride_id, kind)
);
CREATE INDEX alert_unsent ON daily.alert (alert_id) WHERE sent_at IS NULL;

CREATE TABLE daily.dead_letter (
    dead_letter_id  bigserial PRIMARY KEY,
    source          text NOT NULL,
    partition       integer NOT NULL,
    position        bigint NOT NULL,
    key             bytea,
    value           bytea,
    reason          text NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now()
);

-- Where each source partition resumes, and the per-bike state carried across that point,
-- written in the same transaction as the rows they account for.
CREATE TABLE daily.source_position (
    source         text NOT NULL,
    partition      integer NOT NULL,
    next_position  bigint,
    state          bytea,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, partition)
);

CREATE TABLE historical.rider (
    user_id          bigint PRIMARY KEY,
    title            text,
    first_name       text NOT NULL,
    last_name        text NOT NULL,
    gender           text NOT NULL CHECK (gender IN ('male', 'female', 'other')),
    gender_as_given  text NOT NULL,
    date_of_birth    date NOT NULL,
    email            text NOT NULL,
    house            text NOT NULL,
    street           text NOT NULL,
    city             text NOT NULL,
    postcode         text NOT NULL,
    height_cm        integer NOT NULL,
    weight_kg        integer NOT NULL,
    account_created  date NOT NULL,
    original_source  text NOT NULL,
    seen_at          timestamptz NOT NULL
);

-- One summary row per finished ride, with the same ride_id as in daily.ride.
CREATE TABLE historical.ride (
    ride_id              bigint PRIMARY KEY,
    bike_serial          text NOT NULL,
    user_id              bigint,
    started_at           timestamptz NOT NULL,
    ended_at             timestamptz NOT NULL,
    duration_s           double precision NOT NULL,
    readings             integer NOT NULL,
    heart_rate_avg       double precision,   -- over readings with sensor contact only
    heart_rate_max       integer,
    power_avg            double precision,
    power_max            double precision,
    energy_kj            double precision,
    resistance_avg       double precision,
    rpm_avg              double precision,
    alerts               integer NOT NULL DEFAULT 0
);
CREATE INDEX historical_ride_started ON historical.ride (started_at);
CREATE INDEX historical_ride_user ON historical.ride (user_id);
