/*
 * WalletService through real gRPC against a real reseller-svc and MariaDB (SPEC §5, seed 003):
 * who may use vouchers (owner / finance collaborator), the customer-visible statuses and their
 * filter, every eligibility condition of a prepaid order (one voucher failing each), the
 * freeze → pay / release life of an order with its idempotency and conflicts (one voucher per
 * order, one order per voucher, racing freezes), the hold timeout (a replica started with
 * --hold-timeout-s=1), another customer's vouchers and orders, bad input with nothing written,
 * and the reseller's withdraw refused once a voucher was frozen or used.
 *
 * Vouchers are issued through the real API (reseller-funded templates are ACTIVE at once; a
 * provider-funded one stays PENDING_REVIEW). Where a test needs a state the API only reaches
 * with time (a validity that starts later, an end of validity already passed, a currency the
 * reseller never had), it is set with SQL and says so.
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
#include "reseller/v1/review_callback_service.pb-c.h"
#include "reseller/v1/template_service.pb-c.h"
#include "reseller/v1/voucher_service.pb-c.h"
#include "reseller/v1/wallet_service.pb-c.h"

#define WALLET(m) "/reseller.v1.WalletService/" m
#define RES       "r-w"
#define PREPAID   RESELLER__V1__PAYMENT_MODE__PAYMENT_MODE_PREPAID
#define POSTPAID  RESELLER__V1__PAYMENT_MODE__PAYMENT_MODE_POSTPAID
#define ALL       RESELLER__V1__PRODUCT_SCOPE_KIND__PRODUCT_SCOPE_KIND_ALL_PRODUCTS
#define SPECIFIED RESELLER__V1__PRODUCT_SCOPE_KIND__PRODUCT_SCOPE_KIND_SPECIFIED_PRODUCTS
#define SINGLE    RESELLER__V1__USE_LIMIT__USE_LIMIT_SINGLE_USE
#define MULTI     RESELLER__V1__USE_LIMIT__USE_LIMIT_MULTI_USE
#define US_AVAIL  RESELLER__V1__USAGE_STATUS__USAGE_STATUS_AVAILABLE
#define US_FROZEN RESELLER__V1__USAGE_STATUS__USAGE_STATUS_FROZEN
#define US_USED   RESELLER__V1__USAGE_STATUS__USAGE_STATUS_USED
#define US_EXP    RESELLER__V1__USAGE_STATUS__USAGE_STATUS_EXPIRED
#define MODE_PRE  1u
#define MODE_POST 2u

typedef struct world {
    th_svc s;
    char *tok_reseller, *tok_service;
} world;

static world W;

/* ---- setup helpers ------------------------------------------------------------------------- */

static int call(th_svc *s, const char *tok, const char *path, const void *req,
                const ProtobufCMessageDescriptor *desc, void *resp, vc_rpc_result *res)
{
    return th_call(s, tok, path, req, desc, (ProtobufCMessage **)resp, res);
}

static void make_customer(const char *id)
{
    Reseller__V1__CreateCustomerRequest req = RESELLER__V1__CREATE_CUSTOMER_REQUEST__INIT;
    Reseller__V1__Customer c = RESELLER__V1__CUSTOMER__INIT;
    c.customer_id = (char *)id;
    c.name = "Wallet customer";
    req.customer = &c;
    vc_rpc_result res;
    if (call(&W.s, W.tok_reseller, "/reseller.v1.CustomerService/CreateCustomer", &req,
             &reseller__v1__create_customer_response__descriptor, NULL, &res) != VC_GRPC_OK)
        fail_msg("CreateCustomer %s: %s", id, res.message);
}

/* A customer token: owner, or a collaborator with/without the finance permission. */
static char *cust_tok(const char *customer, bool owner, bool finance)
{
    return th_token(&W.s, VC_ROLE_CUSTOMER, customer, RES, customer, owner, finance);
}

typedef struct tpl {
    int funding;       /* 0 = reseller-funded */
    int64_t face;      /* 0 = 10000 */
    unsigned modes;    /* MODE_* bits; 0 = both */
    int scope;         /* 0 = ALL */
    const char *codes; /* SPECIFIED: one code */
    const char *excl;  /* ALL: one excluded code */
    int64_t min_order;
    int min_m, max_m;
    int use; /* 0 = MULTI */
} tpl;

static char *make_template(const tpl *o)
{
    static int seq;
    char rid[64];
    snprintf(rid, sizeof(rid), "wtpl-%d-%d", getpid(), ++seq);
    Reseller__V1__CreateTemplateRequest req = RESELLER__V1__CREATE_TEMPLATE_REQUEST__INIT;
    Reseller__V1__Template t = RESELLER__V1__TEMPLATE__INIT;
    Reseller__V1__ProductScope scope = RESELLER__V1__PRODUCT_SCOPE__INIT;
    Reseller__V1__Validity val = RESELLER__V1__VALIDITY__INIT;
    Reseller__V1__UsageConditions cond = RESELLER__V1__USAGE_CONDITIONS__INIT;
    Reseller__V1__PaymentMode modes[2];
    char *code = (char *)(o->codes ? o->codes : o->excl);
    req.request_id = rid;
    t.name = "Wallet test";
    t.face_value_minor = o->face ? o->face : 10000;
    t.funding = o->funding ? o->funding : RESELLER__V1__FUNDING__FUNDING_RESELLER_FUNDED;
    scope.kind = o->scope ? o->scope : ALL;
    if (o->codes) {
        scope.product_codes = &code;
        scope.n_product_codes = 1;
    } else if (o->excl) {
        scope.excluded_product_codes = &code;
        scope.n_excluded_product_codes = 1;
    }
    t.product_scope = &scope;
    unsigned m = o->modes ? o->modes : MODE_PRE | MODE_POST;
    if (m & MODE_PRE) modes[t.n_payment_modes++] = PREPAID;
    if (m & MODE_POST) modes[t.n_payment_modes++] = POSTPAID;
    t.payment_modes = modes;
    val.period_case = RESELLER__V1__VALIDITY__PERIOD_DAYS_AFTER_ACTIVATION;
    val.days_after_activation = 30;
    t.validity = &val;
    cond.min_order_amount_minor = o->min_order;
    cond.min_purchase_months = o->min_m;
    cond.max_purchase_months = o->max_m;
    cond.use_limit = o->use ? o->use : MULTI;
    t.conditions = &cond;
    req.template_ = &t;
    Reseller__V1__CreateTemplateResponse *resp = NULL;
    vc_rpc_result res;
    if (call(&W.s, W.tok_reseller, "/reseller.v1.TemplateService/CreateTemplate", &req,
             &reseller__v1__create_template_response__descriptor, &resp, &res) != VC_GRPC_OK)
        fail_msg("CreateTemplate: %d %s", res.code, res.message);
    char *id = strdup(resp->template_->template_id);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return id;
}

