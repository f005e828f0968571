-- The durable job queue. A job enqueued by a run exists once that run checkpoints or ends well.
CREATE TABLE queue_jobs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    connector     TEXT NOT NULL,
    kind          TEXT NOT NULL,
    payload       TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    max_attempts  INTEGER NOT NULL,
    run_after     TEXT NOT NULL,
    lease_until   TEXT,
    leased_by     TEXT,
    dedup_key     TEXT,
    last_error    TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    finished_at   TEXT
);
CREATE INDEX queue_jobs_due ON queue_jobs (status, run_after, id);
CREATE UNIQUE INDEX queue_jobs_dedup ON queue_jobs (connector, dedup_key)
    WHERE dedup_key IS NOT NULL AND status IN ('pending', 'processing');
