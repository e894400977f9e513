/*
 * vc_rpc_server.c - see vc_rpc_server.h for the model.
 *
 * Every asynchronous gRPC operation carries a vc__tag embedded in the call's context; the worker
 * that pops the tag from the completion queue calls tag->fn. A call context is reference counted:
 * one reference for the main path (the unary handler, or the open stream), one per batch in
 * flight (close notification, status, write, read). The last reference frees it, after logging
 * and recording metrics.
 */
#include "rpc/vc_rpc_server.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "base/vc_err.h"
#include "rpc/vc_reflection.h"
#include "runtime/vc_log.h"
#include "runtime/vc_metrics.h"

/* Calls requested from core ahead of time per method. Incoming calls beyond these wait in
   core's pending queue until a worker re-requests; while draining more are requested so that
   queue empties (core cancels still-pending calls when it finally shuts down). */
#define VC__PREREQUEST_IMPLEMENTED 4
#define VC__PREREQUEST_UNIMPLEMENTED 1
#define VC__PREREQUEST_DRAINING 32
#define VC__DEFAULT_WORKERS 8
#define VC__DEFAULT_STREAM_QUEUE 1024

typedef struct vc__tag {
    void (*fn)(struct vc__tag *tag, bool ok);
} vc__tag;

#define vc__container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

enum vc__kind { VC__UNARY, VC__SERVER_STREAM, VC__BIDI };

typedef struct vc__method {
    vc_rpc_server *srv;
    const vc_rpc_service *svc;
    const ProtobufCMethodDescriptor *desc;
    const vc_rpc_method *impl; /* NULL: answered with UNIMPLEMENTED */
    char *path;
    void *handle;
    enum vc__kind kind;
    unsigned roles;
    vc_metrics_rpc *metrics;
    atomic_int outstanding; /* requested from core, not yet matched */
} vc__method;

typedef struct vc__qmsg {
    grpc_byte_buffer *bb;
    struct vc__qmsg *next;
} vc__qmsg;

struct vc_rpc_ctx {
    vc_rpc_server *srv;
    vc__method *m;
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array md;
    grpc_byte_buffer *payload;
    vc__tag t_new, t_done, t_status, t_read, t_write;
    atomic_int refs;
    int recv_cancelled; /* written by RECV_CLOSE_ON_SERVER */
    atomic_bool cancelled;
    bool admitted; /* passed the draining check: counted in srv->active */
    vc_arena *arena;
    vc_caller caller;
    const char *request_id;
    struct timespec started;

    /* outcome */
    int code;
    char *message; /* arena */
    vc_field_violation *violations, **violations_tail;

    /* batch resources that must outlive their batch */
    grpc_byte_buffer *reply;
    grpc_slice status_details;
    grpc_metadata trailer;
    unsigned char *details_bin;

    /* streams (guarded by mu) */
    pthread_mutex_t mu;
    bool initial_md_sent, write_in_flight, finishing, status_started, status_sent, closed;
    vc__qmsg *q_head, *q_tail;
    unsigned q_len;
    grpc_byte_buffer *writing;
    grpc_byte_buffer *recv_buf;
    int final_code;
    char *final_message; /* malloc: may be set from any thread */
    vc_rpc_close_fn on_close;
    void *on_close_user;
    bool close_notified; /* on_done ran: a close callback registered later runs at once */
    vc_rpc_ctx *prev, *next; /* server's open-stream list (guarded by srv->mu) */
    bool listed;
};

struct vc_rpc_server {
    vc_rpc_server_opts opts;
    char *listen, *service_name;
    grpc_server *server;
    grpc_completion_queue *cq;
    const vc_rpc_service **services;
    unsigned n_services;
    vc__method *methods;
    unsigned n_methods;
    pthread_t *threads;
    unsigned n_threads;
    bool started;
    atomic_bool draining;      /* lame duck: new calls are refused with UNAVAILABLE */
    atomic_bool core_shutdown; /* grpc_server_shutdown_and_notify was called */
    struct timespec drain_started;
    vc__tag t_shutdown;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool shutdown_done;
    long inflight; /* calls matched and not yet freed */
    long active;   /* admitted calls (handlers, open streams) not yet freed */
    vc_rpc_ctx *streams;
};

static void vc__request_call(vc__method *m);
static void vc__ctx_unref(vc_rpc_ctx *c);
static void vc__start_status_locked(vc_rpc_ctx *c);
static int vc__send_bb(vc_rpc_ctx *c, grpc_byte_buffer *bb);

/* ---- small helpers ------------------------------------------------------------------------ */

static double vc__elapsed_s(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - since->tv_sec) + (double)(now.tv_nsec - since->tv_nsec) / 1e9;
}

static bool vc__slice_eq(grpc_slice s, const char *lit)
{
    size_t n = strlen(lit);
    return GRPC_SLICE_LENGTH(s) == n && memcmp(GRPC_SLICE_START_PTR(s), lit, n) == 0;
}

static const char *vc__md_value(vc_rpc_ctx *c, const char *key)
{
    for (size_t i = 0; i < c->md.count; i++) {
        if (vc__slice_eq(c->md.metadata[i].key, key)) {
            grpc_slice v = c->md.metadata[i].value;
            return vc_arena_strndup(c->arena, (const char *)GRPC_SLICE_START_PTR(v),
                                    GRPC_SLICE_LENGTH(v));
        }
    }
    return NULL;
}

/* Packs a message into a new byte buffer (caller destroys). NULL on ENOMEM. */
static grpc_byte_buffer *vc__pack(const ProtobufCMessage *msg)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    grpc_slice s = grpc_slice_malloc(n);
    protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(s));
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

