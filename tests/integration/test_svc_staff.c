/* approval.v1.StaffService against a real approval-svc: list filters and both page orders,
   get, claims (steal refused, lapsed claim taken, re-claim extends), approve/reject with the
   outcome message in the outbox (payload decoded), double decisions and a 16-thread decision
   race, granted-amount rules, queue statistics, direct grants (idempotent, also raced), bad
   input for every RPC (field named, nothing written) and roles. One service for the whole file;
   each test uses its own resellers so the tests do not see each other's tickets. */
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "approval/v1/review_service.pb-c.h"
#include "approval/v1/staff_service.pb-c.h"
#include "base/vc_err.h"
#include "harness.h"
#include "reseller/v1/review_callback_service.pb-c.h"

#define SVC(m) "/approval.v1.StaffService/" m

#define PENDING   APPROVAL__V1__TICKET_STATE__TICKET_STATE_PENDING
#define APPROVED  APPROVAL__V1__TICKET_STATE__TICKET_STATE_APPROVED
#define REJECTED  APPROVAL__V1__TICKET_STATE__TICKET_STATE_REJECTED
#define CANCELLED APPROVAL__V1__TICKET_STATE__TICKET_STATE_CANCELLED
#define VOUCHER   APPROVAL__V1__SUBJECT_TYPE__SUBJECT_TYPE_VOUCHER_ISSUANCE
#define QUOTA     APPROVAL__V1__SUBJECT_TYPE__SUBJECT_TYPE_QUOTA_APPLICATION
#define CREDIT    APPROVAL__V1__SUBJECT_TYPE__SUBJECT_TYPE_CREDIT_APPLICATION
#define KIND_Q    APPROVAL__V1__QUOTA_KIND__QUOTA_KIND_VOUCHER_QUOTA
#define KIND_C    APPROVAL__V1__QUOTA_KIND__QUOTA_KIND_CREDIT_POOL
#define US        1000000LL
#define HOUR      (3600 * US)
#define DAY       (24 * HOUR)

static th_svc S;
static char *ALICE, *BOB, *SERVICE; /* staff "alice", staff "bob", reseller-svc */
static int subject_seq;

/* ---- helpers ------------------------------------------------------------------------------- */

static void free_msg(void *m)
{
    if (m) protobuf_c_message_free_unpacked(m, NULL);
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * US + ts.tv_nsec / 1000;
}

