/*
 * Customer credit end to end (SPEC §4) through real gRPC against a real reseller-svc and
 * MariaDB: allocation and withdrawal against the credit pool (refusals change nothing, races
 * keep pool + customers = granted), request_id idempotency, usage reports crossing 75/90/100 %
 * (in order, exactly once, also under concurrency), re-arming, advisory exhaustion, the
 * reseller's low pool/quota alarms, the lists with their filters and pages, bad input for every
 * RPC, roles, and tenant isolation.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "reseller/v1/billing_service.pb-c.h"
#include "reseller/v1/customer_service.pb-c.h"
#include "reseller/v1/review_callback_service.pb-c.h"
#include "reseller/v1/template_service.pb-c.h"
#include "reseller/v1/voucher_service.pb-c.h"

#define CUST(m) "/reseller.v1.CustomerService/" m
#define BILL(m) "/reseller.v1.BillingService/" m

#define K_USAGE RESELLER__V1__ALERT_KIND__ALERT_KIND_CUSTOMER_CREDIT_USAGE
#define K_QUOTA RESELLER__V1__ALERT_KIND__ALERT_KIND_VOUCHER_QUOTA_LOW
#define K_POOL  RESELLER__V1__ALERT_KIND__ALERT_KIND_CREDIT_POOL_LOW

typedef struct world {
    th_svc s;
    char *tok_a, *tok_a2, *tok_b, *tok_billing, *tok_service, *tok_staff, *tok_customer;
} world;

static world W;

/* ---- helpers ------------------------------------------------------------------------------- */

static int call(const char *tok, const char *path, const void *req,
                const ProtobufCMessageDescriptor *desc, void *resp, vc_rpc_result *res)
{
    return th_call(&W.s, tok, path, req, desc, (ProtobufCMessage **)resp, res);
}

static void free_msg(void *m)
{
    if (m) protobuf_c_message_free_unpacked(m, NULL);
}

static char *reseller_tok(const char *sub, const char *reseller)
{
    return th_token(&W.s, VC_ROLE_RESELLER, sub, reseller, NULL, false, false);
}

