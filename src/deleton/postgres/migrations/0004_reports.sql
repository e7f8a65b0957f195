-- Each daily report sent, by the period it covers: a run for a period already sent sends
-- nothing unless forced.
CREATE TABLE historical.report_delivery (
    period_start  timestamptz NOT NULL,
    period_end    timestamptz NOT NULL,
    sent_at       timestamptz NOT NULL,
    recipients    integer NOT NULL,
    sends         integer NOT NULL DEFAULT 1,  -- more than 1: sent again with --force
    PRIMARY KEY (period_start, period_end)
);
