/*
 * vc_idem.h - request_id idempotency for mutations (SPEC §3: "a retry with the same id returns
 * the first result and never issues twice; the same id with different parameters fails").
 *
 * Inside the mutation's transaction:
 *
 *     rc = vc_idem_begin(c, tenant, "IssueVoucher", req->request_id, &req->base, arena,
 *                        &reseller__v1__issue_voucher_response__descriptor, &replay);
 *     rc == VC_IDEM_REPLAY   → *replay is the stored response: return it, change nothing
 *     rc == VC_IDEM_MISMATCH → the id was used with other parameters: ALREADY_EXISTS
 *     rc == 0                → new: do the work, then vc_idem_finish(c, ..., &resp->base)
 *
 * The request hash covers the packed request (protobuf-c packs deterministically). Two
 * concurrent calls with one id: both may do the work, but the second's vc_idem_finish hits the
 * primary key (VC_EEXIST), its transaction rolls back, and its retry replays the first answer;
 * vc_idem_run() packages that loop. Table: request_log (see the service's migrations).
 */
#ifndef VC_IDEM_H
#define VC_IDEM_H

#include <protobuf-c/protobuf-c.h>

#include "base/vc_arena.h"
#include "db/vc_db.h"

#define VC_IDEM_REPLAY 1
#define VC_IDEM_MISMATCH 2

/* Looks the request up. On VC_IDEM_REPLAY *replay is unpacked into `arena`. Other returns:
   0 (new request) or a negative VC_E* from the database. */
int vc_idem_begin(vc_db_conn *c, const char *tenant, const char *method, const char *request_id,
                  const ProtobufCMessage *request, vc_arena *arena,
                  const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **replay);

/* Records the response of a new request (same transaction). VC_EEXIST when a concurrent call
   with the same id committed first: roll back and replay. */
int vc_idem_finish(vc_db_conn *c, const char *tenant, const char *method, const char *request_id,
                   const ProtobufCMessage *request, const ProtobufCMessage *response);

#endif