static int64_t q(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int64_t q(const char *fmt, ...)
{
    char sql[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    return th_query_i64(&W.s, sql);
}

static void make_customer(const char *tok, const char *id)
{
    Reseller__V1__Customer c = RESELLER__V1__CUSTOMER__INIT;
    c.customer_id = (char *)id;
    c.name = (char *)id;
    Reseller__V1__CreateCustomerRequest req = RESELLER__V1__CREATE_CUSTOMER_REQUEST__INIT;
    req.customer = &c;
    vc_rpc_result res;
    call(tok, CUST("CreateCustomer"), &req, &reseller__v1__create_customer_response__descriptor,
         NULL, &res);
    if (res.code != VC_GRPC_OK) fail_msg("CreateCustomer %s: %d %s", id, res.code, res.message);
}

/* The real grant path: a direct grant by staff delivered as a review callback. */
static void grant(const char *reseller, int subject_type, int64_t amount)
{
    static int seq;
    char msg[64], subj[64];
    snprintf(msg, sizeof(msg), "msg-credit-grant-%d-%d", getpid(), ++seq);
    snprintf(subj, sizeof(subj), "credit-grant-%d-%d", getpid(), seq);
    Reseller__V1__ReviewDecidedRequest req = RESELLER__V1__REVIEW_DECIDED_REQUEST__INIT;
    req.message_id = msg;
    req.subject_type = subject_type;
    req.subject_id = subj;
    req.reseller_id = (char *)reseller;
    req.outcome = RESELLER__V1__REVIEW_OUTCOME__REVIEW_OUTCOME_APPROVED;
    req.reason = "test grant";
    req.decided_by = "staff@provider";
    req.granted_amount_minor = amount;
    req.direct_grant = true;
    vc_rpc_result res;
    call(W.tok_service, "/reseller.v1.ReviewCallbackService/ReviewDecided", &req,
         &reseller__v1__review_decided_response__descriptor, NULL, &res);
    if (res.code != VC_GRPC_OK) fail_msg("grant: %d %s", res.code, res.message);
}

static void grant_pool(const char *reseller, int64_t amount)
{
    grant(reseller, RESELLER__V1__REVIEW_SUBJECT_TYPE__REVIEW_SUBJECT_TYPE_CREDIT_APPLICATION,
          amount);
}

static int set_credit_full(const char *tok, const char *rid, const char *customer, int64_t amount,
                           const char *currency, const char *remarks,
                           Reseller__V1__SetCustomerCreditResponse **out, vc_rpc_result *res)
{
    Reseller__V1__SetCustomerCreditRequest req = RESELLER__V1__SET_CUSTOMER_CREDIT_REQUEST__INIT;
    req.request_id = (char *)rid;
    req.customer_id = (char *)customer;
    req.amount_minor = amount;
    req.currency_code = (char *)currency;
    req.remarks = (char *)remarks;
    return call(tok, CUST("SetCustomerCredit"), &req,
                &reseller__v1__set_customer_credit_response__descriptor, out, res);
}

static int set_credit(const char *tok, const char *rid, const char *customer, int64_t amount,
                      vc_rpc_result *res)
{
    return set_credit_full(tok, rid, customer, amount, "", "", NULL, res);
}

/* An allocation that must succeed; returns its id (caller frees). */
static char *must_set(const char *tok, const char *customer, int64_t amount)
{
    static int seq;
    char rid[64];
    snprintf(rid, sizeof(rid), "must-%d-%d", getpid(), ++seq);
    Reseller__V1__SetCustomerCreditResponse *r = NULL;
    vc_rpc_result res;
    set_credit_full(tok, rid, customer, amount, "", "", &r, &res);
    if (res.code != VC_GRPC_OK)
        fail_msg("SetCustomerCredit %s %lld: %d %s", customer, (long long)amount, res.code,
                 res.message);
    char *id = strdup(r->allocation->allocation_id);
    free_msg(r);
    return id;
}

static int report_full(const char *tok, const char *usage_id, const char *customer, int64_t amount,
                       const char *currency, Reseller__V1__ReportUsageResponse **out,
                       vc_rpc_result *res)
{
    Reseller__V1__ReportUsageRequest req = RESELLER__V1__REPORT_USAGE_REQUEST__INIT;
    req.usage_id = (char *)usage_id;
    req.customer_id = (char *)customer;
    req.amount_minor = amount;
    req.currency_code = (char *)currency;
    req.product_code = "cvm";
    return call(tok, BILL("ReportUsage"), &req, &reseller__v1__report_usage_response__descriptor,
                out, res);
}

/* A usage report that must succeed; returns how many alerts it raised. */
static size_t must_report(const char *usage_id, const char *customer, int64_t amount)
{
    Reseller__V1__ReportUsageResponse *r = NULL;
    vc_rpc_result res;
    report_full(W.tok_billing, usage_id, customer, amount, "", &r, &res);
    if (res.code != VC_GRPC_OK) fail_msg("ReportUsage %s: %d %s", usage_id, res.code, res.message);
    size_t n = r->n_alerts;
    free_msg(r);
    return n;
}

static int64_t pool_left(const char *reseller)
{
    return q("SELECT COALESCE(SUM(balance_minor), 0) FROM ledger_accounts WHERE reseller_id = "
             "'%s' AND account = 2",
             reseller);
}

static int64_t credit_of(const char *customer)
{
    return q("SELECT COALESCE(SUM(balance_minor), 0) FROM ledger_accounts WHERE account = 3 AND "
             "owner_id = '%s'",
             customer);
}

static int64_t used_of(const char *customer)
{
    return q("SELECT COALESCE(SUM(used_minor), 0) FROM customer_credit WHERE customer_id = '%s'",
             customer);
}

static int64_t alerts_of(const char *customer, int threshold)
{
    return q("SELECT COUNT(*) FROM credit_alerts WHERE customer_id = '%s' AND kind = 1 AND "
             "threshold_percent = %d",
             customer, threshold);
}

/* Everything a refused or invalid call must leave untouched. */
typedef struct snapshot {
    int64_t allocations, entries, requests, credit_rows, alerts, balances, used;
} snapshot;

static snapshot snap(void)
{
    snapshot s;
    s.allocations = q("SELECT COUNT(*) FROM credit_allocations");
    s.entries = q("SELECT COUNT(*) FROM ledger_entries");
    s.requests = q("SELECT COUNT(*) FROM request_log");
    s.credit_rows = q("SELECT COUNT(*) FROM customer_credit");
    s.alerts = q("SELECT COUNT(*) FROM credit_alerts");
    s.balances = q("SELECT COALESCE(SUM(balance_minor * (account + 7)), 0) FROM ledger_accounts");
    s.used = q("SELECT COALESCE(SUM(used_minor), 0) FROM customer_credit");
    return s;
}

static void assert_unchanged(const snapshot *a)
{
    snapshot b = snap();
    assert_int_equal(a->allocations, b.allocations);
    assert_int_equal(a->entries, b.entries);
    assert_int_equal(a->requests, b.requests);
    assert_int_equal(a->credit_rows, b.credit_rows);
    assert_int_equal(a->alerts, b.alerts);
    assert_int_equal(a->balances, b.balances);
    assert_int_equal(a->used, b.used);
}

static Reseller__V1__Customer *get_customer(const char *tok, const char *id, int *code)
{
    Reseller__V1__GetCustomerRequest req = RESELLER__V1__GET_CUSTOMER_REQUEST__INIT;
    req.customer_id = (char *)id;
    Reseller__V1__GetCustomerResponse *r = NULL;
    vc_rpc_result res;
    *code = call(tok, CUST("GetCustomer"), &req, &reseller__v1__get_customer_response__descriptor,
                 &r, &res);
    if (!r) return NULL;
    Reseller__V1__Customer *c = r->customer;
    r->customer = NULL;
    free_msg(r);
    return c;
}

static Reseller__V1__ListCreditAlertsResponse *list_alerts(const char *tok, const char *customer,
                                                           int kind, int page_size,
                                                           const char *token, vc_rpc_result *res)
{
    Reseller__V1__ListCreditAlertsRequest req = RESELLER__V1__LIST_CREDIT_ALERTS_REQUEST__INIT;
    Reseller__V1__AlertKind kinds[1] = {(Reseller__V1__AlertKind)kind};
    req.customer_id = (char *)customer;
    if (kind) {
        req.kinds = kinds;
        req.n_kinds = 1;
    }
    req.page_size = page_size;
    req.page_token = (char *)token;
    Reseller__V1__ListCreditAlertsResponse *r = NULL;
    call(tok, CUST("ListCreditAlerts"), &req,
         &reseller__v1__list_credit_alerts_response__descriptor, &r, res);
    return r;
}

static Reseller__V1__ListCreditAllocationsResponse *
list_allocs(const char *tok, const char *customer, const char *op,
            const Reseller__V1__TimeRange *range, int page_size, const char *token,
            vc_rpc_result *res)
{
    Reseller__V1__ListCreditAllocationsRequest req =
        RESELLER__V1__LIST_CREDIT_ALLOCATIONS_REQUEST__INIT;
    req.customer_id = (char *)customer;
    req.operator_id = (char *)op;
    req.create_time = (Reseller__V1__TimeRange *)range;
    req.page_size = page_size;
    req.page_token = (char *)token;
    Reseller__V1__ListCreditAllocationsResponse *r = NULL;
    call(tok, CUST("ListCreditAllocations"), &req,
         &reseller__v1__list_credit_allocations_response__descriptor, &r, res);
    return r;
}

/* ---- setup --------------------------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    th_start(&W.s, "VC_TEST_RESELLER_BIN", "credit", NULL);
    W.tok_a = reseller_tok("op@r-a", "r-a");
    W.tok_a2 = reseller_tok("op2@r-a", "r-a");
    W.tok_b = reseller_tok("op@r-b", "r-b");
    W.tok_billing = th_token(&W.s, VC_ROLE_BILLING, "billing-engine", NULL, NULL, false, false);
    W.tok_service = th_token(&W.s, VC_ROLE_SERVICE, "approval-svc", NULL, NULL, false, false);
    W.tok_staff = th_token(&W.s, VC_ROLE_STAFF, "staff@provider", NULL, NULL, false, false);
    W.tok_customer = th_token(&W.s, VC_ROLE_CUSTOMER, "c@x", "r-a", "c-a1", true, true);
    const char *a[] = {"c-a1", "c-a2", "c-a3", "c-a4", "c-a5", "c-a6", "c-a7", "c-a8"};
    for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++)
        make_customer(W.tok_a, a[i]);
    make_customer(W.tok_b, "c-b1");
    grant_pool("r-a", 1000000); /* 10000.00: plenty, the pool-low alarm is tested elsewhere */
    grant_pool("r-b", 1000000);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    th_assert_ledger_clean(&W.s);
    th_stop(&W.s);
    free(W.tok_a);
    free(W.tok_a2);
    free(W.tok_b);
    free(W.tok_billing);
    free(W.tok_service);
    free(W.tok_staff);
    free(W.tok_customer);
    return 0;
}

/* ---- allocation and withdrawal ------------------------------------------------------------- */

static void test_allocate_and_withdraw(void **state)
{
    (void)state;
    int64_t pool0 = pool_left("r-a");
    Reseller__V1__SetCustomerCreditResponse *r = NULL;
    vc_rpc_result res;
    assert_int_equal(set_credit_full(W.tok_a, "aw-1", "c-a1", 30000, "CNY", "first line", &r, &res),
                     VC_GRPC_OK);
    const Reseller__V1__CreditAllocation *al = r->allocation;
    assert_non_null(al);
    assert_true(strncmp(al->allocation_id, "alc_", 4) == 0);
    assert_string_equal(al->customer_id, "c-a1");
    assert_int_equal(al->amount_minor, 30000);
    assert_string_equal(al->currency_code, "CNY");
    assert_string_equal(al->operator_id, "op@r-a");
    assert_string_equal(al->request_id, "aw-1");
    assert_string_equal(al->remarks, "first line");
    assert_int_equal(al->credit_after->credit_minor, 30000);
    assert_int_equal(al->credit_after->used_minor, 0);
    assert_int_equal(al->credit_after->available_minor, 30000);
    assert_false(al->credit_after->exhausted);
    assert_int_equal(al->pool_remaining_after_minor, pool0 - 30000);
    assert_non_null(al->create_time);
    assert_string_equal(r->customer->customer_id, "c-a1");
    assert_int_equal(r->customer->credit->credit_minor, 30000);
    assert_int_equal(r->customer->credit->available_minor, 30000);
    char *first = strdup(al->allocation_id);
    free_msg(r);

    /* The record keeps before and after; both postings name the allocation. */
    assert_int_equal(q("SELECT credit_before_minor FROM credit_allocations WHERE allocation_id = "
                       "'%s'",
                       first),
                     0);
    assert_int_equal(q("SELECT credit_after_minor FROM credit_allocations WHERE allocation_id = "
                       "'%s'",
                       first),
                     30000);
    assert_int_equal(q("SELECT COUNT(*) FROM ledger_entries WHERE reference_type = 4 AND "
                       "reference_id = '%s' AND ((account = 2 AND kind = 4 AND amount_minor = "
                       "-30000) OR (account = 3 AND owner_id = 'c-a1' AND kind = 1 AND "
                       "amount_minor = 30000))",
                       first),
                     2);

    /* A withdrawal moves it back. */
    assert_int_equal(set_credit_full(W.tok_a, "aw-2", "c-a1", -10000, "", "", &r, &res),
                     VC_GRPC_OK);
    assert_int_equal(r->allocation->amount_minor, -10000);
    assert_int_equal(r->allocation->credit_after->credit_minor, 20000);
    assert_int_equal(r->allocation->pool_remaining_after_minor, pool0 - 20000);
    assert_int_equal(r->customer->credit->credit_minor, 20000);
    assert_int_equal(
        q("SELECT COUNT(*) FROM ledger_entries WHERE reference_id = '%s' AND ((account "
          "= 3 AND kind = 2 AND amount_minor = -10000) OR (account = 2 AND kind = 5 "
          "AND amount_minor = 10000))",
          r->allocation->allocation_id),
        2);
    free_msg(r);
    assert_int_equal(pool_left("r-a"), pool0 - 20000);
    assert_int_equal(credit_of("c-a1"), 20000);

    /* GetCustomer and ListCustomers show it. */
    int code;
    Reseller__V1__Customer *c = get_customer(W.tok_a, "c-a1", &code);
    assert_int_equal(code, VC_GRPC_OK);
    assert_int_equal(c->credit->credit_minor, 20000);
    assert_int_equal(c->credit->used_minor, 0);
    assert_int_equal(c->credit->available_minor, 20000);
    assert_string_equal(c->credit->currency_code, "CNY");
    free_msg(c);
    Reseller__V1__ListCustomersRequest lr = RESELLER__V1__LIST_CUSTOMERS_REQUEST__INIT;
    lr.query = "c-a1";
    Reseller__V1__ListCustomersResponse *l = NULL;
    assert_int_equal(call(W.tok_a, CUST("ListCustomers"), &lr,
                          &reseller__v1__list_customers_response__descriptor, &l, &res),
                     VC_GRPC_OK);
    assert_int_equal(l->n_customers, 1);
    assert_int_equal(l->customers[0]->credit->credit_minor, 20000);
    free_msg(l);
    free(first);
    th_assert_ledger_clean(&W.s);
}

static void test_refusals_change_nothing(void **state)
{
    (void)state;
    vc_rpc_result res;
    /* Beyond the pool. */
    int64_t left = pool_left("r-a");
    snapshot s = snap();
    assert_int_equal(set_credit(W.tok_a, "ref-1", "c-a2", left + 1, &res),
                     VC_GRPC_FAILED_PRECONDITION);
    assert_non_null(strstr(res.message, "credit pool has only"));
    assert_unchanged(&s);

    /* Beyond the available credit: 100.00 given, 40.00 used, 60.00 available. */
    char *id = must_set(W.tok_a, "c-a2", 10000);
    free(id);
    must_report("ref-u1", "c-a2", 4000);
    s = snap();
    assert_int_equal(set_credit(W.tok_a, "ref-2", "c-a2", -6001, &res),
                     VC_GRPC_FAILED_PRECONDITION);
    assert_non_null(strstr(res.message, "available credit is only 60.00 CNY"));
    assert_unchanged(&s);
    /* Exactly the available credit may go: used credit stays, the customer is exhausted. */
    Reseller__V1__SetCustomerCreditResponse *r = NULL;
    assert_int_equal(set_credit_full(W.tok_a, "ref-3", "c-a2", -6000, "", "", &r, &res),
                     VC_GRPC_OK);
    assert_int_equal(r->customer->credit->credit_minor, 4000);
    assert_int_equal(r->customer->credit->used_minor, 4000);
    assert_int_equal(r->customer->credit->available_minor, 0);
    assert_true(r->customer->credit->exhausted);
    free_msg(r);
    s = snap();
    assert_int_equal(set_credit(W.tok_a, "ref-4", "c-a2", -1, &res), VC_GRPC_FAILED_PRECONDITION);
    assert_unchanged(&s);
    /* A customer that never had credit has none to withdraw. */
    assert_int_equal(set_credit(W.tok_a, "ref-5", "c-a8", -1, &res), VC_GRPC_FAILED_PRECONDITION);
    assert_non_null(strstr(res.message, "available credit is only 0.00 CNY"));
    assert_unchanged(&s);
    th_assert_ledger_clean(&W.s);
}

/* ---- idempotency --------------------------------------------------------------------------- */

typedef struct twin {
    const char *rid;
    int code;
    char allocation[48];
} twin;

static void *twin_run(void *p)
{
    twin *t = p;
    Reseller__V1__SetCustomerCreditResponse *r = NULL;
    vc_rpc_result res;
    t->code = set_credit_full(W.tok_a, t->rid, "c-a6", 700, "", "", &r, &res);
    if (r) {
        snprintf(t->allocation, sizeof(t->allocation), "%s", r->allocation->allocation_id);
        free_msg(r);
    }
    return NULL;
}

static void test_request_id_idempotent(void **state)
{
    (void)state;
    vc_rpc_result res;
    Reseller__V1__SetCustomerCreditResponse *a = NULL, *b = NULL;
    assert_int_equal(set_credit_full(W.tok_a, "idem-1", "c-a6", 500, "", "x", &a, &res),
                     VC_GRPC_OK);
    int64_t pool = pool_left("r-a"), entries = q("SELECT COUNT(*) FROM ledger_entries");
    /* The retry (spelling the currency out is the same request) answers the first record. */
    assert_int_equal(set_credit_full(W.tok_a, "idem-1", "c-a6", 500, "CNY", "x", &b, &res),
                     VC_GRPC_OK);
    assert_string_equal(a->allocation->allocation_id, b->allocation->allocation_id);
    assert_int_equal(b->customer->credit->credit_minor, 500);
    free_msg(a);
    free_msg(b);
    assert_int_equal(pool_left("r-a"), pool);
    assert_int_equal(credit_of("c-a6"), 500);
    assert_int_equal(q("SELECT COUNT(*) FROM ledger_entries"), entries);
    assert_int_equal(q("SELECT COUNT(*) FROM credit_allocations WHERE request_id = 'idem-1'"), 1);
    /* Other parameters under the same id. */
    snapshot s = snap();
    assert_int_equal(set_credit_full(W.tok_a, "idem-1", "c-a6", 501, "", "x", NULL, &res),
                     VC_GRPC_ALREADY_EXISTS);
    assert_int_equal(set_credit_full(W.tok_a, "idem-1", "c-a6", 500, "", "y", NULL, &res),
                     VC_GRPC_ALREADY_EXISTS);
    assert_unchanged(&s);

    /* Eight concurrent twins: one allocation, one answer. */
    enum { N = 8 };
    pthread_t th[N];
    twin t[N];
    for (int i = 0; i < N; i++) {
        t[i] = (twin){.rid = "idem-race", .code = -1};
        pthread_create(&th[i], NULL, twin_run, &t[i]);
    }
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++) {
        assert_int_equal(t[i].code, VC_GRPC_OK);
        assert_string_equal(t[i].allocation, t[0].allocation);
    }
    assert_int_equal(q("SELECT COUNT(*) FROM credit_allocations WHERE request_id = 'idem-race'"),
                     1);
    assert_int_equal(credit_of("c-a6"), 1200);
    th_assert_ledger_clean(&W.s);
}

