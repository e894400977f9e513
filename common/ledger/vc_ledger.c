#include "ledger/vc_ledger.h"

#include <stdio.h>

#include "base/vc_err.h"
#include "base/vc_time.h"
#include "db/vc_check.h"
#include "runtime/vc_log.h"

static bool vc__is_debit(int kind)
{
    return kind == VC_ENTRY_CONSUME || kind == VC_ENTRY_ALLOCATE;
}

static bool vc__kind_valid(int kind)
{
    return kind >= VC_ENTRY_GRANT && kind <= VC_ENTRY_DEALLOCATE;
}

/* Which running total a kind adds to. */
static const char *vc__total_column(int kind)
{
    switch (kind) {
    case VC_ENTRY_GRANT: return "granted_minor";
    case VC_ENTRY_CONSUME:
    case VC_ENTRY_ALLOCATE: return "debited_minor";
    default: return "returned_minor";
    }
}

int vc_ledger_post(vc_db_conn *c, const vc_ledger_posting *p, int64_t *before, int64_t *after)
{
    if (!p || p->amount_minor <= 0 || !vc__kind_valid(p->kind) || !p->reseller_id ||
        !p->idem_ref || !p->currency_code || !p->reference_id)
        return VC_EINVAL;
    const char *owner = p->owner_id ? p->owner_id : "";
    int64_t now = vc_now_us();
    uint64_t affected = 0;
    int rc;
    if (vc__is_debit(p->kind)) {
        /* The condition is the guarantee: no row matches when the balance is short. */
        static const char sql[] =
            "UPDATE ledger_accounts SET balance_minor = balance_minor - ?, "
            "debited_minor = debited_minor + ?, updated_us = ? "
            "WHERE reseller_id = ? AND account = ? AND owner_id = ? AND balance_minor - ? >= ?";
        rc = vc_db_exec(c, sql,
                        VC_DB_ARGS(vc_db_i64(p->amount_minor), vc_db_i64(p->amount_minor),
                                   vc_db_i64(now), vc_db_str(p->reseller_id), vc_db_i64(p->account),
                                   vc_db_str(owner), vc_db_i64(p->amount_minor),
                                   vc_db_i64(p->keep_minor > 0 ? p->keep_minor : 0)),
                        &affected);
        if (rc < 0)
            return rc;
        if (affected == 0)
            return VC_ECONFLICT;
    } else {
        /* Credits create the account on first use; the overflow guard keeps sums in int64. */
        char sql[512];
        const char *col = vc__total_column(p->kind);
        snprintf(sql, sizeof(sql),
                 "INSERT INTO ledger_accounts (reseller_id, account, owner_id, currency_code, "
                 "balance_minor, %s, updated_us) VALUES (?, ?, ?, ?, ?, ?, ?) "
                 "ON DUPLICATE KEY UPDATE "
                 "balance_minor = IF(balance_minor > 9223372036854775807 - VALUES(balance_minor), "
                 "NULL, balance_minor + VALUES(balance_minor)), "
                 "%s = %s + VALUES(%s), updated_us = VALUES(updated_us)",
                 col, col, col, col);
        rc = vc_db_exec(c, sql,
                        VC_DB_ARGS(vc_db_str(p->reseller_id), vc_db_i64(p->account),
                                   vc_db_str(owner), vc_db_str(p->currency_code),
                                   vc_db_i64(p->amount_minor), vc_db_i64(p->amount_minor),
                                   vc_db_i64(now)),
                        &affected);
        if (rc == VC_EDB) /* NULL into a NOT NULL column: the credit would overflow */
            return VC_EOVERFLOW;
        if (rc < 0)
            return rc;
    }
    /* The row is locked by our update: this read is the balance our entry produced. */
    int64_t bal = 0;
    rc = vc_db_query_i64(c,
                         "SELECT balance_minor FROM ledger_accounts "
                         "WHERE reseller_id = ? AND account = ? AND owner_id = ?",
                         VC_DB_ARGS(vc_db_str(p->reseller_id), vc_db_i64(p->account),
                                    vc_db_str(owner)),
                         &bal);
    if (rc < 0)
        return rc;
    int64_t delta = vc__is_debit(p->kind) ? -p->amount_minor : p->amount_minor;
    int64_t prev = bal - delta;
    rc = vc_db_exec(c,
                    "INSERT INTO ledger_entries (reseller_id, account, owner_id, kind, amount_minor, "
                    "balance_before_minor, balance_after_minor, currency_code, reference_type, "
                    "reference_id, idem_ref, reason, operator_id, created_us) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    VC_DB_ARGS(vc_db_str(p->reseller_id), vc_db_i64(p->account), vc_db_str(owner),
                               vc_db_i64(p->kind), vc_db_i64(delta), vc_db_i64(prev),
                               vc_db_i64(bal), vc_db_str(p->currency_code),
                               vc_db_i64(p->reference_type), vc_db_str(p->reference_id),
                               vc_db_str(p->idem_ref), vc_db_str(p->reason ? p->reason : ""),
                               vc_db_str(p->operator_id ? p->operator_id : ""), vc_db_i64(now)),
                    NULL);
    if (rc < 0)
        return rc; /* VC_EEXIST: this event was posted before; the caller rolls back */
    if (before)
        *before = prev;
    if (after)
        *after = bal;
    return 0;
}

int vc_ledger_balance_of(vc_db_conn *c, const char *reseller_id, int account, const char *owner_id,
                         vc_ledger_balance *out)
{
    *out = (vc_ledger_balance){0};
    vc_db_rows *rows;
    int rc = vc_db_query(c,
                         "SELECT balance_minor, granted_minor, debited_minor, returned_minor "
                         "FROM ledger_accounts WHERE reseller_id = ? AND account = ? AND owner_id = ?",
                         VC_DB_ARGS(vc_db_str(reseller_id), vc_db_i64(account),
                                    vc_db_str(owner_id ? owner_id : "")),
                         &rows);
    if (rc < 0)
        return rc;
    rc = vc_db_next(rows);
    if (rc == 1) {
        vc_db_get_i64(rows, 0, &out->balance_minor);
        vc_db_get_i64(rows, 1, &out->granted_minor);
        vc_db_get_i64(rows, 2, &out->debited_minor);
        vc_db_get_i64(rows, 3, &out->returned_minor);
        rc = 0;
    }
    vc_db_rows_close(rows);
    return rc;
}

int vc_ledger_posted(vc_db_conn *c, const char *idem_ref, bool *posted)
{
    int64_t n = 0;
    int rc = vc_db_query_i64(c, "SELECT COUNT(*) FROM ledger_entries WHERE idem_ref = ?",
                             VC_DB_ARGS(vc_db_str(idem_ref)), &n);
    *posted = n > 0;
    return rc == VC_ENOENT ? 0 : rc;
}

/* The checks live in ledger_invariants.sql, embedded at build time (common/CMakeLists.txt). */
extern const unsigned char vc_ledger_invariants_sql[];

int vc_ledger_check(vc_db_conn *c, long *violations)
{
    return vc_check_script(c, (const char *)vc_ledger_invariants_sql, violations);
}
