/*
 * codes.c - paper vouchers: CreateRedeemCodes, RedeemCode, review outcomes of code batches and
 * the batch expiry job. The model (money paths, hashing, throttling) is described in codes.h.
 */
#include "codes.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "approval/v1/review_service.pb-c.h"
#include "base/vc_code.h"
#include "base/vc_money.h"
#include "credit.h"
#include "customers.h"
#include "db/vc_idem.h"
#include "eligibility.h"
#include "ledger/vc_ledger.h"
#include "outbox/vc_outbox.h"
#include "reseller/v1/voucher_service.pb-c.h"
#include "reseller/v1/wallet_service.pb-c.h"
#include "runtime/vc_log.h"
#include "templates.h"
#include "wallet.h"

/* redeem_batches.state (005_wallet.sql). */
#define B_PENDING_REVIEW 1
#define B_ACTIVE         2
#define B_REJECTED       3
#define B_EXPIRED        4

#define FUND_PROVIDER   ((int)RESELLER__V1__FUNDING__FUNDING_PROVIDER_FUNDED)
#define SRC_REDEEM_CODE ((int)RESELLER__V1__VOUCHER_SOURCE__VOUCHER_SOURCE_REDEEM_CODE)
#define REF_BATCH       ((int)RESELLER__V1__REFERENCE_TYPE__REFERENCE_TYPE_REDEEM_CODE_BATCH)
#define ST_ACTIVE       ((int)RESELLER__V1__VOUCHER_STATUS__VOUCHER_STATUS_ACTIVE)
#define RV_NOT_REQUIRED ((int)RESELLER__V1__REVIEW_STATUS__REVIEW_STATUS_NOT_REQUIRED)
#define RV_APPROVED     ((int)RESELLER__V1__REVIEW_STATUS__REVIEW_STATUS_APPROVED)
#define OUT_APPROVED    ((int)RESELLER__V1__REVIEW_OUTCOME__REVIEW_OUTCOME_APPROVED)
#define OUT_REJECTED    ((int)RESELLER__V1__REVIEW_OUTCOME__REVIEW_OUTCOME_REJECTED)
#define OUT_CANCELLED   ((int)RESELLER__V1__REVIEW_OUTCOME__REVIEW_OUTCOME_CANCELLED)

/* Refusals (eligibility.h): the body fills an rs_refusal and returns RS_REFUSE to roll back.
   Refusals that must keep a write (a counted wrong code) fill it and return 0, so the
   transaction commits. */

/* What the review ticket shows as the "customer" of a batch: nobody has the vouchers yet. */
#define RS_CODES_REVIEW_CUSTOMER "paper-codes"

static void rs__utc(int64_t us, char *buf, size_t cap)
{
    time_t s = (time_t)(us / VC_US_PER_SEC);
    struct tm tm;
    if (!gmtime_r(&s, &tm) || !strftime(buf, cap, "%Y-%m-%d %H:%M:%S UTC", &tm))
        snprintf(buf, cap, "%" PRId64 " us", us);
}

/* ---- creating a batch ---------------------------------------------------------------------- */

typedef struct rs_create {
    const rs_app *app;
    vc_arena *arena;
    const char *reseller, *operator_id;
    const Reseller__V1__CreateRedeemCodesRequest *req;
    int64_t expires_us;
    rs_refusal refusal;
    Reseller__V1__CreateRedeemCodesResponse *resp;
} rs_create;

/* Multi-row INSERTs of these sizes (largest first): few statement texts to prepare and cache,
   few round trips (1000 codes = 15 x 64 + 32 + 8). */
static const int rs__chunks[] = {64, 32, 16, 8, 4, 2, 1};
#define RS_CODES_CHUNK_MAX  64
#define RS_CODES_COLLISIONS 5 /* fresh draws of a chunk after a duplicate hash */

/* Draws n codes into codes[0..n) and stores their hashes; a duplicate (with any code ever made,
   or inside the chunk) fails the whole statement, which InnoDB rolls back on its own, so the
   chunk is drawn again. */
static int rs__insert_chunk(vc_db_conn *c, const char *batch_id, int n, char **codes)
{
    static const char head[] = "INSERT INTO redeem_codes (code_hash, batch_id) VALUES ";
    static const char row[] = "(SHA2(?, 256), ?)";
    char sql[sizeof(head) + RS_CODES_CHUNK_MAX * (sizeof(row) + 1)];
    size_t off = (size_t)snprintf(sql, sizeof(sql), "%s", head);
    for (int i = 0; i < n; i++)
        off += (size_t)snprintf(sql + off, sizeof(sql) - off, "%s%s", i ? "," : "", row);
    vc_db_param p[2 * RS_CODES_CHUNK_MAX];
    int rc = VC_EEXIST;
    for (int attempt = 0; attempt < RS_CODES_COLLISIONS && rc == VC_EEXIST; attempt++) {
        for (int i = 0; i < n; i++) {
            if ((rc = vc_code_generate(codes[i])) != 0) return rc;
            p[2 * i] = vc_db_str(codes[i]);
            p[2 * i + 1] = vc_db_str(batch_id);
        }
        rc = vc_db_exec(c, sql, p, (size_t)(2 * n), NULL);
        if (rc == VC_EEXIST)
            vc_logf(VC_LOG_WARN, "batch %s: redemption code collision, drawing again", batch_id);
    }
    return rc;
}

