/*
 * expiry.c - the expiry sweep (SPEC §3): a libuv timer runs this on the threadpool every
 * --expiry-interval-ms. Each transaction expires at most --expiry-batch due vouchers, so locks
 * stay short; rows are taken with FOR UPDATE SKIP LOCKED, so several replicas sweep side by side
 * without waiting for each other, and the per-voucher "expire:<id>" ledger reference returns an
 * unused balance once even if two sweepers reached the same voucher.
 */
#include "rs.h"
#include "runtime/vc_log.h"
#include "vouchers.h"

typedef struct rs_sweep {
    int64_t now_us;
    int limit;
    int expired;
} rs_sweep;

static int rs__sweep_tx(vc_db_conn *c, void *arg)
{
    rs_sweep *s = arg;
    return rs_voucher_expire_batch(c, s->now_us, s->limit, &s->expired);
}

void rs_expiry_job(void *arg)
{
    rs_app *app = arg;
    rs_sweep s = {.now_us = vc_now_us(), .limit = (int)app->cfg->expiry_batch};
    long total = 0;
    /* Batches until a short one: the backlog is gone (bounded so one run cannot go forever). */
    for (int round = 0; round < 1000; round++) {
        int rc = vc_db_tx(app->db, rs__sweep_tx, &s);
        if (rc < 0) {
            vc_logf(VC_LOG_WARN, "expiry sweep: %s", vc_strerror(rc));
            break;
        }
        total += s.expired;
        if (s.expired < s.limit)
            break;
    }
    if (total)
        vc_log_fields(VC_LOG_INFO, "vouchers expired", (vc_log_field[]){VC_LOG_I("count", total)},
                      1);
}
