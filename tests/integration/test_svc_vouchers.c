/*
 * VoucherService through real gRPC against a real reseller-svc and MariaDB (SPEC §1–3):
 * quota starts at zero, concurrent issuance never overspends, request_id idempotency, template
 * locking (also racing an edit), cancel/withdraw/reject return the face value exactly once,
 * used vouchers cannot be withdrawn, expiry returns the unused balance once with two sweepers,
 * bad input and tenant isolation for every method.
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

#include "base/vc_time.h"
#include "harness.h"
#include "reseller/v1/customer_service.pb-c.h"
#include "reseller/v1/quota_service.pb-c.h"
#include "reseller/v1/review_callback_service.pb-c.h"
#include "reseller/v1/template_service.pb-c.h"
#include "reseller/v1/voucher_service.pb-c.h"

#define FACE 10000 /* 100.00 */

typedef struct world {
    th_svc s;
    char *tok_a, *tok_b, *tok_service, *tok_customer;
} world;

static world W;

#define CALL(tok, path, req, rtype, resp, res)                                                     \
    th_call(&W.s, tok, path, &(req).base, &reseller__v1__##rtype##__descriptor,                     \
            (ProtobufCMessage **)(resp), res)

static void make_customer(const char *tok, const char *id)
{
    Reseller__V1__CreateCustomerRequest req = RESELLER__V1__CREATE_CUSTOMER_REQUEST__INIT;
    Reseller__V1__Customer c = RESELLER__V1__CUSTOMER__INIT;
    c.customer_id = (char *)id;
    c.name = "Customer";
    req.customer = &c;
    vc_rpc_result res;
    assert_int_equal(CALL(tok, "/reseller.v1.CustomerService/CreateCustomer", req,
                          create_customer_response, NULL, &res),
                     VC_GRPC_OK);
}

/* A template; window_s > 0 makes a fixed validity window ending that many seconds from now. */
static char *make_template(const char *tok, int funding, int64_t face, int window_s)
{
    static int seq;
    char rid[64];
    snprintf(rid, sizeof(rid), "tpl-%d-%d", getpid(), ++seq);
    Reseller__V1__CreateTemplateRequest req = RESELLER__V1__CREATE_TEMPLATE_REQUEST__INIT;
    Reseller__V1__Template t = RESELLER__V1__TEMPLATE__INIT;
    Reseller__V1__ProductScope scope = RESELLER__V1__PRODUCT_SCOPE__INIT;
    Reseller__V1__Validity val = RESELLER__V1__VALIDITY__INIT;
    Reseller__V1__TimeRange win = RESELLER__V1__TIME_RANGE__INIT;
    Reseller__V1__UsageConditions cond = RESELLER__V1__USAGE_CONDITIONS__INIT;
    Reseller__V1__PaymentMode modes[] = {RESELLER__V1__PAYMENT_MODE__PAYMENT_MODE_PREPAID};
    Google__Protobuf__Timestamp from = GOOGLE__PROTOBUF__TIMESTAMP__INIT,
                                until = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    req.request_id = rid;
    t.name = "Spring promotion";
    t.face_value_minor = face;
    t.funding = funding;
    scope.kind = RESELLER__V1__PRODUCT_SCOPE_KIND__PRODUCT_SCOPE_KIND_ALL_PRODUCTS;
    t.product_scope = &scope;
    t.payment_modes = modes;
    t.n_payment_modes = 1;
    if (window_s > 0) {
        int64_t now = vc_now_us();
        from.seconds = now / 1000000 - 60;
        until.seconds = now / 1000000 + window_s;
        win.start_time = &from;
        win.end_time = &until;
        val.period_case = RESELLER__V1__VALIDITY__PERIOD_FIXED_WINDOW;
        val.fixed_window = &win;
    } else {
        val.period_case = RESELLER__V1__VALIDITY__PERIOD_DAYS_AFTER_ACTIVATION;
        val.days_after_activation = 30;
    }
    t.validity = &val;
    cond.use_limit = RESELLER__V1__USE_LIMIT__USE_LIMIT_MULTI_USE;
    t.conditions = &cond;
    req.template_ = &t;
    Reseller__V1__CreateTemplateResponse *resp = NULL;
    vc_rpc_result res;
    CALL(tok, "/reseller.v1.TemplateService/CreateTemplate", req, create_template_response, &resp,
         &res);
    if (res.code != VC_GRPC_OK)
        fail_msg("CreateTemplate: %d %s", res.code, res.message);
    char *id = strdup(resp->template_->template_id);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return id;
}

/* The real grant path: a direct grant delivered as a review callback by the service role. */
static void grant(const char *reseller, int64_t amount)
{
    static int seq;
    char msg[64], subj[64];
    snprintf(msg, sizeof(msg), "msg-grant-%d-%d", getpid(), ++seq);
    snprintf(subj, sizeof(subj), "grant-%d-%d", getpid(), seq);
    Reseller__V1__ReviewDecidedRequest req = RESELLER__V1__REVIEW_DECIDED_REQUEST__INIT;
    req.message_id = msg;
    req.subject_type = RESELLER__V1__REVIEW_SUBJECT_TYPE__REVIEW_SUBJECT_TYPE_QUOTA_APPLICATION;
    req.subject_id = subj;
    req.reseller_id = (char *)reseller;
    req.outcome = RESELLER__V1__REVIEW_OUTCOME__REVIEW_OUTCOME_APPROVED;
    req.reason = "test grant";
    req.decided_by = "staff@provider";
    req.granted_amount_minor = amount;
    req.direct_grant = true;
    vc_rpc_result res;
    assert_int_equal(CALL(W.tok_service, "/reseller.v1.ReviewCallbackService/ReviewDecided", req,
                          review_decided_response, NULL, &res),
                     VC_GRPC_OK);
}