/* Makes `count` unique codes for the batch; *out gets them (arena strings). */
static int rs__make_codes(vc_db_conn *c, vc_arena *a, const char *batch_id, int count, char ***out)
{
    char **codes = vc_arena_calloc(a, (size_t)count, sizeof(*codes));
    if (!codes) return VC_ENOMEM;
    for (int i = 0; i < count; i++)
        if (!(codes[i] = vc_arena_alloc(a, VC_CODE_LEN + 1))) return VC_ENOMEM;
    int done = 0;
    while (done < count) {
        int n = 1;
        for (size_t k = 0; k < sizeof(rs__chunks) / sizeof(rs__chunks[0]); k++)
            if (rs__chunks[k] <= count - done) {
                n = rs__chunks[k];
                break;
            }
        int rc = rs__insert_chunk(c, batch_id, n, codes + done);
        if (rc < 0) return rc;
        done += n;
    }
    *out = codes;
    return 0;
}

/* The review submission of a provider-funded batch, as issuance submits a voucher. */
static int rs__submit_review(vc_db_conn *c, vc_arena *a, const char *batch_id, const char *reseller,
                             const rs_template *tp, int count, int64_t total, int64_t expires_us)
{
    char face[VC_MONEY_FMT_MAX], until[40];
    if (vc_money_format(tp->face_value_minor, tp->currency_code, face, sizeof(face)) != 0)
        snprintf(face, sizeof(face), "%" PRId64, tp->face_value_minor);
    rs__utc(expires_us, until, sizeof(until));
    Approval__V1__SubmitReviewRequest m = APPROVAL__V1__SUBMIT_REVIEW_REQUEST__INIT;
    m.subject_type = APPROVAL__V1__SUBJECT_TYPE__SUBJECT_TYPE_VOUCHER_ISSUANCE;
    m.subject_id = (char *)batch_id;
    m.reseller_id = (char *)reseller;
    m.customer_id = RS_CODES_REVIEW_CUSTOMER;
    m.amount_minor = total;
    m.currency_code = (char *)tp->currency_code;
    m.description = vc_arena_sprintf(a,
                                     "Paper vouchers: %d redemption codes of \"%s\" (%s each), "
                                     "redeemable until %s",
                                     count, tp->name, face, until);
    if (!m.description) return VC_ENOMEM;
    return vc_outbox_put(c, RS_TOPIC_SUBMIT_REVIEW, &m.base, NULL);
}

/* Takes the batch's money: quota (provider-funded) or the own-cost total (reseller-funded). */
static int rs__fund_batch(rs_create *t, vc_db_conn *c, const char *batch_id, const rs_template *tp,
                          int64_t total)
{
    if (tp->funding != FUND_PROVIDER)
        return vc_db_exec(c,
                          "UPDATE resellers SET own_cost_issued_minor = own_cost_issued_minor + ? "
                          "WHERE reseller_id = ?",
                          VC_DB_ARGS(vc_db_i64(total), vc_db_str(t->reseller)), NULL);
    char idem[64];
    snprintf(idem, sizeof(idem), "batch:%s", batch_id);
    vc_ledger_posting p = {.reseller_id = t->reseller,
                           .account = VC_ACCOUNT_VOUCHER_QUOTA,
                           .currency_code = tp->currency_code,
                           .kind = VC_ENTRY_CONSUME,
                           .amount_minor = total,
                           .reference_type = REF_BATCH,
                           .reference_id = batch_id,
                           .idem_ref = idem,
                           .reason = "redemption codes created",
                           .operator_id = t->operator_id};
    int rc = vc_ledger_post(c, &p, NULL, NULL);
    if (rc == 0) /* the quota may have dropped below the reseller's low-balance threshold */
        return rs_alarm_reseller_low(c, t->app, t->reseller, VC_ACCOUNT_VOUCHER_QUOTA, batch_id);
    if (rc == VC_ECONFLICT) {
        vc_ledger_balance b = {0};
        vc_ledger_balance_of(c, t->reseller, VC_ACCOUNT_VOUCHER_QUOTA, NULL, &b);
        return rs_refuse(&t->refusal, VC_GRPC_FAILED_PRECONDITION, NULL,
                         "insufficient voucher quota: %" PRId64 " remaining, %" PRId64
                         " needed for %d codes",
                         b.balance_minor, total, (int)t->req->count);
    }
    return rc;
}

