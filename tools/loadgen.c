/*
 * loadgen - a small closed-loop gRPC load generator for benchmarks and shutdown tests.
 *
 *   loadgen --target 127.0.0.1:50051 --method /grpc.health.v1.Health/Check \
 *           --concurrency 32 --duration-ms 5000 [--requests N] [--token JWT] [--request-hex HEX]
 *           [--unique-field N] [--rps R]
 *
 * Each of `concurrency` threads sends the same packed request (empty by default, or the bytes
 * given in hex) over one shared channel until the duration or the request budget runs out, then
 * one JSON line summarises: calls, status codes, throughput and latency percentiles.
 * --unique-field N appends string field N = "lg-<run>-<thread>-<n>" to every request (protobuf's
 * last-one-wins makes it the request's value): a unique request_id per call for idempotent
 * mutations. --rps R paces the whole run at R calls per second (open loop, spread over the
 * threads) instead of back to back, for latency-at-a-given-rate measurements.
 * Exit code 0 unless nothing could be sent.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rpc/vc_rpc_client.h"
#include "rpc/vc_rpc_status.h"
#include "runtime/vc_config.h"

typedef struct opts {
    char *target;
    char *method;
    char *token;
    char *request_hex;
    int64_t concurrency;
    int64_t duration_ms;
    int64_t requests;
    int64_t timeout_ms;
    int64_t unique_field;
    int64_t rps;
} opts;

static const vc_option options[] = {
    {"target", VC_OPT_STRING, offsetof(opts, target), "127.0.0.1:50051", "server host:port", 0, 0},
    {"method", VC_OPT_STRING, offsetof(opts, method), "/grpc.health.v1.Health/Check",
     "full method path", 0, 0},
    {"token", VC_OPT_STRING, offsetof(opts, token), NULL, "bearer token (JWT)", 0, 0},
    {"request-hex", VC_OPT_STRING, offsetof(opts, request_hex), "", "packed request bytes, hex",
     0, 0},
    {"concurrency", VC_OPT_INT, offsetof(opts, concurrency), "16", "client threads", 1, 4096},
    {"duration-ms", VC_OPT_INT, offsetof(opts, duration_ms), "3000", "run time", 1, 3600000},
    {"requests", VC_OPT_INT, offsetof(opts, requests), "0", "stop after this many calls (0 = no limit)",
     0, 1000000000},
    {"timeout-ms", VC_OPT_INT, offsetof(opts, timeout_ms), "5000", "per-call deadline", 1, 600000},
    {"unique-field", VC_OPT_INT, offsetof(opts, unique_field), "0",
     "append a unique string to this field number of every request (0 = off)", 0, 536870911},
    {"rps", VC_OPT_INT, offsetof(opts, rps), "0", "target calls per second in total (0 = as fast as possible)",
     0, 10000000},
};

typedef struct shared {
    const opts *o;
    vc_rpc_client *cli;
    unsigned char *req;
    size_t req_len;
    struct timespec end;
    atomic_long budget;
    atomic_long codes[17];
    pthread_mutex_t mu;
    double *lat; /* milliseconds */
    long run_id;
    size_t n_lat, cap_lat;
} shared;

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* Appends protobuf string field `field` = text to a copy of base (caller frees). */
static unsigned char *with_field(const unsigned char *base, size_t len, unsigned field,
                                 const char *text, size_t *out_len)
{
    size_t tl = strlen(text);
    unsigned char *m = malloc(len + tl + 16);
    if (!m)
        return NULL;
    memcpy(m, base, len);
    size_t o = len;
    uint64_t key = (uint64_t)field << 3 | 2; /* wire type 2: length-delimited */
    for (uint64_t v = key;; v >>= 7) {
        if (v < 0x80) {
            m[o++] = (unsigned char)v;
            break;
        }
        m[o++] = (unsigned char)(v | 0x80);
    }
    for (uint64_t v = tl;; v >>= 7) {
        if (v < 0x80) {
            m[o++] = (unsigned char)v;
            break;
        }
        m[o++] = (unsigned char)(v | 0x80);
    }
    memcpy(m + o, text, tl);
    *out_len = o + tl;
    return m;
}

