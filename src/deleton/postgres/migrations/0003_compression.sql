-- Compression: every finished ride summarised into historical.ride, its alerts kept in
-- historical.alert; one view over both schemas for the report and the API; what retention and
-- the fencing of ingestion's checkpoints need.

-- The figures the summary lacked, and the counts behind each average, so that averages over
-- many rides can be weighted exactly (a ride's half readings have no power, say).
ALTER TABLE historical.ride
    ADD COLUMN host                 text,
    ADD COLUMN heart_rate_min       integer,
    ADD COLUMN rpm_max              integer,
    ADD COLUMN resistance_max       integer,
    ADD COLUMN heart_rate_readings  integer NOT NULL DEFAULT 0,  -- with sensor contact (> 0)
    ADD COLUMN power_readings       integer NOT NULL DEFAULT 0,
    ADD COLUMN rpm_readings         integer NOT NULL DEFAULT 0,
    ADD COLUMN resistance_readings  integer NOT NULL DEFAULT 0,
    ADD COLUMN alerts_high          integer NOT NULL DEFAULT 0,
    ADD COLUMN alerts_low           integer NOT NULL DEFAULT 0,
    ADD COLUMN summarised_at        timestamptz NOT NULL DEFAULT now();
CREATE INDEX historical_ride_bike_started ON historical.ride (bike_serial, started_at DESC);

-- Alerts leave daily with their ride; the recipient stays with the rider, not here.
CREATE TABLE historical.alert (
    alert_id          bigint PRIMARY KEY,
    ride_id           bigint NOT NULL,
    user_id           bigint NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('high', 'low')),
    at                timestamptz NOT NULL,
    heart_rate        integer NOT NULL,
    heart_rate_limit  integer NOT NULL,
    status            text NOT NULL,
    sent_at           timestamptz
);
CREATE INDEX historical_alert_ride ON historical.alert (ride_id);

-- When a ride's summary was committed: detail leaves daily only after it.
ALTER TABLE daily.ride ADD COLUMN summarised_at timestamptz;
CREATE INDEX ride_unsummarised ON daily.ride (ended_at) WHERE summarised_at IS NULL;
CREATE INDEX ride_summarised_ended ON daily.ride (ended_at) WHERE summarised_at IS NOT NULL;

-- Compression may take a ride out of an ingest member's checkpoint (an open ride gone stale
-- while ingestion was away); it then bumps the version, and the member's next write, which
-- expects the version it read, is fenced and reloads.
ALTER TABLE daily.source_position ADD COLUMN version bigint NOT NULL DEFAULT 0;

-- Every ride, summarised, wherever it is kept: historical.ride, and the rides of daily not
-- summarised yet (open, or ended since the last compression), computed on the fly. The report
-- and the API read rides here and never need to know which schema holds one.
CREATE VIEW historical.ride_summary AS
SELECT h.ride_id, h.bike_serial, h.user_id, h.host, h.started_at, h.ended_at, h.duration_s,
       h.readings, h.heart_rate_avg, h.heart_rate_min, h.heart_rate_max, h.power_avg,
       h.power_max, h.energy_kj, h.rpm_avg, h.rpm_max, h.resistance_avg, h.resistance_max,
       h.heart_rate_readings, h.power_readings, h.rpm_readings, h.resistance_readings,
       h.alerts, h.alerts_high, h.alerts_low, true AS summarised
FROM historical.ride h
UNION ALL
SELECT r.ride_id, r.bike_serial, r.user_id, r.host, r.started_at, r.ended_at,
       extract(epoch FROM coalesce(r.ended_at, s.last_at, r.started_at) - r.started_at)::float8,
       s.readings::int, s.heart_rate_avg, s.heart_rate_min, s.heart_rate_max, s.power_avg,
       s.power_max, s.energy_kj, s.rpm_avg, s.rpm_max, s.resistance_avg, s.resistance_max,
       s.heart_rate_readings::int, s.power_readings::int, s.rpm_readings::int,
       s.resistance_readings::int,
       (a.high + a.low)::int, a.high::int, a.low::int, false
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
) s
CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE al.kind = 'high') AS high,
           count(*) FILTER (WHERE al.kind = 'low') AS low
    FROM daily.alert al WHERE al.ride_id = r.ride_id
) a
WHERE r.summarised_at IS NULL;
