-- daily.ride_figures (0011) with two window levels instead of five, and the same figures to
-- the last digit (tests/integration/api/test_figures.py compares them with core/training.py).
-- 0011 sorted a chunk's readings by (ride, time), then three times more within each ride (by
-- whether a reading has a power, then by time), under five window levels, two of which held
-- each ride's readings back for a whole-ride figure; and it called a plpgsql helper whose
-- exception handler made the function PARALLEL UNSAFE. Here:
--
-- 1. One sort by (ride, time) feeds every running figure: the reading's number n, the running
--    power sum S and count c, the contact sum and count. The ride's totals (readings, powers)
--    are counted apart and joined, rather than by a window over the whole ride.
-- 2. The rolling mean needs S 30 powers back: S where c was 30 less, over a window ordered by
--    c (a RANGE frame ending 30 before the current c); the input is in ride order already, so
--    this sort only sorts within each ride.
-- 3. One aggregation takes everything else with FILTER clauses. Q, the sum of the fourth
--    powers in reading order, is summed there ordered by c (the order the input arrives in,
--    so no sort), both plainly and scaled by 2^-600: the plain sum is kept unless a fourth
--    power exceeds 2^1000 / K (0011's "risky" test, which needed a window of its own), and
--    clips what it would not keep, so that it never overflows where the scaled one is used.
-- 4. The decoupling's rare overflow (0011's daily.decoupling_pct) is decided exactly by a
--    CASE, so the function is PARALLEL SAFE and a read through it may use parallel workers.
--
-- Measured on a day of 2,000-ride chunks (1M readings each), alone on the machine: 0011 2.25 s,
-- this 1.85 s, the sums alone 0.25 s a chunk (the two sorts and two window levels are most
-- of the rest). The column list is 0011's: CREATE OR REPLACE keeps the view and every caller.

