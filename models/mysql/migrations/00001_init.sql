-- adnet schema, version 1.
--
-- Conventions
--  * InnoDB, utf8mb4. Identifiers are BIGINT (Go int64), AUTO_INCREMENT from 1, so 0 is free to
--    mean "none" in the statistics tables (an unfilled request has campaign_id = creative_id = 0).
--  * Money is BIGINT micro-units (1 unit = 1 000 000), counts are BIGINT. No FLOAT/DOUBLE
--    anywhere: sums must be exact. The fraud statistics use DECIMAL, which is exact too.
--  * Times are UTC (every connection runs with time_zone '+00:00'). DATETIME(6) keeps Go's
--    microseconds for entity timestamps. Columns named `day` are calendar days in the network
--    time zone (config), because caps and daily reports follow the network's midnight.
--  * Constraint names are stable: models/mysql/errors.go maps them to user-facing messages.
--  * The statistics tables have no foreign keys: they outlive the entities they count, they
--    hold 0 for "none", and the aggregator must not pay for FK checks on every upsert.

-- +goose Up

-- Entities -----------------------------------------------------------------------------------

CREATE TABLE advertisers (
    id              BIGINT       NOT NULL AUTO_INCREMENT,
    name            VARCHAR(200) NOT NULL,
    status          ENUM('active','paused','archived') NOT NULL DEFAULT 'active',
    -- HMAC key of the advertiser's conversion postbacks; never exposed through the API.
    postback_secret VARCHAR(128) NOT NULL DEFAULT '',
    created_at      DATETIME(6)  NOT NULL,
    updated_at      DATETIME(6)  NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uk_advertisers_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE publishers (
    id               BIGINT       NOT NULL AUTO_INCREMENT,
    name             VARCHAR(200) NOT NULL,
    status           ENUM('active','paused','archived') NOT NULL DEFAULT 'active',
    -- Publisher's cut of spend in basis points: revenue = spend * bp / 10000, exact.
    revenue_share_bp INT          NOT NULL,
    created_at       DATETIME(6)  NOT NULL,
    updated_at       DATETIME(6)  NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uk_publishers_name (name),
    CONSTRAINT ck_publishers_revenue_share CHECK (revenue_share_bp BETWEEN 0 AND 10000)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE users (
    id            BIGINT       NOT NULL AUTO_INCREMENT,
    email         VARCHAR(254) NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    role          ENUM('admin','advertiser','publisher') NOT NULL,
    advertiser_id BIGINT       NULL,
    publisher_id  BIGINT       NULL,
    created_at    DATETIME(6)  NOT NULL,
    PRIMARY KEY (id),
    -- The collation is case-insensitive, so "Ann@x.example" and "ann@x.example" collide.
    UNIQUE KEY uk_users_email (email),
    KEY ix_users_advertiser (advertiser_id),
    KEY ix_users_publisher (publisher_id),
    CONSTRAINT fk_users_advertiser FOREIGN KEY (advertiser_id) REFERENCES advertisers (id),
    CONSTRAINT fk_users_publisher FOREIGN KEY (publisher_id) REFERENCES publishers (id),
    -- Ownership is what the API checks on every request: the owner must match the role.
    CONSTRAINT ck_users_owner CHECK (
        (role = 'admin' AND advertiser_id IS NULL AND publisher_id IS NULL) OR
        (role = 'advertiser' AND advertiser_id IS NOT NULL AND publisher_id IS NULL) OR
        (role = 'publisher' AND publisher_id IS NOT NULL AND advertiser_id IS NULL))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE campaigns (
    id                        BIGINT       NOT NULL AUTO_INCREMENT,
    advertiser_id             BIGINT       NOT NULL,
    name                      VARCHAR(200) NOT NULL,
    status                    ENUM('active','paused','archived') NOT NULL DEFAULT 'active',
    start_at                  DATETIME(6)  NULL, -- NULL: from now on
    end_at                    DATETIME(6)  NULL, -- NULL: open-ended
    tier                      TINYINT      NOT NULL, -- models.Tier: 4 override … 1 house
    weight                    INT          NOT NULL,
    pricing                   ENUM('cpm','cpc','cpa') NOT NULL,
    rate_micros               BIGINT       NOT NULL, -- CPM: per 1000 impressions; CPC/CPA: per event
    -- Limits: 0 = unlimited.
    lifetime_impressions      BIGINT       NOT NULL DEFAULT 0,
    lifetime_clicks           BIGINT       NOT NULL DEFAULT 0,
    lifetime_conversions      BIGINT       NOT NULL DEFAULT 0,
    lifetime_spend_micros     BIGINT       NOT NULL DEFAULT 0,
    daily_impressions         BIGINT       NOT NULL DEFAULT 0,
    daily_clicks              BIGINT       NOT NULL DEFAULT 0,
    daily_conversions         BIGINT       NOT NULL DEFAULT 0,
    daily_spend_micros        BIGINT       NOT NULL DEFAULT 0,
    pacing                    ENUM('asap','even') NOT NULL DEFAULT 'asap',
    freq_cap                  INT          NOT NULL DEFAULT 0,
    freq_window_seconds       INT          NOT NULL DEFAULT 0,
    conversion_window_seconds INT          NOT NULL DEFAULT 0,
    -- models.Targeting as JSON: rules are data the decision engine evaluates, never queried by SQL.
    targeting                 TEXT         NOT NULL,
    created_at                DATETIME(6)  NOT NULL,
    updated_at                DATETIME(6)  NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uk_campaigns_name (advertiser_id, name),
    CONSTRAINT fk_campaigns_advertiser FOREIGN KEY (advertiser_id) REFERENCES advertisers (id),
    CONSTRAINT ck_campaigns_window CHECK (start_at IS NULL OR end_at IS NULL OR end_at > start_at),
    CONSTRAINT ck_campaigns_targeting_json CHECK (JSON_VALID(targeting)),
    CONSTRAINT ck_campaigns_weight_positive CHECK (weight > 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE creatives (
    id          BIGINT        NOT NULL AUTO_INCREMENT,
    campaign_id BIGINT        NOT NULL,
    name        VARCHAR(200)  NOT NULL,
    status      ENUM('active','paused','archived') NOT NULL DEFAULT 'active',
    kind        ENUM('image','html','text') NOT NULL,
    width       INT           NOT NULL,
    height      INT           NOT NULL,
    weight      INT           NOT NULL,
    image_url   VARCHAR(2048) NOT NULL DEFAULT '',
    html        TEXT          NOT NULL,
    title       VARCHAR(200)  NOT NULL DEFAULT '',
    body        VARCHAR(500)  NOT NULL DEFAULT '',
    click_url   VARCHAR(2048) NOT NULL,
    created_at  DATETIME(6)   NOT NULL,
    updated_at  DATETIME(6)   NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uk_creatives_name (campaign_id, name),
    CONSTRAINT fk_creatives_campaign FOREIGN KEY (campaign_id) REFERENCES campaigns (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE sites (
    id           BIGINT       NOT NULL AUTO_INCREMENT,
    publisher_id BIGINT       NOT NULL,
    name         VARCHAR(200) NOT NULL,
    -- Lower-case host. Unique: the referrer check maps a domain to exactly one publisher.
    domain       VARCHAR(253) CHARACTER SET ascii NOT NULL,
    status       ENUM('active','paused','archived') NOT NULL DEFAULT 'active',
    created_at   DATETIME(6)  NOT NULL,
    updated_at   DATETIME(6)  NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uk_sites_domain (domain),
    KEY ix_sites_publisher (publisher_id),
    CONSTRAINT fk_sites_publisher FOREIGN KEY (publisher_id) REFERENCES publishers (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE zones (
    id                   BIGINT       NOT NULL AUTO_INCREMENT,
    site_id              BIGINT       NOT NULL,
    name                 VARCHAR(200) NOT NULL,
    width                INT          NOT NULL,
    height               INT          NOT NULL,
    status               ENUM('active','paused','archived') NOT NULL DEFAULT 'active',
    fallback_zone_id     BIGINT       NULL,
    fallback_creative_id BIGINT       NULL,
    created_at           DATETIME(6)  NOT NULL,
    updated_at           DATETIME(6)  NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uk_zones_name (site_id, name),
    KEY ix_zones_fallback_zone (fallback_zone_id),
    KEY ix_zones_fallback_creative (fallback_creative_id),
    CONSTRAINT fk_zones_site FOREIGN KEY (site_id) REFERENCES sites (id),
    CONSTRAINT fk_zones_fallback_zone FOREIGN KEY (fallback_zone_id) REFERENCES zones (id) ON DELETE SET NULL,
    CONSTRAINT fk_zones_fallback_creative FOREIGN KEY (fallback_creative_id) REFERENCES creatives (id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Only linked campaigns serve in a zone. The secondary key serves "zones of a campaign".
CREATE TABLE zone_campaigns (
    zone_id     BIGINT NOT NULL,
    campaign_id BIGINT NOT NULL,
    weight      INT    NOT NULL,
    PRIMARY KEY (zone_id, campaign_id),
    KEY ix_zone_campaigns_campaign (campaign_id),
    CONSTRAINT fk_zone_campaigns_zone FOREIGN KEY (zone_id) REFERENCES zones (id) ON DELETE CASCADE,
    CONSTRAINT fk_zone_campaigns_campaign FOREIGN KEY (campaign_id) REFERENCES campaigns (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Statistics ---------------------------------------------------------------------------------
--
-- Sizing: 1000 zones × ~10 (campaign, creative) pairs × ~20 countries ≈ 200k rows per hour at
-- most, much less in practice since the matrix is sparse. Reports over 90 days therefore read
-- the daily rollup (stats_daily); stats_hourly serves today and hourly charts of recent days.
--
-- Why the primary key starts with the time column:
--  * The aggregator upserts only into the current hour, so writes append at the end of the
--    clustered index (no page splits scattered over the table, a small hot working set).
--  * "Every zone (or campaign, or country) over a date range", the network-wide report, is one
--    contiguous range scan of exactly the rows in the range, whatever the retention; a key
--    starting with zone_id would scan all history of every zone instead.
--  * Retention deletes (DELETE … WHERE hour < ?) remove a contiguous prefix.
-- Why (advertiser_id, hour) and (publisher_id, hour): the console reports of one advertiser or
-- one publisher would otherwise scan every row of the period for a small share of them. The
-- secondary index narrows to exactly that owner's rows of the period; InnoDB appends the primary
-- key to it, so the zone/campaign/creative/country grouping columns come with the index and only
-- the counters are fetched from the clustered rows. Site reports use the publisher index and
-- filter on site_id (a site belongs to one publisher), which spares a third index on every write.
-- The owner ids are denormalised into every row so that none of these reports needs a join, and
-- so that a report stays correct after a campaign or zone changes hands.

-- Valid traffic and money per hour (UTC) and dimension. requests counts ad requests (the
-- unfilled ones under campaign_id = creative_id = 0), served counts decisions that returned a
-- creative, impressions/clicks/conversions count valid (billable) events, invalid_* count the
-- events rejected by the fraud filters (detail by reason in stats_invalid_hourly).
-- country is ISO 3166-1 alpha-2 upper case, '' when unknown.
CREATE TABLE stats_hourly (
    hour                     DATETIME NOT NULL, -- UTC, truncated to the hour
    zone_id                  BIGINT   NOT NULL,
    campaign_id              BIGINT   NOT NULL,
    creative_id              BIGINT   NOT NULL,
    country                  CHAR(2) CHARACTER SET ascii NOT NULL DEFAULT '',
    advertiser_id            BIGINT   NOT NULL,
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
    publisher_revenue_micros BIGINT   NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, zone_id, campaign_id, creative_id, country),
    KEY ix_stats_hourly_advertiser (advertiser_id, hour),
    KEY ix_stats_hourly_publisher (publisher_id, hour)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Invalid events per hour, dimension, event type (models.EventType) and reason (models.Reason).
-- Same key order and owner indexes as stats_hourly, for the same reasons: the publisher
-- view ("why was my traffic rejected") is the main reader.
CREATE TABLE stats_invalid_hourly (
    hour          DATETIME         NOT NULL,
    zone_id       BIGINT           NOT NULL,
    campaign_id   BIGINT           NOT NULL,
    creative_id   BIGINT           NOT NULL,
    country       CHAR(2) CHARACTER SET ascii NOT NULL DEFAULT '',
    event_type    TINYINT UNSIGNED NOT NULL,
    reason        TINYINT UNSIGNED NOT NULL,
    advertiser_id BIGINT           NOT NULL,
    publisher_id  BIGINT           NOT NULL,
    site_id       BIGINT           NOT NULL,
    count         BIGINT           NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, zone_id, campaign_id, creative_id, country, event_type, reason),
    KEY ix_stats_invalid_hourly_advertiser (advertiser_id, hour),
    KEY ix_stats_invalid_hourly_publisher (publisher_id, hour)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Daily rollup of stats_hourly (day in the network time zone), the table 90-day reports read:
-- 24 times fewer rows than the hourly table. Same key design.
CREATE TABLE stats_daily (
    day                      DATE     NOT NULL,
    zone_id                  BIGINT   NOT NULL,
    campaign_id              BIGINT   NOT NULL,
    creative_id              BIGINT   NOT NULL,
    country                  CHAR(2) CHARACTER SET ascii NOT NULL DEFAULT '',
    advertiser_id            BIGINT   NOT NULL,
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
    publisher_revenue_micros BIGINT   NOT NULL DEFAULT 0,
    PRIMARY KEY (day, zone_id, campaign_id, creative_id, country),
    KEY ix_stats_daily_advertiser (advertiser_id, day),
    KEY ix_stats_daily_publisher (publisher_id, day)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE stats_invalid_daily (
    day           DATE             NOT NULL,
    zone_id       BIGINT           NOT NULL,
    campaign_id   BIGINT           NOT NULL,
    creative_id   BIGINT           NOT NULL,
    country       CHAR(2) CHARACTER SET ascii NOT NULL DEFAULT '',
    event_type    TINYINT UNSIGNED NOT NULL,
    reason        TINYINT UNSIGNED NOT NULL,
    advertiser_id BIGINT           NOT NULL,
    publisher_id  BIGINT           NOT NULL,
    site_id       BIGINT           NOT NULL,
    count         BIGINT           NOT NULL DEFAULT 0,
    PRIMARY KEY (day, zone_id, campaign_id, creative_id, country, event_type, reason),
    KEY ix_stats_invalid_daily_advertiser (advertiser_id, day),
    KEY ix_stats_invalid_daily_publisher (publisher_id, day)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Valid counts and spend per campaign, creative and day (network time zone): what the caps,
-- budgets and pacing of the decision engine feed back on. Written by the aggregator in the same
-- transaction as stats_hourly. Its reader is LoadInventory, every few seconds in every worker:
-- it sums the days before yesterday once every few minutes (a full scan, cached by the store)
-- and yesterday and today on every load, which the day-first primary key makes one short range
-- at the end of the table, where the aggregator's writes also land.
CREATE TABLE campaign_daily (
    day          DATE   NOT NULL,
    campaign_id  BIGINT NOT NULL,
    creative_id  BIGINT NOT NULL,
    impressions  BIGINT NOT NULL DEFAULT 0,
    clicks       BIGINT NOT NULL DEFAULT 0,
    conversions  BIGINT NOT NULL DEFAULT 0,
    spend_micros BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, campaign_id, creative_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Event records -------------------------------------------------------------------------------

-- Every click that reached the redirect. A conversion postback names the impression id it was
-- given in the landing URL. seq numbers the clicks of one impression (0 = first); only the first
-- can be valid, the unique key makes the aggregator's insert the duplicate check.
CREATE TABLE clicks (
    impression_id BINARY(16)       NOT NULL,
    seq           INT              NOT NULL,
    time          DATETIME(6)      NOT NULL,
    served_at     DATETIME(6)      NOT NULL,
    zone_id       BIGINT           NOT NULL,
    campaign_id   BIGINT           NOT NULL,
    creative_id   BIGINT           NOT NULL,
    -- Hashes, not addresses: enough for per-IP rules and audits, and no personal data at rest.
    ip_hash       BIGINT UNSIGNED  NOT NULL,
    ua_hash       BIGINT UNSIGNED  NOT NULL,
    viewer_id     BIGINT UNSIGNED  NOT NULL DEFAULT 0,
    country       CHAR(2) CHARACTER SET ascii NOT NULL DEFAULT '',
    valid         BOOLEAN          NOT NULL,
    reason        TINYINT UNSIGNED NOT NULL DEFAULT 0, -- models.Reason, 0 when valid
    PRIMARY KEY (impression_id, seq),
    KEY ix_clicks_time (time),
    KEY ix_clicks_campaign_time (campaign_id, time)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Conversions, one per click at most: the unique key on the click is the duplicate check
-- (models.ReasonDuplicateConversion). Rejected conversions are kept for the advertiser's audit.
CREATE TABLE conversions (
    id            BIGINT           NOT NULL AUTO_INCREMENT,
    impression_id BINARY(16)       NOT NULL, -- the click's impression (the click id of the postback)
    time          DATETIME(6)      NOT NULL,
    click_time    DATETIME(6)      NULL, -- NULL when no click matched (reason no_click)
    zone_id       BIGINT           NOT NULL,
    campaign_id   BIGINT           NOT NULL,
    creative_id   BIGINT           NOT NULL,
    advertiser_id BIGINT           NOT NULL,
    payout_micros BIGINT           NOT NULL DEFAULT 0,
    status        ENUM('approved','rejected') NOT NULL,
    reason        TINYINT UNSIGNED NOT NULL DEFAULT 0, -- models.Reason, 0 when approved
    PRIMARY KEY (id),
    UNIQUE KEY uk_conversions_click (impression_id),
    KEY ix_conversions_advertiser_time (advertiser_id, time),
    KEY ix_conversions_time (time)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- How far the aggregator has consumed each worker's event log. Updated in the same
-- transaction as the statistics it produced, so that a restart neither loses nor double-counts.
CREATE TABLE eventlog_offsets (
    source     VARCHAR(64) CHARACTER SET ascii NOT NULL, -- e.g. "worker-1"
    segment    BIGINT      NOT NULL,
    `offset`   BIGINT      NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    PRIMARY KEY (source)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Fraud data ----------------------------------------------------------------------------------

-- IP ranges: 'blocked' (hard block) and 'datacenter' (soft signal). Addresses are 16 bytes,
-- IPv4 as IPv4-mapped IPv6, so that byte order is numeric order for both families and one
-- range type covers both. The primary key is the uniqueness rule and the load order.
CREATE TABLE ip_lists (
    list     ENUM('blocked','datacenter') NOT NULL,
    first_ip VARBINARY(16) NOT NULL,
    last_ip  VARBINARY(16) NOT NULL,
    cidr     VARCHAR(64) CHARACTER SET ascii NOT NULL DEFAULT '', -- as imported, for people
    note     VARCHAR(200) NOT NULL DEFAULT '',
    PRIMARY KEY (list, first_ip, last_ip),
    CONSTRAINT ck_ip_lists_range CHECK (first_ip <= last_ip)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Anomalies found by the fraud monitor for an operator to review (z-score of a metric of an
-- entity against its own baseline).
CREATE TABLE fraud_flags (
    id          BIGINT        NOT NULL AUTO_INCREMENT,
    entity_kind ENUM('zone','site','publisher','campaign','advertiser') NOT NULL,
    entity_id   BIGINT        NOT NULL,
    metric      VARCHAR(64) CHARACTER SET ascii NOT NULL, -- e.g. "ctr", "invalid_rate"
    value       DECIMAL(24,6) NOT NULL,
    baseline    DECIMAL(24,6) NOT NULL,
    z           DECIMAL(12,4) NOT NULL,
    created_at  DATETIME(6)   NOT NULL,
    status      ENUM('open','confirmed','dismissed') NOT NULL DEFAULT 'open',
    PRIMARY KEY (id),
    KEY ix_fraud_flags_status (status, created_at),
    KEY ix_fraud_flags_entity (entity_kind, entity_id, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE fraud_flags;
DROP TABLE ip_lists;
DROP TABLE eventlog_offsets;
DROP TABLE conversions;
DROP TABLE clicks;
DROP TABLE campaign_daily;
DROP TABLE stats_invalid_daily;
DROP TABLE stats_daily;
DROP TABLE stats_invalid_hourly;
DROP TABLE stats_hourly;
DROP TABLE zone_campaigns;
DROP TABLE zones;
DROP TABLE sites;
DROP TABLE creatives;
DROP TABLE campaigns;
DROP TABLE users;
DROP TABLE publishers;
DROP TABLE advertisers;
