/*
 * vc_outbox_sender.h - delivers the transactional outbox to the other service (DESIGN "Data").
 *
 * A round (vc_outbox_deliver, run by a libuv job on the threadpool, or right after a commit by
 * a handler that wants its message out now) works in three steps, so no database lock is held
 * across the network call:
 *   1. claim: in a short transaction, SELECT ... FOR UPDATE SKIP LOCKED the oldest due rows and
 *      push their next_attempt_at one lease ahead; concurrent replicas claim other rows, and a
 *      sender that dies mid-round releases its rows when the lease runs out;
 *   2. call: the row's topic is the gRPC method, its payload the request; the call carries a
 *      service token and the message id as x-request-id; receivers are idempotent (message id or
 *      subject), so a message delivered twice (a crash after the call, before step 3) is harmless;
 *   3. record: OK → the reply handler (optional) and delivered_at, in one transaction; anything
 *      else → attempts + 1 and the next attempt after an exponential backoff with full jitter
 *      (base 200 ms, cap 60 s), last_error kept for operators.
 * Messages are retried until acknowledged; the backlog is a metric (vc_outbox_pending).
 *
 * Thread-safe: a sender may run rounds from several threads at once (they claim disjoint rows).
 */
#ifndef VC_OUTBOX_SENDER_H
#define VC_OUTBOX_SENDER_H

#include <stddef.h>

#include "auth/vc_auth.h"
#include "db/vc_db.h"

/* Called after a successful delivery, inside the transaction that marks it delivered: apply the
   reply locally (e.g. remember a ticket id). A negative return rolls back and the message is
   retried later. */
typedef int (*vc_outbox_reply_fn)(vc_db_conn *c, const char *topic, const unsigned char *request,
                                  size_t request_len, const unsigned char *reply, size_t reply_len,
                                  void *arg);

typedef struct vc_outbox_sender_opts {
    vc_db_pool *db;          /* borrowed */
    const char *target;      /* the other service, "127.0.0.1:50052" (copied) */
    const vc_auth *auth;     /* mints the service token; borrowed */
    const char *subject;     /* token subject, e.g. "reseller-svc" (copied) */
    int batch;               /* rows per round; 0 = 32 */
    int call_timeout_ms;     /* per delivery; 0 = 3000 */
    int lease_ms;            /* claim lease; 0 = 30000 */
    vc_outbox_reply_fn on_reply; /* may be NULL */
    void *reply_arg;
} vc_outbox_sender_opts;

typedef struct vc_outbox_sender vc_outbox_sender;

int vc_outbox_sender_new(const vc_outbox_sender_opts *opts, vc_outbox_sender **out);
void vc_outbox_sender_free(vc_outbox_sender *s);

/* One round over due messages. *delivered (may be NULL) = how many were acknowledged. Returns 0
   or a VC_E* from the database (delivery failures are recorded, not returned). */
int vc_outbox_deliver(vc_outbox_sender *s, int *delivered);

/* Rounds until one comes back short of a full batch (the backlog is gone), at most
   `max_rounds`; the body of a service's outbox job. */
void vc_outbox_drain(vc_outbox_sender *s, int max_rounds);

/* Delivers one message now, if it is still pending and not claimed by someone else (a handler
   that wants an answer in the same call). *delivered tells whether it was acknowledged. */
int vc_outbox_deliver_one(vc_outbox_sender *s, const char *message_id, int *delivered);

#endif
