/*
 * queue.c - approval.v1.ReviewService: what reseller-svc sends (service role only).
 *
 * SubmitReview is idempotent on the subject (a unique key on subject_type + subject_id): a
 * redelivered submission returns the existing ticket. CancelReview resolves a cancel request to
 * the ticket's single final state: PENDING becomes CANCELLED (and the outcome is queued like any
 * decision); a ticket staff already decided stays as decided. A cancel that overtakes its own
 * submission (outbox deliveries are retried independently) leaves a CANCELLED ticket behind, so
 * the late submission finds the subject already cancelled instead of opening a review.
 */
#include <string.h>

#include "approval/v1/review_service.pb-c.h"
#include "rpc/vc_validate.h"
#include "tickets.h"

#define AS_AMOUNT_MAX 10000000000000LL

static int as__check_subject(vc_rpc_ctx *ctx, int type, const char *id, const char *reseller)
{
    if (type != AS_SUBJ_VOUCHER && type != AS_SUBJ_QUOTA && type != AS_SUBJ_CREDIT)
        vc_rpc_invalid(ctx, "subject_type",
                       "must be VOUCHER_ISSUANCE, QUOTA_APPLICATION or CREDIT_APPLICATION");
    vc_validate_token(ctx, "subject_id", id, 64, true);
    vc_validate_token(ctx, "reseller_id", reseller, 64, true);
    return vc_rpc_error_code(ctx);
}

static bool as__currency_ok(const char *c)
{
    return c && strlen(c) == 3 && c[0] >= 'A' && c[0] <= 'Z' && c[1] >= 'A' && c[1] <= 'Z' &&
           c[2] >= 'A' && c[2] <= 'Z';
}

typedef struct as_submit {
    const as_app *app;
    vc_arena *arena;
    const Approval__V1__SubmitReviewRequest *req;
    as_ticket t;
    bool created;
    bool foreign; /* the subject exists for another reseller */
} as_submit;

static int as__submit_tx(vc_db_conn *c, void *arg)
{
    as_submit *s = arg;
    const Approval__V1__SubmitReviewRequest *r = s->req;
    s->created = false;
    int rc = as_ticket_load_subject(c, s->arena, r->subject_type, r->subject_id, false, &s->t);
    if (rc == 0) {
        s->foreign = strcmp(s->t.reseller_id, r->reseller_id) != 0;
        return 0; /* submitted before (or cancelled before it arrived) */
    }
    if (rc != VC_ENOENT)
        return rc;
    int days = r->business_days ? r->business_days : (int)s->app->cfg->business_days;
    int64_t now = vc_now_us(), due = 0;
    if ((rc = as_due_time(c, now, days, &due)) < 0)
        return rc;
    char id[VC_ID_MAX];
    if ((rc = vc_id_new(id, "tkt")) != 0)
        return rc;
    rc = vc_db_exec(c,
                    "INSERT INTO tickets (ticket_id, subject_type, subject_id, reseller_id, "
                    "customer_id, amount_minor, currency_code, description, state, business_days, "
                    "submitted_us, due_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    VC_DB_ARGS(vc_db_str(id), vc_db_i64(r->subject_type), vc_db_str(r->subject_id),
                               vc_db_str(r->reseller_id),
                               vc_db_str(r->customer_id ? r->customer_id : ""),
                               vc_db_i64(r->amount_minor), vc_db_str(r->currency_code),
                               vc_db_str(r->description ? r->description : ""),
                               vc_db_i64(AS_ST_PENDING), vc_db_i64(days), vc_db_i64(now),
                               vc_db_i64(due)),
                    NULL);
    if (rc < 0)
        return rc; /* VC_EEXIST: a concurrent twin won; the retry loads it */
    s->created = true;
    return as_ticket_load(c, s->arena, id, false, &s->t);
}

