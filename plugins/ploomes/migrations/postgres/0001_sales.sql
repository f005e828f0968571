-- Tables of the ploomes connector, as the host created them before connectors carried their own
-- schema (IF NOT EXISTS adopts those). Integers are BIGINT and money DOUBLE
-- PRECISION (rounded to cents by the connector) because the host binds plugin integers as int8
-- and floats as float8: a column of another type would make a statement first prepared with a
-- NULL in that position (its type then inferred from the column) refuse a later int8/float8
-- value for it.

-- One row per Ploomes deal, as last read (upserted by id).
CREATE TABLE IF NOT EXISTS sales (
    id               BIGINT PRIMARY KEY,   -- Ploomes Deal Id
    customer_id      BIGINT,               -- ContactId: the customer (company or person)
    title            TEXT,
    amount           DOUBLE PRECISION,
    status_id        BIGINT,               -- Ploomes StatusId
    status           TEXT CHECK (status IN ('open', 'won', 'lost')),  -- StatusId 1/2/3; NULL otherwise
    pipeline_id      BIGINT,
    stage_id         BIGINT,
    owner_id         BIGINT,
    create_date      TIMESTAMPTZ,
    finish_date      TIMESTAMPTZ,
    last_update_date TIMESTAMPTZ NOT NULL,
    synced_at        TIMESTAMPTZ NOT NULL  -- when the connector last wrote the row
);
CREATE INDEX IF NOT EXISTS sales_customer ON sales (customer_id);

-- One row per customer with at least one deal, recomputed from sales for the customers each
-- run touches. A purchase is a won deal, dated by its finish date.
CREATE TABLE IF NOT EXISTS customer_sales (
    customer_id              BIGINT PRIMARY KEY,
    customer_name            TEXT,                                -- from /Contacts
    customer_cnpj            TEXT,                                -- from /Contacts
    total_sales              DOUBLE PRECISION NOT NULL DEFAULT 0,   -- sum of all deals' amounts (open, won, lost)
    total_deals              BIGINT NOT NULL DEFAULT 0,
    won_deals                BIGINT NOT NULL DEFAULT 0,
    open_deals               BIGINT NOT NULL DEFAULT 0,
    lost_deals               BIGINT NOT NULL DEFAULT 0,
    total_revenue            DOUBLE PRECISION NOT NULL DEFAULT 0,   -- sum of won deals' amounts
    average_deal_value       DOUBLE PRECISION NOT NULL DEFAULT 0,   -- total_revenue / won_deals (0 without)
    products_purchased       BIGINT,                             -- not in Ploomes deals; left to their owner
    total_products           BIGINT,                             -- not in Ploomes deals; left to their owner
    first_purchase_date      TIMESTAMPTZ,
    last_purchase_date       TIMESTAMPTZ,
    days_since_last_purchase BIGINT,                             -- kept current at every run
    has_custom_pricing       BOOLEAN NOT NULL DEFAULT FALSE,      -- not in Ploomes deals; left to its owner
    pricing_history_count    BIGINT NOT NULL DEFAULT 0,          -- not in Ploomes deals; left to its owner
    last_sync_at             TIMESTAMPTZ NOT NULL,                -- when a run last recomputed the row
    created_at               TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at               TIMESTAMPTZ NOT NULL                 -- when the connector last wrote the row
);
CREATE INDEX IF NOT EXISTS customer_sales_revenue ON customer_sales (total_revenue DESC);
