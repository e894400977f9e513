/*
 * vc_metrics.h - Prometheus metrics: RPC counts and latency, counters, gauges, /metrics.
 *
 * One vc_metrics per process. At start-up the service registers what it will measure:
 * one vc_metrics_rpc per gRPC method, counters for events, gauges sampled by callback.
 * On the hot path it only observes (atomic adds, no locks, no allocation). An HTTP endpoint
 * (libmicrohttpd, its own thread) serves the text exposition format 0.0.4:
 *
 *   vc_rpc_requests_total{service="reseller-svc",method="/reseller.v1.QuotaService/GetQuota",
 *                         code="OK"} 12
 *   vc_rpc_duration_seconds_bucket{service="...",method="...",le="0.005"} 11   (cumulative)
 *   vc_rpc_duration_seconds_sum / _count
 *   <counter>{service="..."} 3      <gauge>{service="..."} 0.25
 *
 * Only status codes that were observed appear in vc_rpc_requests_total. Histogram buckets are
 * 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 s and +Inf.
 * Durations are summed in whole nanoseconds, so sums are exact and never lose small values.
 *
 * Thread-safety: registration (vc_metrics_rpc_method, vc_metrics_counter_new, vc_metrics_gauge)
 * takes a mutex and may happen at any time from any thread; observing and counter adds are
 * lock-free C11 atomics. Rendering takes the same mutex and reads the atomics without stopping
 * writers, so a scrape may see an observation in the counter and not yet in the histogram (or
 * the reverse); each family is internally consistent (_count equals the +Inf bucket).
 * Gauge callbacks run on the HTTP thread (or the vc_metrics_render caller) with that mutex
 * held: they must be quick, thread-safe and must not register metrics.
 *
 * Lifetime: handles returned by registration live as long as the vc_metrics that made them.
 */
#ifndef VC_METRICS_H
#define VC_METRICS_H

#include <stdint.h>

typedef struct vc_metrics vc_metrics;
typedef struct vc_metrics_rpc vc_metrics_rpc;
typedef struct vc_metrics_counter vc_metrics_counter;

/* Creates an empty registry; service (copied) becomes the "service" label. NULL on ENOMEM. */
vc_metrics *vc_metrics_new(const char *service);

/* Stops serving, then frees m and every handle it returned. NULL is ignored. */
void vc_metrics_free(vc_metrics *m);

/* Serves GET/HEAD /metrics (text/plain; version=0.0.4) and /healthz ("ok"), 404 for other
 * paths, 405 for other methods, from an internal libmicrohttpd thread. listen is "ip:port",
 * "[ipv6]:port", "localhost:port" or ":port" (all IPv4 interfaces); hosts are numeric so start-up
 * never waits on DNS. Port 0 picks a free port, reported through bound_port (may be NULL).
 * Call serve/stop/free from one controlling thread. Returns 0, VC_EINVAL (bad address, already
 * serving), VC_EIO (the socket could not be bound). */
int vc_metrics_serve(vc_metrics *m, const char *listen, unsigned *bound_port);

/* Stops the HTTP server and waits for its thread; in-flight scrapes finish first. Idempotent. */
void vc_metrics_stop(vc_metrics *m);

/* Get-or-create the series of one gRPC method ("/pkg.Service/Method"), normally while
 * registering methods. NULL on ENOMEM or a NULL name. */
vc_metrics_rpc *vc_metrics_rpc_method(vc_metrics *m, const char *full_method);

/* Records one finished call: grpc_code 0..16 (anything else counts as UNKNOWN) and its
 * duration in seconds (negative or NaN counts as 0). Lock-free; r may be NULL (no-op). */
void vc_metrics_rpc_observe(vc_metrics_rpc *r, int grpc_code, double seconds);

/* Get-or-create a monotonically increasing counter. name must match [a-zA-Z_:][a-zA-Z0-9_:]*
 * and not be taken by a gauge; help is copied. NULL on ENOMEM or a bad/taken name. */
vc_metrics_counter *vc_metrics_counter_new(vc_metrics *m, const char *name, const char *help);

/* Adds v (lock-free). c may be NULL (no-op), so a failed registration never crashes a caller. */
void vc_metrics_counter_add(vc_metrics_counter *c, uint64_t v);

/* Current value of a counter (tests, logs). */
uint64_t vc_metrics_counter_value(const vc_metrics_counter *c);

/* Samples a value at scrape time, e.g. DB pool in-use connections or outbox backlog. */
typedef double (*vc_metrics_gauge_fn)(void *arg);

/* Registers a gauge; fn(arg) is called at every scrape (see thread-safety above); arg is not
 * owned and must outlive m. Returns 0, VC_EINVAL (bad name), VC_EEXIST (name taken),
 * VC_ENOMEM. */
int vc_metrics_gauge(vc_metrics *m, const char *name, const char *help, vc_metrics_gauge_fn fn,
                     void *arg);

/* The full exposition text, NUL-terminated; caller frees with free(). NULL on ENOMEM. */
char *vc_metrics_render(vc_metrics *m);

#endif
