/* QuotaService end to end: balances and the ledger read back as posted, applications recorded
   with their review request queued in the outbox (once per request_id), every input rule,
   role and tenant checks, and pagination that yields every item exactly once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "approval/v1/review_service.pb-c.h"
#include "harness.h"
#include "ledger/vc_ledger.h"
#include "reseller/v1/quota_service.pb-c.h"

static th_svc S;

#define QUOTA(m) "/reseller.v1.QuotaService/" m
#define BASE_US  1700000000000000LL
#define SEC_US   1000000LL

/* ---- helpers ------------------------------------------------------------------------------- */

static int call(const char *tok, const char *path, const void *req,
                const ProtobufCMessageDescriptor *desc, void *resp, vc_rpc_result *res)
{
    return th_call(&S, tok, path, req, desc, (ProtobufCMessage **)resp, res);
}

static char *reseller_tok(const char *reseller)
{
    return th_token(&S, VC_ROLE_RESELLER, "op-1", reseller, NULL, false, false);
}

static char *role_tok(vc_role role)
{
    if (role == VC_ROLE_CUSTOMER)
        return th_token(&S, role, "cust-x", "r-any", "cust-x", true, false);
    return th_token(&S, role, "someone", NULL, NULL, false, false);
}

/* Asserts INVALID_ARGUMENT naming exactly `field` among the violations. */
static int64_t count(const char *fmt, const char *arg)
{
    char sql[512];
    snprintf(sql, sizeof(sql), fmt, arg);
    return th_query_i64(&S, sql);
}

static int post_fn(vc_db_conn *c, void *arg)
{
    return vc_ledger_post(c, arg, NULL, NULL);
}

/* Posts one movement straight through the ledger, as the grant path and issuance will. */
static void post(const char *reseller, int account, const char *owner, int kind, int64_t amount,
                 int ref_type, const char *ref)
{
    static int seq;
    char idem[64];
    snprintf(idem, sizeof(idem), "test:%d", ++seq);
    vc_ledger_posting p = {.reseller_id = reseller,
                           .account = account,
                           .owner_id = owner,
                           .currency_code = "CNY",
                           .kind = kind,
                           .amount_minor = amount,
                           .reference_type = ref_type,
                           .reference_id = ref,
                           .idem_ref = idem,
                           .reason = "test",
                           .operator_id = "tester"};
    assert_int_equal(vc_db_tx(S.db, post_fn, &p), 0);
}

static Google__Protobuf__Timestamp ts_at(int64_t us)
{
    Google__Protobuf__Timestamp t = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    t.seconds = us / SEC_US;
    t.nanos = (int32_t)(us % SEC_US) * 1000;
    return t;
}

static int64_t ts_us(const Google__Protobuf__Timestamp *t)
{
    assert_non_null(t);
    return t->seconds * SEC_US + t->nanos / 1000;
}

/* ---- GetQuota ------------------------------------------------------------------------------ */

static Reseller__V1__GetQuotaResponse *get_quota(const char *tok, const char *reseller)
{
    Reseller__V1__GetQuotaRequest req = RESELLER__V1__GET_QUOTA_REQUEST__INIT;
    req.reseller_id = (char *)reseller;
    Reseller__V1__GetQuotaResponse *r = NULL;
    vc_rpc_result res;
    int code =
        call(tok, QUOTA("GetQuota"), &req, &reseller__v1__get_quota_response__descriptor, &r, &res);
    if (code != VC_GRPC_OK) fail_msg("GetQuota: %d %s", code, res.message);
    return r;
}

static void test_get_quota_unknown_reseller(void **state)
{
    (void)state;
    char *tok = reseller_tok("r-fresh");
    char *staff = role_tok(VC_ROLE_STAFF);
    char *svc = role_tok(VC_ROLE_SERVICE);
    const char *toks[] = {tok, staff, svc};
    for (int i = 0; i < 3; i++) {
        Reseller__V1__GetQuotaResponse *r = get_quota(toks[i], i ? "r-fresh" : "");
        assert_string_equal(r->reseller_id, "r-fresh");
        assert_string_equal(r->currency_code, "CNY");
        assert_non_null(r->voucher_quota);
        assert_non_null(r->credit_pool);
        assert_int_equal(r->voucher_quota->granted_minor, 0);
        assert_int_equal(r->voucher_quota->remaining_minor, 0);
        assert_int_equal(r->credit_pool->granted_minor, 0);
        assert_int_equal(r->own_cost_issued_minor, 0);
        protobuf_c_message_free_unpacked(&r->base, NULL);
    }
    /* A read creates nothing. */
    assert_int_equal(count("SELECT COUNT(*) FROM resellers WHERE reseller_id = '%s'", "r-fresh"),
                     0);
    free(tok);
    free(staff);
    free(svc);
}

/* r-led: seven movements on its two accounts, one customer-credit entry (never part of the
   quota views), and another reseller with an entry of the same reference id. */
