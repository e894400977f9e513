/*
 * issue_sqlbench - the IssueVoucher transaction run straight against MariaDB, without gRPC: the
 * "raw rate of the same SQL transaction at the same concurrency" that DESIGN.md's throughput
 * target compares reseller-svc with. It calls the very function the RPC handler calls
 * (rs_voucher_issue), from `concurrency` threads, each with its own unique request ids.
 *
 *   issue_sqlbench --db-socket S --db-user U --db-password P --db-name reseller \
 *       --reseller r-bench --template tpl_... --customer c-bench --concurrency 16 --duration-ms 10000
 *
 * Prints one JSON line: calls, seconds, tx/s, p50/p99 latency, refusals.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/vc_config.h"
#include "vouchers.h"

typedef struct opts {
    char *db_socket, *db_user, *db_password, *db_name, *reseller, *tpl, *customer;
    int64_t concurrency, duration_ms;
} opts;

#define O(n, t, f, d, h) {n, t, offsetof(opts, f), d, h, 0, 0}
static const vc_option options[] = {
    O("db-socket", VC_OPT_STRING, db_socket, NULL, "MariaDB socket"),
    O("db-user", VC_OPT_STRING, db_user, "reseller", "user"),
    O("db-password", VC_OPT_STRING, db_password, NULL, "password"),
    O("db-name", VC_OPT_STRING, db_name, "reseller", "database"),
    O("reseller", VC_OPT_STRING, reseller, "r-bench", "reseller id"),
    O("template", VC_OPT_STRING, tpl, NULL, "template id"),
    O("customer", VC_OPT_STRING, customer, "c-bench", "customer id"),
    O("concurrency", VC_OPT_INT, concurrency, "16", "threads"),
    O("duration-ms", VC_OPT_INT, duration_ms, "10000", "run time"),
};

typedef struct shared {
    const opts *o;
    rs_app app;
    double end_ms;
    atomic_long ok, refused, failed;
    pthread_mutex_t mu;
    double *lat;
    size_t n, cap;
} shared;

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void *worker(void *arg)
{
    shared *s = arg;
    static atomic_int next_id;
    int tid = atomic_fetch_add(&next_id, 1);
    size_t cap = 4096, n = 0;
    double *lat = malloc(cap * sizeof(double));
    for (long i = 0; lat && now_ms() < s->end_ms; i++) {
        vc_arena *a = vc_arena_new(0);
        char rid[64];
        snprintf(rid, sizeof(rid), "sqlb-%d-%d-%ld", (int)time(NULL) % 100000, tid, i);
        Reseller__V1__IssueVoucherRequest req = RESELLER__V1__ISSUE_VOUCHER_REQUEST__INIT;
        req.request_id = rid;
        req.template_id = s->o->tpl;
        req.customer_id = s->o->customer;
        Reseller__V1__IssueVoucherResponse *resp = NULL;
        int code = 0;
        char msg[256];
        double t0 = now_ms();
        int rc = rs_voucher_issue(&s->app, a, s->o->reseller, "bench", &req, &resp, &code, msg);
        double dt = now_ms() - t0;
        vc_arena_free(a);
        if (rc < 0)
            atomic_fetch_add(&s->failed, 1);
        else if (code != 0)
            atomic_fetch_add(&s->refused, 1);
        else
            atomic_fetch_add(&s->ok, 1);
        if (n == cap) {
            double *p = realloc(lat, cap * 2 * sizeof(double));
            if (!p)
                break;
            lat = p;
            cap *= 2;
        }
        lat[n++] = dt;
    }
    pthread_mutex_lock(&s->mu);
    double *p = realloc(s->lat, (s->n + n + 1) * sizeof(double));
    if (p) {
        s->lat = p;
        memcpy(s->lat + s->n, lat, n * sizeof(double));
        s->n += n;
    }
    pthread_mutex_unlock(&s->mu);
    free(lat);
    vc_db_thread_end();
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    opts o = {0};
    size_t no = sizeof(options) / sizeof(options[0]);
    int rc = vc_config_parse(options, no, &o, argc, argv, "SQLBENCH_", "issue_sqlbench",
                             "the IssueVoucher transaction without gRPC");
    if (rc != 0 || !o.tpl) {
        vc_config_free(options, no, &o);
        return rc == 1 ? 0 : 2;
    }
    shared s = {.o = &o};
    pthread_mutex_init(&s.mu, NULL);
    rs_config cfg = {.currency = "CNY"};
    vc_db_opts dbo = {.socket = o.db_socket, .user = o.db_user, .password = o.db_password,
                      .database = o.db_name, .pool_size = (unsigned)o.concurrency,
                      .connect_timeout_s = 2, .rw_timeout_s = 30};
    if (vc_db_pool_open(&dbo, &s.app.db) != 0)
        return 1;
    s.app.cfg = &cfg;
    pthread_t *th = calloc((size_t)o.concurrency, sizeof(*th));
    double t0 = now_ms();
    s.end_ms = t0 + (double)o.duration_ms;
    for (int64_t i = 0; i < o.concurrency; i++)
        pthread_create(&th[i], NULL, worker, &s);
    for (int64_t i = 0; i < o.concurrency; i++)
        pthread_join(th[i], NULL);
    double secs = (now_ms() - t0) / 1e3;
    qsort(s.lat, s.n, sizeof(double), cmp);
    printf("{\"calls\":%zu,\"ok\":%ld,\"refused\":%ld,\"failed\":%ld,\"seconds\":%.3f,"
           "\"rps\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f}\n",
           s.n, atomic_load(&s.ok), atomic_load(&s.refused), atomic_load(&s.failed), secs,
           (double)atomic_load(&s.ok) / secs, s.n ? s.lat[s.n / 2] : 0.0,
           s.n ? s.lat[(size_t)((double)(s.n - 1) * 0.99)] : 0.0);
    free(th);
    free(s.lat);
    vc_db_pool_close(s.app.db);
    vc_db_library_end();
    vc_config_free(options, no, &o);
    return 0;
}
