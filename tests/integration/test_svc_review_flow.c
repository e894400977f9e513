/*
 * The review round trip through both real services (SPEC §3, §6; issue 4): reseller-svc submits
 * through its outbox, approval-svc queues tickets with a due time, staff decide, outcomes come
 * back through approval-svc's outbox and are applied once. Fault tests stop or kill -9 either
 * service mid-flight; a race test throws decisions and cancels at the same tickets.
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

#include "approval/v1/calendar_service.pb-c.h"
#include "approval/v1/review_service.pb-c.h"
#include "approval/v1/staff_service.pb-c.h"
#include "base/vc_time.h"
#include "harness.h"
#include "reseller/v1/customer_service.pb-c.h"
#include "reseller/v1/quota_service.pb-c.h"
#include "reseller/v1/review_callback_service.pb-c.h"
#include "reseller/v1/template_service.pb-c.h"
#include "reseller/v1/voucher_service.pb-c.h"

#define FACE 5000

static th_svc R, A; /* reseller-svc, approval-svc */
static char r_listen[64], a_listen[64], r_peer[64], a_peer[64];
static const char *r_flags[6], *a_flags[6];
static char *tok_res, *tok_staff, *tok_staff2, *tok_rsvc, *tok_asvc;
static char *tpl;

static ProtobufCMessage *rcall(const char *tok, const char *path, const ProtobufCMessage *req,
                               const ProtobufCMessageDescriptor *d, vc_rpc_result *res)
{
    ProtobufCMessage *out = NULL;
    th_call(&R, tok, path, req, d, &out, res);
    return out;
}

static ProtobufCMessage *acall(const char *tok, const char *path, const ProtobufCMessage *req,
                               const ProtobufCMessageDescriptor *d, vc_rpc_result *res)
{
    ProtobufCMessage *out = NULL;
    th_call(&A, tok, path, req, d, &out, res);
    return out;
}

static void start_both(void)
{
    int pr = th_free_port(), pa = th_free_port();
    snprintf(r_listen, sizeof(r_listen), "--listen=127.0.0.1:%d", pr);
    snprintf(a_listen, sizeof(a_listen), "--listen=127.0.0.1:%d", pa);
    snprintf(r_peer, sizeof(r_peer), "--approval-addr=127.0.0.1:%d", pa);
    snprintf(a_peer, sizeof(a_peer), "--reseller-addr=127.0.0.1:%d", pr);
    r_flags[0] = r_listen, r_flags[1] = r_peer, r_flags[2] = "--outbox-interval-ms=100";
    a_flags[0] = a_listen, a_flags[1] = a_peer, a_flags[2] = "--outbox-interval-ms=100";
    th_start(&A, "VC_TEST_APPROVAL_BIN", "flow_approval", a_flags);
    th_start_keyed(&R, "VC_TEST_RESELLER_BIN", "flow_reseller", r_flags, A.key_hex);
}

static void grant(int64_t amount)
{
    static int seq;
    char id[64];
    snprintf(id, sizeof(id), "flow-grant-%d", ++seq);
    Reseller__V1__ReviewDecidedRequest g = RESELLER__V1__REVIEW_DECIDED_REQUEST__INIT;
    g.message_id = id;
    g.subject_type = RESELLER__V1__REVIEW_SUBJECT_TYPE__REVIEW_SUBJECT_TYPE_QUOTA_APPLICATION;
    g.subject_id = id;
    g.reseller_id = "r-f";
    g.outcome = RESELLER__V1__REVIEW_OUTCOME__REVIEW_OUTCOME_APPROVED;
    g.reason = "flow test";
    g.decided_by = "staff";
    g.granted_amount_minor = amount;
    g.direct_grant = true;
    vc_rpc_result res;
    th_call(&R, tok_asvc, "/reseller.v1.ReviewCallbackService/ReviewDecided", &g.base,
            &reseller__v1__review_decided_response__descriptor, NULL, &res);
    assert_int_equal(res.code, VC_GRPC_OK);
}

static int64_t quota_left(void)
{
    return th_query_i64(&R, "SELECT COALESCE(SUM(balance_minor), 0) FROM ledger_accounts WHERE "
                            "reseller_id = 'r-f' AND account = 1");
}

