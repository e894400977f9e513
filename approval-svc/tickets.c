/* tickets.c - see tickets.h. */
#include "tickets.h"

#include <stdio.h>
#include <string.h>

#include "outbox/vc_outbox.h"
#include "reseller/v1/review_callback_service.pb-c.h"

void as_ticket_read(vc_db_rows *r, vc_arena *a, as_ticket *t)
{
    memset(t, 0, sizeof(*t));
    unsigned i = 0;
    vc_db_copy_str(r, i++, t->ticket_id, sizeof(t->ticket_id));
    t->subject_type = (int)vc_db_i64_or(r, i++, 0);
    vc_db_copy_str(r, i++, t->subject_id, sizeof(t->subject_id));
    vc_db_copy_str(r, i++, t->reseller_id, sizeof(t->reseller_id));
    vc_db_copy_str(r, i++, t->customer_id, sizeof(t->customer_id));
    t->amount_minor = vc_db_i64_or(r, i++, 0);
    vc_db_copy_str(r, i++, t->currency, sizeof(t->currency));
    t->description = vc_db_arena_str(r, i++, a);
    t->state = (int)vc_db_i64_or(r, i++, 0);
    t->business_days = (int)vc_db_i64_or(r, i++, 0);
    t->submitted_us = vc_db_i64_or(r, i++, 0);
    t->due_us = vc_db_i64_or(r, i++, 0);
    vc_db_copy_str(r, i++, t->claimed_by, sizeof(t->claimed_by));
    t->claim_expires_us = vc_db_i64_or(r, i++, 0);
    vc_db_copy_str(r, i++, t->decided_by, sizeof(t->decided_by));
    t->decided_us = vc_db_i64_or(r, i++, 0);
    t->reason = vc_db_arena_str(r, i++, a);
    t->granted_minor = vc_db_i64_or(r, i++, 0);
    t->direct_grant = vc_db_i64_or(r, i++, 0) != 0;
    vc_db_copy_str(r, i++, t->outcome_message_id, sizeof(t->outcome_message_id));
    t->delivered = vc_db_i64_or(r, i++, 0) != 0;
}

static int as__load(vc_db_conn *c, vc_arena *a, const char *where, const vc_db_param *p, size_t n,
                    bool lock, as_ticket *t)
{
    char sql[1024];
    snprintf(sql, sizeof(sql), "SELECT " AS_TICKET_COLS AS_TICKET_FROM " WHERE %s%s", where,
             lock ? " FOR UPDATE" : "");
    vc_db_rows *rows;
    int rc = vc_db_query(c, sql, p, n, &rows);
    if (rc < 0)
        return rc;
    rc = vc_db_next(rows);
    if (rc == 1) {
        as_ticket_read(rows, a, t);
        rc = 0;
    } else if (rc == 0) {
        rc = VC_ENOENT;
    }
    vc_db_rows_close(rows);
    return rc;
}

int as_ticket_load(vc_db_conn *c, vc_arena *a, const char *ticket_id, bool lock, as_ticket *t)
{
    return as__load(c, a, "t.ticket_id = ?", VC_DB_ARGS(vc_db_str(ticket_id)), lock, t);
}

int as_ticket_load_subject(vc_db_conn *c, vc_arena *a, int subject_type, const char *subject_id,
                           bool lock, as_ticket *t)
{
    return as__load(c, a, "t.subject_type = ? AND t.subject_id = ?",
                    VC_DB_ARGS(vc_db_i64(subject_type), vc_db_str(subject_id)), lock, t);
}

static Google__Protobuf__Timestamp *as__ts(vc_arena *a, int64_t us)
{
    return us ? vc_ts_new(a, us) : NULL;
}