static void seed_ledger(void)
{
    post("r-led", VC_ACCOUNT_VOUCHER_QUOTA, "", VC_ENTRY_GRANT, 10000, 3, "ref-1");
    post("r-led", VC_ACCOUNT_VOUCHER_QUOTA, "", VC_ENTRY_CONSUME, 3000, 1, "ref-2");
    post("r-led", VC_ACCOUNT_VOUCHER_QUOTA, "", VC_ENTRY_RETURN, 1000, 1, "ref-3");
    post("r-led", VC_ACCOUNT_CREDIT_POOL, "", VC_ENTRY_GRANT, 5000, 3, "ref-4");
    post("r-led", VC_ACCOUNT_CREDIT_POOL, "", VC_ENTRY_ALLOCATE, 2000, 4, "ref-5");
    post("r-led", VC_ACCOUNT_CREDIT_POOL, "", VC_ENTRY_DEALLOCATE, 500, 4, "ref-6");
    post("r-led", VC_ACCOUNT_VOUCHER_QUOTA, "", VC_ENTRY_CONSUME, 100, 1, "ref-7");
    post("r-led", VC_ACCOUNT_CUSTOMER_CREDIT, "cust-1", VC_ENTRY_GRANT, 2000, 4, "ref-8");
    post("r-led-other", VC_ACCOUNT_VOUCHER_QUOTA, "", VC_ENTRY_GRANT, 999, 3, "ref-1");
    /* Distinct, known creation times: ref-k at BASE + k seconds. */
    for (int k = 1; k <= 8; k++) {
        char ref[16];
        snprintf(ref, sizeof(ref), "ref-%d", k);
        th_exec(&S, "UPDATE ledger_entries SET created_us = ? WHERE reseller_id = 'r-led' "
                "AND reference_id = ?",
                VC_DB_ARGS(vc_db_i64(BASE_US + k * SEC_US), vc_db_str(ref)));
    }
    th_exec(&S, "INSERT INTO resellers (reseller_id, currency_code, own_cost_issued_minor, created_us) "
            "VALUES ('r-led', 'CNY', 777, 1)",
            VC_DB_NOARGS);
}

static void test_get_quota_balances(void **state)
{
    (void)state;
    char *tok = reseller_tok("r-led");
    Reseller__V1__GetQuotaResponse *r = get_quota(tok, "r-led");
    assert_string_equal(r->currency_code, "CNY");
    assert_int_equal(r->voucher_quota->granted_minor, 10000);
    assert_int_equal(r->voucher_quota->consumed_minor, 3100);
    assert_int_equal(r->voucher_quota->returned_minor, 1000);
    assert_int_equal(r->voucher_quota->remaining_minor, 7900);
    assert_int_equal(r->credit_pool->granted_minor, 5000);
    assert_int_equal(r->credit_pool->allocated_minor, 1500);
    assert_int_equal(r->credit_pool->remaining_minor, 3500);
    assert_int_equal(r->own_cost_issued_minor, 777);
    protobuf_c_message_free_unpacked(&r->base, NULL);

    /* The currency is the reseller's, not the configured default. */
    th_exec(&S, "INSERT INTO resellers (reseller_id, currency_code, created_us) "
            "VALUES ('r-usd', 'USD', 1)",
            VC_DB_NOARGS);
    char *usd = reseller_tok("r-usd");
    r = get_quota(usd, NULL);
    assert_string_equal(r->currency_code, "USD");
    protobuf_c_message_free_unpacked(&r->base, NULL);
    free(usd);
    free(tok);
}

static void test_get_quota_roles(void **state)
{
    (void)state;
    Reseller__V1__GetQuotaRequest req = RESELLER__V1__GET_QUOTA_REQUEST__INIT;
    vc_rpc_result res;
    const vc_role denied[] = {VC_ROLE_CUSTOMER, VC_ROLE_BILLING};
    for (int i = 0; i < 2; i++) {
        char *t = role_tok(denied[i]);
        req.reseller_id = "r-led";
        assert_int_equal(call(t, QUOTA("GetQuota"), &req,
                              &reseller__v1__get_quota_response__descriptor, NULL, &res),
                         VC_GRPC_PERMISSION_DENIED);
        free(t);
    }
    char *staff = role_tok(VC_ROLE_STAFF);
    req.reseller_id = "";
    th_expect_invalid(call(staff, QUOTA("GetQuota"), &req,
                        &reseller__v1__get_quota_response__descriptor, NULL, &res),
                   &res, "reseller_id");
    req.reseller_id = "bad id";
    th_expect_invalid(call(staff, QUOTA("GetQuota"), &req,
                        &reseller__v1__get_quota_response__descriptor, NULL, &res),
                   &res, "reseller_id");
    free(staff);
    char *other = reseller_tok("r-led-other");
    req.reseller_id = "r-led";
    assert_int_equal(call(other, QUOTA("GetQuota"), &req,
                          &reseller__v1__get_quota_response__descriptor, NULL, &res),
                     VC_GRPC_PERMISSION_DENIED);
    /* Its own view shows its own grant only. */
    Reseller__V1__GetQuotaResponse *r = get_quota(other, "r-led-other");
    assert_int_equal(r->voucher_quota->granted_minor, 999);
    assert_int_equal(r->credit_pool->granted_minor, 0);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    free(other);
}

/* ---- ListQuotaEntries ---------------------------------------------------------------------- */

#define MAX_ITEMS 64

/* Walks every page; returns the entries' reference ids in order (newest first asserted). */
static size_t walk_entries(const char *tok, Reseller__V1__ListQuotaEntriesRequest *req,
                           char refs[][16])
{
    size_t n = 0;
    char token[256] = "";
    uint64_t prev = UINT64_MAX;
    for (int pages = 0;; pages++) {
        assert_true(pages < 50);
        req->page_token = token;
        Reseller__V1__ListQuotaEntriesResponse *r = NULL;
        vc_rpc_result res;
        int code = call(tok, QUOTA("ListQuotaEntries"), req,
                        &reseller__v1__list_quota_entries_response__descriptor, &r, &res);
        if (code != VC_GRPC_OK) fail_msg("ListQuotaEntries: %d %s", code, res.message);
        if (req->page_size) assert_true(r->n_entries <= (size_t)req->page_size);
        for (size_t i = 0; i < r->n_entries; i++) {
            uint64_t id = strtoull(r->entries[i]->entry_id, NULL, 10);
            assert_true(id < prev); /* strictly newest first: no repeats across pages */
            prev = id;
            assert_true(n < MAX_ITEMS);
            snprintf(refs[n++], 16, "%s", r->entries[i]->reference_id);
        }
        snprintf(token, sizeof(token), "%s", r->next_page_token);
        /* A non-last page is full. */
        if (*token && req->page_size) assert_int_equal(r->n_entries, req->page_size);
        protobuf_c_message_free_unpacked(&r->base, NULL);
        if (!*token) return n;
    }
}