/* Delivers a review outcome for a voucher; returns already_applied. */
static bool decide(const char *msg_id, const char *reseller, const char *voucher, int outcome)
{
    Reseller__V1__ReviewDecidedRequest req = RESELLER__V1__REVIEW_DECIDED_REQUEST__INIT;
    req.message_id = (char *)msg_id;
    req.ticket_id = "tkt-1";
    req.subject_type = RESELLER__V1__REVIEW_SUBJECT_TYPE__REVIEW_SUBJECT_TYPE_VOUCHER_ISSUANCE;
    req.subject_id = (char *)voucher;
    req.reseller_id = (char *)reseller;
    req.outcome = outcome;
    req.reason = "reviewed";
    req.decided_by = "staff@provider";
    Reseller__V1__ReviewDecidedResponse *resp = NULL;
    vc_rpc_result res;
    CALL(W.tok_service, "/reseller.v1.ReviewCallbackService/ReviewDecided", req,
         review_decided_response, &resp, &res);
    if (res.code != VC_GRPC_OK)
        fail_msg("ReviewDecided: %d %s", res.code, res.message);
    bool already = resp->already_applied;
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return already;
}

/* IssueVoucher on a given process (the primary, or a replica on the same database). */
static int issue_on(th_svc *svc, const char *tok, const char *rid, const char *tpl,
                    const char *customer, char *voucher_out, vc_rpc_result *res)
{
    Reseller__V1__IssueVoucherRequest req = RESELLER__V1__ISSUE_VOUCHER_REQUEST__INIT;
    req.request_id = (char *)rid;
    req.template_id = (char *)tpl;
    req.customer_id = (char *)customer;
    Reseller__V1__IssueVoucherResponse *resp = NULL;
    th_call(svc, tok, "/reseller.v1.VoucherService/IssueVoucher", &req.base,
            &reseller__v1__issue_voucher_response__descriptor, (ProtobufCMessage **)&resp, res);
    if (resp) {
        if (voucher_out)
            snprintf(voucher_out, 48, "%s", resp->voucher->voucher_id);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    }
    return res->code;
}

static int issue(const char *tok, const char *rid, const char *tpl, const char *customer,
                 char *voucher_out, vc_rpc_result *res)
{
    return issue_on(&W.s, tok, rid, tpl, customer, voucher_out, res);
}

static int64_t remaining(const char *reseller)
{
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "SELECT COALESCE(SUM(balance_minor), 0) FROM ledger_accounts WHERE reseller_id = '%s' "
             "AND account = 1",
             reseller);
    return th_query_i64(&W.s, sql);
}

static int voucher_status(const char *tok, const char *id, int64_t *balance)
{
    Reseller__V1__GetVoucherRequest req = RESELLER__V1__GET_VOUCHER_REQUEST__INIT;
    req.voucher_id = (char *)id;
    Reseller__V1__GetVoucherResponse *resp = NULL;
    vc_rpc_result res;
    CALL(tok, "/reseller.v1.VoucherService/GetVoucher", req, get_voucher_response, &resp, &res);
    if (res.code != VC_GRPC_OK)
        return -res.code;
    int st = resp->voucher->status;
    if (balance)
        *balance = resp->voucher->balance_minor;
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return st;
}

/* A customer spends `amount` of a voucher, as a settlement would record it: a deduction row
   (the voucher's own ledger) and the balance. The wallet is another area's; this is its effect. */
static void use_voucher(const char *v, int64_t amount)
{
    th_exec(&W.s,
            "INSERT INTO voucher_deductions (voucher_id, reseller_id, customer_id, source, "
            "reference_id, amount_minor, balance_before_minor, balance_after_minor, created_us) "
            "SELECT voucher_id, reseller_id, customer_id, 2, CONCAT('test-', voucher_id), ?, "
            "balance_minor, balance_minor - ?, 0 FROM vouchers WHERE voucher_id = ?",
            VC_DB_ARGS(vc_db_i64(amount), vc_db_i64(amount), vc_db_str(v)));
    th_exec(&W.s,
            "UPDATE vouchers SET balance_minor = balance_minor - ?, ever_used = 1 WHERE "
            "voucher_id = ?",
            VC_DB_ARGS(vc_db_i64(amount), vc_db_str(v)));
}

