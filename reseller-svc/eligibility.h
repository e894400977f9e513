/*
 * eligibility.h - the voucher rules the customer wallet (wallet.c) and postpaid settlement
 * (settlement.c) share (SPEC §5, seed 003): which vouchers may pay for an order or a charge,
 * in which order the system picks them, and how a voucher looks to its customer.
 *
 * The rules, once:
 *   - usable:    status ACTIVE, starts_us <= t < expires_us (t = now, or the charge time), and
 *                not frozen by a prepaid order (hold_order_id NULL);
 *   - remaining: balance > 0, and never used unless multi-use (a single-use voucher is spent by
 *                its first order or charge, whatever balance it has left);
 *   - the order: currency is the voucher's, the payment mode is one of the voucher's
 *                (RS_PAY_* bits), the product is in scope (ALL minus excluded, or SPECIFIED
 *                listing it; codes compare case-sensitively), amount >= min_order_minor, and for
 *                prepaid orders (and auto-renewals) the duration lies in
 *                [min_purchase_months, max_purchase_months] (0 = no bound).
 *   - the pick order (postpaid settlement, auto-renewal, ListEligibleVouchers): expiry
 *                ascending, then deductible amount min(balance, charge) descending, then balance
 *                ascending, then voucher_id ascending (so equal vouchers come out stable).
 *
 * Two forms of the predicate: rs_elig_check() on a row in C (authoritative: settlement and
 * FreezeVoucher run it on rows they hold locked) and rs_elig_where() as SQL, so lists and
 * candidate scans fetch only what can qualify. The integration tests exercise every condition
 * through both.
 *
 * Threads: no state; everything is reentrant. Memory: strings of a row and the messages built
 * here live in the caller's arena. Errors: 0 or a negative VC_E* code.
 */
#ifndef RS_ELIGIBILITY_H
#define RS_ELIGIBILITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/vc_arena.h"
#include "base/vc_id.h"
#include "db/vc_db.h"
#include "reseller/v1/types.pb-c.h"
#include "rpc/vc_rpc_server.h"

/* Most candidates one list or settlement considers (the soonest-expiring ones win). */
#define RS_ELIG_MAX 1000

/* A voucher as the wallet and settlement see it. Strings point into the caller's arena. */
typedef struct rs_wvoucher {
    char voucher_id[VC_ID_MAX + 1];
    char reseller_id[65], customer_id[65];
    char name[4 * 128 + 1];
    char currency[4];
    char hold_order_id[65]; /* "" = not frozen */
    int64_t face, balance, min_order;
    int scope_kind, payment_modes, use_limit, min_months, max_months, status;
    bool ever_used;
    int64_t issued_us, starts_us, expires_us; /* 0 = unset */
    char *product_codes, *excluded;           /* comma-separated, "" = none */
    int64_t deductible;                       /* set by rs_elig_sort: min(balance, the charge) */
} rs_wvoucher;

/* The columns rs_wvoucher_read() expects, in order (prefix them with nothing: plain names). */
#define RS_WV_COLS                                                                                 \
    "voucher_id, reseller_id, customer_id, name, currency_code, hold_order_id, "                   \
    "face_value_minor, balance_minor, min_order_minor, scope_kind, payment_modes, use_limit, "     \
    "min_purchase_months, max_purchase_months, status, ever_used, issued_us, starts_us, "          \
    "expires_us, product_codes, excluded_product_codes"

/* Reads the current row (selected with RS_WV_COLS) into *v. 0 or VC_ENOMEM. */
int rs_wvoucher_read(vc_db_rows *r, vc_arena *a, rs_wvoucher *v);

/* What an order or a charge asks of a voucher. */
typedef struct rs_terms {
    const char *product_code;
    unsigned mode;  /* RS_PAY_PREPAID or RS_PAY_POSTPAID (what the voucher must allow) */
    int64_t amount; /* order or charge amount, > 0 */
    const char *currency;
    int months;        /* purchase or renewal duration; checked only when check_months */
    bool check_months; /* prepaid orders and auto-renewals */
    int64_t at_us;     /* the voucher must be valid at this time */
} rs_terms;

