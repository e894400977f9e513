/*
 * BillingService.SettleCharge through real gRPC against a real reseller-svc and MariaDB
 * (SPEC §5, seed 003 §2): the seed's worked example, the pick order with ties at every level,
 * remainders, the eligibility filters of a charge (currency, product, payment mode, minimum,
 * renewal months, charge time), idempotency on bill_item_id, dry runs that write nothing, bad
 * input, roles, and 16 threads settling and paying on the same few vouchers.
 *
 * Setting up the seed's state. Vouchers are created through the real API: provider-funded
 * templates, quota granted and each issuance approved with ReviewDecided (service token), so
 * they are ACTIVE exactly as in production. The seed then describes vouchers that were partly
 * used before (balance below face value) and that share an end of validity ("3.9"): the API
 * reaches neither instantly (validity starts at approval, to the microsecond). So the test
 * records the earlier use as the platform would — a voucher_deductions row (the voucher's
 * ledger) plus the balance — and sets expires_us with SQL. invariants.sql (balance = face −
 * deductions) still holds, and th_assert_ledger_clean checks it at the end.
 *
 * About the order with a larger charge. The brief suggested charge 27 → C 5, B 8, A 10, E 2,
 * D 2. The rule (SPEC §5, seed) sorts a day's vouchers by the deductible amount *for this
 * charge*, min(balance, charge): for 27 that is each balance, so the order is A 10, B 8, C 5,
 * E 2, then D (later expiry) 2. C, B, A, E, D is the seed's order for a charge of 4 only, where
 * A, B and C can each deduct 4 and the balance breaks the tie. The test asserts both: the full
 * candidate order for 4 through ListEligibleVouchers (POSTPAID lists what settlement could
 * use, in pick order), the dry run of 4 (C alone covers it), and the dry run of 27.
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
#include "reseller/v1/billing_service.pb-c.h"
#include "reseller/v1/customer_service.pb-c.h"
#include "reseller/v1/review_callback_service.pb-c.h"
#include "reseller/v1/template_service.pb-c.h"
#include "reseller/v1/voucher_service.pb-c.h"
#include "reseller/v1/wallet_service.pb-c.h"

#define RES       "r-s"
#define SETTLE    "/reseller.v1.BillingService/SettleCharge"
#define PREPAID   RESELLER__V1__PAYMENT_MODE__PAYMENT_MODE_PREPAID
#define POSTPAID  RESELLER__V1__PAYMENT_MODE__PAYMENT_MODE_POSTPAID
#define CM_POST   RESELLER__V1__CHARGE_MODE__CHARGE_MODE_POSTPAID
#define CM_RENEW  RESELLER__V1__CHARGE_MODE__CHARGE_MODE_AUTO_RENEWAL
#define MODE_PRE  1u
#define MODE_POST 2u
#define DAY       VC_US_PER_DAY

typedef struct world {
    th_svc s;
    char *tok_reseller, *tok_service, *tok_billing;
    int64_t base_us; /* "today": expiry days are counted from here */
} world;

static world W;

static int call(const char *tok, const char *path, const void *req,
                const ProtobufCMessageDescriptor *desc, void *resp, vc_rpc_result *res)
{
    return th_call(&W.s, tok, path, req, desc, (ProtobufCMessage **)resp, res);
}

/* ---- vouchers through the real API --------------------------------------------------------- */

static void make_customer(const char *id)
{
    Reseller__V1__CreateCustomerRequest req = RESELLER__V1__CREATE_CUSTOMER_REQUEST__INIT;
    Reseller__V1__Customer c = RESELLER__V1__CUSTOMER__INIT;
    c.customer_id = (char *)id;
    c.name = "Billing customer";
    req.customer = &c;
    vc_rpc_result res;
    if (call(W.tok_reseller, "/reseller.v1.CustomerService/CreateCustomer", &req,
             &reseller__v1__create_customer_response__descriptor, NULL, &res) != VC_GRPC_OK)
        fail_msg("CreateCustomer %s: %s", id, res.message);
}

static void review_decided(const char *msg, Reseller__V1__ReviewDecidedRequest *req)
{
    req->message_id = (char *)msg;
    req->reseller_id = RES;
    req->outcome = RESELLER__V1__REVIEW_OUTCOME__REVIEW_OUTCOME_APPROVED;
    req->reason = "ok";
    req->decided_by = "staff@provider";
    vc_rpc_result res;
    if (call(W.tok_service, "/reseller.v1.ReviewCallbackService/ReviewDecided", req,
             &reseller__v1__review_decided_response__descriptor, NULL, &res) != VC_GRPC_OK)
        fail_msg("ReviewDecided: %d %s", res.code, res.message);
}

