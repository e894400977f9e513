/*
 * vouchers.c - reseller.v1.VoucherService: issuance against the quota, the voucher list, cancel
 * review, withdraw, the issuance summary, plus the outcome and expiry paths (SPEC §1–3).
 *
 * Money paths. A provider-funded issue consumes quota (vc_ledger CONSUME "issue:<voucher>") in
 * the same transaction that inserts the voucher, bumps the template's issued_count (which locks
 * the template against edits) and writes the review submission to the outbox. Every return of
 * quota — rejected, cancelled, withdrawn, expired — is one RETURN posting named
 * "return:<voucher>" (or "expire:<voucher>"), so whichever path and however many retries, a
 * voucher gives its quota back at most once. Status changes are conditional updates on the
 * voucher's current status, so racing paths (cancel vs approve, two sweepers) resolve to one.
 */
#include "vouchers.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "approval/v1/review_service.pb-c.h"
#include "codes.h"
#include "credit.h"
#include "customers.h"
#include "db/vc_idem.h"
#include "ledger/vc_ledger.h"
#include "outbox/vc_outbox.h"
#include "outbox/vc_outbox_sender.h"
#include "reseller/v1/voucher_service.pb-c.h"
#include "rpc/vc_page.h"
#include "runtime/vc_log.h"
#include "templates.h"

/* Proto enum values (reseller.v1), spelled short. */
#define ST_PENDING_REVIEW ((int)RESELLER__V1__VOUCHER_STATUS__VOUCHER_STATUS_PENDING_REVIEW)
#define ST_CANCELLING ((int)RESELLER__V1__VOUCHER_STATUS__VOUCHER_STATUS_CANCELLING)
#define ST_CANCELLED ((int)RESELLER__V1__VOUCHER_STATUS__VOUCHER_STATUS_CANCELLED)
#define ST_REJECTED ((int)RESELLER__V1__VOUCHER_STATUS__VOUCHER_STATUS_REJECTED)
#define ST_ACTIVE ((int)RESELLER__V1__VOUCHER_STATUS__VOUCHER_STATUS_ACTIVE)
#define ST_WITHDRAWN ((int)RESELLER__V1__VOUCHER_STATUS__VOUCHER_STATUS_WITHDRAWN)
#define ST_EXPIRED ((int)RESELLER__V1__VOUCHER_STATUS__VOUCHER_STATUS_EXPIRED)
#define RV_NOT_REQUIRED ((int)RESELLER__V1__REVIEW_STATUS__REVIEW_STATUS_NOT_REQUIRED)
#define RV_PENDING ((int)RESELLER__V1__REVIEW_STATUS__REVIEW_STATUS_PENDING)
#define RV_CANCEL_REQUESTED ((int)RESELLER__V1__REVIEW_STATUS__REVIEW_STATUS_CANCEL_REQUESTED)
#define RV_APPROVED ((int)RESELLER__V1__REVIEW_STATUS__REVIEW_STATUS_APPROVED)
#define RV_REJECTED ((int)RESELLER__V1__REVIEW_STATUS__REVIEW_STATUS_REJECTED)
#define RV_CANCELLED ((int)RESELLER__V1__REVIEW_STATUS__REVIEW_STATUS_CANCELLED)
#define FUND_PROVIDER ((int)RESELLER__V1__FUNDING__FUNDING_PROVIDER_FUNDED)
#define FUND_RESELLER ((int)RESELLER__V1__FUNDING__FUNDING_RESELLER_FUNDED)
#define SRC_ISSUED ((int)RESELLER__V1__VOUCHER_SOURCE__VOUCHER_SOURCE_ISSUED)
#define REF_VOUCHER ((int)RESELLER__V1__REFERENCE_TYPE__REFERENCE_TYPE_VOUCHER)

#define RS_BATCH_MAX 500

/* ---- the voucher row ----------------------------------------------------------------------- */

typedef struct rs_voucher {
    char voucher_id[VC_ID_MAX + 1], reseller_id[65], customer_id[65], template_id[VC_ID_MAX + 1];
    char name[4 * RS_TEMPLATE_NAME_MAX + 1], currency[4], ticket_id[65], hold_order_id[65];
    int64_t template_version, face, balance, min_order, quota_returned;
    int funding, source, scope_kind, payment_modes, use_limit, min_months, max_months;
    int status, review_status, validity_days;
    bool has_days, ever_used;
    int64_t valid_from_us, valid_until_us; /* 0 = none */
    int64_t submitted_us, due_us, decided_us, issued_us, activated_us, starts_us, expires_us,
        ended_us;
    char *product_codes, *excluded, *review_reason, *remarks, *withdraw_reason, *request_id;
} rs_voucher;

#define RS_VOUCHER_COLS                                                                            \
    "voucher_id, reseller_id, customer_id, template_id, template_version, name, funding, source, " \
    "face_value_minor, balance_minor, currency_code, scope_kind, product_codes, "                  \
    "excluded_product_codes, payment_modes, validity_days, valid_from_us, valid_until_us, "       \
    "min_order_minor, min_purchase_months, max_purchase_months, use_limit, status, "              \
    "review_status, ticket_id, review_reason, review_submitted_us, review_due_us, "               \
    "review_decided_us, issue_request_id, remarks, issued_us, activated_us, starts_us, "          \
    "expires_us, ended_us, quota_returned_minor, hold_order_id, ever_used, withdraw_reason"

static void rs__read_voucher(vc_db_rows *r, vc_arena *a, rs_voucher *v)
{
    memset(v, 0, sizeof(*v));
    unsigned i = 0;
    vc_db_copy_str(r, i++, v->voucher_id, sizeof(v->voucher_id));
    vc_db_copy_str(r, i++, v->reseller_id, sizeof(v->reseller_id));
    vc_db_copy_str(r, i++, v->customer_id, sizeof(v->customer_id));
    vc_db_copy_str(r, i++, v->template_id, sizeof(v->template_id));
    v->template_version = vc_db_i64_or(r, i++, 0);
    vc_db_copy_str(r, i++, v->name, sizeof(v->name));
    v->funding = (int)vc_db_i64_or(r, i++, 0);
    v->source = (int)vc_db_i64_or(r, i++, 0);
    v->face = vc_db_i64_or(r, i++, 0);
    v->balance = vc_db_i64_or(r, i++, 0);
    vc_db_copy_str(r, i++, v->currency, sizeof(v->currency));
    v->scope_kind = (int)vc_db_i64_or(r, i++, 0);
    v->product_codes = vc_db_arena_str(r, i++, a);
    v->excluded = vc_db_arena_str(r, i++, a);
    v->payment_modes = (int)vc_db_i64_or(r, i++, 0);
    v->has_days = !vc_db_is_null(r, i);
    v->validity_days = (int)vc_db_i64_or(r, i++, 0);
    v->valid_from_us = vc_db_i64_or(r, i++, 0);
    v->valid_until_us = vc_db_i64_or(r, i++, 0);
    v->min_order = vc_db_i64_or(r, i++, 0);
    v->min_months = (int)vc_db_i64_or(r, i++, 0);
    v->max_months = (int)vc_db_i64_or(r, i++, 0);
    v->use_limit = (int)vc_db_i64_or(r, i++, 0);
    v->status = (int)vc_db_i64_or(r, i++, 0);
    v->review_status = (int)vc_db_i64_or(r, i++, 0);
    vc_db_copy_str(r, i++, v->ticket_id, sizeof(v->ticket_id));
    v->review_reason = vc_db_arena_str(r, i++, a);
    v->submitted_us = vc_db_i64_or(r, i++, 0);
    v->due_us = vc_db_i64_or(r, i++, 0);
    v->decided_us = vc_db_i64_or(r, i++, 0);
    v->request_id = vc_db_arena_str(r, i++, a);
    v->remarks = vc_db_arena_str(r, i++, a);
    v->issued_us = vc_db_i64_or(r, i++, 0);
    v->activated_us = vc_db_i64_or(r, i++, 0);
    v->starts_us = vc_db_i64_or(r, i++, 0);
    v->expires_us = vc_db_i64_or(r, i++, 0);
    v->ended_us = vc_db_i64_or(r, i++, 0);
    v->quota_returned = vc_db_i64_or(r, i++, 0);
    vc_db_copy_str(r, i++, v->hold_order_id, sizeof(v->hold_order_id));
    v->ever_used = vc_db_i64_or(r, i++, 0) != 0;
    v->withdraw_reason = vc_db_arena_str(r, i++, a);
}

