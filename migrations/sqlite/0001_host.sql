-- Host tables: the run log and per-connector state. Plugins can never be granted these.
CREATE TABLE runs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    connector       TEXT NOT NULL,
    job             TEXT NOT NULL,
    trigger_kind    TEXT NOT NULL,
    scheduled_for   TEXT,
    attempt         INTEGER NOT NULL DEFAULT 1,
    dry_run         BOOLEAN NOT NULL DEFAULT FALSE,
    started_at      TEXT NOT NULL,
    finished_at     TEXT,
    status          TEXT NOT NULL,
    rows_written    INTEGER NOT NULL DEFAULT 0,
    http_calls      INTEGER NOT NULL DEFAULT 0,
    rate_limit_wait_ms INTEGER NOT NULL DEFAULT 0,
    retries         INTEGER NOT NULL DEFAULT 0,
    error_kind      TEXT,
    error_message   TEXT,
    summary         TEXT,
    counters        TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX runs_connector_started ON runs (connector, started_at DESC);
CREATE INDEX runs_status ON runs (status);

CREATE TABLE connector_state (
    connector   TEXT NOT NULL,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (connector, key)
);
