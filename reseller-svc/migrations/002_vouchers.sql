-- 002_vouchers: tenants, the ledger, customers, templates, vouchers, quota applications and
-- request idempotency (SPEC §1-3). Times are BIGINT microseconds since the Unix epoch (UTC);
-- money is BIGINT minor units of the tenant's currency.

-- One row per reseller seen. The settlement currency is fixed per reseller (SPEC: one
-- currency per tenant); own_cost_issued_minor tracks reseller-funded issuance (SPEC §2).
CREATE TABLE IF NOT EXISTS resellers (
    reseller_id           VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    currency_code         CHAR(3) CHARACTER SET ascii NOT NULL,
    own_cost_issued_minor BIGINT NOT NULL DEFAULT 0,
    created_us            BIGINT NOT NULL,
    PRIMARY KEY (reseller_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Ledger accounts (common/ledger/vc_ledger.h): the voucher quota and credit pool of a reseller
-- (owner_id ''), and customer credit (owner_id = customer). balance_minor changes only through
-- conditional updates in the same transaction as the entry that explains it.
CREATE TABLE IF NOT EXISTS ledger_accounts (
    reseller_id    VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    account        TINYINT UNSIGNED NOT NULL,
    owner_id       VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT '',
    currency_code  CHAR(3) CHARACTER SET ascii NOT NULL,
    balance_minor  BIGINT NOT NULL DEFAULT 0,
    granted_minor  BIGINT NOT NULL DEFAULT 0,
    debited_minor  BIGINT NOT NULL DEFAULT 0,
    returned_minor BIGINT NOT NULL DEFAULT 0,
    updated_us     BIGINT NOT NULL,
    PRIMARY KEY (reseller_id, account, owner_id),
    CONSTRAINT ck_ledger_balance_nonneg CHECK (balance_minor >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Append-only. idem_ref names the business event ("issue:<voucher>", "return:<voucher>", ...):
-- unique, so an event moves money at most once whatever retries or races happen.
CREATE TABLE IF NOT EXISTS ledger_entries (
    entry_id             BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    reseller_id          VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    account              TINYINT UNSIGNED NOT NULL,
    owner_id             VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT '',
    kind                 TINYINT UNSIGNED NOT NULL,
    amount_minor         BIGINT NOT NULL,
    balance_before_minor BIGINT NOT NULL,
    balance_after_minor  BIGINT NOT NULL,
    currency_code        CHAR(3) CHARACTER SET ascii NOT NULL,
    reference_type       TINYINT UNSIGNED NOT NULL,
    reference_id         VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    idem_ref             VARCHAR(191) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    reason               VARCHAR(255) NOT NULL DEFAULT '',
    operator_id          VARCHAR(128) NOT NULL DEFAULT '',
    created_us           BIGINT NOT NULL,
    PRIMARY KEY (entry_id),
    UNIQUE KEY uq_ledger_idem (idem_ref),
    KEY ix_ledger_account (reseller_id, account, owner_id, entry_id),
    KEY ix_ledger_reference (reseller_id, reference_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The reseller's customers, keyed by the customer's cloud account id: an account belongs to
-- one reseller only.
CREATE TABLE IF NOT EXISTS customers (
    customer_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    reseller_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    name        VARCHAR(128) NOT NULL,
    email       VARCHAR(254) NOT NULL DEFAULT '',
    phone       VARCHAR(32) NOT NULL DEFAULT '',
    remarks     VARCHAR(1024) NOT NULL DEFAULT '',
    created_us  BIGINT NOT NULL,
    PRIMARY KEY (customer_id),
    KEY ix_customers_reseller (reseller_id, customer_id),
    KEY ix_customers_name (reseller_id, name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Voucher templates. version is the etag; issued_count > 0 locks the template (SPEC §2).
-- Product lists are comma-separated product codes ([A-Za-z0-9_.-], validated on input).
CREATE TABLE IF NOT EXISTS templates (
    template_id            VARCHAR(40) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    reseller_id            VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    name                   VARCHAR(128) NOT NULL,
    face_value_minor       BIGINT NOT NULL,
    currency_code          CHAR(3) CHARACTER SET ascii NOT NULL,
    funding                TINYINT UNSIGNED NOT NULL,
    scope_kind             TINYINT UNSIGNED NOT NULL,
    product_codes          TEXT CHARACTER SET ascii NOT NULL,
    excluded_product_codes TEXT CHARACTER SET ascii NOT NULL,
    payment_modes          TINYINT UNSIGNED NOT NULL, -- bit 1 prepaid, bit 2 postpaid
    validity_days          INT NULL,                  -- N days from activation, or
    valid_from_us          BIGINT NULL,               -- a fixed window
    valid_until_us         BIGINT NULL,
    min_order_minor        BIGINT NOT NULL DEFAULT 0,
    min_purchase_months    INT NOT NULL DEFAULT 0,
    max_purchase_months    INT NOT NULL DEFAULT 0,
    use_limit              TINYINT UNSIGNED NOT NULL,
    remarks                VARCHAR(1024) NOT NULL DEFAULT '',
    issued_count           BIGINT NOT NULL DEFAULT 0,
    version                BIGINT NOT NULL DEFAULT 1,
    created_us             BIGINT NOT NULL,
    updated_us             BIGINT NOT NULL,
    PRIMARY KEY (template_id),
    KEY ix_templates_list (reseller_id, created_us, template_id),
    KEY ix_templates_name (reseller_id, name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Issued vouchers. Terms are copied from the template at issue time, so a voucher never
-- changes when a template does. quota_returned_minor is what went back to the quota
-- (face value on reject/cancel/withdraw, the unused balance on expiry).
CREATE TABLE IF NOT EXISTS vouchers (
    voucher_id             VARCHAR(40) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    reseller_id            VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    customer_id            VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    template_id            VARCHAR(40) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    template_version       BIGINT NOT NULL,
    name                   VARCHAR(128) NOT NULL,
    funding                TINYINT UNSIGNED NOT NULL,
    source                 TINYINT UNSIGNED NOT NULL,
    redeem_batch_id        VARCHAR(40) CHARACTER SET ascii NULL,
    face_value_minor       BIGINT NOT NULL,
    balance_minor          BIGINT NOT NULL,
    currency_code          CHAR(3) CHARACTER SET ascii NOT NULL,
    scope_kind             TINYINT UNSIGNED NOT NULL,
    product_codes          TEXT CHARACTER SET ascii NOT NULL,
    excluded_product_codes TEXT CHARACTER SET ascii NOT NULL,
    payment_modes          TINYINT UNSIGNED NOT NULL,
    validity_days          INT NULL,
    valid_from_us          BIGINT NULL,
    valid_until_us         BIGINT NULL,
    min_order_minor        BIGINT NOT NULL DEFAULT 0,
    min_purchase_months    INT NOT NULL DEFAULT 0,
    max_purchase_months    INT NOT NULL DEFAULT 0,
    use_limit              TINYINT UNSIGNED NOT NULL,
    status                 TINYINT UNSIGNED NOT NULL,
    review_status          TINYINT UNSIGNED NOT NULL,
    ticket_id              VARCHAR(64) NULL,
    review_reason          VARCHAR(1024) NOT NULL DEFAULT '',
    review_submitted_us    BIGINT NULL,
    review_due_us          BIGINT NULL,
    review_decided_us      BIGINT NULL,
    issue_request_id       VARCHAR(128) NOT NULL DEFAULT '',
    remarks                VARCHAR(1024) NOT NULL DEFAULT '',
    issued_us              BIGINT NOT NULL,
    activated_us           BIGINT NULL,
    starts_us              BIGINT NULL,
    expires_us             BIGINT NULL,
    ended_us               BIGINT NULL,
    quota_returned_minor   BIGINT NOT NULL DEFAULT 0,
    hold_order_id          VARCHAR(64) NULL,
    ever_used              TINYINT(1) NOT NULL DEFAULT 0,
    withdraw_reason        VARCHAR(1024) NOT NULL DEFAULT '',
    PRIMARY KEY (voucher_id),
    KEY ix_vouchers_list (reseller_id, issued_us, voucher_id),
    KEY ix_vouchers_status (reseller_id, status, issued_us, voucher_id),
    KEY ix_vouchers_customer (reseller_id, customer_id, issued_us, voucher_id),
    KEY ix_vouchers_template (reseller_id, template_id, issued_us, voucher_id),
    KEY ix_vouchers_expiry (status, expires_us),
    CONSTRAINT ck_voucher_balance CHECK (balance_minor >= 0 AND balance_minor <= face_value_minor)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Applications for voucher quota or credit pool; decided by approval-svc.
CREATE TABLE IF NOT EXISTS applications (
    application_id  VARCHAR(40) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    reseller_id     VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    kind            TINYINT UNSIGNED NOT NULL,
    requested_minor BIGINT NOT NULL,
    granted_minor   BIGINT NOT NULL DEFAULT 0,
    currency_code   CHAR(3) CHARACTER SET ascii NOT NULL,
    justification   VARCHAR(1024) NOT NULL DEFAULT '',
    state           TINYINT UNSIGNED NOT NULL,
    ticket_id       VARCHAR(64) NULL,
    direct_grant    TINYINT(1) NOT NULL DEFAULT 0,
    submitted_us    BIGINT NOT NULL,
    due_us          BIGINT NULL,
    decided_us      BIGINT NULL,
    decided_by      VARCHAR(128) NOT NULL DEFAULT '',
    reason          VARCHAR(1024) NOT NULL DEFAULT '',
    request_id      VARCHAR(128) NOT NULL DEFAULT '',
    PRIMARY KEY (application_id),
    KEY ix_applications_list (reseller_id, submitted_us, application_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Idempotency of mutations that carry a request_id (common/db/vc_idem.h): the first answer is
-- stored and replayed; the same id with other parameters is refused.
CREATE TABLE IF NOT EXISTS request_log (
    tenant_id    VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    method       VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    request_id   VARCHAR(200) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    request_hash CHAR(64) CHARACTER SET ascii NOT NULL,
    response     MEDIUMBLOB NOT NULL,
    created_us   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, method, request_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
