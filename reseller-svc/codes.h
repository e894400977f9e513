/*
 * codes.h - paper vouchers (SPEC §5): a reseller creates a batch of single-use redemption codes
 * from a template (VoucherService.CreateRedeemCodes), prints them, and a customer redeems one
 * into an AVAILABLE voucher (WalletService.RedeemCode).
 *
 * Codes. 18 digits: 17 from the kernel CSPRNG and a Damm check digit (base/vc_code.h says why
 * Damm and not Luhn). The database keeps only SHA-256 hashes (redeem_codes.code_hash =
 * SHA2(code, 256), computed by MariaDB so no crypto library is needed here); the primary key on
 * the hash makes codes unique, and a collision just draws new codes. The plain codes exist in
 * exactly one more place: the idempotency record of the CreateRedeemCodes call (request_log
 * .response), because a retry with the same request_id must return the same codes. Whoever can
 * read request_log can read unredeemed codes; treat that table as secret (backups included).
 *
 * Money paths.
 * - Create, provider-funded: one ledger CONSUME of count x face value for the whole batch
 *   (reference REDEEM_CODE_BATCH, idem "batch:<id>"), the template locked as by issuance
 *   (issued_count += count), the reseller's low-quota alarm checked (credit.h), and a review
 *   submission through the outbox exactly like an issuance (subject VOUCHER_ISSUANCE,
 *   subject_id = batch id, amount = count x face, customer "paper-codes"). The batch is
 *   PENDING_REVIEW until the outcome comes back through ReviewDecided: approved → ACTIVE;
 *   rejected or cancelled → REJECTED and the quota back (RETURN "return:<batch>").
 * - Create, reseller-funded: ACTIVE at once, own-cost issued amount += count x face.
 * - Redeem: one transaction marks the code (conditional on voucher_id IS NULL), creates an
 *   ACTIVE voucher (source REDEEM_CODE, the template's terms copied as issuance copies them)
 *   and bumps redeemed_count. It moves no quota: the batch consumed it. The voucher then lives
 *   like an issued one; its own expiry or withdrawal returns its unused balance / face value
 *   under the voucher's own reference (invariants.sql accounts for that).
 * - Batch expiry (rs_codes_expiry_job): an ACTIVE batch past redeem_expire_time becomes EXPIRED
 *   and the unredeemed codes' face value goes back once (RETURN "expire:<batch>"; reseller-funded:
 *   off the own-cost amount). Rows are taken FOR UPDATE SKIP LOCKED, so replicas share the work.
 *
 * Redeeming. Callers are customers: the account owner or a collaborator with the finance
 * permission (rs_wallet_caller, else PERMISSION_DENIED), registered as a customer of the token's
 * reseller. The voucher is shown as the wallet shows it (eligibility.h). Wrong codes (bad
 * check digit, unknown, or another reseller's) count against the customer: after 5 within 15
 * minutes every attempt is RESOURCE_EXHAUSTED without the code being looked at, until the window
 * (which starts at the first failure) has passed. Another reseller's code answers NOT_FOUND,
 * exactly like an unknown one. Answers: malformed → INVALID_ARGUMENT "code" (not counted);
 * already redeemed by someone else, or batch pending review / rejected / expired →
 * FAILED_PRECONDITION saying which; redeemed before by the same customer → that voucher again.
 *
 * Threads: handlers run on RPC workers, the job on the libuv threadpool; nothing here keeps
 * state between calls. Memory: responses live in the call's arena.
 */
#ifndef RS_CODES_H
#define RS_CODES_H

#include <stdbool.h>
#include <stdint.h>

#include "db/vc_db.h"
#include "reseller/v1/review_callback_service.pb-c.h"
#include "rpc/vc_rpc_server.h"
#include "rs.h"

/* Limits of the API contract. */
#define RS_CODES_MAX_COUNT       1000
#define RS_CODES_MAX_REDEEM_DAYS 366
/* A batch's total face value (count x face) may not exceed what approval-svc accepts as a
   review amount, or its review could never be submitted. */
#define RS_CODES_MAX_TOTAL_MINOR 10000000000000LL
/* Throttling of wrong codes per customer account. */
#define RS_CODES_MAX_FAILURES      5
#define RS_CODES_FAILURE_WINDOW_US (15LL * 60 * 1000000)

/* Batch ids start with this prefix (vc_id_new(.., "rcb")), so a review outcome for subject
   VOUCHER_ISSUANCE can tell a batch from a voucher. */
#define RS_CODES_BATCH_PREFIX "rcb_"

/* VoucherService.CreateRedeemCodes (reseller role). Request: CreateRedeemCodesRequest, response:
   CreateRedeemCodesResponse. Register in the VoucherService method table. */
int rs_create_redeem_codes(vc_rpc_ctx *ctx, const void *req, void *resp);

/* WalletService.RedeemCode (customer role). Request: RedeemCodeRequest, response:
   RedeemCodeResponse. Register in the WalletService method table. */
int rs_redeem_code(vc_rpc_ctx *ctx, const void *req, void *resp);

/* True when a review subject id names a redemption-code batch rather than a voucher. */
bool rs_codes_is_batch(const char *subject_id);

/* Applies a review outcome to batch m->subject_id of m->reseller_id inside the caller's
   transaction: approved → ACTIVE; rejected or cancelled → REJECTED and the consumed quota
   returned once. Idempotent: an outcome already applied (or a batch already decided) changes
   nothing (*changed = false). VC_ENOENT for an unknown batch, VC_EINVAL for another outcome. */
int rs_codes_apply_outcome(vc_db_conn *c, const rs_app *app,
                           const Reseller__V1__ReviewDecidedRequest *m, bool *changed);

/* Expires up to `limit` ACTIVE batches whose redeem_expire_time is <= now_us, in the caller's
   transaction (FOR UPDATE SKIP LOCKED), returning each one's unredeemed face value once.
   *expired = how many batches. */
int rs_codes_expire_batches(vc_db_conn *c, int64_t now_us, int limit, int *expired);

/* Background job (vc_svc_add_job, arg = rs_app *): expires due batches, in transactions of at
   most --expiry-batch batches, until none is left. */

#endif