CREATE OR REPLACE FUNCTION daily.ride_figures(p_rides bigint[], p_from timestamptz,
                                              p_to timestamptz)
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
LANGUAGE sql STABLE PARALLEL SAFE AS $$
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
           max(t.s) FILTER (WHERE t.last) AS power_sum,
           count(*) FILTER (WHERE t.zone = 1) AS zone_1,
           count(*) FILTER (WHERE t.zone = 2) AS zone_2,
           count(*) FILTER (WHERE t.zone = 3) AS zone_3,
           count(*) FILTER (WHERE t.zone = 4) AS zone_4,
           count(*) FILTER (WHERE t.zone = 5) AS zone_5,
           -- normalized power: K rolling means, and Q, the sum of their fourth powers in
           -- reading order (c orders the powers as time does): plain, unless a fourth power
           -- exceeds 2^1000 / K and the plain sum could overflow; then scaled by 2^-600
           count(t.fourth) AS windows,
           coalesce(max(t.fourth) > 2::float8 ^ 1000 / nullif(count(t.fourth), 0), false)
               AS risky,
           sum(CASE WHEN t.fourth > 2::float8 ^ 1000 / nullif(t.powers - 29, 0) THEN 0::float8
                    ELSE t.fourth END ORDER BY t.c) AS plain_q,
           sum(CASE WHEN t.fourth < 2::float8 ^ -400 THEN 0::float8
                    ELSE t.fourth * 2::float8 ^ -600 END ORDER BY t.c) AS scaled_q,
           -- the decoupling's first half: the running sums after its last reading
           max(t.s) FILTER (WHERE t.half) AS half_power_sum,
           max(t.c) FILTER (WHERE t.half) AS half_powers,
           max(t.hs) FILTER (WHERE t.half) AS half_heart_sum,
           max(t.hc) FILTER (WHERE t.half) AS half_contact,
           max(t.powers) AS powers
    FROM (
        -- (m·m)·(m·m) of each rolling mean m, as a double gives it: infinity past its range,
        -- 0 or its least value below it, never PostgreSQL's range error
        SELECT w.*, w.n = w.total / 2 AS half, w.n = w.total AS last,
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
            -- m_i = (S_i - S_(i-30)) / 30 from the 30th power on (powers are never negative:
            -- the wire format has no sign). S_(i-30) is S where c was c_i - 30: every
            -- reading from that power to the next has it (none before the first power: 0).
            SELECT y.*,
                   CASE WHEN y.power IS NOT NULL AND y.c >= 30 THEN
                       (y.s - coalesce(last_value(y.s) OVER back, 0::float8)) / 30::float8
                   END AS m
            FROM (
                -- each reading in order: its number n of total, the running power sum S and
                -- count c (a power's own index), contact sum and count
                SELECT x.ride_id, x.at, x.heart_rate, x.power, x.rpm, x.resistance,
                       CASE WHEN x.heart_rate > 0 AND d.rider_age IS NOT NULL THEN
                           CASE WHEN 100::bigint * x.heart_rate < 60 * (220 - d.rider_age) THEN 1
                                WHEN 100::bigint * x.heart_rate < 70 * (220 - d.rider_age) THEN 2
                                WHEN 100::bigint * x.heart_rate < 80 * (220 - d.rider_age) THEN 3
                                WHEN 100::bigint * x.heart_rate < 90 * (220 - d.rider_age) THEN 4
                                ELSE 5 END
                       END AS zone,
                       row_number() OVER o AS n,
                       e.total, e.powers,
                       sum(x.power) OVER o AS s,
                       count(x.power) OVER o AS c,
                       sum(x.heart_rate) FILTER (WHERE x.heart_rate > 0) OVER o AS hs,
                       count(*) FILTER (WHERE x.heart_rate > 0) OVER o AS hc
                FROM daily.reading x JOIN daily.ride d ON d.ride_id = x.ride_id
                -- the ride's totals, counted apart: cheaper than a window over the whole ride
                -- (which holds each ride's readings back), and a parallel plan where allowed
                JOIN (SELECT z.ride_id, count(*) AS total, count(z.power) AS powers
                      FROM daily.reading z
                      WHERE z.ride_id = ANY(p_rides) AND z.at >= p_from AND z.at <= p_to
                      GROUP BY z.ride_id) e ON e.ride_id = x.ride_id
                WHERE x.ride_id = ANY(p_rides) AND x.at >= p_from AND x.at <= p_to
                  AND d.ride_id = ANY(p_rides)
                WINDOW o AS (PARTITION BY x.ride_id ORDER BY x.at ROWS UNBOUNDED PRECEDING)
            ) y
            WINDOW back AS (PARTITION BY y.ride_id ORDER BY y.c
                            RANGE BETWEEN UNBOUNDED PRECEDING AND 30 PRECEDING)
        ) w
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
           -- the contact readings' sum and count over the whole ride: the heart rate's own
           s.heart_rate_sum::float8 / nullif(s.heart_rate_readings, 0) AS mean_heart,
           -- NP = sqrt(sqrt(Q / K)): none under 30 powers; Q / K below a double's least
           -- value is 0, as a double gives it (PostgreSQL would refuse the underflow)
           CASE WHEN coalesce(s.windows, 0) = 0 THEN NULL
                WHEN q.fourth_sum >= 2::float8 ^ -900 THEN sqrt(sqrt(q.fourth_sum / s.windows))
                WHEN q.fourth_sum * 2::float8 ^ 100 <= s.windows * 2::float8 ^ -975 THEN 0::float8
                ELSE sqrt(sqrt(q.fourth_sum / s.windows)) END AS np,
           -- the halves' power and heart rate: P1, P2, H1, H2
           s.half_power_sum / nullif(s.half_powers, 0) AS p1,
           (s.power_sum - coalesce(s.half_power_sum, 0)) / nullif(s.powers - s.half_powers, 0) AS p2,
           s.half_heart_sum::float8 / nullif(s.half_contact, 0) AS h1,
           (s.heart_rate_sum - coalesce(s.half_heart_sum, 0))::float8
               / nullif(s.heart_rate_readings - s.half_contact, 0) AS h2
    FROM (SELECT CASE WHEN NOT s.risky THEN s.plain_q
                      WHEN s.scaled_q >= 2::float8 ^ 424 THEN 'Infinity'::float8
                      ELSE s.scaled_q * 2::float8 ^ 600 END AS fourth_sum) q
) k
CROSS JOIN LATERAL (SELECT k.p1 / k.h1 AS r1, k.p2 / k.h2 AS r2) h
CROSS JOIN LATERAL (
    -- beyond ±100 %, (r1 - r2) / r1 * 100 may be beyond a double: null then, as Python gives
    -- it, where PostgreSQL would refuse the overflow. Under e^700 the quotient times 100
    -- cannot overflow; over e^750 it does; between, the quotient scaled by 2^-200 is exact
    -- (a normal double) and so is its product with 100: it overflows unscaled exactly when
    -- it reaches 2^824 scaled. The logarithms only sort the cases, with a wide margin.
    SELECT CASE WHEN h.r2 IS NULL OR h.r1 IS NULL OR h.r1 = 0 THEN NULL
                WHEN abs(h.r1 - h.r2) <= h.r1 THEN (h.r1 - h.r2) / h.r1 * 100
                WHEN ln(abs(h.r1 - h.r2)) - ln(abs(h.r1)) < 700 THEN (h.r1 - h.r2) / h.r1 * 100
                WHEN ln(abs(h.r1 - h.r2)) - ln(abs(h.r1)) > 750 THEN NULL
                WHEN abs((h.r1 - h.r2) / (h.r1 * 2::float8 ^ 200) * 100) >= 2::float8 ^ 824
                    THEN NULL
                ELSE (h.r1 - h.r2) / h.r1 * 100 END AS pct
) dc
WHERE r.ride_id = ANY(p_rides)
$$;

-- No caller is left.
DROP FUNCTION daily.decoupling_pct(double precision, double precision);