/* Issues a voucher of template o to a customer; out[48] gets its id. */
static void issue(const tpl *o, const char *customer, char *out)
{
    static int seq;
    char *t = make_template(o);
    char rid[64];
    snprintf(rid, sizeof(rid), "wiss-%d-%d", getpid(), ++seq);
    Reseller__V1__IssueVoucherRequest req = RESELLER__V1__ISSUE_VOUCHER_REQUEST__INIT;
    req.request_id = rid;
    req.template_id = t;
    req.customer_id = (char *)customer;
    Reseller__V1__IssueVoucherResponse *resp = NULL;
    vc_rpc_result res;
    if (call(&W.s, W.tok_reseller, "/reseller.v1.VoucherService/IssueVoucher", &req,
             &reseller__v1__issue_voucher_response__descriptor, &resp, &res) != VC_GRPC_OK)
        fail_msg("IssueVoucher: %d %s", res.code, res.message);
    snprintf(out, 48, "%s", resp->voucher->voucher_id);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    free(t);
}

static void grant_quota(int64_t amount)
{
    static int seq;
    char msg[64], subj[64];
    snprintf(msg, sizeof(msg), "wmsg-%d-%d", getpid(), ++seq);
    snprintf(subj, sizeof(subj), "wgrant-%d-%d", getpid(), seq);
    Reseller__V1__ReviewDecidedRequest req = RESELLER__V1__REVIEW_DECIDED_REQUEST__INIT;
    req.message_id = msg;
    req.subject_type = RESELLER__V1__REVIEW_SUBJECT_TYPE__REVIEW_SUBJECT_TYPE_QUOTA_APPLICATION;
    req.subject_id = subj;
    req.reseller_id = RES;
    req.outcome = RESELLER__V1__REVIEW_OUTCOME__REVIEW_OUTCOME_APPROVED;
    req.reason = "test grant";
    req.decided_by = "staff@provider";
    req.granted_amount_minor = amount;
    req.direct_grant = true;
    vc_rpc_result res;
    assert_int_equal(call(&W.s, W.tok_service, "/reseller.v1.ReviewCallbackService/ReviewDecided",
                          &req, &reseller__v1__review_decided_response__descriptor, NULL, &res),
                     VC_GRPC_OK);
}

static void sql_v(const char *sql, const char *voucher)
{
    th_exec(&W.s, sql, VC_DB_ARGS(vc_db_str(voucher)));
}

static int64_t q(const char *fmt, const char *arg)
{
    char sql[512];
    snprintf(sql, sizeof(sql), fmt, arg);
    return th_query_i64(&W.s, sql);
}

/* ---- wallet calls -------------------------------------------------------------------------- */

static int list_eligible(const char *tok, const char *product, int mode, int64_t amount,
                         const char *cur, int months,
                         Reseller__V1__ListEligibleVouchersResponse **out, vc_rpc_result *res)
{
    Reseller__V1__ListEligibleVouchersRequest req =
        RESELLER__V1__LIST_ELIGIBLE_VOUCHERS_REQUEST__INIT;
    req.product_code = (char *)product;
    req.payment_mode = mode;
    req.order_amount_minor = amount;
    req.currency_code = (char *)cur;
    req.purchase_duration_months = months;
    return call(&W.s, tok, WALLET("ListEligibleVouchers"), &req,
                &reseller__v1__list_eligible_vouchers_response__descriptor, out, res);
}

static int freeze_on(th_svc *s, const char *tok, const char *order, const char *voucher,
                     int64_t amount, Reseller__V1__FreezeVoucherResponse **out, vc_rpc_result *res)
{
    Reseller__V1__FreezeVoucherRequest req = RESELLER__V1__FREEZE_VOUCHER_REQUEST__INIT;
    req.order_id = (char *)order;
    req.voucher_id = (char *)voucher;
    req.product_code = "cvm";
    req.payment_mode = PREPAID;
    req.order_amount_minor = amount;
    req.currency_code = "CNY";
    req.purchase_duration_months = 3;
    return call(s, tok, WALLET("FreezeVoucher"), &req,
                &reseller__v1__freeze_voucher_response__descriptor, out, res);
}

static int freeze(const char *tok, const char *order, const char *voucher, int64_t amount,
                  Reseller__V1__FreezeVoucherResponse **out, vc_rpc_result *res)
{
    return freeze_on(&W.s, tok, order, voucher, amount, out, res);
}

static int confirm(const char *tok, const char *order, int64_t amount,
                   Reseller__V1__ConfirmPaymentResponse **out, vc_rpc_result *res)
{
    Reseller__V1__ConfirmPaymentRequest req = RESELLER__V1__CONFIRM_PAYMENT_REQUEST__INIT;
    req.order_id = (char *)order;
    req.amount_minor = amount;
    req.currency_code = "CNY";
    return call(&W.s, tok, WALLET("ConfirmPayment"), &req,
                &reseller__v1__confirm_payment_response__descriptor, out, res);
}

static int release(const char *tok, const char *order, Reseller__V1__ReleaseVoucherResponse **out,
                   vc_rpc_result *res)
{
    Reseller__V1__ReleaseVoucherRequest req = RESELLER__V1__RELEASE_VOUCHER_REQUEST__INIT;
    req.order_id = (char *)order;
    return call(&W.s, tok, WALLET("ReleaseVoucher"), &req,
                &reseller__v1__release_voucher_response__descriptor, out, res);
}

static int list_mine(const char *tok, const Reseller__V1__UsageStatus *st, size_t n, int size,
                     const char *page, Reseller__V1__ListMyVouchersResponse **out,
                     vc_rpc_result *res)
{
    Reseller__V1__ListMyVouchersRequest req = RESELLER__V1__LIST_MY_VOUCHERS_REQUEST__INIT;
    req.statuses = (Reseller__V1__UsageStatus *)st;
    req.n_statuses = n;
    req.page_size = size;
    req.page_token = (char *)page;
    return call(&W.s, tok, WALLET("ListMyVouchers"), &req,
                &reseller__v1__list_my_vouchers_response__descriptor, out, res);
}

