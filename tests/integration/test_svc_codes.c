/*
 * Paper vouchers through real gRPC against a real reseller-svc and MariaDB (SPEC §5):
 * CreateRedeemCodes (provider-funded: quota consumed, review, ACTIVE after ReviewDecided;
 * reseller-funded: ACTIVE at once; idempotent with the same codes; bad input names the field and
 * writes nothing; foreign templates are NOT_FOUND) and RedeemCode (success and its idempotent
 * retry, wrong check digit, unknown, used, another reseller's customer, permissions, 16 racing
 * customers get one voucher, throttling after 5 wrong codes), batch expiry returning the
 * unredeemed quota once with two replicas sweeping, and rejected batches returning their quota.
 * The invariant scripts run after every scenario.
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

#include "approval/v1/review_service.pb-c.h"
#include "approval/v1/staff_service.pb-c.h"
#include "base/vc_code.h"
#include "base/vc_time.h"
#include "harness.h"
#include "reseller/v1/customer_service.pb-c.h"
#include "reseller/v1/review_callback_service.pb-c.h"
#include "reseller/v1/template_service.pb-c.h"
#include "reseller/v1/voucher_service.pb-c.h"
#include "reseller/v1/wallet_service.pb-c.h"

#define FACE      5000 /* 50.00 */
#define PROVIDER  RESELLER__V1__FUNDING__FUNDING_PROVIDER_FUNDED
#define RESELLER  RESELLER__V1__FUNDING__FUNDING_RESELLER_FUNDED
#define APPROVED  RESELLER__V1__REVIEW_OUTCOME__REVIEW_OUTCOME_APPROVED
#define REJECTED  RESELLER__V1__REVIEW_OUTCOME__REVIEW_OUTCOME_REJECTED
#define CANCELLED RESELLER__V1__REVIEW_OUTCOME__REVIEW_OUTCOME_CANCELLED
#define RACERS    16

typedef struct world {
    th_svc s;
    char *tok_a, *tok_b, *tok_service;
} world;

static world W;
/* The reseller-svc the helpers talk to: W.s, or the round trip's own instance. */
static th_svc *S = &W.s;

#define CALL(tok, path, req, rtype, resp, res)                                                     \
    th_call(S, tok, path, &(req).base, &reseller__v1__##rtype##__descriptor,                       \
            (ProtobufCMessage **)(resp), res)

/* A batch as the tests keep it: id and its plain codes. */
typedef struct batch {
    char id[48];
    int n;
    char codes[8][VC_CODE_LEN + 1];
} batch;

static void make_customer(const char *tok, const char *id)
{
    Reseller__V1__CreateCustomerRequest req = RESELLER__V1__CREATE_CUSTOMER_REQUEST__INIT;
    Reseller__V1__Customer c = RESELLER__V1__CUSTOMER__INIT;
    c.customer_id = (char *)id;
    c.name = "Customer";
    req.customer = &c;
    vc_rpc_result res;
    if (CALL(tok, "/reseller.v1.CustomerService/CreateCustomer", req, create_customer_response,
             NULL, &res) != VC_GRPC_OK)
        fail_msg("CreateCustomer %s: %d %s", id, res.code, res.message);
}

/* A customer token: owner, or a collaborator with or without the finance permission. */
static char *customer_token(const char *reseller, const char *customer, bool owner, bool finance)
{
    return th_token(S, VC_ROLE_CUSTOMER, customer, reseller, customer, owner, finance);
}

/* A template; window_s > 0 makes a fixed window ending that many seconds from now. */
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
    t.name = "Paper promotion";
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
    if (res.code != VC_GRPC_OK) fail_msg("CreateTemplate: %d %s", res.code, res.message);
    char *id = strdup(resp->template_->template_id);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return id;
}

/* A direct quota grant, delivered as approval-svc delivers it (service token `tok`). */
static void grant_by(const char *tok, const char *reseller, int64_t amount)
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
    req.outcome = APPROVED;
    req.reason = "test grant";
    req.decided_by = "staff@provider";
    req.granted_amount_minor = amount;
    req.direct_grant = true;
    vc_rpc_result res;
    assert_int_equal(CALL(tok, "/reseller.v1.ReviewCallbackService/ReviewDecided", req,
                          review_decided_response, NULL, &res),
                     VC_GRPC_OK);
}

static void grant(const char *reseller, int64_t amount)
{
    grant_by(W.tok_service, reseller, amount);
}

/* Delivers a review outcome for a batch (subject VOUCHER_ISSUANCE); returns already_applied. */
static bool decide(const char *msg_id, const char *reseller, const char *batch_id, int outcome)
{
    Reseller__V1__ReviewDecidedRequest req = RESELLER__V1__REVIEW_DECIDED_REQUEST__INIT;
    req.message_id = (char *)msg_id;
    req.ticket_id = "tkt-codes";
    req.subject_type = RESELLER__V1__REVIEW_SUBJECT_TYPE__REVIEW_SUBJECT_TYPE_VOUCHER_ISSUANCE;
    req.subject_id = (char *)batch_id;
    req.reseller_id = (char *)reseller;
    req.outcome = outcome;
    req.reason = "reviewed";
    req.decided_by = "staff@provider";
    Reseller__V1__ReviewDecidedResponse *resp = NULL;
    vc_rpc_result res;
    CALL(W.tok_service, "/reseller.v1.ReviewCallbackService/ReviewDecided", req,
         review_decided_response, &resp, &res);
    if (res.code != VC_GRPC_OK) fail_msg("ReviewDecided: %d %s", res.code, res.message);
    bool already = resp->already_applied;
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return already;
}

