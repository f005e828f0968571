-- Alerts: one row per incident, open until its condition clears. At most one open incident per
-- kind, connector and subject (a schedule, or ''), so hosts checking the same conditions raise
-- it once; each notice (raised, resolved) is claimed by the one host that sends it.
CREATE TABLE incidents (
    id               BIGSERIAL PRIMARY KEY,
    kind             TEXT NOT NULL,
    connector        TEXT NOT NULL,
    subject          TEXT NOT NULL DEFAULT '',
    summary          TEXT NOT NULL,
    opened_at        TIMESTAMPTZ NOT NULL,
    resolved_at      TIMESTAMPTZ,
    open_sent_at     TIMESTAMPTZ,
    resolved_sent_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX incidents_open ON incidents (kind, connector, subject) WHERE resolved_at IS NULL;

-- Authenticated requests a run made that the upstream (or the token endpoint) refused, and
-- those that went through: credentials that keep failing are an alert of their own.
ALTER TABLE runs ADD COLUMN auth_failed BIGINT NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN auth_ok BIGINT NOT NULL DEFAULT 0;
