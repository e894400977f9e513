/* Unit tests for runtime/vc_metrics: exposition text, exact concurrent counts, real HTTP. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/vc_err.h"
#include "runtime/vc_metrics.h"

#define M "/pkg.Svc/Do"

static void assert_contains(const char *text, const char *want)
{
    if (strstr(text, want) == NULL) fail_msg("missing line: %s\n--- in ---\n%s", want, text);
}

static void test_render_rpc_families(void **state)
{
    vc_metrics *m = vc_metrics_new("test-svc");
    assert_non_null(m);
    vc_metrics_rpc *r = vc_metrics_rpc_method(m, M);
    assert_non_null(r);
    assert_ptr_equal(vc_metrics_rpc_method(m, M), r); /* get-or-create */
    vc_metrics_rpc *idle = vc_metrics_rpc_method(m, "/pkg.Svc/Idle");
    assert_non_null(idle);

    vc_metrics_rpc_observe(r, 0, 0.0003); /* le 0.0005 */
    vc_metrics_rpc_observe(r, 0, 0.0005); /* exactly on a bound: counted in it */
    vc_metrics_rpc_observe(r, 5, 0.003);  /* le 0.005 */
    vc_metrics_rpc_observe(r, 16, 20.0);  /* above 10 s: +Inf only */
    vc_metrics_rpc_observe(r, 99, -1.0);  /* bad code -> UNKNOWN, negative -> 0 */
    vc_metrics_rpc_observe(NULL, 0, 1.0); /* ignored */

    char *t = vc_metrics_render(m);
    assert_non_null(t);
    assert_contains(t, "# TYPE vc_rpc_requests_total counter\n");
    assert_contains(t,
                    "vc_rpc_requests_total{service=\"test-svc\",method=\"" M "\",code=\"OK\"} 2\n");
    assert_contains(t, "vc_rpc_requests_total{service=\"test-svc\",method=\"" M
                       "\",code=\"NOT_FOUND\"} 1\n");
    assert_contains(t, "vc_rpc_requests_total{service=\"test-svc\",method=\"" M
                       "\",code=\"UNAUTHENTICATED\"} 1\n");
    assert_contains(t, "vc_rpc_requests_total{service=\"test-svc\",method=\"" M
                       "\",code=\"UNKNOWN\"} 1\n");
    assert_null(strstr(t, "code=\"INTERNAL\""));     /* only codes seen */
    assert_null(strstr(t, "/pkg.Svc/Idle\",code=")); /* idle method: no request lines */

    assert_contains(t, "# TYPE vc_rpc_duration_seconds histogram\n");
#define B(le, n)                                                                                   \
    "vc_rpc_duration_seconds_bucket{service=\"test-svc\",method=\"" M "\",le=\"" le "\"} " #n "\n"
    assert_contains(t, B("0.0005", 3) B("0.001", 3) B("0.0025", 3) B("0.005", 4) B("0.01", 4));
    assert_contains(t, B("5", 4) B("10", 4) B("+Inf", 5));
#undef B
    assert_contains(t, "vc_rpc_duration_seconds_sum{service=\"test-svc\",method=\"" M
                       "\"} 20.003800000\n");
    assert_contains(t, "vc_rpc_duration_seconds_count{service=\"test-svc\",method=\"" M "\"} 5\n");
    /* Registered but idle methods still expose an all-zero histogram. */
    assert_contains(
        t, "vc_rpc_duration_seconds_count{service=\"test-svc\",method=\"/pkg.Svc/Idle\"} 0\n");
    free(t);
    vc_metrics_free(m);
}

static double gauge_fn(void *arg)
{
    return *(double *)arg;
}