static size_t list_count(const char *tok, Reseller__V1__ListQuotaEntriesRequest *req)
{
    char refs[MAX_ITEMS][16];
    return walk_entries(tok, req, refs);
}

static void test_list_entries_pages(void **state)
{
    (void)state;
    char *tok = reseller_tok("r-led");
    Reseller__V1__ListQuotaEntriesRequest req = RESELLER__V1__LIST_QUOTA_ENTRIES_REQUEST__INIT;
    req.page_size = 3;
    char refs[MAX_ITEMS][16];
    size_t n = walk_entries(tok, &req, refs);
    assert_int_equal(n, 7);
    for (int k = 1; k <= 7; k++) { /* each exactly once, never ref-8 (customer credit) */
        char want[16];
        snprintf(want, sizeof(want), "ref-%d", 8 - k);
        assert_string_equal(refs[k - 1], want);
    }
    /* Default page size returns all in one page. */
    req.page_size = 0;
    assert_int_equal(list_count(tok, &req), 7);

    /* Staff naming the reseller see the same. */
    char *staff = role_tok(VC_ROLE_STAFF);
    req.reseller_id = "r-led";
    assert_int_equal(list_count(staff, &req), 7);
    free(staff);
    free(tok);
}

static void test_list_entries_fields(void **state)
{
    (void)state;
    char *tok = reseller_tok("r-led");
    Reseller__V1__ListQuotaEntriesRequest req = RESELLER__V1__LIST_QUOTA_ENTRIES_REQUEST__INIT;
    req.reference_id = "ref-2";
    Reseller__V1__ListQuotaEntriesResponse *r = NULL;
    vc_rpc_result res;
    assert_int_equal(call(tok, QUOTA("ListQuotaEntries"), &req,
                          &reseller__v1__list_quota_entries_response__descriptor, &r, &res),
                     VC_GRPC_OK);
    assert_int_equal(r->n_entries, 1);
    const Reseller__V1__LedgerEntry *e = r->entries[0];
    assert_true(strtoull(e->entry_id, NULL, 10) > 0);
    assert_string_equal(e->reseller_id, "r-led");
    assert_int_equal(e->account, RESELLER__V1__QUOTA_KIND__QUOTA_KIND_VOUCHER_QUOTA);
    assert_int_equal(e->kind, RESELLER__V1__LEDGER_ENTRY_KIND__LEDGER_ENTRY_KIND_CONSUME);
    assert_int_equal(e->amount_minor, -3000);
    assert_int_equal(e->balance_before_minor, 10000);
    assert_int_equal(e->balance_after_minor, 7000);
    assert_string_equal(e->currency_code, "CNY");
    assert_int_equal(e->reference_type, RESELLER__V1__REFERENCE_TYPE__REFERENCE_TYPE_VOUCHER);
    assert_string_equal(e->reference_id, "ref-2");
    assert_string_equal(e->reason, "test");
    assert_string_equal(e->operator_id, "tester");
    assert_int_equal(ts_us(e->create_time), BASE_US + 2 * SEC_US);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    free(tok);
}

static void test_list_entries_filters(void **state)
{
    (void)state;
    char *tok = reseller_tok("r-led");
    Reseller__V1__ListQuotaEntriesRequest req = RESELLER__V1__LIST_QUOTA_ENTRIES_REQUEST__INIT;
    req.page_size = 2;
    req.account = RESELLER__V1__QUOTA_KIND__QUOTA_KIND_VOUCHER_QUOTA;
    assert_int_equal(list_count(tok, &req), 4);
    req.account = RESELLER__V1__QUOTA_KIND__QUOTA_KIND_CREDIT_POOL;
    assert_int_equal(list_count(tok, &req), 3);
    req.account = RESELLER__V1__QUOTA_KIND__QUOTA_KIND_UNSPECIFIED;

    Reseller__V1__LedgerEntryKind kinds[] = {
        RESELLER__V1__LEDGER_ENTRY_KIND__LEDGER_ENTRY_KIND_CONSUME,
        RESELLER__V1__LEDGER_ENTRY_KIND__LEDGER_ENTRY_KIND_RETURN,
        RESELLER__V1__LEDGER_ENTRY_KIND__LEDGER_ENTRY_KIND_CONSUME};
    req.kinds = kinds;
    req.n_kinds = 1;
    assert_int_equal(list_count(tok, &req), 2);
    req.n_kinds = 3; /* duplicates are harmless */
    assert_int_equal(list_count(tok, &req), 3);
    req.account = RESELLER__V1__QUOTA_KIND__QUOTA_KIND_CREDIT_POOL;
    assert_int_equal(list_count(tok, &req), 0);
    req.account = RESELLER__V1__QUOTA_KIND__QUOTA_KIND_UNSPECIFIED;
    req.n_kinds = 0;

    /* Same reference id in another tenant: only ours. */
    req.reference_id = "ref-1";
    char refs[MAX_ITEMS][16];
    assert_int_equal(walk_entries(tok, &req, refs), 1);
    req.reference_id = "ref-8"; /* customer credit: never here */
    assert_int_equal(list_count(tok, &req), 0);
    req.reference_id = "";

    /* [start, end): ref-2, ref-3, ref-4. */
    Google__Protobuf__Timestamp start = ts_at(BASE_US + 2 * SEC_US);
    Google__Protobuf__Timestamp end = ts_at(BASE_US + 5 * SEC_US);
    Reseller__V1__TimeRange tr = RESELLER__V1__TIME_RANGE__INIT;
    tr.start_time = &start;
    tr.end_time = &end;
    req.create_time = &tr;
    size_t n = walk_entries(tok, &req, refs);
    assert_int_equal(n, 3);
    assert_string_equal(refs[0], "ref-4");
    assert_string_equal(refs[2], "ref-2");
    tr.end_time = NULL; /* open above: ref-2..ref-7 */
    assert_int_equal(list_count(tok, &req), 6);
    tr.start_time = NULL;
    tr.end_time = &end; /* open below: ref-1..ref-4 */
    assert_int_equal(list_count(tok, &req), 4);
    free(tok);

    /* The other reseller sees its single entry only. */
    char *other = reseller_tok("r-led-other");
    Reseller__V1__ListQuotaEntriesRequest all = RESELLER__V1__LIST_QUOTA_ENTRIES_REQUEST__INIT;
    assert_int_equal(walk_entries(other, &all, refs), 1);
    assert_string_equal(refs[0], "ref-1");
    free(other);
}

