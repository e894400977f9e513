#include "runtime/vc_metrics.h"

#include "base/vc_err.h"
#include "runtime/vc_log.h"

#include <arpa/inet.h>
#include <math.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define VC__NBUCKETS 14
#define VC__NCODES   17
#define VC__RPC_REQ  "vc_rpc_requests_total"
#define VC__RPC_DUR  "vc_rpc_duration_seconds"
/* Longest duration that is summed as itself; keeps the double->uint64 conversion defined. */
#define VC__MAX_OBSERVED_SECONDS 1e9

static const double vc__bounds[VC__NBUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                0.1,    0.25,  0.5,    1,     2.5,  5,     10};
/* The same bounds as Prometheus shows them, so "le" labels never depend on printf rounding. */
static const char *const vc__bound_text[VC__NBUCKETS] = {
    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
    "0.1",    "0.25",  "0.5",    "1",     "2.5",  "5",     "10"};

static const char *const vc__code_names[VC__NCODES] = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

struct vc_metrics_rpc {
    vc_metrics_rpc *next;
    char *method;
    atomic_uint_fast64_t codes[VC__NCODES];
    atomic_uint_fast64_t buckets[VC__NBUCKETS + 1]; /* per bucket, not cumulative; last = +Inf */
    atomic_uint_fast64_t sum_ns;
};

struct vc_metrics_counter {
    vc_metrics_counter *next;
    char *name;
    char *help;
    atomic_uint_fast64_t value;
};

typedef struct vc__gauge {
    struct vc__gauge *next;
    char *name;
    char *help;
    vc_metrics_gauge_fn fn;
    void *arg;
} vc__gauge;

struct vc_metrics {
    pthread_mutex_t lock; /* guards the lists below, not the atomics inside their entries */
    char *service;
    vc_metrics_rpc *rpcs, **rpcs_tail; /* lists keep registration order for stable output */
    vc_metrics_counter *counters, **counters_tail;
    vc__gauge *gauges, **gauges_tail;
    struct MHD_Daemon *httpd; /* owned by the controlling thread: serve/stop/free */
};

vc_metrics *vc_metrics_new(const char *service)
{
    vc_metrics *m = calloc(1, sizeof(*m));
    if (m == NULL) return NULL;
    m->service = strdup(service ? service : "");
    if (m->service == NULL || pthread_mutex_init(&m->lock, NULL) != 0) {
        free(m->service);
        free(m);
        return NULL;
    }
    m->rpcs_tail = &m->rpcs;
    m->counters_tail = &m->counters;
    m->gauges_tail = &m->gauges;
    return m;
}

void vc_metrics_free(vc_metrics *m)
{
    if (m == NULL) return;
    vc_metrics_stop(m);
    for (vc_metrics_rpc *r = m->rpcs, *next; r != NULL; r = next) {
        next = r->next;
        free(r->method);
        free(r);
    }
    for (vc_metrics_counter *c = m->counters, *next; c != NULL; c = next) {
        next = c->next;
        free(c->name);
        free(c->help);
        free(c);
    }
    for (vc__gauge *g = m->gauges, *next; g != NULL; g = next) {
        next = g->next;
        free(g->name);
        free(g->help);
        free(g);
    }
    pthread_mutex_destroy(&m->lock);
    free(m->service);
    free(m);
}

/* ---- registration ---- */

vc_metrics_rpc *vc_metrics_rpc_method(vc_metrics *m, const char *full_method)
{
    if (m == NULL || full_method == NULL) return NULL;
    pthread_mutex_lock(&m->lock);
    vc_metrics_rpc *r = m->rpcs;
    while (r != NULL && strcmp(r->method, full_method) != 0)
        r = r->next;
    if (r == NULL && (r = calloc(1, sizeof(*r))) != NULL) {
        if ((r->method = strdup(full_method)) == NULL) {
            free(r);
            r = NULL;
        } else {
            *m->rpcs_tail = r;
            m->rpcs_tail = &r->next;
        }
    }
    pthread_mutex_unlock(&m->lock);
    return r;
}

static bool vc__valid_name(const char *s)
{
    if (s == NULL || *s == '\0' || (*s >= '0' && *s <= '9')) return false;
    for (; *s; s++) {
        bool ok = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                  (*s >= '0' && *s <= '9') || *s == '_' || *s == ':';
        if (!ok) return false;
    }
    return true;
}

