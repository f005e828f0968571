-- The last log events of each run (a capped number, see README "Limits"), for `runs show` and
-- the console; pruned after two weeks, while the runs themselves stay.
CREATE TABLE run_events (
    run_id  BIGINT NOT NULL,
    seq     BIGINT NOT NULL,
    at      TIMESTAMPTZ NOT NULL,
    level   TEXT NOT NULL,
    message TEXT NOT NULL,
    fields  JSONB,
    PRIMARY KEY (run_id, seq)
);

-- Earlier events of the run that were let go to keep the last ones.
ALTER TABLE runs ADD COLUMN log_events_omitted BIGINT NOT NULL DEFAULT 0;

-- A manual run's JSON input, so `runs retry` can run it again as it was.
ALTER TABLE runs ADD COLUMN input TEXT;