static Reseller__V1__RedeemCodeBatch *rs__batch_pb(vc_arena *a, const char *batch_id,
                                                   const rs_template *tp, int count,
                                                   int64_t consumed, int64_t created_us,
                                                   int64_t expires_us, const char *request_id)
{
    Reseller__V1__RedeemCodeBatch *b = vc_arena_alloc(a, sizeof(*b));
    if (!b) return NULL;
    reseller__v1__redeem_code_batch__init(b);
    b->batch_id = vc_arena_strdup(a, batch_id);
    b->template_id = vc_arena_strdup(a, tp->template_id);
    b->count = count;
    b->quota_consumed_minor = consumed;
    b->currency_code = vc_arena_strdup(a, tp->currency_code);
    b->create_time = vc_ts_new(a, created_us);
    b->redeem_expire_time = vc_ts_new(a, expires_us);
    b->request_id = vc_arena_strdup(a, request_id);
    if (!b->batch_id || !b->template_id || !b->currency_code || !b->create_time ||
        !b->redeem_expire_time || !b->request_id)
        return NULL;
    return b;
}

/* Checks the template against the request; fills *total (count x face). */
static int rs__check_template(rs_create *t, const rs_template *tp, int64_t now, int64_t *total)
{
    if (!tp->has_days && tp->valid_until_us <= now)
        return rs_refuse(&t->refusal, VC_GRPC_FAILED_PRECONDITION, NULL,
                         "the template's validity window ended: create a new template");
    if (!tp->has_days && t->expires_us > tp->valid_until_us) {
        char until[40];
        rs__utc(tp->valid_until_us, until, sizeof(until));
        return rs_refuse(&t->refusal, VC_GRPC_INVALID_ARGUMENT, "redeem_expire_time",
                         "must not be after the template's validity window ends (%s)", until);
    }
    if (!vc_money_mul(tp->face_value_minor, t->req->count, total) ||
        *total > RS_CODES_MAX_TOTAL_MINOR)
        return rs_refuse(&t->refusal, VC_GRPC_INVALID_ARGUMENT, "count",
                         "count x face value may not exceed %lld minor units",
                         (long long)RS_CODES_MAX_TOTAL_MINOR);
    return 0;
}

static int rs__create_tx(vc_db_conn *c, void *arg)
{
    rs_create *t = arg;
    const Reseller__V1__CreateRedeemCodesRequest *req = t->req;
    memset(&t->refusal, 0, sizeof(t->refusal));
    t->resp = NULL;
    ProtobufCMessage *replay = NULL;
    int rc =
        vc_idem_begin(c, t->reseller, "CreateRedeemCodes", req->request_id, &req->base, t->arena,
                      &reseller__v1__create_redeem_codes_response__descriptor, &replay);
    if (rc == VC_IDEM_REPLAY) {
        t->resp = (Reseller__V1__CreateRedeemCodesResponse *)replay;
        return 0;
    }
    if (rc == VC_IDEM_MISMATCH)
        return rs_refuse(&t->refusal, VC_GRPC_ALREADY_EXISTS, NULL,
                         "request_id %s was already used with other parameters", req->request_id);
    if (rc < 0) return rc;

    char currency[4];
    if ((rc = rs_reseller_ensure(c, t->app, t->reseller, currency)) < 0) return rc;
    /* Locks the template like issuing `count` vouchers: no edit can slip in afterwards. */
    rs_template tp;
    rc = rs_template_lock_for_issue(c, t->arena, t->reseller, req->template_id, req->count, &tp);
    if (rc == VC_ENOENT)
        return rs_refuse(&t->refusal, VC_GRPC_NOT_FOUND, NULL, "template %s not found",
                         req->template_id);
    if (rc < 0) return rc;
    int64_t now = vc_now_us(), total = 0;
    if ((rc = rs__check_template(t, &tp, now, &total)) != 0) return rc;

    char batch_id[VC_ID_MAX];
    if ((rc = vc_id_new(batch_id, "rcb")) != 0) return rc;
    bool provider = tp.funding == FUND_PROVIDER;
    if ((rc = rs__fund_batch(t, c, batch_id, &tp, total)) < 0) return rc;
    if (provider && (rc = rs__submit_review(c, t->arena, batch_id, t->reseller, &tp, req->count,
                                            total, t->expires_us)) < 0)
        return rc;
    rc = vc_db_exec(c,
                    "INSERT INTO redeem_batches (batch_id, reseller_id, template_id, code_count, "
                    "face_value_minor, funding, currency_code, quota_consumed_minor, state, "
                    "redeem_expires_us, request_id, remarks, created_us) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    VC_DB_ARGS(vc_db_str(batch_id), vc_db_str(t->reseller),
                               vc_db_str(tp.template_id), vc_db_i64(req->count),
                               vc_db_i64(tp.face_value_minor), vc_db_i64(tp.funding),
                               vc_db_str(tp.currency_code), vc_db_i64(provider ? total : 0),
                               vc_db_i64(provider ? B_PENDING_REVIEW : B_ACTIVE),
                               vc_db_i64(t->expires_us), vc_db_str(req->request_id),
                               vc_db_str(req->remarks ? req->remarks : ""), vc_db_i64(now)),
                    NULL);
    if (rc < 0) return rc;
    char **codes = NULL;
    if ((rc = rs__make_codes(c, t->arena, batch_id, req->count, &codes)) < 0) return rc;

    Reseller__V1__CreateRedeemCodesResponse *resp = vc_arena_alloc(t->arena, sizeof(*resp));
    if (!resp) return VC_ENOMEM;
    reseller__v1__create_redeem_codes_response__init(resp);
    resp->batch = rs__batch_pb(t->arena, batch_id, &tp, req->count, provider ? total : 0, now,
                               t->expires_us, req->request_id);
    if (!resp->batch) return VC_ENOMEM;
    resp->codes = codes;
    resp->n_codes = (size_t)req->count;
    /* The stored response holds the plain codes (codes.h: request_log is secret). */
    if ((rc = vc_idem_finish(c, t->reseller, "CreateRedeemCodes", req->request_id, &req->base,
                             &resp->base)) < 0)
        return rc;
    t->resp = resp;
    return 0;
}

