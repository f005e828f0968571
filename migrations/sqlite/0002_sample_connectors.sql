-- Tables of the sample and testkit connectors (each connector's tables come with its migration).
CREATE TABLE sample_events (
    seq          INTEGER PRIMARY KEY,
    label        TEXT NOT NULL,
    trigger_kind TEXT NOT NULL,
    dry_run      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE kit_items (
    id    TEXT PRIMARY KEY,
    n     INTEGER NOT NULL,
    label TEXT,
    score REAL,
    flag  BOOLEAN,
    data  BLOB,
    doc   TEXT,
    at    DATETIME
);
