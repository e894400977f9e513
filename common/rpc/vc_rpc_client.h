/*
 * vc_rpc_client.h - blocking unary gRPC client for service-to-service calls, tools and tests.
 *
 * One client = one gRPC channel to a target ("127.0.0.1:50052"); channels multiplex, so share a
 * client between threads (it is thread-safe). vc_rpc_client_unary() blocks the calling thread
 * until the reply, the deadline, or the last retry: call it from worker threads (RPC workers,
 * the libuv threadpool), never from the loop thread.
 *
 * Retries: UNAVAILABLE (server down, restarting, draining) is retried with exponential backoff
 * and full jitter until max_attempts or the overall deadline; nothing else is retried, so only
 * idempotent methods should allow several attempts.
 */
#ifndef VC_RPC_CLIENT_H
#define VC_RPC_CLIENT_H

#include <stdbool.h>

#include <protobuf-c/protobuf-c.h>

typedef struct vc_rpc_client vc_rpc_client;

typedef struct vc_rpc_call_opts {
    const char *bearer;     /* JWT sent as "authorization: Bearer <jwt>"; NULL = none */
    const char *request_id; /* sent as x-request-id for log correlation; may be NULL */
    int timeout_ms;         /* overall deadline across retries; 0 = 5000 */
    int max_attempts;       /* 0 = 1 (no retry) */
} vc_rpc_call_opts;

typedef struct vc_rpc_result {
    int code;           /* gRPC status code */
    char message[512];  /* status message (truncated) */
    char fields[512];   /* BadRequest field violations, comma-separated ("" if none) */
    int attempts;       /* how many attempts were made */
} vc_rpc_result;

/* Creates a client for `target` (insecure channel; TLS comes with deployment config).
   0 or VC_ENOMEM. Caller frees with vc_rpc_client_free. */
int vc_rpc_client_new(const char *target, vc_rpc_client **out);
void vc_rpc_client_free(vc_rpc_client *c);

/* Calls `path` ("/pkg.Svc/Method"). On return 0, `res` holds the status; when res->code is OK,
   *resp is the unpacked reply allocated with `alloc` (NULL = protobuf-c's default: free it with
   protobuf_c_message_free_unpacked(*resp, NULL)). Negative VC_E* only for local failures
   (VC_ENOMEM, VC_EINVAL for an undecodable reply). */
int vc_rpc_client_unary(vc_rpc_client *c, const char *path, const ProtobufCMessage *req,
                        const ProtobufCMessageDescriptor *resp_desc, ProtobufCAllocator *alloc,
                        ProtobufCMessage **resp, const vc_rpc_call_opts *opts,
                        vc_rpc_result *res);

/* The same with packed bytes (loadgen, proxies). *reply is malloc'ed when res->code is OK:
   caller frees. */
int vc_rpc_client_unary_raw(vc_rpc_client *c, const char *path, const unsigned char *req,
                            size_t req_len, unsigned char **reply, size_t *reply_len,
                            const vc_rpc_call_opts *opts, vc_rpc_result *res);

#endif
