/*
 * vc_rpc_server.h - the generic gRPC server adapter on gRPC C core.
 *
 * A service is a table: a protobuf-c service descriptor plus one handler per method name. The
 * adapter registers "/package.Service/Method" for every method of the descriptor, unpacks each
 * request with the method's input descriptor into a per-call arena, checks the caller's bearer
 * token against the roles the table allows, runs the handler, packs the reply and sends the
 * status (with google.rpc.BadRequest details for field violations). Methods of the descriptor
 * without a handler answer UNIMPLEMENTED, so reflection can list the whole contract while it is
 * being built.
 *
 * Threads. `workers` threads poll one completion queue. A unary handler runs to completion on the
 * worker that received the call and may block (database); at most `workers` handlers run at once
 * and further calls wait in the queue. Streams never pin a worker: their handlers are called per
 * event (start, each inbound message) and send later from any thread with vc_rpc_stream_send().
 *
 * Memory. Every call owns an arena (vc_rpc_arena) freed when the call ends: the request, the
 * response and anything the handler formats for them live there. Handlers free nothing they got
 * from the call. For streams, the arena is reset after each inbound message.
 *
 * Shutdown. vc_rpc_server_shutdown() stops accepting calls and finishes open streams with
 * UNAVAILABLE; vc_rpc_server_drain() waits for in-flight calls (cancelling them after a timeout);
 * vc_rpc_server_free() then tears everything down in the order gRPC core requires.
 */
#ifndef VC_RPC_SERVER_H
#define VC_RPC_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "auth/vc_auth.h"
#include "base/vc_arena.h"
#include "rpc/vc_rpc_status.h"

typedef struct vc_rpc_server vc_rpc_server;
typedef struct vc_rpc_ctx vc_rpc_ctx; /* one call; valid during handler callbacks (see streams) */
typedef struct vc_metrics vc_metrics;
typedef struct vc_reflection vc_reflection;

/* Returned by stream handlers to keep the stream open. */
#define VC_RPC_PENDING (-1)

/* Unary: fill `resp` (already initialised with its descriptor's defaults; allocate from
   vc_rpc_arena(ctx)) and return VC_GRPC_OK, or return an error code (see vc_rpc_error()). */
typedef int (*vc_rpc_unary_fn)(vc_rpc_ctx *ctx, const void *req, void *resp);
/* Server streaming: called once with the request. Send with vc_rpc_stream_send(); return a status
   code to finish now, or VC_RPC_PENDING to keep the stream and finish it later from any thread
   with vc_rpc_stream_finish(). */
typedef int (*vc_rpc_stream_fn)(vc_rpc_ctx *ctx, const void *req);
/* Bidi streaming: called for each inbound message; same return convention. When the client
   half-closes, the adapter finishes the stream with OK once queued messages are written. */
typedef int (*vc_rpc_bidi_fn)(vc_rpc_ctx *ctx, const void *req);
/* Called exactly once when a stream's call ends for any reason (finished, client cancelled,
   server shutdown). The ctx is valid until this returns and must not be used afterwards. */
typedef void (*vc_rpc_close_fn)(vc_rpc_ctx *ctx, void *user);

typedef struct vc_rpc_method {
    const char *name;       /* method name as in the proto, e.g. "GetQuota" */
    vc_rpc_unary_fn unary;  /* exactly one of the three is set */
    vc_rpc_stream_fn server_stream;
    vc_rpc_bidi_fn bidi;
    unsigned roles;         /* vc_role mask; 0 = the service's roles */
} vc_rpc_method;

typedef struct vc_rpc_service {
    const ProtobufCServiceDescriptor *descriptor;
    const vc_rpc_method *methods;
    unsigned n_methods;
    unsigned roles; /* vc_role mask allowed to call; ignored when public_ */
    bool public_;   /* no authentication (health, reflection) */
    bool quiet;     /* log calls at debug level (health probes would flood the log) */
    void *data;     /* service-wide state for handlers: vc_rpc_service_data() */
} vc_rpc_service;

typedef struct vc_rpc_server_opts {
    const char *listen;              /* "127.0.0.1:50051"; port 0 picks a free port */
    const char *service_name;        /* for logs and metrics */
    unsigned workers;                /* completion-queue threads; 0 = 8 */
    const vc_auth *auth;             /* verifies bearer tokens; borrowed, must outlive the server */
    vc_metrics *metrics;             /* may be NULL; borrowed */
    const vc_reflection *reflection; /* used to check each method's streaming kind; may be NULL */
    unsigned max_stream_queue;       /* outbound messages queued per stream before it is ended
                                        with RESOURCE_EXHAUSTED (slow reader); 0 = 1024 */
    unsigned lame_duck_ms;           /* on drain, refuse new calls with UNAVAILABLE for at least
                                        this long before closing the port (lets load balancers
                                        notice NOT_SERVING); 0 = close as soon as idle */
    void (*worker_exit)(void);       /* run by each worker thread before it exits (e.g. to
                                        release per-thread database client state); may be NULL */
} vc_rpc_server_opts;

