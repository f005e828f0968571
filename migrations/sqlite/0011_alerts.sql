-- Alerts: one row per incident, open until its condition clears. At most one open incident per
-- kind, connector and subject (a schedule, or ''), so hosts checking the same conditions raise
-- it once; each notice (raised, resolved) is claimed by the one host that sends it.
CREATE TABLE incidents (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    kind             TEXT NOT NULL,
    connector        TEXT NOT NULL,
    subject          TEXT NOT NULL DEFAULT '',
    summary          TEXT NOT NULL,
    opened_at        TEXT NOT NULL,
    resolved_at      TEXT,
    open_sent_at     TEXT,
    resolved_sent_at TEXT
);
CREATE UNIQUE INDEX incidents_open ON incidents (kind, connector, subject) WHERE resolved_at IS NULL;

-- Authenticated requests a run made that the upstream (or the token endpoint) refused, and
-- those that went through: credentials that keep failing are an alert of their own.
ALTER TABLE runs ADD COLUMN auth_failed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN auth_ok INTEGER NOT NULL DEFAULT 0;