/* Loads one voucher of a reseller; VC_ENOENT when it is not theirs. `lock` adds FOR UPDATE. */
static int rs__load(vc_db_conn *c, vc_arena *a, const char *reseller, const char *id, bool lock,
                    rs_voucher *v)
{
    vc_db_rows *rows;
    int rc = vc_db_query(c,
                         lock ? "SELECT " RS_VOUCHER_COLS " FROM vouchers WHERE voucher_id = ? AND "
                                "reseller_id = ? FOR UPDATE"
                              : "SELECT " RS_VOUCHER_COLS " FROM vouchers WHERE voucher_id = ? AND "
                                "reseller_id = ?",
                         VC_DB_ARGS(vc_db_str(id), vc_db_str(reseller)), &rows);
    if (rc < 0)
        return rc;
    rc = vc_db_next(rows);
    if (rc == 1) {
        rs__read_voucher(rows, a, v);
        rc = 0;
    } else if (rc == 0) {
        rc = VC_ENOENT;
    }
    vc_db_rows_close(rows);
    return rc;
}

static Google__Protobuf__Timestamp *rs__ts(vc_arena *a, int64_t us)
{
    return us ? vc_ts_new(a, us) : NULL;
}

/* The customer-side usage status as the reseller sees it (SPEC §5). */
static int rs__usage_status(const rs_voucher *v, int64_t now)
{
    if (v->status == ST_EXPIRED || (v->expires_us && v->expires_us <= now))
        return RESELLER__V1__USAGE_STATUS__USAGE_STATUS_EXPIRED;
    if (v->status != ST_ACTIVE)
        return RESELLER__V1__USAGE_STATUS__USAGE_STATUS_UNSPECIFIED;
    if (v->hold_order_id[0])
        return RESELLER__V1__USAGE_STATUS__USAGE_STATUS_FROZEN;
    if (v->ever_used)
        return RESELLER__V1__USAGE_STATUS__USAGE_STATUS_USED;
    return RESELLER__V1__USAGE_STATUS__USAGE_STATUS_AVAILABLE;
}

static Reseller__V1__Voucher *rs__to_pb(vc_arena *a, const rs_voucher *v)
{
    Reseller__V1__Voucher *p = vc_arena_alloc(a, sizeof(*p));
    Reseller__V1__ReviewProgress *rv = vc_arena_alloc(a, sizeof(*rv));
    if (!p || !rv)
        return NULL;
    reseller__v1__voucher__init(p);
    reseller__v1__review_progress__init(rv);
    p->voucher_id = vc_arena_strdup(a, v->voucher_id);
    p->reseller_id = vc_arena_strdup(a, v->reseller_id);
    p->customer_id = vc_arena_strdup(a, v->customer_id);
    p->template_id = vc_arena_strdup(a, v->template_id);
    p->name = vc_arena_strdup(a, v->name);
    p->funding = v->funding;
    p->source = v->source;
    p->face_value_minor = v->face;
    p->balance_minor = v->balance;
    p->used_amount_minor = v->face - v->balance;
    p->currency_code = vc_arena_strdup(a, v->currency);
    size_t n_modes = 0;
    if (rs_scope_to_pb(a, v->scope_kind, v->product_codes, v->excluded, &p->product_scope) ||
        rs_payment_modes_to_pb(a, (unsigned)v->payment_modes, &p->payment_modes, &n_modes) ||
        rs_conditions_to_pb(a, v->min_order, v->min_months, v->max_months, v->use_limit,
                            &p->conditions) ||
        rs_validity_to_pb(a, v->has_days, v->validity_days, v->valid_from_us, v->valid_until_us,
                          &p->validity))
        return NULL;
    p->n_payment_modes = n_modes;
    p->status = v->status;
    p->usage_status = rs__usage_status(v, vc_now_us());
    rv->status = v->review_status;
    rv->ticket_id = vc_arena_strdup(a, v->ticket_id);
    rv->submit_time = rs__ts(a, v->submitted_us);
    rv->due_time = rs__ts(a, v->due_us);
    rv->decide_time = rs__ts(a, v->decided_us);
    rv->reason = v->review_reason;
    p->review = rv;
    p->request_id = v->request_id;
    p->issue_time = rs__ts(a, v->issued_us);
    p->activate_time = rs__ts(a, v->activated_us);
    p->valid_from_time = rs__ts(a, v->starts_us);
    p->expire_time = rs__ts(a, v->expires_us);
    p->end_time = rs__ts(a, v->ended_us);
    p->frozen_order_id = vc_arena_strdup(a, v->hold_order_id);
    p->withdraw_reason = v->withdraw_reason;
    return p;
}

/* When a voucher becomes usable: validity N days from activation, or the template's window. */
static void rs__activate_window(rs_voucher *v, int64_t now)
{
    v->activated_us = now;
    if (v->has_days) {
        v->starts_us = now;
        v->expires_us = now + (int64_t)v->validity_days * VC_US_PER_DAY;
    } else {
        v->starts_us = v->valid_from_us;
        v->expires_us = v->valid_until_us;
    }
}

/* ---- issuing ------------------------------------------------------------------------------- */

typedef struct rs_issue {
    const rs_app *app;
    vc_arena *arena;
    const char *reseller, *operator_id, *method;
    const Reseller__V1__IssueVoucherRequest *req;
    /* out */
    int code;        /* gRPC code for business refusals (tx rolled back) */
    char msg[256];   /* their message */
    Reseller__V1__IssueVoucherResponse *resp;
} rs_issue;

/* A business refusal inside a transaction: remembered, and a negative code rolls back. */
#define RS_REFUSE -2000

static int rs__refuse(rs_issue *t, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int rs__refuse(rs_issue *t, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->msg, sizeof(t->msg), fmt, ap);
    va_end(ap);
    t->code = code;
    return RS_REFUSE;
}