static void test_list_entries_invalid(void **state)
{
    (void)state;
    char *tok = reseller_tok("r-led");
    vc_rpc_result res;
    const ProtobufCMessageDescriptor *d = &reseller__v1__list_quota_entries_response__descriptor;
    Reseller__V1__ListQuotaEntriesRequest req = RESELLER__V1__LIST_QUOTA_ENTRIES_REQUEST__INIT;
    req.account = (Reseller__V1__QuotaKind)3; /* customer credit is not a quota account */
    th_expect_invalid(call(tok, QUOTA("ListQuotaEntries"), &req, d, NULL, &res), &res, "account");
    req.account = 0;
    Reseller__V1__LedgerEntryKind bad[] = {RESELLER__V1__LEDGER_ENTRY_KIND__LEDGER_ENTRY_KIND_GRANT,
                                           (Reseller__V1__LedgerEntryKind)9};
    req.kinds = bad;
    req.n_kinds = 2;
    th_expect_invalid(call(tok, QUOTA("ListQuotaEntries"), &req, d, NULL, &res), &res, "kinds");
    bad[1] = RESELLER__V1__LEDGER_ENTRY_KIND__LEDGER_ENTRY_KIND_UNSPECIFIED;
    th_expect_invalid(call(tok, QUOTA("ListQuotaEntries"), &req, d, NULL, &res), &res, "kinds");
    req.n_kinds = 0;
    req.reference_id = "no spaces";
    th_expect_invalid(call(tok, QUOTA("ListQuotaEntries"), &req, d, NULL, &res), &res, "reference_id");
    req.reference_id = "";
    Google__Protobuf__Timestamp start = ts_at(BASE_US + 5 * SEC_US);
    Google__Protobuf__Timestamp end = ts_at(BASE_US);
    Reseller__V1__TimeRange tr = RESELLER__V1__TIME_RANGE__INIT;
    tr.start_time = &start;
    tr.end_time = &end;
    req.create_time = &tr;
    th_expect_invalid(call(tok, QUOTA("ListQuotaEntries"), &req, d, NULL, &res), &res, "create_time.end_time");
    end.nanos = -1;
    th_expect_invalid(call(tok, QUOTA("ListQuotaEntries"), &req, d, NULL, &res), &res, "create_time.end_time");
    req.create_time = NULL;
    req.page_size = 1001;
    th_expect_invalid(call(tok, QUOTA("ListQuotaEntries"), &req, d, NULL, &res), &res, "page_size");
    req.page_size = -1;
    th_expect_invalid(call(tok, QUOTA("ListQuotaEntries"), &req, d, NULL, &res), &res, "page_size");
    req.page_size = 0;
    req.page_token = "not-a-token";
    th_expect_invalid(call(tok, QUOTA("ListQuotaEntries"), &req, d, NULL, &res), &res, "page_token");
    /* Every violation is reported at once. */
    req.account = (Reseller__V1__QuotaKind)7;
    req.page_size = 5000;
    th_expect_invalid(call(tok, QUOTA("ListQuotaEntries"), &req, d, NULL, &res), &res, "account");
    th_expect_invalid(VC_GRPC_INVALID_ARGUMENT, &res, "page_size");
    free(tok);

    /* Roles and tenants. */
    Reseller__V1__ListQuotaEntriesRequest plain = RESELLER__V1__LIST_QUOTA_ENTRIES_REQUEST__INIT;
    char *cust = role_tok(VC_ROLE_CUSTOMER);
    char *bill = role_tok(VC_ROLE_BILLING);
    char *svc = role_tok(VC_ROLE_SERVICE);
    char *other = reseller_tok("r-led-other");
    assert_int_equal(call(cust, QUOTA("ListQuotaEntries"), &plain, d, NULL, &res),
                     VC_GRPC_PERMISSION_DENIED);
    assert_int_equal(call(bill, QUOTA("ListQuotaEntries"), &plain, d, NULL, &res),
                     VC_GRPC_PERMISSION_DENIED);
    th_expect_invalid(call(svc, QUOTA("ListQuotaEntries"), &plain, d, NULL, &res), &res,
                   "reseller_id");
    plain.reseller_id = "r-led";
    assert_int_equal(call(other, QUOTA("ListQuotaEntries"), &plain, d, NULL, &res),
                     VC_GRPC_PERMISSION_DENIED);
    assert_int_equal(list_count(svc, &plain), 7);
    free(cust);
    free(bill);
    free(svc);
    free(other);
}

/* ---- ApplyForQuota ------------------------------------------------------------------------- */