static void rs__validate_create(vc_rpc_ctx *ctx, const Reseller__V1__CreateRedeemCodesRequest *req,
                                int64_t *expires_us)
{
    rs_check_request_id(ctx, req->request_id);
    rs_check_id(ctx, "template_id", req->template_id, true);
    if (req->count < 1 || req->count > RS_CODES_MAX_COUNT)
        vc_rpc_invalid(ctx, "count", "must be 1 to %d", RS_CODES_MAX_COUNT);
    int64_t now = vc_now_us();
    if (!req->redeem_expire_time)
        vc_rpc_invalid(ctx, "redeem_expire_time", "required");
    else if (!vc_ts_to_us(req->redeem_expire_time, expires_us))
        vc_rpc_invalid(ctx, "redeem_expire_time", "out of range");
    else if (*expires_us <= now)
        vc_rpc_invalid(ctx, "redeem_expire_time", "must be in the future");
    else if (*expires_us > now + RS_CODES_MAX_REDEEM_DAYS * VC_US_PER_DAY)
        vc_rpc_invalid(ctx, "redeem_expire_time", "may be at most %d days ahead",
                       RS_CODES_MAX_REDEEM_DAYS);
    rs_check_text(ctx, "remarks", req->remarks, 1024, false);
}

int rs_create_redeem_codes(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Reseller__V1__CreateRedeemCodesRequest *req = req_;
    Reseller__V1__CreateRedeemCodesResponse *resp = resp_;
    char tenant[64];
    int code = rs_tenant(ctx, NULL, "reseller_id", tenant);
    if (code) return code;
    rs_create t = {.app = vc_rpc_service_data(ctx),
                   .arena = vc_rpc_arena(ctx),
                   .reseller = tenant,
                   .operator_id = vc_rpc_caller(ctx)->subject,
                   .req = req};
    rs__validate_create(ctx, req, &t.expires_us);
    if (vc_rpc_error_code(ctx) == VC_GRPC_INVALID_ARGUMENT) return VC_GRPC_INVALID_ARGUMENT;
    /* A concurrent twin with the same request_id collides on the idempotency record
       (VC_EEXIST, rolled back); the next attempt replays the winner's codes. */
    int rc = VC_EEXIST;
    for (int attempt = 0; attempt < 3 && rc == VC_EEXIST; attempt++)
        rc = vc_db_tx(t.app->db, rs__create_tx, &t);
    if (rc < 0) return rs_refusal_send(ctx, rc, &t.refusal, "create redemption codes");
    resp->batch = t.resp->batch;
    resp->codes = t.resp->codes;
    resp->n_codes = t.resp->n_codes;
    return VC_GRPC_OK;
}

/* ---- redeeming ----------------------------------------------------------------------------- */

typedef struct rs_redeem {
    vc_arena *arena;
    const char *reseller, *customer; /* the caller's tenant and account */
    const char *code;                /* normalised: 18 digits */
    rs_refusal refusal;
    Reseller__V1__WalletVoucher *voucher;
} rs_redeem;

/* The wallet view of a voucher (eligibility.h), as ListMyVouchers shows it. */
static int rs__wallet_voucher(vc_db_conn *c, vc_arena *a, const char *voucher_id,
                              Reseller__V1__WalletVoucher **out)
{
    vc_db_rows *rows;
    int rc = vc_db_query(c, "SELECT " RS_WV_COLS " FROM vouchers WHERE voucher_id = ?",
                         VC_DB_ARGS(vc_db_str(voucher_id)), &rows);
    if (rc < 0) return rc;
    rs_wvoucher v;
    rc = vc_db_next(rows);
    if (rc == 1)
        rc = rs_wvoucher_read(rows, a, &v);
    else if (rc == 0)
        rc = VC_ENOENT;
    vc_db_rows_close(rows);
    if (rc < 0) return rc;
    return rs_wvoucher_to_pb(a, &v, vc_now_us(), false, out);
}

/* Locks the customer's failure counter (creating it), forgets failures of a window that has
   passed, and refuses when the customer is over the limit. Holding the row lock until commit
   serialises a customer's redemptions, so parallel guesses cannot overrun the limit. */