static void grant_quota(int64_t amount)
{
    static int seq;
    char msg[64], subj[64];
    snprintf(msg, sizeof(msg), "smsg-grant-%d-%d", getpid(), ++seq);
    snprintf(subj, sizeof(subj), "sgrant-%d-%d", getpid(), seq);
    Reseller__V1__ReviewDecidedRequest req = RESELLER__V1__REVIEW_DECIDED_REQUEST__INIT;
    req.subject_type = RESELLER__V1__REVIEW_SUBJECT_TYPE__REVIEW_SUBJECT_TYPE_QUOTA_APPLICATION;
    req.subject_id = subj;
    req.granted_amount_minor = amount;
    req.direct_grant = true;
    review_decided(msg, &req);
}

typedef struct vspec {
    int64_t face;
    unsigned modes;      /* 0 = POSTPAID */
    const char *product; /* SPECIFIED products: this one; NULL = all products */
    int64_t min_order;
    int min_m, max_m;
} vspec;

static char *make_template(const vspec *o)
{
    static int seq;
    char rid[64];
    snprintf(rid, sizeof(rid), "stpl-%d-%d", getpid(), ++seq);
    Reseller__V1__CreateTemplateRequest req = RESELLER__V1__CREATE_TEMPLATE_REQUEST__INIT;
    Reseller__V1__Template t = RESELLER__V1__TEMPLATE__INIT;
    Reseller__V1__ProductScope scope = RESELLER__V1__PRODUCT_SCOPE__INIT;
    Reseller__V1__Validity val = RESELLER__V1__VALIDITY__INIT;
    Reseller__V1__UsageConditions cond = RESELLER__V1__USAGE_CONDITIONS__INIT;
    Reseller__V1__PaymentMode modes[2];
    char *code = (char *)o->product;
    req.request_id = rid;
    t.name = "Settlement test";
    t.face_value_minor = o->face;
    t.funding = RESELLER__V1__FUNDING__FUNDING_PROVIDER_FUNDED;
    scope.kind = RESELLER__V1__PRODUCT_SCOPE_KIND__PRODUCT_SCOPE_KIND_ALL_PRODUCTS;
    if (code) {
        scope.kind = RESELLER__V1__PRODUCT_SCOPE_KIND__PRODUCT_SCOPE_KIND_SPECIFIED_PRODUCTS;
        scope.product_codes = &code;
        scope.n_product_codes = 1;
    }
    t.product_scope = &scope;
    unsigned m = o->modes ? o->modes : MODE_POST;
    if (m & MODE_PRE) modes[t.n_payment_modes++] = PREPAID;
    if (m & MODE_POST) modes[t.n_payment_modes++] = POSTPAID;
    t.payment_modes = modes;
    val.period_case = RESELLER__V1__VALIDITY__PERIOD_DAYS_AFTER_ACTIVATION;
    val.days_after_activation = 30;
    t.validity = &val;
    cond.min_order_amount_minor = o->min_order;
    cond.min_purchase_months = o->min_m;
    cond.max_purchase_months = o->max_m;
    cond.use_limit = RESELLER__V1__USE_LIMIT__USE_LIMIT_MULTI_USE;
    t.conditions = &cond;
    req.template_ = &t;
    Reseller__V1__CreateTemplateResponse *resp = NULL;
    vc_rpc_result res;
    if (call(W.tok_reseller, "/reseller.v1.TemplateService/CreateTemplate", &req,
             &reseller__v1__create_template_response__descriptor, &resp, &res) != VC_GRPC_OK)
        fail_msg("CreateTemplate: %d %s", res.code, res.message);
    char *id = strdup(resp->template_->template_id);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return id;
}

/* Issues a provider-funded voucher and approves it: ACTIVE. out[48] gets its id. */
static void voucher(const vspec *o, const char *customer, char *out)
{
    static int seq;
    char *t = make_template(o);
    char rid[64], msg[64];
    snprintf(rid, sizeof(rid), "siss-%d-%d", getpid(), ++seq);
    snprintf(msg, sizeof(msg), "smsg-approve-%d-%d", getpid(), seq);
    Reseller__V1__IssueVoucherRequest req = RESELLER__V1__ISSUE_VOUCHER_REQUEST__INIT;
    req.request_id = rid;
    req.template_id = t;
    req.customer_id = (char *)customer;
    Reseller__V1__IssueVoucherResponse *resp = NULL;
    vc_rpc_result res;
    if (call(W.tok_reseller, "/reseller.v1.VoucherService/IssueVoucher", &req,
             &reseller__v1__issue_voucher_response__descriptor, &resp, &res) != VC_GRPC_OK)
        fail_msg("IssueVoucher: %d %s", res.code, res.message);
    snprintf(out, 48, "%s", resp->voucher->voucher_id);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    free(t);
    Reseller__V1__ReviewDecidedRequest d = RESELLER__V1__REVIEW_DECIDED_REQUEST__INIT;
    d.ticket_id = "tkt-s";
    d.subject_type = RESELLER__V1__REVIEW_SUBJECT_TYPE__REVIEW_SUBJECT_TYPE_VOUCHER_ISSUANCE;
    d.subject_id = out;
    review_decided(msg, &d);
}

