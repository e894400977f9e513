/*
 * wallet.c - reseller.v1.WalletService (see wallet.h): the customer's vouchers, the vouchers
 * eligible for a prepaid order, and the freeze → pay / release life of an order's hold.
 *
 * Idempotency. FreezeVoucher and ReleaseVoucher are idempotent through the hold row itself
 * (PRIMARY KEY order_id: two racing freezes of one order collide on it, the loser retries and
 * sees the winner's hold). ConfirmPayment moves money, so its answer is also recorded with
 * vc_idem (tenant = reseller, request_id = order_id): a retry gets the first answer exactly,
 * another amount for a paid order is ALREADY_EXISTS.
 *
 * Holds past their expiry are still honoured by ConfirmPayment until the timeout job released
 * them: the order was confirmed while the voucher was good (the expiry sweep skips held
 * vouchers for the same reason, vouchers.c).
 */
#include "wallet.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/vc_money.h"
#include "codes.h"
#include "db/vc_idem.h"
#include "eligibility.h"
#include "reseller/v1/wallet_service.pb-c.h"
#include "rpc/vc_page.h"
#include "runtime/vc_log.h"
#include "templates.h"

#define HOLD_HELD     1
#define HOLD_PAID     2
#define HOLD_RELEASED 3
#define SRC_ORDER     1 /* voucher_deductions.source of a prepaid order */
#define MONTHS_MAX    1200
#define HOLD_BATCH    100
#define STATUS_MAX    8 /* entries of ListMyVouchers.statuses */

#define PM_PREPAID  RESELLER__V1__PAYMENT_MODE__PAYMENT_MODE_PREPAID
#define PM_POSTPAID RESELLER__V1__PAYMENT_MODE__PAYMENT_MODE_POSTPAID

int rs_wallet_caller(vc_rpc_ctx *ctx, char reseller[64], char customer[64])
{
    const vc_caller *who = vc_rpc_caller(ctx);
    if (who->role != VC_ROLE_CUSTOMER || !who->reseller_id[0] || !who->customer_id[0])
        return vc_rpc_error(ctx, VC_GRPC_PERMISSION_DENIED, "a customer account token is required");
    /* Seed 003 §3: only the creator and collaborators allowed to manage finances. */
    if (!who->owner && !who->finance)
        return vc_rpc_error(ctx, VC_GRPC_PERMISSION_DENIED,
                            "only the account owner or a collaborator with the finance "
                            "permission may use vouchers");
    memcpy(reseller, who->reseller_id, sizeof(who->reseller_id));
    memcpy(customer, who->customer_id, sizeof(who->customer_id));
    return VC_GRPC_OK;
}

/* ---- rows ---------------------------------------------------------------------------------- */

/* One of the customer's wallet vouchers (ACTIVE or EXPIRED); VC_ENOENT otherwise. */
static int rs__load_voucher(vc_db_conn *c, vc_arena *a, const char *reseller, const char *customer,
                            const char *id, bool lock, rs_wvoucher *v)
{
    vc_db_rows *rows;
    int rc =
        vc_db_query(c,
                    lock ? "SELECT " RS_WV_COLS " FROM vouchers WHERE voucher_id = ? AND "
                           "reseller_id = ? AND customer_id = ? AND status IN (5, 7) FOR UPDATE"
                         : "SELECT " RS_WV_COLS " FROM vouchers WHERE voucher_id = ? AND "
                           "reseller_id = ? AND customer_id = ? AND status IN (5, 7)",
                    VC_DB_ARGS(vc_db_str(id), vc_db_str(reseller), vc_db_str(customer)), &rows);
    if (rc < 0) return rc;
    rc = vc_db_next(rows);
    if (rc == 1)
        rc = rs_wvoucher_read(rows, a, v);
    else if (rc == 0)
        rc = VC_ENOENT;
    vc_db_rows_close(rows);
    return rc;
}

typedef struct rs_hold {
    char order_id[65], reseller_id[65], customer_id[65], voucher_id[VC_ID_MAX + 1];
    char product_code[65];
    int state, payment_mode, months;
    int64_t order_minor, deducted_minor;
} rs_hold;

