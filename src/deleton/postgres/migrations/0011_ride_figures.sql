-- A ride's figures, defined once: daily.ride_figures. Compression stores what it returns in
-- historical.ride; the view's daily branch returns it as it is; the API reads a ride still in
-- daily through it with literal time bounds; the dashboard merges the sums and counts it
-- returns. Until now the same figures were written three times (the summary INSERT, this
-- view, and the dashboard's Python, which rebuilt sums as average times count).
--
-- To add a figure (the Riders issue's zone seconds, effort points, NP, VI, EF, decoupling):
-- compute it in daily.ride_figures (a new column before last_at; per-reading order is there
-- for window functions, the ride's rider_age for zones), add the column to historical.ride,
-- and restate the view with it at its end (a function's columns cannot change in place:
-- DROP FUNCTION ... CASCADE takes the view with it, and both are made again). Compression
-- and the API take the figures by name (postgres/figures.py, checked against this function).

-- The sums behind each average, so that figures over many rides are summed, never rebuilt
-- as an average times a count.
ALTER TABLE historical.ride
    ADD COLUMN heart_rate_sum  bigint,             -- over readings with sensor contact
    ADD COLUMN power_sum       double precision,
    ADD COLUMN rpm_sum         bigint,
    ADD COLUMN resistance_sum  bigint;
-- Rides summarised before this migration may have lost their readings: their sums come from
-- what was kept, once, here (a product of an average and its count, exact to the last bit or
-- so; the integer ones are exact once rounded).
UPDATE historical.ride
SET heart_rate_sum = round(heart_rate_avg * heart_rate_readings)::bigint,
    power_sum = power_avg * power_readings,
    rpm_sum = round(rpm_avg * rpm_readings)::bigint,
    resistance_sum = round(resistance_avg * resistance_readings)::bigint;

-- The figures of rides p_rides (those of them in daily.ride) over their readings stamped from
-- p_from to p_to, both included: a row per ride, with no readings too (counts 0, the rest
-- null). A ride's own readings lie from its start less the reading window
-- (DELETON_READING_WINDOW, longer than the idle timeout: an earlier line would have ended the
-- ride) to its end (its last line): callers pass bounds that cover that for every ride they
-- ask about (a chunk of rides: from the earliest start less the window to the latest end),
-- or the part of a ride they want (readings after a mark: the dashboard merges those).
--
-- Plain SQL, STABLE, not STRICT, with neither SECURITY DEFINER nor SET: the planner inlines
-- it into the calling query, so that literal bounds prune daily.reading's partitions when the
-- query is planned and a caller's unused columns cost nothing. It reads with the caller's
-- rights. Averages are their sums over their counts; energy is the sum of power over
-- readings of a second each, in kJ; heart rate counts readings with sensor contact only
-- (0 bpm is none).
CREATE FUNCTION daily.ride_figures(p_rides bigint[], p_from timestamptz, p_to timestamptz)
RETURNS TABLE (
    ride_id              bigint,
    duration_s           double precision,  -- start to end, or to the newest reading if open
    readings             integer,
    heart_rate_avg       double precision,
    heart_rate_min       integer,
    heart_rate_max       integer,
    power_avg            double precision,
    power_max            double precision,
    energy_kj            double precision,
    rpm_avg              double precision,
    rpm_max              integer,
    resistance_avg       double precision,
    resistance_max       integer,
    heart_rate_readings  integer,
    power_readings       integer,
    rpm_readings         integer,
    resistance_readings  integer,
    alerts               integer,
    alerts_high          integer,
    alerts_low           integer,
    heart_rate_sum       bigint,
    power_sum            double precision,
    rpm_sum              bigint,
    resistance_sum       bigint,
    last_at              timestamptz        -- the newest reading counted
)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
SELECT r.ride_id,
       extract(epoch FROM coalesce(r.ended_at, s.last_at, r.started_at) - r.started_at)::float8,
       coalesce(s.readings, 0)::int,
       s.heart_rate_sum::float8 / nullif(s.heart_rate_readings, 0),
       s.heart_rate_min,
       s.heart_rate_max,
       s.power_sum / nullif(s.power_readings, 0),
       s.power_max,
       s.power_sum / 1000,
       s.rpm_sum::float8 / nullif(s.rpm_readings, 0),
       s.rpm_max,
       s.resistance_sum::float8 / nullif(s.resistance_readings, 0),
       s.resistance_max,
       coalesce(s.heart_rate_readings, 0)::int,
       coalesce(s.power_readings, 0)::int,
       coalesce(s.rpm_readings, 0)::int,
       coalesce(s.resistance_readings, 0)::int,
       coalesce(a.high + a.low, 0)::int,
       coalesce(a.high, 0)::int,
       coalesce(a.low, 0)::int,
       s.heart_rate_sum,
       s.power_sum,
       s.rpm_sum,
       s.resistance_sum,
       s.last_at
FROM daily.ride r
LEFT JOIN (
    SELECT x.ride_id,
           count(*) AS readings,
           count(*) FILTER (WHERE x.heart_rate > 0) AS heart_rate_readings,
           sum(x.heart_rate) FILTER (WHERE x.heart_rate > 0) AS heart_rate_sum,
           min(x.heart_rate) FILTER (WHERE x.heart_rate > 0) AS heart_rate_min,
           max(x.heart_rate) FILTER (WHERE x.heart_rate > 0) AS heart_rate_max,
           count(x.power) AS power_readings,
           sum(x.power ORDER BY x.at) AS power_sum,  -- in reading order: the same bits each time
           max(x.power) AS power_max,
           count(x.rpm) AS rpm_readings, sum(x.rpm) AS rpm_sum, max(x.rpm) AS rpm_max,
           count(x.resistance) AS resistance_readings, sum(x.resistance) AS resistance_sum,
           max(x.resistance) AS resistance_max,
           max(x.at) AS last_at
    FROM daily.reading x
    WHERE x.ride_id = ANY(p_rides) AND x.at >= p_from AND x.at <= p_to
    GROUP BY x.ride_id
) s ON s.ride_id = r.ride_id
LEFT JOIN (
    SELECT al.ride_id,
           count(*) FILTER (WHERE al.kind = 'high') AS high,
           count(*) FILTER (WHERE al.kind = 'low') AS low
    FROM daily.alert al
    WHERE al.ride_id = ANY(p_rides)
    GROUP BY al.ride_id
) a ON a.ride_id = r.ride_id
WHERE r.ride_id = ANY(p_rides)
$$;

-- Every ride, summarised, wherever it is kept (0003; restated by 0005 and 0008): the rides of
-- historical.ride as compression stored them, and the rides of daily not summarised yet
-- through daily.ride_figures, each over its own readings: from its start less the reading
-- window, which each Deleton connection sets as deleton.reading_window (DELETON_READING_WINDOW)
-- so that only the hours a ride lies in are probed. A session without it (psql, say) reads
-- each ride's readings from the first: the same figures, more slowly. The sums are new, at
-- the end.
CREATE OR REPLACE VIEW historical.ride_summary AS
SELECT h.ride_id, h.bike_serial, h.user_id, h.host, h.started_at, h.ended_at, h.duration_s,
       h.readings, h.heart_rate_avg, h.heart_rate_min, h.heart_rate_max, h.power_avg,
       h.power_max, h.energy_kj, h.rpm_avg, h.rpm_max, h.resistance_avg, h.resistance_max,
       h.heart_rate_readings, h.power_readings, h.rpm_readings, h.resistance_readings,
       h.alerts, h.alerts_high, h.alerts_low, true AS summarised, h.rider_gender, h.rider_age,
       h.heart_rate_sum, h.power_sum, h.rpm_sum, h.resistance_sum
FROM historical.ride h
UNION ALL
SELECT r.ride_id, r.bike_serial, r.user_id, r.host, r.started_at, r.ended_at, f.duration_s,
       f.readings, f.heart_rate_avg, f.heart_rate_min, f.heart_rate_max, f.power_avg,
       f.power_max, f.energy_kj, f.rpm_avg, f.rpm_max, f.resistance_avg, f.resistance_max,
       f.heart_rate_readings, f.power_readings, f.rpm_readings, f.resistance_readings,
       f.alerts, f.alerts_high, f.alerts_low, false, r.rider_gender, r.rider_age,
       f.heart_rate_sum, f.power_sum, f.rpm_sum, f.resistance_sum
FROM daily.ride r
CROSS JOIN LATERAL daily.ride_figures(
    ARRAY[r.ride_id],
    r.started_at - coalesce(nullif(current_setting('deleton.reading_window', true), '')::interval,
                            'infinity'),
    coalesce(r.ended_at, 'infinity')) f
WHERE r.summarised_at IS NULL;

-- Read with the caller's rights: each service that reads rides calls it. The API reads the
-- alerts' kinds to count them, and nothing else of an alert.
REVOKE ALL ON FUNCTION daily.ride_figures(bigint[], timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION daily.ride_figures(bigint[], timestamptz, timestamptz)
    TO deleton_reader, deleton_api;
GRANT SELECT (ride_id, kind) ON daily.alert TO deleton_api;
