/*
 * wallet.h - reseller.v1.WalletService: a customer's own vouchers and their use on prepaid
 * orders (SPEC §5, seed 003).
 *
 * Prepaid flow: ListEligibleVouchers → FreezeVoucher (the order is confirmed: one voucher per
 * order, the voucher per one order) → ConfirmPayment (deducts min(balance, amount) and unfreezes)
 * or ReleaseVoucher (cancelled). A hold nobody confirms or releases is released by
 * rs_hold_timeout_job once --hold-timeout-s passed.
 *
 * State: vouchers.hold_order_id names the HELD hold of a voucher (a conditional update on NULL
 * makes a voucher frozen for one order at a time); voucher_holds (PRIMARY KEY order_id) is the
 * order's hold, HELD → PAID or RELEASED; voucher_deductions is the balance ledger (source 1 =
 * prepaid order, reference = order_id). Lock order everywhere: the hold row, then the voucher.
 *
 * Callers: role customer, the token's reseller_id/customer_id; only the account owner or a
 * collaborator with the finance permission (PERMISSION_DENIED for others). Another customer's
 * voucher is NOT_FOUND.
 *
 * Threads: handlers run on RPC workers, the job on the libuv threadpool; no shared state.
 */
#ifndef RS_WALLET_H
#define RS_WALLET_H

#include "rs.h"

/* The WalletService table (data = app). RedeemCode has no handler here: the redemption-code
   area provides it (rs_redeem_code). */
const vc_rpc_service *rs_wallet_service(rs_app *app);

/* Who may use the wallet: a customer token of the owner or a finance collaborator. Writes the
   tenant and the customer account (each < 64 bytes) and returns VC_GRPC_OK, or sets
   PERMISSION_DENIED on ctx and returns it. For every customer-facing voucher RPC. */
int rs_wallet_caller(vc_rpc_ctx *ctx, char reseller[64], char customer[64]);

/* Background job (arg = rs_app *): releases HELD holds whose expires_us passed (stale orders),
   in batches taken with FOR UPDATE SKIP LOCKED so replicas share the work. */
void rs_hold_timeout_job(void *arg);

/* Releases up to `limit` holds due at now_us in the caller's transaction; *released = how many.
   (The job's unit of work; exposed for tests and tools.) */
int rs_hold_expire_batch(vc_db_conn *c, int64_t now_us, int limit, int *released);

#endif
