-- The ledger of connector-owned schema: each version of each plugin's migrations applied here,
-- with the checksum of the SQL that ran. A connector's tables travel with its plugin (its
-- `describe` lists its migrations); the host's migrations keep the host's tables only.
-- Databases created before this held sample_events, kit_items, sales and customer_sales from
-- host migrations 0002 and 0003; the plugins' first migrations adopt those tables.
CREATE TABLE plugin_migrations (
    plugin      TEXT NOT NULL,
    version     BIGINT NOT NULL,
    description TEXT NOT NULL,
    checksum    TEXT NOT NULL,
    applied_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (plugin, version)
);
