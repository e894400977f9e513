/*
 * credit.c - customer credit state and the alarms (see credit.h for the model).
 *
 * Threshold comparisons are done in 128-bit integers: used * 100 and percent * granted can
 * exceed int64 for large balances, and a percentage must never be computed in floating point.
 */
#include "credit.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "base/vc_time.h"
#include "ledger/vc_ledger.h"

const int rs_credit_thresholds[RS_CREDIT_N_THRESHOLDS] = {75, 90, 100};

#define RS_ALL_ARMED           ((1u << RS_CREDIT_N_THRESHOLDS) - 1)
#define RS_DEFAULT_LOW_PERCENT 10

int rs_credit_refuse(rs_credit_refusal *r, int code, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
    va_end(ap);
    r->code = code;
    r->field = field;
    return RS_CREDIT_REFUSED;
}

int rs_credit_refusal_reply(vc_rpc_ctx *ctx, const rs_credit_refusal *r)
{
    if (r->field) return vc_rpc_invalid(ctx, r->field, "%s", r->msg);
    return vc_rpc_error(ctx, r->code, "%s", r->msg);
}

int64_t rs_credit_available(const rs_credit *cr)
{
    return cr->credit_minor > cr->used_minor ? cr->credit_minor - cr->used_minor : 0;
}

bool rs_credit_exhausted(const rs_credit *cr)
{
    return rs_credit_available(cr) == 0 && (cr->credit_minor > 0 || cr->used_minor > 0);
}

Reseller__V1__CustomerCredit *rs_credit_to_pb(vc_arena *a, const rs_credit *cr)
{
    Reseller__V1__CustomerCredit *m = vc_arena_alloc(a, sizeof(*m));
    if (!m) return NULL;
    reseller__v1__customer_credit__init(m);
    m->credit_minor = cr->credit_minor;
    m->used_minor = cr->used_minor;
    m->available_minor = rs_credit_available(cr);
    m->exhausted = rs_credit_exhausted(cr);
    m->currency_code = vc_arena_strdup(a, cr->currency);
    return m->currency_code ? m : NULL;
}

/* ---- customer credit ----------------------------------------------------------------------- */

int rs_credit_lock(vc_db_conn *c, const char *reseller_id, const char *customer_id,
                   const char *currency, rs_credit *out)
{
    *out = (rs_credit){.armed_mask = RS_ALL_ARMED};
    snprintf(out->currency, sizeof(out->currency), "%s", currency);
    /* ON DUPLICATE KEY UPDATE locks an existing row exclusively at once. INSERT IGNORE takes a
       shared lock on the duplicate, which two writers of one customer then both try to upgrade:
       InnoDB deadlocks them (test_svc_credit's races hit dozens of those, all retried). */
    int rc = vc_db_exec(c,
                        "INSERT INTO customer_credit (customer_id, reseller_id, used_minor, "
                        "armed_mask, updated_us) VALUES (?, ?, 0, ?, ?) "
                        "ON DUPLICATE KEY UPDATE customer_id = customer_id",
                        VC_DB_ARGS(vc_db_str(customer_id), vc_db_str(reseller_id),
                                   vc_db_i64(RS_ALL_ARMED), vc_db_i64(vc_now_us())),
                        NULL);
    if (rc < 0) return rc;
    /* The credit changes only under this lock, so a plain read of it is current. */
    vc_db_rows *rows;
    rc = vc_db_query(c,
                     "SELECT cc.used_minor, cc.armed_mask, COALESCE(la.balance_minor, 0) "
                     "FROM customer_credit cc LEFT JOIN ledger_accounts la "
                     "ON la.reseller_id = ? AND la.account = ? AND la.owner_id = cc.customer_id "
                     "WHERE cc.customer_id = ?",
                     VC_DB_ARGS(vc_db_str(reseller_id), vc_db_i64(VC_ACCOUNT_CUSTOMER_CREDIT),
                                vc_db_str(customer_id)),
                     &rows);
    if (rc < 0) return rc;
    rc = vc_db_next(rows);
    if (rc == 1) {
        out->used_minor = vc_db_i64_or(rows, 0, 0);
        out->armed_mask = (unsigned)vc_db_i64_or(rows, 1, RS_ALL_ARMED) & RS_ALL_ARMED;
        out->credit_minor = vc_db_i64_or(rows, 2, 0);
        rc = 0;
    } else if (rc == 0) {
        rc = VC_ENOENT; /* cannot happen: the row was just inserted or locked */
    }
    vc_db_rows_close(rows);
    return rc;
}