static void test_counters_gauges_escaping(void **state)
{
    vc_metrics *m = vc_metrics_new("we\"ird\\svc\nname");
    assert_non_null(m);
    vc_metrics_counter *c = vc_metrics_counter_new(m, "vc_outbox_delivered_total", "Delivered\\n");
    assert_non_null(c);
    assert_ptr_equal(vc_metrics_counter_new(m, "vc_outbox_delivered_total", "x"), c);
    vc_metrics_counter_add(c, 3);
    vc_metrics_counter_add(c, 4);
    vc_metrics_counter_add(NULL, 4);
    assert_int_equal(vc_metrics_counter_value(c), 7);

    double v = 0.25;
    assert_int_equal(vc_metrics_gauge(m, "vc_db_pool_in_use", "Leased\nconnections", gauge_fn, &v),
                     0);
    assert_int_equal(vc_metrics_gauge(m, "vc_db_pool_in_use", "again", gauge_fn, &v), VC_EEXIST);
    assert_int_equal(vc_metrics_gauge(m, "vc_outbox_delivered_total", "h", gauge_fn, &v),
                     VC_EEXIST);
    assert_null(vc_metrics_counter_new(m, "vc_db_pool_in_use", "taken by the gauge"));
    assert_int_equal(vc_metrics_gauge(m, "1bad", "h", gauge_fn, &v), VC_EINVAL);
    assert_int_equal(vc_metrics_gauge(m, "bad-name", "h", gauge_fn, &v), VC_EINVAL);
    assert_int_equal(vc_metrics_gauge(m, "vc_rpc_duration_seconds_sum", "h", gauge_fn, &v),
                     VC_EINVAL);
    assert_int_equal(vc_metrics_gauge(m, "ok_name", "h", NULL, &v), VC_EINVAL);
    assert_null(vc_metrics_counter_new(m, "", "h"));
    assert_null(vc_metrics_counter_new(m, "a b", "h"));

    vc_metrics_rpc *r = vc_metrics_rpc_method(m, "/x.Y/\"Z\"");
    vc_metrics_rpc_observe(r, 0, 0.001);

    char *t = vc_metrics_render(m);
    assert_non_null(t);
#define SVC "service=\"we\\\"ird\\\\svc\\nname\""
    assert_contains(t, "# HELP vc_outbox_delivered_total Delivered\\\\n\n");
    assert_contains(t, "# TYPE vc_outbox_delivered_total counter\n");
    assert_contains(t, "vc_outbox_delivered_total{" SVC "} 7\n");
    assert_contains(t, "# HELP vc_db_pool_in_use Leased\\nconnections\n");
    assert_contains(t, "# TYPE vc_db_pool_in_use gauge\n");
    assert_contains(t, "vc_db_pool_in_use{" SVC "} 0.25\n");
    assert_contains(t, "vc_rpc_requests_total{" SVC ",method=\"/x.Y/\\\"Z\\\"\",code=\"OK\"} 1\n");
#undef SVC
    free(t);

    v = INFINITY; /* sampled at scrape time, special values in Prometheus spelling */
    t = vc_metrics_render(m);
    assert_non_null(strstr(t, "} +Inf\n"));
    free(t);
    vc_metrics_free(m);

    /* An empty registry renders as an empty document. */
    m = vc_metrics_new("empty");
    t = vc_metrics_render(m);
    assert_string_equal(t, "");
    free(t);
    vc_metrics_free(m);
}

#define THREADS    4
#define PER_THREAD 200000

typedef struct worker_arg {
    vc_metrics *m;
    int id;
} worker_arg;

static void *observer(void *p)
{
    worker_arg *a = p;
    /* Registration races with other threads' observations on purpose. */
    vc_metrics_rpc *r = vc_metrics_rpc_method(a->m, M);
    vc_metrics_counter *c = vc_metrics_counter_new(a->m, "events_total", "events");
    for (int i = 0; i < PER_THREAD; i++) {
        vc_metrics_rpc_observe(r, i % 2 == 0 ? 0 : 14, 0.002);
        vc_metrics_counter_add(c, 2);
    }
    return NULL;
}

static void test_concurrent_observe_is_exact(void **state)
{
    vc_metrics *m = vc_metrics_new("svc");
    pthread_t t[THREADS];
    worker_arg args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (worker_arg){m, i};
        assert_int_equal(pthread_create(&t[i], NULL, observer, &args[i]), 0);
    }
    /* Scrape while they run: must not crash or deadlock. */
    for (int i = 0; i < 20; i++)
        free(vc_metrics_render(m));
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);

    char *txt = vc_metrics_render(m);
    char want[256];
    int total = THREADS * PER_THREAD;
    snprintf(want, sizeof(want), "code=\"OK\"} %d\n", total / 2);
    assert_contains(txt, want);
    snprintf(want, sizeof(want), "code=\"UNAVAILABLE\"} %d\n", total / 2);
    assert_contains(txt, want);
    snprintf(want, sizeof(want), "le=\"0.001\"} 0\n");
    assert_contains(txt, want);
    snprintf(want, sizeof(want), "le=\"0.0025\"} %d\n", total);
    assert_contains(txt, want);
    snprintf(want, sizeof(want), "_count{service=\"svc\",method=\"" M "\"} %d\n", total);
    assert_contains(txt, want);
    /* 800000 x 2 ms = 1600 s, exactly, because sums are kept in integer nanoseconds. */
    assert_contains(txt, "_sum{service=\"svc\",method=\"" M "\"} 1600.000000000\n");
    snprintf(want, sizeof(want), "events_total{service=\"svc\"} %d\n", 2 * total);
    assert_contains(txt, want);
    free(txt);
    vc_metrics_free(m);
}

