-- adnet schema, version 4: management — accounts, console sessions, API tokens, the audit log,
-- login throttling, and the approval of advertisers' campaigns and creatives.
--
--  * sessions and api_tokens store only SHA-256 hashes of the secrets the clients hold: a
--    copy of the database does not let anyone sign in.
--  * login_failures is what throttling counts (per account and per client address over a
--    window), shared by every console worker; old rows are deleted as they age out.
--  * audit_log is append-only: who (user id and email at the time), what (action, entity, id),
--    before → after (JSON), when and from where.
--  * approval: campaigns and creatives an advertiser creates wait for an admin ('pending');
--    only 'approved' ones serve. Existing rows were created by operators: approved.

-- +goose Up
CREATE TABLE sessions (
    id_hash      BINARY(32)  NOT NULL,
    user_id      BIGINT      NOT NULL,
    csrf_token   CHAR(43)    NOT NULL,
    created_at   DATETIME(6) NOT NULL,
    last_seen_at DATETIME(6) NOT NULL,
    expires_at   DATETIME(6) NOT NULL, -- absolute expiry; idle expiry is last_seen_at + idle timeout
    PRIMARY KEY (id_hash),
    KEY ix_sessions_user (user_id),
    KEY ix_sessions_expires (expires_at),
    CONSTRAINT fk_sessions_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin;

CREATE TABLE api_tokens (
    id           BIGINT       NOT NULL AUTO_INCREMENT,
    user_id      BIGINT       NOT NULL,
    name         VARCHAR(200) NOT NULL,
    token_hash   BINARY(32)   NOT NULL,
    prefix       CHAR(12)     NOT NULL, -- the first characters, to recognise a token in a list
    created_at   DATETIME(6)  NOT NULL,
    last_used_at DATETIME(6)  NULL,
    revoked_at   DATETIME(6)  NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uk_api_tokens_hash (token_hash),
    KEY ix_api_tokens_user (user_id),
    CONSTRAINT fk_api_tokens_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE login_failures (
    id    BIGINT       NOT NULL AUTO_INCREMENT,
    at    DATETIME(6)  NOT NULL,
    email VARCHAR(254) NOT NULL,
    ip    VARCHAR(45)  NOT NULL,
    PRIMARY KEY (id),
    KEY ix_login_failures_email (email, at),
    KEY ix_login_failures_ip (ip, at),
    KEY ix_login_failures_at (at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE audit_log (
    id          BIGINT       NOT NULL AUTO_INCREMENT,
    at          DATETIME(6)  NOT NULL,
    user_id     BIGINT       NULL, -- NULL: the command line
    user_email  VARCHAR(254) NOT NULL,
    action      VARCHAR(32)  NOT NULL,
    entity      VARCHAR(32)  NOT NULL,
    entity_id   BIGINT       NOT NULL,
    before_json MEDIUMTEXT   NULL,
    after_json  MEDIUMTEXT   NULL,
    ip          VARCHAR(45)  NOT NULL DEFAULT '',
    PRIMARY KEY (id),
    KEY ix_audit_entity (entity, entity_id, id),
    KEY ix_audit_user (user_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

ALTER TABLE campaigns
    ADD COLUMN approval      ENUM('pending','approved','rejected') NOT NULL DEFAULT 'approved' AFTER status,
    ADD COLUMN reject_reason VARCHAR(500) NOT NULL DEFAULT '' AFTER approval;
ALTER TABLE creatives
    ADD COLUMN approval      ENUM('pending','approved','rejected') NOT NULL DEFAULT 'approved' AFTER status,
    ADD COLUMN reject_reason VARCHAR(500) NOT NULL DEFAULT '' AFTER approval;

-- +goose Down
ALTER TABLE creatives DROP COLUMN reject_reason, DROP COLUMN approval;
ALTER TABLE campaigns DROP COLUMN reject_reason, DROP COLUMN approval;
DROP TABLE audit_log;
DROP TABLE login_failures;
DROP TABLE api_tokens;
DROP TABLE sessions;
