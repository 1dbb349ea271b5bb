-- adnet schema, version 3: what the publisher-anomaly monitor (internal/fraud, AnomalyScanner)
-- needs on top of the fraud_flags table of version 1.
--
--  * One open flag per entity and metric, enforced by the database: open_key is 1 while a flag
--    is open and NULL once it is reviewed, and a unique key over it lets any number of reviewed
--    flags of an entity coexist with at most one open one. A scan upserts into that key, so
--    two scanners running at once (a manual `adnet fraud scan` during the background loop)
--    still leave one open flag, refreshed with the latest figures.
--  * volume: the events behind the rate (impressions for ctr, all impressions and clicks for
--    invalid_rate), so that a reviewer sees how much traffic the figure rests on.
--  * baseline_source: 'own' when the entity was compared with its own trailing history,
--    'peers' when it had too little history and was compared with the other entities of its
--    kind (a new zone).
--  * last_seen_at: the last scan that still found the entity anomalous (created_at is the first),
--    and scans: how many scans did (a flag seen once may be a blip, one seen all day is not).
--  * paused_at: when fraud.auto_pause paused the zone because of this flag (NULL: not paused by
--    it). Dismissing the flag resumes the zone only if this flag paused it.
--  * reviewed_at: when an operator confirmed or dismissed it; a reviewed entity and metric is
--    not flagged again for a cooling-off period, so a dismissed false alarm does not come back
--    on the next scan.

-- +goose Up
ALTER TABLE fraud_flags
    ADD COLUMN volume          BIGINT      NOT NULL DEFAULT 0 AFTER z,
    ADD COLUMN baseline_source ENUM('own','peers') NOT NULL DEFAULT 'own' AFTER volume,
    ADD COLUMN last_seen_at    DATETIME(6) NULL AFTER created_at,
    ADD COLUMN scans           INT         NOT NULL DEFAULT 1 AFTER last_seen_at,
    ADD COLUMN paused_at       DATETIME(6) NULL AFTER status,
    ADD COLUMN reviewed_at     DATETIME(6) NULL AFTER paused_at;
UPDATE fraud_flags SET last_seen_at = created_at;
ALTER TABLE fraud_flags
    MODIFY COLUMN last_seen_at DATETIME(6) NOT NULL,
    ADD COLUMN open_key TINYINT AS (IF(status = 'open', 1, NULL)) PERSISTENT,
    ADD KEY ix_fraud_flags_reviewed (reviewed_at);
-- Flags opened twice before this version (no key prevented it): keep the newest open one.
UPDATE fraud_flags f JOIN fraud_flags g
    ON g.entity_kind = f.entity_kind AND g.entity_id = f.entity_id AND g.metric = f.metric
   AND g.status = 'open' AND g.id > f.id
   SET f.status = 'dismissed', f.reviewed_at = f.created_at
 WHERE f.status = 'open';
ALTER TABLE fraud_flags
    ADD UNIQUE KEY uk_fraud_flags_open (entity_kind, entity_id, metric, open_key);

-- +goose Down
ALTER TABLE fraud_flags
    DROP INDEX uk_fraud_flags_open,
    DROP INDEX ix_fraud_flags_reviewed,
    DROP COLUMN open_key,
    DROP COLUMN reviewed_at,
    DROP COLUMN paused_at,
    DROP COLUMN scans,
    DROP COLUMN last_seen_at,
    DROP COLUMN baseline_source,
    DROP COLUMN volume;