/* The customer's usage status of one voucher as ListMyVouchers shows it (0 = not listed). */
static int status_of(const char *tok, const char *voucher, int64_t *balance)
{
    Reseller__V1__ListMyVouchersResponse *r = NULL;
    vc_rpc_result res;
    assert_int_equal(list_mine(tok, NULL, 0, 1000, "", &r, &res), VC_GRPC_OK);
    int st = 0;
    for (size_t i = 0; i < r->n_vouchers; i++)
        if (strcmp(r->vouchers[i]->voucher_id, voucher) == 0) {
            st = r->vouchers[i]->status;
            if (balance) *balance = r->vouchers[i]->balance_minor;
        }
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return st;
}

static int64_t holds(void)
{
    return th_query_i64(&W.s, "SELECT COUNT(*) FROM voucher_holds");
}

static int64_t deductions(void)
{
    return th_query_i64(&W.s, "SELECT COUNT(*) FROM voucher_deductions");
}

/* ---- group --------------------------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    static const char *const flags[] = {"--hold-sweep-interval-ms=200", NULL};
    th_start(&W.s, "VC_TEST_RESELLER_BIN", "wallet", flags);
    W.tok_reseller = th_token(&W.s, VC_ROLE_RESELLER, "op@r-w", RES, NULL, false, false);
    W.tok_service = th_token(&W.s, VC_ROLE_SERVICE, "approval-svc", NULL, NULL, false, false);
    static const char *const customers[] = {"c-roles", "c-status",   "c-elig",
                                            "c-flow",  "c-race",     "c-other",
                                            "c-bad",   "c-withdraw", "c-timeout"};
    for (size_t i = 0; i < sizeof(customers) / sizeof(customers[0]); i++)
        make_customer(customers[i]);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    th_assert_ledger_clean(&W.s);
    th_stop(&W.s);
    free(W.tok_reseller);
    free(W.tok_service);
    return 0;
}

/* ---- who may use the wallet ---------------------------------------------------------------- */

static void test_roles(void **state)
{
    (void)state;
    char v[48];
    issue(&(tpl){0}, "c-roles", v);
    char *owner = cust_tok("c-roles", true, false);
    char *finance = cust_tok("c-roles", false, true);
    char *plain = cust_tok("c-roles", false, false);
    vc_rpc_result res;
    /* A collaborator without the finance permission: every method refused, nothing written. */
    assert_int_equal(list_mine(plain, NULL, 0, 0, "", NULL, &res), VC_GRPC_PERMISSION_DENIED);
    assert_int_equal(list_eligible(plain, "cvm", PREPAID, 100, "CNY", 1, NULL, &res),
                     VC_GRPC_PERMISSION_DENIED);
    assert_int_equal(freeze(plain, "o-roles-1", v, 100, NULL, &res), VC_GRPC_PERMISSION_DENIED);
    assert_int_equal(confirm(plain, "o-roles-1", 100, NULL, &res), VC_GRPC_PERMISSION_DENIED);
    assert_int_equal(release(plain, "o-roles-1", NULL, &res), VC_GRPC_PERMISSION_DENIED);
    assert_int_equal(q("SELECT COUNT(*) FROM voucher_holds WHERE customer_id = '%s'", "c-roles"),
                     0);
    /* Other roles never reach the wallet. */
    assert_int_equal(list_mine(W.tok_reseller, NULL, 0, 0, "", NULL, &res),
                     VC_GRPC_PERMISSION_DENIED);
    assert_int_equal(list_mine(NULL, NULL, 0, 0, "", NULL, &res), VC_GRPC_UNAUTHENTICATED);
    /* The owner and a finance collaborator may. */
    assert_int_equal(status_of(owner, v, NULL), US_AVAIL);
    assert_int_equal(freeze(finance, "o-roles-1", v, 100, NULL, &res), VC_GRPC_OK);
    assert_int_equal(status_of(owner, v, NULL), US_FROZEN);
    assert_int_equal(release(owner, "o-roles-1", NULL, &res), VC_GRPC_OK);
    assert_int_equal(status_of(finance, v, NULL), US_AVAIL);
    free(owner);
    free(finance);
    free(plain);
}

/* ---- statuses and the list ----------------------------------------------------------------- */