/* The seed's earlier use of a voucher: a deduction row (its ledger) and the balance. */
static void spent_before(const char *v, int64_t amount)
{
    if (amount <= 0) return;
    th_exec(&W.s,
            "INSERT INTO voucher_deductions (voucher_id, reseller_id, customer_id, source, "
            "reference_id, amount_minor, balance_before_minor, balance_after_minor, created_us) "
            "SELECT voucher_id, reseller_id, customer_id, 2, CONCAT('earlier-', voucher_id), ?, "
            "balance_minor, balance_minor - ?, 0 FROM vouchers WHERE voucher_id = ?",
            VC_DB_ARGS(vc_db_i64(amount), vc_db_i64(amount), vc_db_str(v)));
    th_exec(&W.s,
            "UPDATE vouchers SET balance_minor = balance_minor - ?, ever_used = 1 WHERE "
            "voucher_id = ?",
            VC_DB_ARGS(vc_db_i64(amount), vc_db_str(v)));
}

static void expires_on_day(const char *v, int day)
{
    th_exec(&W.s, "UPDATE vouchers SET expires_us = ? WHERE voucher_id = ?",
            VC_DB_ARGS(vc_db_i64(W.base_us + day * DAY), vc_db_str(v)));
}

/* A postpaid voucher with a face value, a balance and an end of validity (day from base). */
static void seed_voucher(const char *customer, int64_t face, int64_t balance, int day, char *out)
{
    voucher(&(vspec){.face = face}, customer, out);
    spent_before(out, face - balance);
    expires_on_day(out, day);
}

/* ---- SettleCharge -------------------------------------------------------------------------- */

typedef struct charge {
    const char *customer, *bill;
    int64_t amount;
    int mode;             /* 0 = POSTPAID */
    int months;           /* AUTO_RENEWAL */
    const char *product;  /* NULL = "cvm" */
    const char *currency; /* NULL = "CNY" */
    bool dry_run;
    int64_t charge_time_us; /* 0 = unset */
} charge;

static int settle(const char *tok, const charge *c, Reseller__V1__SettleChargeResponse **out,
                  vc_rpc_result *res)
{
    Reseller__V1__SettleChargeRequest req = RESELLER__V1__SETTLE_CHARGE_REQUEST__INIT;
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    req.customer_id = (char *)c->customer;
    req.bill_item_id = (char *)c->bill;
    req.product_code = (char *)(c->product ? c->product : "cvm");
    req.charge_mode = c->mode ? c->mode : CM_POST;
    req.amount_minor = c->amount;
    req.currency_code = (char *)(c->currency ? c->currency : "CNY");
    req.renewal_duration_months = c->months;
    req.dry_run = c->dry_run;
    if (c->charge_time_us) {
        ts.seconds = c->charge_time_us / VC_US_PER_SEC;
        req.charge_time = &ts;
    }
    return call(tok, SETTLE, &req, &reseller__v1__settle_charge_response__descriptor, out, res);
}

static Reseller__V1__SettleChargeResponse *settle_ok(const charge *c)
{
    Reseller__V1__SettleChargeResponse *r = NULL;
    vc_rpc_result res;
    if (settle(W.tok_billing, c, &r, &res) != VC_GRPC_OK)
        fail_msg("SettleCharge %s: %d %s", c->bill, res.code, res.message);
    return r;
}

/* Asserts the deductions: voucher ids and amounts in order. */
static void expect_plan(const Reseller__V1__SettleChargeResponse *r, size_t n,
                        const char *const *ids, const int64_t *amounts)
{
    if (r->n_deductions != n) fail_msg("%zu deductions, expected %zu", r->n_deductions, n);
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(r->deductions[i]->voucher_id, ids[i]) != 0)
            fail_msg("deduction %zu: voucher %s, expected %s", i, r->deductions[i]->voucher_id,
                     ids[i]);
        assert_int_equal(r->deductions[i]->amount_minor, amounts[i]);
        assert_int_equal(r->deductions[i]->balance_after_minor,
                         r->deductions[i]->balance_before_minor - amounts[i]);
        sum += amounts[i];
    }
    assert_int_equal(r->deducted_minor, sum);
}

static int64_t balance(const char *v)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT balance_minor FROM vouchers WHERE voucher_id = '%s'", v);
    return th_query_i64(&W.s, sql);
}

static int64_t count(const char *sql)
{
    return th_query_i64(&W.s, sql);
}

/* ---- group --------------------------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    th_start(&W.s, "VC_TEST_RESELLER_BIN", "settlement", NULL);
    W.tok_reseller = th_token(&W.s, VC_ROLE_RESELLER, "op@r-s", RES, NULL, false, false);
    W.tok_service = th_token(&W.s, VC_ROLE_SERVICE, "approval-svc", NULL, NULL, false, false);
    W.tok_billing = th_token(&W.s, VC_ROLE_BILLING, "billing-engine", NULL, NULL, false, false);
    W.base_us = vc_now_us();
    static const char *const customers[] = {"c-seed",   "c-ties", "c-cover",
                                            "c-filter", "c-bad",  "c-conc"};
    for (size_t i = 0; i < sizeof(customers) / sizeof(customers[0]); i++)
        make_customer(customers[i]);
    grant_quota(100000000);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    th_assert_ledger_clean(&W.s);
    th_stop(&W.s);
    free(W.tok_reseller);
    free(W.tok_service);
    free(W.tok_billing);
    return 0;
}

/* ---- the seed's example -------------------------------------------------------------------- */

