/*
 * callbacks.c - reseller.v1.ReviewCallbackService: approval-svc tells us the outcome of a review
 * (SPEC §6). Called by the service role only, and idempotent by message id: the id goes into the
 * inbox table in the same transaction as the effect, so a redelivered callback is a
 * duplicate-key no-op answered with already_applied.
 *
 * Outcomes: voucher issuance → vouchers.c (activate, or return quota); quota and credit-pool
 * applications → here (grant through the ledger). A direct grant by staff arrives the same way
 * with direct_grant set and no prior application: it is recorded as an approved application so
 * every grant has a row saying who granted it and why. This is also the path tests use to give
 * a reseller quota.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/vc_ledger.h"
#include "approval/v1/review_service.pb-c.h"
#include "codes.h"
#include "reseller/v1/review_callback_service.pb-c.h"
#include "rpc/vc_validate.h"
#include "rs.h"
#include "runtime/vc_log.h"
#include "vouchers.h"

#define APP_PENDING ((int)RESELLER__V1__APPLICATION_STATE__APPLICATION_STATE_PENDING)
#define APP_APPROVED ((int)RESELLER__V1__APPLICATION_STATE__APPLICATION_STATE_APPROVED)
#define APP_REJECTED ((int)RESELLER__V1__APPLICATION_STATE__APPLICATION_STATE_REJECTED)
#define APP_CANCELLED ((int)RESELLER__V1__APPLICATION_STATE__APPLICATION_STATE_CANCELLED)
#define OUT_APPROVED ((int)RESELLER__V1__REVIEW_OUTCOME__REVIEW_OUTCOME_APPROVED)
#define OUT_REJECTED ((int)RESELLER__V1__REVIEW_OUTCOME__REVIEW_OUTCOME_REJECTED)
#define OUT_CANCELLED ((int)RESELLER__V1__REVIEW_OUTCOME__REVIEW_OUTCOME_CANCELLED)
#define SUBJ_VOUCHER ((int)RESELLER__V1__REVIEW_SUBJECT_TYPE__REVIEW_SUBJECT_TYPE_VOUCHER_ISSUANCE)
#define SUBJ_QUOTA ((int)RESELLER__V1__REVIEW_SUBJECT_TYPE__REVIEW_SUBJECT_TYPE_QUOTA_APPLICATION)
#define SUBJ_CREDIT ((int)RESELLER__V1__REVIEW_SUBJECT_TYPE__REVIEW_SUBJECT_TYPE_CREDIT_APPLICATION)

#define RS_MAX_GRANT_MINOR 10000000000000LL /* 1e13 minor units per grant */

typedef struct rs_cb {
    const rs_app *app;
    const Reseller__V1__ReviewDecidedRequest *m;
    bool already;
    int code;
    char msg[200];
} rs_cb;

static int rs__grant(vc_db_conn *c, const Reseller__V1__ReviewDecidedRequest *m,
                     const char *currency, int64_t amount, const char *application_id)
{
    char idem[96];
    snprintf(idem, sizeof(idem), "grant:%s", application_id);
    vc_ledger_posting p = {
        .reseller_id = m->reseller_id,
        .account = m->subject_type == SUBJ_QUOTA ? VC_ACCOUNT_VOUCHER_QUOTA : VC_ACCOUNT_CREDIT_POOL,
        .currency_code = currency,
        .kind = VC_ENTRY_GRANT,
        .amount_minor = amount,
        .reference_type = RESELLER__V1__REFERENCE_TYPE__REFERENCE_TYPE_APPLICATION,
        .reference_id = application_id,
        .idem_ref = idem,
        .reason = m->direct_grant ? "direct grant by provider staff" : "application approved",
        .operator_id = m->decided_by};
    return vc_ledger_post(c, &p, NULL, NULL);
}

