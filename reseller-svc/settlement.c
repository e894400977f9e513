/*
 * settlement.c - BillingService.SettleCharge (see settlement.h).
 */
#include "settlement.h"

#include <stdio.h>
#include <string.h>

#include "base/vc_money.h"
#include "db/vc_idem.h"
#include "eligibility.h"
#include "reseller/v1/billing_service.pb-c.h"
#include "rs.h"
#include "templates.h"

#define SRC_BILL_ITEM 2 /* voucher_deductions.source of a bill item */
#define RENEW_MAX     1200
#define FUTURE_SKEW_US                                                                             \
    (300 * VC_US_PER_SEC) /* charge_time may run ahead of our clock this much                      \
                           */

#define CM_POSTPAID RESELLER__V1__CHARGE_MODE__CHARGE_MODE_POSTPAID
#define CM_RENEWAL  RESELLER__V1__CHARGE_MODE__CHARGE_MODE_AUTO_RENEWAL

typedef struct rs_settle {
    const rs_app *app;
    vc_arena *arena;
    const Reseller__V1__SettleChargeRequest *req;
    Reseller__V1__SettleChargeRequest key; /* what the idempotency record hashes: dry_run off */
    rs_terms terms;
    char reseller[65];
    rs_refusal refusal;
    Reseller__V1__SettleChargeResponse *resp;
} rs_settle;

/* The reseller of a customer (billing speaks for every reseller). VC_ENOENT when unknown. */
static int rs__reseller_of(vc_db_conn *c, const char *customer, char out[65])
{
    vc_db_rows *rows;
    int rc = vc_db_query(c, "SELECT reseller_id FROM customers WHERE customer_id = ?",
                         VC_DB_ARGS(vc_db_str(customer)), &rows);
    if (rc < 0) return rc;
    rc = vc_db_next(rows);
    if (rc == 1)
        rc = vc_db_copy_str(rows, 0, out, 65);
    else if (rc == 0)
        rc = VC_ENOENT;
    vc_db_rows_close(rows);
    return rc;
}

/* The eligible vouchers in SQL's view (no locks), soonest expiry first, into v[RS_ELIG_MAX]. */
static int rs__candidates(vc_db_conn *c, rs_settle *s, rs_wvoucher *v, size_t *k)
{
    char sql[2048] = "SELECT " RS_WV_COLS " FROM vouchers WHERE ";
    size_t len = strlen(sql), n = 0;
    vc_db_param p[RS_ELIG_PARAMS + 1];
    int rc =
        rs_elig_where(sql, sizeof(sql), &len, p, &n, s->reseller, s->req->customer_id, &s->terms);
    if (rc == 0) rc = rs_elig_order_by(sql, sizeof(sql), &len, p, &n, s->terms.amount);
    if (rc < 0) return rc;
    int w = snprintf(sql + len, sizeof(sql) - len, " LIMIT %d", RS_ELIG_MAX);
    if (w < 0 || (size_t)w >= sizeof(sql) - len) return VC_EOVERFLOW;
    vc_db_rows *rows;
    if ((rc = vc_db_query(c, sql, p, n, &rows)) < 0) return rc;
    *k = 0;
    while (*k < RS_ELIG_MAX && (rc = vc_db_next(rows)) == 1)
        if ((rc = rs_wvoucher_read(rows, s->arena, &v[*k])) < 0)
            break;
        else
            (*k)++;
    vc_db_rows_close(rows);
    return rc < 0 ? rc : 0;
}

/* Locks the k candidates in voucher_id order and reads them again: v[0..*k) becomes the rows
   that are still eligible, as they are now. */
static int rs__lock(vc_db_conn *c, rs_settle *s, rs_wvoucher *v, size_t *k)
{
    static const char head[] = "SELECT " RS_WV_COLS " FROM vouchers WHERE voucher_id IN (";
    static const char tail[] = ") ORDER BY voucher_id FOR UPDATE";
    size_t n = *k, cap = sizeof(head) + 2 * n + sizeof(tail);
    char *sql = vc_arena_alloc(s->arena, cap);
    vc_db_param *p = vc_arena_calloc(s->arena, n, sizeof(*p));
    if (!sql || !p) return VC_ENOMEM;
    size_t len = sizeof(head) - 1;
    memcpy(sql, head, len);
    for (size_t i = 0; i < n; i++) {
        if (i) sql[len++] = ',';
        sql[len++] = '?';
        p[i] = vc_db_str(v[i].voucher_id);
    }
    memcpy(sql + len, tail, sizeof(tail));
    vc_db_rows *rows;
    int rc = vc_db_query(c, sql, p, n, &rows);
    if (rc < 0) return rc;
    /* The parameters point into v: read the locked rows into a fresh array first. */
    rs_wvoucher *fresh = vc_arena_calloc(s->arena, n, sizeof(*fresh));
    size_t m = 0;
    while (fresh && m < n && (rc = vc_db_next(rows)) == 1) {
        if ((rc = rs_wvoucher_read(rows, s->arena, &fresh[m])) < 0) break;
        if (rs_elig_check(&fresh[m], &s->terms) == RS_ELIG_OK) m++;
    }
    vc_db_rows_close(rows);
    if (!fresh) return VC_ENOMEM;
    if (rc < 0) return rc;
    memcpy(v, fresh, m * sizeof(*v));
    *k = m;
    return 0;
}

