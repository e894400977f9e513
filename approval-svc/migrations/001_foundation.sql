-- 001_foundation: the messaging tables every service needs (DESIGN.md "Data").

-- Transactional outbox. A row is written in the same transaction as the state change it
-- announces; a background job delivers it (SELECT ... FOR UPDATE SKIP LOCKED, so replicas share
-- the work), retrying with backoff via next_attempt_at until delivered_at is set.
-- message_id is what the receiver deduplicates on.
CREATE TABLE IF NOT EXISTS outbox (
    id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    message_id      CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    topic           VARCHAR(128) NOT NULL,
    payload         BLOB NOT NULL,
    created_at      DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    next_attempt_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    attempts        INT UNSIGNED NOT NULL DEFAULT 0,
    last_error      VARCHAR(1024) NULL,
    delivered_at    DATETIME(6) NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_outbox_message_id (message_id),
    -- pending = delivered_at IS NULL AND next_attempt_at <= now, oldest first
    KEY ix_outbox_pending (delivered_at, next_attempt_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Inbox: ids of messages already applied. Inserting the id in the same transaction as the
-- effect makes a redelivered message a duplicate-key no-op.
CREATE TABLE IF NOT EXISTS inbox (
    message_id  CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    received_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (message_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