/* Inserts one alert; *out (may be NULL) gets it as a message. */
static int rs__alert_insert(vc_db_conn *c, vc_arena *a, const char *reseller_id, int kind,
                            const char *customer_id, int threshold, int64_t used, int64_t limit,
                            const char *currency, const char *trigger_id,
                            Reseller__V1__CreditAlert **out)
{
    int64_t now = vc_now_us();
    int rc = vc_db_exec(c,
                        "INSERT INTO credit_alerts (reseller_id, kind, customer_id, "
                        "threshold_percent, used_minor, limit_minor, currency_code, trigger_id, "
                        "created_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        VC_DB_ARGS(vc_db_str(reseller_id), vc_db_i64(kind), vc_db_str(customer_id),
                                   vc_db_i64(threshold), vc_db_i64(used), vc_db_i64(limit),
                                   vc_db_str(currency), vc_db_str(trigger_id ? trigger_id : ""),
                                   vc_db_i64(now)),
                        NULL);
    if (rc < 0 || !out) return rc;
    Reseller__V1__CreditAlert *m = vc_arena_alloc(a, sizeof(*m));
    if (!m) return VC_ENOMEM;
    reseller__v1__credit_alert__init(m);
    m->alert_id = vc_arena_sprintf(a, "%" PRIu64, vc_db_last_insert_id(c));
    m->reseller_id = vc_arena_strdup(a, reseller_id);
    m->kind = (Reseller__V1__AlertKind)kind;
    m->customer_id = vc_arena_strdup(a, customer_id);
    m->threshold_percent = threshold;
    m->used_minor = used;
    m->limit_minor = limit;
    m->currency_code = vc_arena_strdup(a, currency);
    m->trigger_id = vc_arena_strdup(a, trigger_id ? trigger_id : "");
    m->create_time = vc_ts_new(a, now);
    if (!m->alert_id || !m->reseller_id || !m->customer_id || !m->currency_code || !m->trigger_id ||
        !m->create_time)
        return VC_ENOMEM;
    *out = m;
    return 0;
}

int rs_credit_store(vc_db_conn *c, vc_arena *a, const char *reseller_id, const char *customer_id,
                    rs_credit *cr, const char *trigger_id, Reseller__V1__CreditAlert **raised,
                    size_t *n_raised)
{
    size_t n = 0;
    int rc = 0;
    /* Without credit there is nothing to be a percentage of: the alarms keep their state. */
    for (int i = 0; cr->credit_minor > 0 && i < RS_CREDIT_N_THRESHOLDS; i++) {
        unsigned bit = 1u << i;
        int t = rs_credit_thresholds[i];
        bool crossed = (__int128)cr->used_minor * 100 >= (__int128)t * cr->credit_minor;
        if ((cr->armed_mask & bit) && crossed) {
            rc = rs__alert_insert(c, a, reseller_id,
                                  RESELLER__V1__ALERT_KIND__ALERT_KIND_CUSTOMER_CREDIT_USAGE,
                                  customer_id, t, cr->used_minor, cr->credit_minor, cr->currency,
                                  trigger_id, raised ? &raised[n] : NULL);
            if (rc < 0) return rc;
            n++;
            cr->armed_mask &= ~bit;
        } else if (!(cr->armed_mask & bit) && !crossed) {
            cr->armed_mask |= bit;
        }
    }
    if (n_raised) *n_raised = n;
    return vc_db_exec(c,
                      "UPDATE customer_credit SET used_minor = ?, armed_mask = ?, updated_us = ? "
                      "WHERE customer_id = ?",
                      VC_DB_ARGS(vc_db_i64(cr->used_minor), vc_db_i64(cr->armed_mask),
                                 vc_db_i64(vc_now_us()), vc_db_str(customer_id)),
                      NULL);
}

/* ---- reseller low balance ------------------------------------------------------------------ */

/* Only a debit can take an account from at-or-above the threshold to below it: a grant adds as
   much to the remaining as to the granted total (and the threshold is a smaller share of it), a
   return only adds to the remaining. So "the posting just made crossed downwards" is exactly
   "an armed alarm fires", and "it is back at or above before the next debit" is exactly
   "re-armed"; no flag has to be kept. Keeping one on the resellers row would also have every
   crossing upgrade the shared lock rs_reseller_ensure() takes there to an exclusive one while
   other writers of that reseller hold the same shared lock: deadlocks at every crossing. */