static int rs__throttle(vc_db_conn *c, rs_redeem *t, int64_t now)
{
    const char *customer = t->customer;
    int64_t stale = now - RS_CODES_FAILURE_WINDOW_US;
    int rc = vc_db_exec(c,
                        "INSERT INTO redeem_failures (customer_id, failures, window_start_us) "
                        "VALUES (?, 0, ?) ON DUPLICATE KEY UPDATE "
                        "failures = IF(window_start_us <= ?, 0, failures)",
                        VC_DB_ARGS(vc_db_str(customer), vc_db_i64(now), vc_db_i64(stale)), NULL);
    if (rc < 0) return rc;
    int64_t failures = 0;
    rc = vc_db_query_i64(c, "SELECT failures FROM redeem_failures WHERE customer_id = ?",
                         VC_DB_ARGS(vc_db_str(customer)), &failures);
    if (rc < 0) return rc;
    if (failures >= RS_CODES_MAX_FAILURES)
        return rs_refuse(&t->refusal, VC_GRPC_RESOURCE_EXHAUSTED, NULL,
                         "too many wrong codes, try again later");
    return 0;
}

/* A wrong code: counted (the window starts at its first failure) and committed. */
static int rs__wrong(vc_db_conn *c, rs_redeem *t, int64_t now, int code, const char *field,
                     const char *msg)
{
    int rc = vc_db_exec(c,
                        "UPDATE redeem_failures SET window_start_us = IF(failures = 0, ?, "
                        "window_start_us), failures = failures + 1 WHERE customer_id = ?",
                        VC_DB_ARGS(vc_db_i64(now), vc_db_str(t->customer)), NULL);
    if (rc < 0) return rc;
    rs_refuse(&t->refusal, code, field, "%s", msg);
    return 0;
}

typedef struct rs_batch_row {
    char batch_id[VC_ID_MAX], reseller_id[65], template_id[VC_ID_MAX], currency[4];
    int state, funding;
    int64_t face, expires_us;
    char *remarks;
} rs_batch_row;

static int rs__load_batch(vc_db_conn *c, vc_arena *a, const char *batch_id, rs_batch_row *b)
{
    vc_db_rows *rows;
    int rc = vc_db_query(c,
                         "SELECT batch_id, reseller_id, template_id, currency_code, state, "
                         "funding, face_value_minor, redeem_expires_us, remarks "
                         "FROM redeem_batches WHERE batch_id = ?",
                         VC_DB_ARGS(vc_db_str(batch_id)), &rows);
    if (rc < 0) return rc;
    rc = vc_db_next(rows);
    if (rc == 1) {
        vc_db_copy_str(rows, 0, b->batch_id, sizeof(b->batch_id));
        vc_db_copy_str(rows, 1, b->reseller_id, sizeof(b->reseller_id));
        vc_db_copy_str(rows, 2, b->template_id, sizeof(b->template_id));
        vc_db_copy_str(rows, 3, b->currency, sizeof(b->currency));
        b->state = (int)vc_db_i64_or(rows, 4, 0);
        b->funding = (int)vc_db_i64_or(rows, 5, 0);
        b->face = vc_db_i64_or(rows, 6, 0);
        b->expires_us = vc_db_i64_or(rows, 7, 0);
        b->remarks = vc_db_arena_str(rows, 8, a);
        rc = b->remarks ? 0 : VC_ENOMEM;
    } else if (rc == 0) {
        rc = VC_ENOENT;
    }
    vc_db_rows_close(rows);
    return rc;
}

/* Why a batch's codes cannot be redeemed now (NULL: they can). */
static const char *rs__batch_unusable(const rs_batch_row *b, int64_t now)
{
    switch (b->state) {
    case B_PENDING_REVIEW:
        return "this code's batch is still being reviewed by the provider: try again later";
    case B_REJECTED: return "this code is void: its batch was rejected in review";
    case B_ACTIVE: return b->expires_us <= now ? "this code has expired" : NULL;
    default: return "this code has expired";
    }
}

/* The voucher a code becomes: the template's terms as issuance copies them, ACTIVE at once
   (the batch was reviewed, or needed no review). */