static int submit_review(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Approval__V1__SubmitReviewRequest *req = req_;
    Approval__V1__SubmitReviewResponse *resp = resp_;
    as_app *app = vc_rpc_service_data(ctx);
    as__check_subject(ctx, req->subject_type, req->subject_id, req->reseller_id);
    vc_validate_token(ctx, "customer_id", req->customer_id, 64,
                      req->subject_type == AS_SUBJ_VOUCHER);
    if (req->amount_minor <= 0 || req->amount_minor > AS_AMOUNT_MAX)
        vc_rpc_invalid(ctx, "amount_minor", "must be between 1 and %lld",
                       (long long)AS_AMOUNT_MAX);
    if (!as__currency_ok(req->currency_code))
        vc_rpc_invalid(ctx, "currency_code", "must be a 3-letter ISO 4217 code");
    vc_validate_text(ctx, "description", req->description, 1024, false, true);
    if (req->business_days < 0 || req->business_days > 3)
        vc_rpc_invalid(ctx, "business_days", "must be 1 to 3 (0 = the configured default)");
    if (vc_rpc_error_code(ctx) == VC_GRPC_INVALID_ARGUMENT)
        return VC_GRPC_INVALID_ARGUMENT;
    as_submit s = {.app = app, .arena = vc_rpc_arena(ctx), .req = req};
    int rc = vc_db_tx(app->db, as__submit_tx, &s);
    if (rc == VC_EEXIST)
        rc = vc_db_tx(app->db, as__submit_tx, &s);
    if (rc < 0)
        return vc_rpc_fail(ctx, rc, "submit review");
    if (s.foreign)
        return vc_rpc_error(ctx, VC_GRPC_ALREADY_EXISTS,
                            "subject %s is under review for another reseller", req->subject_id);
    resp->ticket = as_ticket_to_pb(vc_rpc_arena(ctx), &s.t, vc_now_us());
    resp->created = s.created;
    return VC_GRPC_OK;
}

typedef struct as_cancel {
    vc_arena *arena;
    const Approval__V1__CancelReviewRequest *req;
    as_ticket t;
    bool foreign;
} as_cancel;

static int as__cancel_tx(vc_db_conn *c, void *arg)
{
    as_cancel *k = arg;
    const Approval__V1__CancelReviewRequest *r = k->req;
    char who[128];
    snprintf(who, sizeof(who), "reseller:%s", r->reseller_id);
    int rc = as_ticket_load_subject(c, k->arena, r->subject_type, r->subject_id, true, &k->t);
    if (rc == VC_ENOENT) {
        /* The cancel overtook its submission: record the subject as cancelled. */
        char id[VC_ID_MAX];
        int64_t now = vc_now_us();
        if ((rc = vc_id_new(id, "tkt")) != 0)
            return rc;
        rc = vc_db_exec(c,
                        "INSERT INTO tickets (ticket_id, subject_type, subject_id, reseller_id, "
                        "amount_minor, currency_code, state, business_days, submitted_us, due_us, "
                        "decided_by, decided_us, reason) VALUES (?, ?, ?, ?, 0, '', ?, 0, ?, ?, ?, "
                        "?, 'cancelled by the reseller before the review arrived')",
                        VC_DB_ARGS(vc_db_str(id), vc_db_i64(r->subject_type),
                                   vc_db_str(r->subject_id), vc_db_str(r->reseller_id),
                                   vc_db_i64(AS_ST_CANCELLED), vc_db_i64(now), vc_db_i64(now),
                                   vc_db_str(who), vc_db_i64(now)),
                        NULL);
        if (rc < 0 || (rc = as_ticket_load(c, k->arena, id, true, &k->t)) < 0)
            return rc;
        return as_ticket_queue_outcome(c, &k->t);
    }
    if (rc < 0)
        return rc;
    if (strcmp(k->t.reseller_id, r->reseller_id) != 0) {
        k->foreign = true;
        return 0;
    }
    if (k->t.state != AS_ST_PENDING)
        return 0; /* decided first: the decision stands */
    rc = as_ticket_decide(c, k->arena, &k->t, AS_ST_CANCELLED, who, "cancelled by the reseller",
                          0, true);
    return rc == VC_ECONFLICT ? 0 : rc;
}