/* ---- concurrency --------------------------------------------------------------------------- */

typedef struct racer {
    int idx;
    const char *tok;
    const char *customer;
    int64_t amount;
    int code;
} racer;

static void *racer_run(void *p)
{
    racer *r = p;
    char rid[64];
    snprintf(rid, sizeof(rid), "race-%d", r->idx);
    vc_rpc_result res;
    r->code = set_credit(r->tok, rid, r->customer, r->amount, &res);
    return NULL;
}

static void test_concurrent_allocations_stay_consistent(void **state)
{
    (void)state;
    enum { N = 32, GRANT = 50000 };
    char *tok = reseller_tok("op@r-c", "r-c");
    const char *cust[] = {"c-c1", "c-c2", "c-c3", "c-c4"};
    for (int i = 0; i < 4; i++)
        make_customer(tok, cust[i]);
    grant_pool("r-c", GRANT);
    for (int i = 0; i < 4; i++)
        free(must_set(tok, cust[i], 5000)); /* something to withdraw */
    must_report("race-u1", "c-c1", 4000);   /* c-c1 has only 10.00 available */

    /* Mixed signs on four customers; the pool has 300.00 left, the allocations ask for more. */
    pthread_t th[N];
    racer r[N];
    for (int i = 0; i < N; i++) {
        int64_t amount = i % 3 == 0 ? -1500 : 2500;
        r[i] = (racer){.idx = i, .tok = tok, .customer = cust[i % 4], .amount = amount, .code = -1};
        pthread_create(&th[i], NULL, racer_run, &r[i]);
    }
    int ok = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        if (r[i].code == VC_GRPC_OK)
            ok++;
        else if (r[i].code != VC_GRPC_FAILED_PRECONDITION)
            fail_msg("racer %d: unexpected code %d", i, r[i].code);
    }
    assert_true(ok > 0 && ok < N); /* some refused: the pool and c-c1 run short */
    int64_t sum_credit = 0;
    for (int i = 0; i < 4; i++) {
        int64_t c = credit_of(cust[i]);
        assert_true(c >= used_of(cust[i])); /* withdrawals never touch used credit */
        /* Each customer's credit is the sum of its allocation records. */
        assert_int_equal(q("SELECT COALESCE(SUM(amount_minor), 0) FROM credit_allocations WHERE "
                           "customer_id = '%s'",
                           cust[i]),
                         c);
        sum_credit += c;
    }
    assert_int_equal(sum_credit + pool_left("r-c"), GRANT);
    assert_true(pool_left("r-c") >= 0);
    assert_int_equal(q("SELECT COUNT(*) FROM credit_allocations WHERE request_id LIKE 'race-%%'"),
                     ok);
    assert_int_equal(q("SELECT granted_minor FROM ledger_accounts WHERE reseller_id = 'r-c' AND "
                       "account = 2"),
                     GRANT);
    th_assert_ledger_clean(&W.s);
    free(tok);
}