static int rs__insert_voucher(vc_db_conn *c, const rs_batch_row *b, const rs_template *tp,
                              const char *customer, const char *voucher_id, int64_t now)
{
    int64_t starts = tp->has_days ? now : tp->valid_from_us;
    int64_t expires =
        tp->has_days ? now + (int64_t)tp->validity_days * VC_US_PER_DAY : tp->valid_until_us;
    return vc_db_exec(
        c,
        "INSERT INTO vouchers (voucher_id, reseller_id, customer_id, template_id, "
        "template_version, name, funding, source, redeem_batch_id, face_value_minor, "
        "balance_minor, currency_code, scope_kind, product_codes, excluded_product_codes, "
        "payment_modes, validity_days, valid_from_us, valid_until_us, min_order_minor, "
        "min_purchase_months, max_purchase_months, use_limit, status, review_status, "
        "issue_request_id, remarks, issued_us, activated_us, starts_us, expires_us) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
        "?, ?, ?, ?)",
        VC_DB_ARGS(
            vc_db_str(voucher_id), vc_db_str(b->reseller_id), vc_db_str(customer),
            vc_db_str(tp->template_id), vc_db_i64(tp->version), vc_db_str(tp->name),
            vc_db_i64(b->funding), vc_db_i64(SRC_REDEEM_CODE), vc_db_str(b->batch_id),
            vc_db_i64(b->face), vc_db_i64(b->face), vc_db_str(b->currency),
            vc_db_i64(tp->scope_kind), vc_db_str(tp->product_codes),
            vc_db_str(tp->excluded_product_codes), vc_db_i64(tp->payment_modes),
            tp->has_days ? vc_db_i64(tp->validity_days) : vc_db_null(),
            tp->has_days ? vc_db_null() : vc_db_i64(tp->valid_from_us),
            tp->has_days ? vc_db_null() : vc_db_i64(tp->valid_until_us),
            vc_db_i64(tp->min_order_minor), vc_db_i64(tp->min_purchase_months),
            vc_db_i64(tp->max_purchase_months), vc_db_i64(tp->use_limit), vc_db_i64(ST_ACTIVE),
            vc_db_i64(b->funding == FUND_PROVIDER ? RV_APPROVED : RV_NOT_REQUIRED), vc_db_str(""),
            vc_db_str(b->remarks), vc_db_i64(now), vc_db_i64(now),
            starts ? vc_db_i64(starts) : vc_db_null(), expires ? vc_db_i64(expires) : vc_db_null()),
        NULL);
}

/* Turns the locked, unredeemed code of an ACTIVE batch into the caller's voucher. */
static int rs__redeem_into_voucher(vc_db_conn *c, rs_redeem *t, const char *hash,
                                   const rs_batch_row *b, int64_t now)
{
    /* The batch row orders us with the expiry job: once it expired, no code may be redeemed. */
    uint64_t matched = 0;
    int rc = vc_db_exec(c,
                        "UPDATE redeem_batches SET redeemed_count = redeemed_count + 1 WHERE "
                        "batch_id = ? AND state = ? AND redeem_expires_us > ? AND "
                        "redeemed_count < code_count",
                        VC_DB_ARGS(vc_db_str(b->batch_id), vc_db_i64(B_ACTIVE), vc_db_i64(now)),
                        &matched);
    if (rc < 0) return rc;
    if (!matched)
        return rs_refuse(&t->refusal, VC_GRPC_FAILED_PRECONDITION, NULL, "this code has expired");
    rs_template tp;
    if ((rc = rs_template_get(c, t->arena, b->reseller_id, b->template_id, &tp)) < 0) return rc;
    if (!tp.has_days && tp.valid_until_us <= now)
        return rs_refuse(&t->refusal, VC_GRPC_FAILED_PRECONDITION, NULL,
                         "the voucher's validity window has ended");
    char voucher_id[VC_ID_MAX];
    if ((rc = vc_id_new(voucher_id, "vch")) != 0) return rc;
    if ((rc = rs__insert_voucher(c, b, &tp, t->customer, voucher_id, now)) < 0) return rc;
    rc = vc_db_exec(
        c,
        "UPDATE redeem_codes SET customer_id = ?, voucher_id = ?, redeemed_us = ? "
        "WHERE code_hash = ? AND voucher_id IS NULL",
        VC_DB_ARGS(vc_db_str(t->customer), vc_db_str(voucher_id), vc_db_i64(now), vc_db_str(hash)),
        &matched);
    if (rc < 0) return rc;
    if (!matched) /* cannot happen under our row lock; never hand out a second voucher */
        return rs_refuse(&t->refusal, VC_GRPC_ABORTED, NULL, "the code changed meanwhile: retry");
    return rs__wallet_voucher(c, t->arena, voucher_id, &t->voucher);
}

