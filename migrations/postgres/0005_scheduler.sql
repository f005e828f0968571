-- Schedule fires and run leases. A fire's identity (connector, schedule, scheduled_for) is the
-- primary key, so of several hosts on one database exactly one claims it. A run holds a lease
-- that its host renews; a run whose lease ran out is marked abandoned by another host.
CREATE TABLE schedule_fires (
    connector     TEXT NOT NULL,
    schedule      TEXT NOT NULL,
    scheduled_for TIMESTAMPTZ NOT NULL,
    trigger_kind  TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('running', 'queued', 'skipped', 'done')),
    host          TEXT NOT NULL,
    run_id        BIGINT,
    attempts      BIGINT NOT NULL DEFAULT 0,
    lease_until   TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (connector, schedule, scheduled_for)
);
CREATE INDEX schedule_fires_status ON schedule_fires (connector, schedule, status);

ALTER TABLE runs ADD COLUMN schedule TEXT;
ALTER TABLE runs ADD COLUMN host TEXT;
ALTER TABLE runs ADD COLUMN lease_until TIMESTAMPTZ;
ALTER TABLE runs ADD COLUMN duration_ms BIGINT;
