-- A pool's grant in one round trip: the per-pool lock, the closure check, the window count and
-- the record of the start, in one call (it was seven statements in a transaction, about 6 ms per
-- request start, most of it waiting for the WAL flush of the commit).
--
-- The grant commits without waiting for the WAL flush: a database crash can lose the grants of
-- its last few hundred milliseconds, which only matters between several hosts (each host also
-- keeps its own window in memory), and a crashed database has ended their runs anyway.
--
-- Returns 0 when the start is granted, else the milliseconds until one may be.
CREATE FUNCTION connector_host_grant_rate(p_pool TEXT, p_limit INTEGER, p_window_ms BIGINT)
RETURNS BIGINT
LANGUAGE plpgsql AS $$
DECLARE
    now_ts TIMESTAMPTZ;
    until_ts TIMESTAMPTZ;
    in_window BIGINT;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM pg_advisory_xact_lock(hashtext('connector-host rate limit'), hashtext(p_pool));
    now_ts := clock_timestamp();
    SELECT closed_until INTO until_ts FROM rate_limit_closures
        WHERE pool = p_pool AND closed_until > now_ts;
    IF FOUND THEN
        RETURN GREATEST(1, CEIL(EXTRACT(EPOCH FROM (until_ts - now_ts)) * 1000))::BIGINT;
    END IF;
    DELETE FROM rate_limit_grants
        WHERE pool = p_pool AND granted_at <= now_ts - p_window_ms * INTERVAL '1 millisecond';
    SELECT COUNT(*) INTO in_window FROM rate_limit_grants WHERE pool = p_pool;
    IF in_window < p_limit THEN
        INSERT INTO rate_limit_grants (pool, granted_at) VALUES (p_pool, now_ts);
        RETURN 0;
    END IF;
    -- Room comes when the start `limit` places back leaves the window.
    SELECT granted_at INTO until_ts FROM rate_limit_grants WHERE pool = p_pool
        ORDER BY granted_at DESC OFFSET p_limit - 1 LIMIT 1;
    RETURN GREATEST(1, CEIL(EXTRACT(EPOCH FROM
        (until_ts + p_window_ms * INTERVAL '1 millisecond' - now_ts)) * 1000))::BIGINT;
END
$$;