static int rs__redeem_tx(vc_db_conn *c, void *arg)
{
    rs_redeem *t = arg;
    memset(&t->refusal, 0, sizeof(t->refusal));
    t->voucher = NULL;
    int64_t now = vc_now_us();
    int rc = rs_customer_exists(c, t->reseller, t->customer);
    if (rc == VC_ENOENT)
        return rs_refuse(&t->refusal, VC_GRPC_PERMISSION_DENIED, NULL,
                         "account %s is not a customer of reseller %s", t->customer, t->reseller);
    if (rc < 0 || (rc = rs__throttle(c, t, now)) != 0) return rc;
    if (!vc_code_valid(t->code))
        return rs__wrong(c, t, now, VC_GRPC_INVALID_ARGUMENT, "code",
                         "check digit does not match: mistyped?");

    /* The code row lock makes concurrent redemptions of one code take turns. */
    vc_db_rows *rows;
    rc = vc_db_query(c,
                     "SELECT code_hash, batch_id, customer_id, voucher_id FROM redeem_codes "
                     "WHERE code_hash = SHA2(?, 256) FOR UPDATE",
                     VC_DB_ARGS(vc_db_str(t->code)), &rows);
    if (rc < 0) return rc;
    char hash[65] = "", batch_id[VC_ID_MAX] = "", owner[65] = "", voucher_id[VC_ID_MAX] = "";
    rc = vc_db_next(rows);
    bool found = rc == 1;
    if (found) {
        vc_db_copy_str(rows, 0, hash, sizeof(hash));
        vc_db_copy_str(rows, 1, batch_id, sizeof(batch_id));
        vc_db_copy_str(rows, 2, owner, sizeof(owner));
        vc_db_copy_str(rows, 3, voucher_id, sizeof(voucher_id));
    }
    vc_db_rows_close(rows);
    if (rc < 0) return rc;
    rs_batch_row b;
    memset(&b, 0, sizeof(b));
    if (found && (rc = rs__load_batch(c, t->arena, batch_id, &b)) < 0) return rc;
    /* Unknown and another reseller's look the same: other tenants' codes stay invisible. */
    if (!found || strcmp(b.reseller_id, t->reseller) != 0)
        return rs__wrong(c, t, now, VC_GRPC_NOT_FOUND, NULL, "no such redemption code");
    if (voucher_id[0]) {
        if (strcmp(owner, t->customer) == 0) /* a retry: the same voucher again */
            return rs__wallet_voucher(c, t->arena, voucher_id, &t->voucher);
        return rs_refuse(&t->refusal, VC_GRPC_FAILED_PRECONDITION, NULL,
                         "this code was already redeemed");
    }
    const char *why = rs__batch_unusable(&b, now);
    if (why) return rs_refuse(&t->refusal, VC_GRPC_FAILED_PRECONDITION, NULL, "%s", why);
    return rs__redeem_into_voucher(c, t, hash, &b, now);
}

int rs_redeem_code(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Reseller__V1__RedeemCodeRequest *req = req_;
    Reseller__V1__RedeemCodeResponse *resp = resp_;
    rs_app *app = vc_rpc_service_data(ctx);
    char reseller[64], customer[64];
    int code_rc = rs_wallet_caller(ctx, reseller, customer);
    if (code_rc) return code_rc;
    char code[VC_CODE_LEN + 1];
    if (vc_code_normalize(req->code, code) != 0)
        return vc_rpc_invalid(ctx, "code", "must be 18 digits");
    rs_redeem t = {
        .arena = vc_rpc_arena(ctx), .reseller = reseller, .customer = customer, .code = code};
    int rc = vc_db_tx(app->db, rs__redeem_tx, &t);
    if (rc == 0 && t.refusal.code != VC_GRPC_OK) rc = RS_REFUSE; /* a counted wrong code */
    if (rc < 0) return rs_refusal_send(ctx, rc, &t.refusal, "redeem code");
    resp->voucher = t.voucher;
    return VC_GRPC_OK;
}

/* ---- review outcomes ----------------------------------------------------------------------- */

bool rs_codes_is_batch(const char *subject_id)
{
    return subject_id &&
           strncmp(subject_id, RS_CODES_BATCH_PREFIX, sizeof(RS_CODES_BATCH_PREFIX) - 1) == 0;
}

/* Gives a batch's `amount` back to the quota once per event ("return", "expire"), or off the
   own-cost total for a reseller-funded batch. */
static int rs__give_back(vc_db_conn *c, const char *batch_id, const char *reseller,
                         const char *currency, int funding, int64_t amount, const char *event,
                         const char *reason, const char *operator_id)
{
    if (amount <= 0) return 0;
    if (funding != FUND_PROVIDER)
        return vc_db_exec(c,
                          "UPDATE resellers SET own_cost_issued_minor = own_cost_issued_minor - ? "
                          "WHERE reseller_id = ?",
                          VC_DB_ARGS(vc_db_i64(amount), vc_db_str(reseller)), NULL);
    char idem[64];
    snprintf(idem, sizeof(idem), "%s:%s", event, batch_id);
    vc_ledger_posting p = {.reseller_id = reseller,
                           .account = VC_ACCOUNT_VOUCHER_QUOTA,
                           .currency_code = currency,
                           .kind = VC_ENTRY_RETURN,
                           .amount_minor = amount,
                           .reference_type = REF_BATCH,
                           .reference_id = batch_id,
                           .idem_ref = idem,
                           .reason = reason,
                           .operator_id = operator_id};
    return vc_ledger_post(c, &p, NULL, NULL);
}

