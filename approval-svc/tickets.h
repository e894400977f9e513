/*
 * tickets.h - the ticket row and what every approval-svc area does with it: load, render as
 * approval.v1.Ticket, and decide (one conditional update from PENDING plus the outcome message
 * to reseller-svc in the outbox, in the caller's transaction).
 *
 * A ticket leaves PENDING exactly once: approve, reject and cancel are all
 * "UPDATE ... WHERE ticket_id = ? AND state = PENDING [AND the claim allows it]", so when a
 * decision races a cancel (or another decision) exactly one matches and the others see the
 * final state. The outcome travels as a reseller.v1.ReviewDecidedRequest whose message_id is the
 * outbox message id (reseller-svc deduplicates on it); the ticket keeps that id to report
 * delivery.
 */
#ifndef AS_TICKETS_H
#define AS_TICKETS_H

#include <stdbool.h>
#include <stdint.h>

#include "approval/v1/types.pb-c.h"
#include "as.h"

#define AS_ST_PENDING ((int)APPROVAL__V1__TICKET_STATE__TICKET_STATE_PENDING)
#define AS_ST_APPROVED ((int)APPROVAL__V1__TICKET_STATE__TICKET_STATE_APPROVED)
#define AS_ST_REJECTED ((int)APPROVAL__V1__TICKET_STATE__TICKET_STATE_REJECTED)
#define AS_ST_CANCELLED ((int)APPROVAL__V1__TICKET_STATE__TICKET_STATE_CANCELLED)
#define AS_SUBJ_VOUCHER ((int)APPROVAL__V1__SUBJECT_TYPE__SUBJECT_TYPE_VOUCHER_ISSUANCE)
#define AS_SUBJ_QUOTA ((int)APPROVAL__V1__SUBJECT_TYPE__SUBJECT_TYPE_QUOTA_APPLICATION)
#define AS_SUBJ_CREDIT ((int)APPROVAL__V1__SUBJECT_TYPE__SUBJECT_TYPE_CREDIT_APPLICATION)

#define AS_OUTCOME_TOPIC "/reseller.v1.ReviewCallbackService/ReviewDecided"

typedef struct as_ticket {
    char ticket_id[VC_ID_MAX + 1], subject_id[65], reseller_id[65], customer_id[65];
    char currency[4], claimed_by[129], decided_by[129], outcome_message_id[VC_UUID_LEN];
    int subject_type, state, business_days;
    int64_t amount_minor, granted_minor;
    int64_t submitted_us, due_us, claim_expires_us, decided_us; /* 0 = none */
    bool direct_grant, delivered;
    char *description, *reason;
} as_ticket;

/* SELECT list for as_ticket_read (joined with the outbox for the delivery state). */
#define AS_TICKET_COLS                                                                             \
    "t.ticket_id, t.subject_type, t.subject_id, t.reseller_id, t.customer_id, t.amount_minor, "    \
    "t.currency_code, t.description, t.state, t.business_days, t.submitted_us, t.due_us, "        \
    "t.claimed_by, t.claim_expires_us, t.decided_by, t.decided_us, t.reason, t.granted_minor, "   \
    "t.direct_grant, t.outcome_message_id, (o.delivered_at IS NOT NULL)"
#define AS_TICKET_FROM                                                                             \
    " FROM tickets t LEFT JOIN outbox o ON o.message_id = t.outcome_message_id"

/* Reads the current row of a query over AS_TICKET_COLS AS_TICKET_FROM. */
void as_ticket_read(vc_db_rows *r, vc_arena *a, as_ticket *t);
/* Loads one ticket by id (lock: FOR UPDATE). VC_ENOENT when unknown. */
int as_ticket_load(vc_db_conn *c, vc_arena *a, const char *ticket_id, bool lock, as_ticket *t);
/* Loads the ticket of a subject. VC_ENOENT when none. */
int as_ticket_load_subject(vc_db_conn *c, vc_arena *a, int subject_type, const char *subject_id,
                           bool lock, as_ticket *t);
/* The Ticket message (time_left / overdue computed against now_us). NULL on ENOMEM. */
Approval__V1__Ticket *as_ticket_to_pb(vc_arena *a, const as_ticket *t, int64_t now_us);

/* Moves a PENDING ticket to `state` (APPROVED, REJECTED or CANCELLED) on behalf of `who`, and
   queues the outcome for reseller-svc. Unless `ignore_claim`, a valid claim held by someone
   else blocks the decision. On success *t is the decided ticket. Returns 0; VC_ECONFLICT when
   the ticket was not PENDING or is claimed by another reviewer (*t then holds the current row,
   so the caller can say which); VC_ENOENT; VC_E* from the database. */
int as_ticket_decide(vc_db_conn *c, vc_arena *a, as_ticket *t, int state, const char *who,
                     const char *reason, int64_t granted_minor, bool ignore_claim);

/* Queues the outcome message of an already decided ticket (used by as_ticket_decide and by
   direct grants); stores its message id on the ticket. */
int as_ticket_queue_outcome(vc_db_conn *c, as_ticket *t);

#endif
