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

-- +goose Down
ALTER TABLE conversions
    DROP INDEX ix_conversions_click,
    ADD UNIQUE KEY uk_conversions_click (impression_id);
ALTER TABLE eventlog_offsets DROP COLUMN event_time;
ALTER TABLE campaign_daily DROP COLUMN spend_nanos;
ALTER TABLE stats_daily DROP COLUMN publisher_revenue_nanos, DROP COLUMN spend_nanos;
ALTER TABLE stats_hourly DROP COLUMN publisher_revenue_nanos, DROP COLUMN spend_nanos;
