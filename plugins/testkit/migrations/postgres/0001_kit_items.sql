-- The test connector's table: one column of every value type. IF NOT EXISTS: databases created
-- before connectors carried their own schema already have the table.
CREATE TABLE IF NOT EXISTS kit_items (
    id    TEXT PRIMARY KEY,
    n     BIGINT NOT NULL,
    label TEXT,
    score DOUBLE PRECISION,
    flag  BOOLEAN,
    data  BYTEA,
    doc   JSONB,
    at    TIMESTAMPTZ
);
