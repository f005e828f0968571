-- Rate-limit pools closed until an instant, because an upstream asked every client to wait
-- longer than a run may (a long Retry-After): every host refuses the pool's requests until then.
-- (On SQLite the same lives in the rate-limit file beside the database.)
CREATE TABLE rate_limit_closures (
    pool         TEXT PRIMARY KEY,
    closed_until TIMESTAMPTZ NOT NULL
);