/* Unpacks a byte buffer into the call's arena. NULL when the bytes are not a valid message. */
static void *vc__unpack(vc_rpc_ctx *c, grpc_byte_buffer *bb)
{
    grpc_byte_buffer_reader rd;
    if (!grpc_byte_buffer_reader_init(&rd, bb))
        return NULL;
    grpc_slice s = grpc_byte_buffer_reader_readall(&rd);
    grpc_byte_buffer_reader_destroy(&rd);
    void *msg = protobuf_c_message_unpack(c->m->desc->input, vc_arena_allocator(c->arena),
                                          GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
    grpc_slice_unref(s);
    return msg;
}

/* ---- handler-facing API ------------------------------------------------------------------- */

vc_arena *vc_rpc_arena(vc_rpc_ctx *ctx)
{
    return ctx->arena;
}

const vc_caller *vc_rpc_caller(const vc_rpc_ctx *ctx)
{
    return &ctx->caller;
}

void *vc_rpc_service_data(const vc_rpc_ctx *ctx)
{
    return ctx->m->svc->data;
}

const char *vc_rpc_method_path(const vc_rpc_ctx *ctx)
{
    return ctx->m->path;
}

int64_t vc_rpc_deadline_left_ms(const vc_rpc_ctx *ctx)
{
    gpr_timespec d = gpr_convert_clock_type(ctx->deadline, GPR_CLOCK_MONOTONIC);
    if (gpr_time_cmp(d, gpr_inf_future(GPR_CLOCK_MONOTONIC)) >= 0)
        return INT64_MAX;
    gpr_timespec left = gpr_time_sub(d, gpr_now(GPR_CLOCK_MONOTONIC));
    return (int64_t)left.tv_sec * 1000 + left.tv_nsec / 1000000;
}

bool vc_rpc_should_stop(const vc_rpc_ctx *ctx)
{
    return atomic_load(&ctx->cancelled) || vc_rpc_deadline_left_ms(ctx) <= 0;
}

int vc_rpc_error_code(const vc_rpc_ctx *ctx)
{
    return ctx->code;
}

int vc_rpc_error(vc_rpc_ctx *ctx, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ctx->message = vc_arena_vsprintf(ctx->arena, fmt, ap);
    va_end(ap);
    ctx->code = code;
    return code;
}

int vc_rpc_invalid(vc_rpc_ctx *ctx, const char *field, const char *fmt, ...)
{
    vc_field_violation *v = vc_arena_calloc(ctx->arena, 1, sizeof(*v));
    if (!v)
        return vc_rpc_error(ctx, VC_GRPC_INVALID_ARGUMENT, "invalid argument: %s", field);
    va_list ap;
    va_start(ap, fmt);
    v->field = vc_arena_strdup(ctx->arena, field);
    v->description = vc_arena_vsprintf(ctx->arena, fmt, ap);
    va_end(ap);
    if (!ctx->violations_tail)
        ctx->violations_tail = &ctx->violations;
    *ctx->violations_tail = v;
    ctx->violations_tail = &v->next;
    /* The message repeats every violation so that plain clients see the field names too. */
    char *msg = vc_arena_strdup(ctx->arena, "invalid argument:");
    for (vc_field_violation *p = ctx->violations; p && msg; p = p->next)
        msg = vc_arena_sprintf(ctx->arena, "%s%s %s: %s", msg, p == ctx->violations ? "" : ";",
                               p->field ? p->field : "?", p->description ? p->description : "");
    ctx->message = msg;
    ctx->code = VC_GRPC_INVALID_ARGUMENT;
    return VC_GRPC_INVALID_ARGUMENT;
}

int vc_rpc_fail(vc_rpc_ctx *ctx, int err, const char *what)
{
    int code;
    const char *msg;
    switch (err) {
    case VC_EDB_UNAVAILABLE:
        code = VC_GRPC_UNAVAILABLE;
        msg = "database unavailable, retry later";
        break;
    case VC_EAGAIN:
        code = VC_GRPC_ABORTED;
        msg = "concurrent update conflict, retry";
        break;
    case VC_ETIMEDOUT:
        code = VC_GRPC_DEADLINE_EXCEEDED;
        msg = "timed out";
        break;
    case VC_ECANCELED:
        code = VC_GRPC_CANCELLED;
        msg = "cancelled";
        break;
    default:
        code = VC_GRPC_INTERNAL;
        msg = "internal error";
        break;
    }
    vc_log_fields(code == VC_GRPC_INTERNAL ? VC_LOG_ERROR : VC_LOG_WARN, "rpc failure",
                  (vc_log_field[]){VC_LOG_S("rpc", ctx->m->path), VC_LOG_S("what", what),
                                   VC_LOG_S("error", vc_strerror(err)), VC_LOG_I("errno", err)},
                  4);
    return vc_rpc_error(ctx, code, "%s", msg);
}

/* ---- call lifecycle ----------------------------------------------------------------------- */

static void vc__on_new(vc__tag *t, bool ok);
static void vc__on_done(vc__tag *t, bool ok);
static void vc__on_status(vc__tag *t, bool ok);
static void vc__on_read(vc__tag *t, bool ok);
static void vc__on_write(vc__tag *t, bool ok);

static vc_rpc_ctx *vc__ctx_new(vc__method *m)
{
    vc_rpc_ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->srv = m->srv;
    c->m = m;
    c->t_new.fn = vc__on_new;
    c->t_done.fn = vc__on_done;
    c->t_status.fn = vc__on_status;
    c->t_read.fn = vc__on_read;
    c->t_write.fn = vc__on_write;
    atomic_init(&c->refs, 1);
    atomic_init(&c->cancelled, false);
    grpc_metadata_array_init(&c->md);
    pthread_mutex_init(&c->mu, NULL);
    c->status_details = grpc_empty_slice();
    return c;
}

static void vc__log_call(vc_rpc_ctx *c, double seconds)
{
    int code = c->code;
    vc_log_level lvl = VC_LOG_INFO;
    if (c->m->svc->quiet)
        lvl = VC_LOG_DEBUG;
    if (code == VC_GRPC_INTERNAL || code == VC_GRPC_UNKNOWN || code == VC_GRPC_DATA_LOSS)
        lvl = VC_LOG_ERROR;
    if (!vc_log_enabled(lvl))
        return;
    vc_log_field f[8];
    size_t n = 0;
    f[n++] = VC_LOG_S("rpc", c->m->path);
    f[n++] = VC_LOG_S("caller", c->caller.subject[0] ? c->caller.subject : NULL);
    f[n++] = VC_LOG_S("role", c->caller.role ? vc_role_name(c->caller.role) : NULL);
    f[n++] = VC_LOG_S("status", vc_grpc_code_name(code));
    f[n++] = VC_LOG_D("duration_ms", (double)(int64_t)(seconds * 1e6) / 1000.0);
    if (c->request_id)
        f[n++] = VC_LOG_S("request_id", c->request_id);
    if (code != VC_GRPC_OK && c->message)
        f[n++] = VC_LOG_S("error", c->message);
    vc_log_fields(lvl, "rpc", f, n);
}

static void vc__ctx_free(vc_rpc_ctx *c)
{
    vc_rpc_server *s = c->srv;
    if (c->call) {
        double secs = vc__elapsed_s(&c->started);
        if (!c->status_sent && atomic_load(&c->cancelled))
            c->code = VC_GRPC_CANCELLED;
        if (c->m->metrics)
            vc_metrics_rpc_observe(c->m->metrics, c->code, secs);
        vc__log_call(c, secs);
        grpc_call_unref(c->call);
        pthread_mutex_lock(&s->mu);
        s->inflight--;
        if (c->admitted && --s->active == 0)
            pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
    }
    for (vc__qmsg *q = c->q_head, *n; q; q = n) {
        n = q->next;
        grpc_byte_buffer_destroy(q->bb);
        free(q);
    }
    if (c->reply) /* never sent: the client was gone before the handler finished */
        grpc_byte_buffer_destroy(c->reply);
    if (c->payload)
        grpc_byte_buffer_destroy(c->payload);
    if (c->recv_buf)
        grpc_byte_buffer_destroy(c->recv_buf);
    grpc_metadata_array_destroy(&c->md);
    pthread_mutex_destroy(&c->mu);
    free(c->final_message);
    vc_arena_free(c->arena);
    free(c);
}

static void vc__ctx_ref(vc_rpc_ctx *c)
{
    atomic_fetch_add(&c->refs, 1);
}

static void vc__ctx_unref(vc_rpc_ctx *c)
{
    if (atomic_fetch_sub(&c->refs, 1) == 1)
        vc__ctx_free(c);
}

static bool vc__start_batch(vc_rpc_ctx *c, const grpc_op *ops, size_t n, vc__tag *tag)
{
    vc__ctx_ref(c);
    grpc_call_error e = grpc_call_start_batch(c->call, ops, n, tag, NULL);
    if (e != GRPC_CALL_OK) {
        vc_logf(VC_LOG_ERROR, "grpc_call_start_batch(%s) failed: %d", c->m->path, (int)e);
        vc__ctx_unref(c);
        return false;
    }
    return true;
}

static void vc__request_call(vc__method *m)
{
    vc_rpc_server *s = m->srv;
    if (atomic_load(&s->core_shutdown))
        return;
    vc_rpc_ctx *c = vc__ctx_new(m);
    if (!c) {
        vc_logf(VC_LOG_ERROR, "out of memory requesting a call for %s", m->path);
        return;
    }
    grpc_byte_buffer **payload = m->impl && m->kind != VC__BIDI ? &c->payload : NULL;
    grpc_call_error e = grpc_server_request_registered_call(s->server, m->handle, &c->call,
                                                            &c->deadline, &c->md, payload, s->cq,
                                                            s->cq, &c->t_new);
    if (e != GRPC_CALL_OK) {
        c->call = NULL;
        vc__ctx_free(c);
        return;
    }
    atomic_fetch_add(&m->outstanding, 1);
}

/* Verifies the bearer token and the role. Returns a status code (OK to proceed). */
static int vc__authorize(vc_rpc_ctx *c)
{
    const vc__method *m = c->m;
    if (m->svc->public_)
        return VC_GRPC_OK;
    const char *authz = vc__md_value(c, "authorization");
    const char *why = NULL;
    if (!c->srv->opts.auth ||
        vc_auth_verify(c->srv->opts.auth, authz, &c->caller, &why) != 0) {
        memset(&c->caller, 0, sizeof(c->caller));
        return vc_rpc_error(c, VC_GRPC_UNAUTHENTICATED, "%s", why ? why : "authentication failed");
    }
    if (!(c->caller.role & m->roles))
        return vc_rpc_error(c, VC_GRPC_PERMISSION_DENIED, "role %s may not call %s",
                            vc_role_name(c->caller.role), m->path);
    return VC_GRPC_OK;
}

/* Builds the status op (and the details trailer when there are field violations). */
static size_t vc__status_op(vc_rpc_ctx *c, grpc_op *op, int code, const char *message)
{
    memset(op, 0, sizeof(*op));
    op->op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    op->data.send_status_from_server.status = (grpc_status_code)code;
    if (message && *message) {
        c->status_details = grpc_slice_from_copied_string(message);
        op->data.send_status_from_server.status_details = &c->status_details;
    }
    size_t len = 0;
    if (c->violations &&
        vc_rpc_status_encode(code, message, c->violations, &c->details_bin, &len) == 0) {
        c->trailer.key = grpc_slice_from_static_string("grpc-status-details-bin");
        c->trailer.value = grpc_slice_from_copied_buffer((const char *)c->details_bin, len);
        op->data.send_status_from_server.trailing_metadata_count = 1;
        op->data.send_status_from_server.trailing_metadata = &c->trailer;
    }
    return 1;
}

/* Caller holds c->mu (or owns c exclusively). Sends initial metadata if still owed, the optional
   reply, and the final status. */
static void vc__start_status_locked(vc_rpc_ctx *c)
{
    if (c->status_started)
        return;
    c->status_started = true;
    c->finishing = true;
    if (c->closed)
        return; /* the client is gone: nothing to send */
    c->status_sent = true;
    grpc_op ops[3];
    size_t n = 0;
    memset(ops, 0, sizeof(ops));
    if (!c->initial_md_sent) {
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        c->initial_md_sent = true;
    }
    if (c->reply) {
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = c->reply;
    }
    c->code = c->final_code;
    n += vc__status_op(c, &ops[n], c->final_code,
                       c->final_message ? c->final_message : c->message);
    vc__start_batch(c, ops, n, &c->t_status);
}

static void vc__on_status(vc__tag *t, bool ok)
{
    vc_rpc_ctx *c = vc__container_of(t, vc_rpc_ctx, t_status);
    (void)ok;
    if (c->reply) {
        grpc_byte_buffer_destroy(c->reply);
        c->reply = NULL;
    }
    grpc_slice_unref(c->status_details);
    c->status_details = grpc_empty_slice();
    if (c->details_bin) {
        grpc_slice_unref(c->trailer.value);
        free(c->details_bin);
        c->details_bin = NULL;
    }
    vc__ctx_unref(c);
}

/* ---- unary ---------------------------------------------------------------------------------- */

static void vc__run_unary(vc_rpc_ctx *c, const void *req)
{
    const ProtobufCMessageDescriptor *od = c->m->desc->output;
    ProtobufCMessage *resp = vc_arena_alloc(c->arena, od->sizeof_message);
    int code;
    if (!resp) {
        code = vc_rpc_error(c, VC_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    } else {
        protobuf_c_message_init(od, resp);
        c->code = VC_GRPC_OK;
        code = c->m->impl->unary(c, req, resp);
        if (code < 0 || code > VC_GRPC_UNAUTHENTICATED)
            code = vc_rpc_error(c, VC_GRPC_INTERNAL, "handler returned an invalid status");
    }
    if (code == VC_GRPC_OK && !(c->reply = vc__pack(resp)))
        code = vc_rpc_error(c, VC_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    c->final_code = code;
    pthread_mutex_lock(&c->mu);
    vc__start_status_locked(c);
    pthread_mutex_unlock(&c->mu);
}

/* ---- streams -------------------------------------------------------------------------------- */

static void vc__stream_list_add(vc_rpc_ctx *c)
{
    vc_rpc_server *s = c->srv;
    pthread_mutex_lock(&s->mu);
    c->next = s->streams;
    if (s->streams)
        s->streams->prev = c;
    s->streams = c;
    c->listed = true;
    pthread_mutex_unlock(&s->mu);
}

static void vc__stream_list_remove(vc_rpc_ctx *c)
{
    vc_rpc_server *s = c->srv;
    pthread_mutex_lock(&s->mu);
    if (c->listed) {
        if (c->prev)
            c->prev->next = c->next;
        else
            s->streams = c->next;
        if (c->next)
            c->next->prev = c->prev;
        c->listed = false;
    }
    pthread_mutex_unlock(&s->mu);
}

static void vc__start_write_locked(vc_rpc_ctx *c)
{
    vc__qmsg *q = c->q_head;
    if (!q || c->write_in_flight || c->closed)
        return;
    c->q_head = q->next;
    if (!c->q_head)
        c->q_tail = NULL;
    c->q_len--;
    c->writing = q->bb;
    free(q);
    grpc_op ops[2];
    size_t n = 0;
    memset(ops, 0, sizeof(ops));
    if (!c->initial_md_sent) {
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        c->initial_md_sent = true;
    }
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = c->writing;
    c->write_in_flight = true;
    if (!vc__start_batch(c, ops, n, &c->t_write)) {
        c->write_in_flight = false;
        grpc_byte_buffer_destroy(c->writing);
        c->writing = NULL;
    }
}

static void vc__drop_queue_locked(vc_rpc_ctx *c)
{
    for (vc__qmsg *q = c->q_head, *n; q; q = n) {
        n = q->next;
        grpc_byte_buffer_destroy(q->bb);
        free(q);
    }
    c->q_head = c->q_tail = NULL;
    c->q_len = 0;
}

static void vc__finish_locked(vc_rpc_ctx *c, int code, const char *message)
{
    if (c->finishing)
        return;
    c->finishing = true;
    c->final_code = code;
    free(c->final_message);
    c->final_message = message ? strdup(message) : NULL;
    if (!c->write_in_flight && !c->q_head)
        vc__start_status_locked(c);
}

void vc_rpc_stream_finish(vc_rpc_ctx *c, int code, const char *message)
{
    pthread_mutex_lock(&c->mu);
    vc__finish_locked(c, code, message);
    pthread_mutex_unlock(&c->mu);
}

int vc_rpc_stream_send(vc_rpc_ctx *c, const ProtobufCMessage *msg)
{
    return vc__send_bb(c, vc__pack(msg));
}

int vc_rpc_stream_send_packed(vc_rpc_ctx *c, const unsigned char *data, size_t len)
{
    grpc_slice s = grpc_slice_from_copied_buffer((const char *)data, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return vc__send_bb(c, bb);
}

/* Queues a packed message (takes ownership of bb; NULL means packing ran out of memory). */
static int vc__send_bb(vc_rpc_ctx *c, grpc_byte_buffer *bb)
{
    vc__qmsg *q = malloc(sizeof(*q));
    if (!bb || !q) {
        if (bb)
            grpc_byte_buffer_destroy(bb);
        free(q);
        return VC_ENOMEM;
    }
    q->bb = bb;
    q->next = NULL;
    pthread_mutex_lock(&c->mu);
    if (c->finishing || c->closed) {
        pthread_mutex_unlock(&c->mu);
        grpc_byte_buffer_destroy(bb);
        free(q);
        return VC_ECANCELED;
    }
    if (c->q_len >= c->srv->opts.max_stream_queue) {
        /* A reader this far behind would make us buffer without bound: end its stream. */
        vc__drop_queue_locked(c);
        vc__finish_locked(c, VC_GRPC_RESOURCE_EXHAUSTED, "stream reader too slow");
        pthread_mutex_unlock(&c->mu);
        grpc_byte_buffer_destroy(bb);
        free(q);
        return VC_ECANCELED;
    }
    if (c->q_tail)
        c->q_tail->next = q;
    else
        c->q_head = q;
    c->q_tail = q;
    c->q_len++;
    vc__start_write_locked(c);
    pthread_mutex_unlock(&c->mu);
    return 0;
}

void vc_rpc_stream_on_close(vc_rpc_ctx *c, vc_rpc_close_fn fn, void *user)
{
    pthread_mutex_lock(&c->mu);
    bool already = c->close_notified;
    if (!already) {
        c->on_close = fn;
        c->on_close_user = user;
    }
    pthread_mutex_unlock(&c->mu);
    /* The call ended before the handler registered: tell it now, so whatever it registered
       elsewhere is undone exactly once (the context is still held by the running handler). */
    if (already && fn)
        fn(c, user);
}

static void vc__on_write(vc__tag *t, bool ok)
{
    vc_rpc_ctx *c = vc__container_of(t, vc_rpc_ctx, t_write);
    pthread_mutex_lock(&c->mu);
    grpc_byte_buffer_destroy(c->writing);
    c->writing = NULL;
    c->write_in_flight = false;
    if (!ok) {
        /* The transport gave up on this call: nothing more will be written. */
        vc__drop_queue_locked(c);
        c->closed = true;
    } else if (c->q_head) {
        vc__start_write_locked(c);
    } else if (c->finishing) {
        vc__start_status_locked(c);
    }
    pthread_mutex_unlock(&c->mu);
    vc__ctx_unref(c);
}

/* Handles a handler's return value for a stream: keep going, or finish with its status. */
static bool vc__stream_continue(vc_rpc_ctx *c, int rc)
{
    if (rc == VC_RPC_PENDING)
        return true;
    if (rc < 0 || rc > VC_GRPC_UNAUTHENTICATED)
        rc = vc_rpc_error(c, VC_GRPC_INTERNAL, "handler returned an invalid status");
    vc_rpc_stream_finish(c, rc, rc == VC_GRPC_OK ? NULL : c->message);
    return false;
}

static void vc__start_read(vc_rpc_ctx *c)
{
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &c->recv_buf;
    if (!vc__start_batch(c, &op, 1, &c->t_read))
        vc_rpc_stream_finish(c, VC_GRPC_INTERNAL, "cannot read from stream");
}

static void vc__on_read(vc__tag *t, bool ok)
{
    vc_rpc_ctx *c = vc__container_of(t, vc_rpc_ctx, t_read);
    grpc_byte_buffer *bb = c->recv_buf;
    c->recv_buf = NULL;
    if (!ok || !bb) {
        /* Half-close (or failure): finish once what is queued has been written. */
        if (bb)
            grpc_byte_buffer_destroy(bb);
        vc_rpc_stream_finish(c, VC_GRPC_OK, NULL);
        vc__ctx_unref(c);
        return;
    }
    vc_arena_reset(c->arena); /* one message's memory at a time */
    c->message = NULL;
    c->violations = NULL;
    c->violations_tail = NULL;
    void *req = vc__unpack(c, bb);
    grpc_byte_buffer_destroy(bb);
    int rc;
    if (!req)
        rc = vc_rpc_error(c, VC_GRPC_INVALID_ARGUMENT, "request is not a valid %s",
                          c->m->desc->input->name);
    else
        rc = c->m->impl->bidi(c, req);
    if (vc__stream_continue(c, rc))
        vc__start_read(c);
    vc__ctx_unref(c);
}

/* RECV_CLOSE_ON_SERVER completed: the call is over (finished or cancelled by the client). */
static void vc__on_done(vc__tag *t, bool ok)
{
    vc_rpc_ctx *c = vc__container_of(t, vc_rpc_ctx, t_done);
    (void)ok;
    bool stream = c->m->impl && c->m->kind != VC__UNARY;
    pthread_mutex_lock(&c->mu);
    if (c->recv_cancelled)
        atomic_store(&c->cancelled, true);
    c->closed = true;
    c->finishing = true;
    vc__drop_queue_locked(c);
    vc_rpc_close_fn on_close = c->on_close;
    void *user = c->on_close_user;
    c->on_close = NULL;
    c->close_notified = true;
    pthread_mutex_unlock(&c->mu);
    if (stream) {
        vc__stream_list_remove(c);
        if (on_close)
            on_close(c, user);
        vc__ctx_unref(c); /* the open stream's reference */
    }
    vc__ctx_unref(c);
}

/* ---- a new call ----------------------------------------------------------------------------- */

static void vc__on_new(vc__tag *t, bool ok)
{
    vc_rpc_ctx *c = vc__container_of(t, vc_rpc_ctx, t_new);
    vc__method *m = c->m;
    vc_rpc_server *s = c->srv;
    atomic_fetch_sub(&m->outstanding, 1);
    if (!ok) { /* the server is shutting down: this request will never be matched */
        if (c->call)
            grpc_call_unref(c->call);
        c->call = NULL;
        vc__ctx_free(c);
        return;
    }
    clock_gettime(CLOCK_MONOTONIC, &c->started);
    bool draining = atomic_load(&s->draining);
    pthread_mutex_lock(&s->mu);
    s->inflight++;
    if (!draining && m->impl) {
        c->admitted = true;
        s->active++;
    }
    pthread_mutex_unlock(&s->mu);
    /* Keep the method ready for the next caller (more of them while draining). */
    int target = draining ? VC__PREREQUEST_DRAINING
                 : m->impl ? VC__PREREQUEST_IMPLEMENTED
                           : VC__PREREQUEST_UNIMPLEMENTED;
    do
        vc__request_call(m);
    while (draining && atomic_load(&m->outstanding) < target && !atomic_load(&s->core_shutdown));

    c->arena = vc_arena_new(0);
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &c->recv_cancelled;
    if (!c->arena || !vc__start_batch(c, &op, 1, &c->t_done)) {
        grpc_call_cancel_with_status(c->call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory",
                                     NULL);
        c->code = VC_GRPC_RESOURCE_EXHAUSTED;
        vc__ctx_unref(c);
        return;
    }
    c->request_id = vc__md_value(c, "x-request-id");

    /* Authentication comes first: an anonymous caller learns nothing, not even which methods
       exist but are not implemented. */
    int code = vc__authorize(c);
    if (code != VC_GRPC_OK)
        ;
    else if (!m->impl)
        code = vc_rpc_error(c, VC_GRPC_UNIMPLEMENTED, "%s is not implemented yet", m->path);
    else if (!c->admitted)
        code = vc_rpc_error(c, VC_GRPC_UNAVAILABLE, "server is shutting down, retry elsewhere");
    else if (vc_rpc_deadline_left_ms(c) <= 0)
        code = vc_rpc_error(c, VC_GRPC_DEADLINE_EXCEEDED, "deadline exceeded before start");

    const void *req = NULL;
    if (code == VC_GRPC_OK && m->kind != VC__BIDI) {
        if (!c->payload || !(req = vc__unpack(c, c->payload)))
            code = vc_rpc_error(c, VC_GRPC_INVALID_ARGUMENT, "request is not a valid %s",
                                m->desc->input->name);
    }
    if (code != VC_GRPC_OK || m->kind == VC__UNARY) {
        if (code == VC_GRPC_OK) {
            vc__run_unary(c, req);
        } else {
            c->final_code = code;
            pthread_mutex_lock(&c->mu);
            vc__start_status_locked(c);
            pthread_mutex_unlock(&c->mu);
        }
        /* A stream that never started keeps its main reference until on_done, like a started
           one (on_done drops it for every implemented stream method). */
        if (!(m->impl && m->kind != VC__UNARY))
            vc__ctx_unref(c);
        return;
    }

    /* A stream: keep the main reference until on_done. The handler runs under an extra
       reference: a client that cancels meanwhile makes on_done drop the stream's references on
       another worker, and the context must outlive the handler all the same. */
    vc__stream_list_add(c);
    if (m->kind == VC__SERVER_STREAM) {
        c->code = VC_GRPC_OK;
        vc__ctx_ref(c);
        vc__stream_continue(c, m->impl->server_stream(c, req));
        vc__ctx_unref(c);
    } else {
        vc__start_read(c);
    }
}

/* ---- server ------------------------------------------------------------------------------- */

static void vc__on_shutdown(vc__tag *t, bool ok)
{
    vc_rpc_server *s = vc__container_of(t, vc_rpc_server, t_shutdown);
    (void)ok;
    pthread_mutex_lock(&s->mu);
    s->shutdown_done = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void *vc__worker(void *arg)
{
    vc_rpc_server *s = arg;
    for (;;) {
        grpc_event ev =
            grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        vc__tag *t = ev.tag;
        t->fn(t, ev.success != 0);
    }
    if (s->opts.worker_exit)
        s->opts.worker_exit();
    return NULL;
}

int vc_rpc_server_new(const vc_rpc_server_opts *opts, vc_rpc_server **out)
{
    vc_rpc_server *s = calloc(1, sizeof(*s));
    if (!s)
        return VC_ENOMEM;
    s->opts = *opts;
    s->listen = strdup(opts->listen ? opts->listen : "127.0.0.1:0");
    s->service_name = strdup(opts->service_name ? opts->service_name : "vc");
    if (!s->listen || !s->service_name) {
        free(s->listen);
        free(s->service_name);
        free(s);
        return VC_ENOMEM;
    }
    s->opts.listen = s->listen;
    s->opts.service_name = s->service_name;
    if (!s->opts.workers)
        s->opts.workers = VC__DEFAULT_WORKERS;
    if (!s->opts.max_stream_queue)
        s->opts.max_stream_queue = VC__DEFAULT_STREAM_QUEUE;
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&s->draining, false);
    atomic_init(&s->core_shutdown, false);
    s->t_shutdown.fn = vc__on_shutdown;
    grpc_init();
    s->cq = grpc_completion_queue_create_for_next(NULL);
    grpc_arg args[] = {
        {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_ALLOW_REUSEPORT, .value.integer = 0},
    };
    grpc_channel_args ch_args = {.num_args = 1, .args = args};
    s->server = grpc_server_create(&ch_args, NULL);
    grpc_server_register_completion_queue(s->server, s->cq, NULL);
    *out = s;
    return 0;
}

static int vc__method_kind(const vc_rpc_method *impl, enum vc__kind *kind)
{
    int set = !!impl->unary + !!impl->server_stream + !!impl->bidi;
    if (set != 1)
        return VC_EINVAL;
    *kind = impl->unary ? VC__UNARY : impl->server_stream ? VC__SERVER_STREAM : VC__BIDI;
    return 0;
}

int vc_rpc_server_add_service(vc_rpc_server *s, const vc_rpc_service *svc)
{
    const ProtobufCServiceDescriptor *d = svc->descriptor;
    if (s->started)
        return VC_EINVAL;
    /* Every handler must name a method of the descriptor: catches typos at start-up. */
    for (unsigned i = 0; i < svc->n_methods; i++) {
        if (!protobuf_c_service_descriptor_get_method_by_name(d, svc->methods[i].name)) {
            vc_logf(VC_LOG_ERROR, "%s has no method %s", d->name, svc->methods[i].name);
            return VC_EINVAL;
        }
    }
    const vc_rpc_service **sv = realloc(s->services, (s->n_services + 1) * sizeof(*sv));
    vc__method *ms = realloc(s->methods, (s->n_methods + d->n_methods) * sizeof(*ms));
    if (sv)
        s->services = sv;
    if (ms)
        s->methods = ms;
    if (!sv || !ms)
        return VC_ENOMEM;
    s->services[s->n_services++] = svc;
    for (unsigned i = 0; i < d->n_methods; i++) {
        vc__method *m = &s->methods[s->n_methods];
        memset(m, 0, sizeof(*m));
        m->srv = s;
        m->svc = svc;
        m->desc = &d->methods[i];
        for (unsigned j = 0; j < svc->n_methods; j++)
            if (strcmp(svc->methods[j].name, m->desc->name) == 0)
                m->impl = &svc->methods[j];
        m->roles = m->impl && m->impl->roles ? m->impl->roles : svc->roles;
        if (m->impl && vc__method_kind(m->impl, &m->kind) != 0) {
            vc_logf(VC_LOG_ERROR, "%s.%s: set exactly one handler", d->name, m->desc->name);
            return VC_EINVAL;
        }
        size_t plen = strlen(d->name) + strlen(m->desc->name) + 3;
        m->path = malloc(plen);
        if (!m->path)
            return VC_ENOMEM;
        snprintf(m->path, plen, "/%s/%s", d->name, m->desc->name);
        s->n_methods++;
        bool cs = false, ss = false;
        if (m->impl && s->opts.reflection &&
            vc_reflection_method_kind(s->opts.reflection, m->path, &cs, &ss) == 0) {
            enum vc__kind want = cs ? VC__BIDI : ss ? VC__SERVER_STREAM : VC__UNARY;
            if (cs && !ss) {
                vc_logf(VC_LOG_ERROR, "%s: client streaming is not supported", m->path);
                return VC_EINVAL;
            }
            if (want != m->kind) {
                vc_logf(VC_LOG_ERROR, "%s: handler kind does not match the proto", m->path);
                return VC_EINVAL;
            }
        }
        grpc_server_register_method_payload_handling ph =
            m->impl && m->kind != VC__BIDI ? GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER
                                           : GRPC_SRM_PAYLOAD_NONE;
        m->handle = grpc_server_register_method(s->server, m->path, NULL, ph, 0);
        if (!m->handle)
            return VC_EINVAL;
        if (s->opts.metrics)
            m->metrics = vc_metrics_rpc_method(s->opts.metrics, m->path);
    }
    return 0;
}

unsigned vc_rpc_server_service_names(const vc_rpc_server *s, const char **names, unsigned max)
{
    unsigned n = 0;
    for (unsigned i = 0; i < s->n_services && n < max; i++)
        names[n++] = s->services[i]->descriptor->name;
    return n;
}

int vc_rpc_server_start(vc_rpc_server *s, int *bound_port)
{
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    int port = grpc_server_add_http2_port(s->server, s->listen, creds);
    grpc_server_credentials_release(creds);
    if (port <= 0) {
        vc_logf(VC_LOG_ERROR, "cannot listen on %s", s->listen);
        return VC_EINVAL;
    }
    grpc_server_start(s->server);
    s->started = true;
    for (unsigned i = 0; i < s->n_methods; i++) {
        vc__method *m = &s->methods[i];
        int n = m->impl ? VC__PREREQUEST_IMPLEMENTED : VC__PREREQUEST_UNIMPLEMENTED;
        for (int k = 0; k < n; k++)
            vc__request_call(m);
    }
    s->threads = calloc(s->opts.workers, sizeof(*s->threads));
    if (!s->threads)
        return VC_ENOMEM;
    for (unsigned i = 0; i < s->opts.workers; i++) {
        if (pthread_create(&s->threads[i], NULL, vc__worker, s) != 0)
            break;
        s->n_threads++;
    }
    if (s->n_threads == 0)
        return VC_ENOMEM;
    if (bound_port)
        *bound_port = port;
    return 0;
}

void vc_rpc_server_shutdown(vc_rpc_server *s)
{
    if (!s->started || atomic_exchange(&s->draining, true))
        return;
    clock_gettime(CLOCK_MONOTONIC, &s->drain_started);
    /* Open streams would hold the drain forever: end them now. Each is referenced while we
       hold it so it cannot be freed under us. */
    pthread_mutex_lock(&s->mu);
    size_t n = 0;
    for (vc_rpc_ctx *c = s->streams; c; c = c->next)
        n++;
    vc_rpc_ctx **list = n ? calloc(n, sizeof(*list)) : NULL;
    size_t k = 0;
    for (vc_rpc_ctx *c = s->streams; c && list; c = c->next) {
        vc__ctx_ref(c);
        list[k++] = c;
    }
    pthread_mutex_unlock(&s->mu);
    for (size_t i = 0; i < k; i++) {
        vc_rpc_stream_finish(list[i], VC_GRPC_UNAVAILABLE, "server is shutting down");
        vc__ctx_unref(list[i]);
    }
    free(list);
    if (n && !list)
        grpc_server_cancel_all_calls(s->server);
}

static struct timespec vc__after_ms(const struct timespec *from, int64_t ms)
{
    struct timespec t = *from;
    t.tv_sec += ms / 1000;
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

static bool vc__before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* Waits on s->cv (mu held) until `until` (CLOCK_MONOTONIC). False on timeout. */
static bool vc__cv_wait_until(vc_rpc_server *s, const struct timespec *until)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (!vc__before(&now, until))
        return false;
    /* The condvar uses CLOCK_MONOTONIC (set in vc_rpc_server_new). */
    return pthread_cond_timedwait(&s->cv, &s->mu, until) == 0;
}

int vc_rpc_server_drain(vc_rpc_server *s, int timeout_ms)
{
    if (!s->started)
        return 0;
    vc_rpc_server_shutdown(s);
    struct timespec deadline = vc__after_ms(&s->drain_started, timeout_ms);
    struct timespec lame_end = vc__after_ms(&s->drain_started, s->opts.lame_duck_ms);
    if (vc__before(&deadline, &lame_end))
        lame_end = deadline;

    /* Phase 1, lame duck: new calls are answered UNAVAILABLE (retryable, nothing done) while
       admitted calls finish. */
    pthread_mutex_lock(&s->mu);
    for (;;) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        bool lame_over = !vc__before(&now, &lame_end);
        if (lame_over && s->active == 0)
            break;
        if (!vc__cv_wait_until(s, lame_over ? &deadline : &lame_end)) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (!vc__before(&now, &deadline))
                break;
        }
    }
    int left = (int)s->active;
    pthread_mutex_unlock(&s->mu);

    /* Phase 2: core shutdown sends GOAWAY and tells us when no call is left. */
    if (!atomic_exchange(&s->core_shutdown, true))
        grpc_server_shutdown_and_notify(s->server, s->cq, &s->t_shutdown);
    if (left > 0) {
        vc_logf(VC_LOG_WARN, "drain timed out after %d ms: cancelling %d call(s)", timeout_ms,
                left);
        grpc_server_cancel_all_calls(s->server);
    }
    struct timespec now, until;
    clock_gettime(CLOCK_MONOTONIC, &now);
    until = vc__after_ms(&now, left > 0 ? 60000 : (timeout_ms > 1000 ? timeout_ms : 1000));
    pthread_mutex_lock(&s->mu);
    while (!s->shutdown_done && vc__cv_wait_until(s, &until))
        ;
    bool done = s->shutdown_done;
    pthread_mutex_unlock(&s->mu);
    if (!done) {
        grpc_server_cancel_all_calls(s->server);
        pthread_mutex_lock(&s->mu);
        until = vc__after_ms(&until, 60000);
        while (!s->shutdown_done && vc__cv_wait_until(s, &until))
            ;
        pthread_mutex_unlock(&s->mu);
    }
    return left;
}

void vc_rpc_server_free(vc_rpc_server *s)
{
    if (!s)
        return;
    if (s->started) {
        vc_rpc_server_drain(s, 2000);
        grpc_server_destroy(s->server);
        grpc_completion_queue_shutdown(s->cq);
        for (unsigned i = 0; i < s->n_threads; i++)
            pthread_join(s->threads[i], NULL);
    } else {
        grpc_server_destroy(s->server);
        grpc_completion_queue_shutdown(s->cq);
        /* Nothing was started, but the queue must still be drained to shutdown. */
        while (grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
               GRPC_QUEUE_SHUTDOWN)
            ;
    }
    grpc_completion_queue_destroy(s->cq);
    for (unsigned i = 0; i < s->n_methods; i++)
        free(s->methods[i].path);
    free(s->methods);
    free(s->services);
    free(s->threads);
    free(s->listen);
    free(s->service_name);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
    grpc_shutdown();
}
