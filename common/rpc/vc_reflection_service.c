#include "rpc/vc_reflection_service.h"

#include <stdlib.h>

#include "base/vc_err.h"

#include "grpc/reflection/v1/reflection.pb-c.h"
#include "grpc/reflection/v1alpha/reflection.pb-c.h"

const char *const vc_reflection_service_names[2] = {
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
};

/* One answer per request message. The adapter already unpacked the request; v1 and v1alpha are
   wire-identical, so it is packed again and answered by the shared logic. */
static int vc__reflect(vc_rpc_ctx *ctx, const void *req)
{
    const ProtobufCMessage *msg = req;
    const vc_reflection *r = vc_rpc_service_data(ctx);
    size_t n = protobuf_c_message_get_packed_size(msg);
    unsigned char *buf = vc_arena_alloc(vc_rpc_arena(ctx), n);
    if (!buf)
        return vc_rpc_error(ctx, VC_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    protobuf_c_message_pack(msg, buf);
    unsigned char *resp = NULL;
    size_t len = 0;
    int rc = vc_reflection_answer(r, buf, n, &resp, &len);
    if (rc == VC_ENOMEM)
        return vc_rpc_error(ctx, VC_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    if (rc != 0)
        return vc_rpc_error(ctx, VC_GRPC_INVALID_ARGUMENT, "undecodable reflection request");
    rc = vc_rpc_stream_send_packed(ctx, resp, len);
    free(resp);
    return rc == 0 ? VC_RPC_PENDING : VC_GRPC_OK;
}

static const vc_rpc_method vc__methods[] = {
    {.name = "ServerReflectionInfo", .bidi = vc__reflect},
};

void vc_reflection_services(const vc_reflection *r, vc_rpc_service out[2])
{
    const ProtobufCServiceDescriptor *d[2] = {
        &grpc__reflection__v1__server_reflection__descriptor,
        &grpc__reflection__v1alpha__server_reflection__descriptor,
    };
    for (int i = 0; i < 2; i++) {
        out[i] = (vc_rpc_service){
            .descriptor = d[i],
            .methods = vc__methods,
            .n_methods = 1,
            .public_ = true,
            .quiet = true,
            .data = (void *)r,
        };
    }
}
