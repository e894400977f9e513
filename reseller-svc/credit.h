/*
 * credit.h - customer credit and the credit/quota alarms (SPEC §4), shared by customers.c
 * (SetCustomerCredit, the customer list, ListCreditAlerts), billing.c (ReportUsage) and every
 * place that moves the voucher quota or the credit pool (the low-balance alarm).
 *
 * The model:
 * - A customer's credit (its limit) is the balance of ledger account VC_ACCOUNT_CUSTOMER_CREDIT
 *   with owner_id = the customer: allocations move money from the reseller's credit pool into
 *   it, withdrawals move it back (customers.c). What the customer used is
 *   customer_credit.used_minor, outside the ledger: usage is advisory and may exceed the credit.
 *   available = max(0, credit - used); exhausted = available == 0 && (credit > 0 || used > 0).
 *   A withdrawal may not touch used credit: the customer account is debited with
 *   keep_minor = used.
 * - The customer_credit row is the customer's lock. Every writer of used_minor or of the credit
 *   takes it first (rs_credit_lock) and keeps it until commit, so usage reports and credit
 *   changes of one customer are serialised and the usage alarms fire exactly once per crossing.
 * - Usage alarms (AlertKind CUSTOMER_CREDIT_USAGE): thresholds 75, 90, 100 % of the credit, in
 *   that order, each armed (bit i of armed_mask) until it fires; a fired threshold is re-armed
 *   once used is below it again, i.e. when the credit was raised above it. Nothing is
 *   evaluated while the credit is 0 (the alarms keep their state).
 * - Low-balance alarms of the reseller (VOUCHER_QUOTA_LOW / CREDIT_POOL_LOW): raised by the
 *   debit (issue, allocation) that takes the remaining balance from at or above the configured
 *   percent (--low-balance-percent) of the granted total to below it. Only a debit can cross
 *   downwards, so this is one alarm per crossing, re-armed by whatever lifts the balance back
 *   (grant, return, withdrawal from a customer); it needs no stored flag (credit.c says why the
 *   resellers.*_low_armed columns are not used).
 *
 * Alerts are rows of credit_alerts; alert_id (AUTO_INCREMENT) orders them and is their public id
 * in decimal. Watchers (alerts_hub.c) pick new rows up after commit.
 *
 * All functions run inside the caller's transaction on its connection and are as thread-safe as
 * that is. Messages they build are allocated in the given arena (the call's): nothing to free.
 * Errors are VC_E* codes from the database and VC_ENOMEM unless a function says otherwise.
 */
#ifndef RS_CREDIT_H
#define RS_CREDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/vc_arena.h"
#include "db/vc_db.h"
#include "reseller/v1/types.pb-c.h"
#include "rs.h"

/* A business refusal decided inside a transaction body: the body records it with
   rs_credit_refuse() and returns RS_CREDIT_REFUSED, which rolls everything back; the handler
   answers it with rs_credit_refusal_reply(). A field makes it an INVALID_ARGUMENT violation on
   that field. */
typedef struct rs_credit_refusal {
    int code;          /* gRPC status; VC_GRPC_OK = none */
    const char *field; /* static string or NULL */
    char msg[200];
} rs_credit_refusal;

#define RS_CREDIT_REFUSED VC_ECANCELED

int rs_credit_refuse(rs_credit_refusal *r, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int rs_credit_refusal_reply(vc_rpc_ctx *ctx, const rs_credit_refusal *r);

/* Usage thresholds, in the order they fire. */
#define RS_CREDIT_N_THRESHOLDS 3
extern const int rs_credit_thresholds[RS_CREDIT_N_THRESHOLDS]; /* 75, 90, 100 */

/* The most any single allocation, withdrawal or usage report may move (1e13 minor units). */
#define RS_CREDIT_MAX_MINOR 10000000000000LL

/* One customer's credit as its lock holder sees it. */
typedef struct rs_credit {
    int64_t credit_minor; /* balance of the customer-credit ledger account */
    int64_t used_minor;   /* customer_credit.used_minor */
    unsigned armed_mask;  /* bit i: threshold rs_credit_thresholds[i] is armed */
    char currency[4];     /* the reseller's currency */
} rs_credit;

/* max(0, credit - used). */
int64_t rs_credit_available(const rs_credit *cr);
/* available == 0 while there is credit or usage. */
bool rs_credit_exhausted(const rs_credit *cr);

/* Creates the customer's customer_credit row if it has none and locks it exclusively until the
   transaction ends (one statement that takes the exclusive lock at once: concurrent writers of
   one customer queue here instead of deadlocking on a shared-to-exclusive upgrade), then reads
   used, the armed alarms and the credit. The customer must exist and belong to reseller_id
   (callers check that first). `currency` is copied into out. */
int rs_credit_lock(vc_db_conn *c, const char *reseller_id, const char *customer_id,
                   const char *currency, rs_credit *out);

/* Stores the customer's used credit and alarms after a change of used or of the credit (the
   row must be locked by rs_credit_lock in this transaction): evaluates the usage thresholds,
   inserts an alert for each one crossed (trigger_id = the usage id or allocation id) and
   updates cr->armed_mask. When `raised` is not NULL it receives the alerts raised, in threshold
   order (room for RS_CREDIT_N_THRESHOLDS, allocated in `a`), and *n_raised their count. */
int rs_credit_store(vc_db_conn *c, vc_arena *a, const char *reseller_id, const char *customer_id,
                    rs_credit *cr, const char *trigger_id, Reseller__V1__CreditAlert **raised,
                    size_t *n_raised);

/* The low-balance alarm of a reseller's own account (VC_ACCOUNT_VOUCHER_QUOTA or
   VC_ACCOUNT_CREDIT_POOL): call it in the transaction that just posted to that account, right
   after the posting. It looks at that posting (the account's newest entry: the posting's row
   lock keeps others out until commit, so the answer is exact under any concurrency) and raises
   the alarm when it crossed the threshold downwards (trigger_id names the event: voucher or
   allocation id). After a grant or a return it does nothing, so callers that only credit the
   account need not call it. VC_EINVAL for another account kind. */
int rs_alarm_reseller_low(vc_db_conn *c, const rs_app *app, const char *reseller_id, int account,
                          const char *trigger_id);

/* A CustomerCredit message for cr (arena); NULL on ENOMEM. */
Reseller__V1__CustomerCredit *rs_credit_to_pb(vc_arena *a, const rs_credit *cr);

/* Columns of credit_alerts in the order rs_alert_from_row reads them (SELECT RS_ALERT_COLS
   FROM credit_alerts ...). */
#define RS_ALERT_COLS                                                                              \
    "alert_id, reseller_id, kind, customer_id, threshold_percent, used_minor, limit_minor, "       \
    "currency_code, trigger_id, created_us"

/* A CreditAlert from a row selected with RS_ALERT_COLS (arena). *alert_id (may be NULL) gets
   the numeric id. */
int rs_alert_from_row(vc_db_rows *r, vc_arena *a, Reseller__V1__CreditAlert **out,
                      uint64_t *alert_id);

#endif