static int apply(const char *tok, const char *request_id, Reseller__V1__QuotaKind kind,
                 int64_t amount, const char *currency, const char *why,
                 Reseller__V1__ApplyForQuotaResponse **out, vc_rpc_result *res)
{
    Reseller__V1__ApplyForQuotaRequest req = RESELLER__V1__APPLY_FOR_QUOTA_REQUEST__INIT;
    req.request_id = (char *)request_id;
    req.kind = kind;
    req.amount_minor = amount;
    req.currency_code = (char *)currency;
    req.justification = (char *)why;
    return call(tok, QUOTA("ApplyForQuota"), &req,
                &reseller__v1__apply_for_quota_response__descriptor, out, res);
}

static int64_t outbox_count(void)
{
    return th_query_i64(&S, "SELECT COUNT(*) FROM outbox WHERE topic = "
                            "'/approval.v1.ReviewService/SubmitReview'");
}

/* How many queued SubmitReview requests name `subject_id`; *out gets the last one (caller
   frees with protobuf_c_message_free_unpacked). */
static int find_submit(const char *subject_id, Approval__V1__SubmitReviewRequest **out)
{
    vc_db_conn *c;
    assert_int_equal(vc_db_lease(S.db, 10000, &c), 0);
    vc_db_rows *rows;
    assert_int_equal(vc_db_query(c,
                                 "SELECT payload FROM outbox WHERE topic = "
                                 "'/approval.v1.ReviewService/SubmitReview'",
                                 VC_DB_NOARGS, &rows),
                     0);
    int found = 0;
    while (vc_db_next(rows) == 1) {
        const char *p;
        size_t len;
        assert_int_equal(vc_db_get_str(rows, 0, &p, &len), 0);
        Approval__V1__SubmitReviewRequest *m =
            approval__v1__submit_review_request__unpack(NULL, len, (const uint8_t *)p);
        assert_non_null(m);
        if (strcmp(m->subject_id, subject_id) == 0) {
            found++;
            if (*out) protobuf_c_message_free_unpacked(&(*out)->base, NULL);
            *out = m;
        } else {
            protobuf_c_message_free_unpacked(&m->base, NULL);
        }
    }
    vc_db_rows_close(rows);
    vc_db_release(S.db, c);
    return found;
}

static void test_apply_success(void **state)
{
    (void)state;
    char *tok = reseller_tok("r-app");
    int64_t ob = outbox_count();
    Reseller__V1__ApplyForQuotaResponse *r = NULL;
    vc_rpc_result res;
    assert_int_equal(apply(tok, "req-1", RESELLER__V1__QUOTA_KIND__QUOTA_KIND_VOUCHER_QUOTA, 50000,
                           "", "Q4 campaign", &r, &res),
                     VC_GRPC_OK);
    const Reseller__V1__Application *a = r->application;
    assert_non_null(a);
    assert_memory_equal(a->application_id, "app_", 4);
    assert_string_equal(a->reseller_id, "r-app");
    assert_int_equal(a->kind, RESELLER__V1__QUOTA_KIND__QUOTA_KIND_VOUCHER_QUOTA);
    assert_int_equal(a->requested_amount_minor, 50000);
    assert_int_equal(a->granted_amount_minor, 0);
    assert_string_equal(a->currency_code, "CNY");
    assert_string_equal(a->justification, "Q4 campaign");
    assert_int_equal(a->state, RESELLER__V1__APPLICATION_STATE__APPLICATION_STATE_PENDING);
    assert_string_equal(a->request_id, "req-1");
    assert_false(a->direct_grant);
    assert_non_null(a->submit_time);
    assert_null(a->decide_time);

    assert_int_equal(count("SELECT COUNT(*) FROM applications WHERE reseller_id = '%s' "
                           "AND state = 1 AND kind = 1 AND requested_minor = 50000",
                           "r-app"),
                     1);
    assert_int_equal(outbox_count(), ob + 1);
    Approval__V1__SubmitReviewRequest *sr = NULL;
    assert_int_equal(find_submit(a->application_id, &sr), 1);
    assert_int_equal(sr->subject_type, APPROVAL__V1__SUBJECT_TYPE__SUBJECT_TYPE_QUOTA_APPLICATION);
    assert_string_equal(sr->reseller_id, "r-app");
    assert_int_equal(sr->amount_minor, 50000);
    assert_string_equal(sr->currency_code, "CNY");
    assert_string_equal(sr->description, "Q4 campaign");
    protobuf_c_message_free_unpacked(&sr->base, NULL);
    protobuf_c_message_free_unpacked(&r->base, NULL);

    /* A credit-pool application goes to review as a credit application. */
    assert_int_equal(apply(tok, "req-2", RESELLER__V1__QUOTA_KIND__QUOTA_KIND_CREDIT_POOL, 1, "CNY",
                           "pool", &r, &res),
                     VC_GRPC_OK);
    sr = NULL;
    assert_int_equal(find_submit(r->application->application_id, &sr), 1);
    assert_int_equal(sr->subject_type, APPROVAL__V1__SUBJECT_TYPE__SUBJECT_TYPE_CREDIT_APPLICATION);
    assert_int_equal(sr->amount_minor, 1);
    protobuf_c_message_free_unpacked(&sr->base, NULL);
    protobuf_c_message_free_unpacked(&r->base, NULL);

    /* Applying grants nothing yet. */
    Reseller__V1__GetQuotaResponse *q = get_quota(tok, NULL);
    assert_int_equal(q->voucher_quota->granted_minor, 0);
    assert_int_equal(q->credit_pool->granted_minor, 0);
    protobuf_c_message_free_unpacked(&q->base, NULL);
    free(tok);
}

