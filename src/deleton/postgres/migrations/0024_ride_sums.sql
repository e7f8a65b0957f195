-- A ride's sums and counts get one definition, daily.ride_sums, which daily.ride_figures
-- (0022) now reads them from and the dashboard's recent rides call too. Issue 19's recent
-- rides (6cbecdb) had taken them in a query of their own, each ride from a point of its own
-- (what it has not tallied yet), because ride_figures takes one lower bound for all its rides
-- and computes every training figure besides: a second definition of the same sums, held
-- equal only by a test. ride_sums takes each ride's own first instant; ride_figures passes
-- p_from for every ride. Everything else of ride_figures is 0022's, to the character.
--
-- ride_sums is plain SQL, STABLE, one SELECT: PostgreSQL inlines it into ride_figures, and
-- ride_figures into its caller, so literal bounds still prune the hourly partitions at plan
-- time, and the aggregates a caller does not select (the dashboard's tally reads five) are
-- never computed. Measured by benchmarks/compress_split.py (see its result file).
--
-- Needs no administrator: it makes and replaces functions the writer owns in daily and grants
-- EXECUTE as 0011 did, all of which daily's owner may do. Read with the caller's rights (no
-- definer): a login that may not read daily.reading gets nothing from it.

CREATE FUNCTION daily.ride_sums(p_rides bigint[], p_firsts timestamptz[], p_from timestamptz,
                                p_to timestamptz)
RETURNS TABLE (
    ride_id             bigint,
    readings            bigint,
    heart_rate_readings bigint,            -- readings with contact (heart rate above 0)
    heart_rate_sum      bigint,
    heart_rate_min      integer,
    heart_rate_max      integer,
    power_readings      bigint,
    power_sum           double precision,  -- in no order: ride_figures' energy sums in time's
    power_max           double precision,
    rpm_readings        bigint,
    rpm_sum             bigint,
    rpm_max             integer,
    resistance_readings bigint,
    resistance_sum      bigint,
    resistance_max      integer,
    last_at             timestamptz        -- the newest reading counted
)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
-- each ride's readings from its own first instant (p_firsts[i] for p_rides[i]) within
-- [p_from, p_to]; a ride named twice counts once, from the earlier of its instants
SELECT x.ride_id,
       count(*),
       count(*) FILTER (WHERE x.heart_rate > 0),
       sum(x.heart_rate) FILTER (WHERE x.heart_rate > 0),
       min(x.heart_rate) FILTER (WHERE x.heart_rate > 0),
       max(x.heart_rate) FILTER (WHERE x.heart_rate > 0),
       count(x.power), sum(x.power), max(x.power),
       count(x.rpm), sum(x.rpm), max(x.rpm),
       count(x.resistance), sum(x.resistance), max(x.resistance),
       max(x.at)
FROM (SELECT u.ride_id, min(u.first) AS first
      FROM unnest(p_rides, p_firsts) AS u(ride_id, first) GROUP BY u.ride_id) m
JOIN daily.reading x ON x.ride_id = m.ride_id AND x.at >= m.first
WHERE x.at >= p_from AND x.at <= p_to
GROUP BY x.ride_id
$$;

REVOKE ALL ON FUNCTION daily.ride_sums(bigint[], timestamptz[], timestamptz, timestamptz)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION daily.ride_sums(bigint[], timestamptz[], timestamptz, timestamptz)
    TO deleton_reader, deleton_api;

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
WITH s AS (
    -- the sums, counts and extremes, which need no order: daily.ride_sums, each ride from
    -- p_from
    SELECT * FROM daily.ride_sums(p_rides, array_fill(p_from, ARRAY[cardinality(p_rides)]),
                                  p_from, p_to)
)
SELECT r.ride_id,
       extract(epoch FROM coalesce(r.ended_at, s.last_at, r.started_at) - r.started_at)::float8,
       coalesce(s.readings, 0)::int,
       s.heart_rate_sum::float8 / nullif(s.heart_rate_readings, 0),
       s.heart_rate_min,
       s.heart_rate_max,
       k.mean_power,
       s.power_max,
       g.power_sum / 1000,
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
       g.power_sum,
       s.rpm_sum,
       s.resistance_sum,
       CASE WHEN r.rider_age IS NOT NULL THEN
           ARRAY[coalesce(g.zone_1, 0), coalesce(g.zone_2, 0), coalesce(g.zone_3, 0),
                 coalesce(g.zone_4, 0), coalesce(g.zone_5, 0)]::int[] END,
       CASE WHEN r.rider_age IS NOT NULL THEN
           round(coalesce(g.zone_1 + 2 * g.zone_2 + 3 * g.zone_3 + 4 * g.zone_4 + 5 * g.zone_5,
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
LEFT JOIN s ON s.ride_id = r.ride_id
LEFT JOIN (
    -- the figures that need reading order, over as few columns as carry them
    SELECT t.ride_id,
           -- power summed in reading order, the running sum at the last reading: S_N
           max(t.s) FILTER (WHERE t.n = t.readings) AS power_sum,
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
           sum(CASE WHEN t.fourth > 2::float8 ^ 1000 / nullif(t.c - 29, 0) THEN 0::float8
                    ELSE t.fourth END ORDER BY t.c) AS plain_q,
           sum(CASE WHEN t.fourth < 2::float8 ^ -400 THEN 0::float8
                    ELSE t.fourth * 2::float8 ^ -600 END ORDER BY t.c) AS scaled_q,
           -- the decoupling's first half: the running sums after its last reading, and its
           -- contact readings' sum and count
           max(t.s) FILTER (WHERE t.n = t.readings / 2) AS half_power_sum,
           max(t.c) FILTER (WHERE t.n = t.readings / 2) AS half_powers,
           sum(t.heart_rate) FILTER (WHERE t.heart_rate > 0 AND t.n <= t.readings / 2)
               AS half_heart_sum,
           count(*) FILTER (WHERE t.heart_rate > 0 AND t.n <= t.readings / 2) AS half_contact
    FROM (
        -- (m·m)·(m·m) of each rolling mean m, as a double gives it: infinity past its range,
        -- 0 or its least value below it, never PostgreSQL's range error
        SELECT w.ride_id, w.zone, w.n, w.readings, w.heart_rate, w.s, w.c,
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
                -- each reading in order: its number n, the running power sum S and count c
                -- (a power's own index), its zone. Partitioned by ride_id + 0: see the header
                SELECT x.ride_id + 0 AS ride_id, x.power, x.heart_rate, e.readings,
                       CASE WHEN x.heart_rate > 0 AND e.rider_age IS NOT NULL THEN
                           CASE WHEN 100::bigint * x.heart_rate < 60 * (220 - e.rider_age) THEN 1
                                WHEN 100::bigint * x.heart_rate < 70 * (220 - e.rider_age) THEN 2
                                WHEN 100::bigint * x.heart_rate < 80 * (220 - e.rider_age) THEN 3
                                WHEN 100::bigint * x.heart_rate < 90 * (220 - e.rider_age) THEN 4
                                ELSE 5 END
                       END AS zone,
                       row_number() OVER o AS n,
                       sum(x.power) OVER o AS s,
                       count(x.power) OVER o AS c
                FROM daily.reading x
                -- the ride's totals (from the sums) and its rider's age, joined once
                JOIN (SELECT s.ride_id, s.readings, d.rider_age
                      FROM s JOIN daily.ride d ON d.ride_id = s.ride_id
                      WHERE d.ride_id = ANY(p_rides)) e
                     ON e.ride_id = x.ride_id
                WHERE x.ride_id = ANY(p_rides) AND x.at >= p_from AND x.at <= p_to
                WINDOW o AS (PARTITION BY x.ride_id + 0 ORDER BY x.at ROWS UNBOUNDED PRECEDING)
            ) y
            WINDOW back AS (PARTITION BY y.ride_id ORDER BY y.c
                            RANGE BETWEEN UNBOUNDED PRECEDING AND 30 PRECEDING)
        ) w
    ) t
    GROUP BY t.ride_id
) g ON g.ride_id = r.ride_id
LEFT JOIN (
    SELECT al.ride_id,
           count(*) FILTER (WHERE al.kind = 'high') AS high,
           count(*) FILTER (WHERE al.kind = 'low') AS low
    FROM daily.alert al
    WHERE al.ride_id = ANY(p_rides)
    GROUP BY al.ride_id
) a ON a.ride_id = r.ride_id
CROSS JOIN LATERAL (
    SELECT g.power_sum / nullif(s.power_readings, 0) AS mean_power,
           -- the contact readings' sum and count over the whole ride: the heart rate's own
           s.heart_rate_sum::float8 / nullif(s.heart_rate_readings, 0) AS mean_heart,
           -- NP = sqrt(sqrt(Q / K)): none under 30 powers; Q / K below a double's least
           -- value is 0, as a double gives it (PostgreSQL would refuse the underflow)
           CASE WHEN coalesce(g.windows, 0) = 0 THEN NULL
                WHEN q.fourth_sum >= 2::float8 ^ -900 THEN sqrt(sqrt(q.fourth_sum / g.windows))
                WHEN q.fourth_sum * 2::float8 ^ 100 <= g.windows * 2::float8 ^ -975 THEN 0::float8
                ELSE sqrt(sqrt(q.fourth_sum / g.windows)) END AS np,
           -- the halves' power and heart rate: P1, P2, H1, H2
           g.half_power_sum / nullif(g.half_powers, 0) AS p1,
           (g.power_sum - coalesce(g.half_power_sum, 0))
               / nullif(s.power_readings - g.half_powers, 0) AS p2,
           g.half_heart_sum::float8 / nullif(g.half_contact, 0) AS h1,
           (s.heart_rate_sum - coalesce(g.half_heart_sum, 0))::float8
               / nullif(s.heart_rate_readings - g.half_contact, 0) AS h2
    FROM (SELECT CASE WHEN NOT g.risky THEN g.plain_q
                      WHEN g.scaled_q >= 2::float8 ^ 424 THEN 'Infinity'::float8
                      ELSE g.scaled_q * 2::float8 ^ 600 END AS fourth_sum) q
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