static int rs__submit_review(vc_db_conn *c, const rs_voucher *v)
{
    Approval__V1__SubmitReviewRequest m = APPROVAL__V1__SUBMIT_REVIEW_REQUEST__INIT;
    m.subject_type = APPROVAL__V1__SUBJECT_TYPE__SUBJECT_TYPE_VOUCHER_ISSUANCE;
    m.subject_id = (char *)v->voucher_id;
    m.reseller_id = (char *)v->reseller_id;
    m.customer_id = (char *)v->customer_id;
    m.amount_minor = v->face;
    m.currency_code = (char *)v->currency;
    m.description = (char *)v->name;
    return vc_outbox_put(c, RS_TOPIC_SUBMIT_REVIEW, &m.base, NULL);
}

static int rs__issue_tx(vc_db_conn *c, void *arg)
{
    rs_issue *t = arg;
    const Reseller__V1__IssueVoucherRequest *req = t->req;
    t->code = VC_GRPC_OK;
    t->resp = NULL;
    ProtobufCMessage *replay = NULL;
    int rc = vc_idem_begin(c, t->reseller, t->method, req->request_id, &req->base, t->arena,
                           &reseller__v1__issue_voucher_response__descriptor, &replay);
    if (rc == VC_IDEM_REPLAY) {
        t->resp = (Reseller__V1__IssueVoucherResponse *)replay;
        return 0;
    }
    if (rc == VC_IDEM_MISMATCH)
        return rs__refuse(t, VC_GRPC_ALREADY_EXISTS,
                          "request_id %s was already used with other parameters",
                          req->request_id);
    if (rc < 0)
        return rc;

    char currency[4];
    if ((rc = rs_reseller_ensure(c, t->app, t->reseller, currency)) < 0)
        return rc;
    rc = rs_customer_exists(c, t->reseller, req->customer_id);
    if (rc == VC_ENOENT)
        return rs__refuse(t, VC_GRPC_NOT_FOUND, "customer %s not found", req->customer_id);
    if (rc < 0)
        return rc;
    rs_template tp;
    rc = rs_template_lock_for_issue(c, t->arena, t->reseller, req->template_id, 1, &tp);
    if (rc == VC_ENOENT)
        return rs__refuse(t, VC_GRPC_NOT_FOUND, "template %s not found", req->template_id);
    if (rc < 0)
        return rc;
    int64_t now = vc_now_us();
    if (!tp.has_days && tp.valid_until_us <= now)
        return rs__refuse(t, VC_GRPC_FAILED_PRECONDITION,
                          "the template's validity window ended: create a new template");

    rs_voucher v;
    memset(&v, 0, sizeof(v));
    if ((rc = vc_id_new(v.voucher_id, "vch")) != 0)
        return rc;
    snprintf(v.reseller_id, sizeof(v.reseller_id), "%s", t->reseller);
    snprintf(v.customer_id, sizeof(v.customer_id), "%s", req->customer_id);
    snprintf(v.template_id, sizeof(v.template_id), "%s", tp.template_id);
    snprintf(v.name, sizeof(v.name), "%s", tp.name);
    snprintf(v.currency, sizeof(v.currency), "%s", tp.currency_code);
    v.template_version = tp.version;
    v.funding = tp.funding;
    v.source = SRC_ISSUED;
    v.face = v.balance = tp.face_value_minor;
    v.scope_kind = tp.scope_kind;
    v.product_codes = tp.product_codes;
    v.excluded = tp.excluded_product_codes;
    v.payment_modes = tp.payment_modes;
    v.has_days = tp.has_days;
    v.validity_days = tp.validity_days;
    v.valid_from_us = tp.has_days ? 0 : tp.valid_from_us;
    v.valid_until_us = tp.has_days ? 0 : tp.valid_until_us;
    v.min_order = tp.min_order_minor;
    v.min_months = tp.min_purchase_months;
    v.max_months = tp.max_purchase_months;
    v.use_limit = tp.use_limit;
    v.issued_us = now;
    v.request_id = req->request_id;
    v.remarks = req->remarks ? req->remarks : "";
    v.review_reason = v.withdraw_reason = "";

    if (v.funding == FUND_PROVIDER) {
        char idem[96];
        snprintf(idem, sizeof(idem), "issue:%s", v.voucher_id);
        vc_ledger_posting p = {.reseller_id = t->reseller,
                               .account = VC_ACCOUNT_VOUCHER_QUOTA,
                               .currency_code = v.currency,
                               .kind = VC_ENTRY_CONSUME,
                               .amount_minor = v.face,
                               .reference_type = REF_VOUCHER,
                               .reference_id = v.voucher_id,
                               .idem_ref = idem,
                               .reason = "voucher issued",
                               .operator_id = t->operator_id};
        rc = vc_ledger_post(c, &p, NULL, NULL);
        if (rc == VC_ECONFLICT) {
            vc_ledger_balance b;
            vc_ledger_balance_of(c, t->reseller, VC_ACCOUNT_VOUCHER_QUOTA, NULL, &b);
            return rs__refuse(t, VC_GRPC_FAILED_PRECONDITION,
                              "insufficient voucher quota: %" PRId64 " remaining, %" PRId64
                              " needed",
                              b.balance_minor, v.face);
        }
        if (rc == 0)
            rc = rs_alarm_reseller_low(c, t->app, t->reseller, VC_ACCOUNT_VOUCHER_QUOTA,
                                       v.voucher_id);
        if (rc < 0)
            return rc;
        v.status = ST_PENDING_REVIEW;
        v.review_status = RV_PENDING;
        v.submitted_us = now;
        if ((rc = rs__submit_review(c, &v)) < 0)
            return rc;
    } else {
        /* At the reseller's own cost: no review, usable at once, tracked as own cost. */
        v.status = ST_ACTIVE;
        v.review_status = RV_NOT_REQUIRED;
        rs__activate_window(&v, now);
        rc = vc_db_exec(c,
                        "UPDATE resellers SET own_cost_issued_minor = own_cost_issued_minor + ? "
                        "WHERE reseller_id = ?",
                        VC_DB_ARGS(vc_db_i64(v.face), vc_db_str(t->reseller)), NULL);
        if (rc < 0)
            return rc;
    }
    rc = vc_db_exec(
        c,
        "INSERT INTO vouchers (voucher_id, reseller_id, customer_id, template_id, "
        "template_version, name, funding, source, face_value_minor, balance_minor, currency_code, "
        "scope_kind, product_codes, excluded_product_codes, payment_modes, validity_days, "
        "valid_from_us, valid_until_us, min_order_minor, min_purchase_months, "
        "max_purchase_months, use_limit, status, review_status, review_submitted_us, "
        "issue_request_id, remarks, issued_us, activated_us, starts_us, expires_us) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
        "?, ?, ?, ?)",
        VC_DB_ARGS(vc_db_str(v.voucher_id), vc_db_str(v.reseller_id), vc_db_str(v.customer_id),
                   vc_db_str(v.template_id), vc_db_i64(v.template_version), vc_db_str(v.name),
                   vc_db_i64(v.funding), vc_db_i64(v.source), vc_db_i64(v.face),
                   vc_db_i64(v.balance), vc_db_str(v.currency), vc_db_i64(v.scope_kind),
                   vc_db_str(v.product_codes), vc_db_str(v.excluded), vc_db_i64(v.payment_modes),
                   v.has_days ? vc_db_i64(v.validity_days) : vc_db_null(),
                   v.valid_from_us ? vc_db_i64(v.valid_from_us) : vc_db_null(),
                   v.valid_until_us ? vc_db_i64(v.valid_until_us) : vc_db_null(),
                   vc_db_i64(v.min_order), vc_db_i64(v.min_months), vc_db_i64(v.max_months),
                   vc_db_i64(v.use_limit), vc_db_i64(v.status), vc_db_i64(v.review_status),
                   v.submitted_us ? vc_db_i64(v.submitted_us) : vc_db_null(),
                   vc_db_str(v.request_id), vc_db_str(v.remarks), vc_db_i64(v.issued_us),
                   v.activated_us ? vc_db_i64(v.activated_us) : vc_db_null(),
                   v.starts_us ? vc_db_i64(v.starts_us) : vc_db_null(),
                   v.expires_us ? vc_db_i64(v.expires_us) : vc_db_null()),
        NULL);
    if (rc < 0)
        return rc;
    Reseller__V1__IssueVoucherResponse *resp = vc_arena_alloc(t->arena, sizeof(*resp));
    if (!resp)
        return VC_ENOMEM;
    reseller__v1__issue_voucher_response__init(resp);
    if (!(resp->voucher = rs__to_pb(t->arena, &v)))
        return VC_ENOMEM;
    if ((rc = vc_idem_finish(c, t->reseller, t->method, req->request_id, &req->base,
                             &resp->base)) < 0)
        return rc;
    t->resp = resp;
    return 0;
}