static void test_apply_idempotent(void **state)
{
    (void)state;
    char *tok = reseller_tok("r-idem");
    int64_t ob = outbox_count();
    Reseller__V1__ApplyForQuotaResponse *r1 = NULL, *r2 = NULL, *r3 = NULL;
    vc_rpc_result res;
    Reseller__V1__QuotaKind vq = RESELLER__V1__QUOTA_KIND__QUOTA_KIND_VOUCHER_QUOTA;
    assert_int_equal(apply(tok, "same", vq, 700, "", "why", &r1, &res), VC_GRPC_OK);
    assert_int_equal(apply(tok, "same", vq, 700, "", "why", &r2, &res), VC_GRPC_OK);
    assert_string_equal(r1->application->application_id, r2->application->application_id);
    assert_int_equal(ts_us(r1->application->submit_time), ts_us(r2->application->submit_time));
    /* Spelling the defaults out is the same request. */
    Reseller__V1__ApplyForQuotaRequest req = RESELLER__V1__APPLY_FOR_QUOTA_REQUEST__INIT;
    req.request_id = "same";
    req.reseller_id = "r-idem";
    req.kind = vq;
    req.amount_minor = 700;
    req.currency_code = "CNY";
    req.justification = "why";
    assert_int_equal(call(tok, QUOTA("ApplyForQuota"), &req,
                          &reseller__v1__apply_for_quota_response__descriptor, &r3, &res),
                     VC_GRPC_OK);
    assert_string_equal(r1->application->application_id, r3->application->application_id);
    /* Same id, other parameters. */
    assert_int_equal(apply(tok, "same", vq, 701, "", "why", NULL, &res), VC_GRPC_ALREADY_EXISTS);
    assert_int_equal(count("SELECT COUNT(*) FROM applications WHERE reseller_id = '%s'", "r-idem"),
                     1);
    assert_int_equal(outbox_count(), ob + 1);
    /* The id is per reseller: another one may use it. */
    char *other = reseller_tok("r-idem-2");
    assert_int_equal(apply(other, "same", vq, 700, "", "why", NULL, &res), VC_GRPC_OK);
    assert_int_equal(outbox_count(), ob + 2);
    free(other);
    protobuf_c_message_free_unpacked(&r1->base, NULL);
    protobuf_c_message_free_unpacked(&r2->base, NULL);
    protobuf_c_message_free_unpacked(&r3->base, NULL);
    free(tok);
}

static void test_apply_invalid(void **state)
{
    (void)state;
    static char long_text[1002], max_text[1001]; /* the API allows 1000 characters */
    memset(long_text, 'x', 1001);
    memset(max_text, 'y', 1000);
    const Reseller__V1__QuotaKind vq = RESELLER__V1__QUOTA_KIND__QUOTA_KIND_VOUCHER_QUOTA;
    const struct {
        const char *field, *request_id;
        int kind;
        int64_t amount;
        const char *currency, *why;
    } cases[] = {
        {"request_id", "", vq, 100, "", "ok"},
        {"request_id", "has space", vq, 100, "", "ok"},
        {"kind", "k1", 0, 100, "", "ok"},
        {"kind", "k2", 3, 100, "", "ok"},
        {"amount_minor", "a1", vq, 0, "", "ok"},
        {"amount_minor", "a2", vq, -5, "", "ok"},
        {"amount_minor", "a3", vq, 10000000000001LL, "", "ok"},
        {"currency_code", "c1", vq, 100, "cny", "ok"},
        {"currency_code", "c2", vq, 100, "CN", "ok"},
        {"currency_code", "c3", vq, 100, "USD", "ok"}, /* well-formed, not the reseller's */
        {"justification", "j1", vq, 100, "", ""},
        {"justification", "j2", vq, 100, "", long_text},
        {"justification", "j3", vq, 100, "", "bell\a"},
    };
    char *tok = reseller_tok("r-bad");
    int64_t ob = outbox_count();
    vc_rpc_result res;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int code = apply(tok, cases[i].request_id, (Reseller__V1__QuotaKind)cases[i].kind,
                         cases[i].amount, cases[i].currency, cases[i].why, NULL, &res);
        th_expect_invalid(code, &res, cases[i].field);
    }
    /* Nothing written, not even the first-contact reseller row. */
    assert_int_equal(count("SELECT COUNT(*) FROM applications WHERE reseller_id = '%s'", "r-bad"),
                     0);
    assert_int_equal(count("SELECT COUNT(*) FROM resellers WHERE reseller_id = '%s'", "r-bad"), 0);
    assert_int_equal(count("SELECT COUNT(*) FROM request_log WHERE tenant_id = '%s'", "r-bad"), 0);
    assert_int_equal(outbox_count(), ob);

    /* All violations at once. */
    th_expect_invalid(apply(tok, "", 0, 0, "x", "", NULL, &res), &res, "request_id");
    th_expect_invalid(VC_GRPC_INVALID_ARGUMENT, &res, "kind");
    th_expect_invalid(VC_GRPC_INVALID_ARGUMENT, &res, "amount_minor");
    th_expect_invalid(VC_GRPC_INVALID_ARGUMENT, &res, "currency_code");
    th_expect_invalid(VC_GRPC_INVALID_ARGUMENT, &res, "justification");

    /* The bounds themselves are accepted. */
    assert_int_equal(apply(tok, "max", vq, 10000000000000LL, "CNY", max_text, NULL, &res),
                     VC_GRPC_OK);
    assert_int_equal(outbox_count(), ob + 1);
    free(tok);
}