/* The hold of an order, locked; VC_ENOENT when the order never froze a voucher. */
static int rs__load_hold(vc_db_conn *c, const char *order_id, rs_hold *h)
{
    vc_db_rows *rows;
    int rc = vc_db_query(c,
                         "SELECT order_id, reseller_id, customer_id, voucher_id, state, "
                         "product_code, payment_mode, order_minor, months, deducted_minor "
                         "FROM voucher_holds WHERE order_id = ? FOR UPDATE",
                         VC_DB_ARGS(vc_db_str(order_id)), &rows);
    if (rc < 0) return rc;
    rc = vc_db_next(rows);
    if (rc == 1) {
        memset(h, 0, sizeof(*h));
        vc_db_copy_str(rows, 0, h->order_id, sizeof(h->order_id));
        vc_db_copy_str(rows, 1, h->reseller_id, sizeof(h->reseller_id));
        vc_db_copy_str(rows, 2, h->customer_id, sizeof(h->customer_id));
        vc_db_copy_str(rows, 3, h->voucher_id, sizeof(h->voucher_id));
        h->state = (int)vc_db_i64_or(rows, 4, 0);
        vc_db_copy_str(rows, 5, h->product_code, sizeof(h->product_code));
        h->payment_mode = (int)vc_db_i64_or(rows, 6, 0);
        h->order_minor = vc_db_i64_or(rows, 7, 0);
        h->months = (int)vc_db_i64_or(rows, 8, 0);
        h->deducted_minor = vc_db_i64_or(rows, 9, 0);
        rc = 0;
    } else if (rc == 0) {
        rc = VC_ENOENT;
    }
    vc_db_rows_close(rows);
    return rc;
}

static bool rs__hold_is_ours(const rs_hold *h, const char *reseller, const char *customer)
{
    return strcmp(h->reseller_id, reseller) == 0 && strcmp(h->customer_id, customer) == 0;
}

/* Unfreezes a voucher and closes its HELD hold as `state` (PAID or RELEASED). */
static int rs__close_hold(vc_db_conn *c, const char *order_id, const char *voucher_id, int state,
                          int64_t deducted, int64_t now)
{
    uint64_t n = 0;
    int rc = vc_db_exec(c,
                        "UPDATE voucher_holds SET state = ?, deducted_minor = ?, ended_us = ? "
                        "WHERE order_id = ? AND state = ?",
                        VC_DB_ARGS(vc_db_i64(state), vc_db_i64(deducted), vc_db_i64(now),
                                   vc_db_str(order_id), vc_db_i64(HOLD_HELD)),
                        &n);
    if (rc < 0) return rc;
    if (n != 1) return VC_ECONFLICT;
    return vc_db_exec(c,
                      "UPDATE vouchers SET hold_order_id = NULL WHERE voucher_id = ? AND "
                      "hold_order_id = ?",
                      VC_DB_ARGS(vc_db_str(voucher_id), vc_db_str(order_id)), NULL);
}

/* ---- order terms --------------------------------------------------------------------------- */

/* Validates the order fields shared by ListEligibleVouchers and FreezeVoucher (adding a
   violation per bad field) and fills *t. Prepaid orders need a duration; FreezeVoucher accepts
   prepaid orders only. */
static void rs__check_order(vc_rpc_ctx *ctx, const char *product, int mode, bool prepaid_only,
                            int64_t amount, const char *currency, int32_t months, int64_t now,
                            rs_terms *t)
{
    if (!rs_product_code_ok(product))
        vc_rpc_invalid(ctx, "product_code", "must be 1 to %d characters of A-Z a-z 0-9 _ . -",
                       RS_PRODUCT_CODE_MAX);
    if (mode != PM_PREPAID && (prepaid_only || mode != PM_POSTPAID))
        vc_rpc_invalid(ctx, "payment_mode",
                       prepaid_only ? "must be PREPAID (only prepaid orders freeze vouchers)"
                                    : "must be PREPAID or POSTPAID");
    if (amount <= 0) vc_rpc_invalid(ctx, "order_amount_minor", "must be > 0");
    if (!currency || !vc_currency_valid(currency))
        vc_rpc_invalid(ctx, "currency_code", "must be a 3-letter ISO 4217 code");
    if (months < 0 || months > MONTHS_MAX || (mode == PM_PREPAID && months == 0))
        vc_rpc_invalid(ctx, "purchase_duration_months",
                       "must be 1 to %d for a prepaid order (0 for postpaid)", MONTHS_MAX);
    *t = (rs_terms){.product_code = product,
                    .mode = mode == PM_POSTPAID ? RS_PAY_POSTPAID : RS_PAY_PREPAID,
                    .amount = amount,
                    .currency = currency,
                    .months = months,
                    .check_months = mode == PM_PREPAID,
                    .at_us = now};
}

/* The request's currency must be the reseller's (fixed per reseller). */
static int rs__check_currency(vc_db_conn *c, const rs_app *app, const char *reseller,
                              const char *currency, rs_refusal *r)
{
    char cur[4];
    int rc = rs_tenant_currency(c, reseller, app->cfg->currency, cur);
    if (rc < 0) return rc;
    if (strcmp(cur, currency) != 0)
        return rs_refuse(r, 0, "currency_code", "must be the reseller's currency %s", cur);
    return 0;
}

