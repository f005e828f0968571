-- One row per heartbeat the sample connector writes. IF NOT EXISTS: databases created before
-- connectors carried their own schema already have the table.
CREATE TABLE IF NOT EXISTS sample_events (
    seq          BIGINT PRIMARY KEY,
    label        TEXT NOT NULL,
    trigger_kind TEXT NOT NULL,
    dry_run      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