/* Runs one issue; a concurrent twin with the same request_id makes our idempotency record
   collide (VC_EEXIST): the transaction rolled back, and the next attempt replays the winner. */
static int rs__issue(rs_issue *t)
{
    int rc = VC_EEXIST;
    for (int attempt = 0; attempt < 3 && rc == VC_EEXIST; attempt++)
        rc = vc_db_tx(t->app->db, rs__issue_tx, t);
    return rc;
}

int rs_voucher_issue(const rs_app *app, vc_arena *a, const char *reseller, const char *operator_id,
                     const Reseller__V1__IssueVoucherRequest *req,
                     Reseller__V1__IssueVoucherResponse **out, int *code, char msg[256])
{
    rs_issue t = {.app = app, .arena = a, .reseller = reseller, .operator_id = operator_id,
                  .method = "IssueVoucher", .req = req};
    int rc = rs__issue(&t);
    *code = rc == RS_REFUSE ? t.code : rc < 0 ? VC_GRPC_INTERNAL : VC_GRPC_OK;
    snprintf(msg, 256, "%s", rc == RS_REFUSE ? t.msg : rc < 0 ? vc_strerror(rc) : "");
    *out = rc == 0 ? t.resp : NULL;
    return rc == RS_REFUSE ? 0 : rc;
}

/* Adds a violation per bad field (the caller checks vc_rpc_error_code afterwards). */
static void rs__validate_issue(vc_rpc_ctx *ctx, const char *request_id, const char *template_id,
                               const char *remarks)
{
    rs_check_request_id(ctx, request_id);
    rs_check_id(ctx, "template_id", template_id, true);
    rs_check_text(ctx, "remarks", remarks, 1024, false);
}

static int issue_voucher(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Reseller__V1__IssueVoucherRequest *req = req_;
    Reseller__V1__IssueVoucherResponse *resp = resp_;
    char tenant[64];
    int code = rs_tenant(ctx, NULL, "reseller_id", tenant);
    if (code)
        return code;
    rs__validate_issue(ctx, req->request_id, req->template_id, req->remarks);
    rs_check_id(ctx, "customer_id", req->customer_id, true);
    if (vc_rpc_error_code(ctx) == VC_GRPC_INVALID_ARGUMENT)
        return VC_GRPC_INVALID_ARGUMENT;
    rs_issue t = {.app = vc_rpc_service_data(ctx),
                  .arena = vc_rpc_arena(ctx),
                  .reseller = tenant,
                  .operator_id = vc_rpc_caller(ctx)->subject,
                  .method = "IssueVoucher",
                  .req = req};
    int rc = rs__issue(&t);
    if (rc == RS_REFUSE)
        return vc_rpc_error(ctx, t.code, "%s", t.msg);
    if (rc < 0)
        return rs_fail(ctx, rc, "issue voucher");
    resp->voucher = t.resp->voucher;
    return VC_GRPC_OK;
}

/* Each customer is issued in its own transaction with its own idempotency record
   ("<request_id>#<customer>"), so one customer's failure leaves the others issued and a retried
   batch replays every item that already happened. */