/* ---- ListMyVouchers ------------------------------------------------------------------------ */

typedef struct rs_list {
    vc_arena *arena;
    const char *reseller, *customer;
    const Reseller__V1__ListMyVouchersRequest *req;
    vc_page page;
    int64_t now;
    Reseller__V1__ListMyVouchersResponse *resp;
} rs_list;

static int rs__list_run(vc_db_conn *c, void *arg)
{
    rs_list *l = arg;
    char sql[2048];
    size_t len = 0, n = 0;
    vc_db_param p[8 + STATUS_MAX];
    int rc = 0;
    /* The wallet holds ACTIVE and EXPIRED vouchers; newest first on ix_vouchers_customer. */
    static const char head[] = "SELECT " RS_WV_COLS " FROM vouchers WHERE reseller_id = ? AND "
                               "customer_id = ? AND status IN (5, 7)";
    memcpy(sql, head, sizeof(head));
    len = sizeof(head) - 1;
    p[n++] = vc_db_str(l->reseller);
    p[n++] = vc_db_str(l->customer);
    if (l->req->n_statuses) {
        int st[STATUS_MAX];
        for (size_t i = 0; i < l->req->n_statuses; i++)
            st[i] = (int)l->req->statuses[i];
        memcpy(sql + len, " AND ", sizeof(" AND "));
        len += sizeof(" AND ") - 1;
        rc = rs_usage_where(sql, sizeof(sql), &len, p, &n, sizeof(p) / sizeof(p[0]) - 3, st,
                            l->req->n_statuses, l->now);
        if (rc < 0) return rc;
    }
    if (l->page.has_cursor) {
        p[n++] = vc_db_i64(l->page.key);
        p[n++] = vc_db_i64(l->page.key);
        p[n++] = vc_db_str(l->page.id);
    }
    int w = snprintf(
        sql + len, sizeof(sql) - len, "%s ORDER BY issued_us DESC, voucher_id DESC LIMIT %d",
        l->page.has_cursor ? " AND (issued_us < ? OR (issued_us = ? AND voucher_id < ?))" : "",
        l->page.limit + 1);
    if (w < 0 || (size_t)w >= sizeof(sql) - len) return VC_EOVERFLOW;
    vc_db_rows *rows;
    if ((rc = vc_db_query(c, sql, p, n, &rows)) < 0) return rc;
    Reseller__V1__ListMyVouchersResponse *resp = l->resp;
    resp->vouchers = vc_arena_calloc(l->arena, (size_t)l->page.limit, sizeof(*resp->vouchers));
    resp->n_vouchers = 0;
    resp->next_page_token = "";
    rs_wvoucher last;
    while (resp->vouchers && (rc = vc_db_next(rows)) == 1) {
        if ((int)resp->n_vouchers == l->page.limit) {
            resp->next_page_token = vc_page_token(l->arena, last.issued_us, last.voucher_id);
            rc = resp->next_page_token ? 0 : VC_ENOMEM;
            break;
        }
        if ((rc = rs_wvoucher_read(rows, l->arena, &last)) < 0 ||
            (rc = rs_wvoucher_to_pb(l->arena, &last, l->now, false,
                                    &resp->vouchers[resp->n_vouchers])) < 0)
            break;
        resp->n_vouchers++;
    }
    vc_db_rows_close(rows);
    if (!resp->vouchers) return VC_ENOMEM;
    return rc < 0 ? rc : 0;
}

static int list_my_vouchers(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Reseller__V1__ListMyVouchersRequest *req = req_;
    rs_app *app = vc_rpc_service_data(ctx);
    char reseller[64], customer[64];
    int code = rs_wallet_caller(ctx, reseller, customer);
    if (code) return code;
    rs_list l = {.arena = vc_rpc_arena(ctx),
                 .reseller = reseller,
                 .customer = customer,
                 .req = req,
                 .now = vc_now_us(),
                 .resp = resp_};
    if (req->n_statuses > STATUS_MAX) vc_rpc_invalid(ctx, "statuses", "at most %d", STATUS_MAX);
    for (size_t i = 0; i < req->n_statuses && i < STATUS_MAX; i++)
        if (req->statuses[i] < RESELLER__V1__USAGE_STATUS__USAGE_STATUS_AVAILABLE ||
            req->statuses[i] > RESELLER__V1__USAGE_STATUS__USAGE_STATUS_EXPIRED)
            vc_rpc_invalid(ctx, "statuses", "unknown status %d", (int)req->statuses[i]);
    vc_page_parse(ctx, req->page_size, req->page_token, &l.page);
    if (vc_rpc_error_code(ctx) == VC_GRPC_INVALID_ARGUMENT) return VC_GRPC_INVALID_ARGUMENT;
    int rc = vc_db_run(app->db, rs__list_run, &l);
    return rc < 0 ? rs_fail(ctx, rc, "list wallet vouchers") : VC_GRPC_OK;
}