static void test_seed_example(void **state)
{
    (void)state;
    /* Amounts in fen: 10 yuan = 1000. "3.9" = day 9, "3.10" = day 10. */
    char a[48], b[48], c[48], e[48], d[48];
    seed_voucher("c-seed", 1000, 1000, 9, a);
    seed_voucher("c-seed", 1000, 800, 9, b);
    seed_voucher("c-seed", 2000, 500, 9, c);
    seed_voucher("c-seed", 2000, 200, 9, e);
    seed_voucher("c-seed", 2000, 400, 10, d);

    /* The whole candidate order for a charge of 4 yuan: C, B, A, E, D. */
    char *cust = th_token(&W.s, VC_ROLE_CUSTOMER, "c-seed", RES, "c-seed", true, false);
    Reseller__V1__ListEligibleVouchersRequest lreq =
        RESELLER__V1__LIST_ELIGIBLE_VOUCHERS_REQUEST__INIT;
    lreq.product_code = "cvm";
    lreq.payment_mode = POSTPAID;
    lreq.order_amount_minor = 400;
    lreq.currency_code = "CNY";
    Reseller__V1__ListEligibleVouchersResponse *l = NULL;
    vc_rpc_result res;
    assert_int_equal(call(cust, "/reseller.v1.WalletService/ListEligibleVouchers", &lreq,
                          &reseller__v1__list_eligible_vouchers_response__descriptor, &l, &res),
                     VC_GRPC_OK);
    const char *order[] = {c, b, a, e, d};
    const int64_t deductible[] = {400, 400, 400, 200, 400};
    assert_int_equal(l->n_vouchers, 5);
    for (int i = 0; i < 5; i++) {
        assert_string_equal(l->vouchers[i]->voucher_id, order[i]);
        assert_int_equal(l->vouchers[i]->deductible_amount_minor, deductible[i]);
    }
    protobuf_c_message_free_unpacked(&l->base, NULL);
    free(cust);

    int64_t rows = count("SELECT COUNT(*) FROM voucher_deductions");
    int64_t logged = count("SELECT COUNT(*) FROM request_log");
    /* Dry run of 4 yuan: C covers it. */
    Reseller__V1__SettleChargeResponse *r = settle_ok(
        &(charge){.customer = "c-seed", .bill = "bill-seed-1", .amount = 400, .dry_run = true});
    expect_plan(r, 1, (const char *[]){c}, (const int64_t[]){400});
    assert_int_equal(r->remainder_minor, 0);
    assert_true(r->dry_run);
    /* ... and the whole plan, through SettleCharge itself: C, B, A, E, D (4, 4, 4, 2, 4). */
    {
        const char *plan[] = {c, b, a, e, d};
        const int64_t could[] = {400, 400, 400, 200, 400};
        assert_int_equal(r->n_candidates, 5);
        for (int i = 0; i < 5; i++) {
            assert_string_equal(r->candidates[i]->voucher_id, plan[i]);
            assert_int_equal(r->candidates[i]->amount_minor, could[i]);
        }
    }
    assert_false(r->replayed);
    assert_int_equal(r->deductions[0]->expire_time->seconds, (W.base_us + 9 * DAY) / VC_US_PER_SEC);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    /* Dry run of 27 yuan: every voucher, in the order of deductible amounts for 27. */
    r = settle_ok(
        &(charge){.customer = "c-seed", .bill = "bill-seed-27", .amount = 2700, .dry_run = true});
    expect_plan(r, 5, (const char *[]){a, b, c, e, d}, (const int64_t[]){1000, 800, 500, 200, 200});
    assert_int_equal(r->remainder_minor, 0);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    /* Dry runs wrote nothing, not even an idempotency record. */
    assert_int_equal(count("SELECT COUNT(*) FROM voucher_deductions"), rows);
    assert_int_equal(count("SELECT COUNT(*) FROM request_log"), logged);
    assert_int_equal(balance(c), 500);

    /* The real settlement of 4 yuan deducts from C. */
    r = settle_ok(&(charge){.customer = "c-seed", .bill = "bill-seed-1", .amount = 400});
    expect_plan(r, 1, (const char *[]){c}, (const int64_t[]){400});
    assert_false(r->dry_run);
    assert_false(r->replayed);
    assert_string_equal(r->bill_item_id, "bill-seed-1");
    assert_string_equal(r->currency_code, "CNY");
    protobuf_c_message_free_unpacked(&r->base, NULL);
    assert_int_equal(balance(c), 100);
    assert_int_equal(count("SELECT COUNT(*) FROM voucher_deductions WHERE source = 2 AND "
                           "reference_id = 'bill-seed-1'"),
                     1);

    /* A retry replays it; the same bill item with another amount is refused; a dry run of the
       settled bill item shows what happened. Nothing moves. */
    r = settle_ok(&(charge){.customer = "c-seed", .bill = "bill-seed-1", .amount = 400});
    expect_plan(r, 1, (const char *[]){c}, (const int64_t[]){400});
    assert_true(r->replayed);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    r = settle_ok(
        &(charge){.customer = "c-seed", .bill = "bill-seed-1", .amount = 400, .dry_run = true});
    assert_true(r->replayed);
    assert_false(r->dry_run);
    expect_plan(r, 1, (const char *[]){c}, (const int64_t[]){400});
    protobuf_c_message_free_unpacked(&r->base, NULL);
    assert_int_equal(settle(W.tok_billing,
                            &(charge){.customer = "c-seed", .bill = "bill-seed-1", .amount = 500},
                            NULL, &res),
                     VC_GRPC_ALREADY_EXISTS);
    assert_int_equal(count("SELECT COUNT(*) FROM voucher_deductions WHERE source = 2 AND "
                           "reference_id = 'bill-seed-1'"),
                     1);
    assert_int_equal(balance(c), 100);
    th_assert_ledger_clean(&W.s);
}

