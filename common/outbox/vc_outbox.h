/*
 * vc_outbox.h - the transactional outbox (DESIGN "Data"): a cross-service message is a row
 * written in the same transaction as the state change it announces, so the message exists iff
 * the change committed. Delivery (a background job with backoff and FOR UPDATE SKIP LOCKED)
 * and the receivers' dedup by message id are separate modules.
 *
 * Table: outbox (see each service's 001_foundation.sql). topic is the full gRPC method the
 * delivery job will call, payload the packed request message.
 */
#ifndef VC_OUTBOX_H
#define VC_OUTBOX_H

#include <protobuf-c/protobuf-c.h>

#include "base/vc_id.h"
#include "db/vc_db.h"

/* Writes one message for `topic` ("/approval.v1.ReviewService/SubmitReview") carrying the packed
   `payload`, in the caller's transaction. message_id (may be NULL) receives the new message's
   UUID. 0, VC_ENOMEM, or a VC_E* from the database. */
int vc_outbox_put(vc_db_conn *c, const char *topic, const ProtobufCMessage *payload,
                  char message_id[VC_UUID_LEN]);

/* Same, with a message id the caller generated (vc_uuid_new) because the payload carries it. */
int vc_outbox_put_id(vc_db_conn *c, const char *topic, const ProtobufCMessage *payload,
                     const char message_id[VC_UUID_LEN]);

/* Messages not delivered yet (metrics, tests). */
int vc_outbox_pending(vc_db_conn *c, int64_t *count);

#endif
