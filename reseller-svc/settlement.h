/*
 * settlement.h - BillingService.SettleCharge: postpaid and auto-renewal charges paid from the
 * customer's vouchers, picked by the system (SPEC §5, seed 003 §2).
 *
 * The eligible vouchers (eligibility.h: POSTPAID charges take POSTPAID vouchers; AUTO_RENEWAL
 * takes PREPAID vouchers whose purchase-duration limits contain the renewal's months; valid at
 * charge_time) are used in the pick order — expiry ascending, deductible amount min(balance,
 * charge) descending, balance ascending, voucher_id — each giving min(its balance, what is left)
 * until the charge is covered; the rest (remainder_minor) is for the customer's account. The
 * seed's vouchers A–E and a charge of 4 come out C, B, A, E, D, so C pays.
 *
 * Money path: one transaction per bill item. Candidates are found without locks, then locked
 * by primary key in voucher_id order (SELECT ... WHERE voucher_id IN (...) ORDER BY voucher_id
 * FOR UPDATE, the order every multi-voucher writer uses), re-checked and re-ordered on the
 * locked rows; each deduction is a voucher_deductions row (source 2, reference bill_item_id,
 * unique per voucher) plus a conditional balance update (balance_minor >= amount), so parallel
 * settlements and payments never take a balance below zero, and the answer is recorded with
 * vc_idem (tenant = the customer's reseller, method "SettleCharge", request_id =
 * bill_item_id). A retry replays it (replayed = true); the same bill item with other parameters
 * is ALREADY_EXISTS; a twin racing the first loses on a unique key, rolls back and replays.
 *
 * dry_run computes the same plan on the same rows without locking or writing anything (no
 * idempotency record either). A dry run of a bill item that was already settled returns that
 * settlement (replayed = true, dry_run = false: those deductions happened); with other
 * parameters it is ALREADY_EXISTS, as the real call would be.
 */
#ifndef RS_SETTLEMENT_H
#define RS_SETTLEMENT_H

#include "rpc/vc_rpc_server.h"

/* The SettleCharge handler (Reseller__V1__SettleChargeRequest → ...Response) for billing.c's
   BillingService table, whose data must be the rs_app. Role: billing. */
int rs_settle_charge(vc_rpc_ctx *ctx, const void *req, void *resp);

#endif