Approval__V1__Ticket *as_ticket_to_pb(vc_arena *a, const as_ticket *t, int64_t now_us)
{
    Approval__V1__Ticket *p = vc_arena_alloc(a, sizeof(*p));
    if (!p)
        return NULL;
    approval__v1__ticket__init(p);
    p->ticket_id = vc_arena_strdup(a, t->ticket_id);
    p->subject_type = t->subject_type;
    p->subject_id = vc_arena_strdup(a, t->subject_id);
    p->reseller_id = vc_arena_strdup(a, t->reseller_id);
    p->customer_id = vc_arena_strdup(a, t->customer_id);
    p->amount_minor = t->amount_minor;
    p->currency_code = vc_arena_strdup(a, t->currency);
    p->description = t->description;
    p->state = t->state;
    p->submit_time = as__ts(a, t->submitted_us);
    p->due_time = as__ts(a, t->due_us);
    p->business_days = t->business_days;
    if (t->state == AS_ST_PENDING && t->due_us) {
        int64_t left = t->due_us - now_us;
        Google__Protobuf__Duration *d = vc_arena_alloc(a, sizeof(*d));
        if (d) {
            google__protobuf__duration__init(d);
            d->seconds = left / VC_US_PER_SEC;
            d->nanos = (int32_t)((left % VC_US_PER_SEC) * 1000);
            p->time_left = d;
        }
        p->overdue = left < 0;
    }
    /* An expired claim is no claim. */
    if (t->state == AS_ST_PENDING && t->claimed_by[0] && t->claim_expires_us > now_us) {
        p->claimed_by = vc_arena_strdup(a, t->claimed_by);
        p->claim_expire_time = as__ts(a, t->claim_expires_us);
    }
    p->decided_by = vc_arena_strdup(a, t->decided_by);
    p->decide_time = as__ts(a, t->decided_us);
    p->reason = t->reason;
    p->granted_amount_minor = t->granted_minor;
    p->direct_grant = t->direct_grant;
    p->delivery_state =
        t->state == AS_ST_PENDING ? APPROVAL__V1__DELIVERY_STATE__DELIVERY_STATE_NONE
        : t->delivered            ? APPROVAL__V1__DELIVERY_STATE__DELIVERY_STATE_DELIVERED
                                  : APPROVAL__V1__DELIVERY_STATE__DELIVERY_STATE_PENDING;
    return p;
}

int as_ticket_queue_outcome(vc_db_conn *c, as_ticket *t)
{
    Reseller__V1__ReviewDecidedRequest m = RESELLER__V1__REVIEW_DECIDED_REQUEST__INIT;
    char message_id[VC_UUID_LEN];
    int rc = vc_uuid_new(message_id);
    if (rc != 0)
        return rc;
    Google__Protobuf__Timestamp when = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    when.seconds = t->decided_us / VC_US_PER_SEC;
    when.nanos = (int32_t)((t->decided_us % VC_US_PER_SEC) * 1000);
    m.message_id = message_id;
    m.ticket_id = t->ticket_id;
    /* approval.v1.SubjectType and reseller.v1.ReviewSubjectType share their numbers, as do the
       final ticket states and ReviewOutcome (APPROVED=1, REJECTED=2, CANCELLED=3). */
    m.subject_type = t->subject_type;
    m.subject_id = t->subject_id;
    m.reseller_id = t->reseller_id;
    m.outcome = t->state == AS_ST_APPROVED   ? RESELLER__V1__REVIEW_OUTCOME__REVIEW_OUTCOME_APPROVED
                : t->state == AS_ST_REJECTED ? RESELLER__V1__REVIEW_OUTCOME__REVIEW_OUTCOME_REJECTED
                                             : RESELLER__V1__REVIEW_OUTCOME__REVIEW_OUTCOME_CANCELLED;
    m.reason = t->reason;
    m.decided_by = t->decided_by;
    m.decide_time = &when;
    m.granted_amount_minor = t->granted_minor;
    m.currency_code = t->currency;
    m.direct_grant = t->direct_grant;
    /* The outbox row and the callback carry the same id: the receiver deduplicates on it. */
    if ((rc = vc_outbox_put_id(c, AS_OUTCOME_TOPIC, &m.base, message_id)) < 0)
        return rc;
    memcpy(t->outcome_message_id, message_id, VC_UUID_LEN);
    return vc_db_exec(c, "UPDATE tickets SET outcome_message_id = ? WHERE ticket_id = ?",
                      VC_DB_ARGS(vc_db_str(message_id), vc_db_str(t->ticket_id)), NULL);
}

int as_ticket_decide(vc_db_conn *c, vc_arena *a, as_ticket *t, int state, const char *who,
                     const char *reason, int64_t granted_minor, bool ignore_claim)
{
    int64_t now = vc_now_us();
    uint64_t matched = 0;
    int rc = vc_db_exec(c,
                        "UPDATE tickets SET state = ?, decided_by = ?, decided_us = ?, reason = ?, "
                        "granted_minor = ?, claimed_by = NULL, claim_expires_us = NULL "
                        "WHERE ticket_id = ? AND state = ? AND (? OR claimed_by IS NULL OR "
                        "claimed_by = ? OR claim_expires_us <= ?)",
                        VC_DB_ARGS(vc_db_i64(state), vc_db_str(who), vc_db_i64(now),
                                   vc_db_str(reason ? reason : ""), vc_db_i64(granted_minor),
                                   vc_db_str(t->ticket_id), vc_db_i64(AS_ST_PENDING),
                                   vc_db_bool(ignore_claim), vc_db_str(who), vc_db_i64(now)),
                        &matched);
    if (rc < 0)
        return rc;
    char id[VC_ID_MAX + 1];
    snprintf(id, sizeof(id), "%s", t->ticket_id);
    if ((rc = as_ticket_load(c, a, id, false, t)) < 0)
        return rc;
    if (!matched)
        return VC_ECONFLICT;
    return as_ticket_queue_outcome(c, t);
}
