-- Bike health (issue 21, core/bike_health.py): what compression's checks find of each bike,
-- and the little they keep between runs so that each run reads only the rides it summarises,
-- never history again.
--
--   bike_finding     each finding of a bike: its kind, when first and last seen (the rides'
--                    starts, or the data's times), its evidence, and when it cleared. At most
--                    one open (not cleared) finding a bike and kind.
--   bike_health      each bike seen: the time of its newest line known (offline is judged
--                    from it) and its recent qualifying rides per kind (HealthState, as JSON),
--                    without their riders: those are read from the rides when needed, so
--                    that an erasure's tombstone holds here too. The writer's alone.
--   power_model_cell the fleet's readings of each day counted by (resistance, rpm, power),
--                    rpm above 0: the power model is their median over the last 7 days of data.
--   power_drift_cell each bike's readings of each day counted by (power / model) - 1 in 0.01%
--                    steps: a bike's drift is their median over the last 7 days of data.
--
-- Bikes have no rider's personal data here. Each login reads what its service shows: the
-- findings, the reader (the report, the dashboard's maintenance page and live board) and the
-- API (/bikes/health, /leaderboard); the fleet's model cells, the reader (the maintenance
-- page's chart); the bikes' drift cells and kept state, compression alone.
CREATE TABLE historical.bike_finding (
    finding_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    bike_serial text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('silent', 'resistance_stuck', 'cadence_stuck',
                                              'heart_strap', 'power_drift', 'offline')),
    first_seen  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL CHECK (last_seen >= first_seen),
    detail      jsonb NOT NULL,
    cleared_at  timestamptz
);
CREATE UNIQUE INDEX bike_finding_open ON historical.bike_finding (bike_serial, kind)
    WHERE cleared_at IS NULL;

CREATE TABLE historical.bike_health (
    bike_serial  text PRIMARY KEY,
    last_line_at timestamptz NOT NULL,
    recent       jsonb NOT NULL DEFAULT '{}'
);

CREATE TABLE historical.power_model_cell (
    day        date NOT NULL,
    resistance integer NOT NULL,
    rpm        integer NOT NULL CHECK (rpm > 0),
    power      double precision NOT NULL,
    readings   bigint NOT NULL CHECK (readings > 0),
    PRIMARY KEY (day, resistance, rpm, power)
);

CREATE TABLE historical.power_drift_cell (
    day         date NOT NULL,
    bike_serial text NOT NULL,
    step        integer NOT NULL,  -- (power / model - 1) * 10,000, rounded
    readings    bigint NOT NULL CHECK (readings > 0),
    PRIMARY KEY (bike_serial, day, step)
);

GRANT SELECT ON historical.bike_finding TO deleton_reader, deleton_api;
GRANT SELECT ON historical.power_model_cell TO deleton_reader;
-- the report counts the bikes known (its fleet availability); their riders stay the writer's
GRANT SELECT (bike_serial) ON historical.bike_health TO deleton_reader;
