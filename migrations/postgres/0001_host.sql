-- Host tables: the run log and per-connector state. Plugins can never be granted these.
CREATE TABLE runs (
    id              BIGSERIAL PRIMARY KEY,
    connector       TEXT NOT NULL,
    job             TEXT NOT NULL,
    trigger_kind    TEXT NOT NULL,
    scheduled_for   TIMESTAMPTZ,
    attempt         BIGINT NOT NULL DEFAULT 1,
    dry_run         BOOLEAN NOT NULL DEFAULT FALSE,
    started_at      TIMESTAMPTZ NOT NULL,
    finished_at     TIMESTAMPTZ,
    status          TEXT NOT NULL,
    rows_written    BIGINT NOT NULL DEFAULT 0,
    http_calls      BIGINT NOT NULL DEFAULT 0,
    rate_limit_wait_ms BIGINT NOT NULL DEFAULT 0,
    retries         BIGINT NOT NULL DEFAULT 0,
    error_kind      TEXT,
    error_message   TEXT,
    summary         TEXT,
    counters        JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX runs_connector_started ON runs (connector, started_at DESC);
CREATE INDEX runs_status ON runs (status);

CREATE TABLE connector_state (
    connector   TEXT NOT NULL,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (connector, key)
);
