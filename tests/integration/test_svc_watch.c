/* WatchCreditAlerts end to end: alarms raised through the real API (credit-pool grant by
   ReviewDecided, SetCustomerCredit, ReportUsage as billing) reach the reseller's watchers live,
   in order, exactly once and nobody else's; customer and kind filters; resume_after replays
   exactly what was missed (and OUT_OF_RANGE past the bound); a second replica streams alerts
   raised through the first; concurrent reports (commits out of alert_id order) still arrive
   exactly once; a reader that stops reading is ended with RESOURCE_EXHAUSTED; cancelled and
   refused streams leave no watcher behind (gauge vc_alert_watchers); shutdown ends streams with
   UNAVAILABLE. The stream client is raw gRPC core: a reader thread per stream collects the
   messages, the test waits for them with deadlines. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "harness.h"
#include "reseller/v1/billing_service.pb-c.h"
#include "reseller/v1/customer_service.pb-c.h"
#include "reseller/v1/review_callback_service.pb-c.h"

#define WATCH_PATH "/reseller.v1.CustomerService/WatchCreditAlerts"
#define POOL       100000000000LL /* 1e9.00 per reseller: the pool-low alarm never fires */
#define CREDIT     10000          /* 100.00 */
#define WAIT_MS    8000           /* generous under ASan; a passing test waits far less */
#define MAX_SEEN   8192
#define RS_POLL_MS 200 /* the hub's poll interval (reseller-svc/alerts_hub.h) */

#define K_USAGE RESELLER__V1__ALERT_KIND__ALERT_KIND_CUSTOMER_CREDIT_USAGE
#define K_QUOTA RESELLER__V1__ALERT_KIND__ALERT_KIND_VOUCHER_QUOTA_LOW
#define K_POOL  RESELLER__V1__ALERT_KIND__ALERT_KIND_CREDIT_POOL_LOW

static struct {
    th_svc s;
    int mport; /* its /metrics port */
    char *tok_billing, *tok_service;
} W;

/* ---- metrics ------------------------------------------------------------------------------- */

static int metrics_port(const th_svc *s)
{
    char path[256], line[128];
    snprintf(path, sizeof(path), "%s/ready", s->dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int port = 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "metrics_port=%d", &port) == 1) break;
    fclose(f);
    assert_true(port > 0);
    return port;
}

/* The value of an unlabelled-by-us gauge (`name{service="..."} v`), -1 when absent. */
static double metric(int port, const char *name)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    const char *req = "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n";
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    static char buf[1 << 20];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof(buf) - 1 && (r = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
        n += (size_t)r;
    close(fd);
    buf[n] = '\0';
    char key[128];
    snprintf(key, sizeof(key), "\n%s{", name);
    const char *p = strstr(buf, key);
    if (!p) return -1;
    p = strchr(p, '}');
    return p ? strtod(p + 1, NULL) : -1;
}

static void wait_watchers(int port, double want)
{
    double got = -1;
    for (int i = 0; i < WAIT_MS / 20; i++) {
        if ((got = metric(port, "vc_alert_watchers")) == want) return;
        usleep(20 * 1000);
    }
    fail_msg("vc_alert_watchers is %g, want %g", got, want);
}

/* ---- the stream client --------------------------------------------------------------------- */

typedef struct seen {
    uint64_t id;
    int kind, threshold;
    int64_t used, limit;
    char reseller[65], customer[65], trigger[65], currency[4];
} seen;

typedef struct watcher {
    grpc_channel *ch;
    grpc_completion_queue *cq;
    grpc_call *call;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool reading; /* false holds RECV_MESSAGE back (a reader that stopped reading) */
    bool done;
    int status;
    char details[256];
    size_t n;
    seen *got;
} watcher;