/* Why a voucher does not qualify (RS_ELIG_OK when it does). */
typedef enum rs_elig {
    RS_ELIG_OK = 0,
    RS_ELIG_NOT_ACTIVE,  /* pending review, withdrawn, expired by the sweep, ... */
    RS_ELIG_NOT_STARTED, /* its validity window opens later */
    RS_ELIG_EXPIRED,     /* expires_us <= t */
    RS_ELIG_FROZEN,      /* held by a prepaid order */
    RS_ELIG_SPENT,       /* balance 0, or single-use and already used */
    RS_ELIG_CURRENCY,    /* another currency */
    RS_ELIG_MODE,        /* does not apply to this payment mode */
    RS_ELIG_PRODUCT,     /* product not in scope */
    RS_ELIG_MIN_ORDER,   /* amount below the minimum order amount */
    RS_ELIG_MONTHS,      /* duration outside the purchase-duration limits */
} rs_elig;

/* The rules above on one row. Pure. */
rs_elig rs_elig_check(const rs_wvoucher *v, const rs_terms *t);
/* A static, client-safe sentence for a refusal ("the voucher does not cover this product"). */
const char *rs_elig_text(rs_elig why);

/* The predicate as SQL for `WHERE <sql>` over the vouchers table, scoped to one customer.
   Appends the text to sql[cap] at *len and the parameters to p[*np] (room for RS_ELIG_PARAMS).
   Everything rs_elig_check() tests is in it, so the C check only guards against rows that
   changed after the scan. VC_EOVERFLOW when sql is too small. */
#define RS_ELIG_PARAMS 16
int rs_elig_where(char *sql, size_t cap, size_t *len, vc_db_param *p, size_t *np,
                  const char *reseller_id, const char *customer_id, const rs_terms *t);
/* "ORDER BY ..." of the pick order, one parameter (the charge amount) appended to p[*np]. */
int rs_elig_order_by(char *sql, size_t cap, size_t *len, vc_db_param *p, size_t *np,
                     int64_t amount);

/* The pick order as a comparator over rows whose `deductible` is set (total: ends on
   voucher_id). Negative when a goes first. */
int rs_elig_cmp(const rs_wvoucher *a, const rs_wvoucher *b);
/* Sets each row's deductible = min(balance, amount) and sorts v[0..n) into the pick order. */
void rs_elig_sort(rs_wvoucher *v, size_t n, int64_t amount);

/* The customer-visible status (Reseller__V1__UsageStatus) at `now`: EXPIRED (status EXPIRED or
   expires_us <= now), FROZEN (held), USED (ever used), AVAILABLE; UNSPECIFIED for vouchers
   outside the wallet (pending review, rejected, cancelled, withdrawn). */
int rs_usage_status(const rs_wvoucher *v, int64_t now);

/* The status filter of ListMyVouchers as SQL: appends "(<a> OR <b> ...)" for the given
   UsageStatus values (each must be 1..4) with their parameters (two per status: now).
   VC_EOVERFLOW when sql or p is too small, VC_EINVAL for an unknown status. */
int rs_usage_where(char *sql, size_t cap, size_t *len, vc_db_param *p, size_t *np, size_t pmax,
                   const int *statuses, size_t n, int64_t now);

/* The wallet view of a row at `now`; deductible_amount_minor is v->deductible when
   with_deductible (ListEligibleVouchers), 0 otherwise. Allocated in the arena. 0 or
   VC_ENOMEM. */
int rs_wvoucher_to_pb(vc_arena *a, const rs_wvoucher *v, int64_t now, bool with_deductible,
                      Reseller__V1__WalletVoucher **out);

/* Product codes of requests: 1..RS_PRODUCT_CODE_MAX of [A-Za-z0-9_.-] (as templates store). */
bool rs_product_code_ok(const char *s);

/* The reseller's fixed currency into cur[4]; `fallback` (the configured currency a reseller gets
   on first contact) when the reseller has no row yet. Creates nothing. */
int rs_tenant_currency(vc_db_conn *c, const char *reseller_id, const char *fallback, char cur[4]);

/* A business refusal decided inside a transaction: the body fills it and returns RS_REFUSE (so
   the transaction rolls back), the handler turns it into the call's status with
   rs_refusal_send(). `field` set = INVALID_ARGUMENT on that field. */
#define RS_REFUSE (-2000)
typedef struct rs_refusal {
    int code;
    const char *field;
    char msg[256];
} rs_refusal;

int rs_refuse(rs_refusal *r, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* For a failed transaction: the refusal when rc == RS_REFUSE, else rs_fail-style mapping of the
   library error (logged, INTERNAL/UNAVAILABLE/...). Returns the gRPC code. */
int rs_refusal_send(vc_rpc_ctx *ctx, int rc, const rs_refusal *r, const char *what);

#endif