int rs_codes_apply_outcome(vc_db_conn *c, const rs_app *app,
                           const Reseller__V1__ReviewDecidedRequest *m, bool *changed)
{
    (void)app;
    *changed = false;
    vc_db_rows *rows;
    int rc = vc_db_query(c,
                         "SELECT state, funding, currency_code, quota_consumed_minor FROM "
                         "redeem_batches WHERE batch_id = ? AND reseller_id = ? FOR UPDATE",
                         VC_DB_ARGS(vc_db_str(m->subject_id), vc_db_str(m->reseller_id)), &rows);
    if (rc < 0) return rc;
    int state = 0, funding = 0;
    int64_t consumed = 0;
    char currency[4] = "";
    rc = vc_db_next(rows);
    if (rc == 1) {
        state = (int)vc_db_i64_or(rows, 0, 0);
        funding = (int)vc_db_i64_or(rows, 1, 0);
        vc_db_copy_str(rows, 2, currency, sizeof(currency));
        consumed = vc_db_i64_or(rows, 3, 0);
    }
    vc_db_rows_close(rows);
    if (rc <= 0) return rc < 0 ? rc : VC_ENOENT;
    if (m->outcome != OUT_APPROVED && m->outcome != OUT_REJECTED && m->outcome != OUT_CANCELLED)
        return VC_EINVAL;
    if (state != B_PENDING_REVIEW) {
        vc_logf(VC_LOG_INFO, "review outcome %d for batch %s: already final (state %d)",
                (int)m->outcome, m->subject_id, state);
        return 0;
    }
    bool approved = m->outcome == OUT_APPROVED;
    rc = vc_db_exec(c,
                    "UPDATE redeem_batches SET state = ?, quota_returned_minor = ? WHERE "
                    "batch_id = ? AND state = ?",
                    VC_DB_ARGS(vc_db_i64(approved ? B_ACTIVE : B_REJECTED),
                               vc_db_i64(approved ? 0 : consumed), vc_db_str(m->subject_id),
                               vc_db_i64(B_PENDING_REVIEW)),
                    NULL);
    if (rc < 0) return rc;
    *changed = true;
    if (approved) return 0;
    return rs__give_back(c, m->subject_id, m->reseller_id, currency, funding, consumed, "return",
                         m->outcome == OUT_REJECTED ? "code batch rejected in review"
                                                    : "code batch review cancelled",
                         m->decided_by ? m->decided_by : "");
}

/* ---- batch expiry -------------------------------------------------------------------------- */

typedef struct rs_due_batch {
    char batch_id[VC_ID_MAX], reseller_id[65], currency[4];
    int64_t unredeemed, face;
    int funding;
} rs_due_batch;

int rs_codes_expire_batches(vc_db_conn *c, int64_t now_us, int limit, int *expired)
{
    *expired = 0;
    char sql[512];
    snprintf(sql, sizeof(sql),
             "SELECT batch_id, reseller_id, currency_code, code_count - redeemed_count, "
             "face_value_minor, funding FROM redeem_batches WHERE state = ? AND "
             "redeem_expires_us <= ? ORDER BY redeem_expires_us LIMIT %d FOR UPDATE SKIP LOCKED",
             limit);
    vc_arena *a = vc_arena_new(0);
    if (!a) return VC_ENOMEM;
    rs_due_batch *due = vc_arena_calloc(a, (size_t)limit, sizeof(*due));
    vc_db_rows *rows;
    int rc = due ? vc_db_query(c, sql, VC_DB_ARGS(vc_db_i64(B_ACTIVE), vc_db_i64(now_us)), &rows)
                 : VC_ENOMEM;
    if (rc < 0) {
        vc_arena_free(a);
        return rc;
    }
    int n = 0;
    while (n < limit && (rc = vc_db_next(rows)) == 1) {
        rs_due_batch *d = &due[n++];
        vc_db_copy_str(rows, 0, d->batch_id, sizeof(d->batch_id));
        vc_db_copy_str(rows, 1, d->reseller_id, sizeof(d->reseller_id));
        vc_db_copy_str(rows, 2, d->currency, sizeof(d->currency));
        d->unredeemed = vc_db_i64_or(rows, 3, 0);
        d->face = vc_db_i64_or(rows, 4, 0);
        d->funding = (int)vc_db_i64_or(rows, 5, 0);
    }
    vc_db_rows_close(rows);
    for (int i = 0; rc >= 0 && i < n; i++) {
        rs_due_batch *d = &due[i];
        int64_t amount = 0;
        if (!vc_money_mul(d->unredeemed, d->face, &amount)) {
            rc = VC_EOVERFLOW;
            break;
        }
        uint64_t matched = 0;
        rc = vc_db_exec(c,
                        "UPDATE redeem_batches SET state = ?, quota_returned_minor = "
                        "quota_returned_minor + ? WHERE batch_id = ? AND state = ?",
                        VC_DB_ARGS(vc_db_i64(B_EXPIRED),
                                   vc_db_i64(d->funding == FUND_PROVIDER ? amount : 0),
                                   vc_db_str(d->batch_id), vc_db_i64(B_ACTIVE)),
                        &matched);
        if (rc < 0 || !matched) continue;
        rc = rs__give_back(c, d->batch_id, d->reseller_id, d->currency, d->funding, amount,
                           "expire", "redemption codes expired unredeemed", "expiry-sweep");
        if (rc == 0) (*expired)++;
    }
    vc_arena_free(a);
    return rc < 0 ? rc : 0;
}