/* ---- ListEligibleVouchers ------------------------------------------------------------------ */

typedef struct rs_elig_list {
    const rs_app *app;
    vc_arena *arena;
    const char *reseller, *customer;
    rs_terms terms;
    rs_refusal refusal;
    Reseller__V1__ListEligibleVouchersResponse *resp;
} rs_elig_list;

static int rs__eligible_run(vc_db_conn *c, void *arg)
{
    rs_elig_list *e = arg;
    int rc = rs__check_currency(c, e->app, e->reseller, e->terms.currency, &e->refusal);
    if (rc < 0) return rc;
    char sql[2048] = "SELECT " RS_WV_COLS " FROM vouchers WHERE ";
    size_t len = strlen(sql), n = 0;
    vc_db_param p[RS_ELIG_PARAMS + 1];
    if ((rc = rs_elig_where(sql, sizeof(sql), &len, p, &n, e->reseller, e->customer, &e->terms)) <
            0 ||
        (rc = rs_elig_order_by(sql, sizeof(sql), &len, p, &n, e->terms.amount)) < 0)
        return rc;
    int w = snprintf(sql + len, sizeof(sql) - len, " LIMIT %d", RS_ELIG_MAX);
    if (w < 0 || (size_t)w >= sizeof(sql) - len) return VC_EOVERFLOW;
    vc_db_rows *rows;
    if ((rc = vc_db_query(c, sql, p, n, &rows)) < 0) return rc;
    rs_wvoucher *v = vc_arena_calloc(e->arena, RS_ELIG_MAX, sizeof(*v));
    size_t k = 0;
    while (v && k < RS_ELIG_MAX && (rc = vc_db_next(rows)) == 1) {
        if ((rc = rs_wvoucher_read(rows, e->arena, &v[k])) < 0) break;
        if (rs_elig_check(&v[k], &e->terms) == RS_ELIG_OK) k++;
    }
    vc_db_rows_close(rows);
    if (!v) return VC_ENOMEM;
    if (rc < 0) return rc;
    rs_elig_sort(v, k, e->terms.amount);
    e->resp->vouchers = vc_arena_calloc(e->arena, k ? k : 1, sizeof(*e->resp->vouchers));
    if (!e->resp->vouchers) return VC_ENOMEM;
    for (size_t i = 0; i < k; i++)
        if ((rc = rs_wvoucher_to_pb(e->arena, &v[i], e->terms.at_us, true, &e->resp->vouchers[i])) <
            0)
            return rc;
    e->resp->n_vouchers = k;
    return 0;
}

static int list_eligible(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Reseller__V1__ListEligibleVouchersRequest *req = req_;
    rs_app *app = vc_rpc_service_data(ctx);
    char reseller[64], customer[64];
    int code = rs_wallet_caller(ctx, reseller, customer);
    if (code) return code;
    rs_elig_list e = {.app = app,
                      .arena = vc_rpc_arena(ctx),
                      .reseller = reseller,
                      .customer = customer,
                      .resp = resp_};
    rs__check_order(ctx, req->product_code, req->payment_mode, false, req->order_amount_minor,
                    req->currency_code, req->purchase_duration_months, vc_now_us(), &e.terms);
    if (vc_rpc_error_code(ctx) == VC_GRPC_INVALID_ARGUMENT) return VC_GRPC_INVALID_ARGUMENT;
    int rc = vc_db_run(app->db, rs__eligible_run, &e);
    return rc < 0 ? rs_refusal_send(ctx, rc, &e.refusal, "list eligible vouchers") : VC_GRPC_OK;
}

/* ---- FreezeVoucher ------------------------------------------------------------------------- */

typedef struct rs_freeze {
    const rs_app *app;
    vc_arena *arena;
    const char *reseller, *customer;
    const Reseller__V1__FreezeVoucherRequest *req;
    rs_terms terms;
    rs_refusal refusal;
    rs_wvoucher v;
} rs_freeze;

