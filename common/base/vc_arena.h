/*
 * vc_arena.h - per-call memory arena (the nginx request pool idea).
 *
 * An arena hands out memory from large blocks and frees it all at once. The RPC adapter gives
 * every call one arena: the unpacked request, the response being built, strings formatted for
 * it and the error details all live there and vanish together when the call ends, so handlers
 * never free anything they got from the call.
 *
 * Not thread-safe: an arena belongs to one call, used by one thread at a time.
 * Allocation failure returns NULL (checked by callers); nothing is ever freed individually.
 */
#ifndef VC_ARENA_H
#define VC_ARENA_H

#include <stdarg.h>
#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

typedef struct vc_arena vc_arena;

/* Creates an arena whose first block holds `first_block` bytes (0 = default 4 KiB).
   Returns NULL on ENOMEM. Caller frees with vc_arena_free. */
vc_arena *vc_arena_new(size_t first_block);
/* Frees the arena and everything allocated from it. NULL is fine. */
void vc_arena_free(vc_arena *a);
/* Forgets every allocation but keeps the first block for reuse (streams reset per message). */
void vc_arena_reset(vc_arena *a);

/* Returns `size` bytes aligned for any type, owned by the arena; NULL on ENOMEM. */
void *vc_arena_alloc(vc_arena *a, size_t size);
/* Like vc_arena_alloc but zero-filled. */
void *vc_arena_calloc(vc_arena *a, size_t n, size_t size);
/* Copies a NUL-terminated string (NULL stays NULL) into the arena. */
char *vc_arena_strdup(vc_arena *a, const char *s);
/* Copies `len` bytes and appends a NUL. */
char *vc_arena_strndup(vc_arena *a, const char *s, size_t len);
/* printf into the arena. */
char *vc_arena_sprintf(vc_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *vc_arena_vsprintf(vc_arena *a, const char *fmt, va_list ap);

/* A protobuf-c allocator drawing from the arena (its free is a no-op). The returned struct lives
   inside the arena. Pass it to protobuf_c_message_unpack; never call
   protobuf_c_message_free_unpacked on what it produced. */
ProtobufCAllocator *vc_arena_allocator(vc_arena *a);

/* Bytes currently handed out (for tests and metrics). */
size_t vc_arena_used(const vc_arena *a);

#endif