/* CreateRedeemCodes with redeem_expire_time expire_s seconds from now. */
static int create_codes_ex(const char *tok, const char *rid, const char *tpl, int count,
                           int64_t expire_s, const char *remarks, batch *out, vc_rpc_result *res)
{
    Reseller__V1__CreateRedeemCodesRequest req = RESELLER__V1__CREATE_REDEEM_CODES_REQUEST__INIT;
    Google__Protobuf__Timestamp exp = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    exp.seconds = vc_now_us() / 1000000 + expire_s;
    req.request_id = (char *)rid;
    req.template_id = (char *)tpl;
    req.count = count;
    req.redeem_expire_time = &exp;
    req.remarks = (char *)remarks;
    Reseller__V1__CreateRedeemCodesResponse *resp = NULL;
    CALL(tok, "/reseller.v1.VoucherService/CreateRedeemCodes", req, create_redeem_codes_response,
         &resp, res);
    if (resp) {
        if (out) {
            memset(out, 0, sizeof(*out));
            assert_non_null(resp->batch);
            snprintf(out->id, sizeof(out->id), "%s", resp->batch->batch_id);
            assert_int_equal(resp->n_codes, (size_t)count);
            assert_int_equal(resp->batch->count, count);
            out->n = count < 8 ? count : 8;
            for (int i = 0; i < out->n; i++)
                snprintf(out->codes[i], sizeof(out->codes[i]), "%s", resp->codes[i]);
        }
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    }
    return res->code;
}

static void create_codes(const char *tok, const char *rid, const char *tpl, int count, batch *out)
{
    vc_rpc_result res;
    if (create_codes_ex(tok, rid, tpl, count, 30 * 86400, "", out, &res) != VC_GRPC_OK)
        fail_msg("CreateRedeemCodes %s: %d %s", rid, res.code, res.message);
}

/* RedeemCode; voucher_out (48 bytes, may be NULL) gets the voucher id on success. */
static int redeem(const char *tok, const char *code, char *voucher_out, vc_rpc_result *res)
{
    Reseller__V1__RedeemCodeRequest req = RESELLER__V1__REDEEM_CODE_REQUEST__INIT;
    req.code = (char *)code;
    Reseller__V1__RedeemCodeResponse *resp = NULL;
    CALL(tok, "/reseller.v1.WalletService/RedeemCode", req, redeem_code_response, &resp, res);
    if (res->code == VC_GRPC_UNIMPLEMENTED)
        fail_msg("WalletService.RedeemCode is not wired to rs_redeem_code (codes.h)");
    if (resp) {
        if (res->code == VC_GRPC_OK) {
            assert_non_null(resp->voucher);
            assert_int_equal(resp->voucher->status,
                             RESELLER__V1__USAGE_STATUS__USAGE_STATUS_AVAILABLE);
            if (voucher_out) snprintf(voucher_out, 48, "%s", resp->voucher->voucher_id);
        }
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    }
    return res->code;
}