/* ---- usage alarms -------------------------------------------------------------------------- */

static void test_usage_alarms_in_order(void **state)
{
    (void)state;
    free(must_set(W.tok_a, "c-a3", 10000));
    assert_int_equal(must_report("al-1", "c-a3", 7000), 0); /* 70 % */
    Reseller__V1__ReportUsageResponse *r = NULL;
    vc_rpc_result res;
    assert_int_equal(report_full(W.tok_billing, "al-2", "c-a3", 500, "CNY", &r, &res), VC_GRPC_OK);
    assert_false(r->replayed);
    assert_int_equal(r->credit->used_minor, 7500);
    assert_int_equal(r->credit->available_minor, 2500);
    assert_int_equal(r->n_alerts, 1);
    const Reseller__V1__CreditAlert *al = r->alerts[0];
    assert_int_equal(al->kind, K_USAGE);
    assert_int_equal(al->threshold_percent, 75);
    assert_int_equal(al->used_minor, 7500);
    assert_int_equal(al->limit_minor, 10000);
    assert_string_equal(al->customer_id, "c-a3");
    assert_string_equal(al->reseller_id, "r-a");
    assert_string_equal(al->currency_code, "CNY");
    assert_string_equal(al->trigger_id, "al-2");
    assert_non_null(al->create_time);
    char *first_id = strdup(al->alert_id);
    free_msg(r);
    /* A replay changes nothing and raises nothing. */
    assert_int_equal(report_full(W.tok_billing, "al-2", "c-a3", 500, "", &r, &res), VC_GRPC_OK);
    assert_true(r->replayed);
    assert_int_equal(r->n_alerts, 0);
    assert_int_equal(r->credit->used_minor, 7500);
    free_msg(r);
    assert_int_equal(used_of("c-a3"), 7500);
    assert_int_equal(report_full(W.tok_billing, "al-2", "c-a3", 501, "", NULL, &res),
                     VC_GRPC_ALREADY_EXISTS);

    assert_int_equal(must_report("al-3", "c-a3", 1000), 0); /* 85 % */
    assert_int_equal(must_report("al-4", "c-a3", 500), 1);  /* 90 % */
    assert_int_equal(must_report("al-5", "c-a3", 999), 0);  /* 99.99 % */
    assert_int_equal(must_report("al-6", "c-a3", 1), 1);    /* 100 % */
    /* Beyond the credit: recorded, advisory, no further alarm. */
    assert_int_equal(report_full(W.tok_billing, "al-7", "c-a3", 1000, "", &r, &res), VC_GRPC_OK);
    assert_int_equal(r->n_alerts, 0);
    assert_int_equal(r->credit->used_minor, 11000);
    assert_int_equal(r->credit->available_minor, 0);
    assert_true(r->credit->exhausted);
    free_msg(r);

    /* Stored, newest first: 100, 90, 75. */
    Reseller__V1__ListCreditAlertsResponse *l = list_alerts(W.tok_a, "c-a3", 0, 0, "", &res);
    assert_int_equal(res.code, VC_GRPC_OK);
    assert_int_equal(l->n_alerts, 3);
    assert_int_equal(l->alerts[0]->threshold_percent, 100);
    assert_string_equal(l->alerts[0]->trigger_id, "al-6");
    assert_int_equal(l->alerts[1]->threshold_percent, 90);
    assert_string_equal(l->alerts[1]->trigger_id, "al-4");
    assert_int_equal(l->alerts[2]->threshold_percent, 75);
    assert_string_equal(l->alerts[2]->alert_id, first_id);
    free_msg(l);
    free(first_id);

    /* One jump past 100 % raises all three, in order. */
    free(must_set(W.tok_a, "c-a4", 1000));
    assert_int_equal(report_full(W.tok_billing, "al-8", "c-a4", 5000, "", &r, &res), VC_GRPC_OK);
    assert_int_equal(r->n_alerts, 3);
    assert_int_equal(r->alerts[0]->threshold_percent, 75);
    assert_int_equal(r->alerts[1]->threshold_percent, 90);
    assert_int_equal(r->alerts[2]->threshold_percent, 100);
    assert_true(strtoull(r->alerts[0]->alert_id, NULL, 10) <
                strtoull(r->alerts[1]->alert_id, NULL, 10));
    assert_true(strtoull(r->alerts[1]->alert_id, NULL, 10) <
                strtoull(r->alerts[2]->alert_id, NULL, 10));
    free_msg(r);
}

static void test_raising_credit_rearms(void **state)
{
    (void)state;
    /* c-a3: 110.00 used of 100.00, every threshold fired. Raising the credit to 200.00 (55 %)
       re-arms all three; crossing 75 % again alarms again. */
    char *raise = must_set(W.tok_a, "c-a3", 10000);
    assert_int_equal(q("SELECT armed_mask FROM customer_credit WHERE customer_id = 'c-a3'"), 7);
    assert_int_equal(alerts_of("c-a3", 75), 1);
    assert_int_equal(must_report("re-1", "c-a3", 4000), 1); /* 75 % */
    assert_int_equal(alerts_of("c-a3", 75), 2);
    assert_int_equal(alerts_of("c-a3", 90), 1);
    /* A withdrawal that pushes used over a threshold raises it too, naming the allocation. */
    free(must_set(W.tok_a, "c-a3", -3000)); /* 15000 / 17000 = 88 % */
    assert_int_equal(alerts_of("c-a3", 90), 1);
    char *withdraw = must_set(W.tok_a, "c-a3", -400); /* 15000 / 16600 = 90.4 % */
    assert_int_equal(alerts_of("c-a3", 90), 2);
    assert_int_equal(q("SELECT COUNT(*) FROM credit_alerts WHERE customer_id = 'c-a3' AND "
                       "threshold_percent = 90 AND trigger_id = '%s'",
                       withdraw),
                     1);
    /* Raising the credit only partly re-arms: 15000 / 19000 = 79 % re-arms 90 and 100, not 75. */
    free(must_set(W.tok_a, "c-a3", 2400));
    assert_int_equal(q("SELECT armed_mask FROM customer_credit WHERE customer_id = 'c-a3'"), 6);
    free(raise);
    free(withdraw);
}