static void issue(const char *rid, char voucher[48])
{
    Reseller__V1__IssueVoucherRequest req = RESELLER__V1__ISSUE_VOUCHER_REQUEST__INIT;
    req.request_id = (char *)rid;
    req.template_id = tpl;
    req.customer_id = "c-f";
    vc_rpc_result res;
    Reseller__V1__IssueVoucherResponse *r = (Reseller__V1__IssueVoucherResponse *)rcall(
        tok_res, "/reseller.v1.VoucherService/IssueVoucher", &req.base,
        &reseller__v1__issue_voucher_response__descriptor, &res);
    if (res.code != VC_GRPC_OK)
        fail_msg("issue: %d %s", res.code, res.message);
    snprintf(voucher, 48, "%s", r->voucher->voucher_id);
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* Waits until approval-svc has the ticket of `subject`; copies its id. */
static void wait_ticket(int subject_type, const char *subject, char ticket[48])
{
    for (int i = 0; i < 200; i++) {
        Approval__V1__GetReviewRequest g = APPROVAL__V1__GET_REVIEW_REQUEST__INIT;
        g.subject_type = subject_type;
        g.subject_id = (char *)subject;
        vc_rpc_result res;
        Approval__V1__GetReviewResponse *r = (Approval__V1__GetReviewResponse *)acall(
            tok_rsvc, "/approval.v1.ReviewService/GetReview", &g.base,
            &approval__v1__get_review_response__descriptor, &res);
        if (r) {
            snprintf(ticket, 48, "%s", r->ticket->ticket_id);
            assert_int_equal(r->ticket->business_days, 3);
            /* The due time is the business calendar's: submission + 3 business days. */
            Approval__V1__ComputeDueTimeRequest q = APPROVAL__V1__COMPUTE_DUE_TIME_REQUEST__INIT;
            q.submit_time = r->ticket->submit_time;
            q.business_days = 3;
            vc_rpc_result cres;
            Approval__V1__ComputeDueTimeResponse *due = (Approval__V1__ComputeDueTimeResponse *)acall(
                tok_staff, "/approval.v1.CalendarService/ComputeDueTime", &q.base,
                &approval__v1__compute_due_time_response__descriptor, &cres);
            assert_int_equal(cres.code, VC_GRPC_OK);
            assert_int_equal(due->due_time->seconds, r->ticket->due_time->seconds);
            assert_true(r->ticket->due_time->seconds >= r->ticket->submit_time->seconds + 3 * 86400);
            protobuf_c_message_free_unpacked(&due->base, NULL);
            protobuf_c_message_free_unpacked(&r->base, NULL);
            return;
        }
        usleep(50 * 1000);
    }
    fail_msg("ticket for %s never arrived", subject);
}

static int voucher_status(const char *v)
{
    char sql[1024];
    snprintf(sql, sizeof(sql), "SELECT status FROM vouchers WHERE voucher_id = '%s'", v);
    return (int)th_query_i64(&R, sql);
}

static bool wait_status(const char *v, int status, int seconds)
{
    for (int i = 0; i < seconds * 20; i++) {
        if (voucher_status(v) == status)
            return true;
        usleep(50 * 1000);
    }
    return false;
}

static int decide(const char *tok, const char *ticket, bool approve, int64_t granted)
{
    vc_rpc_result res;
    if (approve) {
        Approval__V1__ApproveTicketRequest a = APPROVAL__V1__APPROVE_TICKET_REQUEST__INIT;
        a.ticket_id = (char *)ticket;
        a.granted_amount_minor = granted;
        ProtobufCMessage *m = acall(tok, "/approval.v1.StaffService/ApproveTicket", &a.base,
                                    &approval__v1__approve_ticket_response__descriptor, &res);
        if (m)
            protobuf_c_message_free_unpacked(m, NULL);
    } else {
        Approval__V1__RejectTicketRequest r = APPROVAL__V1__REJECT_TICKET_REQUEST__INIT;
        r.ticket_id = (char *)ticket;
        r.reason = "not this quarter";
        ProtobufCMessage *m = acall(tok, "/approval.v1.StaffService/RejectTicket", &r.base,
                                    &approval__v1__reject_ticket_response__descriptor, &res);
        if (m)
            protobuf_c_message_free_unpacked(m, NULL);
    }
    return res.code;
}

static int group_setup(void **state)
{
    (void)state;
    start_both();
    tok_res = th_token(&R, VC_ROLE_RESELLER, "op@r-f", "r-f", NULL, false, false);
    tok_staff = th_token(&A, VC_ROLE_STAFF, "alice@provider", NULL, NULL, false, false);
    tok_staff2 = th_token(&A, VC_ROLE_STAFF, "bob@provider", NULL, NULL, false, false);
    tok_rsvc = th_token(&A, VC_ROLE_SERVICE, "reseller-svc", NULL, NULL, false, false);
    tok_asvc = th_token(&R, VC_ROLE_SERVICE, "approval-svc", NULL, NULL, false, false);
    Reseller__V1__CreateCustomerRequest cc = RESELLER__V1__CREATE_CUSTOMER_REQUEST__INIT;
    Reseller__V1__Customer cu = RESELLER__V1__CUSTOMER__INIT;
    cu.customer_id = "c-f";
    cu.name = "Flow customer";
    cc.customer = &cu;
    vc_rpc_result res;
    th_call(&R, tok_res, "/reseller.v1.CustomerService/CreateCustomer", &cc.base,
            &reseller__v1__create_customer_response__descriptor, NULL, &res);
    assert_int_equal(res.code, VC_GRPC_OK);
    Reseller__V1__CreateTemplateRequest ct = RESELLER__V1__CREATE_TEMPLATE_REQUEST__INIT;
    Reseller__V1__Template t = RESELLER__V1__TEMPLATE__INIT;
    Reseller__V1__ProductScope sc = RESELLER__V1__PRODUCT_SCOPE__INIT;
    Reseller__V1__Validity va = RESELLER__V1__VALIDITY__INIT;
    Reseller__V1__UsageConditions co = RESELLER__V1__USAGE_CONDITIONS__INIT;
    Reseller__V1__PaymentMode pm[] = {RESELLER__V1__PAYMENT_MODE__PAYMENT_MODE_POSTPAID};
    ct.request_id = "flow-tpl";
    t.name = "Flow";
    t.face_value_minor = FACE;
    t.funding = RESELLER__V1__FUNDING__FUNDING_PROVIDER_FUNDED;
    sc.kind = RESELLER__V1__PRODUCT_SCOPE_KIND__PRODUCT_SCOPE_KIND_ALL_PRODUCTS;
    t.product_scope = &sc;
    t.payment_modes = pm;
    t.n_payment_modes = 1;
    va.period_case = RESELLER__V1__VALIDITY__PERIOD_DAYS_AFTER_ACTIVATION;
    va.days_after_activation = 30;
    t.validity = &va;
    co.use_limit = RESELLER__V1__USE_LIMIT__USE_LIMIT_SINGLE_USE;
    t.conditions = &co;
    ct.template_ = &t;
    Reseller__V1__CreateTemplateResponse *r = (Reseller__V1__CreateTemplateResponse *)rcall(
        tok_res, "/reseller.v1.TemplateService/CreateTemplate", &ct.base,
        &reseller__v1__create_template_response__descriptor, &res);
    assert_int_equal(res.code, VC_GRPC_OK);
    tpl = strdup(r->template_->template_id);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    grant(1000 * FACE);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    th_assert_ledger_clean(&R);
    th_stop(&R);
    th_stop(&A);
    free(tok_res);
    free(tok_staff);
    free(tok_staff2);
    free(tok_rsvc);
    free(tok_asvc);
    free(tpl);
    return 0;
}

static void test_approve_reject_cancel(void **state)
{
    (void)state;
    int64_t start = quota_left();
    char v1[48], v2[48], v3[48], t1[48], t2[48], t3[48];
    issue("flow-1", v1);
    issue("flow-2", v2);
    issue("flow-3", v3);
    wait_ticket(APPROVAL__V1__SUBJECT_TYPE__SUBJECT_TYPE_VOUCHER_ISSUANCE, v1, t1);
    wait_ticket(APPROVAL__V1__SUBJECT_TYPE__SUBJECT_TYPE_VOUCHER_ISSUANCE, v2, t2);
    wait_ticket(APPROVAL__V1__SUBJECT_TYPE__SUBJECT_TYPE_VOUCHER_ISSUANCE, v3, t3);
    assert_int_equal(decide(tok_staff, t1, true, 0), VC_GRPC_OK);
    assert_int_equal(decide(tok_staff, t2, false, 0), VC_GRPC_OK);
    assert_true(wait_status(v1, RESELLER__V1__VOUCHER_STATUS__VOUCHER_STATUS_ACTIVE, 10));
    assert_true(wait_status(v2, RESELLER__V1__VOUCHER_STATUS__VOUCHER_STATUS_REJECTED, 10));
    /* The reseller cancels v3: approval-svc answers at once, so it is CANCELLED in this call. */
    Reseller__V1__CancelReviewRequest c = RESELLER__V1__CANCEL_REVIEW_REQUEST__INIT;
    c.voucher_id = v3;
    vc_rpc_result res;
    Reseller__V1__CancelReviewResponse *cr = (Reseller__V1__CancelReviewResponse *)rcall(
        tok_res, "/reseller.v1.VoucherService/CancelReview", &c.base,
        &reseller__v1__cancel_review_response__descriptor, &res);
    assert_int_equal(res.code, VC_GRPC_OK);
    assert_int_equal(cr->voucher->status, RESELLER__V1__VOUCHER_STATUS__VOUCHER_STATUS_CANCELLED);
    protobuf_c_message_free_unpacked(&cr->base, NULL);
    /* ... and on approval-svc too; deciding it now is refused. */
    assert_int_equal(decide(tok_staff, t3, true, 0), VC_GRPC_FAILED_PRECONDITION);
    /* The approved voucher's cancel is refused: staff decided first. */
    c.voucher_id = v1;
    assert_null(rcall(tok_res, "/reseller.v1.VoucherService/CancelReview", &c.base,
                      &reseller__v1__cancel_review_response__descriptor, &res));
    assert_int_equal(res.code, VC_GRPC_FAILED_PRECONDITION);
    /* Rejected and cancelled gave their quota back, once; the approved one keeps it. */
    usleep(400 * 1000); /* let the redundant outcome callbacks arrive: they must change nothing */
    assert_int_equal(quota_left(), start - FACE);
    th_assert_ledger_clean(&R);
}

static void test_quota_application_approved(void **state)
{
    (void)state;
    int64_t start = quota_left();
    Reseller__V1__ApplyForQuotaRequest ap = RESELLER__V1__APPLY_FOR_QUOTA_REQUEST__INIT;
    ap.request_id = "flow-apply-1";
    ap.kind = RESELLER__V1__QUOTA_KIND__QUOTA_KIND_VOUCHER_QUOTA;
    ap.amount_minor = 300000;
    ap.justification = "autumn campaign";
    vc_rpc_result res;
    Reseller__V1__ApplyForQuotaResponse *r = (Reseller__V1__ApplyForQuotaResponse *)rcall(
        tok_res, "/reseller.v1.QuotaService/ApplyForQuota", &ap.base,
        &reseller__v1__apply_for_quota_response__descriptor, &res);
    assert_int_equal(res.code, VC_GRPC_OK);
    char app_id[48], t[48];
    snprintf(app_id, sizeof(app_id), "%s", r->application->application_id);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    wait_ticket(APPROVAL__V1__SUBJECT_TYPE__SUBJECT_TYPE_QUOTA_APPLICATION, app_id, t);
    /* Staff grant less than asked. */
    assert_int_equal(decide(tok_staff, t, true, 200000), VC_GRPC_OK);
    for (int i = 0; i < 200 && quota_left() == start; i++)
        usleep(50 * 1000);
    assert_int_equal(quota_left(), start + 200000);
}

static void test_approval_down_then_back(void **state)
{
    (void)state;
    th_kill(&A);
    char v[48], t[48];
    issue("flow-down-1", v); /* issuance does not need approval-svc */
    assert_int_equal(voucher_status(v), RESELLER__V1__VOUCHER_STATUS__VOUCHER_STATUS_PENDING_REVIEW);
    usleep(500 * 1000); /* deliveries fail meanwhile and back off */
    assert_true(th_query_i64(&R, "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL") >= 1);
    th_relaunch(&A, "VC_TEST_APPROVAL_BIN", a_flags);
    wait_ticket(APPROVAL__V1__SUBJECT_TYPE__SUBJECT_TYPE_VOUCHER_ISSUANCE, v, t);
    assert_int_equal(decide(tok_staff, t, true, 0), VC_GRPC_OK);
    assert_true(wait_status(v, RESELLER__V1__VOUCHER_STATUS__VOUCHER_STATUS_ACTIVE, 70));
}

static void test_reseller_down_while_staff_decide(void **state)
{
    (void)state;
    char v[48], t[48];
    issue("flow-rdown-1", v);
    wait_ticket(APPROVAL__V1__SUBJECT_TYPE__SUBJECT_TYPE_VOUCHER_ISSUANCE, v, t);
    th_kill(&R);
    assert_int_equal(decide(tok_staff, t, false, 0), VC_GRPC_OK);
    usleep(500 * 1000);
    th_relaunch(&R, "VC_TEST_RESELLER_BIN", r_flags);
    assert_true(wait_status(v, RESELLER__V1__VOUCHER_STATUS__VOUCHER_STATUS_REJECTED, 70));
    th_assert_ledger_clean(&R);
}

typedef struct racer {
    const char *voucher, *ticket;
    int code;
} racer;

static void *race_approve(void *p)
{
    racer *r = p;
    r->code = decide(tok_staff, r->ticket, true, 0);
    return NULL;
}

static void *race_cancel(void *p)
{
    racer *r = p;
    Reseller__V1__CancelReviewRequest c = RESELLER__V1__CANCEL_REVIEW_REQUEST__INIT;
    c.voucher_id = (char *)r->voucher;
    vc_rpc_result res;
    ProtobufCMessage *m = rcall(tok_res, "/reseller.v1.VoucherService/CancelReview", &c.base,
                                &reseller__v1__cancel_review_response__descriptor, &res);
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
    r->code = res.code;
    return NULL;
}

static void test_decide_vs_cancel_race(void **state)
{
    (void)state;
    enum { N = 12 };
    int64_t start = quota_left();
    char v[N][48], t[N][48];
    for (int i = 0; i < N; i++) {
        char rid[32];
        snprintf(rid, sizeof(rid), "flow-race-%d", i);
        issue(rid, v[i]);
    }
    for (int i = 0; i < N; i++)
        wait_ticket(APPROVAL__V1__SUBJECT_TYPE__SUBJECT_TYPE_VOUCHER_ISSUANCE, v[i], t[i]);
    pthread_t th[2 * N];
    racer r[2 * N];
    for (int i = 0; i < N; i++) {
        r[2 * i] = (racer){.voucher = v[i], .ticket = t[i]};
        r[2 * i + 1] = r[2 * i];
        pthread_create(&th[2 * i], NULL, race_approve, &r[2 * i]);
        pthread_create(&th[2 * i + 1], NULL, race_cancel, &r[2 * i + 1]);
    }
    for (int i = 0; i < 2 * N; i++)
        pthread_join(th[i], NULL);
    int approved = 0;
    for (int i = 0; i < N; i++) {
        /* Exactly one side won. */
        bool staff_won = r[2 * i].code == VC_GRPC_OK;
        bool cancel_won = !staff_won;
        assert_true(staff_won != cancel_won);
        int want = staff_won ? RESELLER__V1__VOUCHER_STATUS__VOUCHER_STATUS_ACTIVE
                             : RESELLER__V1__VOUCHER_STATUS__VOUCHER_STATUS_CANCELLED;
        if (!wait_status(v[i], want, 15))
            fail_msg("voucher %d: status %d, staff %d cancel %d", i, voucher_status(v[i]),
                     r[2 * i].code, r[2 * i + 1].code);
        approved += staff_won;
    }
    usleep(500 * 1000); /* every redundant callback in */
    /* Quota returned once per cancelled voucher, never for an approved one. */
    assert_int_equal(quota_left(), start - (int64_t)N * FACE + (int64_t)(N - approved) * FACE);
    th_assert_ledger_clean(&R);
}

static void test_kill9_mid_flight_loses_nothing(void **state)
{
    (void)state;
    enum { N = 20 };
    char v[N][48];
    for (int i = 0; i < N; i++) {
        char rid[32];
        snprintf(rid, sizeof(rid), "flow-k9-%d", i);
        issue(rid, v[i]);
        if (i == N / 2)
            th_kill(&A); /* approval-svc dies while submissions are in flight */
    }
    th_relaunch(&A, "VC_TEST_APPROVAL_BIN", a_flags);
    char t[N][48];
    for (int i = 0; i < N; i++)
        wait_ticket(APPROVAL__V1__SUBJECT_TYPE__SUBJECT_TYPE_VOUCHER_ISSUANCE, v[i], t[i]);
    for (int i = 0; i < N; i++) {
        assert_int_equal(decide(tok_staff, t[i], i % 2 == 0, 0), VC_GRPC_OK);
        if (i == N / 2)
            th_kill(&R); /* reseller-svc dies while outcomes are in flight */
    }
    th_relaunch(&R, "VC_TEST_RESELLER_BIN", r_flags);
    for (int i = 0; i < N; i++) {
        int want = i % 2 == 0 ? RESELLER__V1__VOUCHER_STATUS__VOUCHER_STATUS_ACTIVE
                              : RESELLER__V1__VOUCHER_STATUS__VOUCHER_STATUS_REJECTED;
        if (!wait_status(v[i], want, 70))
            fail_msg("voucher %d never reached %d (status %d)", i, want, voucher_status(v[i]));
    }
    /* Every ticket's outcome is on its voucher: count mismatches across the two databases. */
    int64_t approved_tickets = th_query_i64(&A, "SELECT COUNT(*) FROM tickets WHERE state = 2 AND "
                                                "subject_type = 1");
    int64_t active_vouchers = th_query_i64(&R, "SELECT COUNT(*) FROM vouchers WHERE status = 5");
    assert_int_equal(approved_tickets, active_vouchers);
    th_assert_ledger_clean(&R);
}

static void test_roles(void **state)
{
    (void)state;
    vc_rpc_result res;
    Approval__V1__SubmitReviewRequest s = APPROVAL__V1__SUBMIT_REVIEW_REQUEST__INIT;
    acall(tok_staff, "/approval.v1.ReviewService/SubmitReview", &s.base,
          &approval__v1__submit_review_response__descriptor, &res);
    assert_int_equal(res.code, VC_GRPC_PERMISSION_DENIED);
    acall(tok_rsvc, "/approval.v1.ReviewService/SubmitReview", &s.base,
          &approval__v1__submit_review_response__descriptor, &res);
    assert_int_equal(res.code, VC_GRPC_INVALID_ARGUMENT);
    assert_non_null(strstr(res.fields, "subject_type"));
    assert_int_equal(th_query_i64(&A, "SELECT COUNT(*) FROM tickets WHERE subject_id = ''"), 0);
    Approval__V1__CancelReviewRequest c = APPROVAL__V1__CANCEL_REVIEW_REQUEST__INIT;
    acall(tok_res, "/approval.v1.ReviewService/CancelReview", &c.base,
          &approval__v1__cancel_review_response__descriptor, &res);
    assert_int_equal(res.code, VC_GRPC_PERMISSION_DENIED); /* a reseller token: wrong role */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_approve_reject_cancel),
        cmocka_unit_test(test_quota_application_approved),
        cmocka_unit_test(test_approval_down_then_back),
        cmocka_unit_test(test_reseller_down_while_staff_decide),
        cmocka_unit_test(test_decide_vs_cancel_race),
        cmocka_unit_test(test_kill9_mid_flight_loses_nothing),
        cmocka_unit_test(test_roles),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