/* Minimal HTTP/1.0 client: sends one request, returns the whole response (caller frees). */
static char *http_request(unsigned port, const char *method, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    char req[256];
    int n = snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: localhost\r\n\r\n", method, path);
    assert_int_equal(write(fd, req, (size_t)n), n);
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (cap - len < 1024) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        ssize_t r = read(fd, buf + len, cap - len - 1);
        assert_true(r >= 0);
        if (r == 0) break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    close(fd);
    return buf;
}

static void test_http_serve(void **state)
{
    vc_metrics *m = vc_metrics_new("http-svc");
    vc_metrics_rpc_observe(vc_metrics_rpc_method(m, M), 0, 0.01);
    unsigned port = 0;
    assert_int_equal(vc_metrics_serve(m, "127.0.0.1:0", &port), 0);
    assert_true(port > 0 && port < 65536);
    assert_int_equal(vc_metrics_serve(m, "127.0.0.1:0", NULL), VC_EINVAL); /* already serving */

    char *resp = http_request(port, "GET", "/metrics");
    assert_true(strncmp(resp, "HTTP/1.0 200", 12) == 0 || strncmp(resp, "HTTP/1.1 200", 12) == 0);
    assert_contains(resp, "Content-Type: text/plain; version=0.0.4");
    assert_contains(resp, "\r\n\r\n# HELP vc_rpc_requests_total");
    assert_contains(resp,
                    "vc_rpc_requests_total{service=\"http-svc\",method=\"" M "\",code=\"OK\"} 1\n");
    free(resp);

    resp = http_request(port, "GET", "/healthz");
    assert_non_null(strstr(resp, " 200 "));
    assert_contains(resp, "\r\n\r\nok");
    free(resp);

    resp = http_request(port, "GET", "/nope");
    assert_non_null(strstr(resp, " 404 "));
    free(resp);

    resp = http_request(port, "POST", "/metrics");
    assert_non_null(strstr(resp, " 405 "));
    free(resp);

    resp = http_request(port, "HEAD", "/metrics");
    assert_non_null(strstr(resp, " 200 "));
    assert_null(strstr(resp, "# HELP"));
    free(resp);

    vc_metrics_stop(m);
    vc_metrics_stop(m); /* idempotent */
    /* Serving again after a stop works, on a new port. */
    assert_int_equal(vc_metrics_serve(m, ":0", &port), 0);
    resp = http_request(port, "GET", "/healthz");
    assert_non_null(strstr(resp, " 200 "));
    free(resp);
    vc_metrics_free(m); /* stops the server itself */
}

static void test_serve_bad_addresses(void **state)
{
    vc_metrics *m = vc_metrics_new("svc");
    assert_int_equal(vc_metrics_serve(m, "127.0.0.1", NULL), VC_EINVAL);
    assert_int_equal(vc_metrics_serve(m, "127.0.0.1:", NULL), VC_EINVAL);
    assert_int_equal(vc_metrics_serve(m, "127.0.0.1:http", NULL), VC_EINVAL);
    assert_int_equal(vc_metrics_serve(m, "127.0.0.1:70000", NULL), VC_EINVAL);
    assert_int_equal(vc_metrics_serve(m, "300.1.1.1:80", NULL), VC_EINVAL);
    assert_int_equal(vc_metrics_serve(m, NULL, NULL), VC_EINVAL);

    /* A port already taken is an I/O error, not a crash. */
    unsigned port = 0;
    assert_int_equal(vc_metrics_serve(m, "127.0.0.1:0", &port), 0);
    vc_metrics *other = vc_metrics_new("svc2");
    char addr[32];
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
    assert_int_equal(vc_metrics_serve(other, addr, NULL), VC_EIO);
    vc_metrics_free(other);

    /* IPv6 loopback, if the machine has it. */
    vc_metrics *v6 = vc_metrics_new("svc6");
    unsigned p6 = 0;
    int rc = vc_metrics_serve(v6, "[::1]:0", &p6);
    assert_true(rc == 0 || rc == VC_EIO);
    if (rc == 0) assert_true(p6 > 0);
    vc_metrics_free(v6);
    vc_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_rpc_families),
        cmocka_unit_test(test_counters_gauges_escaping),
        cmocka_unit_test(test_concurrent_observe_is_exact),
        cmocka_unit_test(test_http_serve),
        cmocka_unit_test(test_serve_bad_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
