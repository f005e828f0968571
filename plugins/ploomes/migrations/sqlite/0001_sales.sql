-- Tables of the ploomes connector, as the host created them before connectors carried their own
-- schema (IF NOT EXISTS adopts those). Dates are RFC 3339 UTC text in DATETIME
-- columns (read back as timestamps); money is REAL (the connector rounds aggregates to cents).

-- One row per Ploomes deal, as last read (upserted by id).
CREATE TABLE IF NOT EXISTS sales (
    id               INTEGER PRIMARY KEY,  -- Ploomes Deal Id
    customer_id      INTEGER,              -- ContactId: the customer (company or person)
    title            TEXT,
    amount           REAL,
    status_id        INTEGER,              -- Ploomes StatusId
    status           TEXT CHECK (status IN ('open', 'won', 'lost')),  -- StatusId 1/2/3; NULL otherwise
    pipeline_id      INTEGER,
    stage_id         INTEGER,
    owner_id         INTEGER,
    create_date      DATETIME,
    finish_date      DATETIME,
    last_update_date DATETIME NOT NULL,
    synced_at        DATETIME NOT NULL     -- when the connector last wrote the row
);
CREATE INDEX IF NOT EXISTS sales_customer ON sales (customer_id);

-- One row per customer with at least one deal, recomputed from sales for the customers each
-- run touches. A purchase is a won deal, dated by its finish date.
CREATE TABLE IF NOT EXISTS customer_sales (
    customer_id              INTEGER PRIMARY KEY,
    customer_name            TEXT,                       -- from /Contacts
    customer_cnpj            TEXT,                       -- from /Contacts
    total_sales              REAL NOT NULL DEFAULT 0,    -- sum of all deals' amounts (open, won, lost)
    total_deals              INTEGER NOT NULL DEFAULT 0,
    won_deals                INTEGER NOT NULL DEFAULT 0,
    open_deals               INTEGER NOT NULL DEFAULT 0,
    lost_deals               INTEGER NOT NULL DEFAULT 0,
    total_revenue            REAL NOT NULL DEFAULT 0,    -- sum of won deals' amounts
    average_deal_value       REAL NOT NULL DEFAULT 0,    -- total_revenue / won_deals (0 without)
    products_purchased       INTEGER,                    -- not in Ploomes deals; left to their owner
    total_products           INTEGER,                    -- not in Ploomes deals; left to their owner
    first_purchase_date      DATETIME,
    last_purchase_date       DATETIME,
    days_since_last_purchase INTEGER,                    -- kept current at every run
    has_custom_pricing       BOOLEAN NOT NULL DEFAULT FALSE,  -- not in Ploomes deals; left to its owner
    pricing_history_count    INTEGER NOT NULL DEFAULT 0,      -- not in Ploomes deals; left to its owner
    last_sync_at             DATETIME NOT NULL,          -- when a run last recomputed the row
    created_at               DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    updated_at               DATETIME NOT NULL           -- when the connector last wrote the row
);
CREATE INDEX IF NOT EXISTS customer_sales_revenue ON customer_sales (total_revenue DESC);