static void test_statuses_and_list(void **state)
{
    (void)state;
    char *tok = cust_tok("c-status", true, false);
    char avail[48], frozen[48], used[48], expired[48], swept[48], pending[48], withdrawn[48];
    issue(&(tpl){0}, "c-status", avail);
    issue(&(tpl){0}, "c-status", frozen);
    issue(&(tpl){0}, "c-status", used);
    issue(&(tpl){0}, "c-status", expired);
    issue(&(tpl){0}, "c-status", swept);
    grant_quota(10000);
    issue(&(tpl){.funding = RESELLER__V1__FUNDING__FUNDING_PROVIDER_FUNDED}, "c-status", pending);
    issue(&(tpl){0}, "c-status", withdrawn);
    vc_rpc_result res;
    Reseller__V1__WithdrawVoucherRequest wreq = RESELLER__V1__WITHDRAW_VOUCHER_REQUEST__INIT;
    wreq.voucher_id = withdrawn;
    assert_int_equal(call(&W.s, W.tok_reseller, "/reseller.v1.VoucherService/WithdrawVoucher",
                          &wreq, &reseller__v1__withdraw_voucher_response__descriptor, NULL, &res),
                     VC_GRPC_OK);
    assert_int_equal(freeze(tok, "o-st-frozen", frozen, 5000, NULL, &res), VC_GRPC_OK);
    assert_int_equal(freeze(tok, "o-st-used", used, 4000, NULL, &res), VC_GRPC_OK);
    assert_int_equal(confirm(tok, "o-st-used", 4000, NULL, &res), VC_GRPC_OK);
    /* Ends of validity the API reaches only with time: one past due but not yet swept, one
       that the sweep already marked EXPIRED (status 7, its unused balance returned). */
    sql_v("UPDATE vouchers SET expires_us = 1000000 WHERE voucher_id = ?", expired);
    sql_v("UPDATE vouchers SET status = 7, ended_us = expires_us, expires_us = 1000000 "
          "WHERE voucher_id = ?",
          swept);

    assert_int_equal(status_of(tok, avail, NULL), US_AVAIL);
    assert_int_equal(status_of(tok, frozen, NULL), US_FROZEN);
    int64_t bal = 0;
    assert_int_equal(status_of(tok, used, &bal), US_USED);
    assert_int_equal(bal, 6000);
    assert_int_equal(status_of(tok, expired, NULL), US_EXP);
    assert_int_equal(status_of(tok, swept, NULL), US_EXP);
    assert_int_equal(status_of(tok, pending, NULL), 0); /* not in the wallet */
    assert_int_equal(status_of(tok, withdrawn, NULL), 0);

    /* The filter returns exactly the vouchers of the asked statuses. */
    static const struct {
        Reseller__V1__UsageStatus st[2];
        size_t n;
        int expect;
    } cases[] = {{{US_AVAIL}, 1, 1}, {{US_FROZEN}, 1, 1},        {{US_USED}, 1, 1},
                 {{US_EXP}, 1, 2},   {{US_AVAIL, US_EXP}, 2, 3}, {{0}, 0, 5}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        Reseller__V1__ListMyVouchersResponse *r = NULL;
        assert_int_equal(list_mine(tok, cases[i].st, cases[i].n, 0, "", &r, &res), VC_GRPC_OK);
        if ((int)r->n_vouchers != cases[i].expect)
            fail_msg("case %zu: %zu vouchers, expected %d", i, r->n_vouchers, cases[i].expect);
        for (size_t k = 0; k < r->n_vouchers; k++) {
            bool asked = cases[i].n == 0;
            for (size_t j = 0; j < cases[i].n; j++)
                asked |= r->vouchers[k]->status == cases[i].st[j];
            assert_true(asked);
        }
        protobuf_c_message_free_unpacked(&r->base, NULL);
    }

    /* Pages of 2: every wallet voucher exactly once, newest first. */
    char seen[8][48];
    int n = 0;
    char token[256] = "";
    for (int page = 0; page < 10; page++) {
        Reseller__V1__ListMyVouchersResponse *r = NULL;
        assert_int_equal(list_mine(tok, NULL, 0, 2, token, &r, &res), VC_GRPC_OK);
        assert_true(r->n_vouchers <= 2);
        for (size_t k = 0; k < r->n_vouchers; k++) {
            assert_true(n < 8);
            snprintf(seen[n++], 48, "%s", r->vouchers[k]->voucher_id);
        }
        snprintf(token, sizeof(token), "%s", r->next_page_token);
        protobuf_c_message_free_unpacked(&r->base, NULL);
        if (!token[0]) break;
    }
    assert_int_equal(n, 5);
    for (int i = 1; i < n; i++)
        assert_true(strcmp(seen[i - 1], seen[i]) > 0); /* ids grow with issue time */
    assert_string_equal(seen[4], avail);
    free(tok);
}

/* ---- eligibility --------------------------------------------------------------------------- */

static bool listed(const Reseller__V1__ListEligibleVouchersResponse *r, const char *v)
{
    for (size_t i = 0; i < r->n_vouchers; i++)
        if (strcmp(r->vouchers[i]->voucher_id, v) == 0) return true;
    return false;
}

/* The order: product cvm, PREPAID, 10000, CNY, 3 months. One voucher passes every condition;
   each of the others fails exactly one. */