/* ---- ties at every level ------------------------------------------------------------------- */

static void test_pick_order_ties(void **state)
{
    (void)state;
    /* Charge 500. Each row: end of validity (day), balance; `rank` is its place in the pick
       order (ranks 2 and 3 are equal in everything but voucher_id). */
    static const struct {
        int day;
        int64_t balance;
        int rank;
    } rows[] = {
        {5, 100, 0},  /* expires first: first, however little it deducts */
        {6, 1000, 4}, /* deducts 500, the largest balance of those */
        {6, 600, 2},  /* deducts 500; equal to the next: voucher_id decides */
        {6, 300, 5},  /* deducts 300 only */
        {6, 600, 3},  /* twin of the one above */
        {7, 50, 6},   /* expires last */
        {6, 500, 1},  /* deducts 500, smallest balance of those */
    };
    enum { N = sizeof(rows) / sizeof(rows[0]) };
    char v[N][48];
    for (int i = 0; i < N; i++)
        seed_voucher("c-ties", 1000, rows[i].balance, rows[i].day, v[i]);
    const char *want[N];
    for (int i = 0; i < N; i++)
        want[rows[i].rank] = v[i];
    if (strcmp(want[2], want[3]) > 0) { /* the twins: smaller voucher_id first */
        const char *t = want[2];
        want[2] = want[3];
        want[3] = t;
    }
    /* The full order through the customer's view, the plan through a dry run. */
    char *cust = th_token(&W.s, VC_ROLE_CUSTOMER, "c-ties", RES, "c-ties", false, true);
    Reseller__V1__ListEligibleVouchersRequest lreq =
        RESELLER__V1__LIST_ELIGIBLE_VOUCHERS_REQUEST__INIT;
    lreq.product_code = "cvm";
    lreq.payment_mode = POSTPAID;
    lreq.order_amount_minor = 500;
    lreq.currency_code = "CNY";
    Reseller__V1__ListEligibleVouchersResponse *l = NULL;
    vc_rpc_result res;
    assert_int_equal(call(cust, "/reseller.v1.WalletService/ListEligibleVouchers", &lreq,
                          &reseller__v1__list_eligible_vouchers_response__descriptor, &l, &res),
                     VC_GRPC_OK);
    assert_int_equal(l->n_vouchers, N);
    for (int i = 0; i < N; i++)
        if (strcmp(l->vouchers[i]->voucher_id, want[i]) != 0)
            fail_msg("position %d: %s, expected %s", i, l->vouchers[i]->voucher_id, want[i]);
    protobuf_c_message_free_unpacked(&l->base, NULL);
    free(cust);

    /* The plan takes them in that order until the charge is covered: the first gives all of
       its 100, the next the 400 still due. */
    Reseller__V1__SettleChargeResponse *r = settle_ok(
        &(charge){.customer = "c-ties", .bill = "bill-ties-dry", .amount = 500, .dry_run = true});
    expect_plan(r, 2, (const char *[]){want[0], want[1]}, (const int64_t[]){100, 400});
    protobuf_c_message_free_unpacked(&r->base, NULL);
    r = settle_ok(&(charge){.customer = "c-ties", .bill = "bill-ties", .amount = 500});
    expect_plan(r, 2, (const char *[]){want[0], want[1]}, (const int64_t[]){100, 400});
    assert_int_equal(r->remainder_minor, 0);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    assert_int_equal(balance(want[0]), 0);
    assert_int_equal(balance(want[1]), 100);
}

/* ---- what the vouchers do not cover goes to the account ------------------------------------ */

