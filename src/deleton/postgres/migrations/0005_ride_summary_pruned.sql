-- The view's rides not yet summarised read their readings within their own time window, so
-- that PostgreSQL probes the hour or two of partitions they lie in rather than every one.
-- A ride's readings lie between an hour before its start (a line stamped earlier than that
-- would have ended it, by the idle timeout) and its end (ended_at is its last line).
CREATE OR REPLACE VIEW historical.ride_summary AS
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
      AND x.at >= r.started_at - interval '1 hour'
      AND x.at <= coalesce(r.ended_at, 'infinity')
) s
CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE al.kind = 'high') AS high,
           count(*) FILTER (WHERE al.kind = 'low') AS low
    FROM daily.alert al WHERE al.ride_id = r.ride_id
) a
WHERE r.summarised_at IS NULL;