static void test_every_eligibility_condition(void **state)
{
    (void)state;
    char *tok = cust_tok("c-elig", true, false);
    enum {
        OK,
        USED_MULTI,
        EXCLUDED,
        OTHER_PRODUCT,
        CASE,
        POSTPAID_ONLY,
        MIN_ORDER,
        MIN_MONTHS,
        MAX_MONTHS,
        CURRENCY,
        NOT_STARTED,
        EXPIRED,
        FROZEN,
        USED_SINGLE,
        SPENT,
        PENDING,
        N
    };
    static const char *const name[N] = {
        "ok",        "used multi-use", "excluded",   "other product", "case",        "postpaid",
        "min order", "min months",     "max months", "currency",      "not started", "expired",
        "frozen",    "used single",    "spent",      "pending review"};
    const tpl t[N] = {
        [OK] = {0},
        [USED_MULTI] = {.use = MULTI},
        [EXCLUDED] = {.excl = "cvm"},
        [OTHER_PRODUCT] = {.scope = SPECIFIED, .codes = "cdb"},
        [CASE] = {.scope = SPECIFIED, .codes = "CVM"},
        [POSTPAID_ONLY] = {.modes = MODE_POST},
        [MIN_ORDER] = {.min_order = 10001},
        [MIN_MONTHS] = {.min_m = 4},
        [MAX_MONTHS] = {.max_m = 2},
        [CURRENCY] = {0},
        [NOT_STARTED] = {0},
        [EXPIRED] = {0},
        [FROZEN] = {0},
        [USED_SINGLE] = {.use = SINGLE},
        [SPENT] = {.use = MULTI, .face = 3000},
        [PENDING] = {.funding = RESELLER__V1__FUNDING__FUNDING_PROVIDER_FUNDED},
    };
    char v[N][48];
    grant_quota(10000);
    for (int i = 0; i < N; i++)
        issue(&t[i], "c-elig", v[i]);
    vc_rpc_result res;
    /* Used through the real flow: partly (multi-use and single-use keep 7000), fully (spent). */
    assert_int_equal(freeze(tok, "o-el-1", v[USED_MULTI], 3000, NULL, &res), VC_GRPC_OK);
    assert_int_equal(confirm(tok, "o-el-1", 3000, NULL, &res), VC_GRPC_OK);
    assert_int_equal(freeze(tok, "o-el-2", v[USED_SINGLE], 3000, NULL, &res), VC_GRPC_OK);
    assert_int_equal(confirm(tok, "o-el-2", 3000, NULL, &res), VC_GRPC_OK);
    assert_int_equal(freeze(tok, "o-el-3", v[SPENT], 3000, NULL, &res), VC_GRPC_OK);
    assert_int_equal(confirm(tok, "o-el-3", 3000, NULL, &res), VC_GRPC_OK);
    assert_int_equal(freeze(tok, "o-el-4", v[FROZEN], 10000, NULL, &res), VC_GRPC_OK);
    /* States only time reaches (or a reseller whose currency changed): set directly. */
    sql_v("UPDATE vouchers SET currency_code = 'USD' WHERE voucher_id = ?", v[CURRENCY]);
    sql_v("UPDATE vouchers SET starts_us = starts_us + 86400000000 WHERE voucher_id = ?",
          v[NOT_STARTED]);
    sql_v("UPDATE vouchers SET expires_us = 1000000 WHERE voucher_id = ?", v[EXPIRED]);
    /* Same end of validity for the two that qualify, so the deductible amount decides. */
    int64_t end = vc_now_us() + 20 * VC_US_PER_DAY;
    th_exec(&W.s, "UPDATE vouchers SET expires_us = ? WHERE voucher_id IN (?, ?)",
            VC_DB_ARGS(vc_db_i64(end), vc_db_str(v[OK]), vc_db_str(v[USED_MULTI])));

    Reseller__V1__ListEligibleVouchersResponse *r = NULL;
    assert_int_equal(list_eligible(tok, "cvm", PREPAID, 10000, "CNY", 3, &r, &res), VC_GRPC_OK);
    for (int i = 0; i < N; i++) {
        bool want = i == OK || i == USED_MULTI;
        if (listed(r, v[i]) != want)
            fail_msg("voucher '%s' %s", name[i], want ? "missing" : "listed");
    }
    /* Pick order: same expiry, deductible 10000 (ok) before 7000 (used multi-use). */
    assert_int_equal(r->n_vouchers, 2);
    assert_string_equal(r->vouchers[0]->voucher_id, v[OK]);
    assert_int_equal(r->vouchers[0]->deductible_amount_minor, 10000);
    assert_int_equal(r->vouchers[0]->status, US_AVAIL);
    assert_int_equal(r->vouchers[1]->deductible_amount_minor, 7000);
    assert_int_equal(r->vouchers[1]->status, US_USED);
    protobuf_c_message_free_unpacked(&r->base, NULL);

    /* Each failing condition on its own: the boundary passes. */
    struct {
        int idx;
        const char *product;
        int mode;
        int64_t amount;
        int months;
    } pass[] = {{EXCLUDED, "cbs", PREPAID, 10000, 3},   {OTHER_PRODUCT, "cdb", PREPAID, 10000, 3},
                {CASE, "CVM", PREPAID, 10000, 3},       {POSTPAID_ONLY, "cvm", POSTPAID, 10000, 0},
                {MIN_ORDER, "cvm", PREPAID, 10001, 3},  {MIN_MONTHS, "cvm", PREPAID, 10000, 4},
                {MAX_MONTHS, "cvm", PREPAID, 10000, 2}, {MIN_MONTHS, "cvm", POSTPAID, 10000, 0}};
    for (size_t i = 0; i < sizeof(pass) / sizeof(pass[0]); i++) {
        assert_int_equal(list_eligible(tok, pass[i].product, pass[i].mode, pass[i].amount, "CNY",
                                       pass[i].months, &r, &res),
                         VC_GRPC_OK);
        if (!listed(r, v[pass[i].idx]))
            fail_msg("voucher '%s' should qualify in case %zu", name[pass[i].idx], i);
        protobuf_c_message_free_unpacked(&r->base, NULL);
    }

    /* FreezeVoucher checks the same rules and says which one failed; nothing is held. */
    static const struct {
        int idx;
        const char *words;
    } refuse[] = {{EXCLUDED, "product"},   {MIN_ORDER, "minimum"},   {MAX_MONTHS, "duration"},
                  {POSTPAID_ONLY, "mode"}, {CURRENCY, "currency"},   {NOT_STARTED, "not started"},
                  {EXPIRED, "expired"},    {USED_SINGLE, "balance"}, {SPENT, "balance"}};
    int64_t before = holds();
    for (size_t i = 0; i < sizeof(refuse) / sizeof(refuse[0]); i++) {
        char order[32];
        snprintf(order, sizeof(order), "o-el-refuse-%zu", i);
        assert_int_equal(freeze(tok, order, v[refuse[i].idx], 10000, NULL, &res),
                         VC_GRPC_FAILED_PRECONDITION);
        if (!strstr(res.message, refuse[i].words))
            fail_msg("'%s': message '%s' lacks '%s'", name[refuse[i].idx], res.message,
                     refuse[i].words);
    }
    assert_int_equal(freeze(tok, "o-el-pending", v[PENDING], 10000, NULL, &res),
                     VC_GRPC_NOT_FOUND); /* not in the wallet */
    assert_int_equal(holds(), before);
    free(tok);
}

/* ---- freeze, pay, release ------------------------------------------------------------------ */