/* The order froze before: the same voucher on the same terms is the same answer. */
static int rs__freeze_again(vc_db_conn *c, rs_freeze *f, const rs_hold *h)
{
    const Reseller__V1__FreezeVoucherRequest *req = f->req;
    if (!rs__hold_is_ours(h, f->reseller, f->customer))
        return rs_refuse(&f->refusal, VC_GRPC_ALREADY_EXISTS, NULL, "order_id %s is already in use",
                         req->order_id);
    if (strcmp(h->voucher_id, req->voucher_id) != 0)
        return rs_refuse(&f->refusal, VC_GRPC_FAILED_PRECONDITION, NULL,
                         "order %s already uses voucher %s: one voucher per order", req->order_id,
                         h->voucher_id);
    if (h->state == HOLD_RELEASED)
        return rs_refuse(&f->refusal, VC_GRPC_FAILED_PRECONDITION, NULL,
                         "order %s released its voucher (cancelled or timed out)", req->order_id);
    if (strcmp(h->product_code, req->product_code) != 0 ||
        h->payment_mode != (int)req->payment_mode || h->order_minor != req->order_amount_minor ||
        h->months != req->purchase_duration_months)
        return rs_refuse(&f->refusal, VC_GRPC_ALREADY_EXISTS, NULL,
                         "order %s froze this voucher with other order terms", req->order_id);
    int rc = rs__load_voucher(c, f->arena, f->reseller, f->customer, h->voucher_id, false, &f->v);
    if (rc == VC_ENOENT)
        return rs_refuse(&f->refusal, VC_GRPC_FAILED_PRECONDITION, NULL,
                         "the voucher of order %s is no longer in the wallet", req->order_id);
    if (rc == 0 && strcmp(f->v.currency, req->currency_code) != 0)
        return rs_refuse(&f->refusal, VC_GRPC_ALREADY_EXISTS, NULL,
                         "order %s froze this voucher with other order terms", req->order_id);
    return rc;
}

static int rs__freeze_tx(vc_db_conn *c, void *arg)
{
    rs_freeze *f = arg;
    const Reseller__V1__FreezeVoucherRequest *req = f->req;
    rs_hold h;
    int rc = rs__load_hold(c, req->order_id, &h);
    if (rc == 0) return rs__freeze_again(c, f, &h);
    if (rc != VC_ENOENT) return rc;
    if ((rc = rs__check_currency(c, f->app, f->reseller, f->terms.currency, &f->refusal)) < 0)
        return rc;
    rc = rs__load_voucher(c, f->arena, f->reseller, f->customer, req->voucher_id, true, &f->v);
    if (rc == VC_ENOENT)
        return rs_refuse(&f->refusal, VC_GRPC_NOT_FOUND, NULL, "voucher %s not found",
                         req->voucher_id);
    if (rc < 0) return rc;
    rs_elig why = rs_elig_check(&f->v, &f->terms);
    if (why != RS_ELIG_OK)
        return rs_refuse(&f->refusal, VC_GRPC_FAILED_PRECONDITION, NULL, "%s", rs_elig_text(why));
    uint64_t n = 0;
    rc = vc_db_exec(c,
                    "UPDATE vouchers SET hold_order_id = ? WHERE voucher_id = ? AND "
                    "hold_order_id IS NULL AND status = 5",
                    VC_DB_ARGS(vc_db_str(req->order_id), vc_db_str(f->v.voucher_id)), &n);
    if (rc < 0) return rc;
    if (n != 1) return VC_ECONFLICT; /* the row is locked: cannot happen, never freeze twice */
    int64_t now = f->terms.at_us;
    rc = vc_db_exec(c,
                    "INSERT INTO voucher_holds (order_id, reseller_id, customer_id, voucher_id, "
                    "state, product_code, payment_mode, order_minor, months, created_us, "
                    "expires_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    VC_DB_ARGS(vc_db_str(req->order_id), vc_db_str(f->reseller),
                               vc_db_str(f->customer), vc_db_str(f->v.voucher_id),
                               vc_db_i64(HOLD_HELD), vc_db_str(req->product_code),
                               vc_db_i64(req->payment_mode), vc_db_i64(req->order_amount_minor),
                               vc_db_i64(req->purchase_duration_months), vc_db_i64(now),
                               vc_db_i64(now + f->app->cfg->hold_timeout_s * VC_US_PER_SEC)),
                    NULL);
    if (rc < 0) return rc;
    snprintf(f->v.hold_order_id, sizeof(f->v.hold_order_id), "%s", req->order_id);
    return 0;
}

/* Runs a transaction again when it lost a race on a unique key (a twin request committed
   first): the next attempt sees the winner's row and answers as a retry would. */
static int rs__tx_settled(vc_db_pool *db, vc_db_tx_fn fn, void *arg)
{
    int rc = VC_EEXIST;
    for (int attempt = 0; attempt < 3 && rc == VC_EEXIST; attempt++)
        rc = vc_db_tx(db, fn, arg);
    return rc;
}