/* Takes the charge from v[0..k) (in pick order) into the response; writes when `apply`. */
static int rs__deduct(vc_db_conn *c, rs_settle *s, const rs_wvoucher *v, size_t k, bool apply)
{
    Reseller__V1__SettleChargeResponse *r = s->resp;
    r->deductions = vc_arena_calloc(s->arena, k ? k : 1, sizeof(*r->deductions));
    r->candidates = vc_arena_calloc(s->arena, k ? k : 1, sizeof(*r->candidates));
    if (!r->deductions || !r->candidates) return VC_ENOMEM;
    r->n_candidates = 0;
    for (size_t i = 0; i < k; i++) { /* the whole plan, in pick order */
        Reseller__V1__Deduction *d = vc_arena_alloc(s->arena, sizeof(*d));
        if (!d) return VC_ENOMEM;
        reseller__v1__deduction__init(d);
        d->voucher_id = vc_arena_strdup(s->arena, v[i].voucher_id);
        d->amount_minor = v[i].balance < s->terms.amount ? v[i].balance : s->terms.amount;
        d->balance_before_minor = v[i].balance;
        d->balance_after_minor = v[i].balance - d->amount_minor;
        if (!d->voucher_id ||
            (v[i].expires_us && !(d->expire_time = vc_ts_new(s->arena, v[i].expires_us))))
            return VC_ENOMEM;
        r->candidates[r->n_candidates++] = d;
    }
    int64_t left = s->terms.amount, now = vc_now_us();
    for (size_t i = 0; i < k && left > 0; i++) {
        int64_t take = v[i].balance < left ? v[i].balance : left;
        Reseller__V1__Deduction *d = vc_arena_alloc(s->arena, sizeof(*d));
        if (!d) return VC_ENOMEM;
        reseller__v1__deduction__init(d);
        d->voucher_id = vc_arena_strdup(s->arena, v[i].voucher_id);
        d->amount_minor = take;
        d->balance_before_minor = v[i].balance;
        d->balance_after_minor = v[i].balance - take;
        if (!d->voucher_id ||
            (v[i].expires_us && !(d->expire_time = vc_ts_new(s->arena, v[i].expires_us))))
            return VC_ENOMEM;
        r->deductions[r->n_deductions++] = d;
        left -= take;
        if (!apply) continue;
        int rc = vc_db_exec(c,
                            "INSERT INTO voucher_deductions (voucher_id, reseller_id, "
                            "customer_id, source, reference_id, amount_minor, "
                            "balance_before_minor, balance_after_minor, created_us) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            VC_DB_ARGS(vc_db_str(v[i].voucher_id), vc_db_str(v[i].reseller_id),
                                       vc_db_str(v[i].customer_id), vc_db_i64(SRC_BILL_ITEM),
                                       vc_db_str(s->req->bill_item_id), vc_db_i64(take),
                                       vc_db_i64(v[i].balance), vc_db_i64(v[i].balance - take),
                                       vc_db_i64(now)),
                            NULL);
        if (rc < 0) return rc; /* VC_EEXIST: a twin settled this bill item first */
        uint64_t n = 0;
        rc = vc_db_exec(c,
                        "UPDATE vouchers SET balance_minor = balance_minor - ?, ever_used = 1 "
                        "WHERE voucher_id = ? AND status = 5 AND hold_order_id IS NULL AND "
                        "balance_minor >= ?",
                        VC_DB_ARGS(vc_db_i64(take), vc_db_str(v[i].voucher_id), vc_db_i64(take)),
                        &n);
        if (rc < 0) return rc;
        if (n != 1) return VC_ECONFLICT; /* the row is locked: cannot happen */
    }
    r->deducted_minor = s->terms.amount - left;
    r->remainder_minor = left;
    return 0;
}

