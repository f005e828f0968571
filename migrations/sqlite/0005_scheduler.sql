-- Schedule fires and run leases. A fire's identity (connector, schedule, scheduled_for) is the
-- primary key, so of several hosts that fire the same instant exactly one inserts the row and
-- runs it. Two partial unique indexes enforce the overlap policies in the database itself: at
-- most one running fire per schedule unless its overlap is `allow`, and at most one queued.
-- A run holds a lease its host renews (and the lease of its fire with it); a run whose lease
-- ran out is marked abandoned by another host, and a fire whose lease ran out stops counting
-- as running.
CREATE TABLE schedule_fires (
    connector     TEXT NOT NULL,
    schedule      TEXT NOT NULL,
    scheduled_for TEXT NOT NULL,
    trigger_kind  TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('running', 'queued', 'skipped', 'done')),
    exclusive_run INTEGER NOT NULL,
    host          TEXT NOT NULL,
    lease_until   TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (connector, schedule, scheduled_for)
);
CREATE UNIQUE INDEX schedule_fires_one_running ON schedule_fires (connector, schedule)
    WHERE status = 'running' AND exclusive_run;
CREATE UNIQUE INDEX schedule_fires_one_queued ON schedule_fires (connector, schedule)
    WHERE status = 'queued';
CREATE INDEX schedule_fires_leases ON schedule_fires (status, lease_until);

ALTER TABLE runs ADD COLUMN schedule TEXT;
ALTER TABLE runs ADD COLUMN host TEXT;
ALTER TABLE runs ADD COLUMN lease_until TEXT;
ALTER TABLE runs ADD COLUMN duration_ms INTEGER;

-- Rate-limit pools shared by every host on one PostgreSQL: one row per request start granted
-- in the pool's current window (older rows are deleted as windows pass).
CREATE TABLE rate_limit_grants (
    pool       TEXT NOT NULL,
    granted_at TEXT NOT NULL
);
CREATE INDEX rate_limit_grants_pool ON rate_limit_grants (pool, granted_at);