static int64_t q(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int64_t q(const char *fmt, ...)
{
    char sql[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    return th_query_i64(S, sql);
}

static int64_t remaining(const char *reseller)
{
    return q("SELECT COALESCE(SUM(balance_minor), 0) FROM ledger_accounts WHERE reseller_id = "
             "'%s' AND account = 1",
             reseller);
}

static int64_t own_cost(const char *reseller)
{
    return q("SELECT own_cost_issued_minor FROM resellers WHERE reseller_id = '%s'", reseller);
}

static int64_t batch_state(const char *id)
{
    return q("SELECT state FROM redeem_batches WHERE batch_id = '%s'", id);
}

/* The code with its last digit changed: a wrong check digit. */
static void mistype(const char *code, char out[VC_CODE_LEN + 1])
{
    memcpy(out, code, VC_CODE_LEN + 1);
    out[VC_CODE_LEN - 1] = (char)('0' + (code[VC_CODE_LEN - 1] - '0' + 1) % 10);
}

/* A well-formed code (right check digit) that no batch holds. */
static void unknown_code(char out[VC_CODE_LEN + 1])
{
    assert_int_equal(vc_code_generate(out), 0);
}

static int group_setup(void **state)
{
    (void)state;
    /* Review submissions go nowhere: outcomes are delivered by the tests as approval-svc would. */
    static char approval[64];
    snprintf(approval, sizeof(approval), "--approval-addr=127.0.0.1:%d", th_free_port());
    static const char *flags[] = {"--expiry-interval-ms=200", approval, NULL};
    th_start(&W.s, "VC_TEST_RESELLER_BIN", "codes", flags);
    W.tok_a = th_token(&W.s, VC_ROLE_RESELLER, "op@r-a", "r-a", NULL, false, false);
    W.tok_b = th_token(&W.s, VC_ROLE_RESELLER, "op@r-b", "r-b", NULL, false, false);
    W.tok_service = th_token(&W.s, VC_ROLE_SERVICE, "approval-svc", NULL, NULL, false, false);
    static const char *const a_customers[] = {"c-a1", "c-a2", "c-a3", "c-a4", "c-a5",
                                              "c-a6", "c-a7", "c-t1", "c-t2"};
    for (size_t i = 0; i < sizeof(a_customers) / sizeof(a_customers[0]); i++)
        make_customer(W.tok_a, a_customers[i]);
    for (int i = 0; i < RACERS; i++) {
        char id[32];
        snprintf(id, sizeof(id), "c-r%d", i);
        make_customer(W.tok_a, id);
    }
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
    return 0;
}

/* ---- tests ----------------------------------------------------------------------------------- */

static void test_provider_batch_reviewed_then_redeemed(void **state)
{
    (void)state;
    char *tpl = make_template(W.tok_a, PROVIDER, FACE, 0);
    grant("r-a", 10 * FACE);
    int64_t before = remaining("r-a");
    int64_t outbox_before = q("SELECT COUNT(*) FROM outbox WHERE topic LIKE '%%SubmitReview'");
    batch b;
    create_codes(W.tok_a, "prov-1", tpl, 3, &b);
    assert_memory_equal(b.id, "rcb_", 4);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(strlen(b.codes[i]), VC_CODE_LEN);
        assert_true(vc_code_valid(b.codes[i]));
        for (int j = 0; j < i; j++)
            assert_string_not_equal(b.codes[i], b.codes[j]);
        /* Only the hash is stored. */
        assert_int_equal(q("SELECT COUNT(*) FROM redeem_codes WHERE code_hash = SHA2('%s', 256) "
                           "AND batch_id = '%s'",
                           b.codes[i], b.id),
                         1);
        assert_int_equal(
            q("SELECT COUNT(*) FROM redeem_codes WHERE code_hash LIKE '%%%s%%'", b.codes[i]), 0);
    }
    /* Quota: one CONSUME of count x face referencing the batch; review submitted; pending. */
    assert_int_equal(remaining("r-a"), before - 3 * FACE);
    assert_int_equal(q("SELECT -amount_minor FROM ledger_entries WHERE idem_ref = 'batch:%s' AND "
                       "reference_type = 2 AND reference_id = '%s' AND kind = 2",
                       b.id, b.id),
                     3 * FACE);
    assert_int_equal(q("SELECT COUNT(*) FROM outbox WHERE topic LIKE '%%SubmitReview'"),
                     outbox_before + 1);
    assert_int_equal(batch_state(b.id), 1);
    assert_int_equal(q("SELECT issued_count FROM templates WHERE template_id = '%s'", tpl), 3);

    char *owner = customer_token("r-a", "c-a1", true, false);
    char *finance = customer_token("r-a", "c-a2", false, true);
    vc_rpc_result res;
    assert_int_equal(redeem(owner, b.codes[0], NULL, &res), VC_GRPC_FAILED_PRECONDITION);
    assert_non_null(strstr(res.message, "review"));

    /* Approved through the callback (service token): ACTIVE; the same outcome again is a no-op. */
    assert_false(decide("msg-prov-1", "r-a", b.id, APPROVED));
    assert_int_equal(batch_state(b.id), 2);
    assert_true(decide("msg-prov-1", "r-a", b.id, APPROVED));
    assert_true(decide("msg-prov-1b", "r-a", b.id, REJECTED)); /* decided: the first stands */
    assert_int_equal(batch_state(b.id), 2);
    assert_int_equal(remaining("r-a"), before - 3 * FACE);

    char v1[48], v2[48];
    assert_int_equal(redeem(owner, b.codes[0], v1, &res), VC_GRPC_OK);
    assert_int_equal(q("SELECT COUNT(*) FROM vouchers WHERE voucher_id = '%s' AND customer_id = "
                       "'c-a1' AND source = 2 AND redeem_batch_id = '%s' AND status = 5 AND "
                       "balance_minor = %d AND face_value_minor = %d AND expires_us > 0",
                       v1, b.id, FACE, FACE),
                     1);
    assert_int_equal(q("SELECT redeemed_count FROM redeem_batches WHERE batch_id = '%s'", b.id), 1);
    /* Redemption moves no quota: the batch paid for it. */
    assert_int_equal(remaining("r-a"), before - 3 * FACE);
    /* The same customer again (typed with dashes and spaces): the same voucher. */
    char typed[32];
    assert_int_equal(vc_code_format(b.codes[0], typed, sizeof(typed)), 0);
    memmove(typed + 4, typed + 3, strlen(typed + 3) + 1);
    typed[3] = ' '; /* "123 456-789012-345678" */
    assert_int_equal(redeem(owner, typed, v2, &res), VC_GRPC_OK);
    assert_string_equal(v1, v2);
    /* Anyone else: used. */
    assert_int_equal(redeem(finance, b.codes[0], NULL, &res), VC_GRPC_FAILED_PRECONDITION);
    assert_non_null(strstr(res.message, "already redeemed"));
    /* A finance collaborator may redeem another code. */
    assert_int_equal(redeem(finance, b.codes[1], v2, &res), VC_GRPC_OK);
    assert_string_not_equal(v1, v2);
    assert_int_equal(q("SELECT redeemed_count FROM redeem_batches WHERE batch_id = '%s'", b.id), 2);
    /* The reseller sees the redeemed voucher like an issued one. */
    Reseller__V1__GetVoucherRequest g = RESELLER__V1__GET_VOUCHER_REQUEST__INIT;
    g.voucher_id = v2;
    Reseller__V1__GetVoucherResponse *gr = NULL;
    assert_int_equal(
        CALL(W.tok_a, "/reseller.v1.VoucherService/GetVoucher", g, get_voucher_response, &gr, &res),
        VC_GRPC_OK);
    assert_int_equal(gr->voucher->source, RESELLER__V1__VOUCHER_SOURCE__VOUCHER_SOURCE_REDEEM_CODE);
    assert_string_equal(gr->voucher->customer_id, "c-a2");
    protobuf_c_message_free_unpacked(&gr->base, NULL);
    /* No wrong code was counted for these customers. */
    assert_int_equal(q("SELECT COALESCE(SUM(failures), 0) FROM redeem_failures WHERE customer_id "
                       "IN ('c-a1', 'c-a2')"),
                     0);
    th_assert_ledger_clean(&W.s);
    free(owner);
    free(finance);
    free(tpl);
}

static void test_reseller_funded_batch_active_at_once(void **state)
{
    (void)state;
    char *tpl = make_template(W.tok_a, RESELLER, FACE, 0);
    int64_t before = remaining("r-a"), cost = own_cost("r-a");
    int64_t outbox_before = q("SELECT COUNT(*) FROM outbox");
    batch b;
    create_codes(W.tok_a, "own-1", tpl, 4, &b);
    assert_int_equal(batch_state(b.id), 2);
    assert_int_equal(own_cost("r-a"), cost + 4 * FACE);
    assert_int_equal(remaining("r-a"), before);
    assert_int_equal(q("SELECT COUNT(*) FROM ledger_entries WHERE reference_id = '%s'", b.id), 0);
    assert_int_equal(q("SELECT COUNT(*) FROM outbox"), outbox_before);
    assert_int_equal(
        q("SELECT quota_consumed_minor FROM redeem_batches WHERE batch_id = '%s'", b.id), 0);
    char *owner = customer_token("r-a", "c-a3", true, false);
    vc_rpc_result res;
    char v[48];
    assert_int_equal(redeem(owner, b.codes[2], v, &res), VC_GRPC_OK);
    assert_int_equal(q("SELECT review_status FROM vouchers WHERE voucher_id = '%s'", v),
                     RESELLER__V1__REVIEW_STATUS__REVIEW_STATUS_NOT_REQUIRED);
    assert_int_equal(own_cost("r-a"), cost + 4 * FACE);
    free(owner);
    free(tpl);
}

static void test_create_is_idempotent_with_the_same_codes(void **state)
{
    (void)state;
    char *tpl = make_template(W.tok_a, PROVIDER, FACE, 0);
    grant("r-a", 5 * FACE);
    int64_t before = remaining("r-a");
    batch b1, b2;
    create_codes(W.tok_a, "idem-codes", tpl, 5, &b1);
    create_codes(W.tok_a, "idem-codes", tpl, 5, &b2);
    assert_string_equal(b1.id, b2.id);
    for (int i = 0; i < 5; i++)
        assert_string_equal(b1.codes[i], b2.codes[i]);
    assert_int_equal(remaining("r-a"), before - 5 * FACE);
    assert_int_equal(q("SELECT COUNT(*) FROM redeem_batches WHERE request_id = 'idem-codes'"), 1);
    assert_int_equal(q("SELECT COUNT(*) FROM redeem_codes WHERE batch_id = '%s'", b1.id), 5);
    /* Same id, other parameters: refused, nothing more written. */
    vc_rpc_result res;
    assert_int_equal(create_codes_ex(W.tok_a, "idem-codes", tpl, 4, 30 * 86400, "", NULL, &res),
                     VC_GRPC_ALREADY_EXISTS);
    assert_int_equal(remaining("r-a"), before - 5 * FACE);
    assert_int_equal(q("SELECT COUNT(*) FROM redeem_batches WHERE request_id = 'idem-codes'"), 1);
    /* Another reseller's same request id is its own. */
    char *tpl_b = make_template(W.tok_b, RESELLER, FACE, 0);
    batch bb;
    create_codes(W.tok_b, "idem-codes", tpl_b, 1, &bb);
    assert_string_not_equal(bb.id, b1.id);
    free(tpl_b);
    free(tpl);
}

static void test_redeem_refusals(void **state)
{
    (void)state;
    char *tpl = make_template(W.tok_a, RESELLER, FACE, 0);
    batch b;
    create_codes(W.tok_a, "refuse-1", tpl, 3, &b);
    vc_rpc_result res;
    char wrong[VC_CODE_LEN + 1], unknown[VC_CODE_LEN + 1];
    char *owner = customer_token("r-a", "c-a4", true, false);

    mistype(b.codes[0], wrong);
    assert_int_equal(redeem(owner, wrong, NULL, &res), VC_GRPC_INVALID_ARGUMENT);
    th_expect_invalid(res.code, &res, "code");
    assert_non_null(strstr(res.message, "check digit does not match: mistyped?"));
    assert_int_equal(redeem(owner, "12345678901234567", NULL, &res), VC_GRPC_INVALID_ARGUMENT);
    th_expect_invalid(res.code, &res, "code");
    assert_non_null(strstr(res.message, "must be 18 digits"));
    assert_int_equal(redeem(owner, "1234567890123456ab", NULL, &res), VC_GRPC_INVALID_ARGUMENT);
    assert_int_equal(redeem(owner, "", NULL, &res), VC_GRPC_INVALID_ARGUMENT);
    unknown_code(unknown);
    assert_int_equal(redeem(owner, unknown, NULL, &res), VC_GRPC_NOT_FOUND);
    /* Check digit and unknown count as wrong codes; a malformed input does not. */
    assert_int_equal(q("SELECT failures FROM redeem_failures WHERE customer_id = 'c-a4'"), 2);

    /* Another reseller's customer: NOT_FOUND, exactly like an unknown code. */
    char *foreign = customer_token("r-b", "c-b1", true, false);
    assert_int_equal(redeem(foreign, b.codes[0], NULL, &res), VC_GRPC_NOT_FOUND);
    assert_null(strstr(res.message, "r-a"));
    /* A collaborator without the finance permission, and other roles: PERMISSION_DENIED. */
    char *collab = customer_token("r-a", "c-a5", false, false);
    assert_int_equal(redeem(collab, b.codes[0], NULL, &res), VC_GRPC_PERMISSION_DENIED);
    assert_int_equal(redeem(W.tok_a, b.codes[0], NULL, &res), VC_GRPC_PERMISSION_DENIED);
    /* A token for an account that is not one of the reseller's customers. */
    char *stranger = customer_token("r-a", "c-nobody", true, false);
    assert_int_equal(redeem(stranger, b.codes[0], NULL, &res), VC_GRPC_PERMISSION_DENIED);
    /* None of that redeemed anything. */
    assert_int_equal(q("SELECT redeemed_count FROM redeem_batches WHERE batch_id = '%s'", b.id), 0);
    assert_int_equal(q("SELECT COUNT(*) FROM redeem_codes WHERE batch_id = '%s' AND voucher_id "
                       "IS NOT NULL",
                       b.id),
                     0);
    /* The owner still can. */
    assert_int_equal(redeem(owner, b.codes[0], NULL, &res), VC_GRPC_OK);
    free(owner);
    free(foreign);
    free(collab);
    free(stranger);
    free(tpl);
}

typedef struct racer {
    const char *code;
    int idx;
    int code_rc;
    char voucher[48];
} racer;

static void *redeem_racer(void *p)
{
    racer *r = p;
    char customer[32];
    snprintf(customer, sizeof(customer), "c-r%d", r->idx);
    char *tok = customer_token("r-a", customer, true, false);
    vc_rpc_result res;
    r->code_rc = redeem(tok, r->code, r->voucher, &res);
    free(tok);
    return NULL;
}

static void test_concurrent_redemption_gives_one_voucher(void **state)
{
    (void)state;
    char *tpl = make_template(W.tok_a, PROVIDER, FACE, 0);
    grant("r-a", 2 * FACE);
    batch b;
    create_codes(W.tok_a, "race-codes", tpl, 2, &b);
    decide("msg-race-codes", "r-a", b.id, APPROVED);
    pthread_t th[RACERS];
    racer r[RACERS];
    for (int i = 0; i < RACERS; i++) {
        r[i] = (racer){.code = b.codes[0], .idx = i, .code_rc = -1};
        pthread_create(&th[i], NULL, redeem_racer, &r[i]);
    }
    int ok = 0, used = 0, winner = -1;
    for (int i = 0; i < RACERS; i++) {
        pthread_join(th[i], NULL);
        if (r[i].code_rc == VC_GRPC_OK) {
            ok++;
            winner = i;
        } else if (r[i].code_rc == VC_GRPC_FAILED_PRECONDITION) {
            used++;
        } else {
            fail_msg("racer %d: unexpected code %d", i, r[i].code_rc);
        }
    }
    assert_int_equal(ok, 1);
    assert_int_equal(used, RACERS - 1);
    assert_int_equal(q("SELECT COUNT(*) FROM vouchers WHERE redeem_batch_id = '%s'", b.id), 1);
    assert_int_equal(q("SELECT redeemed_count FROM redeem_batches WHERE batch_id = '%s'", b.id), 1);
    char customer[32];
    snprintf(customer, sizeof(customer), "c-r%d", winner);
    assert_int_equal(q("SELECT COUNT(*) FROM vouchers WHERE voucher_id = '%s' AND customer_id = "
                       "'%s'",
                       r[winner].voucher, customer),
                     1);
    th_assert_ledger_clean(&W.s);
    free(tpl);
}

static void test_throttling_after_five_wrong_codes(void **state)
{
    (void)state;
    char *tpl = make_template(W.tok_a, RESELLER, FACE, 0);
    batch b;
    create_codes(W.tok_a, "throttle-1", tpl, 2, &b);
    char *tok = customer_token("r-a", "c-t1", true, false);
    char *other = customer_token("r-a", "c-t2", true, false);
    vc_rpc_result res;
    char wrong[VC_CODE_LEN + 1], unknown[VC_CODE_LEN + 1];
    for (int i = 0; i < 5; i++) {
        if (i % 2) {
            unknown_code(unknown);
            assert_int_equal(redeem(tok, unknown, NULL, &res), VC_GRPC_NOT_FOUND);
        } else {
            mistype(b.codes[0], wrong);
            assert_int_equal(redeem(tok, wrong, NULL, &res), VC_GRPC_INVALID_ARGUMENT);
        }
    }
    /* Beyond 5: refused without looking at the code, even a right one. */
    assert_int_equal(redeem(tok, b.codes[0], NULL, &res), VC_GRPC_RESOURCE_EXHAUSTED);
    assert_non_null(strstr(res.message, "too many wrong codes, try again later"));
    mistype(b.codes[0], wrong);
    assert_int_equal(redeem(tok, wrong, NULL, &res), VC_GRPC_RESOURCE_EXHAUSTED);
    assert_int_equal(q("SELECT failures FROM redeem_failures WHERE customer_id = 'c-t1'"), 5);
    assert_int_equal(q("SELECT COUNT(*) FROM redeem_codes WHERE batch_id = '%s' AND voucher_id "
                       "IS NOT NULL",
                       b.id),
                     0);
    /* Other customers are not affected. */
    assert_int_equal(redeem(other, b.codes[1], NULL, &res), VC_GRPC_OK);
    /* Once the 15-minute window has passed, the customer may try again. */
    th_exec(&W.s,
            "UPDATE redeem_failures SET window_start_us = window_start_us - 901000000 WHERE "
            "customer_id = 'c-t1'",
            VC_DB_NOARGS);
    assert_int_equal(redeem(tok, b.codes[0], NULL, &res), VC_GRPC_OK);
    assert_int_equal(q("SELECT failures FROM redeem_failures WHERE customer_id = 'c-t1'"), 0);
    free(tok);
    free(other);
    free(tpl);
}

static void test_expiry_returns_unredeemed_once_with_two_replicas(void **state)
{
    (void)state;
    static const char *const flags[] = {"--expiry-interval-ms=150", "--expiry-batch=1", NULL};
    th_svc replica;
    th_start_replica(&replica, &W.s, "VC_TEST_RESELLER_BIN", flags);
    char *tpl = make_template(W.tok_a, PROVIDER, FACE, 0);
    char *own_tpl = make_template(W.tok_a, RESELLER, FACE, 0);
    grant("r-a", 5 * FACE);
    int64_t before = remaining("r-a"), cost = own_cost("r-a");
    batch b, ob;
    vc_rpc_result res;
    assert_int_equal(create_codes_ex(W.tok_a, "exp-codes", tpl, 5, 4, "", &b, &res), VC_GRPC_OK);
    assert_int_equal(create_codes_ex(W.tok_a, "exp-own", own_tpl, 3, 4, "", &ob, &res), VC_GRPC_OK);
    decide("msg-exp-codes", "r-a", b.id, APPROVED);
    char *tok = customer_token("r-a", "c-a6", true, false);
    char v0[48], v1[48];
    assert_int_equal(redeem(tok, b.codes[0], v0, &res), VC_GRPC_OK);
    assert_int_equal(redeem(tok, b.codes[1], v1, &res), VC_GRPC_OK);
    assert_int_equal(redeem(tok, ob.codes[0], NULL, &res), VC_GRPC_OK);
    assert_int_equal(remaining("r-a"), before - 5 * FACE);
    assert_int_equal(own_cost("r-a"), cost + 3 * FACE);
    /* Both services sweep every 150-200 ms; the batches end 4 s after creation. */
    for (int i = 0; i < 100 && (batch_state(b.id) != 4 || batch_state(ob.id) != 4); i++)
        usleep(100 * 1000);
    assert_int_equal(batch_state(b.id), 4);
    assert_int_equal(batch_state(ob.id), 4);
    usleep(600 * 1000); /* more sweeps: nothing may move again */
    assert_int_equal(remaining("r-a"), before - 2 * FACE);
    assert_int_equal(q("SELECT COUNT(*) FROM ledger_entries WHERE idem_ref = 'expire:%s'", b.id),
                     1);
    assert_int_equal(
        q("SELECT amount_minor FROM ledger_entries WHERE idem_ref = 'expire:%s'", b.id), 3 * FACE);
    assert_int_equal(own_cost("r-a"), cost + FACE);
    /* A code of an expired batch cannot be redeemed. */
    assert_int_equal(redeem(tok, b.codes[2], NULL, &res), VC_GRPC_FAILED_PRECONDITION);
    assert_non_null(strstr(res.message, "expired"));
    /* Redeemed vouchers live on like issued ones: withdrawing an unused one returns its face. */
    Reseller__V1__WithdrawVoucherRequest w = RESELLER__V1__WITHDRAW_VOUCHER_REQUEST__INIT;
    w.voucher_id = v0;
    w.reason = "printed by mistake";
    assert_int_equal(CALL(W.tok_a, "/reseller.v1.VoucherService/WithdrawVoucher", w,
                          withdraw_voucher_response, NULL, &res),
                     VC_GRPC_OK);
    assert_int_equal(remaining("r-a"), before - FACE);
    th_stop(&replica);
    th_assert_ledger_clean(&W.s);
    free(tok);
    free(tpl);
    free(own_tpl);
}

static void test_rejected_or_cancelled_batch_returns_quota(void **state)
{
    (void)state;
    char *tpl = make_template(W.tok_a, PROVIDER, FACE, 0);
    grant("r-a", 5 * FACE);
    int64_t before = remaining("r-a");
    batch b, c;
    create_codes(W.tok_a, "reject-1", tpl, 3, &b);
    create_codes(W.tok_a, "cancel-1", tpl, 2, &c);
    assert_int_equal(remaining("r-a"), before - 5 * FACE);
    assert_false(decide("msg-reject-1", "r-a", b.id, REJECTED));
    assert_int_equal(batch_state(b.id), 3);
    assert_int_equal(remaining("r-a"), before - 2 * FACE);
    /* Redelivered, or a late approval: nothing moves again. */
    assert_true(decide("msg-reject-1", "r-a", b.id, REJECTED));
    assert_true(decide("msg-reject-1b", "r-a", b.id, APPROVED));
    assert_int_equal(batch_state(b.id), 3);
    assert_false(decide("msg-cancel-1", "r-a", c.id, CANCELLED));
    assert_int_equal(remaining("r-a"), before);
    assert_int_equal(q("SELECT COUNT(*) FROM ledger_entries WHERE idem_ref IN ('return:%s', "
                       "'return:%s')",
                       b.id, c.id),
                     2);
    char *tok = customer_token("r-a", "c-a7", true, false);
    vc_rpc_result res;
    assert_int_equal(redeem(tok, b.codes[0], NULL, &res), VC_GRPC_FAILED_PRECONDITION);
    assert_non_null(strstr(res.message, "rejected"));
    /* A batch of another reseller, or an unknown one, is not found by the callback. */
    Reseller__V1__ReviewDecidedRequest req = RESELLER__V1__REVIEW_DECIDED_REQUEST__INIT;
    req.message_id = "msg-reject-foreign";
    req.ticket_id = "tkt-x";
    req.subject_type = RESELLER__V1__REVIEW_SUBJECT_TYPE__REVIEW_SUBJECT_TYPE_VOUCHER_ISSUANCE;
    req.subject_id = c.id;
    req.reseller_id = "r-b";
    req.outcome = REJECTED;
    req.reason = "no";
    req.decided_by = "staff@provider";
    assert_int_equal(CALL(W.tok_service, "/reseller.v1.ReviewCallbackService/ReviewDecided", req,
                          review_decided_response, NULL, &res),
                     VC_GRPC_NOT_FOUND);
    th_assert_ledger_clean(&W.s);
    free(tok);
    free(tpl);
}

/* Nothing of a refused CreateRedeemCodes may be left behind. */
typedef struct footprint {
    int64_t batches, codes, entries, outbox, log, issued, remaining;
} footprint;

static void footprint_of(const char *tpl, footprint *f)
{
    f->batches = q("SELECT COUNT(*) FROM redeem_batches");
    f->codes = q("SELECT COUNT(*) FROM redeem_codes");
    f->entries = q("SELECT COUNT(*) FROM ledger_entries");
    f->outbox = q("SELECT COUNT(*) FROM outbox");
    f->log = q("SELECT COUNT(*) FROM request_log");
    f->issued = q("SELECT issued_count FROM templates WHERE template_id = '%s'", tpl);
    f->remaining = remaining("r-a");
}

static void assert_nothing_written(const char *tpl, const footprint *before)
{
    footprint now;
    footprint_of(tpl, &now);
    assert_memory_equal(&now, before, sizeof(now));
}

static void test_bad_input_writes_nothing(void **state)
{
    (void)state;
    char *tpl = make_template(W.tok_a, PROVIDER, FACE, 0);
    char *window_tpl = make_template(W.tok_a, PROVIDER, FACE, 3600);
    char *big_tpl = make_template(W.tok_a, PROVIDER, 100000000000LL, 0); /* 1e11 */
    footprint f;
    footprint_of(tpl, &f);
    vc_rpc_result res;
    char long_remarks[1100];
    memset(long_remarks, 'x', sizeof(long_remarks) - 1);
    long_remarks[sizeof(long_remarks) - 1] = '\0';

    th_expect_invalid(create_codes_ex(W.tok_a, "", tpl, 1, 86400, "", NULL, &res), &res,
                      "request_id");
    th_expect_invalid(create_codes_ex(W.tok_a, "bad 1", tpl, 1, 86400, "", NULL, &res), &res,
                      "request_id");
    th_expect_invalid(create_codes_ex(W.tok_a, "bad-2", "", 1, 86400, "", NULL, &res), &res,
                      "template_id");
    th_expect_invalid(create_codes_ex(W.tok_a, "bad-3", tpl, 0, 86400, "", NULL, &res), &res,
                      "count");
    th_expect_invalid(create_codes_ex(W.tok_a, "bad-4", tpl, 1001, 86400, "", NULL, &res), &res,
                      "count");
    th_expect_invalid(create_codes_ex(W.tok_a, "bad-5", tpl, -3, 86400, "", NULL, &res), &res,
                      "count");
    th_expect_invalid(create_codes_ex(W.tok_a, "bad-6", tpl, 1, -60, "", NULL, &res), &res,
                      "redeem_expire_time");
    th_expect_invalid(create_codes_ex(W.tok_a, "bad-7", tpl, 1, 367LL * 86400, "", NULL, &res),
                      &res, "redeem_expire_time");
    th_expect_invalid(create_codes_ex(W.tok_a, "bad-8", tpl, 1, 86400, long_remarks, NULL, &res),
                      &res, "remarks");
    /* Every violation at once. */
    create_codes_ex(W.tok_a, "", "", 0, -1, long_remarks, NULL, &res);
    th_expect_invalid(res.code, &res, "request_id");
    th_expect_invalid(res.code, &res, "template_id");
    th_expect_invalid(res.code, &res, "count");
    th_expect_invalid(res.code, &res, "redeem_expire_time");
    th_expect_invalid(res.code, &res, "remarks");
    /* redeem_expire_time missing altogether. */
    Reseller__V1__CreateRedeemCodesRequest req = RESELLER__V1__CREATE_REDEEM_CODES_REQUEST__INIT;
    req.request_id = "bad-9";
    req.template_id = tpl;
    req.count = 1;
    th_expect_invalid(CALL(W.tok_a, "/reseller.v1.VoucherService/CreateRedeemCodes", req,
                           create_redeem_codes_response, NULL, &res),
                      &res, "redeem_expire_time");
    /* Checks against the template: its window ends before the codes would; the total is more
       than a review can carry. */
    th_expect_invalid(create_codes_ex(W.tok_a, "bad-10", window_tpl, 1, 7200, "", NULL, &res), &res,
                      "redeem_expire_time");
    th_expect_invalid(create_codes_ex(W.tok_a, "bad-11", big_tpl, 1000, 86400, "", NULL, &res),
                      &res, "count");
    /* Not enough quota: refused, nothing consumed or locked. */
    int64_t have = remaining("r-a");
    int too_many = (int)(have / FACE) + 1;
    if (too_many <= 1000) {
        assert_int_equal(create_codes_ex(W.tok_a, "bad-12", tpl, too_many, 86400, "", NULL, &res),
                         VC_GRPC_FAILED_PRECONDITION);
        assert_non_null(strstr(res.message, "quota"));
    }
    assert_nothing_written(tpl, &f);
    assert_int_equal(q("SELECT issued_count FROM templates WHERE template_id = '%s'", window_tpl),
                     0);
    assert_int_equal(q("SELECT issued_count FROM templates WHERE template_id = '%s'", big_tpl), 0);
    free(tpl);
    free(window_tpl);
    free(big_tpl);
}

static void test_foreign_template_and_roles(void **state)
{
    (void)state;
    char *tpl = make_template(W.tok_a, RESELLER, FACE, 0);
    footprint f;
    footprint_of(tpl, &f);
    vc_rpc_result res;
    /* Another reseller cannot create codes from r-a's template: it does not exist for them. */
    assert_int_equal(create_codes_ex(W.tok_b, "foreign-1", tpl, 2, 86400, "", NULL, &res),
                     VC_GRPC_NOT_FOUND);
    assert_int_equal(create_codes_ex(W.tok_a, "missing-1", "tpl_nope", 2, 86400, "", NULL, &res),
                     VC_GRPC_NOT_FOUND);
    /* Customers and the service role do not create codes. */
    char *cust = customer_token("r-a", "c-a1", true, true);
    assert_int_equal(create_codes_ex(cust, "role-1", tpl, 2, 86400, "", NULL, &res),
                     VC_GRPC_PERMISSION_DENIED);
    assert_int_equal(create_codes_ex(W.tok_service, "role-2", tpl, 2, 86400, "", NULL, &res),
                     VC_GRPC_PERMISSION_DENIED);
    assert_nothing_written(tpl, &f);
    free(cust);
    free(tpl);
}

static void test_large_batch(void **state)
{
    (void)state;
    char *tpl = make_template(W.tok_a, RESELLER, 100, 0);
    batch b;
    create_codes(W.tok_a, "large-1", tpl, 1000, &b);
    assert_int_equal(
        q("SELECT COUNT(DISTINCT code_hash) FROM redeem_codes WHERE batch_id = '%s'", b.id), 1000);
    assert_int_equal(q("SELECT issued_count FROM templates WHERE template_id = '%s'", tpl), 1000);
    free(tpl);
}

/* The whole review round trip with a real approval-svc: the batch's submission becomes a ticket
   (amount count x face, no customer yet), staff approve it, the callback activates the batch. */
static void test_review_round_trip_with_approval_svc(void **state)
{
    (void)state;
    static char r_listen[64], a_listen[64], r_peer[64], a_peer[64];
    int pr = th_free_port(), pa = th_free_port();
    snprintf(r_listen, sizeof(r_listen), "--listen=127.0.0.1:%d", pr);
    snprintf(a_listen, sizeof(a_listen), "--listen=127.0.0.1:%d", pa);
    snprintf(r_peer, sizeof(r_peer), "--approval-addr=127.0.0.1:%d", pa);
    snprintf(a_peer, sizeof(a_peer), "--reseller-addr=127.0.0.1:%d", pr);
    const char *a_flags[] = {a_listen, a_peer, "--outbox-interval-ms=100", NULL};
    const char *r_flags[] = {r_listen, r_peer, "--outbox-interval-ms=100", NULL};
    th_svc A, R;
    th_start(&A, "VC_TEST_APPROVAL_BIN", "codes_flow_approval", a_flags);
    th_start_keyed(&R, "VC_TEST_RESELLER_BIN", "codes_flow_reseller", r_flags, A.key_hex);
    S = &R;
    char *tok_res = th_token(&R, VC_ROLE_RESELLER, "op@r-f", "r-f", NULL, false, false);
    char *tok_asvc = th_token(&R, VC_ROLE_SERVICE, "approval-svc", NULL, NULL, false, false);
    char *tok_rsvc = th_token(&A, VC_ROLE_SERVICE, "reseller-svc", NULL, NULL, false, false);
    char *tok_staff = th_token(&A, VC_ROLE_STAFF, "alice@provider", NULL, NULL, false, false);
    make_customer(tok_res, "c-f1");
    char *tpl = make_template(tok_res, PROVIDER, FACE, 0);
    grant_by(tok_asvc, "r-f", 3 * FACE);
    batch b;
    create_codes(tok_res, "flow-1", tpl, 3, &b);

    /* The ticket arrives through the outbox. */
    Approval__V1__Ticket *tk = NULL;
    Approval__V1__GetReviewResponse *gr = NULL;
    for (int i = 0; i < 200 && !tk; i++) {
        Approval__V1__GetReviewRequest g = APPROVAL__V1__GET_REVIEW_REQUEST__INIT;
        g.subject_type = APPROVAL__V1__SUBJECT_TYPE__SUBJECT_TYPE_VOUCHER_ISSUANCE;
        g.subject_id = b.id;
        vc_rpc_result res;
        th_call(&A, tok_rsvc, "/approval.v1.ReviewService/GetReview", &g.base,
                &approval__v1__get_review_response__descriptor, (ProtobufCMessage **)&gr, &res);
        if (res.code == VC_GRPC_OK && gr)
            tk = gr->ticket;
        else
            usleep(50 * 1000);
    }
    if (!tk) fail_msg("the batch's review never reached approval-svc");
    assert_int_equal(tk->amount_minor, 3 * FACE);
    assert_string_equal(tk->reseller_id, "r-f");
    assert_string_equal(tk->customer_id, "paper-codes");
    assert_non_null(strstr(tk->description, "3 redemption codes"));
    char ticket[64];
    snprintf(ticket, sizeof(ticket), "%s", tk->ticket_id);
    protobuf_c_message_free_unpacked(&gr->base, NULL);

    Approval__V1__ApproveTicketRequest ap = APPROVAL__V1__APPROVE_TICKET_REQUEST__INIT;
    ap.ticket_id = ticket;
    vc_rpc_result res;
    th_call(&A, tok_staff, "/approval.v1.StaffService/ApproveTicket", &ap.base,
            &approval__v1__approve_ticket_response__descriptor, NULL, &res);
    assert_int_equal(res.code, VC_GRPC_OK);
    for (int i = 0; i < 200 && batch_state(b.id) != 2; i++)
        usleep(50 * 1000);
    assert_int_equal(batch_state(b.id), 2);
    char *cust = customer_token("r-f", "c-f1", true, false);
    assert_int_equal(redeem(cust, b.codes[1], NULL, &res), VC_GRPC_OK);
    th_assert_ledger_clean(&R);
    S = &W.s;
    th_stop(&R);
    th_stop(&A);
    free(cust);
    free(tpl);
    free(tok_res);
    free(tok_asvc);
    free(tok_rsvc);
    free(tok_staff);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_provider_batch_reviewed_then_redeemed),
        cmocka_unit_test(test_reseller_funded_batch_active_at_once),
        cmocka_unit_test(test_create_is_idempotent_with_the_same_codes),
        cmocka_unit_test(test_redeem_refusals),
        cmocka_unit_test(test_concurrent_redemption_gives_one_voucher),
        cmocka_unit_test(test_throttling_after_five_wrong_codes),
        cmocka_unit_test(test_expiry_returns_unredeemed_once_with_two_replicas),
        cmocka_unit_test(test_rejected_or_cancelled_batch_returns_quota),
        cmocka_unit_test(test_bad_input_writes_nothing),
        cmocka_unit_test(test_foreign_template_and_roles),
        cmocka_unit_test(test_large_batch),
        cmocka_unit_test(test_review_round_trip_with_approval_svc),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
