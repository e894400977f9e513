-- 005_wallet: customer vouchers in use (SPEC §5): order holds, deductions, bill settlements,
-- paper redemption codes. Times are microseconds since the epoch (UTC).

-- One voucher per prepaid order. A hold is HELD (1) while the order is confirmed but unpaid,
-- then PAID (2) or RELEASED (3, cancelled or timed out). vouchers.hold_order_id points at the
-- HELD hold, so a voucher is frozen for one order at a time (conditional update on NULL).
CREATE TABLE IF NOT EXISTS voucher_holds (
    order_id       VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    reseller_id    VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    customer_id    VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    voucher_id     VARCHAR(40) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    state          TINYINT UNSIGNED NOT NULL,
    product_code   VARCHAR(64) CHARACTER SET ascii NOT NULL,
    payment_mode   TINYINT UNSIGNED NOT NULL,
    order_minor    BIGINT NOT NULL,
    months         INT NOT NULL DEFAULT 0,
    deducted_minor BIGINT NOT NULL DEFAULT 0,
    created_us     BIGINT NOT NULL,
    expires_us     BIGINT NOT NULL,
    ended_us       BIGINT NULL,
    PRIMARY KEY (order_id),
    KEY ix_holds_voucher (voucher_id),
    KEY ix_holds_expiry (state, expires_us)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The voucher balance ledger: append-only, one row per deduction, unique per (source, reference,
-- voucher) so a payment or bill item is applied at most once per voucher. balance = face value
-- minus the sum of a voucher's deductions (reseller-svc/invariants.sql checks it).
CREATE TABLE IF NOT EXISTS voucher_deductions (
    deduction_id         BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    voucher_id           VARCHAR(40) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    reseller_id          VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    customer_id          VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    source               TINYINT UNSIGNED NOT NULL, -- 1 prepaid order, 2 bill item
    reference_id         VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    amount_minor         BIGINT NOT NULL,
    balance_before_minor BIGINT NOT NULL,
    balance_after_minor  BIGINT NOT NULL,
    created_us           BIGINT NOT NULL,
    PRIMARY KEY (deduction_id),
    UNIQUE KEY uq_deduction_ref (source, reference_id, voucher_id),
    KEY ix_deductions_voucher (voucher_id, deduction_id),
    CONSTRAINT ck_deduction_positive CHECK (amount_minor > 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Paper vouchers: a batch of redemption codes from a template. Quota for the whole batch is
-- consumed at creation (provider-funded; reviewed like an issuance), and what was not redeemed
-- when the batch expires goes back. state: 1 PENDING_REVIEW, 2 ACTIVE, 3 REJECTED, 4 EXPIRED.
CREATE TABLE IF NOT EXISTS redeem_batches (
    batch_id             VARCHAR(40) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    reseller_id          VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    template_id          VARCHAR(40) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    code_count           INT NOT NULL,
    redeemed_count       INT NOT NULL DEFAULT 0,
    face_value_minor     BIGINT NOT NULL,
    funding              TINYINT UNSIGNED NOT NULL,
    currency_code        CHAR(3) CHARACTER SET ascii NOT NULL,
    quota_consumed_minor BIGINT NOT NULL DEFAULT 0,
    quota_returned_minor BIGINT NOT NULL DEFAULT 0,
    state                TINYINT UNSIGNED NOT NULL,
    redeem_expires_us    BIGINT NOT NULL,
    request_id           VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    remarks              VARCHAR(1024) NOT NULL DEFAULT '',
    created_us           BIGINT NOT NULL,
    PRIMARY KEY (batch_id),
    KEY ix_batches_list (reseller_id, created_us, batch_id),
    KEY ix_batches_expiry (state, redeem_expires_us)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Codes are stored as SHA-256 hashes: the database never holds a redeemable secret.
CREATE TABLE IF NOT EXISTS redeem_codes (
    code_hash   CHAR(64) CHARACTER SET ascii NOT NULL,
    batch_id    VARCHAR(40) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    customer_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
    voucher_id  VARCHAR(40) CHARACTER SET ascii COLLATE ascii_bin NULL,
    redeemed_us BIGINT NULL,
    PRIMARY KEY (code_hash),
    KEY ix_codes_batch (batch_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Wrong redemption guesses per customer account, for throttling.
CREATE TABLE IF NOT EXISTS redeem_failures (
    customer_id     VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    failures        INT NOT NULL DEFAULT 0,
    window_start_us BIGINT NOT NULL,
    PRIMARY KEY (customer_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