static int freeze_voucher(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Reseller__V1__FreezeVoucherRequest *req = req_;
    Reseller__V1__FreezeVoucherResponse *resp = resp_;
    rs_app *app = vc_rpc_service_data(ctx);
    char reseller[64], customer[64];
    int code = rs_wallet_caller(ctx, reseller, customer);
    if (code) return code;
    rs_freeze f = {.app = app,
                   .arena = vc_rpc_arena(ctx),
                   .reseller = reseller,
                   .customer = customer,
                   .req = req};
    rs_check_id(ctx, "order_id", req->order_id, true);
    rs_check_id(ctx, "voucher_id", req->voucher_id, true);
    rs__check_order(ctx, req->product_code, req->payment_mode, true, req->order_amount_minor,
                    req->currency_code, req->purchase_duration_months, vc_now_us(), &f.terms);
    if (vc_rpc_error_code(ctx) == VC_GRPC_INVALID_ARGUMENT) return VC_GRPC_INVALID_ARGUMENT;
    int rc = rs__tx_settled(app->db, rs__freeze_tx, &f);
    if (rc < 0) return rs_refusal_send(ctx, rc, &f.refusal, "freeze voucher");
    if (rs_wvoucher_to_pb(vc_rpc_arena(ctx), &f.v, vc_now_us(), false, &resp->voucher) < 0)
        return vc_rpc_error(ctx, VC_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    return VC_GRPC_OK;
}

/* ---- ConfirmPayment ------------------------------------------------------------------------ */

typedef struct rs_confirm {
    vc_arena *arena;
    const char *reseller, *customer;
    const Reseller__V1__ConfirmPaymentRequest *req;
    rs_refusal refusal;
    Reseller__V1__ConfirmPaymentResponse *resp;
} rs_confirm;

/* Deducts min(balance, amount) from the held voucher: the deduction row, the balance (only
   while it still covers it) and the hold, in one transaction. */
static int rs__pay(vc_db_conn *c, rs_confirm *p, const rs_hold *h, int64_t now)
{
    const Reseller__V1__ConfirmPaymentRequest *req = p->req;
    rs_wvoucher v;
    int rc = rs__load_voucher(c, p->arena, p->reseller, p->customer, h->voucher_id, true, &v);
    if (rc < 0) return rc;
    if (strcmp(v.currency, req->currency_code) != 0)
        return rs_refuse(&p->refusal, 0, "currency_code", "must be the voucher's currency %s",
                         v.currency);
    if (v.status != RESELLER__V1__VOUCHER_STATUS__VOUCHER_STATUS_ACTIVE ||
        strcmp(v.hold_order_id, h->order_id) != 0)
        return rs_refuse(&p->refusal, VC_GRPC_FAILED_PRECONDITION, NULL,
                         "the voucher of order %s can no longer be used", h->order_id);
    int64_t d = v.balance < req->amount_minor ? v.balance : req->amount_minor;
    if (d > 0) {
        rc = vc_db_exec(c,
                        "INSERT INTO voucher_deductions (voucher_id, reseller_id, customer_id, "
                        "source, reference_id, amount_minor, balance_before_minor, "
                        "balance_after_minor, created_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        VC_DB_ARGS(vc_db_str(v.voucher_id), vc_db_str(v.reseller_id),
                                   vc_db_str(v.customer_id), vc_db_i64(SRC_ORDER),
                                   vc_db_str(h->order_id), vc_db_i64(d), vc_db_i64(v.balance),
                                   vc_db_i64(v.balance - d), vc_db_i64(now)),
                        NULL);
        if (rc < 0) return rc;
        uint64_t n = 0;
        rc = vc_db_exec(c,
                        "UPDATE vouchers SET balance_minor = balance_minor - ?, ever_used = 1 "
                        "WHERE voucher_id = ? AND balance_minor >= ?",
                        VC_DB_ARGS(vc_db_i64(d), vc_db_str(v.voucher_id), vc_db_i64(d)), &n);
        if (rc < 0) return rc;
        if (n != 1) return VC_ECONFLICT;
        v.balance -= d;
        v.ever_used = true;
    }
    if ((rc = rs__close_hold(c, h->order_id, v.voucher_id, HOLD_PAID, d, now)) < 0) return rc;
    v.hold_order_id[0] = '\0';
    Reseller__V1__ConfirmPaymentResponse *r = p->resp;
    r->order_id = req->order_id;
    r->voucher_id = vc_arena_strdup(p->arena, v.voucher_id);
    r->deducted_minor = d;
    r->remainder_minor = req->amount_minor - d;
    r->currency_code = vc_arena_strdup(p->arena, v.currency);
    if (!r->voucher_id || !r->currency_code ||
        rs_wvoucher_to_pb(p->arena, &v, now, false, &r->voucher) < 0)
        return VC_ENOMEM;
    return vc_idem_finish(c, p->reseller, "ConfirmPayment", req->order_id, &req->base, &r->base);
}