typedef struct reporter {
    int idx;
    const char *usage_id;
    int code;
    size_t alerts;
    bool replayed;
} reporter;

static void *reporter_run(void *p)
{
    reporter *r = p;
    Reseller__V1__ReportUsageResponse *resp = NULL;
    vc_rpc_result res;
    r->code = report_full(W.tok_billing, r->usage_id, "c-a5", 1000, "", &resp, &res);
    if (resp) {
        r->alerts = resp->n_alerts;
        r->replayed = resp->replayed;
        free_msg(resp);
    }
    return NULL;
}

static void test_concurrent_usage_no_duplicate_alarms(void **state)
{
    (void)state;
    /* 16 reports of 10.00 against 160.00 cross 75 % (12th), 90 % (15th) and 100 % (16th); four
       retries of the first ids race their originals. */
    free(must_set(W.tok_a, "c-a5", 16000));
    enum { N = 16, DUP = 4 };
    char ids[N][32];
    pthread_t th[N + DUP];
    reporter r[N + DUP];
    for (int i = 0; i < N + DUP; i++) {
        if (i < N) snprintf(ids[i], sizeof(ids[i]), "cu-%d", i);
        r[i] = (reporter){.idx = i, .usage_id = ids[i % N], .code = -1};
        pthread_create(&th[i], NULL, reporter_run, &r[i]);
    }
    size_t alerts = 0;
    int replayed = 0;
    for (int i = 0; i < N + DUP; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(r[i].code, VC_GRPC_OK);
        alerts += r[i].alerts;
        replayed += r[i].replayed;
    }
    assert_int_equal(replayed, DUP);
    assert_int_equal(alerts, 3);
    assert_int_equal(used_of("c-a5"), 16000);
    assert_int_equal(alerts_of("c-a5", 75), 1);
    assert_int_equal(alerts_of("c-a5", 90), 1);
    assert_int_equal(alerts_of("c-a5", 100), 1);
    /* Raised in threshold order, each by the report that crossed it. */
    assert_int_equal(q("SELECT COUNT(*) FROM credit_alerts a JOIN credit_alerts b ON "
                       "a.customer_id = b.customer_id AND a.alert_id < b.alert_id WHERE "
                       "a.customer_id = 'c-a5' AND a.threshold_percent > b.threshold_percent"),
                     0);
    assert_int_equal(q("SELECT MIN(used_minor) FROM credit_alerts WHERE customer_id = 'c-a5' AND "
                       "threshold_percent = 75"),
                     12000);
    assert_int_equal(q("SELECT MIN(used_minor) FROM credit_alerts WHERE customer_id = 'c-a5' AND "
                       "threshold_percent = 90"),
                     15000);
}

static void test_usage_without_credit_and_exhausted_list(void **state)
{
    (void)state;
    /* c-a7 has no credit at all: usage is still recorded, nothing is raised. */
    Reseller__V1__ReportUsageResponse *r = NULL;
    vc_rpc_result res;
    assert_int_equal(report_full(W.tok_billing, "nc-1", "c-a7", 500, "", &r, &res), VC_GRPC_OK);
    assert_int_equal(r->n_alerts, 0);
    assert_int_equal(r->credit->credit_minor, 0);
    assert_int_equal(r->credit->used_minor, 500);
    assert_true(r->credit->exhausted);
    free_msg(r);
    assert_int_equal(q("SELECT COUNT(*) FROM credit_alerts WHERE customer_id = 'c-a7'"), 0);

    /* exhausted_only: c-a2 (40 of 40), c-a3 no (available), c-a4 (50 of 10), c-a5 (160 of 160),
       c-a7 (usage, no credit); never c-a8 (nothing at all). */
    Reseller__V1__ListCustomersRequest lr = RESELLER__V1__LIST_CUSTOMERS_REQUEST__INIT;
    lr.exhausted_only = true;
    Reseller__V1__ListCustomersResponse *l = NULL;
    assert_int_equal(call(W.tok_a, CUST("ListCustomers"), &lr,
                          &reseller__v1__list_customers_response__descriptor, &l, &res),
                     VC_GRPC_OK);
    char seen[256] = "";
    for (size_t i = 0; i < l->n_customers; i++) {
        assert_true(l->customers[i]->credit->exhausted);
        assert_int_equal(l->customers[i]->credit->available_minor, 0);
        strcat(seen, l->customers[i]->customer_id);
        strcat(seen, " ");
    }
    assert_string_equal(seen, "c-a7 c-a5 c-a4 c-a2 ");
    free_msg(l);
}

/* ---- reseller low-balance alarms ----------------------------------------------------------- */

static void test_pool_low_alarm(void **state)
{
    (void)state;
    char *tok = reseller_tok("op@r-p", "r-p");
    make_customer(tok, "c-p1");
    grant_pool("r-p", 10000);
    free(must_set(tok, "c-p1", 8000)); /* 20 % left */
    assert_int_equal(q("SELECT COUNT(*) FROM credit_alerts WHERE reseller_id = 'r-p'"), 0);
    char *low = must_set(tok, "c-p1", 1500); /* 5 % left */
    assert_int_equal(q("SELECT COUNT(*) FROM credit_alerts WHERE reseller_id = 'r-p'"), 1);
    vc_rpc_result res;
    Reseller__V1__ListCreditAlertsResponse *l = list_alerts(tok, "", K_POOL, 0, "", &res);
    assert_int_equal(res.code, VC_GRPC_OK);
    assert_int_equal(l->n_alerts, 1);
    const Reseller__V1__CreditAlert *a = l->alerts[0];
    assert_int_equal(a->kind, K_POOL);
    assert_string_equal(a->customer_id, "");
    assert_int_equal(a->threshold_percent, 10);
    assert_int_equal(a->used_minor, 9500);
    assert_int_equal(a->limit_minor, 10000);
    assert_string_equal(a->currency_code, "CNY");
    assert_string_equal(a->trigger_id, low);
    free_msg(l);
    free(must_set(tok, "c-p1", 100)); /* still low: no second alarm */
    assert_int_equal(q("SELECT COUNT(*) FROM credit_alerts WHERE reseller_id = 'r-p'"), 1);
    free(must_set(tok, "c-p1", -2000)); /* 24 % left: re-armed */
    assert_int_equal(q("SELECT COUNT(*) FROM credit_alerts WHERE reseller_id = 'r-p'"), 1);
    free(must_set(tok, "c-p1", 1500)); /* 9 % left: again */
    assert_int_equal(q("SELECT COUNT(*) FROM credit_alerts WHERE reseller_id = 'r-p' AND kind = 3"),
                     2);
    /* A grant lifts it back above (109.00 of 200.00): re-armed, the next crossing alarms. */
    grant_pool("r-p", 10000);
    free(must_set(tok, "c-p1", 8000)); /* 14.5 % */
    assert_int_equal(q("SELECT COUNT(*) FROM credit_alerts WHERE reseller_id = 'r-p'"), 2);
    char *third = must_set(tok, "c-p1", 1000); /* 9.5 % */
    assert_int_equal(q("SELECT COUNT(*) FROM credit_alerts WHERE reseller_id = 'r-p' AND kind = 3 "
                       "AND used_minor = 18100 AND limit_minor = 20000 AND trigger_id = '%s'",
                       third),
                     1);
    free(third);
    /* The kinds filter. */
    l = list_alerts(tok, "", K_USAGE, 0, "", &res);
    assert_int_equal(res.code, VC_GRPC_OK);
    assert_int_equal(l->n_alerts, 0);
    free_msg(l);
    free(low);
    free(tok);
}

