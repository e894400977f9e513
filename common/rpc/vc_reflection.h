/*
 * vc_reflection.h - gRPC server reflection, minus the transport.
 *
 * Tools like grpcurl and `buf curl` discover our API through the ServerReflection service
 * (grpc.reflection.v1, and grpc.reflection.v1alpha as a fallback). This module holds the
 * answering logic only: it turns one packed ServerReflectionRequest into one packed
 * ServerReflectionResponse. The RPC server adapter (vc_rpc_server) owns the bidi stream and
 * calls vc_reflection_answer() once per message it reads. v1 and v1alpha are wire-identical,
 * so the same call serves both services.
 *
 * The knowledge comes from the FileDescriptorSet each binary embeds at build time
 * (protoc --include_imports --include_source_info --descriptor_set_out). vc_reflection_new()
 * indexes it once: every file's serialized bytes are kept as a slice of the embedded set
 * (nothing is re-encoded), its transitive dependencies are resolved, and every symbol, method
 * and extension goes into sorted tables. Answers are then lookups plus memcpy.
 *
 * What is answered (see the .c for the scoping rules of symbol names):
 *   list_services                 -> the services given to vc_reflection_new, sorted
 *   file_by_filename              -> that file, then its transitive dependencies, each once
 *   file_containing_symbol        -> same, for the file defining a service, method, message,
 *                                    enum, enum value, field, oneof or extension
 *   file_containing_extension     -> same, for the file declaring that extension
 *   all_extension_numbers_of_type -> the extension numbers known for a message type (often an
 *                                    empty list; grpcurl treats an error here as fatal)
 * Failures a client can cause are answered in-band as an error_response carrying a gRPC status
 * code (NOT_FOUND for unknown names, UNIMPLEMENTED for request kinds we do not know).
 *
 * Thread-safety: a vc_reflection is immutable once created; any number of threads may call
 * vc_reflection_answer() and vc_reflection_method_kind() on it concurrently.
 */
#ifndef VC_REFLECTION_H
#define VC_REFLECTION_H

#include <stdbool.h>
#include <stddef.h>

typedef struct vc_reflection vc_reflection;

/* Indexes the FileDescriptorSet `fds` (`len` bytes). `services` are the fully-qualified names
   of the services this server really serves; list_services answers exactly these, sorted and
   de-duplicated. Strings are copied; the descriptor bytes are NOT copied and must outlive the
   object (they are static data in practice).
   Errors: VC_EINVAL (bad arguments, undecodable set, a file importing one missing from the set,
   a symbol or file defined twice), VC_ENOENT (a listed service is not in the set),
   VC_ENOMEM. On success *out is the new object: caller frees with vc_reflection_free. */
int vc_reflection_new(const unsigned char *fds, size_t len, const char *const *services,
                      size_t n_services, vc_reflection **out);

/* Frees the object and everything it allocated. NULL is fine. */
void vc_reflection_free(vc_reflection *r);

/* Answers one packed ServerReflectionRequest. On success *resp is a malloc'ed packed
   ServerReflectionResponse of *resp_len bytes (caller frees); it echoes the request's host as
   valid_host and the request itself as original_request. Errors the client caused are part of
   that response, not of the return value. Returns VC_EINVAL only when the request cannot be
   decoded and VC_ENOMEM when memory ran out; *resp is untouched then. */
int vc_reflection_answer(const vc_reflection *r, const unsigned char *req, size_t req_len,
                         unsigned char **resp, size_t *resp_len);

/* Streaming flags of a method given by its gRPC path "/pkg.Service/Method" (any method in the
   set, registered or not). protobuf-c service descriptors do not record streaming, so the
   server adapter asks here. Returns 0, or VC_ENOENT for an unknown path. */
int vc_reflection_method_kind(const vc_reflection *r, const char *path, bool *client_streaming,
                              bool *server_streaming);

#endif
