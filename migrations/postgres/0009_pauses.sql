-- Pauses an operator set: a connector (schedule '') or one of its schedules, with a reason and an
-- optional end. Every host reads them before firing, so a pause holds everywhere at once. A fire
-- due while paused is recorded as skipped, with the reason, so the fire history has no hole.
CREATE TABLE pauses (
    connector TEXT NOT NULL,
    schedule  TEXT NOT NULL DEFAULT '',
    reason    TEXT NOT NULL,
    paused_at TIMESTAMPTZ NOT NULL,
    until     TIMESTAMPTZ,
    paused_by TEXT NOT NULL,
    PRIMARY KEY (connector, schedule)
);

ALTER TABLE schedule_fires ADD COLUMN skip_reason TEXT;