static int group_setup(void **state)
{
    (void)state;
    static const char *const flags[] = {"--expiry-interval-ms=200", NULL};
    th_start(&W.s, "VC_TEST_RESELLER_BIN", "vouchers", flags);
    W.tok_a = th_token(&W.s, VC_ROLE_RESELLER, "op@r-a", "r-a", NULL, false, false);
    W.tok_b = th_token(&W.s, VC_ROLE_RESELLER, "op@r-b", "r-b", NULL, false, false);
    W.tok_service = th_token(&W.s, VC_ROLE_SERVICE, "approval-svc", NULL, NULL, false, false);
    W.tok_customer = th_token(&W.s, VC_ROLE_CUSTOMER, "c@x", "r-a", "c-a1", true, false);
    make_customer(W.tok_a, "c-a1");
    make_customer(W.tok_a, "c-a2");
    make_customer(W.tok_b, "c-b1");
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    th_assert_ledger_clean(&W.s);
    th_stop(&W.s);
    free(W.tok_a);
    free(W.tok_b);
    free(W.tok_service);
    free(W.tok_customer);
    return 0;
}

/* ---- tests ----------------------------------------------------------------------------------- */

static void test_no_quota_no_issue(void **state)
{
    (void)state;
    char *tpl = make_template(W.tok_a, RESELLER__V1__FUNDING__FUNDING_PROVIDER_FUNDED, FACE, 0);
    assert_int_equal(remaining("r-a"), 0);
    vc_rpc_result res;
    assert_int_equal(issue(W.tok_a, "noquota-1", tpl, "c-a1", NULL, &res),
                     VC_GRPC_FAILED_PRECONDITION);
    assert_non_null(strstr(res.message, "quota"));
    assert_int_equal(th_query_i64(&W.s, "SELECT COUNT(*) FROM vouchers"), 0);
    assert_int_equal(th_query_i64(&W.s, "SELECT COUNT(*) FROM outbox"), 0);
    /* The template is still editable: the failed issue rolled back its lock too. */
    assert_int_equal(th_query_i64(&W.s, "SELECT MAX(issued_count) FROM templates"), 0);
    free(tpl);
}

typedef struct racer {
    th_svc *svc; /* the process this racer calls */
    const char *tpl, *prefix;
    int idx;
    int code;
    char voucher[48];
} racer;

static void *issue_racer(void *p)
{
    racer *r = p;
    char rid[64];
    snprintf(rid, sizeof(rid), "%s-%d", r->prefix, r->idx);
    vc_rpc_result res;
    r->code = issue_on(r->svc, W.tok_a, rid, r->tpl, r->idx % 2 ? "c-a1" : "c-a2", r->voucher,
                       &res);
    return NULL;
}

static void test_concurrent_issue_never_overspends(void **state)
{
    (void)state;
    enum { N = 64, FITS = 23 };
    char *tpl = make_template(W.tok_a, RESELLER__V1__FUNDING__FUNDING_PROVIDER_FUNDED, FACE, 0);
    int64_t before = remaining("r-a");
    grant("r-a", (int64_t)FITS * FACE + FACE / 2); /* room for 23 and a half */
    pthread_t th[N];
    racer r[N];
    for (int i = 0; i < N; i++) {
        r[i] = (racer){.svc = &W.s, .tpl = tpl, .prefix = "race", .idx = i, .code = -1};
        pthread_create(&th[i], NULL, issue_racer, &r[i]);
    }
    int ok = 0, refused = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        if (r[i].code == VC_GRPC_OK)
            ok++;
        else if (r[i].code == VC_GRPC_FAILED_PRECONDITION)
            refused++;
        else
            fail_msg("racer %d: unexpected code %d", i, r[i].code);
    }
    assert_int_equal(ok, FITS);
    assert_int_equal(refused, N - FITS);
    assert_int_equal(remaining("r-a"), before + FACE / 2);
    /* Sum consumed = sum issued face values, and each voucher consumed exactly once. */
    assert_int_equal(th_query_i64(&W.s, "SELECT -SUM(amount_minor) FROM ledger_entries WHERE "
                                        "kind = 2 AND reseller_id = 'r-a' AND reference_id IN "
                                        "(SELECT voucher_id FROM vouchers WHERE issue_request_id "
                                        "LIKE 'race-%')"),
                     (int64_t)FITS * FACE);
    assert_int_equal(th_query_i64(&W.s, "SELECT SUM(face_value_minor) FROM vouchers WHERE "
                                        "issue_request_id LIKE 'race-%'"),
                     (int64_t)FITS * FACE);
    assert_int_equal(th_query_i64(&W.s, "SELECT COUNT(*) FROM outbox WHERE topic LIKE "
                                        "'%SubmitReview'"),
                     FITS);
    th_assert_ledger_clean(&W.s);
    free(tpl);
}

/* The same race across two reseller-svc processes on one database (DESIGN: zero overspend with
   64 concurrent issuers across 2 replicas): the guard is the conditional debit in MariaDB, not
   anything in a process. */