static int cancel_review(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Approval__V1__CancelReviewRequest *req = req_;
    Approval__V1__CancelReviewResponse *resp = resp_;
    as_app *app = vc_rpc_service_data(ctx);
    if (as__check_subject(ctx, req->subject_type, req->subject_id, req->reseller_id))
        return VC_GRPC_INVALID_ARGUMENT;
    as_cancel k = {.arena = vc_rpc_arena(ctx), .req = req};
    int rc = vc_db_tx(app->db, as__cancel_tx, &k);
    if (rc == VC_EEXIST) /* a twin cancel inserted the tombstone first */
        rc = vc_db_tx(app->db, as__cancel_tx, &k);
    if (rc < 0)
        return vc_rpc_fail(ctx, rc, "cancel review");
    if (k.foreign)
        return vc_rpc_error(ctx, VC_GRPC_NOT_FOUND, "no review of subject %s for reseller %s",
                            req->subject_id, req->reseller_id);
    resp->ticket = as_ticket_to_pb(vc_rpc_arena(ctx), &k.t, vc_now_us());
    return VC_GRPC_OK;
}

typedef struct as_get {
    vc_arena *arena;
    const Approval__V1__GetReviewRequest *req;
    as_ticket t;
} as_get;

static int as__get(vc_db_conn *c, void *arg)
{
    as_get *g = arg;
    if (g->req->ticket_id && *g->req->ticket_id)
        return as_ticket_load(c, g->arena, g->req->ticket_id, false, &g->t);
    return as_ticket_load_subject(c, g->arena, g->req->subject_type, g->req->subject_id, false,
                                  &g->t);
}

static int get_review(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Approval__V1__GetReviewRequest *req = req_;
    Approval__V1__GetReviewResponse *resp = resp_;
    as_app *app = vc_rpc_service_data(ctx);
    if (req->ticket_id && *req->ticket_id) {
        vc_validate_token(ctx, "ticket_id", req->ticket_id, 64, true);
    } else {
        if (req->subject_type != AS_SUBJ_VOUCHER && req->subject_type != AS_SUBJ_QUOTA &&
            req->subject_type != AS_SUBJ_CREDIT)
            vc_rpc_invalid(ctx, "subject_type", "set ticket_id, or subject_type and subject_id");
        vc_validate_token(ctx, "subject_id", req->subject_id, 64, true);
    }
    if (vc_rpc_error_code(ctx) == VC_GRPC_INVALID_ARGUMENT)
        return VC_GRPC_INVALID_ARGUMENT;
    as_get g = {.arena = vc_rpc_arena(ctx), .req = req};
    int rc = vc_db_run(app->db, as__get, &g);
    if (rc == VC_ENOENT)
        return vc_rpc_error(ctx, VC_GRPC_NOT_FOUND, "no such review");
    if (rc < 0)
        return vc_rpc_fail(ctx, rc, "get review");
    resp->ticket = as_ticket_to_pb(vc_rpc_arena(ctx), &g.t, vc_now_us());
    return VC_GRPC_OK;
}

static const vc_rpc_method as_review_methods[] = {
    {.name = "SubmitReview", .unary = submit_review},
    {.name = "CancelReview", .unary = cancel_review},
    {.name = "GetReview", .unary = get_review},
};

static vc_rpc_service as_review_table = {
    .descriptor = &approval__v1__review_service__descriptor,
    .methods = as_review_methods,
    .n_methods = sizeof(as_review_methods) / sizeof(as_review_methods[0]),
    .roles = VC_ROLE_SERVICE,
};

const vc_rpc_service *as_review_service(as_app *app)
{
    as_review_table.data = app;
    return &as_review_table;
}