static void test_remainder(void **state)
{
    (void)state;
    char v1[48], v2[48];
    seed_voucher("c-cover", 300, 300, 3, v1);
    seed_voucher("c-cover", 1000, 250, 4, v2);
    Reseller__V1__SettleChargeResponse *r =
        settle_ok(&(charge){.customer = "c-cover", .bill = "bill-cover-1", .amount = 1000});
    expect_plan(r, 2, (const char *[]){v1, v2}, (const int64_t[]){300, 250});
    assert_int_equal(r->remainder_minor, 450);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    assert_int_equal(balance(v1), 0);
    assert_int_equal(balance(v2), 0);
    /* Nothing left: no deductions, the whole charge is the remainder (and recorded). */
    r = settle_ok(&(charge){.customer = "c-cover", .bill = "bill-cover-2", .amount = 200});
    assert_int_equal(r->n_deductions, 0);
    assert_int_equal(r->deducted_minor, 0);
    assert_int_equal(r->remainder_minor, 200);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    r = settle_ok(&(charge){.customer = "c-cover", .bill = "bill-cover-2", .amount = 200});
    assert_true(r->replayed);
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* ---- which vouchers a charge may use ------------------------------------------------------- */

/* The set of vouchers a dry run deducts from, as a bit mask over ids[]. */
static unsigned used_set(const charge *c, char ids[][48], int n)
{
    Reseller__V1__SettleChargeResponse *r = settle_ok(c);
    unsigned mask = 0;
    for (size_t i = 0; i < r->n_deductions; i++) {
        int k = 0;
        while (k < n && strcmp(ids[k], r->deductions[i]->voucher_id) != 0)
            k++;
        if (k == n)
            fail_msg("deduction from a voucher of someone else: %s", r->deductions[i]->voucher_id);
        mask |= 1u << k;
    }
    assert_int_equal(r->deducted_minor + r->remainder_minor, c->amount);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return mask;
}

static void test_filters(void **state)
{
    (void)state;
    enum { POST, PRE, PRE12, PROD, MIN, CUR, N };
    char v[N][48];
    voucher(&(vspec){.face = 1000}, "c-filter", v[POST]);
    voucher(&(vspec){.face = 1000, .modes = MODE_PRE, .min_m = 1, .max_m = 6}, "c-filter", v[PRE]);
    voucher(&(vspec){.face = 1000, .modes = MODE_PRE, .min_m = 12}, "c-filter", v[PRE12]);
    voucher(&(vspec){.face = 1000, .product = "cdb"}, "c-filter", v[PROD]);
    voucher(&(vspec){.face = 1000, .min_order = 5000000}, "c-filter", v[MIN]);
    voucher(&(vspec){.face = 1000}, "c-filter", v[CUR]);
    /* A voucher in a currency the reseller does not settle in (as after a data migration). */
    th_exec(&W.s, "UPDATE vouchers SET currency_code = 'USD' WHERE voucher_id = ?",
            VC_DB_ARGS(vc_db_str(v[CUR])));
    int64_t big = 100000; /* more than all balances, below MIN's minimum order */
    const charge *c = &(charge){.customer = "c-filter", .bill = "b-f", .dry_run = true};
    charge x = *c;
    x.amount = big;
    assert_int_equal(used_set(&x, v, N), 1u << POST);
    x.mode = CM_RENEW;
    x.months = 3;
    assert_int_equal(used_set(&x, v, N), 1u << PRE);
    x.months = 12;
    assert_int_equal(used_set(&x, v, N), 1u << PRE12);
    x = *c;
    x.amount = big;
    x.product = "cdb";
    assert_int_equal(used_set(&x, v, N), 1u << POST | 1u << PROD);
    x.product = "CDB"; /* product codes compare exactly */
    assert_int_equal(used_set(&x, v, N), 1u << POST);
    x = *c;
    x.amount = 5000000;
    assert_int_equal(used_set(&x, v, N), 1u << POST | 1u << MIN);
    /* A charge incurred before the vouchers became valid. */
    x = *c;
    x.amount = big;
    x.charge_time_us = vc_now_us() - DAY;
    assert_int_equal(used_set(&x, v, N), 0);
    /* A charge in another currency than the reseller's is refused, naming the field. */
    x = *c;
    x.amount = 100;
    x.currency = "USD";
    vc_rpc_result res;
    assert_int_equal(settle(W.tok_billing, &x, NULL, &res), VC_GRPC_INVALID_ARGUMENT);
    th_expect_invalid(res.code, &res, "currency_code");
    /* A frozen voucher is not for settlement. */
    char *cust = th_token(&W.s, VC_ROLE_CUSTOMER, "c-filter", RES, "c-filter", true, false);
    Reseller__V1__FreezeVoucherRequest f = RESELLER__V1__FREEZE_VOUCHER_REQUEST__INIT;
    f.order_id = "o-filter-1";
    f.voucher_id = v[PRE];
    f.product_code = "cvm";
    f.payment_mode = PREPAID;
    f.order_amount_minor = 100;
    f.currency_code = "CNY";
    f.purchase_duration_months = 3;
    assert_int_equal(call(cust, "/reseller.v1.WalletService/FreezeVoucher", &f,
                          &reseller__v1__freeze_voucher_response__descriptor, NULL, &res),
                     VC_GRPC_OK);
    x = *c;
    x.amount = big;
    x.mode = CM_RENEW;
    x.months = 3;
    assert_int_equal(used_set(&x, v, N), 0);
    free(cust);
}

/* ---- bad input and roles ------------------------------------------------------------------- */

static void test_bad_input_and_roles(void **state)
{
    (void)state;
    char v[48];
    voucher(&(vspec){.face = 1000}, "c-bad", v);
    int64_t rows = count("SELECT COUNT(*) FROM voucher_deductions");
    int64_t logged = count("SELECT COUNT(*) FROM request_log");
    const charge good = {.customer = "c-bad", .bill = "bill-bad", .amount = 100};
    char long_id[66];
    memset(long_id, 'b', 65);
    long_id[65] = '\0';
    static const char *const fields[] = {"customer_id",
                                         "bill_item_id",
                                         "bill_item_id",
                                         "product_code",
                                         "charge_mode",
                                         "amount_minor",
                                         "currency_code",
                                         "renewal_duration_months",
                                         "renewal_duration_months",
                                         "charge_time"};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        charge c = good;
        switch (i) {
        case 0: c.customer = ""; break;
        case 1: c.bill = ""; break;
        case 2: c.bill = long_id; break; /* 65 characters */
        case 3: c.product = "a b"; break;
        case 4: c.mode = 9; break;
        case 5: c.amount = -5; break;
        case 6: c.currency = "cn"; break;
        case 7: c.months = 3; break; /* only for AUTO_RENEWAL */
        case 8:
            c.mode = CM_RENEW;
            c.months = 0;
            break;
        case 9: c.charge_time_us = vc_now_us() + DAY; break;
        }
        vc_rpc_result res;
        th_expect_invalid(settle(W.tok_billing, &c, NULL, &res), &res, fields[i]);
    }
    vc_rpc_result res;
    charge c = good;
    c.customer = "c-nobody";
    assert_int_equal(settle(W.tok_billing, &c, NULL, &res), VC_GRPC_NOT_FOUND);
    /* Only billing settles charges. */
    char *cust = th_token(&W.s, VC_ROLE_CUSTOMER, "c-bad", RES, "c-bad", true, true);
    assert_int_equal(settle(cust, &good, NULL, &res), VC_GRPC_PERMISSION_DENIED);
    assert_int_equal(settle(W.tok_reseller, &good, NULL, &res), VC_GRPC_PERMISSION_DENIED);
    assert_int_equal(settle(NULL, &good, NULL, &res), VC_GRPC_UNAUTHENTICATED);
    free(cust);
    assert_int_equal(count("SELECT COUNT(*) FROM voucher_deductions"), rows);
    assert_int_equal(count("SELECT COUNT(*) FROM request_log"), logged);
    assert_int_equal(balance(v), 1000);
}