/* A provider-funded template of `face` (returns its id; caller frees). */
static char *make_template(const char *tok, int64_t face)
{
    static int seq;
    char rid[64];
    snprintf(rid, sizeof(rid), "credit-tpl-%d-%d", getpid(), ++seq);
    Reseller__V1__CreateTemplateRequest req = RESELLER__V1__CREATE_TEMPLATE_REQUEST__INIT;
    Reseller__V1__Template t = RESELLER__V1__TEMPLATE__INIT;
    Reseller__V1__ProductScope scope = RESELLER__V1__PRODUCT_SCOPE__INIT;
    Reseller__V1__Validity val = RESELLER__V1__VALIDITY__INIT;
    Reseller__V1__UsageConditions cond = RESELLER__V1__USAGE_CONDITIONS__INIT;
    Reseller__V1__PaymentMode modes[] = {RESELLER__V1__PAYMENT_MODE__PAYMENT_MODE_PREPAID};
    req.request_id = rid;
    t.name = "Quota alarm";
    t.face_value_minor = face;
    t.funding = RESELLER__V1__FUNDING__FUNDING_PROVIDER_FUNDED;
    scope.kind = RESELLER__V1__PRODUCT_SCOPE_KIND__PRODUCT_SCOPE_KIND_ALL_PRODUCTS;
    t.product_scope = &scope;
    t.payment_modes = modes;
    t.n_payment_modes = 1;
    val.period_case = RESELLER__V1__VALIDITY__PERIOD_DAYS_AFTER_ACTIVATION;
    val.days_after_activation = 30;
    t.validity = &val;
    cond.use_limit = RESELLER__V1__USE_LIMIT__USE_LIMIT_SINGLE_USE;
    t.conditions = &cond;
    req.template_ = &t;
    Reseller__V1__CreateTemplateResponse *resp = NULL;
    vc_rpc_result res;
    call(tok, "/reseller.v1.TemplateService/CreateTemplate", &req,
         &reseller__v1__create_template_response__descriptor, &resp, &res);
    if (res.code != VC_GRPC_OK) fail_msg("CreateTemplate: %d %s", res.code, res.message);
    char *id = strdup(resp->template_->template_id);
    free_msg(resp);
    return id;
}

static char *issue(const char *tok, const char *tpl, const char *customer)
{
    static int seq;
    char rid[64];
    snprintf(rid, sizeof(rid), "credit-issue-%d-%d", getpid(), ++seq);
    Reseller__V1__IssueVoucherRequest req = RESELLER__V1__ISSUE_VOUCHER_REQUEST__INIT;
    req.request_id = rid;
    req.template_id = (char *)tpl;
    req.customer_id = (char *)customer;
    Reseller__V1__IssueVoucherResponse *resp = NULL;
    vc_rpc_result res;
    call(tok, "/reseller.v1.VoucherService/IssueVoucher", &req,
         &reseller__v1__issue_voucher_response__descriptor, &resp, &res);
    if (res.code != VC_GRPC_OK) fail_msg("IssueVoucher: %d %s", res.code, res.message);
    char *id = strdup(resp->voucher->voucher_id);
    free_msg(resp);
    return id;
}

static void reject(const char *reseller, const char *voucher)
{
    static int seq;
    char msg[36]; /* inbox.message_id is CHAR(36) */
    snprintf(msg, sizeof(msg), "msg-reject-%d-%d", getpid(), ++seq);
    Reseller__V1__ReviewDecidedRequest req = RESELLER__V1__REVIEW_DECIDED_REQUEST__INIT;
    req.message_id = msg;
    req.ticket_id = "tkt-credit";
    req.subject_type = RESELLER__V1__REVIEW_SUBJECT_TYPE__REVIEW_SUBJECT_TYPE_VOUCHER_ISSUANCE;
    req.subject_id = (char *)voucher;
    req.reseller_id = (char *)reseller;
    req.outcome = RESELLER__V1__REVIEW_OUTCOME__REVIEW_OUTCOME_REJECTED;
    req.reason = "no";
    req.decided_by = "staff@provider";
    vc_rpc_result res;
    call(W.tok_service, "/reseller.v1.ReviewCallbackService/ReviewDecided", &req,
         &reseller__v1__review_decided_response__descriptor, NULL, &res);
    if (res.code != VC_GRPC_OK) fail_msg("reject: %d %s", res.code, res.message);
}

static void test_quota_low_alarm(void **state)
{
    (void)state;
    char *tok = reseller_tok("op@r-q", "r-q");
    make_customer(tok, "c-q1");
    grant("r-q", RESELLER__V1__REVIEW_SUBJECT_TYPE__REVIEW_SUBJECT_TYPE_QUOTA_APPLICATION, 10000);
    char *tpl = make_template(tok, 1000);
    char *v[10];
    for (int i = 0; i < 9; i++)
        v[i] = issue(tok, tpl, "c-q1"); /* 10 % left: not below */
    assert_int_equal(q("SELECT COUNT(*) FROM credit_alerts WHERE reseller_id = 'r-q'"), 0);
    v[9] = issue(tok, tpl, "c-q1"); /* 0 left */
    assert_int_equal(q("SELECT COUNT(*) FROM credit_alerts WHERE reseller_id = 'r-q' AND kind = 2 "
                       "AND threshold_percent = 10 AND used_minor = 10000 AND limit_minor = 10000 "
                       "AND trigger_id = '%s'",
                       v[9]),
                     1);
    /* A rejected review returns its quota: 10 % left again, re-armed; the next issue alarms. */
    reject("r-q", v[9]);
    char *again = issue(tok, tpl, "c-q1");
    assert_int_equal(q("SELECT COUNT(*) FROM credit_alerts WHERE reseller_id = 'r-q' AND kind = 2"),
                     2);
    vc_rpc_result res;
    Reseller__V1__ListCreditAlertsResponse *l = list_alerts(tok, "", K_QUOTA, 0, "", &res);
    assert_int_equal(res.code, VC_GRPC_OK);
    assert_int_equal(l->n_alerts, 2);
    assert_string_equal(l->alerts[0]->trigger_id, again);
    free_msg(l);
    for (int i = 0; i < 10; i++)
        free(v[i]);
    free(again);
    free(tpl);
    free(tok);
    th_assert_ledger_clean(&W.s);
}

/* ---- lists --------------------------------------------------------------------------------- */

