-- 004_credit: customer credit (SPEC §4). The credit a customer was given is ledger account 3
-- (owner = customer): allocations move money from the reseller's credit pool (account 2) into it,
-- withdrawals move it back. What the customer used is tracked here, outside the ledger: usage is
-- advisory and may exceed the credit. Times are microseconds since the epoch (UTC).

-- Per customer: used credit and which usage alarms are armed (bit 0 = 75 %, 1 = 90 %, 2 = 100 %).
-- Writers lock this row first (SELECT ... FOR UPDATE), so usage reports and credit changes of one
-- customer are serialised and alarms fire exactly once per crossing.
CREATE TABLE IF NOT EXISTS customer_credit (
    customer_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    reseller_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    used_minor  BIGINT NOT NULL DEFAULT 0,
    armed_mask  TINYINT UNSIGNED NOT NULL DEFAULT 7,
    updated_us  BIGINT NOT NULL,
    PRIMARY KEY (customer_id),
    KEY ix_customer_credit_reseller (reseller_id, customer_id),
    CONSTRAINT ck_customer_used_nonneg CHECK (used_minor >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Every credit change: who, when, how much, and the values before and after.
CREATE TABLE IF NOT EXISTS credit_allocations (
    allocation_id              VARCHAR(40) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    reseller_id                VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    customer_id                VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    amount_minor               BIGINT NOT NULL,
    currency_code              CHAR(3) CHARACTER SET ascii NOT NULL,
    operator_id                VARCHAR(128) NOT NULL,
    request_id                 VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    remarks                    VARCHAR(1024) NOT NULL DEFAULT '',
    credit_before_minor        BIGINT NOT NULL,
    credit_after_minor         BIGINT NOT NULL,
    used_minor                 BIGINT NOT NULL,
    pool_remaining_after_minor BIGINT NOT NULL,
    created_us                 BIGINT NOT NULL,
    PRIMARY KEY (allocation_id),
    KEY ix_alloc_list (reseller_id, created_us, allocation_id),
    KEY ix_alloc_customer (reseller_id, customer_id, created_us, allocation_id),
    KEY ix_alloc_operator (reseller_id, operator_id, created_us, allocation_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Alarms: customer credit usage crossing 75/90/100 %, and the reseller's own voucher quota or
-- credit pool running low. alert_id orders them (watchers resume after an id).
CREATE TABLE IF NOT EXISTS credit_alerts (
    alert_id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    reseller_id       VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    kind              TINYINT UNSIGNED NOT NULL,
    customer_id       VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT '',
    threshold_percent INT NOT NULL,
    used_minor        BIGINT NOT NULL,
    limit_minor       BIGINT NOT NULL,
    currency_code     CHAR(3) CHARACTER SET ascii NOT NULL,
    trigger_id        VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT '',
    created_us        BIGINT NOT NULL,
    PRIMARY KEY (alert_id),
    KEY ix_alerts_reseller (reseller_id, alert_id),
    KEY ix_alerts_customer (reseller_id, customer_id, alert_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Low-balance alarms of the reseller's own accounts: armed (1) until they fire, re-armed when
-- the account is topped up above the threshold again.
ALTER TABLE resellers ADD COLUMN IF NOT EXISTS quota_low_armed TINYINT(1) NOT NULL DEFAULT 1;
ALTER TABLE resellers ADD COLUMN IF NOT EXISTS pool_low_armed TINYINT(1) NOT NULL DEFAULT 1;