/* ---- concurrency --------------------------------------------------------------------------- */

enum { THREADS = 16, OPS = 30, CONC_VOUCHERS = 4, CONC_FACE = 20000 };

typedef struct worker {
    int t;
    char (*v)[48];
    char *tok;
    int64_t bill_deducted[OPS]; /* -1 = not a settlement */
    bool bill_replayed[OPS];
    int64_t paid; /* deducted by this worker's ConfirmPayments */
    int failures;
    char why[640];
} worker;

/* Workers 2k and 2k+1 settle the same bill items (same parameters) at the same time. */
static void bill_of(int t, int i, char *id, size_t cap, int64_t *amount)
{
    snprintf(id, cap, "bill-conc-%d-%d", t / 2, i);
    *amount = 100 + ((t / 2) * 31 + i * 17) % 900;
}

static void *conc_worker(void *p)
{
    worker *w = p;
    for (int i = 0; i < OPS; i++) {
        vc_rpc_result res;
        w->bill_deducted[i] = -1;
        if (i % 3 == 2) {
            /* A prepaid order on one of the same vouchers. */
            char order[48];
            snprintf(order, sizeof(order), "o-conc-%d-%d", w->t, i);
            int64_t amount = 100 + (w->t * 7 + i * 13) % 400;
            Reseller__V1__FreezeVoucherRequest f = RESELLER__V1__FREEZE_VOUCHER_REQUEST__INIT;
            f.order_id = order;
            f.voucher_id = w->v[(w->t + i) % CONC_VOUCHERS];
            f.product_code = "cvm";
            f.payment_mode = PREPAID;
            f.order_amount_minor = amount;
            f.currency_code = "CNY";
            f.purchase_duration_months = 1;
            int code = th_call(&W.s, w->tok, "/reseller.v1.WalletService/FreezeVoucher", &f.base,
                               &reseller__v1__freeze_voucher_response__descriptor, NULL, &res);
            if (code == VC_GRPC_FAILED_PRECONDITION)
                continue; /* frozen by another order, or spent: both fine */
            if (code != VC_GRPC_OK) {
                w->failures++;
                snprintf(w->why, sizeof(w->why), "freeze %s: %d %s", order, code, res.message);
                continue;
            }
            Reseller__V1__ConfirmPaymentRequest c = RESELLER__V1__CONFIRM_PAYMENT_REQUEST__INIT;
            c.order_id = order;
            c.amount_minor = amount;
            c.currency_code = "CNY";
            Reseller__V1__ConfirmPaymentResponse *cr = NULL;
            code = th_call(&W.s, w->tok, "/reseller.v1.WalletService/ConfirmPayment", &c.base,
                           &reseller__v1__confirm_payment_response__descriptor,
                           (ProtobufCMessage **)&cr, &res);
            if (code != VC_GRPC_OK) {
                w->failures++;
                snprintf(w->why, sizeof(w->why), "confirm %s: %d %s", order, code, res.message);
                continue;
            }
            w->paid += cr->deducted_minor;
            protobuf_c_message_free_unpacked(&cr->base, NULL);
            continue;
        }
        char bill[48];
        int64_t amount;
        bill_of(w->t, i, bill, sizeof(bill), &amount);
        Reseller__V1__SettleChargeResponse *r = NULL;
        int code =
            settle(W.tok_billing, &(charge){.customer = "c-conc", .bill = bill, .amount = amount},
                   &r, &res);
        if (code != VC_GRPC_OK) {
            w->failures++;
            snprintf(w->why, sizeof(w->why), "settle %s: %d %s", bill, code, res.message);
            continue;
        }
        w->bill_deducted[i] = r->deducted_minor;
        w->bill_replayed[i] = r->replayed;
        if (r->deducted_minor + r->remainder_minor != amount) {
            w->failures++;
            snprintf(w->why, sizeof(w->why), "settle %s: parts do not add up", bill);
        }
        protobuf_c_message_free_unpacked(&r->base, NULL);
    }
    return NULL;
}

