-- Tables of the commerce7 connector. Money is integer cents, as Commerce7 counts it; integers
-- are BIGINT, as the host binds plugin integers as int8.

-- One row per tier a customer is (or was) enrolled in. 'pending' until the membership job has
-- created the Commerce7 club membership, then 'active'; 'expired' once `expire` ends it,
-- 'replaced' when an upgrade moved the customer to a higher tier. A pending enrollment whose job
-- failed stays pending until the job is retried (`connector-host queue retry`).
CREATE TABLE IF NOT EXISTS tier_enrollments (
    id              BIGSERIAL PRIMARY KEY,
    customer_id     TEXT NOT NULL,           -- Commerce7 customer id
    tier            TEXT NOT NULL,           -- the tier's name in the connector's settings
    club_id         TEXT NOT NULL,           -- the Commerce7 club that is the tier
    status          TEXT NOT NULL CHECK (status IN ('pending', 'active', 'expired', 'replaced')),
    source_order_id TEXT,                    -- the paid order that qualified the customer
    enrolled_at     TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    membership_id   TEXT,                    -- the Commerce7 club membership, once created
    last_action     TEXT,                    -- add_membership, upgrade_membership, cancel_membership, expire
    last_action_at  TIMESTAMPTZ,
    last_error      TEXT,
    updated_at      TIMESTAMPTZ NOT NULL
);
-- At most one live enrollment per customer and tier.
CREATE UNIQUE INDEX IF NOT EXISTS tier_enrollments_live ON tier_enrollments (customer_id, tier)
    WHERE status IN ('pending', 'active');
CREATE INDEX IF NOT EXISTS tier_enrollments_expiry ON tier_enrollments (status, expires_at);

-- The per-customer flags the back office reads: whether the customer is a member (of any tier)
-- and of which, and the lifetime value of the paid orders the connector has seen.
CREATE TABLE IF NOT EXISTS customer_flags (
    customer_id    TEXT PRIMARY KEY,
    is_member      BOOLEAN NOT NULL DEFAULT FALSE,
    tier           TEXT,                     -- the highest live tier, NULL when none
    lifetime_cents BIGINT NOT NULL DEFAULT 0,
    updated_at     TIMESTAMPTZ NOT NULL
);

-- Every paid order the connector has acted on, from a webhook or from reconcile: the ledger
-- that makes a redelivered or re-read order enqueue nothing new.
CREATE TABLE IF NOT EXISTS order_actions (
    order_id    TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    total_cents BIGINT NOT NULL,
    action      TEXT NOT NULL CHECK (action IN ('add_membership', 'upgrade_membership', 'none')),
    tier        TEXT,
    source      TEXT NOT NULL CHECK (source IN ('webhook', 'reconcile')),
    job_id      BIGINT,                      -- the queue job it enqueued, if any
    created_at  TIMESTAMPTZ NOT NULL
);
