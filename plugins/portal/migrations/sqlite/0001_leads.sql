-- Tables of the portal connector. Dates are RFC 3339 UTC text in DATETIME columns.

-- The back office's leads, from the sales portal and from Zoho CRM, one row per person: matched
-- by zoho_lead_id, then portal_lead_id, then e-mail (case-insensitive). The back office may edit
-- rows; a sync never replaces a value with an empty one.
CREATE TABLE IF NOT EXISTS leads (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    portal_lead_id  TEXT UNIQUE,             -- the sales portal's lead id (a uuid)
    zoho_lead_id    TEXT UNIQUE,             -- the Zoho CRM Leads record id
    email           TEXT,                    -- trimmed and lower-cased
    name            TEXT,
    phone           TEXT,
    source          TEXT,                    -- where the lead came from (landing-page, whatsapp, …)
    status          TEXT,
    created_at      DATETIME NOT NULL,       -- when the first source created it
    updated_at      DATETIME NOT NULL,       -- when a sync (or the back office) last wrote it
    last_source     TEXT CHECK (last_source IN ('portal', 'zoho')),  -- the source of the last sync write
    portal_version  TEXT,                    -- the portal row's updated_at last applied, as it wrote it
    zoho_version    TEXT,                    -- the Zoho record's Modified_Time last applied, as Zoho wrote it
    zoho_deleted_at DATETIME                 -- when the lead was deleted in Zoho CRM (the row stays)
);
-- Not partial: a NULL e-mail never collides, and the matching query (lower(email) = $1) can use it.
CREATE UNIQUE INDEX IF NOT EXISTS leads_email ON leads (lower(email));

-- Incoming leads that matched two different leads (or a lead whose id of the same kind differs),
-- kept for a person to resolve instead of guessed at. One row per incoming record.
CREATE TABLE IF NOT EXISTS lead_conflicts (
    source         TEXT NOT NULL CHECK (source IN ('portal', 'zoho')),
    source_id      TEXT NOT NULL,            -- the incoming record's id in its source
    email          TEXT,
    reason         TEXT NOT NULL,            -- which keys matched which leads
    lead_ids       TEXT NOT NULL,            -- the leads involved, comma-separated
    seen           INTEGER NOT NULL DEFAULT 1,  -- syncs that met it
    first_seen_at  DATETIME NOT NULL,
    last_seen_at   DATETIME NOT NULL,
    PRIMARY KEY (source, source_id)
);

-- One row per sync attempt and source.
CREATE TABLE IF NOT EXISTS sync_metadata (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      INTEGER NOT NULL,            -- the host's run (connector-host runs)
    source      TEXT NOT NULL CHECK (source IN ('portal', 'zoho')),
    started_at  DATETIME NOT NULL,
    finished_at DATETIME,
    status      TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    fetched     INTEGER NOT NULL DEFAULT 0,
    inserted    INTEGER NOT NULL DEFAULT 0,
    updated     INTEGER NOT NULL DEFAULT 0,
    merged      INTEGER NOT NULL DEFAULT 0,
    conflicts   INTEGER NOT NULL DEFAULT 0,
    deleted     INTEGER NOT NULL DEFAULT 0,  -- leads marked deleted in Zoho
    error       TEXT
);
CREATE INDEX IF NOT EXISTS sync_metadata_recent ON sync_metadata (source, started_at);
