/*
 * eligibility.c - the voucher rules shared by the wallet and settlement (see eligibility.h).
 */
#include "eligibility.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/vc_err.h"
#include "base/vc_time.h"
#include "templates.h"

#define ST_ACTIVE  RESELLER__V1__VOUCHER_STATUS__VOUCHER_STATUS_ACTIVE
#define ST_EXPIRED RESELLER__V1__VOUCHER_STATUS__VOUCHER_STATUS_EXPIRED
#define MULTI_USE  RESELLER__V1__USE_LIMIT__USE_LIMIT_MULTI_USE
#define ALL_PRODS  RESELLER__V1__PRODUCT_SCOPE_KIND__PRODUCT_SCOPE_KIND_ALL_PRODUCTS
#define SPEC_PRODS RESELLER__V1__PRODUCT_SCOPE_KIND__PRODUCT_SCOPE_KIND_SPECIFIED_PRODUCTS
#define US_AVAIL   RESELLER__V1__USAGE_STATUS__USAGE_STATUS_AVAILABLE
#define US_FROZEN  RESELLER__V1__USAGE_STATUS__USAGE_STATUS_FROZEN
#define US_USED    RESELLER__V1__USAGE_STATUS__USAGE_STATUS_USED
#define US_EXPIRED RESELLER__V1__USAGE_STATUS__USAGE_STATUS_EXPIRED

/* The SQL below spells these numbers out. */
_Static_assert(ST_ACTIVE == 5 && ST_EXPIRED == 7, "voucher status numbers used in SQL");

int rs_wvoucher_read(vc_db_rows *r, vc_arena *a, rs_wvoucher *v)
{
    memset(v, 0, sizeof(*v));
    unsigned i = 0;
    vc_db_copy_str(r, i++, v->voucher_id, sizeof(v->voucher_id));
    vc_db_copy_str(r, i++, v->reseller_id, sizeof(v->reseller_id));
    vc_db_copy_str(r, i++, v->customer_id, sizeof(v->customer_id));
    vc_db_copy_str(r, i++, v->name, sizeof(v->name));
    vc_db_copy_str(r, i++, v->currency, sizeof(v->currency));
    vc_db_copy_str(r, i++, v->hold_order_id, sizeof(v->hold_order_id));
    v->face = vc_db_i64_or(r, i++, 0);
    v->balance = vc_db_i64_or(r, i++, 0);
    v->min_order = vc_db_i64_or(r, i++, 0);
    v->scope_kind = (int)vc_db_i64_or(r, i++, 0);
    v->payment_modes = (int)vc_db_i64_or(r, i++, 0);
    v->use_limit = (int)vc_db_i64_or(r, i++, 0);
    v->min_months = (int)vc_db_i64_or(r, i++, 0);
    v->max_months = (int)vc_db_i64_or(r, i++, 0);
    v->status = (int)vc_db_i64_or(r, i++, 0);
    v->ever_used = vc_db_i64_or(r, i++, 0) != 0;
    v->issued_us = vc_db_i64_or(r, i++, 0);
    v->starts_us = vc_db_i64_or(r, i++, 0);
    v->expires_us = vc_db_i64_or(r, i++, 0);
    v->product_codes = vc_db_arena_str(r, i++, a);
    v->excluded = vc_db_arena_str(r, i++, a);
    return v->product_codes && v->excluded ? 0 : VC_ENOMEM;
}

/* ---- the predicate ------------------------------------------------------------------------- */

/* Exact membership in a comma-separated list of codes (which never contain commas). */
static bool rs__listed(const char *list, const char *code)
{
    size_t n = strlen(code);
    for (const char *p = list; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == n && memcmp(p, code, n) == 0) return true;
        if (!comma) break;
        p = comma + 1;
    }
    return false;
}

static bool rs__in_scope(const rs_wvoucher *v, const char *product)
{
    if (v->scope_kind == ALL_PRODS) return !rs__listed(v->excluded, product);
    if (v->scope_kind == SPEC_PRODS) return rs__listed(v->product_codes, product);
    return false;
}