static void test_two_replicas_never_overspend(void **state)
{
    (void)state;
    enum { N = 64, FITS = 17 };
    th_svc replica;
    th_start_replica(&replica, &W.s, "VC_TEST_RESELLER_BIN", NULL);
    char *tpl = make_template(W.tok_a, RESELLER__V1__FUNDING__FUNDING_PROVIDER_FUNDED, FACE, 0);
    int64_t before = remaining("r-a");
    grant("r-a", (int64_t)FITS * FACE);
    pthread_t th[N];
    racer r[N];
    for (int i = 0; i < N; i++) {
        r[i] = (racer){.svc = i % 2 ? &replica : &W.s, .tpl = tpl, .prefix = "rep", .idx = i,
                       .code = -1};
        pthread_create(&th[i], NULL, issue_racer, &r[i]);
    }
    int ok = 0, unexpected = -1;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        if (r[i].code == VC_GRPC_OK)
            ok++;
        else if (r[i].code != VC_GRPC_FAILED_PRECONDITION)
            unexpected = i;
    }
    /* Stop the replica before asserting: a failed assertion must not leave a process behind. */
    th_stop(&replica);
    if (unexpected >= 0)
        fail_msg("racer %d: unexpected code %d", unexpected, r[unexpected].code);
    /* Which process wins how many is up to scheduling; the total never exceeds the quota. */
    assert_int_equal(ok, FITS);
    assert_int_equal(remaining("r-a"), before);
    assert_int_equal(th_query_i64(&W.s, "SELECT SUM(face_value_minor) FROM vouchers WHERE "
                                        "issue_request_id LIKE 'rep-%'"),
                     (int64_t)FITS * FACE);
    th_assert_ledger_clean(&W.s);
    free(tpl);
}

static void test_request_id_idempotent(void **state)
{
    (void)state;
    char *tpl = make_template(W.tok_a, RESELLER__V1__FUNDING__FUNDING_PROVIDER_FUNDED, FACE, 0);
    grant("r-a", 2 * FACE);
    int64_t before = remaining("r-a");
    char v1[48], v2[48];
    vc_rpc_result res;
    assert_int_equal(issue(W.tok_a, "idem-1", tpl, "c-a1", v1, &res), VC_GRPC_OK);
    assert_int_equal(issue(W.tok_a, "idem-1", tpl, "c-a1", v2, &res), VC_GRPC_OK);
    assert_string_equal(v1, v2);
    assert_int_equal(remaining("r-a"), before - FACE);
    /* Same id, other parameters: refused, nothing issued. */
    assert_int_equal(issue(W.tok_a, "idem-1", tpl, "c-a2", NULL, &res), VC_GRPC_ALREADY_EXISTS);
    assert_int_equal(remaining("r-a"), before - FACE);
    /* Another reseller may use the same request id independently. */
    char *tpl_b = make_template(W.tok_b, RESELLER__V1__FUNDING__FUNDING_RESELLER_FUNDED, FACE, 0);
    assert_int_equal(issue(W.tok_b, "idem-1", tpl_b, "c-b1", v2, &res), VC_GRPC_OK);
    assert_string_not_equal(v1, v2);
    free(tpl);
    free(tpl_b);
}

static int update_template(const char *tok, const char *tpl, const char *etag, const char *name)
{
    Reseller__V1__UpdateTemplateRequest req = RESELLER__V1__UPDATE_TEMPLATE_REQUEST__INIT;
    Reseller__V1__Template t = RESELLER__V1__TEMPLATE__INIT;
    Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    char *paths[] = {"name"};
    t.template_id = (char *)tpl;
    t.etag = (char *)etag;
    t.name = (char *)name;
    mask.paths = paths;
    mask.n_paths = 1;
    req.template_ = &t;
    req.update_mask = &mask;
    vc_rpc_result res;
    return CALL(tok, "/reseller.v1.TemplateService/UpdateTemplate", req, update_template_response,
                NULL, &res);
}

typedef struct editor {
    const char *tpl;
    int succeeded_version; /* highest version this editor produced */
} editor;

static void *edit_racer(void *p)
{
    editor *e = p;
    for (int v = 1; v < 40; v++) {
        char etag[16], name[32];
        snprintf(etag, sizeof(etag), "%d", v);
        snprintf(name, sizeof(name), "edit %d", v);
        if (update_template(W.tok_a, e->tpl, etag, name) == VC_GRPC_OK)
            e->succeeded_version = v + 1;
    }
    return NULL;
}

static void test_template_locked_after_issue_even_when_racing(void **state)
{
    (void)state;
    char *tpl = make_template(W.tok_a, RESELLER__V1__FUNDING__FUNDING_RESELLER_FUNDED, FACE, 0);
    editor e = {.tpl = tpl};
    pthread_t th;
    pthread_create(&th, NULL, edit_racer, &e);
    usleep(2000);
    char v[48];
    vc_rpc_result res;
    assert_int_equal(issue(W.tok_a, "lock-1", tpl, "c-a1", v, &res), VC_GRPC_OK);
    pthread_join(th, NULL);
    /* No edit may have committed after the issue: the voucher copied the newest version. */
    char sql[1024];
    snprintf(sql, sizeof(sql), "SELECT template_version FROM vouchers WHERE voucher_id = '%s'", v);
    int64_t copied = th_query_i64(&W.s, sql);
    snprintf(sql, sizeof(sql), "SELECT version FROM templates WHERE template_id = '%s'", tpl);
    assert_int_equal(th_query_i64(&W.s, sql), copied);
    assert_true(e.succeeded_version <= copied);
    char etag[16];
    snprintf(etag, sizeof(etag), "%lld", (long long)copied);
    assert_int_equal(update_template(W.tok_a, tpl, etag, "too late"), VC_GRPC_FAILED_PRECONDITION);
    free(tpl);
}