static void keep(watcher *w, grpc_byte_buffer *bb)
{
    grpc_byte_buffer_reader rd;
    assert_true(grpc_byte_buffer_reader_init(&rd, bb));
    grpc_slice s = grpc_byte_buffer_reader_readall(&rd);
    grpc_byte_buffer_reader_destroy(&rd);
    Reseller__V1__WatchCreditAlertsResponse *m = reseller__v1__watch_credit_alerts_response__unpack(
        NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
    grpc_slice_unref(s);
    seen x = {0};
    if (m && m->alert) {
        const Reseller__V1__CreditAlert *a = m->alert;
        x.id = strtoull(a->alert_id, NULL, 10);
        x.kind = (int)a->kind;
        x.threshold = a->threshold_percent;
        x.used = a->used_minor;
        x.limit = a->limit_minor;
        snprintf(x.reseller, sizeof(x.reseller), "%s", a->reseller_id);
        snprintf(x.customer, sizeof(x.customer), "%s", a->customer_id);
        snprintf(x.trigger, sizeof(x.trigger), "%s", a->trigger_id);
        snprintf(x.currency, sizeof(x.currency), "%s", a->currency_code);
        if (!a->create_time) x.id = 0; /* marks a malformed message: the test fails on it */
    }
    if (m) protobuf_c_message_free_unpacked(&m->base, NULL);
    pthread_mutex_lock(&w->mu);
    if (w->n < MAX_SEEN) w->got[w->n++] = x;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void *reader(void *p)
{
    watcher *w = p;
    pthread_mutex_lock(&w->mu);
    while (!w->reading)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
    grpc_metadata_array initial, trailing;
    grpc_metadata_array_init(&initial);
    grpc_metadata_array_init(&trailing);
    grpc_op op[2];
    for (bool first = true;; first = false) {
        grpc_byte_buffer *bb = NULL;
        memset(op, 0, sizeof(op));
        size_t n = 0;
        if (first) {
            op[n].op = GRPC_OP_RECV_INITIAL_METADATA;
            op[n++].data.recv_initial_metadata.recv_initial_metadata = &initial;
        }
        op[n].op = GRPC_OP_RECV_MESSAGE;
        op[n++].data.recv_message.recv_message = &bb;
        int tag;
        if (grpc_call_start_batch(w->call, op, n, &tag, NULL) != GRPC_CALL_OK) break;
        grpc_completion_queue_pluck(w->cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (!bb) break;
        keep(w, bb);
        grpc_byte_buffer_destroy(bb);
    }
    grpc_status_code st = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    memset(op, 0, sizeof(op));
    op[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op[0].data.recv_status_on_client.trailing_metadata = &trailing;
    op[0].data.recv_status_on_client.status = &st;
    op[0].data.recv_status_on_client.status_details = &details;
    int tag;
    if (grpc_call_start_batch(w->call, op, 1, &tag, NULL) == GRPC_CALL_OK)
        grpc_completion_queue_pluck(w->cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    pthread_mutex_lock(&w->mu);
    w->done = true;
    w->status = (int)st;
    snprintf(w->details, sizeof(w->details), "%.*s", (int)GRPC_SLICE_LENGTH(details),
             (const char *)GRPC_SLICE_START_PTR(details));
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&initial);
    grpc_metadata_array_destroy(&trailing);
    return NULL;
}

typedef struct filter {
    const char *customer;
    const int *kinds;
    size_t n_kinds;
    const char *resume; /* NULL = live only */
    bool stalled;       /* do not read until watch_read() */
} filter;

/* Opens a WatchCreditAlerts stream to `target` (its own channel) with token `tok` (NULL: none). */
static watcher *watch_open(const char *target, const char *tok, filter f)
{
    watcher *w = calloc(1, sizeof(*w));
    assert_non_null(w);
    w->got = calloc(MAX_SEEN, sizeof(*w->got));
    assert_non_null(w->got);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->reading = !f.stalled;
    /* A stalled reader keeps the HTTP/2 window at its initial size (no BDP growth), as a
       client would whose transport does not read ahead: the server's queue is what fills. */
    grpc_arg args[2] = {
        {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_HTTP2_BDP_PROBE, .value.integer = 0},
        {.type = GRPC_ARG_INTEGER,
         .key = GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES,
         .value.integer = 1024}};
    grpc_channel_args ca = {.num_args = 2, .args = args};
    grpc_channel_credentials *cr = grpc_insecure_credentials_create();
    w->ch = grpc_channel_create(target, cr, f.stalled ? &ca : NULL);
    grpc_channel_credentials_release(cr);
    w->cq = grpc_completion_queue_create_for_pluck(NULL);
    gpr_timespec dl =
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(120000, GPR_TIMESPAN));
    w->call = grpc_channel_create_call(w->ch, NULL, 0, w->cq,
                                       grpc_slice_from_static_string(WATCH_PATH), NULL, dl, NULL);
    Reseller__V1__WatchCreditAlertsRequest req = RESELLER__V1__WATCH_CREDIT_ALERTS_REQUEST__INIT;
    req.customer_id = (char *)(f.customer ? f.customer : "");
    req.kinds = (Reseller__V1__AlertKind *)f.kinds;
    req.n_kinds = f.n_kinds;
    req.resume_after_alert_id = (char *)(f.resume ? f.resume : "");
    size_t len = protobuf_c_message_get_packed_size(&req.base);
    grpc_slice s = grpc_slice_malloc(len);
    protobuf_c_message_pack(&req.base, GRPC_SLICE_START_PTR(s));
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    char authz[1024];
    snprintf(authz, sizeof(authz), "Bearer %s", tok ? tok : "");
    grpc_metadata md = {.key = grpc_slice_from_static_string("authorization"),
                        .value = grpc_slice_from_static_string(authz)};
    grpc_op op[3];
    memset(op, 0, sizeof(op));
    op[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    op[0].data.send_initial_metadata.count = tok ? 1 : 0;
    op[0].data.send_initial_metadata.metadata = tok ? &md : NULL;
    op[1].op = GRPC_OP_SEND_MESSAGE;
    op[1].data.send_message.send_message = bb;
    op[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    int tag;
    assert_int_equal(grpc_call_start_batch(w->call, op, 3, &tag, NULL), GRPC_CALL_OK);
    grpc_completion_queue_pluck(w->cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    grpc_byte_buffer_destroy(bb);
    assert_int_equal(pthread_create(&w->th, NULL, reader, w), 0);
    return w;
}

static void watch_read(watcher *w)
{
    pthread_mutex_lock(&w->mu);
    w->reading = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void deadline_in(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Waits until the stream has `n` messages (or ended, or ms passed); returns how many it has. */
static size_t watch_wait(watcher *w, size_t n, int ms)
{
    struct timespec dl;
    deadline_in(&dl, ms);
    pthread_mutex_lock(&w->mu);
    while (w->n < n && !w->done)
        if (pthread_cond_timedwait(&w->cv, &w->mu, &dl) != 0) break;
    size_t got = w->n;
    pthread_mutex_unlock(&w->mu);
    return got;
}

/* Waits for the stream's status; -1 if it has not ended within ms. */
static int watch_status(watcher *w, int ms)
{
    struct timespec dl;
    deadline_in(&dl, ms);
    pthread_mutex_lock(&w->mu);
    while (!w->done)
        if (pthread_cond_timedwait(&w->cv, &w->mu, &dl) != 0) break;
    int st = w->done ? w->status : -1;
    pthread_mutex_unlock(&w->mu);
    return st;
}

/* Cancels the stream (if still open) and frees everything. */
static void watch_close(watcher *w)
{
    grpc_call_cancel(w->call, NULL);
    watch_read(w);
    pthread_join(w->th, NULL);
    grpc_call_unref(w->call);
    grpc_completion_queue_shutdown(w->cq);
    grpc_completion_queue_destroy(w->cq);
    grpc_channel_destroy(w->ch);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w->got);
    free(w);
}

/* A stream that must be refused with `code` (and whose message names `text`). */
static void refused(const char *tok, filter f, int code, const char *text)
{
    watcher *w = watch_open(W.s.target, tok, f);
    int st = watch_status(w, WAIT_MS);
    if (st != code) fail_msg("stream: status %d (%s), want %d", st, w->details, code);
    assert_int_equal(w->n, 0);
    if (text && !strstr(w->details, text))
        fail_msg("status message '%s' does not name %s", w->details, text);
    watch_close(w);
}

/* ---- producing alerts through the API ------------------------------------------------------- */

static char *reseller_tok(const char *reseller)
{
    return th_token(&W.s, VC_ROLE_RESELLER, "op@watch", reseller, NULL, false, false);
}

/* The credit pool as the provider grants it: a direct grant delivered by the service role. */
static void grant_pool(const char *reseller, int64_t amount)
{
    static int seq;
    char msg[64], subj[64];
    snprintf(msg, sizeof(msg), "msg-pool-%d-%d", getpid(), ++seq);
    snprintf(subj, sizeof(subj), "pool-%d-%d", getpid(), seq);
    Reseller__V1__ReviewDecidedRequest req = RESELLER__V1__REVIEW_DECIDED_REQUEST__INIT;
    req.message_id = msg;
    req.subject_type = RESELLER__V1__REVIEW_SUBJECT_TYPE__REVIEW_SUBJECT_TYPE_CREDIT_APPLICATION;
    req.subject_id = subj;
    req.reseller_id = (char *)reseller;
    req.outcome = RESELLER__V1__REVIEW_OUTCOME__REVIEW_OUTCOME_APPROVED;
    req.reason = "test grant";
    req.decided_by = "staff@provider";
    req.granted_amount_minor = amount;
    req.direct_grant = true;
    vc_rpc_result res;
    if (th_call(&W.s, W.tok_service, "/reseller.v1.ReviewCallbackService/ReviewDecided", &req.base,
                &reseller__v1__review_decided_response__descriptor, NULL, &res) != 0)
        fail_msg("grant: %d %s", res.code, res.message);
}

static void add_customer(const char *tok, const char *id)
{
    Reseller__V1__Customer cu = RESELLER__V1__CUSTOMER__INIT;
    cu.customer_id = (char *)id;
    cu.name = (char *)id;
    Reseller__V1__CreateCustomerRequest req = RESELLER__V1__CREATE_CUSTOMER_REQUEST__INIT;
    req.customer = &cu;
    vc_rpc_result res;
    if (th_call(&W.s, tok, "/reseller.v1.CustomerService/CreateCustomer", &req.base,
                &reseller__v1__create_customer_response__descriptor, NULL, &res) != 0)
        fail_msg("CreateCustomer %s: %d %s", id, res.code, res.message);
}

static void set_credit(th_svc *s, const char *tok, const char *customer, int64_t amount)
{
    static int seq;
    char rid[64];
    snprintf(rid, sizeof(rid), "set-%d-%d", getpid(),
             __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
    Reseller__V1__SetCustomerCreditRequest req = RESELLER__V1__SET_CUSTOMER_CREDIT_REQUEST__INIT;
    req.request_id = rid;
    req.customer_id = (char *)customer;
    req.amount_minor = amount;
    vc_rpc_result res;
    if (th_call(s, tok, "/reseller.v1.CustomerService/SetCustomerCredit", &req.base,
                &reseller__v1__set_customer_credit_response__descriptor, NULL, &res) != 0)
        fail_msg("SetCustomerCredit %s %lld: %d %s", customer, (long long)amount, res.code,
                 res.message);
}

/* Reports usage as billing through replica `s`; appends the ids of the alerts it raised to
   ids[*n] (in the order the response lists them). */
static void usage(th_svc *s, const char *customer, int64_t amount, uint64_t *ids, size_t *n)
{
    static int seq;
    char uid[64];
    snprintf(uid, sizeof(uid), "use-%d-%d", getpid(),
             __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
    Reseller__V1__ReportUsageRequest req = RESELLER__V1__REPORT_USAGE_REQUEST__INIT;
    req.usage_id = uid;
    req.customer_id = (char *)customer;
    req.amount_minor = amount;
    Reseller__V1__ReportUsageResponse *r = NULL;
    vc_rpc_result res;
    if (th_call(s, W.tok_billing, "/reseller.v1.BillingService/ReportUsage", &req.base,
                &reseller__v1__report_usage_response__descriptor, (ProtobufCMessage **)&r,
                &res) != 0)
        fail_msg("ReportUsage %s: %d %s", customer, res.code, res.message);
    for (size_t i = 0; i < r->n_alerts; i++)
        ids[(*n)++] = strtoull(r->alerts[i]->alert_id, NULL, 10);
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* A reseller with a large pool and customers <prefix>0..n-1 with CREDIT each. */
static char *tenant(const char *reseller, const char *prefix, int n)
{
    char *tok = reseller_tok(reseller);
    grant_pool(reseller, POOL);
    for (int i = 0; i < n; i++) {
        char id[64];
        snprintf(id, sizeof(id), "%s%d", prefix, i);
        add_customer(tok, id);
        set_credit(&W.s, tok, id, CREDIT);
    }
    return tok;
}

/* The stream got exactly ids[0..n) in this order. */
static void expect_ids(watcher *w, const uint64_t *ids, size_t n)
{
    size_t got = watch_wait(w, n, WAIT_MS);
    if (got != n)
        fail_msg("stream has %zu alerts, want %zu (status %d %s)", got, n, w->status, w->details);
    for (size_t i = 0; i < n; i++)
        if (w->got[i].id != ids[i])
            fail_msg("alert %zu is %" PRIu64 ", want %" PRIu64, i, w->got[i].id, ids[i]);
}

/* A few polls pass (whatever was still to come would arrive in them). */
static void quiet(void)
{
    usleep(3 * RS_POLL_MS * 1000);
}

/* The stream has exactly n messages (after quiet(): nothing more arrived). */
static void expect_count(watcher *w, size_t n)
{
    pthread_mutex_lock(&w->mu);
    size_t got = w->n;
    pthread_mutex_unlock(&w->mu);
    if (got != n) fail_msg("stream has %zu alerts, want %zu", got, n);
}

/* ---- setup ----------------------------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    grpc_init();
    static const char *const extra[] = {"--metrics-listen=127.0.0.1:0", NULL};
    th_start(&W.s, "VC_TEST_RESELLER_BIN", "watch", extra);
    W.mport = metrics_port(&W.s);
    W.tok_billing = th_token(&W.s, VC_ROLE_BILLING, "billing", NULL, NULL, false, false);
    W.tok_service = th_token(&W.s, VC_ROLE_SERVICE, "approval-svc", NULL, NULL, false, false);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_assert_ledger_clean(&W.s);
    free(W.tok_billing);
    free(W.tok_service);
    th_stop(&W.s);
    grpc_shutdown();
    return 0;
}

/* ---- tests ----------------------------------------------------------------------------------- */

static void test_refused(void **state)
{
    (void)state;
    char *a = tenant("r-wref", "wref-", 1);
    char *other = tenant("r-wref2", "wref2-", 1);
    char *cust = th_token(&W.s, VC_ROLE_CUSTOMER, "u", "r-wref", "wref-0", true, true);
    char *staff = th_token(&W.s, VC_ROLE_STAFF, "s@provider", NULL, NULL, false, false);
    refused(NULL, (filter){0}, VC_GRPC_UNAUTHENTICATED, NULL);
    refused("not-a-token", (filter){0}, VC_GRPC_UNAUTHENTICATED, NULL);
    refused(W.tok_billing, (filter){0}, VC_GRPC_PERMISSION_DENIED, NULL);
    refused(cust, (filter){0}, VC_GRPC_PERMISSION_DENIED, NULL);
    refused(staff, (filter){0}, VC_GRPC_PERMISSION_DENIED, NULL);
    static const int bad_kind[] = {K_USAGE, 9};
    refused(a, (filter){.kinds = bad_kind, .n_kinds = 2}, VC_GRPC_INVALID_ARGUMENT, "kinds");
    static const int unspecified[] = {0};
    refused(a, (filter){.kinds = unspecified, .n_kinds = 1}, VC_GRPC_INVALID_ARGUMENT, "kinds");
    refused(a, (filter){.resume = "12x"}, VC_GRPC_INVALID_ARGUMENT, "resume_after_alert_id");
    refused(a, (filter){.resume = "-1"}, VC_GRPC_INVALID_ARGUMENT, "resume_after_alert_id");
    refused(a, (filter){.resume = "99999999999999999999"}, VC_GRPC_INVALID_ARGUMENT,
            "resume_after_alert_id");
    refused(a, (filter){.customer = "has space"}, VC_GRPC_INVALID_ARGUMENT, "customer_id");
    /* Another reseller's customer, and one nobody has, are not found alike. */
    refused(a, (filter){.customer = "wref2-0"}, VC_GRPC_NOT_FOUND, NULL);
    refused(a, (filter){.customer = "nobody"}, VC_GRPC_NOT_FOUND, NULL);
    refused(other, (filter){.customer = "wref-0"}, VC_GRPC_NOT_FOUND, NULL);
    wait_watchers(W.mport, 0); /* nothing refused stayed registered */
    free(a);
    free(other);
    free(cust);
    free(staff);
}

/* Two watchers of A (all; one customer) and one of B: each sees exactly its alerts, live. */
static void test_live_fanout_and_isolation(void **state)
{
    (void)state;
    char *a = tenant("r-wa", "wa-", 2);
    char *b = tenant("r-wb", "wb-", 1);
    watcher *all = watch_open(W.s.target, a, (filter){0});
    watcher *one = watch_open(W.s.target, a, (filter){.customer = "wa-0"});
    static const int usage_only[] = {K_USAGE};
    watcher *kinds = watch_open(W.s.target, a, (filter){.kinds = usage_only, .n_kinds = 1});
    watcher *wb = watch_open(W.s.target, b, (filter){0});
    wait_watchers(W.mport, 4);

    uint64_t ids[16], b_ids[4], a0[8];
    size_t n = 0, nb = 0, n0 = 0;
    usage(&W.s, "wa-0", 8000, ids, &n); /* 80 %: 75 */
    assert_int_equal(n, 1);
    a0[n0++] = ids[0];
    expect_ids(all, ids, n);             /* live: it arrives before anything else happens */
    usage(&W.s, "wa-1", 10000, ids, &n); /* 100 % at once: 75, 90, 100 */
    assert_int_equal(n, 4);
    usage(&W.s, "wb-0", 9500, b_ids, &nb); /* B: 75, 90 */
    assert_int_equal(nb, 2);
    size_t before = n;
    usage(&W.s, "wa-0", 2500, ids, &n); /* 105 %: 90, 100 */
    assert_int_equal(n, before + 2);
    for (size_t i = before; i < n; i++)
        a0[n0++] = ids[i];

    expect_ids(all, ids, n);
    expect_ids(kinds, ids, n);
    expect_ids(one, a0, n0);
    expect_ids(wb, b_ids, nb);
    /* The content is the stored alert. */
    const seen *x = &all->got[1];
    assert_string_equal(x->reseller, "r-wa");
    assert_string_equal(x->customer, "wa-1");
    assert_int_equal(x->kind, K_USAGE);
    assert_int_equal(x->threshold, 75);
    assert_int_equal(x->used, 10000);
    assert_int_equal(x->limit, CREDIT);
    assert_string_equal(x->currency, "CNY");
    assert_true(x->trigger[0] != '\0');
    assert_int_equal(all->got[2].threshold, 90);
    assert_int_equal(all->got[3].threshold, 100);
    for (size_t i = 0; i < wb->n; i++)
        assert_string_equal(wb->got[i].reseller, "r-wb");
    for (size_t i = 0; i < one->n; i++)
        assert_string_equal(one->got[i].customer, "wa-0");
    quiet();
    expect_count(all, n);
    expect_count(wb, nb);

    /* A kinds filter that matches none of them sees nothing. */
    static const int low_only[] = {K_QUOTA, K_POOL};
    watcher *low = watch_open(W.s.target, a, (filter){.kinds = low_only, .n_kinds = 2});
    wait_watchers(W.mport, 5);
    set_credit(&W.s, a, "wa-1", 20000); /* 10000 / 30000: re-armed */
    usage(&W.s, "wa-1", 20000, ids, &n);
    assert_int_equal(n, before + 2 + 3);
    expect_ids(all, ids, n);
    quiet();
    expect_count(low, 0);

    watch_close(all);
    watch_close(one);
    watch_close(kinds);
    watch_close(wb);
    watch_close(low);
    wait_watchers(W.mport, 0); /* cancelled streams are gone */
    free(a);
    free(b);
}

typedef struct racer {
    th_svc *s;
    char customer[32];
    uint64_t ids[8];
    size_t n;
} racer;

static void *race(void *p)
{
    racer *r = p;
    for (int i = 0; i < 4; i++) /* 26, 52, 78 (75), 104 % (90, 100) */
        usage(r->s, r->customer, 2600, r->ids, &r->n);
    return NULL;
}

/* Concurrent reports commit alert ids out of order; each alert still arrives exactly once and
   a customer's alerts in threshold order. */
static void test_concurrent_exactly_once(void **state)
{
    (void)state;
    enum { N = 16 };
    char *tok = tenant("r-wc", "wc-", N);
    watcher *w = watch_open(W.s.target, tok, (filter){0});
    wait_watchers(W.mport, 1);
    pthread_t th[N];
    racer r[N];
    for (int i = 0; i < N; i++) {
        r[i] = (racer){.s = &W.s};
        snprintf(r[i].customer, sizeof(r[i].customer), "wc-%d", i);
        pthread_create(&th[i], NULL, race, &r[i]);
    }
    size_t total = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(r[i].n, 3);
        total += r[i].n;
    }
    assert_int_equal(watch_wait(w, total, WAIT_MS), total);
    quiet();
    expect_count(w, total);
    for (int i = 0; i < N; i++) {
        size_t k = 0;
        for (size_t j = 0; j < w->n; j++) {
            if (strcmp(w->got[j].customer, r[i].customer) != 0) continue;
            if (k >= 3 || w->got[j].id != r[i].ids[k])
                fail_msg("%s: alert %zu is %" PRIu64, r[i].customer, k, w->got[j].id);
            k++;
        }
        assert_int_equal(k, 3);
    }
    watch_close(w);
    wait_watchers(W.mport, 0);
    free(tok);
}

/* An alert whose transaction commits after a later alert's (AUTO_INCREMENT ids are taken at
   INSERT, not at COMMIT) is still streamed, once, when it commits. The slow transaction is ours,
   held open on a connection of the test's own. */
static void test_late_commit_still_arrives(void **state)
{
    (void)state;
    char *tok = tenant("r-wlate", "wl-", 1);
    watcher *w = watch_open(W.s.target, tok, (filter){0});
    wait_watchers(W.mport, 1);
    vc_db_conn *c;
    assert_int_equal(vc_db_lease(W.s.db, 10000, &c), 0);
    const char *begin = "START TRANSACTION";
    assert_int_equal(vc_db_exec_text(c, begin, strlen(begin)), 0);
    assert_int_equal(vc_db_exec(c,
                                "INSERT INTO credit_alerts (reseller_id, kind, customer_id, "
                                "threshold_percent, used_minor, limit_minor, currency_code, "
                                "trigger_id, created_us) VALUES ('r-wlate', 1, 'wl-0', 75, 1, 1, "
                                "'CNY', 'slow-tx', 1)",
                                NULL, 0, NULL),
                     0);
    uint64_t late = vc_db_last_insert_id(c);
    uint64_t ids[8];
    size_t n = 0;
    usage(&W.s, "wl-0", CREDIT, ids, &n); /* 75, 90, 100: all after `late`, committed first */
    assert_int_equal(n, 3);
    assert_true(ids[0] > late);
    expect_ids(w, ids, n);
    const char *commit = "COMMIT";
    assert_int_equal(vc_db_exec_text(c, commit, strlen(commit)), 0);
    vc_db_release(W.s.db, c);
    ids[n++] = late;
    expect_ids(w, ids, n);
    assert_string_equal(w->got[3].trigger, "slow-tx");
    quiet();
    expect_count(w, n);
    watch_close(w);
    wait_watchers(W.mport, 0);
    free(tok);
}

/* resume_after replays exactly what the client missed, then goes on live. */
static void test_resume(void **state)
{
    (void)state;
    char *tok = tenant("r-wr", "wr-", 2);
    watcher *w = watch_open(W.s.target, tok, (filter){0});
    wait_watchers(W.mport, 1);
    uint64_t ids[32];
    size_t n = 0;
    usage(&W.s, "wr-0", 8000, ids, &n);
    expect_ids(w, ids, n);
    uint64_t last = ids[n - 1];
    watch_close(w);
    wait_watchers(W.mport, 0);

    /* Missed while disconnected: */
    size_t missed_from = n;
    usage(&W.s, "wr-0", 2000, ids, &n);  /* 90, 100 */
    usage(&W.s, "wr-1", 10000, ids, &n); /* 75, 90, 100 */
    assert_int_equal(n - missed_from, 5);
    char resume[32];
    snprintf(resume, sizeof(resume), "%" PRIu64, last);
    w = watch_open(W.s.target, tok, (filter){.resume = resume});
    expect_ids(w, ids + missed_from, 5);
    /* ... then live, without a gap or a repeat. */
    set_credit(&W.s, tok, "wr-1", 30000); /* 10000 / 40000: re-armed */
    usage(&W.s, "wr-1", 30000, ids, &n);
    assert_int_equal(n - missed_from, 8);
    expect_ids(w, ids + missed_from, 8);
    quiet();
    expect_count(w, 8);

    /* A customer filter applies to the replay too; a resume point from the middle. */
    snprintf(resume, sizeof(resume), "%" PRIu64, ids[missed_from]);
    watcher *one = watch_open(W.s.target, tok, (filter){.customer = "wr-1", .resume = resume});
    uint64_t want[8];
    size_t nw = 0;
    for (size_t i = missed_from + 2; i < n; i++)
        want[nw++] = ids[i];
    expect_ids(one, want, nw);
    /* Resuming from the newest alert, or beyond it, replays nothing. */
    snprintf(resume, sizeof(resume), "%" PRIu64, ids[n - 1]);
    watcher *none = watch_open(W.s.target, tok, (filter){.resume = resume});
    watcher *ahead = watch_open(W.s.target, tok, (filter){.resume = "18446744073709551615"});
    wait_watchers(W.mport, 4);
    quiet();
    expect_count(none, 0);
    expect_count(ahead, 0);
    watch_close(w);
    watch_close(one);
    watch_close(none);
    watch_close(ahead);
    wait_watchers(W.mport, 0);
    free(tok);
}

/* More stored alerts after the resume point than a replay may carry: OUT_OF_RANGE. The state
   (1001 alerts) is written directly: through the API it would take a thousand calls. */
static void test_resume_too_old(void **state)
{
    (void)state;
    char *tok = tenant("r-wold", "wold-", 1);
    /* Nobody watches: the first watcher reads the table's newest ids, so the rows below are
       behind the hub's cursor at once (not fanned out by a poll that has yet to reach them). */
    wait_watchers(W.mport, 0);
    th_exec(&W.s,
            "INSERT INTO credit_alerts (reseller_id, kind, customer_id, threshold_percent, "
            "used_minor, limit_minor, currency_code, trigger_id, created_us) "
            "SELECT 'r-wold', 1, 'wold-0', 75, 7500, 10000, 'CNY', CONCAT('t', seq), 1 "
            "FROM seq_1_to_1001",
            NULL, 0);
    int64_t first = th_query_i64(&W.s, "SELECT MIN(alert_id) FROM credit_alerts WHERE "
                                       "reseller_id = 'r-wold'");
    char resume[32];
    snprintf(resume, sizeof(resume), "%" PRId64, first - 1);
    refused(tok, (filter){.resume = resume}, VC_GRPC_OUT_OF_RANGE, "list instead");
    /* One fewer is still replayed, in order. */
    snprintf(resume, sizeof(resume), "%" PRId64, first);
    watcher *w = watch_open(W.s.target, tok, (filter){.resume = resume});
    assert_int_equal(watch_wait(w, 1000, WAIT_MS), 1000);
    assert_true(w->got[0].id > (uint64_t)first);
    for (size_t i = 1; i < 1000; i++)
        assert_true(w->got[i].id > w->got[i - 1].id);
    assert_int_equal(w->got[999].id, th_query_i64(&W.s, "SELECT MAX(alert_id) FROM credit_alerts "
                                                        "WHERE reseller_id = 'r-wold'"));
    quiet();
    expect_count(w, 1000);
    watch_close(w);
    wait_watchers(W.mport, 0);
    free(tok);
}

/* Alerts raised through one replica reach a watcher on another; shutdown ends its streams with
   UNAVAILABLE and the replica still exits cleanly. */
static void test_second_replica(void **state)
{
    (void)state;
    char *tok = tenant("r-wp", "wp-", 1);
    th_svc r2;
    static const char *const extra[] = {"--metrics-listen=127.0.0.1:0", NULL};
    th_start_replica(&r2, &W.s, "VC_TEST_RESELLER_BIN", extra);
    int mport2 = metrics_port(&r2);
    watcher *far = watch_open(r2.target, tok, (filter){0});
    watcher *near = watch_open(W.s.target, tok, (filter){0});
    wait_watchers(mport2, 1);
    wait_watchers(W.mport, 1);
    uint64_t ids[8];
    size_t n = 0;
    usage(&W.s, "wp-0", 10000, ids, &n);
    assert_int_equal(n, 3);
    expect_ids(far, ids, n);
    expect_ids(near, ids, n);
    set_credit(&r2, tok, "wp-0", 30000); /* and the other way round */
    usage(&r2, "wp-0", 30000, ids, &n);
    assert_int_equal(n, 6);
    expect_ids(far, ids, n);
    expect_ids(near, ids, n);

    /* SIGTERM once (the handler is gone after the first): the stream ends UNAVAILABLE, our
       channel closes so that it does not hold the replica's shutdown, the replica exits 0. */
    kill(r2.pid, SIGTERM);
    assert_int_equal(watch_status(far, WAIT_MS), VC_GRPC_UNAVAILABLE);
    watch_close(far);
    int st = -1;
    assert_int_equal(waitpid(r2.pid, &st, 0), r2.pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    r2.pid = 0;
    th_stop(&r2);
    watch_close(near);
    wait_watchers(W.mport, 0);
    free(tok);
}

typedef struct flooder {
    char *tok;
    int first, count; /* customers ws-<first>..: one 100 % report each (3 alerts) */
    size_t raised;
} flooder;

static void *flood(void *p)
{
    flooder *f = p;
    uint64_t ids[4];
    for (int i = f->first; i < f->first + f->count; i++) {
        char id[32];
        snprintf(id, sizeof(id), "ws-%d", i);
        add_customer(f->tok, id);
        set_credit(&W.s, f->tok, id, CREDIT);
        size_t n = 0;
        usage(&W.s, id, CREDIT, ids, &n);
        f->raised += n;
    }
    return NULL;
}

/* A client that stops reading while alerts keep coming is ended with RESOURCE_EXHAUSTED once
   the server's per-stream queue is full: the server buffers a bounded amount, not everything. */
static void test_slow_reader_is_ended(void **state)
{
    (void)state;
    /* 1440 alerts: more than the server queues per stream (1024) plus the few in flight. */
    enum { CUSTOMERS = 480, THREADS = 6 };
    char *tok = reseller_tok("r-ws");
    grant_pool("r-ws", POOL);
    watcher *slow = watch_open(W.s.target, tok, (filter){.stalled = true});
    watcher *fast = watch_open(W.s.target, tok, (filter){0});
    wait_watchers(W.mport, 2);
    pthread_t th[THREADS];
    flooder f[THREADS];
    for (int i = 0; i < THREADS; i++) {
        f[i] =
            (flooder){.tok = tok, .first = i * (CUSTOMERS / THREADS), .count = CUSTOMERS / THREADS};
        pthread_create(&th[i], NULL, flood, &f[i]);
    }
    size_t raised = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        raised += f[i].raised;
    }
    assert_int_equal(raised, 3 * CUSTOMERS);
    /* The reader that keeps up gets everything. */
    assert_int_equal(watch_wait(fast, raised, 4 * WAIT_MS), raised);
    /* The one that stopped: what was in flight, then RESOURCE_EXHAUSTED. */
    watch_read(slow);
    assert_int_equal(watch_status(slow, WAIT_MS), VC_GRPC_RESOURCE_EXHAUSTED);
    assert_true(slow->n < raised);
    for (size_t i = 1; i < slow->n; i++)
        assert_true(slow->got[i].id > slow->got[i - 1].id);
    wait_watchers(W.mport, 1); /* the hub let go of it */
    watch_close(slow);
    watch_close(fast);
    wait_watchers(W.mport, 0);
    free(tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_live_fanout_and_isolation),
        cmocka_unit_test(test_concurrent_exactly_once),
        cmocka_unit_test(test_late_commit_still_arrives),
        cmocka_unit_test(test_resume),
        cmocka_unit_test(test_resume_too_old),
        cmocka_unit_test(test_second_replica),
        cmocka_unit_test(test_slow_reader_is_ended),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
