/*
 * vouchers.h - what other reseller-svc areas need from the voucher area.
 */
#ifndef RS_VOUCHERS_H
#define RS_VOUCHERS_H

#include "db/vc_db.h"
#include "reseller/v1/review_callback_service.pb-c.h"
#include "reseller/v1/voucher_service.pb-c.h"
#include "rs.h"

/* Applies a review outcome (approved → ACTIVE; rejected/cancelled → quota returned) to the
   voucher `m->subject_id` of `m->reseller_id`, inside the caller's transaction. Idempotent:
   an outcome already applied changes nothing (*changed = false). VC_ENOENT for an unknown
   voucher. */
int rs_voucher_apply_outcome(vc_db_conn *c, const rs_app *app,
                             const Reseller__V1__ReviewDecidedRequest *m, bool *changed);

/* The issue transaction of IssueVoucher without the RPC around it (validated input assumed):
   the benchmark measures gRPC's overhead against it. *code / msg carry a business refusal
   (FAILED_PRECONDITION, NOT_FOUND, ALREADY_EXISTS) with return 0; negative = database error. */
int rs_voucher_issue(const rs_app *app, vc_arena *a, const char *reseller, const char *operator_id,
                     const Reseller__V1__IssueVoucherRequest *req,
                     Reseller__V1__IssueVoucherResponse **out, int *code, char msg[256]);

/* Expires up to `limit` due vouchers in one transaction (FOR UPDATE SKIP LOCKED, so several
   sweepers share the work), returning each one's unused balance to the quota once.
   *expired = how many. */
int rs_voucher_expire_batch(vc_db_conn *c, int64_t now_us, int limit, int *expired);

#endif