static int rs__confirm_tx(vc_db_conn *c, void *arg)
{
    rs_confirm *p = arg;
    const Reseller__V1__ConfirmPaymentRequest *req = p->req;
    rs_hold h;
    int rc = rs__load_hold(c, req->order_id, &h);
    if (rc == VC_ENOENT || (rc == 0 && !rs__hold_is_ours(&h, p->reseller, p->customer)))
        return rs_refuse(&p->refusal, VC_GRPC_NOT_FOUND, NULL, "order %s holds no voucher",
                         req->order_id);
    if (rc < 0) return rc;
    if (h.state == HOLD_RELEASED)
        return rs_refuse(&p->refusal, VC_GRPC_FAILED_PRECONDITION, NULL,
                         "order %s released its voucher (cancelled or timed out): freeze it "
                         "again under a new order",
                         req->order_id);
    if (h.state == HOLD_PAID) {
        ProtobufCMessage *replay = NULL;
        rc = vc_idem_begin(c, p->reseller, "ConfirmPayment", req->order_id, &req->base, p->arena,
                           &reseller__v1__confirm_payment_response__descriptor, &replay);
        if (rc == VC_IDEM_REPLAY) {
            *p->resp = *(Reseller__V1__ConfirmPaymentResponse *)replay;
            return 0;
        }
        if (rc < 0) return rc;
        return rs_refuse(&p->refusal, VC_GRPC_ALREADY_EXISTS, NULL,
                         "order %s was already paid with other parameters", req->order_id);
    }
    if (req->amount_minor > h.order_minor)
        return rs_refuse(&p->refusal, 0, "amount_minor",
                         "exceeds the order amount frozen with the voucher (%" PRId64 ")",
                         h.order_minor);
    return rs__pay(c, p, &h, vc_now_us());
}

static int confirm_payment(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Reseller__V1__ConfirmPaymentRequest *req = req_;
    rs_app *app = vc_rpc_service_data(ctx);
    char reseller[64], customer[64];
    int code = rs_wallet_caller(ctx, reseller, customer);
    if (code) return code;
    rs_check_id(ctx, "order_id", req->order_id, true);
    if (req->amount_minor <= 0) vc_rpc_invalid(ctx, "amount_minor", "must be > 0");
    if (!req->currency_code || !vc_currency_valid(req->currency_code))
        vc_rpc_invalid(ctx, "currency_code", "must be a 3-letter ISO 4217 code");
    if (vc_rpc_error_code(ctx) == VC_GRPC_INVALID_ARGUMENT) return VC_GRPC_INVALID_ARGUMENT;
    rs_confirm p = {.arena = vc_rpc_arena(ctx),
                    .reseller = reseller,
                    .customer = customer,
                    .req = req,
                    .resp = resp_};
    int rc = vc_db_tx(app->db, rs__confirm_tx, &p);
    return rc < 0 ? rs_refusal_send(ctx, rc, &p.refusal, "confirm payment") : VC_GRPC_OK;
}

/* ---- ReleaseVoucher ------------------------------------------------------------------------ */

typedef struct rs_release {
    vc_arena *arena;
    const char *reseller, *customer, *order_id;
    rs_refusal refusal;
    bool held_one;
    rs_wvoucher v;
} rs_release;

static int rs__release_tx(vc_db_conn *c, void *arg)
{
    rs_release *r = arg;
    r->held_one = false;
    rs_hold h;
    int rc = rs__load_hold(c, r->order_id, &h);
    /* An order that froze nothing (or is not this customer's) releases nothing. */
    if (rc == VC_ENOENT || (rc == 0 && !rs__hold_is_ours(&h, r->reseller, r->customer))) return 0;
    if (rc < 0) return rc;
    if (h.state == HOLD_PAID)
        return rs_refuse(&r->refusal, VC_GRPC_FAILED_PRECONDITION, NULL,
                         "order %s was paid: its voucher deduction stands", r->order_id);
    if (h.state == HOLD_HELD &&
        (rc = rs__close_hold(c, h.order_id, h.voucher_id, HOLD_RELEASED, 0, vc_now_us())) < 0)
        return rc;
    rc = rs__load_voucher(c, r->arena, r->reseller, r->customer, h.voucher_id, false, &r->v);
    if (rc == VC_ENOENT) return 0; /* withdrawn or otherwise out of the wallet meanwhile */
    r->held_one = rc == 0;
    return rc;
}