static void test_apply_roles(void **state)
{
    (void)state;
    Reseller__V1__ApplyForQuotaRequest req = RESELLER__V1__APPLY_FOR_QUOTA_REQUEST__INIT;
    req.request_id = "role-1";
    req.reseller_id = "r-roles";
    req.kind = RESELLER__V1__QUOTA_KIND__QUOTA_KIND_VOUCHER_QUOTA;
    req.amount_minor = 10;
    req.justification = "x";
    const vc_role denied[] = {VC_ROLE_STAFF, VC_ROLE_SERVICE, VC_ROLE_CUSTOMER, VC_ROLE_BILLING};
    vc_rpc_result res;
    int64_t ob = outbox_count();
    for (int i = 0; i < 4; i++) {
        char *t = role_tok(denied[i]);
        assert_int_equal(call(t, QUOTA("ApplyForQuota"), &req,
                              &reseller__v1__apply_for_quota_response__descriptor, NULL, &res),
                         VC_GRPC_PERMISSION_DENIED);
        free(t);
    }
    char *other = reseller_tok("r-roles-other");
    assert_int_equal(call(other, QUOTA("ApplyForQuota"), &req,
                          &reseller__v1__apply_for_quota_response__descriptor, NULL, &res),
                     VC_GRPC_PERMISSION_DENIED);
    free(other);
    assert_int_equal(outbox_count(), ob);
    assert_int_equal(th_query_i64(&S, "SELECT COUNT(*) FROM applications WHERE reseller_id IN "
                                      "('r-roles', 'r-roles-other')"),
                     0);
}

/* ---- ListApplications ---------------------------------------------------------------------- */

/* Walks every page; returns the application ids in order and asserts newest first. */
static size_t walk_apps(const char *tok, Reseller__V1__ListApplicationsRequest *req, char ids[][48])
{
    size_t n = 0;
    char token[256] = "";
    for (int pages = 0;; pages++) {
        assert_true(pages < 50);
        req->page_token = token;
        Reseller__V1__ListApplicationsResponse *r = NULL;
        vc_rpc_result res;
        int code = call(tok, QUOTA("ListApplications"), req,
                        &reseller__v1__list_applications_response__descriptor, &r, &res);
        if (code != VC_GRPC_OK) fail_msg("ListApplications: %d %s", code, res.message);
        for (size_t i = 0; i < r->n_applications; i++) {
            assert_true(n < MAX_ITEMS);
            snprintf(ids[n++], 48, "%s", r->applications[i]->application_id);
        }
        snprintf(token, sizeof(token), "%s", r->next_page_token);
        if (*token && req->page_size) assert_int_equal(r->n_applications, req->page_size);
        protobuf_c_message_free_unpacked(&r->base, NULL);
        if (!*token) return n;
    }
}

static void assert_same_set(char got[][48], size_t n, char want[][48], size_t m)
{
    assert_int_equal(n, m);
    for (size_t i = 0; i < m; i++) {
        int seen = 0;
        for (size_t j = 0; j < n; j++)
            seen += strcmp(got[j], want[i]) == 0;
        if (seen != 1) fail_msg("%s seen %d times", want[i], seen);
    }
}

