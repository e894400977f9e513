#include "rpc/vc_rpc_client.h"

#include <stdint.h>
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
#include "rpc/vc_rpc_status.h"

struct vc_rpc_client {
    grpc_channel *channel;
};

int vc_rpc_client_new(const char *target, vc_rpc_client **out)
{
    vc_rpc_client *c = calloc(1, sizeof(*c));
    if (!c)
        return VC_ENOMEM;
    grpc_init();
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    c->channel = grpc_channel_create(target, creds, NULL);
    grpc_channel_credentials_release(creds);
    if (!c->channel) {
        free(c);
        grpc_shutdown();
        return VC_EINVAL;
    }
    *out = c;
    return 0;
}

void vc_rpc_client_free(vc_rpc_client *c)
{
    if (!c)
        return;
    grpc_channel_destroy(c->channel);
    free(c);
    grpc_shutdown();
}

static void vc__collect_violation(const char *field, size_t flen, const char *desc, size_t dlen,
                                  void *arg)
{
    (void)desc;
    (void)dlen;
    char *out = arg;
    size_t used = strlen(out);
    snprintf(out + used, 512 - used, "%s%.*s", used ? "," : "", (int)flen, field ? field : "");
}

static gpr_timespec vc__ms_from_now(int64_t ms)
{
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

/* One attempt. Returns 0 with res filled, or a negative VC_E*. */
static int vc__attempt(vc_rpc_client *c, const char *path, grpc_byte_buffer *req_bb,
                       grpc_slice *reply_out, const vc_rpc_call_opts *o, gpr_timespec deadline,
                       vc_rpc_result *res)
{
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_slice method = grpc_slice_from_static_string(path);
    grpc_call *call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
                                               method, NULL, deadline, NULL);
    grpc_metadata md[2];
    size_t nmd = 0;
    char *authz = NULL;
    if (o->bearer) {
        size_t n = strlen(o->bearer) + 8;
        authz = malloc(n);
        if (authz) {
            snprintf(authz, n, "Bearer %s", o->bearer);
            md[nmd].key = grpc_slice_from_static_string("authorization");
            md[nmd++].value = grpc_slice_from_static_string(authz);
        }
    }
    if (o->request_id) {
        md[nmd].key = grpc_slice_from_static_string("x-request-id");
        md[nmd++].value = grpc_slice_from_static_string(o->request_id);
    }
    grpc_metadata_array initial_md, trailing_md;
    grpc_metadata_array_init(&initial_md);
    grpc_metadata_array_init(&trailing_md);
    grpc_byte_buffer *reply = NULL;
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();

    grpc_op ops[6];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = nmd;
    ops[0].data.send_initial_metadata.metadata = nmd ? md : NULL;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = req_bb;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &reply;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trailing_md;
    ops[5].data.recv_status_on_client.status = &status;
    ops[5].data.recv_status_on_client.status_details = &details;

    int rc = 0;
    int tag;
    if (grpc_call_start_batch(call, ops, 6, &tag, NULL) != GRPC_CALL_OK) {
        rc = VC_EINVAL;
    } else {
        /* The call's own deadline ends the batch; pluck without a deadline of ours. */
        grpc_completion_queue_pluck(cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        res->code = (int)status;
        snprintf(res->message, sizeof(res->message), "%.*s", (int)GRPC_SLICE_LENGTH(details),
                 (const char *)GRPC_SLICE_START_PTR(details));
        res->fields[0] = '\0';
        for (size_t i = 0; i < trailing_md.count; i++) {
            grpc_slice k = trailing_md.metadata[i].key, v = trailing_md.metadata[i].value;
            if (GRPC_SLICE_LENGTH(k) == 23 &&
                memcmp(GRPC_SLICE_START_PTR(k), "grpc-status-details-bin", 23) == 0) {
                int dcode;
                vc_rpc_status_decode(GRPC_SLICE_START_PTR(v), GRPC_SLICE_LENGTH(v), &dcode,
                                     vc__collect_violation, res->fields);
            }
        }
        if (status == GRPC_STATUS_OK) {
            grpc_byte_buffer_reader rd;
            if (!reply || !grpc_byte_buffer_reader_init(&rd, reply)) {
                rc = VC_EINVAL;
            } else {
                *reply_out = grpc_byte_buffer_reader_readall(&rd);
                grpc_byte_buffer_reader_destroy(&rd);
            }
        }
    }
    if (reply)
        grpc_byte_buffer_destroy(reply);
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&initial_md);
    grpc_metadata_array_destroy(&trailing_md);
    grpc_call_unref(call);
    grpc_completion_queue_shutdown(cq);
    grpc_completion_queue_destroy(cq);
    free(authz);
    return rc;
}