static int64_t sql_i64(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int64_t sql_i64(const char *fmt, ...)
{
    char sql[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    return th_query_i64(&S, sql);
}

static int64_t count_outbox(void)
{
    return sql_i64("SELECT COUNT(*) FROM outbox");
}

/* A PENDING ticket made as reseller-svc makes one (ReviewService.SubmitReview); id_out[64] gets
   its id. Nonzero times then overwrite submitted_us/due_us, to build queues of known order. */
static void make_ticket(char *id_out, int subject, const char *reseller, int64_t amount,
                        int64_t submitted_us, int64_t due_us)
{
    char subject_id[32];
    snprintf(subject_id, sizeof(subject_id), "sub-%d", ++subject_seq);
    Approval__V1__SubmitReviewRequest req = APPROVAL__V1__SUBMIT_REVIEW_REQUEST__INIT;
    req.subject_type = subject;
    req.subject_id = subject_id;
    req.reseller_id = (char *)reseller;
    req.customer_id = subject == VOUCHER ? "cust-1" : "";
    req.amount_minor = amount;
    req.currency_code = "CNY";
    req.description = "test ticket";
    req.business_days = 1;
    Approval__V1__SubmitReviewResponse *r = NULL;
    vc_rpc_result res;
    int code =
        th_call(&S, SERVICE, "/approval.v1.ReviewService/SubmitReview", &req.base,
                &approval__v1__submit_review_response__descriptor, (ProtobufCMessage **)&r, &res);
    if (code != VC_GRPC_OK) fail_msg("SubmitReview: %d %s", code, res.message);
    assert_non_null(r->ticket);
    assert_int_equal(r->ticket->state, PENDING);
    snprintf(id_out, 64, "%s", r->ticket->ticket_id);
    free_msg(r);
    if (submitted_us)
        th_exec(&S, "UPDATE tickets SET submitted_us = ?, due_us = ? WHERE ticket_id = ?",
                VC_DB_ARGS(vc_db_i64(submitted_us), vc_db_i64(due_us), vc_db_str(id_out)));
}

/* Moves a ticket to a final state behind the service's back (history for lists and stats). */
static void set_final(const char *id, int state, int64_t decided_us)
{
    th_exec(&S,
            "UPDATE tickets SET state = ?, decided_us = ?, decided_by = 'seed', claimed_by = NULL, "
            "claim_expires_us = NULL WHERE ticket_id = ?",
            VC_DB_ARGS(vc_db_i64(state), vc_db_i64(decided_us), vc_db_str(id)));
}

static void set_claim(const char *id, const char *who, int64_t expires_us)
{
    th_exec(&S, "UPDATE tickets SET claimed_by = ?, claim_expires_us = ? WHERE ticket_id = ?",
            VC_DB_ARGS(vc_db_str(who), vc_db_i64(expires_us), vc_db_str(id)));
}

static int64_t ts_us(const Google__Protobuf__Timestamp *ts)
{
    assert_non_null(ts);
    return ts->seconds * US + ts->nanos / 1000;
}

static int call(const char *tok, const char *method, const ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *desc, void *out, vc_rpc_result *res)
{
    char path[96];
    snprintf(path, sizeof(path), SVC("%s"), method);
    return th_call(&S, tok, path, req, desc, (ProtobufCMessage **)out, res);
}

static int get_call(const char *tok, const char *id, Approval__V1__Ticket **out, vc_rpc_result *res)
{
    Approval__V1__GetTicketRequest req = APPROVAL__V1__GET_TICKET_REQUEST__INIT;
    req.ticket_id = (char *)id;
    Approval__V1__GetTicketResponse *r = NULL;
    int code = call(tok, "GetTicket", &req.base, &approval__v1__get_ticket_response__descriptor,
                    out ? &r : NULL, res);
    if (out) {
        *out = r ? r->ticket : NULL;
        if (r) r->ticket = NULL;
        free_msg(r);
    }
    return code;
}

/* The ticket as GetTicket shows it (caller frees). */
static Approval__V1__Ticket *get_ok(const char *id)
{
    Approval__V1__Ticket *t = NULL;
    vc_rpc_result res;
    int code = get_call(ALICE, id, &t, &res);
    if (code != VC_GRPC_OK) fail_msg("GetTicket %s: %d %s", id, code, res.message);
    assert_non_null(t);
    return t;
}

static int claim_call(const char *tok, const char *id, int64_t seconds, int32_t nanos,
                      bool with_duration, Approval__V1__Ticket **out, vc_rpc_result *res)
{
    Approval__V1__ClaimTicketRequest req = APPROVAL__V1__CLAIM_TICKET_REQUEST__INIT;
    Google__Protobuf__Duration d = GOOGLE__PROTOBUF__DURATION__INIT;
    d.seconds = seconds;
    d.nanos = nanos;
    req.ticket_id = (char *)id;
    req.claim_duration = with_duration ? &d : NULL;
    Approval__V1__ClaimTicketResponse *r = NULL;
    int code = call(tok, "ClaimTicket", &req.base, &approval__v1__claim_ticket_response__descriptor,
                    out ? &r : NULL, res);
    if (out) {
        *out = r ? r->ticket : NULL;
        if (r) r->ticket = NULL;
        free_msg(r);
    }
    return code;
}

static int approve_call(const char *tok, const char *id, int64_t granted, const char *comment,
                        Approval__V1__Ticket **out, vc_rpc_result *res)
{
    Approval__V1__ApproveTicketRequest req = APPROVAL__V1__APPROVE_TICKET_REQUEST__INIT;
    req.ticket_id = (char *)id;
    req.granted_amount_minor = granted;
    req.comment = (char *)comment;
    Approval__V1__ApproveTicketResponse *r = NULL;
    int code = call(tok, "ApproveTicket", &req.base,
                    &approval__v1__approve_ticket_response__descriptor, out ? &r : NULL, res);
    if (out) {
        *out = r ? r->ticket : NULL;
        if (r) r->ticket = NULL;
        free_msg(r);
    }
    return code;
}

static int reject_call(const char *tok, const char *id, const char *reason,
                       Approval__V1__Ticket **out, vc_rpc_result *res)
{
    Approval__V1__RejectTicketRequest req = APPROVAL__V1__REJECT_TICKET_REQUEST__INIT;
    req.ticket_id = (char *)id;
    req.reason = (char *)reason;
    Approval__V1__RejectTicketResponse *r = NULL;
    int code = call(tok, "RejectTicket", &req.base,
                    &approval__v1__reject_ticket_response__descriptor, out ? &r : NULL, res);
    if (out) {
        *out = r ? r->ticket : NULL;
        if (r) r->ticket = NULL;
        free_msg(r);
    }
    return code;
}

/* The outcome message queued for a ticket, decoded from its outbox row (caller frees). */
static Reseller__V1__ReviewDecidedRequest *outcome_of(const char *ticket_id)
{
    vc_db_conn *c;
    assert_int_equal(vc_db_lease(S.db, 10000, &c), 0);
    vc_db_rows *rows;
    assert_int_equal(vc_db_query(c,
                                 "SELECT o.topic, o.payload, o.message_id FROM outbox o "
                                 "JOIN tickets t ON o.message_id = t.outcome_message_id "
                                 "WHERE t.ticket_id = ?",
                                 VC_DB_ARGS(vc_db_str(ticket_id)), &rows),
                     0);
    assert_int_equal(vc_db_next(rows), 1);
    const char *topic, *payload, *message_id;
    size_t len = 0;
    assert_int_equal(vc_db_get_str(rows, 0, &topic, NULL), 0);
    assert_string_equal(topic, "/reseller.v1.ReviewCallbackService/ReviewDecided");
    assert_int_equal(vc_db_get_str(rows, 1, &payload, &len), 0);
    Reseller__V1__ReviewDecidedRequest *m =
        reseller__v1__review_decided_request__unpack(NULL, len, (const uint8_t *)payload);
    assert_non_null(m);
    assert_int_equal(vc_db_get_str(rows, 2, &message_id, NULL), 0);
    assert_string_equal(m->message_id, message_id); /* the receiver deduplicates on it */
    assert_int_equal(vc_db_next(rows), 0);
    vc_db_rows_close(rows);
    vc_db_release(S.db, c);
    return m;
}

/* Asserts a ticket is still PENDING, unclaimed or claimed as given, with no outcome queued. */
static void assert_untouched(const char *id, const char *claimed_by)
{
    assert_int_equal(sql_i64("SELECT COUNT(*) FROM tickets WHERE ticket_id = '%s' AND state = 1 "
                             "AND decided_us IS NULL AND outcome_message_id IS NULL AND "
                             "(claimed_by <=> %s%s%s)",
                             id, claimed_by ? "'" : "", claimed_by ? claimed_by : "NULL",
                             claimed_by ? "'" : ""),
                     1);
}

static char *staff_token(const char *who)
{
    return th_token(&S, VC_ROLE_STAFF, who, NULL, NULL, false, false);
}

/* ---- GetTicket ------------------------------------------------------------------------------ */

static void test_get(void **state)
{
    (void)state;
    char id[64];
    int64_t now = now_us();
    make_ticket(id, VOUCHER, "r-get", 5000, now - HOUR, now + 2 * HOUR);
    Approval__V1__Ticket *t = get_ok(id);
    assert_string_equal(t->ticket_id, id);
    assert_int_equal(t->subject_type, VOUCHER);
    assert_string_equal(t->reseller_id, "r-get");
    assert_string_equal(t->customer_id, "cust-1");
    assert_int_equal(t->amount_minor, 5000);
    assert_string_equal(t->currency_code, "CNY");
    assert_int_equal(t->state, PENDING);
    assert_int_equal(ts_us(t->submit_time), now - HOUR);
    assert_int_equal(ts_us(t->due_time), now + 2 * HOUR);
    assert_non_null(t->time_left); /* about two hours */
    assert_true(t->time_left->seconds > 2 * 3600 - 60 && t->time_left->seconds <= 2 * 3600);
    assert_false(t->overdue);
    assert_string_equal(t->claimed_by, "");
    assert_null(t->claim_expire_time);
    assert_null(t->decide_time);
    assert_int_equal(t->delivery_state, APPROVAL__V1__DELIVERY_STATE__DELIVERY_STATE_NONE);
    free_msg(t);

    /* Overdue: negative time left. */
    make_ticket(id, QUOTA, "r-get", 100, now - 3 * DAY, now - HOUR);
    t = get_ok(id);
    assert_true(t->overdue);
    assert_true(t->time_left->seconds <= -3600 && t->time_left->seconds > -3600 - 60);
    free_msg(t);

    vc_rpc_result res;
    assert_int_equal(get_call(ALICE, "tkt_nope", NULL, &res), VC_GRPC_NOT_FOUND);
    th_expect_invalid(get_call(ALICE, "", NULL, &res), &res, "ticket_id");
    th_expect_invalid(get_call(ALICE, "bad id!", NULL, &res), &res, "ticket_id");
    char long_id[80];
    memset(long_id, 'x', 65);
    long_id[65] = '\0';
    th_expect_invalid(get_call(ALICE, long_id, NULL, &res), &res, "ticket_id");
}

/* ---- ListTickets ---------------------------------------------------------------------------- */

typedef struct list_q {
    int states[4];
    size_t n_states;
    int subjects[3];
    size_t n_subjects;
    const char *reseller, *claimed_by;
    bool overdue_only;
    int page_size;
} list_q;

static int list_call(const list_q *q, const char *token, Approval__V1__ListTicketsResponse **out,
                     vc_rpc_result *res)
{
    Approval__V1__ListTicketsRequest req = APPROVAL__V1__LIST_TICKETS_REQUEST__INIT;
    req.states = (Approval__V1__TicketState *)q->states;
    req.n_states = q->n_states;
    req.subject_types = (Approval__V1__SubjectType *)q->subjects;
    req.n_subject_types = q->n_subjects;
    req.reseller_id = (char *)(q->reseller ? q->reseller : "");
    req.claimed_by = (char *)(q->claimed_by ? q->claimed_by : "");
    req.overdue_only = q->overdue_only;
    req.page_size = q->page_size;
    req.page_token = (char *)token;
    return call(ALICE, "ListTickets", &req.base, &approval__v1__list_tickets_response__descriptor,
                out, res);
}

/* Pages through a list; ids[] gets the ticket ids in order. Returns how many. */
static size_t list_all(const list_q *q, char ids[][64], size_t max)
{
    size_t n = 0;
    char token[256] = "";
    for (int pages = 0; pages < 100; pages++) {
        Approval__V1__ListTicketsResponse *r = NULL;
        vc_rpc_result res;
        int code = list_call(q, token, &r, &res);
        if (code != VC_GRPC_OK) fail_msg("ListTickets: %d %s", code, res.message);
        if (q->page_size) assert_true(r->n_tickets <= (size_t)q->page_size);
        for (size_t i = 0; i < r->n_tickets; i++) {
            assert_true(n < max);
            snprintf(ids[n++], 64, "%s", r->tickets[i]->ticket_id);
        }
        snprintf(token, sizeof(token), "%s", r->next_page_token);
        free_msg(r);
        if (!*token) return n;
    }
    fail_msg("ListTickets never ended");
    return 0;
}

static void assert_ids(char got[][64], size_t n, const char *const *want, size_t n_want)
{
    if (n != n_want) {
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, "  got[%zu] = %s\n", i, got[i]);
        fail_msg("expected %zu tickets, got %zu", n_want, n);
    }
    for (size_t i = 0; i < n; i++)
        assert_string_equal(got[i], want[i]);
}

static void test_list(void **state)
{
    (void)state;
    const char *R = "r-list";
    int64_t now = now_us();
    /* a..g: submitted in this order (c and d at the same microsecond); due times chosen so the
       queue order differs from the submission order. */
    char a[64], b[64], c[64], d[64], e[64], f[64], g[64], other[64];
    make_ticket(a, VOUCHER, R, 100, now - 10 * HOUR, now - 2 * HOUR); /* overdue */
    make_ticket(b, QUOTA, R, 200, now - 9 * HOUR, now + 5 * HOUR);
    make_ticket(c, CREDIT, R, 300, now - 8 * HOUR, now - 3 * HOUR); /* overdue */
    make_ticket(d, VOUCHER, R, 400, now - 8 * HOUR, now + 1 * HOUR);
    make_ticket(e, QUOTA, R, 500, now - 7 * HOUR, now + 1 * HOUR);   /* same due as d */
    make_ticket(f, VOUCHER, R, 600, now - 6 * HOUR, now - 4 * HOUR); /* decided below */
    make_ticket(g, CREDIT, R, 700, now - 5 * HOUR, now + 9 * HOUR);  /* decided below */
    make_ticket(other, VOUCHER, "r-list-other", 100, now - 9 * HOUR, now - 9 * HOUR);
    set_final(f, APPROVED, now - HOUR);
    set_final(g, CANCELLED, now - HOUR);
    /* c is claimed by alice (live), d by bob (lapsed). */
    Approval__V1__Ticket *t = NULL;
    vc_rpc_result res;
    assert_int_equal(claim_call(ALICE, c, 0, 0, false, &t, &res), VC_GRPC_OK);
    free_msg(t);
    set_claim(d, "bob", now - US);

    /* Ties on the sort key are broken by id; which of c, d sorts first depends on their ids. */
    const char *cd_desc[2] = {strcmp(c, d) > 0 ? c : d, strcmp(c, d) > 0 ? d : c};
    const char *de_asc[2] = {strcmp(d, e) < 0 ? d : e, strcmp(d, e) < 0 ? e : d};
    char got[16][64];
    size_t n;

    /* Everything of the reseller, newest first, every page size. */
    for (int ps = 1; ps <= 8; ps++) {
        list_q q = {.reseller = R, .page_size = ps};
        n = list_all(&q, got, 16);
        const char *want[] = {g, f, e, cd_desc[0], cd_desc[1], b, a};
        assert_ids(got, n, want, 7);
    }
    /* states == [PENDING]: the work queue, soonest due first. */
    for (int ps = 1; ps <= 6; ps += 2) {
        list_q q = {.reseller = R, .states = {PENDING}, .n_states = 1, .page_size = ps};
        n = list_all(&q, got, 16);
        const char *want[] = {c, a, de_asc[0], de_asc[1], b};
        assert_ids(got, n, want, 5);
    }
    /* overdue_only: PENDING past due, most overdue first (f is overdue but decided). */
    {
        list_q q = {.reseller = R, .overdue_only = true, .page_size = 1};
        n = list_all(&q, got, 16);
        const char *want[] = {c, a};
        assert_ids(got, n, want, 2);
    }
    /* overdue_only with a states filter without PENDING: nothing. */
    {
        list_q q = {.reseller = R, .overdue_only = true, .states = {APPROVED}, .n_states = 1};
        n = list_all(&q, got, 16);
        assert_int_equal(n, 0);
    }
    /* Final states only, newest first. */
    {
        list_q q = {.reseller = R, .states = {APPROVED, CANCELLED, REJECTED}, .n_states = 3};
        n = list_all(&q, got, 16);
        const char *want[] = {g, f};
        assert_ids(got, n, want, 2);
    }
    /* Two states including PENDING: not the queue order. */
    {
        list_q q = {.reseller = R, .states = {PENDING, APPROVED}, .n_states = 2, .page_size = 2};
        n = list_all(&q, got, 16);
        const char *want[] = {f, e, cd_desc[0], cd_desc[1], b, a};
        assert_ids(got, n, want, 6);
    }
    /* Subject types. */
    {
        list_q q = {.reseller = R, .subjects = {VOUCHER, CREDIT}, .n_subjects = 2};
        n = list_all(&q, got, 16);
        const char *want[] = {g, f, cd_desc[0], cd_desc[1], a};
        assert_ids(got, n, want, 5);
    }
    {
        list_q q = {.reseller = R,
                    .subjects = {QUOTA},
                    .n_subjects = 1,
                    .states = {PENDING},
                    .n_states = 1};
        n = list_all(&q, got, 16);
        const char *want[] = {e, b};
        assert_ids(got, n, want, 2);
    }
    /* Claims: live ones only. */
    {
        list_q q = {.reseller = R, .claimed_by = "alice"};
        n = list_all(&q, got, 16);
        const char *want[] = {c};
        assert_ids(got, n, want, 1);
        q.claimed_by = "bob";
        n = list_all(&q, got, 16);
        assert_int_equal(n, 0);
    }
    /* Without the reseller filter the other reseller's ticket shows up (staff see all). */
    {
        list_q q = {.subjects = {VOUCHER}, .n_subjects = 1, .states = {PENDING}, .n_states = 1};
        char many[64][64];
        n = list_all(&q, many, 64);
        bool seen = false;
        for (size_t i = 0; i < n; i++)
            seen = seen || strcmp(many[i], other) == 0;
        assert_true(seen);
        q.reseller = R;
        n = list_all(&q, many, 64);
        for (size_t i = 0; i < n; i++)
            assert_string_not_equal(many[i], other);
    }
    /* Each row carries the ticket as GetTicket renders it. */
    {
        list_q q = {.reseller = R, .claimed_by = "alice"};
        Approval__V1__ListTicketsResponse *r = NULL;
        assert_int_equal(list_call(&q, "", &r, &res), VC_GRPC_OK);
        assert_int_equal(r->n_tickets, 1);
        assert_string_equal(r->tickets[0]->claimed_by, "alice");
        assert_true(r->tickets[0]->overdue);
        assert_int_equal(r->tickets[0]->amount_minor, 300);
        assert_string_equal(r->next_page_token, "");
        free_msg(r);
    }
}

static void test_list_validation(void **state)
{
    (void)state;
    vc_rpc_result res;
    list_q q = {.states = {0}, .n_states = 1};
    th_expect_invalid(list_call(&q, "", NULL, &res), &res, "states[0]");
    q = (list_q){.states = {PENDING, 9}, .n_states = 2};
    th_expect_invalid(list_call(&q, "", NULL, &res), &res, "states[1]");
    q = (list_q){.subjects = {VOUCHER, 0}, .n_subjects = 2};
    th_expect_invalid(list_call(&q, "", NULL, &res), &res, "subject_types[1]");
    q = (list_q){.subjects = {4}, .n_subjects = 1};
    th_expect_invalid(list_call(&q, "", NULL, &res), &res, "subject_types[0]");
    q = (list_q){.page_size = -1};
    th_expect_invalid(list_call(&q, "", NULL, &res), &res, "page_size");
    q = (list_q){.page_size = 1001};
    th_expect_invalid(list_call(&q, "", NULL, &res), &res, "page_size");
    q = (list_q){0};
    th_expect_invalid(list_call(&q, "not-a-token", NULL, &res), &res, "page_token");
    q = (list_q){.reseller = "bad reseller"};
    th_expect_invalid(list_call(&q, "", NULL, &res), &res, "reseller_id");
    q = (list_q){.claimed_by = "al\x01ice"};
    th_expect_invalid(list_call(&q, "", NULL, &res), &res, "claimed_by");
    /* Every violation of one request is named. */
    q = (list_q){.states = {7}, .n_states = 1, .reseller = "x y", .page_size = -5};
    int code = list_call(&q, "", NULL, &res);
    th_expect_invalid(code, &res, "states[0]");
    th_expect_invalid(code, &res, "reseller_id");
    th_expect_invalid(code, &res, "page_size");
}

/* ---- ClaimTicket ---------------------------------------------------------------------------- */

static void test_claim(void **state)
{
    (void)state;
    char id[64];
    make_ticket(id, VOUCHER, "r-claim", 100, 0, 0);
    Approval__V1__Ticket *t = NULL;
    vc_rpc_result res;

    /* Default duration: --claim-ttl-s (30 minutes). */
    int64_t before = now_us();
    assert_int_equal(claim_call(ALICE, id, 0, 0, false, &t, &res), VC_GRPC_OK);
    assert_string_equal(t->claimed_by, "alice");
    int64_t exp1 = ts_us(t->claim_expire_time);
    assert_true(exp1 >= before + 1800 * US && exp1 <= now_us() + 1800 * US);
    assert_int_equal(t->state, PENDING);
    free_msg(t);
    assert_int_equal(sql_i64("SELECT claim_expires_us FROM tickets WHERE ticket_id = '%s'", id),
                     exp1);

    /* Re-claiming one's own claim extends it. */
    assert_int_equal(claim_call(ALICE, id, 3600, 500000000, true, &t, &res), VC_GRPC_OK);
    int64_t exp2 = ts_us(t->claim_expire_time);
    assert_true(exp2 >= exp1 + 1800 * US);
    free_msg(t);

    /* Someone else: refused, the holder named; nothing changes. */
    assert_int_equal(claim_call(BOB, id, 0, 0, false, NULL, &res), VC_GRPC_FAILED_PRECONDITION);
    assert_non_null(strstr(res.message, "claimed by alice until"));
    assert_int_equal(sql_i64("SELECT COUNT(*) FROM tickets WHERE ticket_id = '%s' AND "
                             "claimed_by = 'alice' AND claim_expires_us = %" PRId64,
                             id, exp2),
                     1);
    /* ... and bob cannot decide it either. */
    assert_int_equal(approve_call(BOB, id, 0, "", NULL, &res), VC_GRPC_FAILED_PRECONDITION);
    assert_non_null(strstr(res.message, "claimed by alice"));
    assert_int_equal(reject_call(BOB, id, "no", NULL, &res), VC_GRPC_FAILED_PRECONDITION);
    assert_untouched(id, "alice");

    /* A lapsed claim is no claim: bob takes it. */
    set_claim(id, "alice", now_us() - 1);
    t = get_ok(id);
    assert_string_equal(t->claimed_by, "");
    free_msg(t);
    assert_int_equal(claim_call(BOB, id, 60, 0, true, &t, &res), VC_GRPC_OK);
    assert_string_equal(t->claimed_by, "bob");
    free_msg(t);
    assert_int_equal(claim_call(ALICE, id, 0, 0, false, NULL, &res), VC_GRPC_FAILED_PRECONDITION);
    assert_non_null(strstr(res.message, "claimed by bob"));

    /* The holder decides; then nobody can claim. */
    assert_int_equal(approve_call(BOB, id, 0, "ok", &t, &res), VC_GRPC_OK);
    assert_string_equal(t->claimed_by, "");
    free_msg(t);
    assert_int_equal(claim_call(ALICE, id, 0, 0, false, NULL, &res), VC_GRPC_FAILED_PRECONDITION);
    assert_non_null(strstr(res.message, "is already APPROVED"));
    assert_int_equal(claim_call(ALICE, "tkt_unknown", 0, 0, false, NULL, &res), VC_GRPC_NOT_FOUND);

    /* Bad input: nothing is claimed. */
    char id2[64];
    make_ticket(id2, VOUCHER, "r-claim", 100, 0, 0);
    th_expect_invalid(claim_call(ALICE, id2, 0, 0, true, NULL, &res), &res, "claim_duration");
    th_expect_invalid(claim_call(ALICE, id2, 0, 999999999, true, NULL, &res), &res,
                      "claim_duration");
    th_expect_invalid(claim_call(ALICE, id2, -5, 0, true, NULL, &res), &res, "claim_duration");
    th_expect_invalid(claim_call(ALICE, id2, 28800, 1, true, NULL, &res), &res, "claim_duration");
    th_expect_invalid(claim_call(ALICE, id2, 28801, 0, true, NULL, &res), &res, "claim_duration");
    th_expect_invalid(claim_call(ALICE, id2, 5, -1, true, NULL, &res), &res, "claim_duration");
    th_expect_invalid(claim_call(ALICE, "", 0, 0, false, NULL, &res), &res, "ticket_id");
    th_expect_invalid(claim_call(ALICE, "a/b", 0, 0, false, NULL, &res), &res, "ticket_id");
    assert_untouched(id2, NULL);
    /* The longest claim is accepted. */
    assert_int_equal(claim_call(ALICE, id2, 28800, 0, true, NULL, &res), VC_GRPC_OK);
}

/* ---- ApproveTicket / RejectTicket ----------------------------------------------------------- */

static void test_approve(void **state)
{
    (void)state;
    const char *R = "r-approve";
    char v[64], q[64], c[64];
    make_ticket(v, VOUCHER, R, 5000, 0, 0);
    make_ticket(q, QUOTA, R, 100000, 0, 0);
    make_ticket(c, CREDIT, R, 70000, 0, 0);
    Approval__V1__Ticket *t = NULL;
    vc_rpc_result res;
    int64_t outbox0 = count_outbox();

    /* Granted amounts: voucher tickets take none; applications at most the amount asked. */
    th_expect_invalid(approve_call(ALICE, v, 1, "", NULL, &res), &res, "granted_amount_minor");
    th_expect_invalid(approve_call(ALICE, q, 100001, "", NULL, &res), &res, "granted_amount_minor");
    th_expect_invalid(approve_call(ALICE, q, -1, "", NULL, &res), &res, "granted_amount_minor");
    char long_comment[1100];
    memset(long_comment, 'c', 1001);
    long_comment[1001] = '\0';
    th_expect_invalid(approve_call(ALICE, q, 0, long_comment, NULL, &res), &res, "comment");
    th_expect_invalid(approve_call(ALICE, q, 0, "bad \xff utf8", NULL, &res), &res, "comment");
    th_expect_invalid(approve_call(ALICE, "", 0, "", NULL, &res), &res, "ticket_id");
    assert_untouched(v, NULL);
    assert_untouched(q, NULL);
    assert_int_equal(count_outbox(), outbox0);
    assert_int_equal(approve_call(ALICE, "tkt_unknown", 0, "", NULL, &res), VC_GRPC_NOT_FOUND);

    /* Voucher issuance, with a comment. */
    int64_t before = now_us();
    assert_int_equal(approve_call(ALICE, v, 0, "looks fine", &t, &res), VC_GRPC_OK);
    assert_int_equal(t->state, APPROVED);
    assert_string_equal(t->decided_by, "alice");
    assert_string_equal(t->reason, "looks fine");
    assert_int_equal(t->granted_amount_minor, 0);
    assert_true(ts_us(t->decide_time) >= before && ts_us(t->decide_time) <= now_us());
    assert_null(t->time_left);
    assert_false(t->overdue);
    assert_false(t->direct_grant);
    assert_int_equal(t->delivery_state, APPROVAL__V1__DELIVERY_STATE__DELIVERY_STATE_PENDING);
    int64_t decided = ts_us(t->decide_time);
    free_msg(t);
    Reseller__V1__ReviewDecidedRequest *m = outcome_of(v);
    assert_string_equal(m->ticket_id, v);
    assert_int_equal(m->subject_type, VOUCHER);
    assert_int_equal(sql_i64("SELECT COUNT(*) FROM tickets WHERE ticket_id = '%s' AND "
                             "subject_id = '%s'",
                             v, m->subject_id),
                     1);
    assert_string_equal(m->reseller_id, R);
    assert_int_equal(m->outcome, RESELLER__V1__REVIEW_OUTCOME__REVIEW_OUTCOME_APPROVED);
    assert_string_equal(m->reason, "looks fine");
    assert_string_equal(m->decided_by, "alice");
    assert_int_equal(ts_us(m->decide_time), decided);
    assert_int_equal(m->granted_amount_minor, 0);
    assert_string_equal(m->currency_code, "CNY");
    assert_false(m->direct_grant);
    free_msg(m);
    assert_int_equal(count_outbox(), outbox0 + 1);

    /* A quota application in full (0 = as requested), a credit application in part. */
    assert_int_equal(approve_call(BOB, q, 0, "", &t, &res), VC_GRPC_OK);
    assert_int_equal(t->granted_amount_minor, 100000);
    assert_string_equal(t->decided_by, "bob");
    free_msg(t);
    m = outcome_of(q);
    assert_int_equal(m->granted_amount_minor, 100000);
    assert_int_equal(m->subject_type, QUOTA);
    free_msg(m);
    assert_int_equal(approve_call(ALICE, c, 70000, "", &t, &res), VC_GRPC_OK); /* boundary */
    free_msg(t);
    char c2[64];
    make_ticket(c2, CREDIT, R, 70000, 0, 0);
    assert_int_equal(approve_call(ALICE, c2, 1234, "partial", &t, &res), VC_GRPC_OK);
    assert_int_equal(t->granted_amount_minor, 1234);
    assert_int_equal(t->amount_minor, 70000);
    free_msg(t);
    m = outcome_of(c2);
    assert_int_equal(m->granted_amount_minor, 1234);
    assert_int_equal(m->subject_type, CREDIT);
    free_msg(m);
    assert_int_equal(count_outbox(), outbox0 + 4);

    /* Decided once: approving or rejecting again is refused, nothing queued. */
    assert_int_equal(approve_call(ALICE, v, 0, "", NULL, &res), VC_GRPC_FAILED_PRECONDITION);
    assert_non_null(strstr(res.message, "is already APPROVED"));
    assert_int_equal(reject_call(BOB, q, "changed my mind", NULL, &res),
                     VC_GRPC_FAILED_PRECONDITION);
    assert_non_null(strstr(res.message, "is already APPROVED"));
    /* Cancelled by the reseller first (ReviewService.CancelReview queues that outcome). */
    char x[64];
    make_ticket(x, VOUCHER, R, 100, 0, 0);
    t = get_ok(x);
    Approval__V1__CancelReviewRequest cancel = APPROVAL__V1__CANCEL_REVIEW_REQUEST__INIT;
    cancel.subject_type = VOUCHER;
    cancel.subject_id = t->subject_id;
    cancel.reseller_id = (char *)R;
    assert_int_equal(th_call(&S, SERVICE, "/approval.v1.ReviewService/CancelReview", &cancel.base,
                             &approval__v1__cancel_review_response__descriptor, NULL, &res),
                     VC_GRPC_OK);
    free_msg(t);
    assert_int_equal(approve_call(ALICE, x, 0, "", NULL, &res), VC_GRPC_FAILED_PRECONDITION);
    assert_non_null(strstr(res.message, "is already CANCELLED"));
    assert_int_equal(reject_call(ALICE, x, "too late", NULL, &res), VC_GRPC_FAILED_PRECONDITION);
    assert_int_equal(claim_call(ALICE, x, 0, 0, false, NULL, &res), VC_GRPC_FAILED_PRECONDITION);
    assert_int_equal(count_outbox(), outbox0 + 5);
    m = outcome_of(x);
    assert_int_equal(m->outcome, RESELLER__V1__REVIEW_OUTCOME__REVIEW_OUTCOME_CANCELLED);
    free_msg(m);
    assert_int_equal(sql_i64("SELECT COUNT(*) FROM tickets WHERE ticket_id = '%s' AND state = 2 "
                             "AND decided_by = 'alice'",
                             v),
                     1);
}

static void test_reject(void **state)
{
    (void)state;
    char id[64];
    make_ticket(id, QUOTA, "r-reject", 900, 0, 0);
    vc_rpc_result res;
    int64_t outbox0 = count_outbox();
    th_expect_invalid(reject_call(ALICE, id, "", NULL, &res), &res, "reason");
    th_expect_invalid(reject_call(ALICE, id, "  \n ", NULL, &res), &res, "reason");
    th_expect_invalid(reject_call(ALICE, id, "bell\a", NULL, &res), &res, "reason");
    char long_reason[1100];
    memset(long_reason, 'r', 1001);
    long_reason[1001] = '\0';
    th_expect_invalid(reject_call(ALICE, id, long_reason, NULL, &res), &res, "reason");
    int code = reject_call(ALICE, "", "", NULL, &res);
    th_expect_invalid(code, &res, "ticket_id");
    th_expect_invalid(code, &res, "reason");
    assert_untouched(id, NULL);
    assert_int_equal(count_outbox(), outbox0);
    assert_int_equal(reject_call(ALICE, "tkt_unknown", "no", NULL, &res), VC_GRPC_NOT_FOUND);

    /* 1000 characters (multi-byte ones count once) is the limit. */
    char reason[4000] = "";
    for (int i = 0; i < 1000; i++)
        strcat(reason, "é");
    Approval__V1__Ticket *t = NULL;
    assert_int_equal(reject_call(ALICE, id, reason, &t, &res), VC_GRPC_OK);
    assert_int_equal(t->state, REJECTED);
    assert_string_equal(t->reason, reason);
    assert_string_equal(t->decided_by, "alice");
    assert_int_equal(t->granted_amount_minor, 0);
    free_msg(t);
    Reseller__V1__ReviewDecidedRequest *m = outcome_of(id);
    assert_int_equal(m->outcome, RESELLER__V1__REVIEW_OUTCOME__REVIEW_OUTCOME_REJECTED);
    assert_string_equal(m->reason, reason);
    assert_string_equal(m->decided_by, "alice");
    assert_int_equal(m->granted_amount_minor, 0);
    assert_int_equal(m->subject_type, QUOTA);
    free_msg(m);
    assert_int_equal(count_outbox(), outbox0 + 1);

    assert_int_equal(reject_call(BOB, id, "again", NULL, &res), VC_GRPC_FAILED_PRECONDITION);
    assert_non_null(strstr(res.message, "is already REJECTED"));
    assert_int_equal(approve_call(BOB, id, 0, "", NULL, &res), VC_GRPC_FAILED_PRECONDITION);
    assert_int_equal(count_outbox(), outbox0 + 1);
}

/* ---- races ---------------------------------------------------------------------------------- */

/* One unary call from a thread (cmocka asserts belong to the main thread). */
typedef struct racer {
    pthread_t th;
    char *tok;
    const char *path;
    const ProtobufCMessage *req;
    const ProtobufCMessageDescriptor *resp_desc;
    int code;
    char ticket_id[64];
} racer;

static void *racer_run(void *arg)
{
    racer *r = arg;
    vc_rpc_call_opts o = {.bearer = r->tok, .timeout_ms = 30000};
    vc_rpc_result res;
    ProtobufCMessage *m = NULL;
    r->code = vc_rpc_client_unary(S.cli, r->path, r->req, r->resp_desc, NULL, &m, &o, &res) == 0
                  ? res.code
                  : 1000;
    /* Every response raced here holds the ticket as field 1. */
    Approval__V1__GrantQuotaResponse *g = (Approval__V1__GrantQuotaResponse *)m;
    if (m && g->ticket) snprintf(r->ticket_id, sizeof(r->ticket_id), "%s", g->ticket->ticket_id);
    free_msg(m);
    return NULL;
}

static void race_all(racer *rs, int n)
{
    for (int i = 0; i < n; i++)
        assert_int_equal(pthread_create(&rs[i].th, NULL, racer_run, &rs[i]), 0);
    for (int i = 0; i < n; i++)
        pthread_join(rs[i].th, NULL);
}

/* 16 reviewers approve and reject one ticket at once: exactly one decision, one outcome. */
static void test_decide_race(void **state)
{
    (void)state;
    enum { N = 16 };
    for (int round = 0; round < 3; round++) {
        char id[64];
        make_ticket(id, QUOTA, "r-race", 1000, 0, 0);
        int64_t outbox0 = count_outbox();
        Approval__V1__ApproveTicketRequest ap = APPROVAL__V1__APPROVE_TICKET_REQUEST__INIT;
        ap.ticket_id = id;
        Approval__V1__RejectTicketRequest rj = APPROVAL__V1__REJECT_TICKET_REQUEST__INIT;
        rj.ticket_id = id;
        rj.reason = "race";
        racer rs[N];
        memset(rs, 0, sizeof(rs));
        for (int i = 0; i < N; i++) {
            char who[32];
            snprintf(who, sizeof(who), "staff-%d", i);
            rs[i].tok = staff_token(who);
            bool approve = i % 2 == 0;
            rs[i].path = approve ? SVC("ApproveTicket") : SVC("RejectTicket");
            rs[i].req = approve ? &ap.base : &rj.base;
            rs[i].resp_desc = approve ? &approval__v1__approve_ticket_response__descriptor
                                      : &approval__v1__reject_ticket_response__descriptor;
        }
        race_all(rs, N);
        int ok = 0, refused = 0, winner = -1;
        for (int i = 0; i < N; i++) {
            if (rs[i].code == VC_GRPC_OK) {
                ok++;
                winner = i;
            } else if (rs[i].code == VC_GRPC_FAILED_PRECONDITION) {
                refused++;
            } else {
                fail_msg("racer %d: code %d", i, rs[i].code);
            }
            free(rs[i].tok);
        }
        assert_int_equal(ok, 1);
        assert_int_equal(refused, N - 1);
        assert_int_equal(count_outbox(), outbox0 + 1);
        char who[32];
        snprintf(who, sizeof(who), "staff-%d", winner);
        Reseller__V1__ReviewDecidedRequest *m = outcome_of(id);
        assert_string_equal(m->decided_by, who);
        assert_int_equal(m->outcome, winner % 2 == 0
                                         ? RESELLER__V1__REVIEW_OUTCOME__REVIEW_OUTCOME_APPROVED
                                         : RESELLER__V1__REVIEW_OUTCOME__REVIEW_OUTCOME_REJECTED);
        free_msg(m);
        assert_int_equal(sql_i64("SELECT COUNT(*) FROM tickets WHERE ticket_id = '%s' AND "
                                 "decided_by = '%s' AND state = %d",
                                 id, who, winner % 2 == 0 ? APPROVED : REJECTED),
                         1);
    }
}

/* ---- GetQueueStats -------------------------------------------------------------------------- */

static int stats_call(const char *reseller, int days, Approval__V1__GetQueueStatsResponse **out,
                      vc_rpc_result *res)
{
    Approval__V1__GetQueueStatsRequest req = APPROVAL__V1__GET_QUEUE_STATS_REQUEST__INIT;
    req.reseller_id = (char *)reseller;
    req.days = days;
    return call(ALICE, "GetQueueStats", &req.base,
                &approval__v1__get_queue_stats_response__descriptor, out, res);
}

/* The business-local date (the service runs in Asia/Shanghai, like this process). */
static void local_date(int64_t us, char out[16])
{
    time_t s = (time_t)(us / US);
    struct tm tm;
    assert_non_null(localtime_r(&s, &tm));
    assert_true(strftime(out, 16, "%Y-%m-%d", &tm) > 0);
}

static const Approval__V1__DailyDecisions *day_of(const Approval__V1__GetQueueStatsResponse *r,
                                                  int64_t us)
{
    char date[16];
    local_date(us, date);
    for (size_t i = 0; i < r->n_decisions_per_day; i++)
        if (strcmp(r->decisions_per_day[i]->date, date) == 0) return r->decisions_per_day[i];
    fail_msg("no entry for %s", date);
    return NULL;
}

static void test_stats(void **state)
{
    (void)state;
    const char *R = "r-stats";
    int64_t now = now_us();
    char p1[64], p2[64], p3[64], p4[64], d1[64], d2[64], d3[64], d4[64], d5[64], x[64];
    make_ticket(p1, VOUCHER, R, 100, now - 30 * HOUR, now - HOUR); /* oldest, overdue */
    make_ticket(p2, VOUCHER, R, 100, now - 2 * HOUR, now + DAY);   /* live claim */
    make_ticket(p3, QUOTA, R, 100, now - 1 * HOUR, now + DAY);     /* lapsed claim */
    make_ticket(p4, QUOTA, R, 100, now - 3 * HOUR, now + DAY);
    set_claim(p2, "alice", now + HOUR);
    set_claim(p3, "bob", now - HOUR);
    make_ticket(d1, VOUCHER, R, 100, now - 3 * DAY, now - 2 * DAY);
    make_ticket(d2, VOUCHER, R, 100, now - 3 * DAY, now - 2 * DAY);
    make_ticket(d3, CREDIT, R, 100, now - 3 * DAY, now - 2 * DAY);
    make_ticket(d4, QUOTA, R, 100, now - 12 * DAY, now - 11 * DAY);
    make_ticket(d5, QUOTA, R, 100, now - 12 * DAY, now - 11 * DAY);
    set_final(d1, APPROVED, now - 1000);
    set_final(d2, REJECTED, now - DAY);
    set_final(d3, CANCELLED, now - 3 * DAY);
    set_final(d4, APPROVED, now - 10 * DAY);
    set_final(d5, APPROVED, now - 100 * DAY);
    make_ticket(x, CREDIT, "r-stats-other", 100, now - 90 * DAY, now - 80 * DAY);

    Approval__V1__GetQueueStatsResponse *r = NULL;
    vc_rpc_result res;
    assert_int_equal(stats_call(R, 0, &r, &res), VC_GRPC_OK);
    assert_int_equal(r->pending_count, 4);
    assert_int_equal(r->overdue_count, 1);
    assert_int_equal(r->claimed_count, 1);
    assert_int_equal(ts_us(r->oldest_pending_submit_time), now - 30 * HOUR);
    assert_non_null(r->oldest_pending_age);
    assert_true(r->oldest_pending_age->seconds >= 30 * 3600 &&
                r->oldest_pending_age->seconds < 30 * 3600 + 60);
    assert_int_equal(r->n_pending_by_subject, 3);
    assert_int_equal(r->pending_by_subject[0]->subject_type, VOUCHER);
    assert_int_equal(r->pending_by_subject[0]->pending_count, 2);
    assert_int_equal(r->pending_by_subject[1]->subject_type, QUOTA);
    assert_int_equal(r->pending_by_subject[1]->pending_count, 2);
    assert_int_equal(r->pending_by_subject[2]->subject_type, CREDIT);
    assert_int_equal(r->pending_by_subject[2]->pending_count, 0);
    /* 7 days by default, oldest first, ending today, zeros included. */
    assert_int_equal(r->n_decisions_per_day, 7);
    char today[16];
    local_date(now_us(), today);
    assert_string_equal(r->decisions_per_day[6]->date, today);
    for (size_t i = 1; i < 7; i++)
        assert_true(strcmp(r->decisions_per_day[i - 1]->date, r->decisions_per_day[i]->date) < 0);
    int64_t approved = 0, rejected = 0, cancelled = 0;
    for (size_t i = 0; i < 7; i++) {
        approved += r->decisions_per_day[i]->approved_count;
        rejected += r->decisions_per_day[i]->rejected_count;
        cancelled += r->decisions_per_day[i]->cancelled_count;
    }
    assert_int_equal(approved, 1);
    assert_int_equal(rejected, 1);
    assert_int_equal(cancelled, 1);
    assert_int_equal(day_of(r, now - 1000)->approved_count, 1);
    assert_int_equal(day_of(r, now - DAY)->rejected_count, 1);
    assert_int_equal(day_of(r, now - 3 * DAY)->cancelled_count, 1);
    assert_int_equal(r->undelivered_count, 0); /* the seeded decisions queued nothing */
    free_msg(r);

    /* A longer window reaches the decision 10 days ago (not the one 100 days ago). */
    assert_int_equal(stats_call(R, 30, &r, &res), VC_GRPC_OK);
    assert_int_equal(r->n_decisions_per_day, 30);
    assert_int_equal(day_of(r, now - 10 * DAY)->approved_count, 1);
    approved = 0;
    for (size_t i = 0; i < 30; i++)
        approved += r->decisions_per_day[i]->approved_count;
    assert_int_equal(approved, 2);
    free_msg(r);
    assert_int_equal(stats_call(R, 1, &r, &res), VC_GRPC_OK);
    assert_int_equal(r->n_decisions_per_day, 1);
    assert_string_equal(r->decisions_per_day[0]->date, today);
    free_msg(r);
    assert_int_equal(stats_call(R, 90, &r, &res), VC_GRPC_OK);
    assert_int_equal(r->n_decisions_per_day, 90);
    free_msg(r);

    /* A decision through the API: counted today, its outcome undelivered. */
    assert_int_equal(approve_call(ALICE, p1, 0, "", NULL, &res), VC_GRPC_OK);
    assert_int_equal(stats_call(R, 0, &r, &res), VC_GRPC_OK);
    assert_int_equal(r->pending_count, 3);
    assert_int_equal(r->overdue_count, 0);
    assert_int_equal(ts_us(r->oldest_pending_submit_time), now - 3 * HOUR);
    assert_int_equal(r->pending_by_subject[0]->pending_count, 1);
    assert_int_equal(r->decisions_per_day[6]->approved_count, 2);
    assert_int_equal(r->undelivered_count, 1);
    free_msg(r);

    /* A reseller with nothing: zeros, no oldest ticket. */
    assert_int_equal(stats_call("r-stats-none", 3, &r, &res), VC_GRPC_OK);
    assert_int_equal(r->pending_count, 0);
    assert_null(r->oldest_pending_submit_time);
    assert_null(r->oldest_pending_age);
    assert_int_equal(r->n_pending_by_subject, 3);
    assert_int_equal(r->n_decisions_per_day, 3);
    assert_int_equal(r->undelivered_count, 0);
    free_msg(r);

    /* Everyone: the whole table. */
    assert_int_equal(stats_call("", 0, &r, &res), VC_GRPC_OK);
    assert_int_equal(r->pending_count, sql_i64("SELECT COUNT(*) FROM tickets WHERE state = 1"));
    assert_int_equal(r->undelivered_count,
                     sql_i64("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL"));
    assert_true(ts_us(r->oldest_pending_submit_time) <= now - 90 * DAY);
    free_msg(r);

    th_expect_invalid(stats_call(R, 91, NULL, &res), &res, "days");
    th_expect_invalid(stats_call(R, -1, NULL, &res), &res, "days");
    th_expect_invalid(stats_call("r stats", 0, NULL, &res), &res, "reseller_id");
}

/* ---- GrantQuota ----------------------------------------------------------------------------- */

static void grant_req(Approval__V1__GrantQuotaRequest *req, const char *rid, const char *reseller,
                      int kind, int64_t amount)
{
    approval__v1__grant_quota_request__init(req);
    req->request_id = (char *)rid;
    req->reseller_id = (char *)reseller;
    req->kind = kind;
    req->amount_minor = amount;
    req->currency_code = "CNY";
    req->reason = "Q3 campaign";
}

static int grant_call(const Approval__V1__GrantQuotaRequest *req, Approval__V1__Ticket **out,
                      vc_rpc_result *res)
{
    Approval__V1__GrantQuotaResponse *r = NULL;
    int code = call(ALICE, "GrantQuota", &req->base,
                    &approval__v1__grant_quota_response__descriptor, out ? &r : NULL, res);
    if (out) {
        *out = r ? r->ticket : NULL;
        if (r) r->ticket = NULL;
        free_msg(r);
    }
    return code;
}

static void test_grant(void **state)
{
    (void)state;
    const char *R = "r-grant";
    Approval__V1__GrantQuotaRequest req;
    grant_req(&req, "g-1", R, KIND_Q, 250000);
    Approval__V1__Ticket *t = NULL;
    vc_rpc_result res;
    int64_t outbox0 = count_outbox();
    int64_t before = now_us();
    assert_int_equal(grant_call(&req, &t, &res), VC_GRPC_OK);
    assert_int_equal(t->state, APPROVED);
    assert_true(t->direct_grant);
    assert_int_equal(t->subject_type, QUOTA);
    assert_string_equal(t->subject_id, t->ticket_id);
    assert_true(strncmp(t->ticket_id, "grt_", 4) == 0);
    assert_string_equal(t->reseller_id, R);
    assert_int_equal(t->amount_minor, 250000);
    assert_int_equal(t->granted_amount_minor, 250000);
    assert_string_equal(t->currency_code, "CNY");
    assert_string_equal(t->decided_by, "alice");
    assert_string_equal(t->reason, "Q3 campaign");
    assert_int_equal(t->business_days, 0);
    int64_t decided = ts_us(t->decide_time);
    assert_true(decided >= before && decided <= now_us());
    assert_int_equal(ts_us(t->submit_time), decided);
    assert_int_equal(t->delivery_state, APPROVAL__V1__DELIVERY_STATE__DELIVERY_STATE_PENDING);
    char id[64];
    snprintf(id, sizeof(id), "%s", t->ticket_id);
    free_msg(t);
    assert_int_equal(count_outbox(), outbox0 + 1);
    Reseller__V1__ReviewDecidedRequest *m = outcome_of(id);
    assert_string_equal(m->ticket_id, id);
    assert_string_equal(m->subject_id, id);
    assert_int_equal(m->subject_type, QUOTA);
    assert_string_equal(m->reseller_id, R);
    assert_int_equal(m->outcome, RESELLER__V1__REVIEW_OUTCOME__REVIEW_OUTCOME_APPROVED);
    assert_true(m->direct_grant);
    assert_int_equal(m->granted_amount_minor, 250000);
    assert_string_equal(m->currency_code, "CNY");
    assert_string_equal(m->decided_by, "alice");
    assert_string_equal(m->reason, "Q3 campaign");
    assert_int_equal(ts_us(m->decide_time), decided);
    free_msg(m);

    /* A retry: the same grant, nothing new. */
    assert_int_equal(grant_call(&req, &t, &res), VC_GRPC_OK);
    assert_string_equal(t->ticket_id, id);
    assert_int_equal(ts_us(t->decide_time), decided);
    free_msg(t);
    assert_int_equal(count_outbox(), outbox0 + 1);
    assert_int_equal(sql_i64("SELECT COUNT(*) FROM tickets WHERE reseller_id = '%s'", R), 1);
    /* The same request_id with other parameters. */
    req.amount_minor = 250001;
    assert_int_equal(grant_call(&req, NULL, &res), VC_GRPC_ALREADY_EXISTS);
    req.amount_minor = 250000;
    req.reason = "another reason";
    assert_int_equal(grant_call(&req, NULL, &res), VC_GRPC_ALREADY_EXISTS);
    assert_int_equal(sql_i64("SELECT COUNT(*) FROM tickets WHERE reseller_id = '%s'", R), 1);
    assert_int_equal(count_outbox(), outbox0 + 1);
    /* The id is per reseller. */
    grant_req(&req, "g-1", "r-grant-2", KIND_C, 99);
    assert_int_equal(grant_call(&req, &t, &res), VC_GRPC_OK);
    assert_int_equal(t->subject_type, CREDIT);
    assert_string_not_equal(t->ticket_id, id);
    free_msg(t);
    assert_int_equal(count_outbox(), outbox0 + 2);
    /* Largest amount. */
    grant_req(&req, "g-max", R, KIND_C, 10000000000000LL);
    assert_int_equal(grant_call(&req, NULL, &res), VC_GRPC_OK);
}

static void test_grant_validation(void **state)
{
    (void)state;
    const char *R = "r-grant-bad";
    Approval__V1__GrantQuotaRequest req;
    vc_rpc_result res;
    int64_t outbox0 = count_outbox();
    char long_id[80], long_reason[1100];
    memset(long_id, 'i', 65);
    long_id[65] = '\0';
    memset(long_reason, 'w', 1001);
    long_reason[1001] = '\0';
#define BAD(field, stmt)                                                                           \
    do {                                                                                           \
        grant_req(&req, "g-bad", R, KIND_Q, 100);                                                  \
        stmt;                                                                                      \
        th_expect_invalid(grant_call(&req, NULL, &res), &res, field);                              \
    } while (0)
    BAD("request_id", req.request_id = "");
    BAD("request_id", req.request_id = long_id);
    BAD("request_id", req.request_id = "a b");
    BAD("reseller_id", req.reseller_id = "");
    BAD("reseller_id", req.reseller_id = long_id);
    BAD("reseller_id", req.reseller_id = "r/1");
    BAD("kind", req.kind = 0);
    BAD("kind", req.kind = 3);
    BAD("amount_minor", req.amount_minor = 0);
    BAD("amount_minor", req.amount_minor = -5);
    BAD("amount_minor", req.amount_minor = 10000000000001LL);
    BAD("currency_code", req.currency_code = "");
    BAD("currency_code", req.currency_code = "cny");
    BAD("currency_code", req.currency_code = "CNYY");
    BAD("reason", req.reason = "");
    BAD("reason", req.reason = " \t ");
    BAD("reason", req.reason = long_reason);
    BAD("reason", req.reason = "nul\x01");
#undef BAD
    /* All at once. */
    approval__v1__grant_quota_request__init(&req);
    int code = grant_call(&req, NULL, &res);
    const char *all[] = {"request_id",   "reseller_id",   "kind",
                         "amount_minor", "currency_code", "reason"};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        th_expect_invalid(code, &res, all[i]);
    assert_int_equal(sql_i64("SELECT COUNT(*) FROM tickets WHERE reseller_id = '%s'", R), 0);
    assert_int_equal(sql_i64("SELECT COUNT(*) FROM request_log WHERE request_id = 'g-bad'"), 0);
    assert_int_equal(count_outbox(), outbox0);
}

/* Concurrent grants with one request_id make one ticket and all get it. */
static void test_grant_race(void **state)
{
    (void)state;
    enum { N = 8 };
    Approval__V1__GrantQuotaRequest req;
    grant_req(&req, "g-race", "r-grant-race", KIND_C, 5000);
    int64_t outbox0 = count_outbox();
    racer rs[N];
    memset(rs, 0, sizeof(rs));
    for (int i = 0; i < N; i++) {
        rs[i].tok = ALICE;
        rs[i].path = SVC("GrantQuota");
        rs[i].req = &req.base;
        rs[i].resp_desc = &approval__v1__grant_quota_response__descriptor;
    }
    race_all(rs, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(rs[i].code, VC_GRPC_OK);
        assert_string_equal(rs[i].ticket_id, rs[0].ticket_id);
    }
    assert_int_equal(sql_i64("SELECT COUNT(*) FROM tickets WHERE reseller_id = 'r-grant-race'"), 1);
    assert_int_equal(count_outbox(), outbox0 + 1);
}

/* ---- roles ---------------------------------------------------------------------------------- */

static void test_roles(void **state)
{
    (void)state;
    char id[64];
    make_ticket(id, VOUCHER, "r-roles", 100, 0, 0);
    char *toks[] = {
        th_token(&S, VC_ROLE_RESELLER, "op", "r-roles", NULL, false, false),
        th_token(&S, VC_ROLE_CUSTOMER, "c", "r-roles", "cust-1", true, false),
        th_token(&S, VC_ROLE_BILLING, "billing", NULL, NULL, false, false),
        th_token(&S, VC_ROLE_SERVICE, "reseller-svc", NULL, NULL, false, false),
    };
    Approval__V1__ListTicketsRequest list = APPROVAL__V1__LIST_TICKETS_REQUEST__INIT;
    Approval__V1__GetTicketRequest get = APPROVAL__V1__GET_TICKET_REQUEST__INIT;
    get.ticket_id = id;
    Approval__V1__ClaimTicketRequest claim = APPROVAL__V1__CLAIM_TICKET_REQUEST__INIT;
    claim.ticket_id = id;
    Approval__V1__ApproveTicketRequest approve = APPROVAL__V1__APPROVE_TICKET_REQUEST__INIT;
    approve.ticket_id = id;
    Approval__V1__RejectTicketRequest reject = APPROVAL__V1__REJECT_TICKET_REQUEST__INIT;
    reject.ticket_id = id;
    reject.reason = "no";
    Approval__V1__GetQueueStatsRequest stats = APPROVAL__V1__GET_QUEUE_STATS_REQUEST__INIT;
    Approval__V1__GrantQuotaRequest grant;
    grant_req(&grant, "g-roles", "r-roles", KIND_Q, 100);
    struct {
        const char *method;
        const ProtobufCMessage *req;
        const ProtobufCMessageDescriptor *desc;
    } calls[] = {
        {"ListTickets", &list.base, &approval__v1__list_tickets_response__descriptor},
        {"GetTicket", &get.base, &approval__v1__get_ticket_response__descriptor},
        {"ClaimTicket", &claim.base, &approval__v1__claim_ticket_response__descriptor},
        {"ApproveTicket", &approve.base, &approval__v1__approve_ticket_response__descriptor},
        {"RejectTicket", &reject.base, &approval__v1__reject_ticket_response__descriptor},
        {"GetQueueStats", &stats.base, &approval__v1__get_queue_stats_response__descriptor},
        {"GrantQuota", &grant.base, &approval__v1__grant_quota_response__descriptor},
    };
    vc_rpc_result res;
    for (size_t c = 0; c < sizeof(calls) / sizeof(calls[0]); c++) {
        for (size_t k = 0; k < sizeof(toks) / sizeof(toks[0]); k++) {
            int code = call(toks[k], calls[c].method, calls[c].req, calls[c].desc, NULL, &res);
            if (code != VC_GRPC_PERMISSION_DENIED)
                fail_msg("%s with token %zu: %d %s", calls[c].method, k, code, res.message);
        }
        assert_int_equal(call(NULL, calls[c].method, calls[c].req, calls[c].desc, NULL, &res),
                         VC_GRPC_UNAUTHENTICATED);
    }
    for (size_t k = 0; k < sizeof(toks) / sizeof(toks[0]); k++)
        free(toks[k]);
    assert_untouched(id, NULL);
    assert_int_equal(sql_i64("SELECT COUNT(*) FROM tickets WHERE reseller_id = 'r-roles'"), 1);
}

/* ---- main ----------------------------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    /* The service's business time zone, for the dates of decisions per day. */
    setenv("TZ", "Asia/Shanghai", 1);
    tzset();
    static const char *const extra[] = {"--time-zone=Asia/Shanghai", "--claim-ttl-s=1800",
                                        "--claim-max-s=28800", "--reseller-addr=127.0.0.1:1", NULL};
    th_start(&S, "VC_TEST_APPROVAL_BIN", "staff", extra);
    ALICE = staff_token("alice");
    BOB = staff_token("bob");
    SERVICE = th_token(&S, VC_ROLE_SERVICE, "reseller-svc", NULL, NULL, false, false);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(ALICE);
    free(BOB);
    free(SERVICE);
    th_stop(&S);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_list_validation),
        cmocka_unit_test(test_claim),
        cmocka_unit_test(test_approve),
        cmocka_unit_test(test_reject),
        cmocka_unit_test(test_decide_race),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_grant),
        cmocka_unit_test(test_grant_validation),
        cmocka_unit_test(test_grant_race),
        cmocka_unit_test(test_roles),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
