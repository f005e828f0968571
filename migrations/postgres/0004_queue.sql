-- The durable job queue. A job enqueued by a run exists once that run checkpoints or ends well.
CREATE TABLE queue_jobs (
    id            BIGSERIAL PRIMARY KEY,
    connector     TEXT NOT NULL,
    kind          TEXT NOT NULL,
    payload       TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
    attempts      BIGINT NOT NULL DEFAULT 0,
    max_attempts  BIGINT NOT NULL,
    run_after     TIMESTAMPTZ NOT NULL,
    lease_until   TIMESTAMPTZ,
    leased_by     TEXT,
    dedup_key     TEXT,
    last_error    TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    finished_at   TIMESTAMPTZ
);
CREATE INDEX queue_jobs_due ON queue_jobs (status, run_after, id);
CREATE UNIQUE INDEX queue_jobs_dedup ON queue_jobs (connector, dedup_key)
    WHERE dedup_key IS NOT NULL AND status IN ('pending', 'processing');
