-- The test connector's table: one column of every value type. IF NOT EXISTS: databases created
-- before connectors carried their own schema already have the table.
CREATE TABLE IF NOT EXISTS kit_items (
    id    TEXT PRIMARY KEY,
    n     INTEGER NOT NULL,
    label TEXT,
    score REAL,
    flag  BOOLEAN,
    data  BLOB,
    doc   TEXT,
    at    DATETIME
);