static int batch_issue(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Reseller__V1__BatchIssueVouchersRequest *req = req_;
    Reseller__V1__BatchIssueVouchersResponse *resp = resp_;
    vc_arena *a = vc_rpc_arena(ctx);
    char tenant[64];
    int code = rs_tenant(ctx, NULL, "reseller_id", tenant);
    if (code)
        return code;
    rs__validate_issue(ctx, req->request_id, req->template_id, req->remarks);
    if (req->n_customer_ids == 0 || req->n_customer_ids > RS_BATCH_MAX)
        vc_rpc_invalid(ctx, "customer_ids", "must list 1 to %d customers", RS_BATCH_MAX);
    for (size_t i = 0; i < req->n_customer_ids; i++) {
        char field[48];
        snprintf(field, sizeof(field), "customer_ids[%zu]", i);
        if (rs_check_id(ctx, field, req->customer_ids[i], true) != VC_GRPC_OK)
            break;
        for (size_t j = 0; j < i; j++)
            if (strcmp(req->customer_ids[i], req->customer_ids[j]) == 0) {
                vc_rpc_invalid(ctx, field, "duplicate customer %s", req->customer_ids[i]);
                break;
            }
    }
    if (vc_rpc_error_code(ctx) == VC_GRPC_INVALID_ARGUMENT)
        return VC_GRPC_INVALID_ARGUMENT;

    resp->results = vc_arena_calloc(a, req->n_customer_ids, sizeof(*resp->results));
    if (!resp->results)
        return vc_rpc_error(ctx, VC_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    resp->n_results = req->n_customer_ids;
    for (size_t i = 0; i < req->n_customer_ids; i++) {
        Reseller__V1__BatchIssueResult *r = vc_arena_alloc(a, sizeof(*r));
        Reseller__V1__IssueVoucherRequest *item = vc_arena_alloc(a, sizeof(*item));
        if (!r || !item)
            return vc_rpc_error(ctx, VC_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        reseller__v1__batch_issue_result__init(r);
        reseller__v1__issue_voucher_request__init(item);
        item->request_id = vc_arena_sprintf(a, "%s#%s", req->request_id, req->customer_ids[i]);
        item->template_id = req->template_id;
        item->customer_id = req->customer_ids[i];
        item->remarks = req->remarks;
        rs_issue t = {.app = vc_rpc_service_data(ctx),
                      .arena = a,
                      .reseller = tenant,
                      .operator_id = vc_rpc_caller(ctx)->subject,
                      .method = "BatchIssueVouchers",
                      .req = item};
        int rc = rs__issue(&t);
        r->customer_id = req->customer_ids[i];
        if (rc == 0) {
            r->code = VC_GRPC_OK;
            r->voucher = t.resp->voucher;
            resp->succeeded_count++;
        } else {
            r->code = rc == RS_REFUSE ? t.code
                      : rc == VC_EDB_UNAVAILABLE ? VC_GRPC_UNAVAILABLE
                                                 : VC_GRPC_INTERNAL;
            r->message = rc == RS_REFUSE ? vc_arena_strdup(a, t.msg)
                                         : vc_arena_strdup(a, vc_strerror(rc));
            if (rc != RS_REFUSE)
                vc_logf(VC_LOG_ERROR, "batch issue item %s failed: %s", item->request_id,
                        vc_strerror(rc));
            resp->failed_count++;
        }
        resp->results[i] = r;
    }
    return VC_GRPC_OK;
}

/* ---- reading ------------------------------------------------------------------------------- */

typedef struct rs_get {
    vc_arena *arena;
    const char *reseller, *voucher_id;
    rs_voucher v;
} rs_get;

static int rs__get_tx(vc_db_conn *c, void *arg)
{
    rs_get *g = arg;
    return rs__load(c, g->arena, g->reseller, g->voucher_id, false, &g->v);
}

static int get_voucher(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Reseller__V1__GetVoucherRequest *req = req_;
    Reseller__V1__GetVoucherResponse *resp = resp_;
    rs_app *app = vc_rpc_service_data(ctx);
    char tenant[64];
    int code = rs_tenant(ctx, NULL, "reseller_id", tenant);
    if (code || (code = rs_check_id(ctx, "voucher_id", req->voucher_id, true)))
        return code;
    rs_get g = {.arena = vc_rpc_arena(ctx), .reseller = tenant, .voucher_id = req->voucher_id};
    int rc = vc_db_tx(app->db, rs__get_tx, &g);
    if (rc == VC_ENOENT)
        return vc_rpc_error(ctx, VC_GRPC_NOT_FOUND, "voucher %s not found", req->voucher_id);
    if (rc < 0)
        return rs_fail(ctx, rc, "get voucher");
    resp->voucher = rs__to_pb(vc_rpc_arena(ctx), &g.v);
    return resp->voucher ? VC_GRPC_OK : vc_rpc_error(ctx, VC_GRPC_RESOURCE_EXHAUSTED, "no memory");
}

#define RS_LIST_MAX_FILTER 8

typedef struct rs_list {
    vc_arena *arena;
    const char *reseller;
    const Reseller__V1__ListVouchersRequest *req;
    int64_t from_us, until_us;
    vc_page page;
    Reseller__V1__ListVouchersResponse *resp;
} rs_list;

static int rs__list_tx(vc_db_conn *c, void *arg)
{
    rs_list *l = arg;
    const Reseller__V1__ListVouchersRequest *req = l->req;
    char sql[2048];
    vc_db_param p[32];
    size_t n = 0;
    int off = snprintf(sql, sizeof(sql), "SELECT " RS_VOUCHER_COLS
                                         " FROM vouchers WHERE reseller_id = ?");
    p[n++] = vc_db_str(l->reseller);
#define RS_ADD(...) off += snprintf(sql + off, sizeof(sql) - (size_t)off, __VA_ARGS__)
    if (req->n_statuses) {
        RS_ADD(" AND status IN (");
        for (size_t i = 0; i < req->n_statuses; i++) {
            RS_ADD(i ? ",?" : "?");
            p[n++] = vc_db_i64(req->statuses[i]);
        }
        RS_ADD(")");
    }
    if (req->n_review_statuses) {
        RS_ADD(" AND review_status IN (");
        for (size_t i = 0; i < req->n_review_statuses; i++) {
            RS_ADD(i ? ",?" : "?");
            p[n++] = vc_db_i64(req->review_statuses[i]);
        }
        RS_ADD(")");
    }
    if (req->customer_id && *req->customer_id) {
        RS_ADD(" AND customer_id = ?");
        p[n++] = vc_db_str(req->customer_id);
    }
    if (req->template_id && *req->template_id) {
        RS_ADD(" AND template_id = ?");
        p[n++] = vc_db_str(req->template_id);
    }
    if (l->from_us) {
        RS_ADD(" AND issued_us >= ?");
        p[n++] = vc_db_i64(l->from_us);
    }
    if (l->until_us) {
        RS_ADD(" AND issued_us < ?");
        p[n++] = vc_db_i64(l->until_us);
    }
    if (l->page.has_cursor) {
        RS_ADD(" AND (issued_us < ? OR (issued_us = ? AND voucher_id < ?))");
        p[n++] = vc_db_i64(l->page.key);
        p[n++] = vc_db_i64(l->page.key);
        p[n++] = vc_db_str(l->page.id);
    }
    /* One row more than the page tells whether another page exists. */
    RS_ADD(" ORDER BY issued_us DESC, voucher_id DESC LIMIT %d", l->page.limit + 1);
#undef RS_ADD
    vc_db_rows *rows;
    int rc = vc_db_query(c, sql, p, n, &rows);
    if (rc < 0)
        return rc;
    Reseller__V1__ListVouchersResponse *resp = l->resp;
    resp->vouchers = vc_arena_calloc(l->arena, (size_t)l->page.limit, sizeof(*resp->vouchers));
    resp->n_vouchers = 0;
    resp->next_page_token = "";
    rs_voucher last;
    while ((rc = vc_db_next(rows)) == 1) {
        if ((int)resp->n_vouchers == l->page.limit) {
            resp->next_page_token = vc_page_token(l->arena, last.issued_us, last.voucher_id);
            break;
        }
        rs__read_voucher(rows, l->arena, &last);
        resp->vouchers[resp->n_vouchers++] = rs__to_pb(l->arena, &last);
    }
    vc_db_rows_close(rows);
    return rc < 0 ? rc : 0;
}

static int list_vouchers(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Reseller__V1__ListVouchersRequest *req = req_;
    rs_app *app = vc_rpc_service_data(ctx);
    char tenant[64];
    int code = rs_tenant(ctx, NULL, "reseller_id", tenant);
    if (code)
        return code;
    rs_list l = {.arena = vc_rpc_arena(ctx), .reseller = tenant, .req = req, .resp = resp_};
    if (req->n_statuses > RS_LIST_MAX_FILTER)
        vc_rpc_invalid(ctx, "statuses", "at most %d", RS_LIST_MAX_FILTER);
    for (size_t i = 0; i < req->n_statuses && i < RS_LIST_MAX_FILTER; i++)
        if (req->statuses[i] < ST_PENDING_REVIEW || req->statuses[i] > ST_EXPIRED)
            vc_rpc_invalid(ctx, "statuses", "unknown status %d", (int)req->statuses[i]);
    if (req->n_review_statuses > RS_LIST_MAX_FILTER)
        vc_rpc_invalid(ctx, "review_statuses", "at most %d", RS_LIST_MAX_FILTER);
    for (size_t i = 0; i < req->n_review_statuses && i < RS_LIST_MAX_FILTER; i++)
        if (req->review_statuses[i] < RV_NOT_REQUIRED || req->review_statuses[i] > RV_CANCELLED)
            vc_rpc_invalid(ctx, "review_statuses", "unknown review status %d",
                           (int)req->review_statuses[i]);
    rs_check_id(ctx, "customer_id", req->customer_id, false);
    rs_check_id(ctx, "template_id", req->template_id, false);
    if (req->issue_time) {
        if (req->issue_time->start_time && !vc_ts_to_us(req->issue_time->start_time, &l.from_us))
            vc_rpc_invalid(ctx, "issue_time.start_time", "out of range");
        if (req->issue_time->end_time && !vc_ts_to_us(req->issue_time->end_time, &l.until_us))
            vc_rpc_invalid(ctx, "issue_time.end_time", "out of range");
        if (l.from_us && l.until_us && l.from_us >= l.until_us)
            vc_rpc_invalid(ctx, "issue_time", "start_time must be before end_time");
    }
    vc_page_parse(ctx, req->page_size, req->page_token, &l.page);
    if (vc_rpc_error_code(ctx) == VC_GRPC_INVALID_ARGUMENT)
        return VC_GRPC_INVALID_ARGUMENT;
    int rc = vc_db_tx(app->db, rs__list_tx, &l);
    return rc < 0 ? rs_fail(ctx, rc, "list vouchers") : VC_GRPC_OK;
}

/* ---- returning quota ----------------------------------------------------------------------- */

/* Gives a voucher's `amount` back to the quota (provider-funded) or off the own-cost total
   (reseller-funded), once per voucher and reason. */
static int rs__give_back(vc_db_conn *c, const rs_voucher *v, int64_t amount, const char *event,
                         const char *reason, const char *operator_id)
{
    if (amount <= 0)
        return 0;
    if (v->funding != FUND_PROVIDER)
        return vc_db_exec(c,
                          "UPDATE resellers SET own_cost_issued_minor = own_cost_issued_minor - ? "
                          "WHERE reseller_id = ?",
                          VC_DB_ARGS(vc_db_i64(amount), vc_db_str(v->reseller_id)), NULL);
    char idem[96];
    snprintf(idem, sizeof(idem), "%s:%s", event, v->voucher_id);
    vc_ledger_posting p = {.reseller_id = v->reseller_id,
                           .account = VC_ACCOUNT_VOUCHER_QUOTA,
                           .currency_code = v->currency,
                           .kind = VC_ENTRY_RETURN,
                           .amount_minor = amount,
                           .reference_type = REF_VOUCHER,
                           .reference_id = v->voucher_id,
                           .idem_ref = idem,
                           .reason = reason,
                           .operator_id = operator_id};
    return vc_ledger_post(c, &p, NULL, NULL);
}

/* Moves a voucher from one of `from` statuses to `to`, stamping review/end data; returns the
   rows matched (0 = somebody else changed it first). */
static int rs__transition(vc_db_conn *c, const rs_voucher *v, int from_a, int from_b, int to,
                          int review, int64_t returned, uint64_t *matched)
{
    return vc_db_exec(c,
                      "UPDATE vouchers SET status = ?, review_status = ?, ended_us = ?, "
                      "quota_returned_minor = quota_returned_minor + ?, review_reason = ?, "
                      "ticket_id = COALESCE(?, ticket_id), review_decided_us = ?, "
                      "withdraw_reason = ?, activated_us = ?, starts_us = ?, expires_us = ? "
                      "WHERE voucher_id = ? AND status IN (?, ?)",
                      VC_DB_ARGS(vc_db_i64(to), vc_db_i64(review),
                                 v->ended_us ? vc_db_i64(v->ended_us) : vc_db_null(),
                                 vc_db_i64(returned), vc_db_str(v->review_reason),
                                 v->ticket_id[0] ? vc_db_str(v->ticket_id) : vc_db_null(),
                                 v->decided_us ? vc_db_i64(v->decided_us) : vc_db_null(),
                                 vc_db_str(v->withdraw_reason),
                                 v->activated_us ? vc_db_i64(v->activated_us) : vc_db_null(),
                                 v->starts_us ? vc_db_i64(v->starts_us) : vc_db_null(),
                                 v->expires_us ? vc_db_i64(v->expires_us) : vc_db_null(),
                                 vc_db_str(v->voucher_id), vc_db_i64(from_a), vc_db_i64(from_b)),
                      matched);
}

int rs_voucher_apply_outcome(vc_db_conn *c, const rs_app *app,
                             const Reseller__V1__ReviewDecidedRequest *m, bool *changed)
{
    (void)app;
    *changed = false;
    vc_arena *a = vc_arena_new(0);
    if (!a)
        return VC_ENOMEM;
    rs_voucher v;
    int rc = rs__load(c, a, m->reseller_id, m->subject_id, true, &v);
    if (rc < 0)
        goto out;
    int64_t when = 0;
    if (!vc_ts_to_us(m->decide_time, &when))
        when = vc_now_us();
    snprintf(v.ticket_id, sizeof(v.ticket_id), "%s", m->ticket_id ? m->ticket_id : "");
    v.decided_us = when;
    v.review_reason = m->reason ? m->reason : "";
    uint64_t matched = 0;
    switch (m->outcome) {
    case RESELLER__V1__REVIEW_OUTCOME__REVIEW_OUTCOME_APPROVED:
        /* Staff decided first: a pending cancel is overruled (SPEC §3). */
        rs__activate_window(&v, when);
        rc = rs__transition(c, &v, ST_PENDING_REVIEW, ST_CANCELLING, ST_ACTIVE, RV_APPROVED, 0,
                            &matched);
        break;
    case RESELLER__V1__REVIEW_OUTCOME__REVIEW_OUTCOME_REJECTED:
    case RESELLER__V1__REVIEW_OUTCOME__REVIEW_OUTCOME_CANCELLED: {
        bool rejected = m->outcome == RESELLER__V1__REVIEW_OUTCOME__REVIEW_OUTCOME_REJECTED;
        v.ended_us = when;
        rc = rs__transition(c, &v, ST_PENDING_REVIEW, ST_CANCELLING,
                            rejected ? ST_REJECTED : ST_CANCELLED,
                            rejected ? RV_REJECTED : RV_CANCELLED, v.face, &matched);
        if (rc == 0 && matched)
            rc = rs__give_back(c, &v, v.face, "return",
                               rejected ? "review rejected" : "review cancelled",
                               m->decided_by ? m->decided_by : "");
        break;
    }
    default:
        rc = VC_EINVAL;
        break;
    }
    if (rc == 0 && !matched)
        vc_logf(VC_LOG_INFO, "review outcome %d for voucher %s: already final (status %d)",
                (int)m->outcome, v.voucher_id, v.status);
    *changed = rc == 0 && matched > 0;
out:
    vc_arena_free(a);
    return rc;
}

/* ---- cancel review and withdraw ------------------------------------------------------------ */

typedef struct rs_change {
    vc_arena *arena;
    const char *reseller, *voucher_id, *operator_id, *reason;
    int code;
    char msg[256];
    char message_id[VC_UUID_LEN]; /* a message to approval-svc to deliver right away */
    rs_voucher v;
} rs_change;

static int rs__change_refuse(rs_change *t, int code, const char *msg)
{
    t->code = code;
    snprintf(t->msg, sizeof(t->msg), "%s", msg);
    return RS_REFUSE;
}

static int rs__cancel_tx(vc_db_conn *c, void *arg)
{
    rs_change *t = arg;
    int rc = rs__load(c, t->arena, t->reseller, t->voucher_id, true, &t->v);
    if (rc < 0)
        return rc;
    if (t->v.status == ST_CANCELLING || t->v.status == ST_CANCELLED)
        return 0; /* asked before: same answer */
    if (t->v.status != ST_PENDING_REVIEW)
        return rs__change_refuse(t, VC_GRPC_FAILED_PRECONDITION,
                                 t->v.review_status == RV_APPROVED
                                     ? "the review was already approved: withdraw the voucher "
                                       "instead"
                                     : "only a voucher pending review can be cancelled");
    /* Quota stays consumed until approval-svc, the source of truth, confirms the cancel. */
    uint64_t matched = 0;
    rc = vc_db_exec(c,
                    "UPDATE vouchers SET status = ?, review_status = ? WHERE voucher_id = ? AND "
                    "status = ?",
                    VC_DB_ARGS(vc_db_i64(ST_CANCELLING), vc_db_i64(RV_CANCEL_REQUESTED),
                               vc_db_str(t->v.voucher_id), vc_db_i64(ST_PENDING_REVIEW)),
                    &matched);
    if (rc < 0)
        return rc;
    t->v.status = ST_CANCELLING;
    t->v.review_status = RV_CANCEL_REQUESTED;
    Approval__V1__CancelReviewRequest m = APPROVAL__V1__CANCEL_REVIEW_REQUEST__INIT;
    m.subject_type = APPROVAL__V1__SUBJECT_TYPE__SUBJECT_TYPE_VOUCHER_ISSUANCE;
    m.subject_id = t->v.voucher_id;
    m.reseller_id = t->v.reseller_id;
    return vc_outbox_put(c, RS_TOPIC_CANCEL_REVIEW, &m.base, t->message_id);
}

static int rs__withdraw_tx(vc_db_conn *c, void *arg)
{
    rs_change *t = arg;
    int rc = rs__load(c, t->arena, t->reseller, t->voucher_id, true, &t->v);
    if (rc < 0)
        return rc;
    rs_voucher *v = &t->v;
    if (v->status == ST_WITHDRAWN)
        return 0; /* withdrawn before: same answer, nothing returned twice */
    if (v->status != ST_ACTIVE)
        return rs__change_refuse(t, VC_GRPC_FAILED_PRECONDITION,
                                 "only an active voucher can be withdrawn");
    if (v->ever_used || v->hold_order_id[0] || v->balance != v->face)
        return rs__change_refuse(t, VC_GRPC_FAILED_PRECONDITION,
                                 "the customer has used this voucher: it cannot be withdrawn");
    v->ended_us = vc_now_us();
    v->withdraw_reason = (char *)(t->reason ? t->reason : "");
    uint64_t matched = 0;
    rc = vc_db_exec(c,
                    "UPDATE vouchers SET status = ?, ended_us = ?, withdraw_reason = ?, "
                    "quota_returned_minor = quota_returned_minor + ? WHERE voucher_id = ? AND "
                    "status = ? AND ever_used = 0 AND hold_order_id IS NULL AND "
                    "balance_minor = face_value_minor",
                    VC_DB_ARGS(vc_db_i64(ST_WITHDRAWN), vc_db_i64(v->ended_us),
                               vc_db_str(v->withdraw_reason),
                               vc_db_i64(v->funding == FUND_PROVIDER ? v->face : 0),
                               vc_db_str(v->voucher_id), vc_db_i64(ST_ACTIVE)),
                    &matched);
    if (rc < 0)
        return rc;
    if (!matched)
        return rs__change_refuse(t, VC_GRPC_ABORTED, "the voucher changed meanwhile: retry");
    if (v->funding == FUND_PROVIDER)
        v->quota_returned += v->face;
    v->status = ST_WITHDRAWN;
    return rs__give_back(c, v, v->face, "return", "voucher withdrawn", t->operator_id);
}

static int rs__run_change(vc_rpc_ctx *ctx, const char *voucher_id, const char *reason,
                          vc_db_tx_fn fn, Reseller__V1__Voucher **out)
{
    rs_app *app = vc_rpc_service_data(ctx);
    char tenant[64];
    int code = rs_tenant(ctx, NULL, "reseller_id", tenant);
    if (code)
        return code;
    rs_check_id(ctx, "voucher_id", voucher_id, true);
    rs_check_text(ctx, "reason", reason, 1024, false);
    if (vc_rpc_error_code(ctx) == VC_GRPC_INVALID_ARGUMENT)
        return VC_GRPC_INVALID_ARGUMENT;
    rs_change t = {.arena = vc_rpc_arena(ctx),
                   .reseller = tenant,
                   .voucher_id = voucher_id,
                   .reason = reason,
                   .operator_id = vc_rpc_caller(ctx)->subject};
    int rc = vc_db_tx(app->db, fn, &t);
    if (rc == VC_ENOENT)
        return vc_rpc_error(ctx, VC_GRPC_NOT_FOUND, "voucher %s not found", voucher_id);
    if (rc == RS_REFUSE)
        return vc_rpc_error(ctx, t.code, "%s", t.msg);
    if (rc < 0)
        return rs_fail(ctx, rc, "change voucher");
    if (t.message_id[0] && app->outbox) {
        /* approval-svc decides; when it answers now, its answer is applied before we reply
           (CANCELLED, or the decision staff made first). Unreachable: the voucher stays
           CANCELLING and the outbox keeps trying. */
        int delivered = 0;
        vc_outbox_deliver_one(app->outbox, t.message_id, &delivered);
        rs_get g = {.arena = vc_rpc_arena(ctx), .reseller = tenant, .voucher_id = voucher_id};
        if (delivered && vc_db_run(app->db, rs__get_tx, &g) == 0)
            t.v = g.v;
        if (t.v.status != ST_CANCELLING && t.v.status != ST_CANCELLED)
            return vc_rpc_error(ctx, VC_GRPC_FAILED_PRECONDITION,
                                "the review was decided before the cancel: the voucher is %s",
                                t.v.status == ST_ACTIVE ? "ACTIVE (approved)" : "REJECTED");
    }
    *out = rs__to_pb(vc_rpc_arena(ctx), &t.v);
    return VC_GRPC_OK;
}

static int cancel_review(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Reseller__V1__CancelReviewRequest *req = req_;
    Reseller__V1__CancelReviewResponse *resp = resp_;
    return rs__run_change(ctx, req->voucher_id, NULL, rs__cancel_tx, &resp->voucher);
}

static int withdraw_voucher(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Reseller__V1__WithdrawVoucherRequest *req = req_;
    Reseller__V1__WithdrawVoucherResponse *resp = resp_;
    return rs__run_change(ctx, req->voucher_id, req->reason, rs__withdraw_tx, &resp->voucher);
}

/* ---- summary ------------------------------------------------------------------------------- */

typedef struct rs_summary {
    const rs_app *app;
    vc_arena *arena;
    const char *reseller;
    Reseller__V1__GetIssuanceSummaryResponse *resp;
} rs_summary;

static int rs__summary_tx(vc_db_conn *c, void *arg)
{
    rs_summary *s = arg;
    Reseller__V1__GetIssuanceSummaryResponse *r = s->resp;
    vc_db_rows *rows;
    int rc = vc_db_query(c,
                         "SELECT status, funding, COUNT(*), SUM(face_value_minor) FROM vouchers "
                         "WHERE reseller_id = ? GROUP BY status, funding",
                         VC_DB_ARGS(vc_db_str(s->reseller)), &rows);
    if (rc < 0)
        return rc;
    int64_t counts[ST_EXPIRED + 1] = {0};
    r->issued_amount_minor = r->provider_funded_issued_minor = r->reseller_funded_issued_minor = 0;
    while ((rc = vc_db_next(rows)) == 1) {
        int64_t st = vc_db_i64_or(rows, 0, 0), fund = vc_db_i64_or(rows, 1, 0), n = vc_db_i64_or(rows, 2, 0),
                sum = vc_db_i64_or(rows, 3, 0);
        if (st >= 0 && st <= ST_EXPIRED)
            counts[st] += n;
        /* Issued = everything that was not rejected, cancelled or withdrawn (SPEC §3). */
        if (st == ST_REJECTED || st == ST_CANCELLED || st == ST_WITHDRAWN)
            continue;
        r->issued_amount_minor += sum;
        if (fund == FUND_PROVIDER)
            r->provider_funded_issued_minor += sum;
        else
            r->reseller_funded_issued_minor += sum;
    }
    vc_db_rows_close(rows);
    if (rc < 0)
        return rc;
    vc_ledger_balance b;
    if ((rc = vc_ledger_balance_of(c, s->reseller, VC_ACCOUNT_VOUCHER_QUOTA, NULL, &b)) < 0)
        return rc;
    r->quota_granted_minor = b.granted_minor;
    r->quota_remaining_minor = b.balance_minor;
    char cur[4] = "";
    rows = NULL;
    if (vc_db_query(c, "SELECT currency_code FROM resellers WHERE reseller_id = ?",
                    VC_DB_ARGS(vc_db_str(s->reseller)), &rows) == 0) {
        if (vc_db_next(rows) == 1)
            vc_db_copy_str(rows, 0, cur, sizeof(cur));
        vc_db_rows_close(rows);
    }
    r->currency_code = vc_arena_strdup(s->arena, cur[0] ? cur : s->app->cfg->currency);
    r->status_counts = vc_arena_calloc(s->arena, ST_EXPIRED, sizeof(*r->status_counts));
    r->n_status_counts = 0;
    for (int st = ST_PENDING_REVIEW; st <= ST_EXPIRED && r->status_counts; st++) {
        if (!counts[st])
            continue; /* one entry per status that has vouchers */
        Reseller__V1__VoucherStatusCount *sc = vc_arena_alloc(s->arena, sizeof(*sc));
        if (!sc)
            return VC_ENOMEM;
        reseller__v1__voucher_status_count__init(sc);
        sc->status = st;
        sc->count = counts[st];
        r->status_counts[r->n_status_counts++] = sc;
    }
    return 0;
}

static int get_summary(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    (void)req_;
    rs_app *app = vc_rpc_service_data(ctx);
    char tenant[64];
    int code = rs_tenant(ctx, NULL, "reseller_id", tenant);
    if (code)
        return code;
    rs_summary s = {.app = app, .arena = vc_rpc_arena(ctx), .reseller = tenant, .resp = resp_};
    int rc = vc_db_tx(app->db, rs__summary_tx, &s);
    return rc < 0 ? rs_fail(ctx, rc, "issuance summary") : VC_GRPC_OK;
}

/* ---- expiry -------------------------------------------------------------------------------- */

int rs_voucher_expire_batch(vc_db_conn *c, int64_t now_us, int limit, int *expired)
{
    *expired = 0;
    vc_arena *a = vc_arena_new(0);
    if (!a)
        return VC_ENOMEM;
    /* SKIP LOCKED: another sweeper (replica) takes other rows instead of waiting for ours. A
       voucher held by an unpaid order expires after the hold is released. */
    vc_db_rows *rows;
    char sql[sizeof(RS_VOUCHER_COLS) + 256];
    snprintf(sql, sizeof(sql),
             "SELECT " RS_VOUCHER_COLS " FROM vouchers WHERE status = ? AND expires_us <= ? AND "
             "hold_order_id IS NULL ORDER BY expires_us LIMIT %d FOR UPDATE SKIP LOCKED",
             limit);
    int rc = vc_db_query(c, sql, VC_DB_ARGS(vc_db_i64(ST_ACTIVE), vc_db_i64(now_us)), &rows);
    if (rc < 0) {
        vc_arena_free(a);
        return rc;
    }
    rs_voucher *due = vc_arena_calloc(a, (size_t)limit, sizeof(*due));
    int n = 0;
    while (due && n < limit && (rc = vc_db_next(rows)) == 1)
        rs__read_voucher(rows, a, &due[n++]);
    vc_db_rows_close(rows);
    for (int i = 0; rc >= 0 && i < n; i++) {
        rs_voucher *v = &due[i];
        uint64_t matched = 0;
        rc = vc_db_exec(c,
                        "UPDATE vouchers SET status = ?, ended_us = ?, "
                        "quota_returned_minor = quota_returned_minor + ? "
                        "WHERE voucher_id = ? AND status = ?",
                        VC_DB_ARGS(vc_db_i64(ST_EXPIRED), vc_db_i64(now_us),
                                   vc_db_i64(v->funding == FUND_PROVIDER ? v->balance : 0),
                                   vc_db_str(v->voucher_id), vc_db_i64(ST_ACTIVE)),
                        &matched);
        if (rc < 0 || !matched)
            continue;
        rc = rs__give_back(c, v, v->balance, "expire", "voucher expired unused", "expiry-sweep");
        if (rc == 0)
            (*expired)++;
    }
    vc_arena_free(a);
    return rc < 0 ? rc : 0;
}

/* ---- table --------------------------------------------------------------------------------- */

static const vc_rpc_method rs_voucher_methods[] = {
    {.name = "IssueVoucher", .unary = issue_voucher},
    {.name = "BatchIssueVouchers", .unary = batch_issue},
    {.name = "GetVoucher", .unary = get_voucher},
    {.name = "ListVouchers", .unary = list_vouchers},
    {.name = "CancelReview", .unary = cancel_review},
    {.name = "WithdrawVoucher", .unary = withdraw_voucher},
    {.name = "GetIssuanceSummary", .unary = get_summary},
    {.name = "CreateRedeemCodes", .unary = rs_create_redeem_codes},
};

static vc_rpc_service rs_voucher_table = {
    .descriptor = &reseller__v1__voucher_service__descriptor,
    .methods = rs_voucher_methods,
    .n_methods = sizeof(rs_voucher_methods) / sizeof(rs_voucher_methods[0]),
    .roles = VC_ROLE_RESELLER,
};

const vc_rpc_service *rs_voucher_service(rs_app *app)
{
    rs_voucher_table.data = app;
    return &rs_voucher_table;
}