static int rs__apply_application(vc_db_conn *c, rs_cb *t)
{
    const Reseller__V1__ReviewDecidedRequest *m = t->m;
    char currency[4];
    int rc = rs_reseller_ensure(c, t->app, m->reseller_id, currency);
    if (rc < 0)
        return rc;
    int64_t when = 0;
    if (!vc_ts_to_us(m->decide_time, &when))
        when = vc_now_us();
    int kind = m->subject_type == SUBJ_QUOTA ? 1 : 2;
    if (m->direct_grant && m->currency_code && *m->currency_code &&
        strcmp(m->currency_code, currency) != 0) {
        /* approval-svc cannot know the reseller's currency; a grant in another one is refused
           (and stays undelivered there, visible to staff) rather than booked wrongly. */
        t->code = VC_GRPC_FAILED_PRECONDITION;
        snprintf(t->msg, sizeof(t->msg), "reseller %s settles in %s, not %s", m->reseller_id,
                 currency, m->currency_code);
        return -2000;
    }
    if (m->direct_grant) {
        /* No application existed: record the grant as one, approved by staff. */
        rc = vc_db_exec(c,
                        "INSERT INTO applications (application_id, reseller_id, kind, "
                        "requested_minor, granted_minor, currency_code, justification, state, "
                        "ticket_id, direct_grant, submitted_us, decided_us, decided_by, reason) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?)",
                        VC_DB_ARGS(vc_db_str(m->subject_id), vc_db_str(m->reseller_id),
                                   vc_db_i64(kind), vc_db_i64(m->granted_amount_minor),
                                   vc_db_i64(m->granted_amount_minor), vc_db_str(currency),
                                   vc_db_str(m->reason), vc_db_i64(APP_APPROVED),
                                   vc_db_str(m->ticket_id), vc_db_i64(when), vc_db_i64(when),
                                   vc_db_str(m->decided_by), vc_db_str(m->reason)),
                        NULL);
        if (rc < 0)
            return rc; /* VC_EEXIST: this grant was applied before */
        return rs__grant(c, m, currency, m->granted_amount_minor, m->subject_id);
    }
    int state = m->outcome == OUT_APPROVED   ? APP_APPROVED
                : m->outcome == OUT_REJECTED ? APP_REJECTED
                                             : APP_CANCELLED;
    int64_t requested = 0;
    rc = vc_db_query_i64(c,
                         "SELECT requested_minor FROM applications WHERE application_id = ? AND "
                         "reseller_id = ? AND kind = ? FOR UPDATE",
                         VC_DB_ARGS(vc_db_str(m->subject_id), vc_db_str(m->reseller_id),
                                    vc_db_i64(kind)),
                         &requested);
    if (rc < 0)
        return rc;
    /* Staff may grant less than asked; 0 means "as requested". */
    int64_t granted = m->outcome != OUT_APPROVED ? 0
                      : m->granted_amount_minor > 0 ? m->granted_amount_minor
                                                    : requested;
    uint64_t matched = 0;
    rc = vc_db_exec(c,
                    "UPDATE applications SET state = ?, granted_minor = ?, ticket_id = ?, "
                    "decided_us = ?, decided_by = ?, reason = ? WHERE application_id = ? AND "
                    "state = ?",
                    VC_DB_ARGS(vc_db_i64(state), vc_db_i64(granted), vc_db_str(m->ticket_id),
                               vc_db_i64(when), vc_db_str(m->decided_by), vc_db_str(m->reason),
                               vc_db_str(m->subject_id), vc_db_i64(APP_PENDING)),
                    &matched);
    if (rc < 0 || !matched) {
        if (rc == 0)
            t->already = true; /* decided before: the first outcome stands */
        return rc;
    }
    return granted > 0 ? rs__grant(c, m, currency, granted, m->subject_id) : 0;
}