/* Names the RPC families use, including the series a histogram expands into. */
static bool vc__builtin_name(const char *s)
{
    return strncmp(s, VC__RPC_REQ, strlen(VC__RPC_REQ)) == 0 ||
           strncmp(s, VC__RPC_DUR, strlen(VC__RPC_DUR)) == 0;
}

static vc_metrics_counter *vc__find_counter(vc_metrics *m, const char *name)
{
    vc_metrics_counter *c = m->counters;
    while (c != NULL && strcmp(c->name, name) != 0)
        c = c->next;
    return c;
}

static vc__gauge *vc__find_gauge(vc_metrics *m, const char *name)
{
    vc__gauge *g = m->gauges;
    while (g != NULL && strcmp(g->name, name) != 0)
        g = g->next;
    return g;
}

vc_metrics_counter *vc_metrics_counter_new(vc_metrics *m, const char *name, const char *help)
{
    if (m == NULL || !vc__valid_name(name) || vc__builtin_name(name)) return NULL;
    pthread_mutex_lock(&m->lock);
    vc_metrics_counter *c = vc__find_counter(m, name);
    if (c == NULL && vc__find_gauge(m, name) == NULL && (c = calloc(1, sizeof(*c))) != NULL) {
        c->name = strdup(name);
        c->help = strdup(help ? help : "");
        if (c->name == NULL || c->help == NULL) {
            free(c->name);
            free(c->help);
            free(c);
            c = NULL;
        } else {
            *m->counters_tail = c;
            m->counters_tail = &c->next;
        }
    }
    pthread_mutex_unlock(&m->lock);
    return c;
}

int vc_metrics_gauge(vc_metrics *m, const char *name, const char *help, vc_metrics_gauge_fn fn,
                     void *arg)
{
    if (m == NULL || fn == NULL || !vc__valid_name(name) || vc__builtin_name(name))
        return VC_EINVAL;
    vc__gauge *g = calloc(1, sizeof(*g));
    if (g == NULL) return VC_ENOMEM;
    g->name = strdup(name);
    g->help = strdup(help ? help : "");
    g->fn = fn;
    g->arg = arg;
    int rc = (g->name == NULL || g->help == NULL) ? VC_ENOMEM : 0;
    if (rc == 0) {
        pthread_mutex_lock(&m->lock);
        if (vc__find_gauge(m, name) != NULL || vc__find_counter(m, name) != NULL) {
            rc = VC_EEXIST;
        } else {
            *m->gauges_tail = g;
            m->gauges_tail = &g->next;
        }
        pthread_mutex_unlock(&m->lock);
    }
    if (rc != 0) {
        free(g->name);
        free(g->help);
        free(g);
    }
    return rc;
}

/* ---- hot path ---- */

void vc_metrics_rpc_observe(vc_metrics_rpc *r, int grpc_code, double seconds)
{
    if (r == NULL) return;
    if (grpc_code < 0 || grpc_code >= VC__NCODES) grpc_code = 2; /* UNKNOWN */
    if (!(seconds > 0))                                          /* also catches NaN */
        seconds = 0;
    if (seconds > VC__MAX_OBSERVED_SECONDS) seconds = VC__MAX_OBSERVED_SECONDS;
    size_t b = 0;
    while (b < VC__NBUCKETS && seconds > vc__bounds[b])
        b++;
    atomic_fetch_add_explicit(&r->codes[grpc_code], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->sum_ns, (uint_fast64_t)llround(seconds * 1e9),
                              memory_order_relaxed);
}

void vc_metrics_counter_add(vc_metrics_counter *c, uint64_t v)
{
    if (c != NULL) atomic_fetch_add_explicit(&c->value, v, memory_order_relaxed);
}

uint64_t vc_metrics_counter_value(const vc_metrics_counter *c)
{
    return c == NULL ? 0 : atomic_load_explicit(&c->value, memory_order_relaxed);
}

/* ---- rendering ---- */

typedef struct vc__buf {
    char *p;
    size_t len;
    size_t cap;
    bool oom;
} vc__buf;