rs_elig rs_elig_check(const rs_wvoucher *v, const rs_terms *t)
{
    if (v->status == ST_EXPIRED) return RS_ELIG_EXPIRED;
    if (v->status != ST_ACTIVE) return RS_ELIG_NOT_ACTIVE;
    if (v->starts_us && v->starts_us > t->at_us) return RS_ELIG_NOT_STARTED;
    if (v->expires_us && v->expires_us <= t->at_us) return RS_ELIG_EXPIRED;
    if (v->hold_order_id[0]) return RS_ELIG_FROZEN;
    if (v->balance <= 0 || (v->ever_used && v->use_limit != MULTI_USE)) return RS_ELIG_SPENT;
    if (strcmp(v->currency, t->currency) != 0) return RS_ELIG_CURRENCY;
    if (((unsigned)v->payment_modes & t->mode) == 0) return RS_ELIG_MODE;
    if (!rs__in_scope(v, t->product_code)) return RS_ELIG_PRODUCT;
    if (t->amount < v->min_order) return RS_ELIG_MIN_ORDER;
    if (t->check_months && ((v->min_months > 0 && t->months < v->min_months) ||
                            (v->max_months > 0 && t->months > v->max_months)))
        return RS_ELIG_MONTHS;
    return RS_ELIG_OK;
}

const char *rs_elig_text(rs_elig why)
{
    switch (why) {
    case RS_ELIG_OK: return "the voucher can be used";
    case RS_ELIG_NOT_ACTIVE: return "the voucher is not active";
    case RS_ELIG_NOT_STARTED: return "the voucher's validity has not started yet";
    case RS_ELIG_EXPIRED: return "the voucher has expired";
    case RS_ELIG_FROZEN: return "the voucher is frozen for another order";
    case RS_ELIG_SPENT: return "the voucher has no usable balance left";
    case RS_ELIG_CURRENCY: return "the voucher is in another currency";
    case RS_ELIG_MODE: return "the voucher does not apply to this payment mode";
    case RS_ELIG_PRODUCT: return "the voucher does not cover this product";
    case RS_ELIG_MIN_ORDER: return "the order amount is below the voucher's minimum order amount";
    case RS_ELIG_MONTHS: return "the purchase duration is outside the voucher's limits";
    }
    return "the voucher cannot be used";
}

/* ---- the predicate as SQL ------------------------------------------------------------------ */

static int rs__put(char *sql, size_t cap, size_t *len, const char *text)
{
    size_t n = strlen(text);
    if (*len + n + 1 > cap) return VC_EOVERFLOW;
    memcpy(sql + *len, text, n + 1);
    *len += n;
    return 0;
}

int rs_elig_where(char *sql, size_t cap, size_t *len, vc_db_param *p, size_t *np,
                  const char *reseller_id, const char *customer_id, const rs_terms *t)
{
    /* Same order of conditions as rs_elig_check; FIND_IN_SET on ascii_bin compares exactly. */
    static const char base[] =
        "reseller_id = ? AND customer_id = ? AND status = 5 AND hold_order_id IS NULL "
        "AND balance_minor > 0 AND (ever_used = 0 OR use_limit = ?) "
        "AND (starts_us IS NULL OR starts_us <= ?) AND (expires_us IS NULL OR expires_us > ?) "
        "AND currency_code = ? AND (payment_modes & ?) <> 0 AND min_order_minor <= ? "
        "AND ((scope_kind = ? AND FIND_IN_SET(?, excluded_product_codes COLLATE ascii_bin) = 0) "
        "OR (scope_kind = ? AND FIND_IN_SET(?, product_codes COLLATE ascii_bin) > 0))";
    static const char months[] = " AND (min_purchase_months = 0 OR min_purchase_months <= ?) "
                                 "AND (max_purchase_months = 0 OR max_purchase_months >= ?)";
    int rc = rs__put(sql, cap, len, base);
    if (rc == 0 && t->check_months) rc = rs__put(sql, cap, len, months);
    if (rc < 0) return rc;
    p[(*np)++] = vc_db_str(reseller_id);
    p[(*np)++] = vc_db_str(customer_id);
    p[(*np)++] = vc_db_i64(MULTI_USE);
    p[(*np)++] = vc_db_i64(t->at_us);
    p[(*np)++] = vc_db_i64(t->at_us);
    p[(*np)++] = vc_db_str(t->currency);
    p[(*np)++] = vc_db_i64((int64_t)t->mode);
    p[(*np)++] = vc_db_i64(t->amount);
    p[(*np)++] = vc_db_i64(ALL_PRODS);
    p[(*np)++] = vc_db_str(t->product_code);
    p[(*np)++] = vc_db_i64(SPEC_PRODS);
    p[(*np)++] = vc_db_str(t->product_code);
    if (t->check_months) {
        p[(*np)++] = vc_db_i64(t->months);
        p[(*np)++] = vc_db_i64(t->months);
    }
    return 0;
}

