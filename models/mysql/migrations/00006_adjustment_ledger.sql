-- adnet schema, version 6: the adjustment ledger (issue 13: restatement). When an operator
-- confirms a fraud flag, the billed (valid) events of the flag's subject over the flag's period
-- are reclassified as invalid (SIVT) — never by editing the statistics, which keep what was
-- counted, but by appending entries here that reports add to them (original + adjustment =
-- restated; statements and earnings use the restated figures).
--
--  * One entry per statistics bucket of stats_hourly (hour, zone, campaign, creative, country)
--    and restatement run of a flag, with the bucket's owners (advertiser, publisher, site) so
--    that every report grouping and every ownership filter reads it like the statistics.
--  * Deltas of the valid counts of the billable events (impressions, clicks, conversions: a
--    reclassified event moves from valid to invalid, so the invalid delta is the opposite) and
--    of money in nano-units, the statistics' stored precision (spend_nanos): an entry is
--    exactly the billed amount of its bucket, and restated money is rounded once per report
--    row like the original.
--  * Append-only and idempotent: uk_adjustments_entry allows one entry per flag, run and
--    bucket, and a run writes per bucket only the difference between "nothing valid left" and
--    what the ledger already restates (every flag's entries), so a repeated confirmation or a
--    retry writes nothing; a reversal appends the opposite of the flag's entries.
--  * class and reason: the MRC class of the reclassification ('sivt') and its reason
--    ("fraud_flag:<metric>"); confirmed_by and created_at: who confirmed, when.

-- +goose Up
CREATE TABLE adjustments (
    id                      BIGINT      NOT NULL AUTO_INCREMENT,
    flag_id                 BIGINT      NOT NULL,
    run                     INT         NOT NULL, -- the flag's restatement run: 1, 2, …
    kind                    ENUM('restate','reverse') NOT NULL,
    hour                    DATETIME    NOT NULL, -- the bucket: UTC hour of stats_hourly
    zone_id                 BIGINT      NOT NULL,
    campaign_id             BIGINT      NOT NULL,
    creative_id             BIGINT      NOT NULL,
    country                 CHAR(2) CHARACTER SET ascii NOT NULL DEFAULT '',
    advertiser_id           BIGINT      NOT NULL,
    publisher_id            BIGINT      NOT NULL,
    site_id                 BIGINT      NOT NULL,
    impressions             BIGINT      NOT NULL DEFAULT 0, -- valid count deltas
    clicks                  BIGINT      NOT NULL DEFAULT 0,
    conversions             BIGINT      NOT NULL DEFAULT 0,
    spend_nanos             BIGINT      NOT NULL DEFAULT 0,
    publisher_revenue_nanos BIGINT      NOT NULL DEFAULT 0,
    class                   ENUM('givt','sivt') NOT NULL,
    reason                  VARCHAR(80) CHARACTER SET ascii NOT NULL,
    confirmed_by            VARCHAR(254) NOT NULL,
    created_at              DATETIME(6) NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uk_adjustments_entry (flag_id, run, hour, zone_id, campaign_id, creative_id, country),
    KEY ix_adjustments_hour (hour, zone_id, campaign_id, creative_id, country),
    KEY ix_adjustments_advertiser (advertiser_id, hour),
    KEY ix_adjustments_publisher (publisher_id, hour),
    CONSTRAINT fk_adjustments_flag FOREIGN KEY (flag_id) REFERENCES fraud_flags (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE adjustments;
