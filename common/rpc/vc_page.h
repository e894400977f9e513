/*
 * vc_page.h - keyset pagination helpers shared by every List method.
 *
 * Lists are ordered by (sort key DESC, id DESC) — newest first — and continue strictly after
 * the last row returned: "WHERE (key < ? OR (key = ? AND id < ?))". The page token carries
 * that position, base64url-encoded and versioned; it is opaque to clients. Query cost does not
 * depend on how deep the page is.
 */
#ifndef VC_PAGE_H
#define VC_PAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/vc_arena.h"
#include "rpc/vc_rpc_server.h"

#define VC_PAGE_DEFAULT_SIZE 50
#define VC_PAGE_MAX_SIZE 1000
#define VC_PAGE_ID_MAX 64

typedef struct vc_page {
    int limit;       /* rows to return (validated page_size or the default) */
    bool has_cursor; /* continue after (key, id) */
    int64_t key;
    char id[VC_PAGE_ID_MAX + 1];
} vc_page;

/* Validates page_size (0 = default; 1..VC_PAGE_MAX_SIZE) and decodes page_token ("" = first
   page). On bad input adds a field violation to ctx and returns VC_GRPC_INVALID_ARGUMENT;
   otherwise VC_GRPC_OK. */
int vc_page_parse(vc_rpc_ctx *ctx, int32_t page_size, const char *page_token, vc_page *out);

/* The token that continues after (key, id), allocated in the arena (NULL on ENOMEM). */
char *vc_page_token(vc_arena *a, int64_t key, const char *id);

#endif
