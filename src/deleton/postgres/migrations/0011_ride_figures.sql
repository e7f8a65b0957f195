-- A ride's figures, defined once: daily.ride_figures. Compression stores what it returns in
-- historical.ride; the view's daily branch returns it as it is; the API reads a ride still in
-- daily through it with literal time bounds; the dashboard merges the sums and counts it
-- returns. Until now the same figures were written three times (the summary INSERT, this
-- view, and the dashboard's Python, which rebuilt sums as average times count).
--
-- The training figures (zone seconds, effort points, NP, VI, EF, decoupling) are here too,
-- to the last digit of core/training.py, whose docstring is the contract (a test compares
-- the two on the same rides, edges of a double included). To add a figure: compute it in
-- daily.ride_figures (a new column before last_at), add the column to historical.ride, and
-- restate the view with it at its end (a function's columns cannot change in place: DROP
-- FUNCTION ... CASCADE takes the view with it, and both are made again). Compression and the
-- API take the figures by name (postgres/figures.py, checked against this function).
--
-- PostgreSQL refuses a float8 result beyond a double's range where Python gives infinity or
-- 0: the fourth powers, their sum, Q / K and the decoupling are guarded so that each gives
-- what a double gives (null for a non-finite figure). Not guarded, as before this migration:
-- powers whose running sum passes ~1e308 W, or subnormal (below ~1e-307 W) sums divided by a
-- count; the wire format's powers are 0-~800 W.

-- The sums behind each average, so that figures over many rides are summed, never rebuilt
-- as an average times a count.
ALTER TABLE historical.ride
    ADD COLUMN heart_rate_sum  bigint,             -- over readings with sensor contact
    ADD COLUMN power_sum       double precision,
    ADD COLUMN rpm_sum         bigint,
    ADD COLUMN resistance_sum  bigint,
    -- the training figures (core/training.py); null for rides summarised before this
    -- migration, whose readings may be gone: never a guess
    ADD COLUMN seconds_in_hr_zone      integer[],
    ADD COLUMN effort_points           double precision,
    ADD COLUMN normalized_power_w      double precision,
    ADD COLUMN variability_index       double precision,
    ADD COLUMN efficiency_factor       double precision,
    ADD COLUMN aerobic_decoupling_pct  double precision;
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
-- The aerobic decoupling where it is beyond ±100 % and may be beyond a double: null then, as
-- core/training.py gives it, where PostgreSQL would refuse the overflow. Rare (the second
-- half's power per beat more than twice the first's), so the subtransaction costs nothing
-- on most rides; it makes the function (and what calls it) run without parallel workers.
CREATE FUNCTION daily.decoupling_pct(r1 double precision, r2 double precision)
RETURNS double precision LANGUAGE plpgsql IMMUTABLE PARALLEL UNSAFE AS $$
BEGIN
    RETURN (r1 - r2) / r1 * 100;
EXCEPTION WHEN numeric_value_out_of_range THEN
    RETURN NULL;
END
$$;

CREATE FUNCTION daily.ride_figures(p_rides bigint[], p_from timestamptz, p_to timestamptz)
RETURNS TABLE (
    ride_id                 bigint,
    duration_s              double precision,  -- start to end, or to the newest reading if open
    readings                integer,
    heart_rate_avg          double precision,
    heart_rate_min          integer,
    heart_rate_max          integer,
    power_avg               double precision,
    power_max               double precision,
    energy_kj               double precision,
    rpm_avg                 double precision,
    rpm_max                 integer,
    resistance_avg          double precision,
    resistance_max          integer,
    heart_rate_readings     integer,
    power_readings          integer,
    rpm_readings            integer,
    resistance_readings     integer,
    alerts                  integer,
    alerts_high             integer,
    alerts_low              integer,
    heart_rate_sum          bigint,
    power_sum               double precision,
    rpm_sum                 bigint,
    resistance_sum          bigint,
    -- the training figures of core/training.py, to its last digit (see there)
    seconds_in_hr_zone      integer[],         -- readings in zones 1 to 5; null without an age
    effort_points           double precision,
    normalized_power_w      double precision,
    variability_index       double precision,
    efficiency_factor       double precision,
    aerobic_decoupling_pct  double precision,
    last_at                 timestamptz        -- the newest reading counted
)
LANGUAGE sql STABLE AS $$
SELECT r.ride_id,
       extract(epoch FROM coalesce(r.ended_at, s.last_at, r.started_at) - r.started_at)::float8,
       coalesce(s.readings, 0)::int,
       s.heart_rate_sum::float8 / nullif(s.heart_rate_readings, 0),
       s.heart_rate_min,
       s.heart_rate_max,
       k.mean_power,
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
       CASE WHEN r.rider_age IS NOT NULL THEN
           ARRAY[coalesce(s.zone_1, 0), coalesce(s.zone_2, 0), coalesce(s.zone_3, 0),
                 coalesce(s.zone_4, 0), coalesce(s.zone_5, 0)]::int[] END,
       CASE WHEN r.rider_age IS NOT NULL THEN
           round(coalesce(s.zone_1 + 2 * s.zone_2 + 3 * s.zone_3 + 4 * s.zone_4 + 5 * s.zone_5,
                          0)::numeric / 60, 1)::float8 END,
       -- half away from zero through float8::numeric's 15 digits; never a non-finite figure
       CASE WHEN abs(k.np) < 'Infinity' THEN round(k.np::numeric, 1)::float8 END,
       CASE WHEN abs(k.np / nullif(k.mean_power, 0)) < 'Infinity' THEN
           round((k.np / nullif(k.mean_power, 0))::numeric, 3)::float8 END,
       CASE WHEN abs(k.np / k.mean_heart) < 'Infinity' THEN
           round((k.np / k.mean_heart)::numeric, 3)::float8 END,
       CASE WHEN abs(dc.pct) < 'Infinity' THEN round(dc.pct::numeric, 1)::float8 END,
       s.last_at
FROM daily.ride r
LEFT JOIN (
    SELECT t.ride_id,
           count(*) AS readings,
           count(*) FILTER (WHERE t.heart_rate > 0) AS heart_rate_readings,
           sum(t.heart_rate) FILTER (WHERE t.heart_rate > 0) AS heart_rate_sum,
           min(t.heart_rate) FILTER (WHERE t.heart_rate > 0) AS heart_rate_min,
           max(t.heart_rate) FILTER (WHERE t.heart_rate > 0) AS heart_rate_max,
           count(t.power) AS power_readings,
           max(t.power) AS power_max,
           count(t.rpm) AS rpm_readings, sum(t.rpm) AS rpm_sum, max(t.rpm) AS rpm_max,
           count(t.resistance) AS resistance_readings, sum(t.resistance) AS resistance_sum,
           max(t.resistance) AS resistance_max,
           max(t.at) AS last_at,
           -- power summed in reading order, the running sum at the last reading: S_N
           max(t.s) FILTER (WHERE t.n = t.total) AS power_sum,
           count(*) FILTER (WHERE t.zone = 1) AS zone_1,
           count(*) FILTER (WHERE t.zone = 2) AS zone_2,
           count(*) FILTER (WHERE t.zone = 3) AS zone_3,
           count(*) FILTER (WHERE t.zone = 4) AS zone_4,
           count(*) FILTER (WHERE t.zone = 5) AS zone_5,
           -- normalized power: K rolling means and Q, the running sum of their fourth powers
           -- at the last power (scaled by 2^-600 where a plain sum could overflow)
           count(t.fourth) AS windows,
           max(CASE WHEN NOT t.risky THEN t.q
                    WHEN t.q >= 2::float8 ^ 424 THEN 'Infinity'::float8
                    ELSE t.q * 2::float8 ^ 600 END)
               FILTER (WHERE t.power IS NOT NULL AND t.c = t.powers) AS fourth_sum,
           -- the decoupling's first half: the running sums after its last reading
           max(t.s) FILTER (WHERE t.n = t.total / 2) AS half_power_sum,
           max(t.c) FILTER (WHERE t.n = t.total / 2) AS half_powers,
           max(t.hs) FILTER (WHERE t.n = t.total / 2) AS half_heart_sum,
           max(t.hc) FILTER (WHERE t.n = t.total / 2) AS half_contact,
           max(t.hs) FILTER (WHERE t.n = t.total) AS heart_sum,
           max(t.hc) FILTER (WHERE t.n = t.total) AS contact,
           max(t.powers) AS powers
    FROM (
        -- Q as a running sum in reading order over the powers, from which the last is taken
        SELECT v.*,
               sum(CASE WHEN v.risky THEN
                       CASE WHEN v.fourth < 2::float8 ^ -400 THEN 0
                            ELSE v.fourth * 2::float8 ^ -600 END
                       ELSE v.fourth END) OVER p AS q
        FROM (
            SELECT u.*,
                   -- a plain running sum of these could overflow a double: scaled instead
                   coalesce(max(u.fourth) OVER pa
                                > 2::float8 ^ 1000 / nullif(count(u.fourth) OVER pa, 0),
                            false) AS risky
            FROM (
                -- (m·m)·(m·m) of each rolling mean m, as a double gives it: infinity past its
                -- range, 0 or its least value below it, never PostgreSQL's range error
                SELECT w.*,
                       CASE WHEN w.m IS NULL THEN NULL
                            WHEN w.m >= 2::float8 ^ 511 THEN 'Infinity'::float8
                            WHEN w.m < 2::float8 ^ -270 THEN 0::float8
                            WHEN w.m * w.m >= 2::float8 ^ 512 THEN 'Infinity'::float8
                            WHEN w.m * w.m < 2::float8 ^ -537 THEN
                                CASE WHEN (w.m * w.m * 2::float8 ^ 500)
                                          * (w.m * w.m * 2::float8 ^ 500) <= 2::float8 ^ -75
                                     THEN 0::float8 ELSE 2::float8 ^ -1074 END
                            ELSE (w.m * w.m) * (w.m * w.m) END AS fourth
                FROM (
                    -- m_i = (S_i - S_(i-30)) / 30 from the 30th power on (powers are never
                    -- negative: the wire format has no sign)
                    SELECT y.*,
                           CASE WHEN y.power IS NOT NULL AND y.c >= 30 THEN
                               (y.s - lag(y.s, 30, 0::float8) OVER p) / 30::float8 END AS m
                    FROM (
                        -- each reading in order: its number n of total, the running power
                        -- sum S and count c (a power's own index), contact sum and count
                        SELECT x.ride_id, x.at, x.heart_rate, x.power, x.rpm, x.resistance,
                               CASE WHEN x.heart_rate > 0 AND d.rider_age IS NOT NULL THEN
                                   CASE WHEN 100::bigint * x.heart_rate < 60 * (220 - d.rider_age) THEN 1
                                        WHEN 100::bigint * x.heart_rate < 70 * (220 - d.rider_age) THEN 2
                                        WHEN 100::bigint * x.heart_rate < 80 * (220 - d.rider_age) THEN 3
                                        WHEN 100::bigint * x.heart_rate < 90 * (220 - d.rider_age) THEN 4
                                        ELSE 5 END
                               END AS zone,
                               row_number() OVER o AS n,
                               count(*) OVER whole AS total,
                               count(x.power) OVER whole AS powers,
                               sum(x.power) OVER o AS s,
                               count(x.power) OVER o AS c,
                               sum(x.heart_rate) FILTER (WHERE x.heart_rate > 0) OVER o AS hs,
                               count(*) FILTER (WHERE x.heart_rate > 0) OVER o AS hc
                        FROM daily.reading x JOIN daily.ride d ON d.ride_id = x.ride_id
                        WHERE x.ride_id = ANY(p_rides) AND x.at >= p_from AND x.at <= p_to
                          AND d.ride_id = ANY(p_rides)
                        WINDOW o AS (PARTITION BY x.ride_id ORDER BY x.at ROWS UNBOUNDED PRECEDING),
                               whole AS (PARTITION BY x.ride_id ORDER BY x.at
                                         ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
                    ) y
                    WINDOW p AS (PARTITION BY y.ride_id, y.power IS NULL ORDER BY y.at)
                ) w
            ) u
            WINDOW pa AS (PARTITION BY u.ride_id, u.power IS NULL)
        ) v
        WINDOW p AS (PARTITION BY v.ride_id, v.power IS NULL ORDER BY v.at
                     ROWS UNBOUNDED PRECEDING)
    ) t
    GROUP BY t.ride_id
) s ON s.ride_id = r.ride_id
LEFT JOIN (
    SELECT al.ride_id,
           count(*) FILTER (WHERE al.kind = 'high') AS high,
           count(*) FILTER (WHERE al.kind = 'low') AS low
    FROM daily.alert al
    WHERE al.ride_id = ANY(p_rides)
    GROUP BY al.ride_id
) a ON a.ride_id = r.ride_id
CROSS JOIN LATERAL (
    SELECT s.power_sum / nullif(s.power_readings, 0) AS mean_power,
           s.heart_sum::float8 / nullif(s.contact, 0) AS mean_heart,
           -- NP = sqrt(sqrt(Q / K)): none under 30 powers; Q / K below a double's least
           -- value is 0, as a double gives it (PostgreSQL would refuse the underflow)
           CASE WHEN coalesce(s.windows, 0) = 0 THEN NULL
                WHEN s.fourth_sum >= 2::float8 ^ -900 THEN sqrt(sqrt(s.fourth_sum / s.windows))
                WHEN s.fourth_sum * 2::float8 ^ 100 <= s.windows * 2::float8 ^ -975 THEN 0::float8
                ELSE sqrt(sqrt(s.fourth_sum / s.windows)) END AS np,
           -- the halves' power and heart rate: P1, P2, H1, H2
           s.half_power_sum / nullif(s.half_powers, 0) AS p1,
           (s.power_sum - coalesce(s.half_power_sum, 0)) / nullif(s.powers - s.half_powers, 0) AS p2,
           s.half_heart_sum::float8 / nullif(s.half_contact, 0) AS h1,
           (s.heart_sum - coalesce(s.half_heart_sum, 0))::float8
               / nullif(s.contact - s.half_contact, 0) AS h2
) k
CROSS JOIN LATERAL (SELECT k.p1 / k.h1 AS r1, k.p2 / k.h2 AS r2) h
CROSS JOIN LATERAL (
    SELECT CASE WHEN h.r2 IS NULL OR h.r1 IS NULL OR h.r1 = 0 THEN NULL
                WHEN abs(h.r1 - h.r2) <= h.r1 THEN (h.r1 - h.r2) / h.r1 * 100
                ELSE daily.decoupling_pct(h.r1, h.r2) END AS pct
) dc
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
       h.heart_rate_sum, h.power_sum, h.rpm_sum, h.resistance_sum, h.seconds_in_hr_zone,
       h.effort_points, h.normalized_power_w, h.variability_index, h.efficiency_factor,
       h.aerobic_decoupling_pct
FROM historical.ride h
UNION ALL
SELECT r.ride_id, r.bike_serial, r.user_id, r.host, r.started_at, r.ended_at, f.duration_s,
       f.readings, f.heart_rate_avg, f.heart_rate_min, f.heart_rate_max, f.power_avg,
       f.power_max, f.energy_kj, f.rpm_avg, f.rpm_max, f.resistance_avg, f.resistance_max,
       f.heart_rate_readings, f.power_readings, f.rpm_readings, f.resistance_readings,
       f.alerts, f.alerts_high, f.alerts_low, false, r.rider_gender, r.rider_age,
       f.heart_rate_sum, f.power_sum, f.rpm_sum, f.resistance_sum, f.seconds_in_hr_zone,
       f.effort_points, f.normalized_power_w, f.variability_index, f.efficiency_factor,
       f.aerobic_decoupling_pct
FROM daily.ride r
CROSS JOIN LATERAL daily.ride_figures(
    ARRAY[r.ride_id],
    -- without the setting, no lower bound ('-infinity' as a timestamptz: an infinite
    -- interval needs PostgreSQL 17, and RDS may run 14 to 16)
    coalesce(r.started_at - nullif(current_setting('deleton.reading_window', true), '')::interval,
             '-infinity'),
    coalesce(r.ended_at, 'infinity')) f
WHERE r.summarised_at IS NULL;

-- Read with the caller's rights: each service that reads rides calls it. The API reads the
-- alerts' kinds to count them, and nothing else of an alert.
REVOKE ALL ON FUNCTION daily.ride_figures(bigint[], timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION daily.ride_figures(bigint[], timestamptz, timestamptz)
    TO deleton_reader, deleton_api;
REVOKE ALL ON FUNCTION daily.decoupling_pct(double precision, double precision) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION daily.decoupling_pct(double precision, double precision)
    TO deleton_reader, deleton_api;
GRANT SELECT (ride_id, kind) ON daily.alert TO deleton_api;
