-- 002_tickets: the review queue, the business-day calendar and request idempotency (SPEC §6).
-- Times are BIGINT microseconds since the Unix epoch (UTC); money BIGINT minor units.

-- One ticket per subject (voucher issuance, quota application, credit-pool application);
-- submission is idempotent on (subject_type, subject_id). state moves PENDING -> APPROVED |
-- REJECTED | CANCELLED exactly once, by conditional updates on state = PENDING.
CREATE TABLE IF NOT EXISTS tickets (
    ticket_id         VARCHAR(40) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    subject_type      TINYINT UNSIGNED NOT NULL,
    subject_id        VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    reseller_id       VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    customer_id       VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT '',
    amount_minor      BIGINT NOT NULL,
    currency_code     CHAR(3) CHARACTER SET ascii NOT NULL,
    description       VARCHAR(1024) NOT NULL DEFAULT '',
    state             TINYINT UNSIGNED NOT NULL,
    business_days     TINYINT UNSIGNED NOT NULL,
    submitted_us      BIGINT NOT NULL,
    due_us            BIGINT NOT NULL,
    claimed_by        VARCHAR(128) NULL,
    claim_expires_us  BIGINT NULL,
    decided_by        VARCHAR(128) NULL,
    decided_us        BIGINT NULL,
    reason            VARCHAR(1024) NOT NULL DEFAULT '',
    granted_minor     BIGINT NOT NULL DEFAULT 0,
    direct_grant      TINYINT(1) NOT NULL DEFAULT 0,
    outcome_message_id CHAR(36) CHARACTER SET ascii NULL,
    PRIMARY KEY (ticket_id),
    UNIQUE KEY uq_tickets_subject (subject_type, subject_id),
    KEY ix_tickets_queue (state, due_us, ticket_id),
    KEY ix_tickets_list (submitted_us, ticket_id),
    KEY ix_tickets_reseller (reseller_id, submitted_us, ticket_id),
    KEY ix_tickets_decided (decided_us)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Calendar exceptions: a date (in the configured business time zone) that is a holiday, or a
-- make-up working day (a Saturday or Sunday worked in exchange for a holiday).
CREATE TABLE IF NOT EXISTS calendar_entries (
    entry_date  DATE NOT NULL,
    kind        TINYINT UNSIGNED NOT NULL,
    description VARCHAR(255) NOT NULL DEFAULT '',
    created_by  VARCHAR(128) NOT NULL DEFAULT '',
    created_us  BIGINT NOT NULL,
    PRIMARY KEY (entry_date)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Idempotency of mutations that carry a request_id (common/db/vc_idem.h).
CREATE TABLE IF NOT EXISTS request_log (
    tenant_id    VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    method       VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    request_id   VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    request_hash CHAR(64) CHARACTER SET ascii NOT NULL,
    response     MEDIUMBLOB NOT NULL,
    created_us   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, method, request_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