int rs_elig_order_by(char *sql, size_t cap, size_t *len, vc_db_param *p, size_t *np, int64_t amount)
{
    int rc = rs__put(sql, cap, len,
                     " ORDER BY COALESCE(expires_us, 9223372036854775807), "
                     "LEAST(balance_minor, ?) DESC, balance_minor, voucher_id");
    if (rc == 0) p[(*np)++] = vc_db_i64(amount);
    return rc;
}

/* ---- the pick order ------------------------------------------------------------------------ */

static int rs__cmp_i64(int64_t a, int64_t b)
{
    return (a > b) - (a < b);
}

int rs_elig_cmp(const rs_wvoucher *a, const rs_wvoucher *b)
{
    /* No end of validity sorts last (never happens for ACTIVE vouchers, but stays total). */
    int64_t ea = a->expires_us ? a->expires_us : INT64_MAX;
    int64_t eb = b->expires_us ? b->expires_us : INT64_MAX;
    int c = rs__cmp_i64(ea, eb);
    if (c == 0) c = rs__cmp_i64(b->deductible, a->deductible); /* larger deduction first */
    if (c == 0) c = rs__cmp_i64(a->balance, b->balance);       /* then the smaller balance */
    if (c == 0) c = strcmp(a->voucher_id, b->voucher_id);
    return c;
}

static int rs__qsort_cmp(const void *a, const void *b)
{
    return rs_elig_cmp(a, b);
}

void rs_elig_sort(rs_wvoucher *v, size_t n, int64_t amount)
{
    for (size_t i = 0; i < n; i++)
        v[i].deductible = v[i].balance < amount ? v[i].balance : amount;
    if (n > 1) qsort(v, n, sizeof(*v), rs__qsort_cmp);
}

/* ---- customer-visible status --------------------------------------------------------------- */

int rs_usage_status(const rs_wvoucher *v, int64_t now)
{
    if (v->status == ST_EXPIRED ||
        (v->status == ST_ACTIVE && v->expires_us && v->expires_us <= now))
        return US_EXPIRED;
    if (v->status != ST_ACTIVE) return RESELLER__V1__USAGE_STATUS__USAGE_STATUS_UNSPECIFIED;
    if (v->hold_order_id[0]) return US_FROZEN;
    return v->ever_used ? US_USED : US_AVAIL;
}

int rs_usage_where(char *sql, size_t cap, size_t *len, vc_db_param *p, size_t *np, size_t pmax,
                   const int *statuses, size_t n, int64_t now)
{
    /* Mirrors rs_usage_status: each branch takes `now` once. */
    static const char *const branch[] = {
        [US_AVAIL] = "(status = 5 AND (expires_us IS NULL OR expires_us > ?) AND "
                     "hold_order_id IS NULL AND ever_used = 0)",
        [US_FROZEN] = "(status = 5 AND (expires_us IS NULL OR expires_us > ?) AND "
                      "hold_order_id IS NOT NULL)",
        [US_USED] = "(status = 5 AND (expires_us IS NULL OR expires_us > ?) AND "
                    "hold_order_id IS NULL AND ever_used = 1)",
        [US_EXPIRED] = "(status = 7 OR (status = 5 AND expires_us <= ?))",
    };
    int rc = rs__put(sql, cap, len, "(");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (statuses[i] < US_AVAIL || statuses[i] > US_EXPIRED) return VC_EINVAL;
        if (*np >= pmax) return VC_EOVERFLOW;
        if (i) rc = rs__put(sql, cap, len, " OR ");
        if (rc == 0) rc = rs__put(sql, cap, len, branch[statuses[i]]);
        p[(*np)++] = vc_db_i64(now);
    }
    return rc == 0 ? rs__put(sql, cap, len, ")") : rc;
}

