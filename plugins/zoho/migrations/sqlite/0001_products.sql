-- Tables of the zoho connector. Dates are RFC 3339 UTC text in DATETIME columns; money is REAL.

-- The product source: one row per service package the business sells, written by its owner
-- (the admin app). The connector reads it and never writes it.
CREATE TABLE IF NOT EXISTS service_packages (
    sku              TEXT PRIMARY KEY,     -- Zoho CRM Product_Code and Zoho Billing plan_code
    name             TEXT NOT NULL,
    description      TEXT,
    price            REAL NOT NULL CHECK (price >= 0),
    billing_interval TEXT NOT NULL DEFAULT 'monthly' CHECK (billing_interval IN ('monthly', 'yearly')),
    status           TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
    category         TEXT,                 -- Zoho CRM Product_Category
    updated_at       DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

-- Where each package stands in each Zoho system, kept apart so that one failing never hides
-- the other. A status is 'pending' until the first push, then 'ok' or 'failed' after each.
CREATE TABLE IF NOT EXISTS product_integrations (
    sku                   TEXT PRIMARY KEY,
    crm_status            TEXT NOT NULL DEFAULT 'pending' CHECK (crm_status IN ('pending', 'ok', 'failed')),
    crm_synced_at         DATETIME,        -- the last successful push
    crm_attempted_at      DATETIME,        -- the last push, successful or not
    crm_attempts          INTEGER NOT NULL DEFAULT 0,  -- pushes since the last success
    crm_error_code        TEXT,            -- Zoho's code of the last failure (NULL once ok)
    crm_error_message     TEXT,
    crm_product_id        TEXT,            -- the Zoho CRM record id
    billing_status        TEXT NOT NULL DEFAULT 'pending' CHECK (billing_status IN ('pending', 'ok', 'failed')),
    billing_synced_at     DATETIME,
    billing_attempted_at  DATETIME,
    billing_attempts      INTEGER NOT NULL DEFAULT 0,
    billing_error_code    TEXT,
    billing_error_message TEXT,
    billing_plan_code     TEXT,            -- the Zoho Billing plan, once it exists
    last_rate_limit_at    DATETIME,        -- the last time a push of this product was rate-limited
    rate_limit_hits       TEXT NOT NULL DEFAULT '[]',  -- JSON: the last 20 hits, {at, system, pool, retry_after_ms}
    updated_at            DATETIME NOT NULL
);
CREATE INDEX IF NOT EXISTS product_integrations_rate_limited ON product_integrations (last_rate_limit_at);

-- One row per product, system and attempt.
CREATE TABLE IF NOT EXISTS zoho_sync_logs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id        INTEGER NOT NULL,        -- the host's run (connector-host runs)
    sku           TEXT NOT NULL,
    system        TEXT NOT NULL CHECK (system IN ('crm', 'billing')),
    attempt       INTEGER NOT NULL,        -- 1 for the first push since the last success
    action        TEXT,                    -- insert / update (CRM), create / update (Billing)
    status        TEXT NOT NULL CHECK (status IN ('ok', 'failed', 'rate_limited')),
    http_status   INTEGER,
    error_code    TEXT,
    error_message TEXT,
    remote_id     TEXT,
    created_at    DATETIME NOT NULL
);
CREATE INDEX IF NOT EXISTS zoho_sync_logs_sku ON zoho_sync_logs (sku, created_at);
CREATE INDEX IF NOT EXISTS zoho_sync_logs_failed ON zoho_sync_logs (created_at) WHERE status <> 'ok';
