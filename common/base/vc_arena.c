#include "base/vc_arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VC_ARENA_ALIGN 16
#define VC_ARENA_DEFAULT_BLOCK 4096

typedef struct vc__block {
    struct vc__block *next;
    size_t cap;
    size_t used;
    _Alignas(VC_ARENA_ALIGN) unsigned char data[];
} vc__block;

struct vc_arena {
    vc__block *head; /* current block; older ones follow */
    vc__block *first;
    size_t total;
    ProtobufCAllocator pb;
};

static vc__block *vc__block_new(size_t cap)
{
    vc__block *b = malloc(sizeof(*b) + cap);
    if (!b)
        return NULL;
    b->next = NULL;
    b->cap = cap;
    b->used = 0;
    return b;
}

static void *vc__pb_alloc(void *data, size_t size)
{
    return vc_arena_alloc(data, size);
}

static void vc__pb_free(void *data, void *ptr)
{
    (void)data;
    (void)ptr;
}

vc_arena *vc_arena_new(size_t first_block)
{
    vc_arena *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->first = vc__block_new(first_block ? first_block : VC_ARENA_DEFAULT_BLOCK);
    if (!a->first) {
        free(a);
        return NULL;
    }
    a->head = a->first;
    a->pb.alloc = vc__pb_alloc;
    a->pb.free = vc__pb_free;
    a->pb.allocator_data = a;
    return a;
}

static void vc__free_blocks_except_first(vc_arena *a)
{
    vc__block *b = a->head;
    while (b && b != a->first) {
        vc__block *next = b->next;
        free(b);
        b = next;
    }
}

void vc_arena_free(vc_arena *a)
{
    if (!a)
        return;
    vc__free_blocks_except_first(a);
    free(a->first);
    free(a);
}

void vc_arena_reset(vc_arena *a)
{
    vc__free_blocks_except_first(a);
    a->head = a->first;
    a->first->next = NULL;
    a->first->used = 0;
    a->total = 0;
}

void *vc_arena_alloc(vc_arena *a, size_t size)
{
    if (size == 0)
        size = 1;
    if (size > SIZE_MAX - VC_ARENA_ALIGN)
        return NULL;
    size_t need = (size + VC_ARENA_ALIGN - 1) & ~(size_t)(VC_ARENA_ALIGN - 1);
    vc__block *b = a->head;
    if (b->cap - b->used < need) {
        /* Grow geometrically, but give oversized requests a block of their own. */
        size_t cap = b->cap * 2;
        if (cap < need)
            cap = need;
        vc__block *nb = vc__block_new(cap);
        if (!nb)
            return NULL;
        nb->next = b;
        a->head = nb;
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += need;
    a->total += need;
    return p;
}

void *vc_arena_calloc(vc_arena *a, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = vc_arena_alloc(a, n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

char *vc_arena_strndup(vc_arena *a, const char *s, size_t len)
{
    char *p = vc_arena_alloc(a, len + 1);
    if (!p)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *vc_arena_strdup(vc_arena *a, const char *s)
{
    return s ? vc_arena_strndup(a, s, strlen(s)) : NULL;
}

char *vc_arena_vsprintf(vc_arena *a, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return NULL;
    char *p = vc_arena_alloc(a, (size_t)n + 1);
    if (p)
        vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

char *vc_arena_sprintf(vc_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = vc_arena_vsprintf(a, fmt, ap);
    va_end(ap);
    return p;
}

ProtobufCAllocator *vc_arena_allocator(vc_arena *a)
{
    return &a->pb;
}

size_t vc_arena_used(const vc_arena *a)
{
    return a->total;
}
