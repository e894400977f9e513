/*
 * rs.h - what every reseller-svc area shares: the process state, tenant resolution, the
 * service tables each area exports, and small validation helpers.
 *
 * One file per area (templates.c, vouchers.c, quota.c, customers.c, callbacks.c, expiry.c);
 * each exports `const vc_rpc_service *rs_<area>_service(rs_app *app)` returning its table
 * (data = app), registered by main.c. Handlers run on RPC worker threads and may block on the
 * database; the per-call arena owns everything they allocate.
 */
#ifndef RS_H
#define RS_H

#include <stdbool.h>
#include <stdint.h>

#include "base/vc_arena.h"
#include "base/vc_err.h"
#include "base/vc_id.h"
#include "base/vc_time.h"
#include "db/vc_db.h"
#include "reseller/v1/types.pb-c.h"
#include "rpc/vc_rpc_server.h"
#include "svc/vc_svc.h"

typedef struct rs_config {
    vc_svc_config base; /* first member: see vc_svc_def.options */
    char *currency;     /* settlement currency of new resellers */
    int64_t expiry_interval_ms;
    int64_t expiry_batch;
    char *approval_addr; /* where review submissions and cancels go */
    int64_t outbox_interval_ms;
    int64_t low_balance_percent; /* quota/pool low alarm: remaining below this % of granted */
    int64_t hold_timeout_s;         /* a prepaid order's voucher hold lasts this long (wallet.c) */
    int64_t hold_sweep_interval_ms; /* how often stale holds are released */
} rs_config;

typedef struct vc_outbox_sender vc_outbox_sender;

typedef struct rs_app {
    vc_svc *svc;
    vc_db_pool *db;
    const rs_config *cfg;
    vc_outbox_sender *outbox; /* to approval-svc */
} rs_app;

/* Outbox topics (the approval-svc methods they call). */
#define RS_TOPIC_SUBMIT_REVIEW "/approval.v1.ReviewService/SubmitReview"
#define RS_TOPIC_CANCEL_REVIEW "/approval.v1.ReviewService/CancelReview"

/* The reseller a call acts for, written to out[64]. Reseller callers act for their own tenant
   (a different non-empty `requested` is PERMISSION_DENIED); staff and service callers must name
   one in `requested` (INVALID_ARGUMENT on `field` otherwise). Returns a gRPC code (OK to go on). */
int rs_tenant(vc_rpc_ctx *ctx, const char *requested, const char *field, char out[64]);

/* Makes sure the reseller row exists (first contact creates it with the configured currency)
   and returns its currency in cur[4]. Inside the caller's transaction. */
int rs_reseller_ensure(vc_db_conn *c, const rs_app *app, const char *reseller_id, char cur[4]);

/* Validation helpers (thin names over rpc/vc_validate.h): each adds a field violation and
   returns VC_GRPC_INVALID_ARGUMENT, or returns VC_GRPC_OK. rs_check_text allows tab and newline
   and counts characters. */
int rs_check_id(vc_rpc_ctx *ctx, const char *field, const char *value, bool required);
int rs_check_request_id(vc_rpc_ctx *ctx, const char *value);
int rs_check_text(vc_rpc_ctx *ctx, const char *field, const char *value, size_t max, bool required);

/* A TimeRange filter as [*start, *end) in microseconds (unset bounds open: INT64_MIN/MAX);
   violations name "<field>.start_time" / "<field>.end_time". */
int rs_check_time_range(vc_rpc_ctx *ctx, const char *field, const Reseller__V1__TimeRange *tr,
                        int64_t *start, int64_t *end);

/* Maps a failed transaction to a status (VC_EDB_UNAVAILABLE → UNAVAILABLE, ...), for handlers. */
static inline int rs_fail(vc_rpc_ctx *ctx, int err, const char *what)
{
    return vc_rpc_fail(ctx, err, what);
}

/* Service tables (one per area). */
const vc_rpc_service *rs_quota_service(rs_app *app);
const vc_rpc_service *rs_template_service(rs_app *app);
const vc_rpc_service *rs_voucher_service(rs_app *app);
const vc_rpc_service *rs_customer_service(rs_app *app);
const vc_rpc_service *rs_callback_service(rs_app *app);
const vc_rpc_service *rs_billing_service(rs_app *app);

/* Background jobs (expiry.c): expire due vouchers; expire redemption-code batches. */
void rs_expiry_job(void *app);
void rs_codes_expiry_job(void *app);

/* What approval-svc answered to a delivered submission or cancel (callbacks.c): remembers the
   ticket and applies a final one. A vc_outbox_reply_fn. */
int rs_outbox_on_reply(vc_db_conn *c, const char *topic, const unsigned char *request,
                       size_t request_len, const unsigned char *reply, size_t reply_len,
                       void *arg);

#endif