static void test_cancel_returns_quota_once(void **state)
{
    (void)state;
    char *tpl = make_template(W.tok_a, RESELLER__V1__FUNDING__FUNDING_PROVIDER_FUNDED, FACE, 0);
    grant("r-a", FACE);
    int64_t before = remaining("r-a");
    char v[48];
    vc_rpc_result res;
    assert_int_equal(issue(W.tok_a, "cancel-1", tpl, "c-a1", v, &res), VC_GRPC_OK);
    assert_int_equal(remaining("r-a"), before - FACE);

    Reseller__V1__CancelReviewRequest req = RESELLER__V1__CANCEL_REVIEW_REQUEST__INIT;
    req.voucher_id = v;
    Reseller__V1__CancelReviewResponse *resp = NULL;
    assert_int_equal(CALL(W.tok_a, "/reseller.v1.VoucherService/CancelReview", req,
                          cancel_review_response, &resp, &res),
                     VC_GRPC_OK);
    /* Until approval-svc confirms, the voucher is CANCELLING and the quota still consumed. */
    assert_int_equal(resp->voucher->status, RESELLER__V1__VOUCHER_STATUS__VOUCHER_STATUS_CANCELLING);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    assert_int_equal(remaining("r-a"), before - FACE);
    assert_int_equal(th_query_i64(&W.s, "SELECT COUNT(*) FROM outbox WHERE topic LIKE '%CancelReview'"), 1);
    /* Another reseller cannot cancel it, or even see it. */
    assert_int_equal(CALL(W.tok_b, "/reseller.v1.VoucherService/CancelReview", req,
                          cancel_review_response, NULL, &res),
                     VC_GRPC_NOT_FOUND);

    assert_false(decide("msg-cancel-1", "r-a", v,
                        RESELLER__V1__REVIEW_OUTCOME__REVIEW_OUTCOME_CANCELLED));
    assert_int_equal(voucher_status(W.tok_a, v, NULL),
                     RESELLER__V1__VOUCHER_STATUS__VOUCHER_STATUS_CANCELLED);
    assert_int_equal(remaining("r-a"), before);
    /* The same callback again, or the outcome under another message id: nothing moves. */
    assert_true(decide("msg-cancel-1", "r-a", v,
                       RESELLER__V1__REVIEW_OUTCOME__REVIEW_OUTCOME_CANCELLED));
    assert_true(decide("msg-cancel-2", "r-a", v,
                       RESELLER__V1__REVIEW_OUTCOME__REVIEW_OUTCOME_CANCELLED));
    assert_true(decide("msg-cancel-3", "r-a", v,
                       RESELLER__V1__REVIEW_OUTCOME__REVIEW_OUTCOME_REJECTED));
    assert_int_equal(remaining("r-a"), before);
    /* A cancelled voucher cannot be cancelled into anything else. */
    assert_int_equal(CALL(W.tok_a, "/reseller.v1.VoucherService/CancelReview", req,
                          cancel_review_response, NULL, &res),
                     VC_GRPC_OK);
    free(tpl);
}

static void test_reject_returns_and_approve_activates(void **state)
{
    (void)state;
    char *tpl = make_template(W.tok_a, RESELLER__V1__FUNDING__FUNDING_PROVIDER_FUNDED, FACE, 0);
    grant("r-a", 2 * FACE);
    int64_t before = remaining("r-a");
    char v1[48], v2[48];
    vc_rpc_result res;
    assert_int_equal(issue(W.tok_a, "rej-1", tpl, "c-a1", v1, &res), VC_GRPC_OK);
    assert_int_equal(issue(W.tok_a, "app-1", tpl, "c-a1", v2, &res), VC_GRPC_OK);
    decide("msg-rej-1", "r-a", v1, RESELLER__V1__REVIEW_OUTCOME__REVIEW_OUTCOME_REJECTED);
    decide("msg-app-1", "r-a", v2, RESELLER__V1__REVIEW_OUTCOME__REVIEW_OUTCOME_APPROVED);
    assert_int_equal(voucher_status(W.tok_a, v1, NULL),
                     RESELLER__V1__VOUCHER_STATUS__VOUCHER_STATUS_REJECTED);
    assert_int_equal(voucher_status(W.tok_a, v2, NULL),
                     RESELLER__V1__VOUCHER_STATUS__VOUCHER_STATUS_ACTIVE);
    assert_int_equal(remaining("r-a"), before - FACE);
    /* Staff decided first: the reseller's later cancel is refused. */
    Reseller__V1__CancelReviewRequest req = RESELLER__V1__CANCEL_REVIEW_REQUEST__INIT;
    req.voucher_id = v2;
    assert_int_equal(CALL(W.tok_a, "/reseller.v1.VoucherService/CancelReview", req,
                          cancel_review_response, NULL, &res),
                     VC_GRPC_FAILED_PRECONDITION);
    free(tpl);
}

static int withdraw(const char *tok, const char *v, vc_rpc_result *res)
{
    Reseller__V1__WithdrawVoucherRequest req = RESELLER__V1__WITHDRAW_VOUCHER_REQUEST__INIT;
    req.voucher_id = (char *)v;
    req.reason = "issued by mistake";
    return CALL(tok, "/reseller.v1.VoucherService/WithdrawVoucher", req,
                withdraw_voucher_response, NULL, res);
}

