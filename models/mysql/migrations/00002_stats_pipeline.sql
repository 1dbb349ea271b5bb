-- adnet schema, version 2: what the statistics pipeline (internal/aggregator) needs on top of
-- version 1.
--
--  * Exact money. A CPM impression costs rate/1000 micro-units, which is rarely a whole number
--    of micro-units: rounding each impression (or each flush) would lose up to a micro-unit per
--    impression and make the totals depend on where the aggregator's batches happened to end
--    (which a crash changes). spend_nanos and publisher_revenue_nanos keep the exact totals in
--    nano-units (1 micro-unit = 1000 nano-units; a CPM impression at rate r micros costs exactly
--    r nano-units). The *_micros columns stay, maintained by every upsert as nanos DIV 1000, for
--    readers that want micro-units per row; reports sum the nanos and round once per report row.
--  * eventlog_offsets.event_time: the time of the last event consumed from the source. On start
--    the aggregator rebuilds its duplicate and flood state by re-reading the events of the last
--    fraud.click_window before the committed offsets; this says where that window ends even when
--    the aggregator was far behind real time (catching up after an outage).
--  * conversions: one row per conversion event, rejected duplicates included (the schema
--    comment of version 1 promises rejected conversions are kept for the advertiser's audit,
--    which a unique key on the click made impossible for duplicates). The duplicate check is the
--    aggregator's lookup of approved conversions of the click (models.ReasonDuplicateConversion),
--    so the key becomes an ordinary index, with status so the lookup reads the index only.
--  * stats_zone_daily and stats_invalid_zone_daily: stats_daily summed over campaign, creative
--    and country, written in the same transaction. The network's and the publishers' reports by
--    day, month, publisher, site or zone (the "90 days × 1000 zones" report) read these: about
--    8 times fewer rows than stats_daily at 8 (campaign, creative, country) rows per zone and
--    day, which is what brings that report under a second on a small server (stats_daily is
--    scanned at roughly a million rows per second with its ten sums).

-- +goose Up
ALTER TABLE stats_hourly
    ADD COLUMN spend_nanos             BIGINT NOT NULL DEFAULT 0 AFTER spend_micros,
    ADD COLUMN publisher_revenue_nanos BIGINT NOT NULL DEFAULT 0 AFTER publisher_revenue_micros;
UPDATE stats_hourly SET spend_nanos = spend_micros * 1000, publisher_revenue_nanos = publisher_revenue_micros * 1000;

ALTER TABLE stats_daily
    ADD COLUMN spend_nanos             BIGINT NOT NULL DEFAULT 0 AFTER spend_micros,
    ADD COLUMN publisher_revenue_nanos BIGINT NOT NULL DEFAULT 0 AFTER publisher_revenue_micros;
UPDATE stats_daily SET spend_nanos = spend_micros * 1000, publisher_revenue_nanos = publisher_revenue_micros * 1000;

ALTER TABLE campaign_daily
    ADD COLUMN spend_nanos BIGINT NOT NULL DEFAULT 0 AFTER spend_micros;
UPDATE campaign_daily SET spend_nanos = spend_micros * 1000;

ALTER TABLE eventlog_offsets
    ADD COLUMN event_time DATETIME(6) NULL AFTER `offset`;

ALTER TABLE conversions
    DROP INDEX uk_conversions_click,
    ADD KEY ix_conversions_click (impression_id, status);

CREATE TABLE stats_zone_daily (
    day                      DATE     NOT NULL, -- network time zone
    zone_id                  BIGINT   NOT NULL,
    publisher_id             BIGINT   NOT NULL,
    site_id                  BIGINT   NOT NULL,
    requests                 BIGINT   NOT NULL DEFAULT 0,
    served                   BIGINT   NOT NULL DEFAULT 0,
    impressions              BIGINT   NOT NULL DEFAULT 0,
    clicks                   BIGINT   NOT NULL DEFAULT 0,
    conversions              BIGINT   NOT NULL DEFAULT 0,
    invalid_impressions      BIGINT   NOT NULL DEFAULT 0,
    invalid_clicks           BIGINT   NOT NULL DEFAULT 0,
    invalid_conversions      BIGINT   NOT NULL DEFAULT 0,
    spend_micros             BIGINT   NOT NULL DEFAULT 0,
    spend_nanos              BIGINT   NOT NULL DEFAULT 0,
    publisher_revenue_micros BIGINT   NOT NULL DEFAULT 0,
    publisher_revenue_nanos  BIGINT   NOT NULL DEFAULT 0,
    PRIMARY KEY (day, zone_id),
    KEY ix_stats_zone_daily_publisher (publisher_id, day)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE stats_invalid_zone_daily (
    day          DATE             NOT NULL,
    zone_id      BIGINT           NOT NULL,
    event_type   TINYINT UNSIGNED NOT NULL,
    reason       TINYINT UNSIGNED NOT NULL,
    publisher_id BIGINT           NOT NULL,
    site_id      BIGINT           NOT NULL,
    count        BIGINT           NOT NULL DEFAULT 0,
    PRIMARY KEY (day, zone_id, event_type, reason),
    KEY ix_stats_invalid_zone_daily_publisher (publisher_id, day)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Existing daily statistics (none in a fresh database) are summed into the zone tables.
INSERT INTO stats_zone_daily (day, zone_id, publisher_id, site_id, requests, served, impressions, clicks,
        conversions, invalid_impressions, invalid_clicks, invalid_conversions, spend_micros, spend_nanos,
        publisher_revenue_micros, publisher_revenue_nanos)
    SELECT day, zone_id, MAX(publisher_id), MAX(site_id), SUM(requests), SUM(served), SUM(impressions), SUM(clicks),
        SUM(conversions), SUM(invalid_impressions), SUM(invalid_clicks), SUM(invalid_conversions),
        SUM(spend_nanos) DIV 1000, SUM(spend_nanos), SUM(publisher_revenue_nanos) DIV 1000, SUM(publisher_revenue_nanos)
    FROM stats_daily GROUP BY day, zone_id;
INSERT INTO stats_invalid_zone_daily (day, zone_id, event_type, reason, publisher_id, site_id, count)
    SELECT day, zone_id, event_type, reason, MAX(publisher_id), MAX(site_id), SUM(count)
    FROM stats_invalid_daily GROUP BY day, zone_id, event_type, reason;

-- +goose Down
DROP TABLE stats_invalid_zone_daily;
DROP TABLE stats_zone_daily;
ALTER TABLE conversions
    DROP INDEX ix_conversions_click,
    ADD UNIQUE KEY uk_conversions_click (impression_id);
ALTER TABLE eventlog_offsets DROP COLUMN event_time;
ALTER TABLE campaign_daily DROP COLUMN spend_nanos;
ALTER TABLE stats_daily DROP COLUMN publisher_revenue_nanos, DROP COLUMN spend_nanos;
ALTER TABLE stats_hourly DROP COLUMN publisher_revenue_nanos, DROP COLUMN spend_nanos;