static void test_list_applications(void **state)
{
    (void)state;
    char *tok = reseller_tok("r-la");
    char ids[5][48];
    const Reseller__V1__QuotaKind kinds[5] = {RESELLER__V1__QUOTA_KIND__QUOTA_KIND_VOUCHER_QUOTA,
                                              RESELLER__V1__QUOTA_KIND__QUOTA_KIND_CREDIT_POOL,
                                              RESELLER__V1__QUOTA_KIND__QUOTA_KIND_VOUCHER_QUOTA,
                                              RESELLER__V1__QUOTA_KIND__QUOTA_KIND_CREDIT_POOL,
                                              RESELLER__V1__QUOTA_KIND__QUOTA_KIND_VOUCHER_QUOTA};
    vc_rpc_result res;
    for (int i = 0; i < 5; i++) {
        char rid[16];
        snprintf(rid, sizeof(rid), "la-%d", i);
        Reseller__V1__ApplyForQuotaResponse *r = NULL;
        assert_int_equal(apply(tok, rid, kinds[i], 100 + i, "", "why", &r, &res), VC_GRPC_OK);
        snprintf(ids[i], 48, "%s", r->application->application_id);
        protobuf_c_message_free_unpacked(&r->base, NULL);
    }
    char *other = reseller_tok("r-la-other");
    assert_int_equal(apply(other, "x", kinds[0], 5, "", "why", NULL, &res), VC_GRPC_OK);
    /* Distinct submit times: application i at BASE + i s, so the order is known. */
    for (int i = 0; i < 5; i++)
        th_exec(&S, "UPDATE applications SET submitted_us = ? WHERE application_id = ?",
                VC_DB_ARGS(vc_db_i64(BASE_US + i * SEC_US), vc_db_str(ids[i])));
    th_exec(&S, "UPDATE applications SET state = 2, granted_minor = 100, decided_us = ?, "
            "decided_by = 'staff-1', ticket_id = 'tkt-1' WHERE application_id = ?",
            VC_DB_ARGS(vc_db_i64(BASE_US + 9 * SEC_US), vc_db_str(ids[0])));
    th_exec(&S, "UPDATE applications SET state = 3, reason = 'no' WHERE application_id = ?",
            VC_DB_ARGS(vc_db_str(ids[1])));

    Reseller__V1__ListApplicationsRequest req = RESELLER__V1__LIST_APPLICATIONS_REQUEST__INIT;
    req.page_size = 2;
    char got[MAX_ITEMS][48];
    size_t n = walk_apps(tok, &req, got);
    assert_int_equal(n, 5);
    for (int i = 0; i < 5; i++)
        assert_string_equal(got[i], ids[4 - i]);

    /* Filters. */
    req.kind = RESELLER__V1__QUOTA_KIND__QUOTA_KIND_CREDIT_POOL;
    assert_int_equal(walk_apps(tok, &req, got), 2);
    assert_string_equal(got[0], ids[3]);
    assert_string_equal(got[1], ids[1]);
    req.kind = 0;
    Reseller__V1__ApplicationState st[] = {
        RESELLER__V1__APPLICATION_STATE__APPLICATION_STATE_APPROVED,
        RESELLER__V1__APPLICATION_STATE__APPLICATION_STATE_REJECTED};
    req.states = st;
    req.n_states = 2;
    assert_int_equal(walk_apps(tok, &req, got), 2);
    req.kind = RESELLER__V1__QUOTA_KIND__QUOTA_KIND_VOUCHER_QUOTA;
    assert_int_equal(walk_apps(tok, &req, got), 1);
    assert_string_equal(got[0], ids[0]);
    st[0] = RESELLER__V1__APPLICATION_STATE__APPLICATION_STATE_PENDING;
    req.n_states = 1;
    assert_int_equal(walk_apps(tok, &req, got), 2); /* ids 4 and 2 */
    req.kind = 0;
    req.n_states = 0;

    /* The decided one carries its decision. */
    req.page_size = 0;
    Reseller__V1__ListApplicationsResponse *lr = NULL;
    req.page_token = "";
    assert_int_equal(call(tok, QUOTA("ListApplications"), &req,
                          &reseller__v1__list_applications_response__descriptor, &lr, &res),
                     VC_GRPC_OK);
    assert_int_equal(lr->n_applications, 5);
    const Reseller__V1__Application *a = lr->applications[4];
    assert_string_equal(a->application_id, ids[0]);
    assert_int_equal(a->state, RESELLER__V1__APPLICATION_STATE__APPLICATION_STATE_APPROVED);
    assert_int_equal(a->granted_amount_minor, 100);
    assert_string_equal(a->decided_by, "staff-1");
    assert_string_equal(a->ticket_id, "tkt-1");
    assert_int_equal(ts_us(a->decide_time), BASE_US + 9 * SEC_US);
    assert_int_equal(ts_us(a->submit_time), BASE_US);
    assert_null(a->due_time);
    assert_string_equal(lr->applications[3]->reason, "no");
    protobuf_c_message_free_unpacked(&lr->base, NULL);

    /* Equal submit times: the id breaks the tie, still every item exactly once. */
    th_exec(&S, "UPDATE applications SET submitted_us = ? WHERE reseller_id = 'r-la'",
            VC_DB_ARGS(vc_db_i64(BASE_US)));
    req.page_size = 2;
    n = walk_apps(tok, &req, got);
    assert_same_set(got, n, ids, 5);
    for (size_t i = 1; i < n; i++)
        assert_true(strcmp(got[i - 1], got[i]) > 0);

    /* Tenants: the other reseller sees its own only; staff see r-la's by name. */
    Reseller__V1__ListApplicationsRequest own = RESELLER__V1__LIST_APPLICATIONS_REQUEST__INIT;
    assert_int_equal(walk_apps(other, &own, got), 1);
    req.reseller_id = "r-la";
    assert_int_equal(call(other, QUOTA("ListApplications"), &req,
                          &reseller__v1__list_applications_response__descriptor, NULL, &res),
                     VC_GRPC_PERMISSION_DENIED);
    char *staff = role_tok(VC_ROLE_STAFF);
    n = walk_apps(staff, &req, got);
    assert_same_set(got, n, ids, 5);
    req.reseller_id = "";
    th_expect_invalid(call(staff, QUOTA("ListApplications"), &req,
                        &reseller__v1__list_applications_response__descriptor, NULL, &res),
                   &res, "reseller_id");
    char *cust = role_tok(VC_ROLE_CUSTOMER);
    assert_int_equal(call(cust, QUOTA("ListApplications"), &req,
                          &reseller__v1__list_applications_response__descriptor, NULL, &res),
                     VC_GRPC_PERMISSION_DENIED);
    free(cust);
    free(staff);
    free(other);
    free(tok);
}

static void test_list_applications_invalid(void **state)
{
    (void)state;
    char *tok = reseller_tok("r-la");
    vc_rpc_result res;
    const ProtobufCMessageDescriptor *d = &reseller__v1__list_applications_response__descriptor;
    Reseller__V1__ListApplicationsRequest req = RESELLER__V1__LIST_APPLICATIONS_REQUEST__INIT;
    req.kind = (Reseller__V1__QuotaKind)9;
    th_expect_invalid(call(tok, QUOTA("ListApplications"), &req, d, NULL, &res), &res, "kind");
    req.kind = 0;
    Reseller__V1__ApplicationState st[] = {(Reseller__V1__ApplicationState)0};
    req.states = st;
    req.n_states = 1;
    th_expect_invalid(call(tok, QUOTA("ListApplications"), &req, d, NULL, &res), &res, "states");
    st[0] = (Reseller__V1__ApplicationState)5;
    th_expect_invalid(call(tok, QUOTA("ListApplications"), &req, d, NULL, &res), &res, "states");
    req.n_states = 0;
    req.page_size = 1001;
    th_expect_invalid(call(tok, QUOTA("ListApplications"), &req, d, NULL, &res), &res, "page_size");
    req.page_size = 0;
    req.page_token = "%%%";
    th_expect_invalid(call(tok, QUOTA("ListApplications"), &req, d, NULL, &res), &res, "page_token");
    free(tok);
}

static int setup(void **state)
{
    (void)state;
    th_start(&S, "VC_TEST_RESELLER_BIN", "quota", NULL);
    seed_ledger();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_assert_ledger_clean(&S);
    th_stop(&S);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_quota_unknown_reseller),
        cmocka_unit_test(test_get_quota_balances),
        cmocka_unit_test(test_get_quota_roles),
        cmocka_unit_test(test_list_entries_pages),
        cmocka_unit_test(test_list_entries_fields),
        cmocka_unit_test(test_list_entries_filters),
        cmocka_unit_test(test_list_entries_invalid),
        cmocka_unit_test(test_apply_success),
        cmocka_unit_test(test_apply_idempotent),
        cmocka_unit_test(test_apply_invalid),
        cmocka_unit_test(test_apply_roles),
        cmocka_unit_test(test_list_applications),
        cmocka_unit_test(test_list_applications_invalid),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