static void test_withdraw_returns_once_and_refuses_used(void **state)
{
    (void)state;
    char *tpl = make_template(W.tok_a, RESELLER__V1__FUNDING__FUNDING_PROVIDER_FUNDED, FACE, 0);
    grant("r-a", 2 * FACE);
    int64_t before = remaining("r-a");
    char v1[48], v2[48];
    vc_rpc_result res;
    assert_int_equal(issue(W.tok_a, "wd-1", tpl, "c-a1", v1, &res), VC_GRPC_OK);
    assert_int_equal(issue(W.tok_a, "wd-2", tpl, "c-a1", v2, &res), VC_GRPC_OK);
    /* Not active yet: cannot withdraw. */
    assert_int_equal(withdraw(W.tok_a, v1, &res), VC_GRPC_FAILED_PRECONDITION);
    decide("msg-wd-1", "r-a", v1, RESELLER__V1__REVIEW_OUTCOME__REVIEW_OUTCOME_APPROVED);
    decide("msg-wd-2", "r-a", v2, RESELLER__V1__REVIEW_OUTCOME__REVIEW_OUTCOME_APPROVED);
    assert_int_equal(withdraw(W.tok_b, v1, &res), VC_GRPC_NOT_FOUND);
    assert_int_equal(withdraw(W.tok_a, v1, &res), VC_GRPC_OK);
    assert_int_equal(remaining("r-a"), before - FACE);
    assert_int_equal(withdraw(W.tok_a, v1, &res), VC_GRPC_OK); /* retry: same answer */
    assert_int_equal(remaining("r-a"), before - FACE);
    assert_int_equal(voucher_status(W.tok_a, v1, NULL),
                     RESELLER__V1__VOUCHER_STATUS__VOUCHER_STATUS_WITHDRAWN);
    /* A customer used v2 (the wallet is another area; mark it as the wallet will). */
    use_voucher(v2, 1);
    assert_int_equal(withdraw(W.tok_a, v2, &res), VC_GRPC_FAILED_PRECONDITION);
    assert_non_null(strstr(res.message, "used"));
    assert_int_equal(remaining("r-a"), before - FACE);
    free(tpl);
}

static void test_expiry_returns_unused_once_with_two_sweepers(void **state)
{
    (void)state;
    enum { N = 12 };
    /* A second reseller-svc on the same database: two sweepers race for the same vouchers. */
    static const char *const flags[] = {"--expiry-interval-ms=150", "--expiry-batch=5", NULL};
    th_svc replica;
    th_start_replica(&replica, &W.s, "VC_TEST_RESELLER_BIN", flags);
    char *tpl = make_template(W.tok_a, RESELLER__V1__FUNDING__FUNDING_PROVIDER_FUNDED, FACE, 3);
    grant("r-a", (int64_t)N * FACE);
    int64_t before = remaining("r-a");
    char v[N][48];
    for (int i = 0; i < N; i++) {
        char rid[32], msg[32];
        snprintf(rid, sizeof(rid), "exp-%d", i);
        snprintf(msg, sizeof(msg), "msg-exp-%d", i);
        vc_rpc_result res;
        assert_int_equal(issue(W.tok_a, rid, tpl, "c-a2", v[i], &res), VC_GRPC_OK);
        decide(msg, "r-a", v[i], RESELLER__V1__REVIEW_OUTCOME__REVIEW_OUTCOME_APPROVED);
    }
    /* Half of them partly used: only the unused balance comes back. */
    for (int i = 0; i < N; i += 2)
        use_voucher(v[i], 2500);
    assert_int_equal(remaining("r-a"), before - (int64_t)N * FACE);
    /* The window ends ~3 s after creation; both sweepers run every 150-200 ms. */
    int expired = 0;
    for (int i = 0; i < 100 && expired < N; i++) {
        usleep(100 * 1000);
        expired = (int)th_query_i64(&W.s, "SELECT COUNT(*) FROM vouchers WHERE status = 7 AND "
                                          "issue_request_id LIKE 'exp-%'");
    }
    assert_int_equal(expired, N);
    usleep(500 * 1000); /* more sweeps: nothing may move again */
    int64_t unused = (int64_t)N * FACE - (N / 2) * 2500;
    assert_int_equal(remaining("r-a"), before - (int64_t)N * FACE + unused);
    assert_int_equal(th_query_i64(&W.s, "SELECT COUNT(*) FROM ledger_entries WHERE idem_ref LIKE "
                                        "'expire:%'"),
                     N);
    th_stop(&replica);
    th_assert_ledger_clean(&W.s);
    free(tpl);
}