/* Creates a server (nothing listens yet). Copies opts. 0, VC_ENOMEM. Caller frees with
   vc_rpc_server_free. */
int vc_rpc_server_new(const vc_rpc_server_opts *opts, vc_rpc_server **out);
/* Registers a service table (borrowed: must outlive the server). Before start only. Fails with
   VC_EINVAL when a handler names no method of the descriptor or its kind contradicts the
   descriptor set. */
int vc_rpc_server_add_service(vc_rpc_server *s, const vc_rpc_service *svc);
/* Binds, starts the workers and begins accepting calls. *bound_port gets the real port. */
int vc_rpc_server_start(vc_rpc_server *s, int *bound_port);
/* Fully-qualified names of the registered services, in registration order (for reflection). */
unsigned vc_rpc_server_service_names(const vc_rpc_server *s, const char **names, unsigned max);
/* Enters lame-duck mode: calls that arrive from now on are answered UNAVAILABLE (nothing done,
   safe to retry elsewhere); open streams are finished with UNAVAILABLE; admitted calls go on.
   Non-blocking, idempotent, callable from any thread. */
void vc_rpc_server_shutdown(vc_rpc_server *s);
/* Blocks until the admitted calls have ended and the lame-duck period passed (or `timeout_ms`
   since shutdown began), then closes the port (gRPC GOAWAY) and waits for core to finish; calls
   still running at the timeout are cancelled. Returns how many had to be cancelled. */
int vc_rpc_server_drain(vc_rpc_server *s, int timeout_ms);
/* Shuts down (if not yet), drains with a short timeout if needed, joins the workers and frees
   everything. NULL is fine. */
void vc_rpc_server_free(vc_rpc_server *s);

/* ---- inside handlers ---------------------------------------------------------------------- */

/* The call's arena: everything a handler allocates for this call. */
vc_arena *vc_rpc_arena(vc_rpc_ctx *ctx);
/* The authenticated caller (role VC_ROLE_NONE on public services). */
const vc_caller *vc_rpc_caller(const vc_rpc_ctx *ctx);
/* The service table's data pointer. */
void *vc_rpc_service_data(const vc_rpc_ctx *ctx);
/* "/pkg.Service/Method". */
const char *vc_rpc_method_path(const vc_rpc_ctx *ctx);
/* Milliseconds until the client's deadline (INT64_MAX when none; <= 0 when passed). */
int64_t vc_rpc_deadline_left_ms(const vc_rpc_ctx *ctx);
/* True once the client cancelled or the deadline passed: long work should stop and return. */
bool vc_rpc_should_stop(const vc_rpc_ctx *ctx);

/* Sets the call's error: code and printf message. Returns `code` so handlers can
   `return vc_rpc_error(ctx, VC_GRPC_NOT_FOUND, "voucher %s not found", id);`. */
int vc_rpc_error(vc_rpc_ctx *ctx, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The code set so far by vc_rpc_error/vc_rpc_invalid (VC_GRPC_OK when none): lets a handler
   collect every field violation and then return once. */
int vc_rpc_error_code(const vc_rpc_ctx *ctx);
/* Adds a field violation and returns VC_GRPC_INVALID_ARGUMENT. Several may be added; the status
   message lists them all ("invalid argument: page_size: must be 0..1000"). */
int vc_rpc_invalid(vc_rpc_ctx *ctx, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Maps a VC_E* library error to a status (VC_EDB_UNAVAILABLE → UNAVAILABLE, VC_EAGAIN →
   ABORTED, VC_ETIMEDOUT → DEADLINE_EXCEEDED, else INTERNAL), logs it, and returns the code.
   The client never sees internal error text. */
int vc_rpc_fail(vc_rpc_ctx *ctx, int vc_err, const char *what);

/* ---- streams ------------------------------------------------------------------------------ */

/* Registers the close callback of a stream (call from the stream/bidi handler). If the call
   already ended (the client cancelled while the handler ran), fn runs at once, here. */
void vc_rpc_stream_on_close(vc_rpc_ctx *ctx, vc_rpc_close_fn fn, void *user);
/* Packs `msg` (caller keeps ownership) and queues it for sending. Thread-safe; callable from any
   thread until the close callback returned. VC_ECANCELED once the stream is finishing or gone;
   VC_ENOMEM. A reader that falls more than max_stream_queue messages behind is ended with
   RESOURCE_EXHAUSTED (memory stays bounded). */
int vc_rpc_stream_send(vc_rpc_ctx *ctx, const ProtobufCMessage *msg);
/* Same, for bytes already packed (copied). */
int vc_rpc_stream_send_packed(vc_rpc_ctx *ctx, const unsigned char *data, size_t len);
/* Sends the final status after the queued messages. Thread-safe, idempotent (first one wins). */
void vc_rpc_stream_finish(vc_rpc_ctx *ctx, int code, const char *message);

#endif