int rs_alarm_reseller_low(vc_db_conn *c, const rs_app *app, const char *reseller_id, int account,
                          const char *trigger_id)
{
    int kind;
    if (account == VC_ACCOUNT_VOUCHER_QUOTA)
        kind = RESELLER__V1__ALERT_KIND__ALERT_KIND_VOUCHER_QUOTA_LOW;
    else if (account == VC_ACCOUNT_CREDIT_POOL)
        kind = RESELLER__V1__ALERT_KIND__ALERT_KIND_CREDIT_POOL_LOW;
    else
        return VC_EINVAL;
    /* The caller's posting holds the account's row lock: the newest entry is that posting. */
    vc_db_rows *rows;
    int rc = vc_db_query(c,
                         "SELECT kind, balance_before_minor, balance_after_minor, currency_code "
                         "FROM ledger_entries WHERE reseller_id = ? AND account = ? AND "
                         "owner_id = '' ORDER BY entry_id DESC LIMIT 1",
                         VC_DB_ARGS(vc_db_str(reseller_id), vc_db_i64(account)), &rows);
    if (rc < 0) return rc;
    int64_t entry_kind = 0, before = 0, after = 0;
    char currency[4] = "";
    rc = vc_db_next(rows);
    if (rc == 1) {
        entry_kind = vc_db_i64_or(rows, 0, 0);
        before = vc_db_i64_or(rows, 1, 0);
        after = vc_db_i64_or(rows, 2, 0);
        rc = vc_db_copy_str(rows, 3, currency, sizeof(currency));
    }
    vc_db_rows_close(rows);
    if (rc < 0) return rc;
    if (entry_kind != VC_ENTRY_CONSUME && entry_kind != VC_ENTRY_ALLOCATE) return 0;

    vc_ledger_balance b;
    if ((rc = vc_ledger_balance_of(c, reseller_id, account, "", &b)) < 0) return rc;
    /* Callers without a parsed configuration (benchmarks) get the documented default. */
    int percent = app && app->cfg && app->cfg->low_balance_percent > 0
                      ? (int)app->cfg->low_balance_percent
                      : RS_DEFAULT_LOW_PERCENT;
    __int128 line = (__int128)percent * b.granted_minor;
    if (b.granted_minor <= 0 || (__int128)before * 100 < line || (__int128)after * 100 >= line)
        return 0;
    return rs__alert_insert(c, NULL, reseller_id, kind, "", percent,
                            b.granted_minor - b.balance_minor, b.granted_minor, currency,
                            trigger_id, NULL);
}

/* ---- rows ---------------------------------------------------------------------------------- */

int rs_alert_from_row(vc_db_rows *r, vc_arena *a, Reseller__V1__CreditAlert **out,
                      uint64_t *alert_id)
{
    Reseller__V1__CreditAlert *m = vc_arena_alloc(a, sizeof(*m));
    if (!m) return VC_ENOMEM;
    reseller__v1__credit_alert__init(m);
    uint64_t id = 0;
    vc_db_get_u64(r, 0, &id);
    m->alert_id = vc_arena_sprintf(a, "%" PRIu64, id);
    m->reseller_id = vc_db_arena_str(r, 1, a);
    m->kind = (Reseller__V1__AlertKind)vc_db_i64_or(r, 2, 0);
    m->customer_id = vc_db_arena_str(r, 3, a);
    m->threshold_percent = (int32_t)vc_db_i64_or(r, 4, 0);
    m->used_minor = vc_db_i64_or(r, 5, 0);
    m->limit_minor = vc_db_i64_or(r, 6, 0);
    m->currency_code = vc_db_arena_str(r, 7, a);
    m->trigger_id = vc_db_arena_str(r, 8, a);
    m->create_time = vc_ts_new(a, vc_db_i64_or(r, 9, 0));
    if (!m->alert_id || !m->reseller_id || !m->customer_id || !m->currency_code || !m->trigger_id ||
        !m->create_time)
        return VC_ENOMEM;
    if (alert_id) *alert_id = id;
    *out = m;
    return 0;
}