static void test_freeze_confirm_release(void **state)
{
    (void)state;
    char *tok = cust_tok("c-flow", true, false);
    char v[48], v2[48];
    issue(&(tpl){0}, "c-flow", v);
    issue(&(tpl){0}, "c-flow", v2);
    vc_rpc_result res;
    Reseller__V1__FreezeVoucherResponse *f = NULL;
    int64_t t0 = vc_now_us();
    assert_int_equal(freeze(tok, "o-flow-1", v, 5000, &f, &res), VC_GRPC_OK);
    assert_int_equal(f->voucher->status, US_FROZEN);
    assert_string_equal(f->voucher->frozen_order_id, "o-flow-1");
    protobuf_c_message_free_unpacked(&f->base, NULL);
    /* Held for --hold-timeout-s (default 1800 s). */
    int64_t exp = q("SELECT expires_us FROM voucher_holds WHERE order_id = '%s'", "o-flow-1");
    assert_true(exp >= t0 + 1800 * VC_US_PER_SEC && exp <= vc_now_us() + 1800 * VC_US_PER_SEC);
    /* The same freeze again is the same answer. */
    assert_int_equal(freeze(tok, "o-flow-1", v, 5000, &f, &res), VC_GRPC_OK);
    assert_int_equal(f->voucher->status, US_FROZEN);
    protobuf_c_message_free_unpacked(&f->base, NULL);
    /* One voucher per order; a voucher frozen for one order cannot serve another. */
    assert_int_equal(freeze(tok, "o-flow-1", v2, 5000, NULL, &res), VC_GRPC_FAILED_PRECONDITION);
    assert_non_null(strstr(res.message, "one voucher per order"));
    assert_int_equal(freeze(tok, "o-flow-2", v, 5000, NULL, &res), VC_GRPC_FAILED_PRECONDITION);
    assert_non_null(strstr(res.message, "frozen for another order"));
    /* Same order and voucher with other terms. */
    assert_int_equal(freeze(tok, "o-flow-1", v, 6000, NULL, &res), VC_GRPC_ALREADY_EXISTS);
    assert_int_equal(q("SELECT COUNT(*) FROM voucher_holds WHERE customer_id = '%s'", "c-flow"), 1);
    /* Paying more than the frozen order amount is refused; nothing moves. */
    assert_int_equal(confirm(tok, "o-flow-1", 5001, NULL, &res), VC_GRPC_INVALID_ARGUMENT);
    th_expect_invalid(res.code, &res, "amount_minor");
    assert_int_equal(q("SELECT COUNT(*) FROM voucher_deductions WHERE voucher_id = '%s'", v), 0);

    Reseller__V1__ConfirmPaymentResponse *c = NULL;
    assert_int_equal(confirm(tok, "o-flow-1", 3000, &c, &res), VC_GRPC_OK);
    assert_int_equal(c->deducted_minor, 3000);
    assert_int_equal(c->remainder_minor, 0);
    assert_string_equal(c->voucher_id, v);
    assert_string_equal(c->currency_code, "CNY");
    assert_int_equal(c->voucher->balance_minor, 7000);
    assert_int_equal(c->voucher->status, US_USED);
    protobuf_c_message_free_unpacked(&c->base, NULL);
    assert_int_equal(q("SELECT COUNT(*) FROM voucher_deductions WHERE voucher_id = '%s' AND "
                       "source = 1 AND reference_id = 'o-flow-1' AND amount_minor = 3000",
                       v),
                     1);
    assert_int_equal(q("SELECT state FROM voucher_holds WHERE order_id = '%s'", "o-flow-1"), 2);
    assert_int_equal(q("SELECT hold_order_id IS NULL FROM vouchers WHERE voucher_id = '%s'", v), 1);
    /* Retried: the first answer, no second deduction; another amount is refused. */
    assert_int_equal(confirm(tok, "o-flow-1", 3000, &c, &res), VC_GRPC_OK);
    assert_int_equal(c->deducted_minor, 3000);
    assert_int_equal(c->voucher->balance_minor, 7000);
    protobuf_c_message_free_unpacked(&c->base, NULL);
    assert_int_equal(confirm(tok, "o-flow-1", 2000, NULL, &res), VC_GRPC_ALREADY_EXISTS);
    assert_int_equal(q("SELECT COUNT(*) FROM voucher_deductions WHERE voucher_id = '%s'", v), 1);
    /* A paid order cannot be released. */
    assert_int_equal(release(tok, "o-flow-1", NULL, &res), VC_GRPC_FAILED_PRECONDITION);

    /* Multi-use with balance left: frozen again by the next order, then released (twice). */
    assert_int_equal(freeze(tok, "o-flow-3", v, 9000, NULL, &res), VC_GRPC_OK);
    Reseller__V1__ReleaseVoucherResponse *rl = NULL;
    assert_int_equal(release(tok, "o-flow-3", &rl, &res), VC_GRPC_OK);
    assert_non_null(rl->voucher);
    assert_int_equal(rl->voucher->status, US_USED);
    assert_string_equal(rl->voucher->frozen_order_id, "");
    protobuf_c_message_free_unpacked(&rl->base, NULL);
    assert_int_equal(release(tok, "o-flow-3", &rl, &res), VC_GRPC_OK);
    assert_non_null(rl->voucher);
    protobuf_c_message_free_unpacked(&rl->base, NULL);
    assert_int_equal(q("SELECT state FROM voucher_holds WHERE order_id = '%s'", "o-flow-3"), 3);
    /* A released order can neither pay nor freeze again. */
    assert_int_equal(confirm(tok, "o-flow-3", 100, NULL, &res), VC_GRPC_FAILED_PRECONDITION);
    assert_int_equal(freeze(tok, "o-flow-3", v, 9000, NULL, &res), VC_GRPC_FAILED_PRECONDITION);
    /* An order that never froze anything releases nothing. */
    assert_int_equal(release(tok, "o-flow-none", &rl, &res), VC_GRPC_OK);
    assert_null(rl->voucher);
    protobuf_c_message_free_unpacked(&rl->base, NULL);
    assert_int_equal(confirm(tok, "o-flow-none", 100, NULL, &res), VC_GRPC_NOT_FOUND);

    /* An amount above the balance: the voucher gives all it has, the rest is the remainder. */
    assert_int_equal(freeze(tok, "o-flow-4", v, 9000, NULL, &res), VC_GRPC_OK);
    assert_int_equal(confirm(tok, "o-flow-4", 9000, &c, &res), VC_GRPC_OK);
    assert_int_equal(c->deducted_minor, 7000);
    assert_int_equal(c->remainder_minor, 2000);
    assert_int_equal(c->voucher->balance_minor, 0);
    protobuf_c_message_free_unpacked(&c->base, NULL);
    assert_int_equal(freeze(tok, "o-flow-5", v, 100, NULL, &res), VC_GRPC_FAILED_PRECONDITION);
    /* The other voucher was never touched. */
    assert_int_equal(status_of(tok, v2, NULL), US_AVAIL);
    th_assert_ledger_clean(&W.s);
    free(tok);
}

typedef struct racer {
    const char *tok, *order, *voucher;
    int code;
} racer;

static void *freeze_racer(void *p)
{
    racer *r = p;
    vc_rpc_result res;
    r->code = freeze(r->tok, r->order, r->voucher, 1000, NULL, &res);
    return NULL;
}