static void *worker(void *arg)
{
    shared *s = arg;
    static atomic_int next_tid;
    int tid = atomic_fetch_add(&next_tid, 1);
    double end = (double)s->end.tv_sec * 1e3 + (double)s->end.tv_nsec / 1e6;
    size_t cap = 1024, n = 0;
    double *lat = malloc(cap * sizeof(*lat));
    vc_rpc_call_opts co = {.bearer = s->o->token, .timeout_ms = (int)s->o->timeout_ms};
    /* Open-loop pacing: this thread's share of the rate, on a fixed schedule. */
    double interval = s->o->rps ? (double)s->o->concurrency * 1e3 / (double)s->o->rps : 0.0;
    double next = now_ms() + interval * (double)tid / (double)s->o->concurrency;
    for (long i = 0; now_ms() < end && lat; i++) {
        if (s->o->requests && atomic_fetch_sub(&s->budget, 1) <= 0)
            break;
        if (interval > 0) {
            double wait = next - now_ms();
            if (wait > 0)
                usleep((useconds_t)(wait * 1e3));
            next += interval;
        }
        const unsigned char *req = s->req;
        size_t req_len = s->req_len;
        unsigned char *uniq = NULL;
        if (s->o->unique_field) {
            char text[64];
            snprintf(text, sizeof(text), "lg-%ld-%d-%ld", (long)s->run_id, tid, i);
            uniq = with_field(s->req, s->req_len, (unsigned)s->o->unique_field, text, &req_len);
            req = uniq;
        }
        vc_rpc_result res;
        unsigned char *reply = NULL;
        size_t reply_len = 0;
        double t0 = now_ms();
        if (!req || vc_rpc_client_unary_raw(s->cli, s->o->method, req, req_len, &reply,
                                            &reply_len, &co, &res) != 0)
            res.code = VC_GRPC_INTERNAL;
        free(reply);
        free(uniq);
        if (n == cap) {
            double *p = realloc(lat, cap * 2 * sizeof(*lat));
            if (!p)
                break;
            lat = p;
            cap *= 2;
        }
        lat[n++] = now_ms() - t0;
        if (res.code >= 0 && res.code <= 16)
            atomic_fetch_add(&s->codes[res.code], 1);
    }
    pthread_mutex_lock(&s->mu);
    if (s->n_lat + n > s->cap_lat) {
        size_t nc = (s->n_lat + n) * 2;
        double *p = realloc(s->lat, nc * sizeof(double));
        if (p) {
            s->lat = p;
            s->cap_lat = nc;
        }
    }
    if (s->n_lat + n <= s->cap_lat) {
        memcpy(s->lat + s->n_lat, lat, n * sizeof(double));
        s->n_lat += n;
    }
    pthread_mutex_unlock(&s->mu);
    free(lat);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int parse_hex(const char *hex, unsigned char **out, size_t *len)
{
    size_t n = strlen(hex);
    if (n % 2)
        return -1;
    *out = malloc(n / 2 + 1);
    if (!*out)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return -1;
        (*out)[i] = (unsigned char)v;
    }
    *len = n / 2;
    return 0;
}

int main(int argc, char **argv)
{
    opts o = {0};
    size_t nopt = sizeof(options) / sizeof(options[0]);
    int rc = vc_config_parse(options, nopt, &o, argc, argv, "LOADGEN_", "loadgen",
                             "closed-loop unary gRPC load generator");
    if (rc != 0) {
        vc_config_free(options, nopt, &o);
        return rc == 1 ? 0 : 2;
    }
    shared s = {.o = &o};
    pthread_mutex_init(&s.mu, NULL);
    if (parse_hex(o.request_hex, &s.req, &s.req_len) != 0 ||
        vc_rpc_client_new(o.target, &s.cli) != 0) {
        fprintf(stderr, "loadgen: bad --request-hex or --target\n");
        free(s.req);
        vc_config_free(options, nopt, &o);
        return 2;
    }
    atomic_init(&s.budget, (long)o.requests);
    s.run_id = (long)time(NULL) % 1000000;
    clock_gettime(CLOCK_MONOTONIC, &s.end);
    s.end.tv_sec += o.duration_ms / 1000;
    s.end.tv_nsec += (o.duration_ms % 1000) * 1000000L;
    if (s.end.tv_nsec >= 1000000000L) {
        s.end.tv_sec++;
        s.end.tv_nsec -= 1000000000L;
    }
    pthread_t *th = calloc((size_t)o.concurrency, sizeof(*th));
    double t0 = now_ms();
    for (int64_t i = 0; i < o.concurrency; i++)
        pthread_create(&th[i], NULL, worker, &s);
    for (int64_t i = 0; i < o.concurrency; i++)
        pthread_join(th[i], NULL);
    double secs = (now_ms() - t0) / 1e3;
    qsort(s.lat, s.n_lat, sizeof(double), cmp_double);
#define PCT(p) (s.n_lat ? s.lat[(size_t)((double)(s.n_lat - 1) * (p))] : 0.0)
    printf("{\"calls\":%zu,\"seconds\":%.3f,\"rps\":%.1f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,"
           "\"p99_ms\":%.3f,\"max_ms\":%.3f,\"codes\":{",
           s.n_lat, secs, secs > 0 ? (double)s.n_lat / secs : 0.0, PCT(0.50), PCT(0.90),
           PCT(0.99), s.n_lat ? s.lat[s.n_lat - 1] : 0.0);
    bool first = true;
    for (int c = 0; c <= 16; c++) {
        long n = atomic_load(&s.codes[c]);
        if (n) {
            printf("%s\"%s\":%ld", first ? "" : ",", vc_grpc_code_name(c), n);
            first = false;
        }
    }
    printf("}}\n");
    free(th);
    free(s.lat);
    free(s.req);
    vc_rpc_client_free(s.cli);
    vc_config_free(options, nopt, &o);
    pthread_mutex_destroy(&s.mu);
    return s.n_lat ? 0 : 1;
}