static int rs__decided_tx(vc_db_conn *c, void *arg)
{
    rs_cb *t = arg;
    t->already = false;
    t->code = VC_GRPC_OK;
    int rc = vc_db_exec(c, "INSERT INTO inbox (message_id) VALUES (?)",
                        VC_DB_ARGS(vc_db_str(t->m->message_id)), NULL);
    if (rc == VC_EEXIST) {
        t->already = true;
        return 0;
    }
    if (rc < 0)
        return rc;
    if (t->m->subject_type == SUBJ_VOUCHER) {
        bool changed = false;
        rc = rs_codes_is_batch(t->m->subject_id)
                 ? rs_codes_apply_outcome(c, t->app, t->m, &changed)
                 : rs_voucher_apply_outcome(c, t->app, t->m, &changed);
        t->already = rc == 0 && !changed;
    } else {
        rc = rs__apply_application(c, t);
    }
    if (rc == -2000)
        return rc; /* a refusal already described in t */
    if (rc == VC_ENOENT) {
        t->code = VC_GRPC_NOT_FOUND;
        snprintf(t->msg, sizeof(t->msg), "subject %s of reseller %s not found", t->m->subject_id,
                 t->m->reseller_id);
        return -2000; /* roll back the inbox row too: the sender may retry later */
    }
    if (rc == VC_EEXIST) { /* the effect was applied under another message id */
        t->already = true;
        return -2001;
    }
    return rc;
}

static int review_decided(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Reseller__V1__ReviewDecidedRequest *m = req_;
    Reseller__V1__ReviewDecidedResponse *resp = resp_;
    rs_app *app = vc_rpc_service_data(ctx);
    vc_validate_token(ctx, "message_id", m->message_id, 36, true); /* inbox.message_id */
    rs_check_id(ctx, "ticket_id", m->ticket_id, !m->direct_grant);
    if (m->subject_type != SUBJ_VOUCHER && m->subject_type != SUBJ_QUOTA &&
        m->subject_type != SUBJ_CREDIT)
        vc_rpc_invalid(ctx, "subject_type", "must be VOUCHER_ISSUANCE, QUOTA_APPLICATION or "
                                            "CREDIT_APPLICATION");
    rs_check_id(ctx, "subject_id", m->subject_id, true);
    rs_check_id(ctx, "reseller_id", m->reseller_id, true);
    if (m->outcome != OUT_APPROVED && m->outcome != OUT_REJECTED && m->outcome != OUT_CANCELLED)
        vc_rpc_invalid(ctx, "outcome", "must be APPROVED, REJECTED or CANCELLED");
    rs_check_text(ctx, "reason", m->reason, 1024, m->outcome == OUT_REJECTED || m->direct_grant);
    rs_check_text(ctx, "decided_by", m->decided_by, 128, true);
    if (m->direct_grant) {
        if (m->subject_type == SUBJ_VOUCHER)
            vc_rpc_invalid(ctx, "direct_grant", "only quota and credit-pool grants are direct");
        if (m->outcome != OUT_APPROVED)
            vc_rpc_invalid(ctx, "outcome", "a direct grant is APPROVED");
    }
    if ((m->direct_grant || m->granted_amount_minor) &&
        (m->granted_amount_minor <= 0 || m->granted_amount_minor > RS_MAX_GRANT_MINOR))
        vc_rpc_invalid(ctx, "granted_amount_minor", "must be between 1 and %lld",
                       (long long)RS_MAX_GRANT_MINOR);
    if (vc_rpc_error_code(ctx) == VC_GRPC_INVALID_ARGUMENT)
        return VC_GRPC_INVALID_ARGUMENT;
    rs_cb t = {.app = app, .m = m};
    int rc = vc_db_tx(app->db, rs__decided_tx, &t);
    if (rc == -2000)
        return vc_rpc_error(ctx, t.code, "%s", t.msg);
    if (rc < 0 && rc != -2001)
        return rs_fail(ctx, rc, "apply review outcome");
    resp->already_applied = t.already;
    return VC_GRPC_OK;
}

/* ---- replies to what we sent approval-svc ---------------------------------------------------- */

/* A final ticket (from a SubmitReview or CancelReview reply) applied like the callback it
   equals; approval-svc delivers that callback too, and applying twice changes nothing. */