/* Eight orders race for one voucher; eight vouchers race for one order: one winner each. */
static void test_freeze_races(void **state)
{
    (void)state;
    enum { N = 8 };
    char *tok = cust_tok("c-race", true, false);
    char v[N][48], orders[N][32];
    for (int i = 0; i < N; i++) {
        issue(&(tpl){0}, "c-race", v[i]);
        snprintf(orders[i], sizeof(orders[i]), "o-race-%d", i);
    }
    for (int round = 0; round < 2; round++) {
        pthread_t th[N];
        racer r[N];
        for (int i = 0; i < N; i++) {
            r[i] = (racer){.tok = tok,
                           .order = round == 0 ? orders[i] : "o-race-one",
                           .voucher = round == 0 ? v[0] : v[i],
                           .code = -1};
            pthread_create(&th[i], NULL, freeze_racer, &r[i]);
        }
        int ok = 0;
        for (int i = 0; i < N; i++) {
            pthread_join(th[i], NULL);
            if (r[i].code == VC_GRPC_OK)
                ok++;
            else if (r[i].code != VC_GRPC_FAILED_PRECONDITION)
                fail_msg("round %d racer %d: code %d", round, i, r[i].code);
        }
        assert_int_equal(ok, 1);
    }
    assert_int_equal(q("SELECT COUNT(*) FROM voucher_holds WHERE customer_id = '%s'", "c-race"), 2);
    assert_int_equal(q("SELECT COUNT(*) FROM vouchers WHERE customer_id = '%s' AND "
                       "hold_order_id IS NOT NULL",
                       "c-race"),
                     2);
    free(tok);
}

/* ---- isolation ----------------------------------------------------------------------------- */

static void test_other_customer(void **state)
{
    (void)state;
    char *mine = cust_tok("c-other", true, false);
    char *theirs = cust_tok("c-roles", true, false);
    char *foreign = th_token(&W.s, VC_ROLE_CUSTOMER, "x", "r-other", "c-other", true, false);
    char v[48];
    issue(&(tpl){0}, "c-other", v);
    vc_rpc_result res;
    assert_int_equal(freeze(mine, "o-other-1", v, 1000, NULL, &res), VC_GRPC_OK);
    /* Another customer of the reseller, and the same account id under another reseller's
       token: the voucher does not exist for them, nor the order. */
    const char *toks[] = {theirs, foreign};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(freeze(toks[i], "o-other-2", v, 1000, NULL, &res), VC_GRPC_NOT_FOUND);
        assert_int_equal(confirm(toks[i], "o-other-1", 1000, NULL, &res), VC_GRPC_NOT_FOUND);
        Reseller__V1__ReleaseVoucherResponse *rl = NULL;
        assert_int_equal(release(toks[i], "o-other-1", &rl, &res), VC_GRPC_OK);
        assert_null(rl->voucher);
        protobuf_c_message_free_unpacked(&rl->base, NULL);
        assert_int_equal(status_of(toks[i], v, NULL), 0);
        Reseller__V1__ListEligibleVouchersResponse *e = NULL;
        assert_int_equal(list_eligible(toks[i], "cvm", POSTPAID, 1000, "CNY", 0, &e, &res),
                         VC_GRPC_OK);
        assert_false(listed(e, v));
        protobuf_c_message_free_unpacked(&e->base, NULL);
    }
    /* Their attempts changed nothing. */
    assert_int_equal(q("SELECT state FROM voucher_holds WHERE order_id = '%s'", "o-other-1"), 1);
    assert_int_equal(status_of(mine, v, NULL), US_FROZEN);
    assert_int_equal(release(mine, "o-other-1", NULL, &res), VC_GRPC_OK);
    free(mine);
    free(theirs);
    free(foreign);
}

/* ---- bad input ----------------------------------------------------------------------------- */

static void test_bad_input(void **state)
{
    (void)state;
    char *tok = cust_tok("c-bad", true, false);
    char v[48];
    issue(&(tpl){0}, "c-bad", v);
    vc_rpc_result res;
    int64_t h0 = holds(), d0 = deductions();
    Reseller__V1__FreezeVoucherRequest good = RESELLER__V1__FREEZE_VOUCHER_REQUEST__INIT;
    good.order_id = "o-bad-1";
    good.voucher_id = v;
    good.product_code = "cvm";
    good.payment_mode = PREPAID;
    good.order_amount_minor = 1000;
    good.currency_code = "CNY";
    good.purchase_duration_months = 1;
    static const char *const fields[] = {
        "order_id",      "voucher_id",    "product_code",
        "payment_mode",  "payment_mode",  "order_amount_minor",
        "currency_code", "currency_code", "purchase_duration_months",
        "order_id"};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        Reseller__V1__FreezeVoucherRequest r = good;
        switch (i) {
        case 0: r.order_id = ""; break;
        case 1: r.voucher_id = "v x"; break;
        case 2: r.product_code = "c,vm"; break;
        case 3: r.payment_mode = POSTPAID; break; /* frozen only for prepaid orders */
        case 4: r.payment_mode = 7; break;
        case 5: r.order_amount_minor = 0; break;
        case 6: r.currency_code = "cny"; break;
        case 7: r.currency_code = "USD"; break; /* not the reseller's currency */
        case 8: r.purchase_duration_months = 0; break;
        case 9:
            r.order_id = "o-123456789-123456789-123456789-123456789-123456789-123456789-123";
            break;
        }
        int code = call(&W.s, tok, WALLET("FreezeVoucher"), &r,
                        &reseller__v1__freeze_voucher_response__descriptor, NULL, &res);
        th_expect_invalid(code, &res, fields[i]);
    }
    assert_int_equal(list_eligible(tok, "", 0, -1, "", -1, NULL, &res), VC_GRPC_INVALID_ARGUMENT);
    static const char *const elig_fields[] = {"product_code", "payment_mode", "order_amount_minor",
                                              "currency_code", "purchase_duration_months"};
    for (size_t i = 0; i < 5; i++)
        th_expect_invalid(res.code, &res, elig_fields[i]);
    assert_int_equal(list_eligible(tok, "cvm", PREPAID, 100, "USD", 1, NULL, &res),
                     VC_GRPC_INVALID_ARGUMENT);
    th_expect_invalid(res.code, &res, "currency_code");
    assert_int_equal(confirm(tok, "", 0, NULL, &res), VC_GRPC_INVALID_ARGUMENT);
    th_expect_invalid(res.code, &res, "order_id");
    th_expect_invalid(res.code, &res, "amount_minor");
    assert_int_equal(release(tok, "", NULL, &res), VC_GRPC_INVALID_ARGUMENT);
    th_expect_invalid(res.code, &res, "order_id");
    Reseller__V1__UsageStatus bad_st[] = {9};
    assert_int_equal(list_mine(tok, bad_st, 1, 0, "", NULL, &res), VC_GRPC_INVALID_ARGUMENT);
    th_expect_invalid(res.code, &res, "statuses");
    assert_int_equal(list_mine(tok, NULL, 0, 5000, "", NULL, &res), VC_GRPC_INVALID_ARGUMENT);
    th_expect_invalid(res.code, &res, "page_size");
    assert_int_equal(list_mine(tok, NULL, 0, 0, "garbage!", NULL, &res), VC_GRPC_INVALID_ARGUMENT);
    th_expect_invalid(res.code, &res, "page_token");
    /* A paid order's ConfirmPayment in another currency names the field too. */
    assert_int_equal(freeze(tok, "o-bad-2", v, 1000, NULL, &res), VC_GRPC_OK);
    h0++;
    Reseller__V1__ConfirmPaymentRequest cr = RESELLER__V1__CONFIRM_PAYMENT_REQUEST__INIT;
    cr.order_id = "o-bad-2";
    cr.amount_minor = 1000;
    cr.currency_code = "USD";
    assert_int_equal(call(&W.s, tok, WALLET("ConfirmPayment"), &cr,
                          &reseller__v1__confirm_payment_response__descriptor, NULL, &res),
                     VC_GRPC_INVALID_ARGUMENT);
    th_expect_invalid(res.code, &res, "currency_code");
    assert_int_equal(holds(), h0);
    assert_int_equal(deductions(), d0);
    assert_int_equal(q("SELECT state FROM voucher_holds WHERE order_id = '%s'", "o-bad-2"), 1);
    assert_int_equal(release(tok, "o-bad-2", NULL, &res), VC_GRPC_OK);
    free(tok);
}

