-- Tables of the sample and testkit connectors (each connector's tables come with its migration).
CREATE TABLE sample_events (
    seq          BIGINT PRIMARY KEY,
    label        TEXT NOT NULL,
    trigger_kind TEXT NOT NULL,
    dry_run      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE kit_items (
    id    TEXT PRIMARY KEY,
    n     BIGINT NOT NULL,
    label TEXT,
    score DOUBLE PRECISION,
    flag  BOOLEAN,
    data  BYTEA,
    doc   JSONB,
    at    TIMESTAMPTZ
);