static void test_list_summary_and_isolation(void **state)
{
    (void)state;
    /* Page through r-a's vouchers: each exactly once, newest first, none of r-b's. */
    size_t n_seen = 0;
    char token[256] = "";
    int pages = 0;
    do {
        Reseller__V1__ListVouchersRequest req = RESELLER__V1__LIST_VOUCHERS_REQUEST__INIT;
        req.page_size = 7;
        req.page_token = token;
        Reseller__V1__ListVouchersResponse *resp = NULL;
        vc_rpc_result res;
        assert_int_equal(CALL(W.tok_a, "/reseller.v1.VoucherService/ListVouchers", req,
                              list_vouchers_response, &resp, &res),
                         VC_GRPC_OK);
        for (size_t i = 0; i < resp->n_vouchers; i++) {
            assert_string_equal(resp->vouchers[i]->reseller_id, "r-a");
            assert_non_null(resp->vouchers[i]->review);
            n_seen++;
        }
        snprintf(token, sizeof(token), "%s", resp->next_page_token);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        pages++;
    } while (token[0] && pages < 100);
    assert_int_equal((int64_t)n_seen,
                     th_query_i64(&W.s, "SELECT COUNT(*) FROM vouchers WHERE reseller_id = 'r-a'"));
    /* Filter by status. */
    Reseller__V1__ListVouchersRequest f = RESELLER__V1__LIST_VOUCHERS_REQUEST__INIT;
    Reseller__V1__VoucherStatus st[] = {RESELLER__V1__VOUCHER_STATUS__VOUCHER_STATUS_EXPIRED};
    f.statuses = st;
    f.n_statuses = 1;
    f.page_size = 1000;
    Reseller__V1__ListVouchersResponse *lr = NULL;
    vc_rpc_result res;
    assert_int_equal(CALL(W.tok_a, "/reseller.v1.VoucherService/ListVouchers", f,
                          list_vouchers_response, &lr, &res),
                     VC_GRPC_OK);
    for (size_t i = 0; i < lr->n_vouchers; i++)
        assert_int_equal(lr->vouchers[i]->status, RESELLER__V1__VOUCHER_STATUS__VOUCHER_STATUS_EXPIRED);
    assert_int_equal((int64_t)lr->n_vouchers,
                     th_query_i64(&W.s, "SELECT COUNT(*) FROM vouchers WHERE reseller_id = 'r-a' "
                                        "AND status = 7"));
    protobuf_c_message_free_unpacked(&lr->base, NULL);
    /* r-b sees only its own. */
    Reseller__V1__ListVouchersRequest all = RESELLER__V1__LIST_VOUCHERS_REQUEST__INIT;
    assert_int_equal(CALL(W.tok_b, "/reseller.v1.VoucherService/ListVouchers", all,
                          list_vouchers_response, &lr, &res),
                     VC_GRPC_OK);
    for (size_t i = 0; i < lr->n_vouchers; i++)
        assert_string_equal(lr->vouchers[i]->reseller_id, "r-b");
    protobuf_c_message_free_unpacked(&lr->base, NULL);
    /* Summary: issued excludes rejected/cancelled/withdrawn; remaining is the ledger's. */
    Reseller__V1__GetIssuanceSummaryRequest sreq = RESELLER__V1__GET_ISSUANCE_SUMMARY_REQUEST__INIT;
    Reseller__V1__GetIssuanceSummaryResponse *sr = NULL;
    assert_int_equal(CALL(W.tok_a, "/reseller.v1.VoucherService/GetIssuanceSummary", sreq,
                          get_issuance_summary_response, &sr, &res),
                     VC_GRPC_OK);
    assert_int_equal(sr->issued_amount_minor,
                     th_query_i64(&W.s, "SELECT SUM(face_value_minor) FROM vouchers WHERE "
                                        "reseller_id = 'r-a' AND status NOT IN (3, 4, 6)"));
    assert_int_equal(sr->quota_remaining_minor, remaining("r-a"));
    assert_string_equal(sr->currency_code, "CNY");
    protobuf_c_message_free_unpacked(&sr->base, NULL);
}