static int release_voucher(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Reseller__V1__ReleaseVoucherRequest *req = req_;
    Reseller__V1__ReleaseVoucherResponse *resp = resp_;
    rs_app *app = vc_rpc_service_data(ctx);
    char reseller[64], customer[64];
    int code = rs_wallet_caller(ctx, reseller, customer);
    if (code || (code = rs_check_id(ctx, "order_id", req->order_id, true))) return code;
    rs_release r = {.arena = vc_rpc_arena(ctx),
                    .reseller = reseller,
                    .customer = customer,
                    .order_id = req->order_id};
    int rc = vc_db_tx(app->db, rs__release_tx, &r);
    if (rc < 0) return rs_refusal_send(ctx, rc, &r.refusal, "release voucher");
    if (r.held_one &&
        rs_wvoucher_to_pb(vc_rpc_arena(ctx), &r.v, vc_now_us(), false, &resp->voucher) < 0)
        return vc_rpc_error(ctx, VC_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    return VC_GRPC_OK;
}

/* ---- stale holds --------------------------------------------------------------------------- */

int rs_hold_expire_batch(vc_db_conn *c, int64_t now_us, int limit, int *released)
{
    *released = 0;
    char sql[256];
    int w = snprintf(sql, sizeof(sql),
                     "SELECT order_id, voucher_id FROM voucher_holds WHERE state = %d AND "
                     "expires_us <= ? ORDER BY expires_us LIMIT %d FOR UPDATE SKIP LOCKED",
                     HOLD_HELD, limit);
    if (w < 0 || (size_t)w >= sizeof(sql)) return VC_EOVERFLOW;
    vc_db_rows *rows;
    int rc = vc_db_query(c, sql, VC_DB_ARGS(vc_db_i64(now_us)), &rows);
    if (rc < 0) return rc;
    struct {
        char order_id[65], voucher_id[VC_ID_MAX + 1];
    } *due = NULL;
    int n = 0;
    if (limit > 0 && !(due = calloc((size_t)limit, sizeof(*due)))) {
        vc_db_rows_close(rows);
        return VC_ENOMEM;
    }
    while (n < limit && (rc = vc_db_next(rows)) == 1) {
        vc_db_copy_str(rows, 0, due[n].order_id, sizeof(due[n].order_id));
        vc_db_copy_str(rows, 1, due[n].voucher_id, sizeof(due[n].voucher_id));
        n++;
    }
    vc_db_rows_close(rows);
    for (int i = 0; rc >= 0 && i < n; i++) {
        rc = rs__close_hold(c, due[i].order_id, due[i].voucher_id, HOLD_RELEASED, 0, now_us);
        if (rc == 0) (*released)++;
    }
    free(due);
    return rc < 0 ? rc : 0;
}

typedef struct rs_hold_sweep {
    int64_t now_us;
    int released;
} rs_hold_sweep;

static int rs__hold_sweep_tx(vc_db_conn *c, void *arg)
{
    rs_hold_sweep *s = arg;
    return rs_hold_expire_batch(c, s->now_us, HOLD_BATCH, &s->released);
}

void rs_hold_timeout_job(void *arg)
{
    rs_app *app = arg;
    rs_hold_sweep s = {.now_us = vc_now_us()};
    long total = 0;
    for (int round = 0; round < 1000; round++) {
        int rc = vc_db_tx(app->db, rs__hold_sweep_tx, &s);
        if (rc < 0) {
            vc_logf(VC_LOG_WARN, "hold timeout sweep: %s", vc_strerror(rc));
            break;
        }
        total += s.released;
        if (s.released < HOLD_BATCH) break;
    }
    if (total)
        vc_log_fields(VC_LOG_INFO, "stale voucher holds released",
                      (vc_log_field[]){VC_LOG_I("count", total)}, 1);
}

/* ---- table --------------------------------------------------------------------------------- */

static const vc_rpc_method rs_wallet_methods[] = {
    {.name = "ListMyVouchers", .unary = list_my_vouchers},
    {.name = "ListEligibleVouchers", .unary = list_eligible},
    {.name = "FreezeVoucher", .unary = freeze_voucher},
    {.name = "ConfirmPayment", .unary = confirm_payment},
    {.name = "ReleaseVoucher", .unary = release_voucher},
    {.name = "RedeemCode", .unary = rs_redeem_code},
};

static vc_rpc_service rs_wallet_table = {
    .descriptor = &reseller__v1__wallet_service__descriptor,
    .methods = rs_wallet_methods,
    .n_methods = sizeof(rs_wallet_methods) / sizeof(rs_wallet_methods[0]),
    .roles = VC_ROLE_CUSTOMER,
};

const vc_rpc_service *rs_wallet_service(rs_app *app)
{
    rs_wallet_table.data = app;
    return &rs_wallet_table;
}