static int rs__settle_tx(vc_db_conn *c, void *arg)
{
    rs_settle *s = arg;
    const Reseller__V1__SettleChargeRequest *req = s->req;
    Reseller__V1__SettleChargeResponse *r = s->resp;
    r->n_deductions = 0;
    int rc = rs__reseller_of(c, req->customer_id, s->reseller);
    if (rc == VC_ENOENT)
        return rs_refuse(&s->refusal, VC_GRPC_NOT_FOUND, NULL, "customer %s not found",
                         req->customer_id);
    char cur[4];
    if (rc < 0 || (rc = rs_tenant_currency(c, s->reseller, s->app->cfg->currency, cur)) < 0)
        return rc;
    if (strcmp(cur, req->currency_code) != 0)
        return rs_refuse(&s->refusal, 0, "currency_code",
                         "must be the currency of the customer's reseller (%s)", cur);
    ProtobufCMessage *replay = NULL;
    rc = vc_idem_begin(c, s->reseller, "SettleCharge", req->bill_item_id, &s->key.base, s->arena,
                       &reseller__v1__settle_charge_response__descriptor, &replay);
    if (rc == VC_IDEM_REPLAY) {
        *r = *(Reseller__V1__SettleChargeResponse *)replay;
        r->replayed = true;
        return 0;
    }
    if (rc == VC_IDEM_MISMATCH)
        return rs_refuse(&s->refusal, VC_GRPC_ALREADY_EXISTS, NULL,
                         "bill item %s was already settled with other parameters",
                         req->bill_item_id);
    if (rc < 0) return rc;
    rs_wvoucher *v = vc_arena_calloc(s->arena, RS_ELIG_MAX, sizeof(*v));
    size_t k = 0;
    if (!v) return VC_ENOMEM;
    if ((rc = rs__candidates(c, s, v, &k)) < 0) return rc;
    if (!req->dry_run && k && (rc = rs__lock(c, s, v, &k)) < 0) return rc;
    rs_elig_sort(v, k, s->terms.amount);
    if ((rc = rs__deduct(c, s, v, k, !req->dry_run)) < 0) return rc;
    r->bill_item_id = req->bill_item_id;
    r->currency_code = req->currency_code;
    r->dry_run = req->dry_run;
    r->replayed = false;
    if (req->dry_run) return 0;
    return vc_idem_finish(c, s->reseller, "SettleCharge", req->bill_item_id, &s->key.base,
                          &r->base);
}

/* Adds a violation per bad field; fills s->terms. */
static void rs__validate(vc_rpc_ctx *ctx, rs_settle *s)
{
    const Reseller__V1__SettleChargeRequest *req = s->req;
    int64_t now = vc_now_us(), at = now;
    rs_check_id(ctx, "customer_id", req->customer_id, true);
    rs_check_id(ctx, "bill_item_id", req->bill_item_id, true);
    if (!rs_product_code_ok(req->product_code))
        vc_rpc_invalid(ctx, "product_code", "must be 1 to %d characters of A-Z a-z 0-9 _ . -",
                       RS_PRODUCT_CODE_MAX);
    if (req->charge_mode != CM_POSTPAID && req->charge_mode != CM_RENEWAL)
        vc_rpc_invalid(ctx, "charge_mode", "must be POSTPAID or AUTO_RENEWAL");
    if (req->amount_minor <= 0) vc_rpc_invalid(ctx, "amount_minor", "must be > 0");
    if (!req->currency_code || !vc_currency_valid(req->currency_code))
        vc_rpc_invalid(ctx, "currency_code", "must be a 3-letter ISO 4217 code");
    if (req->charge_mode == CM_RENEWAL &&
        (req->renewal_duration_months <= 0 || req->renewal_duration_months > RENEW_MAX))
        vc_rpc_invalid(ctx, "renewal_duration_months", "must be 1 to %d for AUTO_RENEWAL",
                       RENEW_MAX);
    else if (req->charge_mode != CM_RENEWAL && req->renewal_duration_months != 0)
        vc_rpc_invalid(ctx, "renewal_duration_months", "only for AUTO_RENEWAL (leave it 0)");
    if (req->charge_time && (!vc_ts_to_us(req->charge_time, &at) || at > now + FUTURE_SKEW_US))
        vc_rpc_invalid(ctx, "charge_time", "must be a valid time, not in the future");
    s->terms = (rs_terms){.product_code = req->product_code,
                          .mode = req->charge_mode == CM_RENEWAL ? RS_PAY_PREPAID : RS_PAY_POSTPAID,
                          .amount = req->amount_minor,
                          .currency = req->currency_code,
                          .months = req->renewal_duration_months,
                          .check_months = req->charge_mode == CM_RENEWAL,
                          .at_us = at};
}

int rs_settle_charge(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    rs_app *app = vc_rpc_service_data(ctx);
    if (vc_rpc_caller(ctx)->role != VC_ROLE_BILLING)
        return vc_rpc_error(ctx, VC_GRPC_PERMISSION_DENIED, "only billing settles charges");
    rs_settle s = {.app = app, .arena = vc_rpc_arena(ctx), .req = req_, .resp = resp_};
    rs__validate(ctx, &s);
    if (vc_rpc_error_code(ctx) == VC_GRPC_INVALID_ARGUMENT) return VC_GRPC_INVALID_ARGUMENT;
    s.key = *s.req;
    s.key.dry_run = false;
    /* A twin request that committed first makes ours collide (VC_EEXIST on the deduction or the
       idempotency record): the next attempt replays the winner's answer. */
    int rc = VC_EEXIST;
    for (int attempt = 0; attempt < 3 && rc == VC_EEXIST; attempt++)
        rc = vc_db_tx(app->db, rs__settle_tx, &s);
    return rc < 0 ? rs_refusal_send(ctx, rc, &s.refusal, "settle charge") : VC_GRPC_OK;
}