int vc_rpc_client_unary_raw(vc_rpc_client *c, const char *path, const unsigned char *req,
                            size_t req_len, unsigned char **reply, size_t *reply_len,
                            const vc_rpc_call_opts *opts, vc_rpc_result *res)
{
    static const vc_rpc_call_opts defaults = {0};
    const vc_rpc_call_opts *o = opts ? opts : &defaults;
    int timeout = o->timeout_ms > 0 ? o->timeout_ms : 5000;
    int attempts = o->max_attempts > 0 ? o->max_attempts : 1;
    gpr_timespec deadline = vc__ms_from_now(timeout);
    memset(res, 0, sizeof(*res));
    *reply = NULL;
    *reply_len = 0;


    unsigned seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)res;
    int64_t backoff_ms = 50;
    int rc = 0;
    grpc_slice out = grpc_empty_slice();
    for (int i = 0; i < attempts; i++) {
        res->attempts = i + 1;
        /* A fresh buffer per attempt: core takes the slices of a sent message. */
        grpc_slice s = grpc_slice_from_copied_buffer((const char *)req, req_len);
        grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
        grpc_slice_unref(s);
        rc = vc__attempt(c, path, bb, &out, o, deadline, res);
        grpc_byte_buffer_destroy(bb);
        if (rc != 0 || res->code != GRPC_STATUS_UNAVAILABLE || i + 1 == attempts)
            break;
        /* Full jitter: sleep a random time up to the current backoff, but not past the
           deadline. */
        int64_t sleep_ms = 1 + (int64_t)(rand_r(&seed) % (unsigned)backoff_ms);
        gpr_timespec wake = vc__ms_from_now(sleep_ms);
        if (gpr_time_cmp(wake, deadline) >= 0)
            break;
        gpr_sleep_until(wake);
        if (backoff_ms < 2000)
            backoff_ms *= 2;
    }
    if (rc == 0 && res->code == GRPC_STATUS_OK) {
        size_t n = GRPC_SLICE_LENGTH(out);
        *reply = malloc(n ? n : 1);
        if (!*reply) {
            rc = VC_ENOMEM;
        } else {
            memcpy(*reply, GRPC_SLICE_START_PTR(out), n);
            *reply_len = n;
        }
    }
    grpc_slice_unref(out);
    return rc;
}

int vc_rpc_client_unary(vc_rpc_client *c, const char *path, const ProtobufCMessage *req,
                        const ProtobufCMessageDescriptor *resp_desc, ProtobufCAllocator *alloc,
                        ProtobufCMessage **resp, const vc_rpc_call_opts *opts,
                        vc_rpc_result *res)
{
    *resp = NULL;
    size_t n = protobuf_c_message_get_packed_size(req);
    unsigned char *buf = malloc(n ? n : 1);
    if (!buf)
        return VC_ENOMEM;
    protobuf_c_message_pack(req, buf);
    unsigned char *reply = NULL;
    size_t reply_len = 0;
    int rc = vc_rpc_client_unary_raw(c, path, buf, n, &reply, &reply_len, opts, res);
    free(buf);
    if (rc == 0 && res->code == GRPC_STATUS_OK) {
        *resp = protobuf_c_message_unpack(resp_desc, alloc, reply_len, reply);
        if (!*resp)
            rc = VC_EINVAL;
    }
    free(reply);
    return rc;
}
