/*
 * vc_ledger.h - balances that may never go wrong: the voucher quota, the credit pool and
 * customer credit (DESIGN "Data", SPEC §1 and §4).
 *
 * An account is (reseller, account kind, owner): owner is "" for the reseller's own accounts
 * and the customer id for customer credit. Its balance row (ledger_accounts) changes only here,
 * in the caller's transaction, together with one append-only entry (ledger_entries) recording
 * kind, signed amount, balance before/after, reference, reason and operator.
 *
 * - Debits are one conditional UPDATE ... WHERE balance_minor >= amount: no read-check-write,
 *   so concurrent debits can never take a balance below zero (VC_ECONFLICT = not enough).
 * - Every posting carries an idempotency reference naming the business event ("issue:<id>",
 *   "return:<id>"); it is unique, so a retried or racing event moves money once. A duplicate
 *   returns VC_EEXIST after the balance was touched: the caller must roll the transaction back
 *   (returning the code from its vc_db_tx body does that).
 * - vc_ledger_check() is the invariant checker: balance = Σ entries = granted − debited +
 *   returned, nothing negative, every entry's before/after consistent.
 *
 * The tables are created by each service's migrations (ledger_accounts, ledger_entries).
 * Functions take a connection inside a transaction; they are as thread-safe as that is.
 */
#ifndef VC_LEDGER_H
#define VC_LEDGER_H

#include <stdbool.h>
#include <stdint.h>

#include "db/vc_db.h"

/* Account kinds (= reseller.v1.QuotaKind where they overlap). */
enum { VC_ACCOUNT_VOUCHER_QUOTA = 1, VC_ACCOUNT_CREDIT_POOL = 2, VC_ACCOUNT_CUSTOMER_CREDIT = 3 };

/* Entry kinds (= reseller.v1.LedgerEntryKind). GRANT and RETURN/DEALLOCATE credit the account;
   CONSUME and ALLOCATE debit it. */
enum {
    VC_ENTRY_GRANT = 1,
    VC_ENTRY_CONSUME = 2,
    VC_ENTRY_RETURN = 3,
    VC_ENTRY_ALLOCATE = 4,
    VC_ENTRY_DEALLOCATE = 5,
};

typedef struct vc_ledger_posting {
    const char *reseller_id;
    int account;          /* VC_ACCOUNT_* */
    const char *owner_id; /* NULL or "" for reseller-level accounts */
    const char *currency_code;
    int kind;             /* VC_ENTRY_* */
    int64_t amount_minor; /* > 0; the sign comes from the kind */
    int reference_type;   /* reseller.v1.ReferenceType */
    const char *reference_id;
    const char *idem_ref; /* unique name of the business event */
    const char *reason;
    const char *operator_id;
    int64_t keep_minor;   /* debits only: the balance must stay >= this after the debit (a
                             withdrawal may not touch credit the customer already used) */
} vc_ledger_posting;

typedef struct vc_ledger_balance {
    int64_t balance_minor, granted_minor, debited_minor, returned_minor;
} vc_ledger_balance;

/* Posts one movement. On success *before and *after (may be NULL) get the balance around it.
   VC_EINVAL bad posting (amount <= 0, unknown kind), VC_ECONFLICT insufficient balance for a
   debit, VC_EEXIST the idem_ref was already posted (roll back), VC_EOVERFLOW the credit would
   overflow, other VC_E* from the database. */
int vc_ledger_post(vc_db_conn *c, const vc_ledger_posting *p, int64_t *before, int64_t *after);

/* Reads an account (zeros when it does not exist yet). */
int vc_ledger_balance_of(vc_db_conn *c, const char *reseller_id, int account, const char *owner_id,
                         vc_ledger_balance *out);

/* True when the event was posted already (for callers that want to answer "already applied"
   without touching balances). */
int vc_ledger_posted(vc_db_conn *c, const char *idem_ref, bool *posted);

/* The invariant checker (ledger_invariants.sql beside this file) over every account. Returns 0
   and *violations = number of broken accounts/entries (0 = clean); details go to the log. */
int vc_ledger_check(vc_db_conn *c, long *violations);

#endif
