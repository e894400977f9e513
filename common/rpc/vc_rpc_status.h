/*
 * vc_rpc_status.h - gRPC status codes and rich error details.
 *
 * Handlers answer with a gRPC status code, a message, and for INVALID_ARGUMENT the list of
 * offending fields. On the wire the adapter sends the code and message as usual and, when there
 * are field violations, a google.rpc.Status carrying a google.rpc.BadRequest detail in the
 * `grpc-status-details-bin` trailer (what grpcurl, buf curl and gRPC client libraries decode).
 * The two google.rpc messages are encoded here by hand: they are three fields each, and the
 * googleapis protos are not packaged for Debian.
 */
#ifndef VC_RPC_STATUS_H
#define VC_RPC_STATUS_H

#include <stddef.h>

/* gRPC status codes (same numbers as grpc_status_code; named so handlers need not include grpc). */
enum {
    VC_GRPC_OK = 0,
    VC_GRPC_CANCELLED = 1,
    VC_GRPC_UNKNOWN = 2,
    VC_GRPC_INVALID_ARGUMENT = 3,
    VC_GRPC_DEADLINE_EXCEEDED = 4,
    VC_GRPC_NOT_FOUND = 5,
    VC_GRPC_ALREADY_EXISTS = 6,
    VC_GRPC_PERMISSION_DENIED = 7,
    VC_GRPC_RESOURCE_EXHAUSTED = 8,
    VC_GRPC_FAILED_PRECONDITION = 9,
    VC_GRPC_ABORTED = 10,
    VC_GRPC_OUT_OF_RANGE = 11,
    VC_GRPC_UNIMPLEMENTED = 12,
    VC_GRPC_INTERNAL = 13,
    VC_GRPC_UNAVAILABLE = 14,
    VC_GRPC_DATA_LOSS = 15,
    VC_GRPC_UNAUTHENTICATED = 16,
};

/* A singly linked list of field violations (google.rpc.BadRequest.FieldViolation). */
typedef struct vc_field_violation {
    const char *field;       /* request field path, e.g. "template.face_value_minor" */
    const char *description; /* what is wrong with it */
    struct vc_field_violation *next;
} vc_field_violation;

/* "OK", "INVALID_ARGUMENT", ...; "UNKNOWN" for out-of-range codes. Static. */
const char *vc_grpc_code_name(int code);

/* Encodes google.rpc.Status{code, message, details: [Any{BadRequest{violations}}]}; the detail is
   omitted when `violations` is NULL. *out is malloc'ed: caller frees. 0 or VC_ENOMEM. */
int vc_rpc_status_encode(int code, const char *message, const vc_field_violation *violations,
                         unsigned char **out, size_t *out_len);

/* Callback for vc_rpc_status_decode: one field violation (strings not NUL-terminated). */
typedef void (*vc_rpc_violation_cb)(const char *field, size_t field_len, const char *desc,
                                    size_t desc_len, void *arg);
/* Decodes the bytes of a grpc-status-details-bin trailer: reports the code and each BadRequest
   field violation. 0, or VC_EINVAL on malformed input. Used by clients and tests. */
int vc_rpc_status_decode(const unsigned char *buf, size_t len, int *code, vc_rpc_violation_cb cb,
                         void *arg);

#endif