static void test_bad_input_and_roles(void **state)
{
    (void)state;
    int64_t vouchers = th_query_i64(&W.s, "SELECT COUNT(*) FROM vouchers");
    vc_rpc_result res;
    char *tpl = make_template(W.tok_a, RESELLER__V1__FUNDING__FUNDING_RESELLER_FUNDED, FACE, 0);
    assert_int_equal(issue(W.tok_a, "", tpl, "c-a1", NULL, &res), VC_GRPC_INVALID_ARGUMENT);
    assert_string_equal(res.fields, "request_id");
    assert_int_equal(issue(W.tok_a, "bad-1", "", "c-a1", NULL, &res), VC_GRPC_INVALID_ARGUMENT);
    assert_string_equal(res.fields, "template_id");
    assert_int_equal(issue(W.tok_a, "bad-1", tpl, "no spaces", NULL, &res),
                     VC_GRPC_INVALID_ARGUMENT);
    assert_string_equal(res.fields, "customer_id");
    /* Unknown or foreign customer / template: NOT_FOUND. */
    assert_int_equal(issue(W.tok_a, "bad-2", tpl, "c-b1", NULL, &res), VC_GRPC_NOT_FOUND);
    assert_int_equal(issue(W.tok_b, "bad-3", tpl, "c-b1", NULL, &res), VC_GRPC_NOT_FOUND);
    /* Roles: customers, billing and staff do not issue. */
    assert_int_equal(issue(W.tok_customer, "bad-4", tpl, "c-a1", NULL, &res),
                     VC_GRPC_PERMISSION_DENIED);
    assert_int_equal(issue(W.tok_service, "bad-5", tpl, "c-a1", NULL, &res),
                     VC_GRPC_PERMISSION_DENIED);
    assert_int_equal(th_query_i64(&W.s, "SELECT COUNT(*) FROM vouchers"), vouchers);

    /* Batch: per-item results, bad list refused whole. */
    Reseller__V1__BatchIssueVouchersRequest b = RESELLER__V1__BATCH_ISSUE_VOUCHERS_REQUEST__INIT;
    char *dup[] = {"c-a1", "c-a1"};
    b.request_id = "batch-bad";
    b.template_id = tpl;
    b.customer_ids = dup;
    b.n_customer_ids = 2;
    assert_int_equal(CALL(W.tok_a, "/reseller.v1.VoucherService/BatchIssueVouchers", b,
                          batch_issue_vouchers_response, NULL, &res),
                     VC_GRPC_INVALID_ARGUMENT);
    assert_string_equal(res.fields, "customer_ids[1]");
    char *mixed[] = {"c-a1", "c-b1", "c-a2"};
    b.request_id = "batch-1";
    b.customer_ids = mixed;
    b.n_customer_ids = 3;
    Reseller__V1__BatchIssueVouchersResponse *br = NULL;
    assert_int_equal(CALL(W.tok_a, "/reseller.v1.VoucherService/BatchIssueVouchers", b,
                          batch_issue_vouchers_response, &br, &res),
                     VC_GRPC_OK);
    assert_int_equal(br->succeeded_count, 2);
    assert_int_equal(br->failed_count, 1);
    assert_int_equal(br->results[1]->code, VC_GRPC_NOT_FOUND);
    char first[48];
    snprintf(first, sizeof(first), "%s", br->results[0]->voucher->voucher_id);
    protobuf_c_message_free_unpacked(&br->base, NULL);
    /* Retried batch: the same vouchers, nothing new. */
    assert_int_equal(CALL(W.tok_a, "/reseller.v1.VoucherService/BatchIssueVouchers", b,
                          batch_issue_vouchers_response, &br, &res),
                     VC_GRPC_OK);
    assert_string_equal(br->results[0]->voucher->voucher_id, first);
    protobuf_c_message_free_unpacked(&br->base, NULL);
    assert_int_equal(th_query_i64(&W.s, "SELECT COUNT(*) FROM vouchers"), vouchers + 2);

    /* Get/Cancel/Withdraw/List input checks. */
    Reseller__V1__GetVoucherRequest g = RESELLER__V1__GET_VOUCHER_REQUEST__INIT;
    g.voucher_id = "";
    assert_int_equal(CALL(W.tok_a, "/reseller.v1.VoucherService/GetVoucher", g,
                          get_voucher_response, NULL, &res),
                     VC_GRPC_INVALID_ARGUMENT);
    assert_string_equal(res.fields, "voucher_id");
    g.voucher_id = first;
    assert_int_equal(CALL(W.tok_b, "/reseller.v1.VoucherService/GetVoucher", g,
                          get_voucher_response, NULL, &res),
                     VC_GRPC_NOT_FOUND);
    assert_int_equal(withdraw(W.tok_a, "", &res), VC_GRPC_INVALID_ARGUMENT);
    Reseller__V1__ListVouchersRequest l = RESELLER__V1__LIST_VOUCHERS_REQUEST__INIT;
    l.page_size = 5000;
    assert_int_equal(CALL(W.tok_a, "/reseller.v1.VoucherService/ListVouchers", l,
                          list_vouchers_response, NULL, &res),
                     VC_GRPC_INVALID_ARGUMENT);
    assert_string_equal(res.fields, "page_size");
    l.page_size = 0;
    l.page_token = "garbage!";
    assert_int_equal(CALL(W.tok_a, "/reseller.v1.VoucherService/ListVouchers", l,
                          list_vouchers_response, NULL, &res),
                     VC_GRPC_INVALID_ARGUMENT);
    assert_string_equal(res.fields, "page_token");
    /* The callback is the service role's only. */
    Reseller__V1__ReviewDecidedRequest d = RESELLER__V1__REVIEW_DECIDED_REQUEST__INIT;
    assert_int_equal(CALL(W.tok_a, "/reseller.v1.ReviewCallbackService/ReviewDecided", d,
                          review_decided_response, NULL, &res),
                     VC_GRPC_PERMISSION_DENIED);
    assert_int_equal(CALL(W.tok_service, "/reseller.v1.ReviewCallbackService/ReviewDecided", d,
                          review_decided_response, NULL, &res),
                     VC_GRPC_INVALID_ARGUMENT);
    assert_non_null(strstr(res.fields, "message_id"));
    free(tpl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_quota_no_issue),
        cmocka_unit_test(test_concurrent_issue_never_overspends),
        cmocka_unit_test(test_two_replicas_never_overspend),
        cmocka_unit_test(test_request_id_idempotent),
        cmocka_unit_test(test_template_locked_after_issue_even_when_racing),
        cmocka_unit_test(test_cancel_returns_quota_once),
        cmocka_unit_test(test_reject_returns_and_approve_activates),
        cmocka_unit_test(test_withdraw_returns_once_and_refuses_used),
        cmocka_unit_test(test_expiry_returns_unused_once_with_two_sweepers),
        cmocka_unit_test(test_list_summary_and_isolation),
        cmocka_unit_test(test_bad_input_and_roles),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