/* ---- the wallet view ----------------------------------------------------------------------- */

int rs_wvoucher_to_pb(vc_arena *a, const rs_wvoucher *v, int64_t now, bool with_deductible,
                      Reseller__V1__WalletVoucher **out)
{
    Reseller__V1__WalletVoucher *w = vc_arena_alloc(a, sizeof(*w));
    if (!w) return VC_ENOMEM;
    reseller__v1__wallet_voucher__init(w);
    w->voucher_id = vc_arena_strdup(a, v->voucher_id);
    w->name = vc_arena_strdup(a, v->name);
    w->currency_code = vc_arena_strdup(a, v->currency);
    w->frozen_order_id = vc_arena_strdup(a, v->hold_order_id);
    if (!w->voucher_id || !w->name || !w->currency_code || !w->frozen_order_id) return VC_ENOMEM;
    w->face_value_minor = v->face;
    w->balance_minor = v->balance;
    w->status = (Reseller__V1__UsageStatus)rs_usage_status(v, now);
    size_t n_modes = 0;
    int rc = rs_scope_to_pb(a, v->scope_kind, v->product_codes, v->excluded, &w->product_scope);
    if (rc == 0)
        rc = rs_payment_modes_to_pb(a, (unsigned)v->payment_modes, &w->payment_modes, &n_modes);
    if (rc == 0)
        rc = rs_conditions_to_pb(a, v->min_order, v->min_months, v->max_months, v->use_limit,
                                 &w->conditions);
    if (rc < 0) return rc;
    w->n_payment_modes = n_modes;
    if (v->starts_us && !(w->valid_from_time = vc_ts_new(a, v->starts_us))) return VC_ENOMEM;
    if (v->expires_us && !(w->expire_time = vc_ts_new(a, v->expires_us))) return VC_ENOMEM;
    w->deductible_amount_minor = with_deductible ? v->deductible : 0;
    *out = w;
    return 0;
}

bool rs_product_code_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > RS_PRODUCT_CODE_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '.' || ch == '-'))
            return false;
    }
    return true;
}

int rs_tenant_currency(vc_db_conn *c, const char *reseller_id, const char *fallback, char cur[4])
{
    vc_db_rows *rows;
    int rc = vc_db_query(c, "SELECT currency_code FROM resellers WHERE reseller_id = ?",
                         VC_DB_ARGS(vc_db_str(reseller_id)), &rows);
    if (rc < 0) return rc;
    rc = vc_db_next(rows);
    if (rc == 1) {
        rc = vc_db_copy_str(rows, 0, cur, 4);
    } else if (rc == 0) {
        size_t n = strlen(fallback);
        if (n > 3) n = 3;
        memcpy(cur, fallback, n);
        cur[n] = '\0';
    }
    vc_db_rows_close(rows);
    return rc < 0 ? rc : 0;
}

int rs_refuse(rs_refusal *r, int code, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
    va_end(ap);
    r->code = field ? VC_GRPC_INVALID_ARGUMENT : code;
    r->field = field;
    return RS_REFUSE;
}

int rs_refusal_send(vc_rpc_ctx *ctx, int rc, const rs_refusal *r, const char *what)
{
    if (rc != RS_REFUSE) return vc_rpc_fail(ctx, rc, what);
    if (r->field) return vc_rpc_invalid(ctx, r->field, "%s", r->msg);
    return vc_rpc_error(ctx, r->code, "%s", r->msg);
}