static void test_list_allocations_filters_and_pages(void **state)
{
    (void)state;
    char *op1 = reseller_tok("alice", "r-l"), *op2 = reseller_tok("bob", "r-l");
    make_customer(op1, "c-l1");
    make_customer(op1, "c-l2");
    grant_pool("r-l", 100000);
    /* alice: l1 x3, l2 x1; bob: l1 x1, l2 x2 (7 records). */
    char *ids[7];
    ids[0] = must_set(op1, "c-l1", 100);
    ids[1] = must_set(op1, "c-l2", 200);
    ids[2] = must_set(op2, "c-l1", 300);
    ids[3] = must_set(op1, "c-l1", 400);
    ids[4] = must_set(op2, "c-l2", 500);
    ids[5] = must_set(op1, "c-l1", -100);
    ids[6] = must_set(op2, "c-l2", 600);
    vc_rpc_result res;
    Reseller__V1__ListCreditAllocationsResponse *l;

    /* Everything, two per page, newest first, each exactly once. */
    char token[256] = "";
    int n = 0;
    for (int page = 0; page < 10; page++) {
        l = list_allocs(op1, "", "", NULL, 2, token, &res);
        assert_int_equal(res.code, VC_GRPC_OK);
        for (size_t i = 0; i < l->n_allocations; i++, n++)
            assert_string_equal(l->allocations[i]->allocation_id, ids[6 - n]);
        snprintf(token, sizeof(token), "%s", l->next_page_token);
        free_msg(l);
        if (!*token) break;
    }
    assert_int_equal(n, 7);

    l = list_allocs(op1, "c-l1", "", NULL, 0, "", &res);
    assert_int_equal(l->n_allocations, 4);
    assert_string_equal(l->allocations[0]->allocation_id, ids[5]);
    assert_int_equal(l->allocations[0]->amount_minor, -100);
    assert_int_equal(l->allocations[0]->credit_after->credit_minor, 700);
    free_msg(l);
    l = list_allocs(op1, "", "bob", NULL, 0, "", &res);
    assert_int_equal(l->n_allocations, 3);
    for (size_t i = 0; i < l->n_allocations; i++)
        assert_string_equal(l->allocations[i]->operator_id, "bob");
    free_msg(l);
    l = list_allocs(op1, "c-l2", "bob", NULL, 0, "", &res);
    assert_int_equal(l->n_allocations, 2);
    assert_string_equal(l->allocations[0]->allocation_id, ids[6]);
    assert_string_equal(l->allocations[1]->allocation_id, ids[4]);
    free_msg(l);

    /* A time range: from the 3rd record's time to the 6th's (exclusive). */
    int64_t t2 = q("SELECT created_us FROM credit_allocations WHERE allocation_id = '%s'", ids[2]);
    int64_t t5 = q("SELECT created_us FROM credit_allocations WHERE allocation_id = '%s'", ids[5]);
    Google__Protobuf__Timestamp from = GOOGLE__PROTOBUF__TIMESTAMP__INIT,
                                until = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    from.seconds = t2 / 1000000;
    from.nanos = (int32_t)(t2 % 1000000) * 1000;
    until.seconds = t5 / 1000000;
    until.nanos = (int32_t)(t5 % 1000000) * 1000;
    Reseller__V1__TimeRange range = RESELLER__V1__TIME_RANGE__INIT;
    range.start_time = &from;
    range.end_time = &until;
    int64_t expect = q("SELECT COUNT(*) FROM credit_allocations WHERE reseller_id = 'r-l' AND "
                       "created_us >= %lld AND created_us < %lld",
                       (long long)t2, (long long)t5);
    l = list_allocs(op1, "", "", &range, 0, "", &res);
    assert_int_equal(res.code, VC_GRPC_OK);
    assert_int_equal(l->n_allocations, expect);
    assert_true(expect >= 3);
    free_msg(l);

    /* Alerts page by page: c-a3's five, one per page. */
    n = 0;
    token[0] = '\0';
    uint64_t prev = UINT64_MAX;
    for (int page = 0; page < 20; page++) {
        Reseller__V1__ListCreditAlertsResponse *a = list_alerts(W.tok_a, "c-a3", 0, 1, token, &res);
        assert_int_equal(res.code, VC_GRPC_OK);
        for (size_t i = 0; i < a->n_alerts; i++, n++) {
            uint64_t id = strtoull(a->alerts[i]->alert_id, NULL, 10);
            assert_true(id < prev);
            prev = id;
        }
        snprintf(token, sizeof(token), "%s", a->next_page_token);
        free_msg(a);
        if (!*token) break;
    }
    assert_int_equal(n, q("SELECT COUNT(*) FROM credit_alerts WHERE customer_id = 'c-a3'"));
    for (int i = 0; i < 7; i++)
        free(ids[i]);
    free(op1);
    free(op2);
}

/* ---- bad input, roles, isolation ----------------------------------------------------------- */

static void test_bad_input(void **state)
{
    (void)state;
    char long_id[80], long_text[1100], long_op[140];
    memset(long_id, 'x', 65);
    long_id[65] = '\0';
    memset(long_text, 'r', 1001);
    long_text[1001] = '\0';
    memset(long_op, 'o', 129);
    long_op[129] = '\0';
    vc_rpc_result res;
    snapshot s = snap();

    /* SetCustomerCredit */
    th_expect_invalid(set_credit(W.tok_a, "", "c-a1", 1, &res), &res, "request_id");
    th_expect_invalid(set_credit(W.tok_a, long_id, "c-a1", 1, &res), &res, "request_id");
    th_expect_invalid(set_credit(W.tok_a, "bad-1", "", 1, &res), &res, "customer_id");
    th_expect_invalid(set_credit(W.tok_a, "bad-1", "c a1", 1, &res), &res, "customer_id");
    th_expect_invalid(set_credit(W.tok_a, "bad-1", "c-a1", 0, &res), &res, "amount_minor");
    th_expect_invalid(set_credit(W.tok_a, "bad-1", "c-a1", 10000000000001LL, &res), &res,
                      "amount_minor");
    th_expect_invalid(set_credit(W.tok_a, "bad-1", "c-a1", -10000000000001LL, &res), &res,
                      "amount_minor");
    th_expect_invalid(set_credit(W.tok_a, "bad-1", "c-a1", INT64_MIN, &res), &res, "amount_minor");
    th_expect_invalid(set_credit_full(W.tok_a, "bad-1", "c-a1", 1, "cny", "", NULL, &res), &res,
                      "currency_code");
    th_expect_invalid(set_credit_full(W.tok_a, "bad-1", "c-a1", 1, "USD", "", NULL, &res), &res,
                      "currency_code");
    th_expect_invalid(set_credit_full(W.tok_a, "bad-1", "c-a1", 1, "", long_text, NULL, &res), &res,
                      "remarks");
    th_expect_invalid(set_credit_full(W.tok_a, "bad-1", "c-a1", 1, "", "\xff\xfe", NULL, &res),
                      &res, "remarks");
    /* Every violation at once. */
    set_credit_full(W.tok_a, "", "", 0, "x", "", NULL, &res);
    th_expect_invalid(res.code, &res, "request_id");
    th_expect_invalid(res.code, &res, "customer_id");
    th_expect_invalid(res.code, &res, "amount_minor");
    th_expect_invalid(res.code, &res, "currency_code");
    assert_int_equal(set_credit(W.tok_a, "bad-1", "nobody", 1, &res), VC_GRPC_NOT_FOUND);

    /* ReportUsage */
    th_expect_invalid(report_full(W.tok_billing, "", "c-a1", 1, "", NULL, &res), &res, "usage_id");
    th_expect_invalid(report_full(W.tok_billing, long_id, "c-a1", 1, "", NULL, &res), &res,
                      "usage_id");
    th_expect_invalid(report_full(W.tok_billing, "u-bad", "", 1, "", NULL, &res), &res,
                      "customer_id");
    th_expect_invalid(report_full(W.tok_billing, "u-bad", "c-a1", 0, "", NULL, &res), &res,
                      "amount_minor");
    th_expect_invalid(report_full(W.tok_billing, "u-bad", "c-a1", -5, "", NULL, &res), &res,
                      "amount_minor");
    th_expect_invalid(report_full(W.tok_billing, "u-bad", "c-a1", 10000000000001LL, "", NULL, &res),
                      &res, "amount_minor");
    th_expect_invalid(report_full(W.tok_billing, "u-bad", "c-a1", 1, "XX", NULL, &res), &res,
                      "currency_code");
    th_expect_invalid(report_full(W.tok_billing, "u-bad", "c-a1", 1, "USD", NULL, &res), &res,
                      "currency_code");
    Reseller__V1__ReportUsageRequest ur = RESELLER__V1__REPORT_USAGE_REQUEST__INIT;
    Google__Protobuf__Timestamp bad_ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    bad_ts.seconds = 1700000000;
    bad_ts.nanos = -1;
    ur.usage_id = "u-bad";
    ur.customer_id = "c-a1";
    ur.amount_minor = 1;
    ur.usage_time = &bad_ts;
    ur.product_code = "no spaces please";
    call(W.tok_billing, BILL("ReportUsage"), &ur, &reseller__v1__report_usage_response__descriptor,
         NULL, &res);
    th_expect_invalid(res.code, &res, "usage_time");
    th_expect_invalid(res.code, &res, "product_code");
    assert_int_equal(report_full(W.tok_billing, "u-bad", "nobody", 1, "", NULL, &res),
                     VC_GRPC_NOT_FOUND);

    /* ListCreditAllocations */
    Reseller__V1__ListCreditAllocationsResponse *la;
    la = list_allocs(W.tok_a, "a b", "", NULL, 0, "", &res);
    th_expect_invalid(res.code, &res, "customer_id");
    free_msg(la);
    la = list_allocs(W.tok_a, "", long_op, NULL, 0, "", &res);
    th_expect_invalid(res.code, &res, "operator_id");
    free_msg(la);
    la = list_allocs(W.tok_a, "", "", NULL, 1001, "", &res);
    th_expect_invalid(res.code, &res, "page_size");
    free_msg(la);
    la = list_allocs(W.tok_a, "", "", NULL, 0, "garbage!", &res);
    th_expect_invalid(res.code, &res, "page_token");
    free_msg(la);
    Google__Protobuf__Timestamp t1 = GOOGLE__PROTOBUF__TIMESTAMP__INIT,
                                t0 = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    t1.seconds = 1700000100;
    t0.seconds = 1700000000;
    Reseller__V1__TimeRange backwards = RESELLER__V1__TIME_RANGE__INIT;
    backwards.start_time = &t1;
    backwards.end_time = &t0;
    la = list_allocs(W.tok_a, "", "", &backwards, 0, "", &res);
    th_expect_invalid(res.code, &res, "create_time.end_time");
    free_msg(la);

    /* ListCreditAlerts */
    Reseller__V1__ListCreditAlertsResponse *lt;
    lt = list_alerts(W.tok_a, "", 99, 0, "", &res);
    th_expect_invalid(res.code, &res, "kinds");
    free_msg(lt);
    lt = list_alerts(W.tok_a, "a/b", 0, 0, "", &res);
    th_expect_invalid(res.code, &res, "customer_id");
    free_msg(lt);
    lt = list_alerts(W.tok_a, "", 0, -1, "", &res);
    th_expect_invalid(res.code, &res, "page_size");
    free_msg(lt);
    lt = list_alerts(W.tok_a, "", 0, 0, "###", &res);
    th_expect_invalid(res.code, &res, "page_token");
    free_msg(lt);
    Reseller__V1__ListCreditAlertsRequest ar = RESELLER__V1__LIST_CREDIT_ALERTS_REQUEST__INIT;
    ar.create_time = &backwards;
    call(W.tok_a, CUST("ListCreditAlerts"), &ar,
         &reseller__v1__list_credit_alerts_response__descriptor, NULL, &res);
    th_expect_invalid(res.code, &res, "create_time.end_time");

    assert_unchanged(&s);
}