static void test_concurrent_settlements_and_payments(void **state)
{
    (void)state;
    char v[CONC_VOUCHERS][48];
    for (int i = 0; i < CONC_VOUCHERS; i++)
        voucher(&(vspec){.face = CONC_FACE, .modes = MODE_PRE | MODE_POST}, "c-conc", v[i]);
    char *tok = th_token(&W.s, VC_ROLE_CUSTOMER, "c-conc", RES, "c-conc", true, false);
    static worker w[THREADS];
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) {
        memset(&w[t], 0, sizeof(w[t]));
        w[t].t = t;
        w[t].v = v;
        w[t].tok = tok;
        pthread_create(&th[t], NULL, conc_worker, &w[t]);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    int64_t settled = 0, paid = 0;
    for (int t = 0; t < THREADS; t++) {
        if (w[t].failures) fail_msg("worker %d: %d failures, last: %s", t, w[t].failures, w[t].why);
        paid += w[t].paid;
        if (t % 2) continue;
        for (int i = 0; i < OPS; i++) {
            if (w[t].bill_deducted[i] < 0) continue;
            /* The twin got the same answer, and exactly one of the two did the work. */
            assert_int_equal(w[t + 1].bill_deducted[i], w[t].bill_deducted[i]);
            assert_true(w[t].bill_replayed[i] != w[t + 1].bill_replayed[i]);
            settled += w[t].bill_deducted[i];
            char bill[48];
            int64_t amount;
            bill_of(t, i, bill, sizeof(bill), &amount);
            char sql[256];
            snprintf(sql, sizeof(sql),
                     "SELECT COALESCE(SUM(amount_minor), 0) FROM voucher_deductions WHERE "
                     "source = 2 AND reference_id = '%s'",
                     bill);
            assert_int_equal(count(sql), w[t].bill_deducted[i]);
        }
    }
    /* Every deduction is accounted for by exactly one answer, and nothing went below zero. */
    assert_int_equal(count("SELECT COALESCE(SUM(amount_minor), 0) FROM voucher_deductions WHERE "
                           "customer_id = 'c-conc' AND source = 2"),
                     settled);
    assert_int_equal(count("SELECT COALESCE(SUM(amount_minor), 0) FROM voucher_deductions WHERE "
                           "customer_id = 'c-conc' AND source = 1"),
                     paid);
    assert_int_equal(count("SELECT COUNT(*) FROM vouchers WHERE customer_id = 'c-conc' AND "
                           "balance_minor < 0"),
                     0);
    assert_int_equal(count("SELECT SUM(balance_minor) FROM vouchers WHERE customer_id = 'c-conc'"),
                     CONC_VOUCHERS * CONC_FACE - settled - paid);
    assert_true(settled + paid > 0);
    assert_int_equal(count("SELECT COUNT(*) FROM vouchers WHERE customer_id = 'c-conc' AND "
                           "hold_order_id IS NOT NULL"),
                     0);
    th_assert_ledger_clean(&W.s);
    free(tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_example),
        cmocka_unit_test(test_pick_order_ties),
        cmocka_unit_test(test_remainder),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_bad_input_and_roles),
        cmocka_unit_test(test_concurrent_settlements_and_payments),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
