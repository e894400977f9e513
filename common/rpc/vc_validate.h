/*
 * vc_validate.h - input checks every RPC shares. Each adds a field violation to the call
 * (vc_rpc_invalid) and returns VC_GRPC_INVALID_ARGUMENT, or returns VC_GRPC_OK, so a handler
 * can run them all and then return once with every offending field named.
 *
 * Text: protobuf-c does not check that proto3 strings are UTF-8 and MariaDB refuses malformed
 * UTF-8 (the call would fail as INTERNAL), so texts are checked here; lengths count characters,
 * as VARCHAR(n) does.
 */
#ifndef VC_VALIDATE_H
#define VC_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#include "rpc/vc_rpc_server.h"

#define VC_TEXT_BAD_UTF8 (-1L)
#define VC_TEXT_CONTROL (-2L)

/* Characters (code points) of a NUL-terminated UTF-8 text; VC_TEXT_BAD_UTF8 for malformed,
   overlong or surrogate sequences; VC_TEXT_CONTROL for control characters (tab and newline are
   allowed when multiline). */
long vc_utf8_chars(const char *s, bool multiline);

/* A human text of at most max_chars characters ("" counts as missing). */
int vc_validate_text(vc_rpc_ctx *ctx, const char *field, const char *s, long max_chars,
                     bool required, bool multiline);

/* An identifier: 1..max ASCII letters, digits and - _ . : @ (safe in logs, URLs, references). */
int vc_validate_token(vc_rpc_ctx *ctx, const char *field, const char *s, size_t max,
                      bool required);

#endif