static void vc__bput(vc__buf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (n + 1 > b->cap - b->len) {
        size_t want = b->cap * 2 > b->len + n + 1 ? b->cap * 2 : b->len + n + 1;
        char *np = realloc(b->p, want);
        if (np == NULL) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = want;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void vc__bputs(vc__buf *b, const char *s)
{
    vc__bput(b, s, strlen(s));
}

static void vc__bprintf(vc__buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void vc__bprintf(vc__buf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        b->oom = true; /* only short numeric fragments go through here */
        return;
    }
    vc__bput(b, tmp, (size_t)n);
}

/* Label values escape backslash, quote and newline; HELP text only backslash and newline. */
static void vc__bput_escaped(vc__buf *b, const char *s, bool label)
{
    for (const char *run = s;; s++) {
        if (*s == '\0' || *s == '\\' || *s == '\n' || (label && *s == '"')) {
            vc__bput(b, run, (size_t)(s - run));
            if (*s == '\0') return;
            vc__bputs(b, *s == '\\' ? "\\\\" : *s == '\n' ? "\\n" : "\\\"");
            run = s + 1;
        }
    }
}

static void vc__family(vc__buf *b, const char *name, const char *help, const char *type)
{
    vc__bputs(b, "# HELP ");
    vc__bputs(b, name);
    vc__bputs(b, " ");
    vc__bput_escaped(b, help, false);
    vc__bputs(b, "\n# TYPE ");
    vc__bputs(b, name);
    vc__bputs(b, " ");
    vc__bputs(b, type);
    vc__bputs(b, "\n");
}

/* Writes `name{service="..."[,method="..."]` without the closing brace. */
static void vc__series(vc__buf *b, const vc_metrics *m, const char *name, const char *method)
{
    vc__bputs(b, name);
    vc__bputs(b, "{service=\"");
    vc__bput_escaped(b, m->service, true);
    vc__bputs(b, "\"");
    if (method != NULL) {
        vc__bputs(b, ",method=\"");
        vc__bput_escaped(b, method, true);
        vc__bputs(b, "\"");
    }
}

static void vc__render_requests(vc__buf *b, const vc_metrics *m)
{
    vc__family(b, VC__RPC_REQ, "Finished RPCs by method and gRPC status code.", "counter");
    for (vc_metrics_rpc *r = m->rpcs; r != NULL; r = r->next) {
        for (int c = 0; c < VC__NCODES; c++) {
            uint64_t v = atomic_load_explicit(&r->codes[c], memory_order_relaxed);
            if (v == 0) continue;
            vc__series(b, m, VC__RPC_REQ, r->method);
            vc__bprintf(b, ",code=\"%s\"} %llu\n", vc__code_names[c], (unsigned long long)v);
        }
    }
}

static void vc__render_durations(vc__buf *b, const vc_metrics *m)
{
    vc__family(b, VC__RPC_DUR, "RPC handling latency in seconds.", "histogram");
    for (vc_metrics_rpc *r = m->rpcs; r != NULL; r = r->next) {
        unsigned long long cum = 0;
        for (int i = 0; i <= VC__NBUCKETS; i++) {
            cum += atomic_load_explicit(&r->buckets[i], memory_order_relaxed);
            vc__series(b, m, VC__RPC_DUR "_bucket", r->method);
            vc__bprintf(b, ",le=\"%s\"} %llu\n", i < VC__NBUCKETS ? vc__bound_text[i] : "+Inf",
                        cum);
        }
        unsigned long long ns = atomic_load_explicit(&r->sum_ns, memory_order_relaxed);
        vc__series(b, m, VC__RPC_DUR "_sum", r->method);
        vc__bprintf(b, "} %llu.%09llu\n", ns / 1000000000ull, ns % 1000000000ull);
        vc__series(b, m, VC__RPC_DUR "_count", r->method);
        vc__bprintf(b, "} %llu\n", cum);
    }
}

static void vc__render_value(vc__buf *b, double v)
{
    if (isnan(v))
        vc__bputs(b, "NaN\n");
    else if (isinf(v))
        vc__bputs(b, v > 0 ? "+Inf\n" : "-Inf\n");
    else
        vc__bprintf(b, "%.17g\n", v);
}

char *vc_metrics_render(vc_metrics *m)
{
    if (m == NULL) return NULL;
    vc__buf b = {0};
    vc__bput(&b, "", 0); /* an empty registry still renders as "" rather than NULL */
    pthread_mutex_lock(&m->lock);
    if (m->rpcs != NULL) {
        vc__render_requests(&b, m);
        vc__render_durations(&b, m);
    }
    for (vc_metrics_counter *c = m->counters; c != NULL; c = c->next) {
        vc__family(&b, c->name, c->help, "counter");
        vc__series(&b, m, c->name, NULL);
        vc__bprintf(&b, "} %llu\n",
                    (unsigned long long)atomic_load_explicit(&c->value, memory_order_relaxed));
    }
    for (vc__gauge *g = m->gauges; g != NULL; g = g->next) {
        vc__family(&b, g->name, g->help, "gauge");
        vc__series(&b, m, g->name, NULL);
        vc__bputs(&b, "} ");
        vc__render_value(&b, g->fn(g->arg));
    }
    pthread_mutex_unlock(&m->lock);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* ---- HTTP ---- */

/* owned: body came from malloc and MHD frees it; otherwise it is a static string. */
static enum MHD_Result vc__reply(struct MHD_Connection *conn, unsigned status, const char *body,
                                 bool owned, const char *ctype)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        strlen(body), (void *)body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (resp == NULL) {
        if (owned) free((void *)body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result vc__http(void *cls, struct MHD_Connection *conn, const char *url,
                                const char *method, const char *version, const char *upload,
                                size_t *upload_size, void **con_cls)
{
    static const char text[] = "text/plain; charset=utf-8";
    vc_metrics *m = cls;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return vc__reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n", false, text);
    if (strcmp(url, "/healthz") == 0) return vc__reply(conn, MHD_HTTP_OK, "ok", false, text);
    if (strcmp(url, "/metrics") != 0)
        return vc__reply(conn, MHD_HTTP_NOT_FOUND, "not found\n", false, text);
    char *body = vc_metrics_render(m);
    if (body == NULL)
        return vc__reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", false, text);
    return vc__reply(conn, MHD_HTTP_OK, body, true, "text/plain; version=0.0.4; charset=utf-8");
}

/* libmicrohttpd's own diagnostics go to the JSON log instead of raw stderr. */
static void vc__http_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n')
        msg[--n] = '\0';
    vc_log_fields(VC_LOG_WARN, msg, (vc_log_field[]){VC_LOG_S("component", "metrics-http")}, 1);
}

/* "host:port", "[v6]:port" or ":port" into a socket address. Hosts must be numeric (or
 * "localhost"): a metrics port is configured once and must not depend on DNS at start-up. */
static int vc__parse_listen(const char *listen, struct sockaddr_storage *ss, bool *v6)
{
    const char *colon = listen ? strrchr(listen, ':') : NULL;
    if (colon == NULL || colon[1] == '\0' || strlen(colon + 1) > 5 ||
        strspn(colon + 1, "0123456789") != strlen(colon + 1) || atoi(colon + 1) > 65535)
        return VC_EINVAL;
    char host[64];
    size_t hlen = (size_t)(colon - listen);
    if (hlen >= 2 && listen[0] == '[' && listen[hlen - 1] == ']') {
        listen++;
        hlen -= 2;
    }
    if (hlen >= sizeof(host)) return VC_EINVAL;
    memcpy(host, listen, hlen);
    host[hlen] = '\0';
    const char *node = host;
    if (hlen == 0)
        node = "0.0.0.0";
    else if (strcmp(host, "localhost") == 0)
        node = "127.0.0.1";

    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *res = NULL;
    if (getaddrinfo(node, colon + 1, &hints, &res) != 0 || res == NULL) return VC_EINVAL;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *v6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    return 0;
}

/* Only for MHD's messages: the socket address option decides what is bound. */
static uint16_t vc__port_of(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET6) return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

int vc_metrics_serve(vc_metrics *m, const char *listen, unsigned *bound_port)
{
    if (m == NULL || m->httpd != NULL) return VC_EINVAL;
    struct sockaddr_storage ss = {0};
    bool v6 = false;
    int rc = vc__parse_listen(listen, &ss, &v6);
    if (rc != 0) return rc;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    if (v6) flags |= MHD_USE_IPv6;
    /* The logger must be the first option or MHD prints early messages its own way. */
    m->httpd = MHD_start_daemon(
        flags, vc__port_of(&ss), NULL, NULL, vc__http, m, MHD_OPTION_EXTERNAL_LOGGER, vc__http_log,
        NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)64, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    if (m->httpd == NULL) return VC_EIO;
    if (bound_port != NULL) {
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(m->httpd, MHD_DAEMON_INFO_BIND_PORT);
        *bound_port = info ? info->port : 0;
    }
    return 0;
}

void vc_metrics_stop(vc_metrics *m)
{
    if (m == NULL || m->httpd == NULL) return;
    /* No lock here: MHD_stop_daemon joins the HTTP thread, which may be waiting for m->lock. */
    MHD_stop_daemon(m->httpd);
    m->httpd = NULL;
}