static int rs__apply_ticket(vc_db_conn *c, const rs_app *app, const Approval__V1__Ticket *tk)
{
    int outcome;
    switch (tk->state) {
    case APPROVAL__V1__TICKET_STATE__TICKET_STATE_APPROVED: outcome = OUT_APPROVED; break;
    case APPROVAL__V1__TICKET_STATE__TICKET_STATE_REJECTED: outcome = OUT_REJECTED; break;
    case APPROVAL__V1__TICKET_STATE__TICKET_STATE_CANCELLED: outcome = OUT_CANCELLED; break;
    default: return 0; /* still pending */
    }
    Reseller__V1__ReviewDecidedRequest m = RESELLER__V1__REVIEW_DECIDED_REQUEST__INIT;
    m.ticket_id = tk->ticket_id;
    m.subject_type = (Reseller__V1__ReviewSubjectType)tk->subject_type;
    m.subject_id = tk->subject_id;
    m.reseller_id = tk->reseller_id;
    m.outcome = (Reseller__V1__ReviewOutcome)outcome;
    m.reason = tk->reason;
    m.decided_by = tk->decided_by;
    m.decide_time = tk->decide_time;
    m.granted_amount_minor = tk->granted_amount_minor;
    if (tk->subject_type != SUBJ_VOUCHER)
        return 0; /* applications are settled by the callback alone */
    bool changed;
    int rc = rs_codes_is_batch(m.subject_id) ? rs_codes_apply_outcome(c, app, &m, &changed)
                                             : rs_voucher_apply_outcome(c, app, &m, &changed);
    return rc == VC_ENOENT ? 0 : rc;
}

/* Records the ticket of a submission (its id and due time) on the voucher or application. */
static int rs__note_ticket(vc_db_conn *c, const Approval__V1__Ticket *tk)
{
    int64_t due = 0;
    vc_ts_to_us(tk->due_time, &due);
    if (tk->subject_type == SUBJ_VOUCHER)
        return vc_db_exec(c,
                          "UPDATE vouchers SET ticket_id = ?, review_due_us = ? WHERE voucher_id "
                          "= ? AND reseller_id = ?",
                          VC_DB_ARGS(vc_db_str(tk->ticket_id), due ? vc_db_i64(due) : vc_db_null(),
                                     vc_db_str(tk->subject_id), vc_db_str(tk->reseller_id)),
                          NULL);
    return vc_db_exec(c,
                      "UPDATE applications SET ticket_id = ?, due_us = ? WHERE application_id = ? "
                      "AND reseller_id = ?",
                      VC_DB_ARGS(vc_db_str(tk->ticket_id), due ? vc_db_i64(due) : vc_db_null(),
                                 vc_db_str(tk->subject_id), vc_db_str(tk->reseller_id)),
                      NULL);
}

int rs_outbox_on_reply(vc_db_conn *c, const char *topic, const unsigned char *request,
                       size_t request_len, const unsigned char *reply, size_t reply_len,
                       void *arg)
{
    const rs_app *app = arg;
    (void)request;
    (void)request_len;
    const Approval__V1__Ticket *tk = NULL;
    ProtobufCMessage *msg = NULL;
    if (strcmp(topic, RS_TOPIC_SUBMIT_REVIEW) == 0) {
        Approval__V1__SubmitReviewResponse *r =
            approval__v1__submit_review_response__unpack(NULL, reply_len, reply);
        msg = &r->base;
        tk = r ? r->ticket : NULL;
    } else if (strcmp(topic, RS_TOPIC_CANCEL_REVIEW) == 0) {
        Approval__V1__CancelReviewResponse *r =
            approval__v1__cancel_review_response__unpack(NULL, reply_len, reply);
        msg = &r->base;
        tk = r ? r->ticket : NULL;
    } else {
        return 0;
    }
    int rc = 0;
    if (tk && tk->ticket_id) {
        rc = rs__note_ticket(c, tk);
        if (rc == 0)
            rc = rs__apply_ticket(c, app, tk);
    }
    if (msg)
        protobuf_c_message_free_unpacked(msg, NULL);
    return rc;
}

static const vc_rpc_method rs_callback_methods[] = {
    {.name = "ReviewDecided", .unary = review_decided},
};

static vc_rpc_service rs_callback_table = {
    .descriptor = &reseller__v1__review_callback_service__descriptor,
    .methods = rs_callback_methods,
    .n_methods = 1,
    .roles = VC_ROLE_SERVICE,
};

const vc_rpc_service *rs_callback_service(rs_app *app)
{
    rs_callback_table.data = app;
    return &rs_callback_table;
}