/* ---- the reseller cannot withdraw what a customer froze or used ---------------------------- */

static int withdraw(const char *v, vc_rpc_result *res)
{
    Reseller__V1__WithdrawVoucherRequest req = RESELLER__V1__WITHDRAW_VOUCHER_REQUEST__INIT;
    req.voucher_id = (char *)v;
    req.reason = "test";
    return call(&W.s, W.tok_reseller, "/reseller.v1.VoucherService/WithdrawVoucher", &req,
                &reseller__v1__withdraw_voucher_response__descriptor, NULL, res);
}

static void test_withdraw_refused_when_frozen_or_used(void **state)
{
    (void)state;
    char *tok = cust_tok("c-withdraw", true, false);
    char held[48], used[48], untouched[48];
    issue(&(tpl){0}, "c-withdraw", held);
    issue(&(tpl){0}, "c-withdraw", used);
    issue(&(tpl){0}, "c-withdraw", untouched);
    vc_rpc_result res;
    assert_int_equal(freeze(tok, "o-wd-1", held, 1000, NULL, &res), VC_GRPC_OK);
    assert_int_equal(freeze(tok, "o-wd-2", used, 1000, NULL, &res), VC_GRPC_OK);
    assert_int_equal(confirm(tok, "o-wd-2", 1000, NULL, &res), VC_GRPC_OK);
    assert_int_equal(withdraw(held, &res), VC_GRPC_FAILED_PRECONDITION);
    assert_int_equal(withdraw(used, &res), VC_GRPC_FAILED_PRECONDITION);
    assert_int_equal(status_of(tok, held, NULL), US_FROZEN);
    assert_int_equal(status_of(tok, used, NULL), US_USED);
    /* Released, the held one was never used: the reseller may withdraw it again. */
    assert_int_equal(release(tok, "o-wd-1", NULL, &res), VC_GRPC_OK);
    assert_int_equal(withdraw(held, &res), VC_GRPC_OK);
    assert_int_equal(withdraw(untouched, &res), VC_GRPC_OK);
    assert_int_equal(status_of(tok, held, NULL), 0);
    free(tok);
}

/* ---- stale holds --------------------------------------------------------------------------- */

/* A replica on the same database with --hold-timeout-s=1 freezes; nobody pays: the timeout job
   releases the hold and the voucher is AVAILABLE again; paying afterwards is refused. */
static void test_hold_timeout(void **state)
{
    (void)state;
    static const char *const flags[] = {"--hold-timeout-s=1", "--hold-sweep-interval-ms=100", NULL};
    th_svc replica;
    th_start_replica(&replica, &W.s, "VC_TEST_RESELLER_BIN", flags);
    char *tok = cust_tok("c-timeout", true, false);
    char v[48], kept[48];
    issue(&(tpl){0}, "c-timeout", v);
    issue(&(tpl){0}, "c-timeout", kept);
    vc_rpc_result res;
    assert_int_equal(freeze_on(&replica, tok, "o-to-1", v, 1000, NULL, &res), VC_GRPC_OK);
    assert_int_equal(freeze(tok, "o-to-2", kept, 1000, NULL, &res), VC_GRPC_OK); /* 1800 s */
    int64_t exp =
        q("SELECT expires_us - created_us FROM voucher_holds WHERE order_id = '%s'", "o-to-1");
    assert_int_equal(exp, VC_US_PER_SEC);
    int state_now = 1;
    for (int i = 0; i < 100 && state_now == 1; i++) {
        usleep(100000);
        state_now = (int)q("SELECT state FROM voucher_holds WHERE order_id = '%s'", "o-to-1");
    }
    assert_int_equal(state_now, 3);
    assert_int_equal(status_of(tok, v, NULL), US_AVAIL);
    assert_int_equal(confirm(tok, "o-to-1", 1000, NULL, &res), VC_GRPC_FAILED_PRECONDITION);
    /* The hold with the long timeout stays. */
    assert_int_equal(status_of(tok, kept, NULL), US_FROZEN);
    assert_int_equal(freeze(tok, "o-to-3", v, 1000, NULL, &res), VC_GRPC_OK);
    assert_int_equal(release(tok, "o-to-3", NULL, &res), VC_GRPC_OK);
    assert_int_equal(release(tok, "o-to-2", NULL, &res), VC_GRPC_OK);
    th_stop(&replica);
    free(tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_statuses_and_list),
        cmocka_unit_test(test_every_eligibility_condition),
        cmocka_unit_test(test_freeze_confirm_release),
        cmocka_unit_test(test_freeze_races),
        cmocka_unit_test(test_other_customer),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_withdraw_refused_when_frozen_or_used),
        cmocka_unit_test(test_hold_timeout),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