static void test_roles(void **state)
{
    (void)state;
    vc_rpc_result res;
    snapshot s = snap();
    const char *not_reseller[] = {W.tok_billing, W.tok_staff, W.tok_service, W.tok_customer};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(set_credit(not_reseller[i], "role-1", "c-a1", 1, &res),
                         VC_GRPC_PERMISSION_DENIED);
        free_msg(list_allocs(not_reseller[i], "", "", NULL, 0, "", &res));
        assert_int_equal(res.code, VC_GRPC_PERMISSION_DENIED);
        free_msg(list_alerts(not_reseller[i], "", 0, 0, "", &res));
        assert_int_equal(res.code, VC_GRPC_PERMISSION_DENIED);
    }
    const char *not_billing[] = {W.tok_a, W.tok_staff, W.tok_service, W.tok_customer};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(report_full(not_billing[i], "role-u", "c-a1", 1, "", NULL, &res),
                         VC_GRPC_PERMISSION_DENIED);
    assert_int_equal(set_credit(NULL, "role-1", "c-a1", 1, &res), VC_GRPC_UNAUTHENTICATED);
    assert_int_equal(report_full(NULL, "role-u", "c-a1", 1, "", NULL, &res),
                     VC_GRPC_UNAUTHENTICATED);
    assert_unchanged(&s);
}

static void test_tenant_isolation(void **state)
{
    (void)state;
    vc_rpc_result res;
    free(must_set(W.tok_b, "c-b1", 3000));
    must_report("iso-u1", "c-b1", 2900); /* B's customer alarms: 75 and 90 */
    snapshot s = snap();
    /* B cannot allocate to, or withdraw from, A's customer: NOT_FOUND, nothing written. */
    assert_int_equal(set_credit(W.tok_b, "iso-1", "c-a1", 100, &res), VC_GRPC_NOT_FOUND);
    assert_int_equal(set_credit(W.tok_b, "iso-2", "c-a1", -100, &res), VC_GRPC_NOT_FOUND);
    assert_unchanged(&s);
    int code;
    free_msg(get_customer(W.tok_b, "c-a1", &code));
    assert_int_equal(code, VC_GRPC_NOT_FOUND);

    /* Lists never show the other reseller's allocations or alerts. */
    Reseller__V1__ListCreditAllocationsResponse *la =
        list_allocs(W.tok_b, "", "", NULL, 0, "", &res);
    assert_int_equal(res.code, VC_GRPC_OK);
    assert_int_equal(la->n_allocations, 1);
    assert_string_equal(la->allocations[0]->customer_id, "c-b1");
    free_msg(la);
    la = list_allocs(W.tok_b, "c-a1", "", NULL, 0, "", &res);
    assert_int_equal(res.code, VC_GRPC_OK);
    assert_int_equal(la->n_allocations, 0);
    free_msg(la);
    la = list_allocs(W.tok_a, "c-b1", "", NULL, 0, "", &res);
    assert_int_equal(la->n_allocations, 0);
    free_msg(la);
    Reseller__V1__ListCreditAlertsResponse *lt = list_alerts(W.tok_b, "", 0, 1000, "", &res);
    assert_int_equal(res.code, VC_GRPC_OK);
    assert_int_equal(lt->n_alerts, 2);
    for (size_t i = 0; i < lt->n_alerts; i++) {
        assert_string_equal(lt->alerts[i]->reseller_id, "r-b");
        assert_string_equal(lt->alerts[i]->customer_id, "c-b1");
    }
    free_msg(lt);
    lt = list_alerts(W.tok_b, "c-a3", 0, 0, "", &res);
    assert_int_equal(lt->n_alerts, 0);
    free_msg(lt);
    lt = list_alerts(W.tok_a, "", 0, 1000, "", &res);
    for (size_t i = 0; i < lt->n_alerts; i++)
        assert_string_equal(lt->alerts[i]->reseller_id, "r-a");
    free_msg(lt);
    /* A reseller may not name another tenant's id for ListCustomers either. */
    Reseller__V1__ListCustomersRequest lr = RESELLER__V1__LIST_CUSTOMERS_REQUEST__INIT;
    lr.exhausted_only = true;
    Reseller__V1__ListCustomersResponse *lc = NULL;
    assert_int_equal(call(W.tok_b, CUST("ListCustomers"), &lr,
                          &reseller__v1__list_customers_response__descriptor, &lc, &res),
                     VC_GRPC_OK);
    assert_int_equal(lc->n_customers, 0); /* c-b1 has 1.00 left */
    free_msg(lc);
    th_assert_ledger_clean(&W.s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allocate_and_withdraw),
        cmocka_unit_test(test_refusals_change_nothing),
        cmocka_unit_test(test_request_id_idempotent),
        cmocka_unit_test(test_concurrent_allocations_stay_consistent),
        cmocka_unit_test(test_usage_alarms_in_order),
        cmocka_unit_test(test_raising_credit_rearms),
        cmocka_unit_test(test_concurrent_usage_no_duplicate_alarms),
        cmocka_unit_test(test_usage_without_credit_and_exhausted_list),
        cmocka_unit_test(test_pool_low_alarm),
        cmocka_unit_test(test_quota_low_alarm),
        cmocka_unit_test(test_list_allocations_filters_and_pages),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_tenant_isolation),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
