#include "rpc/vc_health.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/vc_err.h"
#include "grpc/health/v1/health.pb-c.h"

typedef struct vc__watcher {
    vc_rpc_ctx *ctx;
    char *service;
    struct vc__watcher *next;
} vc__watcher;

struct vc_health {
    atomic_bool serving;
    pthread_mutex_t mu; /* guards names and watchers */
    char **names;
    size_t n_names;
    vc__watcher *watchers;
    vc_rpc_service table;
};

static bool vc__known(vc_health *h, const char *service)
{
    if (!service || !*service)
        return true;
    for (size_t i = 0; i < h->n_names; i++)
        if (strcmp(h->names[i], service) == 0)
            return true;
    return false;
}

static Grpc__Health__V1__HealthCheckResponse__ServingStatus vc__status(const vc_health *h,
                                                                       bool known)
{
    if (!known)
        return GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN;
    return atomic_load(&h->serving) ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
                                    : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
}

static int vc__check(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Grpc__Health__V1__HealthCheckRequest *req = req_;
    Grpc__Health__V1__HealthCheckResponse *resp = resp_;
    vc_health *h = vc_rpc_service_data(ctx);
    pthread_mutex_lock(&h->mu);
    bool known = vc__known(h, req->service);
    pthread_mutex_unlock(&h->mu);
    if (!known)
        return vc_rpc_error(ctx, VC_GRPC_NOT_FOUND, "unknown service %s", req->service);
    resp->status = vc__status(h, true);
    return VC_GRPC_OK;
}

static int vc__send_status(vc_rpc_ctx *ctx, Grpc__Health__V1__HealthCheckResponse__ServingStatus st)
{
    Grpc__Health__V1__HealthCheckResponse msg = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    msg.status = st;
    return vc_rpc_stream_send(ctx, &msg.base);
}

static void vc__watch_closed(vc_rpc_ctx *ctx, void *user)
{
    vc_health *h = user;
    pthread_mutex_lock(&h->mu);
    for (vc__watcher **pp = &h->watchers; *pp; pp = &(*pp)->next) {
        if ((*pp)->ctx == ctx) {
            vc__watcher *w = *pp;
            *pp = w->next;
            free(w->service);
            free(w);
            break;
        }
    }
    pthread_mutex_unlock(&h->mu);
}

static int vc__watch(vc_rpc_ctx *ctx, const void *req_)
{
    const Grpc__Health__V1__HealthCheckRequest *req = req_;
    vc_health *h = vc_rpc_service_data(ctx);
    vc__watcher *w = calloc(1, sizeof(*w));
    if (!w || !(w->service = strdup(req->service ? req->service : ""))) {
        free(w);
        return vc_rpc_error(ctx, VC_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    }
    w->ctx = ctx;
    pthread_mutex_lock(&h->mu);
    w->next = h->watchers;
    h->watchers = w;
    pthread_mutex_unlock(&h->mu);
    /* Outside the lock: when the client already left, the close callback runs right here and
       takes the lock itself to unregister. */
    vc_rpc_stream_on_close(ctx, vc__watch_closed, h);
    /* The first status under the lock, so no change slips in between (a change that raced the
       registration may repeat the same status: harmless). */
    pthread_mutex_lock(&h->mu);
    vc__send_status(ctx, vc__status(h, vc__known(h, req->service)));
    pthread_mutex_unlock(&h->mu);
    return VC_RPC_PENDING;
}

static const vc_rpc_method vc__health_methods[] = {
    {.name = "Check", .unary = vc__check},
    {.name = "Watch", .server_stream = vc__watch},
};

int vc_health_new(vc_health **out)
{
    vc_health *h = calloc(1, sizeof(*h));
    if (!h)
        return VC_ENOMEM;
    atomic_init(&h->serving, false);
    pthread_mutex_init(&h->mu, NULL);
    h->table = (vc_rpc_service){
        .descriptor = &grpc__health__v1__health__descriptor,
        .methods = vc__health_methods,
        .n_methods = sizeof(vc__health_methods) / sizeof(vc__health_methods[0]),
        .public_ = true,
        .quiet = true,
        .data = h,
    };
    *out = h;
    return 0;
}

void vc_health_free(vc_health *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n_names; i++)
        free(h->names[i]);
    free(h->names);
    /* Watchers unregister themselves when their streams close, before the server is freed. */
    for (vc__watcher *w = h->watchers, *n; w; w = n) {
        n = w->next;
        free(w->service);
        free(w);
    }
    pthread_mutex_destroy(&h->mu);
    free(h);
}

int vc_health_add_name(vc_health *h, const char *service)
{
    char *copy = strdup(service);
    if (!copy)
        return VC_ENOMEM;
    pthread_mutex_lock(&h->mu);
    char **names = realloc(h->names, (h->n_names + 1) * sizeof(*names));
    if (!names) {
        pthread_mutex_unlock(&h->mu);
        free(copy);
        return VC_ENOMEM;
    }
    h->names = names;
    h->names[h->n_names++] = copy;
    pthread_mutex_unlock(&h->mu);
    return 0;
}

void vc_health_set_serving(vc_health *h, bool serving)
{
    pthread_mutex_lock(&h->mu);
    bool was = atomic_exchange(&h->serving, serving);
    if (was != serving) {
        for (vc__watcher *w = h->watchers; w; w = w->next)
            vc__send_status(w->ctx, vc__status(h, vc__known(h, w->service)));
    }
    pthread_mutex_unlock(&h->mu);
}

bool vc_health_serving(const vc_health *h)
{
    return atomic_load(&h->serving);
}

const vc_rpc_service *vc_health_service(vc_health *h)
{
    return &h->table;
}
