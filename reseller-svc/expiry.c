/*
 * expiry.c - the sweeps that end things on time (SPEC §3, §5): due vouchers become EXPIRED and
 * give their unused balance back; expired redemption-code batches give back the quota of their
 * unredeemed codes. A libuv timer runs each on the threadpool every --expiry-interval-ms. Each
 * transaction handles at most --expiry-batch rows, so locks stay short; rows are taken with
 * FOR UPDATE SKIP LOCKED, so several replicas sweep side by side without waiting for each other,
 * and the per-row ledger reference ("expire:<id>") returns money once even if two sweepers
 * reached the same row.
 */
#include "codes.h"
#include "rs.h"
#include "runtime/vc_log.h"
#include "vouchers.h"

/* One batch of a sweep, inside a transaction: *done = rows ended. */
typedef int (*rs_batch_fn)(vc_db_conn *c, int64_t now_us, int limit, int *done);

typedef struct rs_sweep {
    rs_batch_fn fn;
    int64_t now_us;
    int limit;
    int done;
} rs_sweep;

static int rs__sweep_tx(vc_db_conn *c, void *arg)
{
    rs_sweep *s = arg;
    return s->fn(c, s->now_us, s->limit, &s->done);
}

/* Batches until a short one (the backlog is gone), bounded so one run cannot go on forever. */
static void rs__sweep(const rs_app *app, rs_batch_fn fn, const char *what)
{
    rs_sweep s = {.fn = fn, .now_us = vc_now_us(), .limit = (int)app->cfg->expiry_batch};
    long total = 0;
    for (int round = 0; round < 1000; round++) {
        int rc = vc_db_tx(app->db, rs__sweep_tx, &s);
        if (rc < 0) {
            vc_logf(VC_LOG_WARN, "%s sweep: %s", what, vc_strerror(rc));
            break;
        }
        total += s.done;
        if (s.done < s.limit)
            break;
    }
    if (total)
        vc_log_fields(VC_LOG_INFO, what, (vc_log_field[]){VC_LOG_I("count", total)}, 1);
}

void rs_expiry_job(void *app)
{
    rs__sweep(app, rs_voucher_expire_batch, "vouchers expired");
}

void rs_codes_expiry_job(void *app)
{
    rs__sweep(app, rs_codes_expire_batches, "redemption code batches expired");
}
