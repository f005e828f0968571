-- Rows written by each delivered queue job (for metrics), and log events a run dropped past its
-- per-call cap.
ALTER TABLE queue_jobs ADD COLUMN rows_written INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN log_events_dropped INTEGER NOT NULL DEFAULT 0;

-- The runs of one fire, for the sweep that retries a fire whose run a dead or stopped host
-- left unfinished.
CREATE INDEX runs_fire ON runs (connector, schedule, scheduled_for);
