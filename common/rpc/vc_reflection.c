/*
 * vc_reflection.c - see vc_reflection.h.
 *
 * Index layout: every string and per-file array lives in one arena owned by the object; the
 * four tables (files, symbols, methods, extensions) are realloc'ed arrays while indexing and are
 * sorted once at the end so lookups are bsearch. Per answer, everything (unpacked request,
 * response tree) comes from a short-lived arena and only the packed bytes are malloc'ed.
 *
 * Symbol names follow protobuf's scoping: a message, enum, service or extension is named inside
 * its package (or enclosing message); fields, oneofs and nested types inside their message;
 * methods inside their service; enum values are siblings of their enum, i.e. in the enum's
 * enclosing scope ("pkg.VALUE", "pkg.Msg.VALUE"), which is where protoc itself puts them.
 */
#include "rpc/vc_reflection.h"

#include <grpc/status.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/vc_arena.h"
#include "base/vc_err.h"
#include "google/protobuf/descriptor.pb-c.h"
#include "grpc/reflection/v1/reflection.pb-c.h"

typedef Google__Protobuf__FileDescriptorProto vc__fdp;
typedef Google__Protobuf__DescriptorProto vc__msgdp;
typedef Google__Protobuf__EnumDescriptorProto vc__enumdp;
typedef Google__Protobuf__FieldDescriptorProto vc__fielddp;
typedef Google__Protobuf__ServiceDescriptorProto vc__svcdp;
typedef Grpc__Reflection__V1__ServerReflectionRequest vc__req;
typedef Grpc__Reflection__V1__ServerReflectionResponse vc__resp;

/* The generated oneof case names do not fit a line. */
#define VC__REQ_KIND(k)  GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_##k
#define VC__RESP_KIND(k) GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_##k

typedef enum { VC__SYM_MESSAGE, VC__SYM_ENUM, VC__SYM_SERVICE, VC__SYM_OTHER } vc__sym_kind;

typedef struct {
    char *name; /* fully qualified, without the leading '.' */
    size_t file;
    vc__sym_kind kind;
} vc__sym;

typedef struct {
    char *path; /* "/pkg.Service/Method", the form the server adapter sees */
    bool client_streaming;
    bool server_streaming;
} vc__method;

typedef struct {
    char *extendee; /* fully qualified message name, without the leading '.' */
    int32_t number;
    size_t file;
} vc__ext;

typedef struct {
    char *name;
    const unsigned char *bytes; /* slice of the caller's (static) descriptor set */
    size_t len;
    char **deps; /* direct imports by file name */
    size_t n_deps;
    size_t *dep_idx;
    /* This file first, then every transitive import once: exactly the file_descriptor_proto
       list of a FileDescriptorResponse, ready to be pointed at. */
    ProtobufCBinaryData *closure;
    size_t n_closure;
} vc__file;

struct vc_reflection {
    vc_arena *arena;
    vc__file *files; /* in set order; indices into it are stable */
    size_t n_files;
    vc__file **files_by_name;
    vc__sym *syms;
    size_t n_syms;
    vc__method *methods;
    size_t n_methods;
    vc__ext *exts; /* sorted by (extendee, number) */
    size_t n_exts;
    char **services; /* sorted, unique; point into syms' names */
    size_t n_services;
};

/* Indexing state that does not outlive vc_reflection_new. */
typedef struct {
    vc_reflection *r;
    size_t file; /* index of the file being indexed */
    size_t cap_files, cap_syms, cap_methods, cap_exts;
} vc__builder;

/* ---- small helpers ---------------------------------------------------------------------- */

/* A protobuf-c allocator over an arena that remembers running dry, so that a failed unpack is
   reported as VC_ENOMEM instead of as a malformed message. */
typedef struct {
    ProtobufCAllocator base;
    vc_arena *arena;
    bool exhausted;
} vc__unpack_alloc;

static void *vc__ua_alloc(void *data, size_t size)
{
    vc__unpack_alloc *ua = data;
    void *p = vc_arena_alloc(ua->arena, size);
    if (!p) ua->exhausted = true;
    return p;
}

static void vc__ua_free(void *data, void *p)
{
    (void)data;
    (void)p;
}

static void vc__ua_init(vc__unpack_alloc *ua, vc_arena *a)
{
    ua->base.alloc = vc__ua_alloc;
    ua->base.free = vc__ua_free;
    ua->base.allocator_data = ua;
    ua->arena = a;
    ua->exhausted = false;
}

/* Appends one `size`-byte item to a realloc'ed array holding *n items. Returns the (maybe
   moved) array, or NULL on ENOMEM leaving the old array intact. */
static void *vc__append(void *arr, size_t *n, size_t *cap, size_t size, const void *item)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 32;
        if (ncap > SIZE_MAX / size) return NULL;
        void *grown = realloc(arr, ncap * size);
        if (!grown) return NULL;
        arr = grown;
        *cap = ncap;
    }
    memcpy((unsigned char *)arr + *n * size, item, size);
    (*n)++;
    return arr;
}

static const char *vc__strip_dot(const char *name)
{
    return name[0] == '.' ? name + 1 : name;
}

static int vc__sym_cmp(const void *a, const void *b)
{
    return strcmp(((const vc__sym *)a)->name, ((const vc__sym *)b)->name);
}

static int vc__method_cmp(const void *a, const void *b)
{
    return strcmp(((const vc__method *)a)->path, ((const vc__method *)b)->path);
}

static int vc__ext_cmp(const void *a, const void *b)
{
    const vc__ext *x = a, *y = b;
    int c = strcmp(x->extendee, y->extendee);
    if (c) return c;
    return (x->number > y->number) - (x->number < y->number);
}

static int vc__file_ptr_cmp(const void *a, const void *b)
{
    return strcmp((*(vc__file *const *)a)->name, (*(vc__file *const *)b)->name);
}

static int vc__str_ptr_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- lookups (used by indexing and answering) ------------------------------------------- */

static const vc__sym *vc__find_sym(const vc_reflection *r, const char *name)
{
    vc__sym key = {.name = (char *)vc__strip_dot(name)};
    if (r->n_syms == 0) return NULL;
    return bsearch(&key, r->syms, r->n_syms, sizeof(*r->syms), vc__sym_cmp);
}

static vc__file *vc__find_file(const vc_reflection *r, const char *name)
{
    vc__file key = {.name = (char *)name};
    vc__file *kp = &key;
    if (r->n_files == 0) return NULL;
    vc__file **hit = bsearch(&kp, r->files_by_name, r->n_files, sizeof(kp), vc__file_ptr_cmp);
    return hit ? *hit : NULL;
}

/* Index of the first extension ordered at or after (type, number). */
static size_t vc__ext_lower_bound(const vc_reflection *r, const char *type, int32_t number)
{
    vc__ext key = {.extendee = (char *)type, .number = number};
    size_t lo = 0, hi = r->n_exts;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (vc__ext_cmp(&r->exts[mid], &key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* ---- splitting the set ------------------------------------------------------------------ */

/* The set is trusted build output, but a truncated or corrupted embed must fail cleanly rather
   than read past its end. */
static int vc__read_varint(const unsigned char **p, const unsigned char *end, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
        unsigned char byte = *(*p)++;
        v |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return VC_EINVAL;
}

/* Records the raw bytes of each `repeated FileDescriptorProto file = 1`. Slicing instead of
   unpacking the set and re-packing every file keeps protoc's exact bytes and copies nothing. */
static int vc__split_set(vc__builder *b, const unsigned char *p, size_t len)
{
    vc_reflection *r = b->r;
    const unsigned char *end = p + len;
    while (p < end) {
        uint64_t tag, n;
        if (vc__read_varint(&p, end, &tag)) return VC_EINVAL;
        switch (tag & 7) {
        case 0:
            if (vc__read_varint(&p, end, &n)) return VC_EINVAL;
            continue;
        case 1: n = 8; break;
        case 5: n = 4; break;
        case 2:
            if (vc__read_varint(&p, end, &n)) return VC_EINVAL;
            break;
        default: return VC_EINVAL; /* groups never appear in a FileDescriptorSet */
        }
        if (n > (uint64_t)(end - p)) return VC_EINVAL;
        if ((tag >> 3) == 1 && (tag & 7) == 2) {
            vc__file f = {.bytes = p, .len = (size_t)n};
            vc__file *grown = vc__append(r->files, &r->n_files, &b->cap_files, sizeof(f), &f);
            if (!grown) return VC_ENOMEM;
            r->files = grown;
        }
        p += n;
    }
    return 0;
}

/* ---- indexing one file ------------------------------------------------------------------ */

/* Adds "scope.name" (just "name" at the root of a package-less file); *full gets the copy. */
static int vc__add_sym(vc__builder *b, const char *scope, const char *name, vc__sym_kind kind,
                       char **full)
{
    vc_reflection *r = b->r;
    if (!name || !*name) return VC_EINVAL;
    vc__sym s = {.file = b->file, .kind = kind};
    s.name =
        *scope ? vc_arena_sprintf(r->arena, "%s.%s", scope, name) : vc_arena_strdup(r->arena, name);
    if (!s.name) return VC_ENOMEM;
    vc__sym *grown = vc__append(r->syms, &r->n_syms, &b->cap_syms, sizeof(s), &s);
    if (!grown) return VC_ENOMEM;
    r->syms = grown;
    if (full) *full = s.name;
    return 0;
}

static int vc__index_enum(vc__builder *b, const char *scope, const vc__enumdp *e)
{
    int rc = vc__add_sym(b, scope, e->name, VC__SYM_ENUM, NULL);
    for (size_t i = 0; rc == 0 && i < e->n_value; i++)
        rc = vc__add_sym(b, scope, e->value[i]->name, VC__SYM_OTHER, NULL);
    return rc;
}

static int vc__index_extension(vc__builder *b, const char *scope, const vc__fielddp *x)
{
    vc_reflection *r = b->r;
    int rc = vc__add_sym(b, scope, x->name, VC__SYM_OTHER, NULL);
    if (rc) return rc;
    if (!x->extendee || !x->has_number) return VC_EINVAL;
    vc__ext e = {.number = x->number, .file = b->file};
    e.extendee = vc_arena_strdup(r->arena, vc__strip_dot(x->extendee));
    if (!e.extendee) return VC_ENOMEM;
    vc__ext *grown = vc__append(r->exts, &r->n_exts, &b->cap_exts, sizeof(e), &e);
    if (!grown) return VC_ENOMEM;
    r->exts = grown;
    return 0;
}

static int vc__index_message(vc__builder *b, const char *scope, const vc__msgdp *m)
{
    char *full = NULL;
    int rc = vc__add_sym(b, scope, m->name, VC__SYM_MESSAGE, &full);
    for (size_t i = 0; rc == 0 && i < m->n_field; i++)
        rc = vc__add_sym(b, full, m->field[i]->name, VC__SYM_OTHER, NULL);
    for (size_t i = 0; rc == 0 && i < m->n_oneof_decl; i++)
        rc = vc__add_sym(b, full, m->oneof_decl[i]->name, VC__SYM_OTHER, NULL);
    for (size_t i = 0; rc == 0 && i < m->n_extension; i++)
        rc = vc__index_extension(b, full, m->extension[i]);
    for (size_t i = 0; rc == 0 && i < m->n_nested_type; i++)
        rc = vc__index_message(b, full, m->nested_type[i]);
    for (size_t i = 0; rc == 0 && i < m->n_enum_type; i++)
        rc = vc__index_enum(b, full, m->enum_type[i]);
    return rc;
}

static int vc__index_service(vc__builder *b, const char *scope, const vc__svcdp *s)
{
    vc_reflection *r = b->r;
    char *full = NULL;
    int rc = vc__add_sym(b, scope, s->name, VC__SYM_SERVICE, &full);
    for (size_t i = 0; rc == 0 && i < s->n_method; i++) {
        const Google__Protobuf__MethodDescriptorProto *m = s->method[i];
        rc = vc__add_sym(b, full, m->name, VC__SYM_OTHER, NULL);
        if (rc) break;
        vc__method vm = {.client_streaming = m->has_client_streaming && m->client_streaming,
                         .server_streaming = m->has_server_streaming && m->server_streaming};
        vm.path = vc_arena_sprintf(r->arena, "/%s/%s", full, m->name);
        if (!vm.path) return VC_ENOMEM;
        vc__method *grown = vc__append(r->methods, &r->n_methods, &b->cap_methods, sizeof(vm), &vm);
        if (!grown) return VC_ENOMEM;
        r->methods = grown;
    }
    return rc;
}

static int vc__index_file(vc__builder *b, vc_arena *scratch)
{
    vc_reflection *r = b->r;
    vc__file *f = &r->files[b->file];
    vc__unpack_alloc ua;
    vc__ua_init(&ua, scratch);
    vc__fdp *fd = google__protobuf__file_descriptor_proto__unpack(&ua.base, f->len, f->bytes);
    if (!fd) return ua.exhausted ? VC_ENOMEM : VC_EINVAL;
    if (!fd->name || !*fd->name) return VC_EINVAL;

    f->name = vc_arena_strdup(r->arena, fd->name);
    f->deps = vc_arena_calloc(r->arena, fd->n_dependency, sizeof(*f->deps));
    if (!f->name || !f->deps) return VC_ENOMEM;
    f->n_deps = fd->n_dependency;
    for (size_t i = 0; i < fd->n_dependency; i++)
        if (!(f->deps[i] = vc_arena_strdup(r->arena, fd->dependency[i]))) return VC_ENOMEM;

    const char *pkg = fd->package ? fd->package : "";
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < fd->n_message_type; i++)
        rc = vc__index_message(b, pkg, fd->message_type[i]);
    for (size_t i = 0; rc == 0 && i < fd->n_enum_type; i++)
        rc = vc__index_enum(b, pkg, fd->enum_type[i]);
    for (size_t i = 0; rc == 0 && i < fd->n_service; i++)
        rc = vc__index_service(b, pkg, fd->service[i]);
    for (size_t i = 0; rc == 0 && i < fd->n_extension; i++)
        rc = vc__index_extension(b, pkg, fd->extension[i]);
    return rc;
}

static int vc__index_files(vc__builder *b)
{
    /* Unpacked files (source info included) are only needed while indexing them. */
    vc_arena *scratch = vc_arena_new(64 * 1024);
    if (!scratch) return VC_ENOMEM;
    int rc = 0;
    for (b->file = 0; rc == 0 && b->file < b->r->n_files; b->file++) {
        rc = vc__index_file(b, scratch);
        vc_arena_reset(scratch);
    }
    vc_arena_free(scratch);
    return rc;
}

/* ---- cross-file work -------------------------------------------------------------------- */

/* Sorts every table; a name defined twice means the set is not what protoc produces. */
static int vc__sort_tables(vc_reflection *r)
{
    if (r->n_syms) qsort(r->syms, r->n_syms, sizeof(*r->syms), vc__sym_cmp);
    for (size_t i = 1; i < r->n_syms; i++)
        if (vc__sym_cmp(&r->syms[i - 1], &r->syms[i]) == 0) return VC_EINVAL;
    if (r->n_methods) qsort(r->methods, r->n_methods, sizeof(*r->methods), vc__method_cmp);
    if (r->n_exts) qsort(r->exts, r->n_exts, sizeof(*r->exts), vc__ext_cmp);
    for (size_t i = 1; i < r->n_exts; i++)
        if (vc__ext_cmp(&r->exts[i - 1], &r->exts[i]) == 0) return VC_EINVAL;

    r->files_by_name = vc_arena_calloc(r->arena, r->n_files, sizeof(*r->files_by_name));
    if (!r->files_by_name) return VC_ENOMEM;
    for (size_t i = 0; i < r->n_files; i++)
        r->files_by_name[i] = &r->files[i];
    if (r->n_files)
        qsort(r->files_by_name, r->n_files, sizeof(*r->files_by_name), vc__file_ptr_cmp);
    for (size_t i = 1; i < r->n_files; i++)
        if (vc__file_ptr_cmp(&r->files_by_name[i - 1], &r->files_by_name[i]) == 0) return VC_EINVAL;
    return 0;
}

/* Resolves imports to indices; returns the total number of import edges. A missing import means
   the set was built without --include_imports, and clients could not use our answers. */
static int vc__resolve_deps(vc_reflection *r, size_t *n_edges)
{
    *n_edges = 0;
    for (size_t i = 0; i < r->n_files; i++) {
        vc__file *f = &r->files[i];
        f->dep_idx = vc_arena_calloc(r->arena, f->n_deps, sizeof(*f->dep_idx));
        if (!f->dep_idx) return VC_ENOMEM;
        for (size_t d = 0; d < f->n_deps; d++) {
            const vc__file *dep = vc__find_file(r, f->deps[d]);
            if (!dep) return VC_EINVAL;
            f->dep_idx[d] = (size_t)(dep - r->files);
        }
        *n_edges += f->n_deps;
    }
    return 0;
}

/* Pre-order walk from `root` (root first, imports in declaration order, each file once).
   `seen` holds n_files flags, `stack` room for n_edges + 1 entries, `order` for n_files. */
static int vc__build_closure(vc_reflection *r, size_t root, unsigned char *seen, size_t *stack,
                             size_t *order)
{
    size_t sp = 0, n = 0;
    memset(seen, 0, r->n_files);
    stack[sp++] = root;
    while (sp) {
        size_t x = stack[--sp];
        if (seen[x]) continue;
        seen[x] = 1;
        order[n++] = x;
        /* A file is expanded once, so the stack never holds more than all edges plus root. */
        for (size_t d = r->files[x].n_deps; d-- > 0;)
            stack[sp++] = r->files[x].dep_idx[d];
    }

    vc__file *f = &r->files[root];
    f->closure = vc_arena_calloc(r->arena, n, sizeof(*f->closure));
    if (!f->closure) return VC_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        /* protobuf-c's type is not const-qualified; packing only ever reads it. */
        f->closure[i].data = (uint8_t *)r->files[order[i]].bytes;
        f->closure[i].len = r->files[order[i]].len;
    }
    f->n_closure = n;
    return 0;
}

static int vc__link_files(vc_reflection *r)
{
    size_t n_edges;
    int rc = vc__resolve_deps(r, &n_edges);
    if (rc) return rc;
    unsigned char *seen = malloc(r->n_files + 1);
    size_t *stack = malloc((n_edges + 1) * sizeof(*stack));
    size_t *order = malloc((r->n_files + 1) * sizeof(*order));
    rc = (seen && stack && order) ? 0 : VC_ENOMEM;
    for (size_t i = 0; rc == 0 && i < r->n_files; i++)
        rc = vc__build_closure(r, i, seen, stack, order);
    free(seen);
    free(stack);
    free(order);
    return rc;
}

static int vc__add_services(vc_reflection *r, const char *const *services, size_t n)
{
    r->services = vc_arena_calloc(r->arena, n, sizeof(*r->services));
    if (!r->services) return VC_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (!services[i]) return VC_EINVAL;
        /* A service we cannot describe would make grpcurl fail later and far from the cause. */
        const vc__sym *s = vc__find_sym(r, services[i]);
        if (!s || s->kind != VC__SYM_SERVICE) return VC_ENOENT;
        r->services[i] = s->name;
    }
    if (n) qsort(r->services, n, sizeof(*r->services), vc__str_ptr_cmp);
    r->n_services = 0;
    for (size_t i = 0; i < n; i++)
        if (r->n_services == 0 || strcmp(r->services[r->n_services - 1], r->services[i]) != 0)
            r->services[r->n_services++] = r->services[i];
    return 0;
}

int vc_reflection_new(const unsigned char *fds, size_t len, const char *const *services,
                      size_t n_services, vc_reflection **out)
{
    if (!fds || !len || (!services && n_services) || !out) return VC_EINVAL;
    vc_reflection *r = calloc(1, sizeof(*r));
    if (!r) return VC_ENOMEM;
    vc__builder b = {.r = r};
    int rc = (r->arena = vc_arena_new(16 * 1024)) ? 0 : VC_ENOMEM;
    if (rc == 0) rc = vc__split_set(&b, fds, len);
    if (rc == 0) rc = vc__index_files(&b);
    if (rc == 0) rc = vc__sort_tables(r);
    if (rc == 0) rc = vc__link_files(r);
    if (rc == 0) rc = vc__add_services(r, services, n_services);
    if (rc) {
        vc_reflection_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void vc_reflection_free(vc_reflection *r)
{
    if (!r) return;
    free(r->files);
    free(r->syms);
    free(r->methods);
    free(r->exts);
    vc_arena_free(r->arena);
    free(r);
}

/* ---- answering -------------------------------------------------------------------------- */

__attribute__((format(printf, 4, 5))) static int vc__error_reply(vc_arena *a, vc__resp *out,
                                                                 int code, const char *fmt, ...)
{
    Grpc__Reflection__V1__ErrorResponse *e = vc_arena_alloc(a, sizeof(*e));
    if (!e) return VC_ENOMEM;
    grpc__reflection__v1__error_response__init(e);
    va_list ap;
    va_start(ap, fmt);
    e->error_message = vc_arena_vsprintf(a, fmt, ap);
    va_end(ap);
    if (!e->error_message) return VC_ENOMEM;
    e->error_code = code;
    out->message_response_case = VC__RESP_KIND(ERROR_RESPONSE);
    out->error_response = e;
    return 0;
}

static int vc__files_reply(vc_arena *a, const vc__file *f, vc__resp *out)
{
    Grpc__Reflection__V1__FileDescriptorResponse *fr = vc_arena_alloc(a, sizeof(*fr));
    if (!fr) return VC_ENOMEM;
    grpc__reflection__v1__file_descriptor_response__init(fr);
    fr->n_file_descriptor_proto = f->n_closure;
    fr->file_descriptor_proto = f->closure;
    out->message_response_case = VC__RESP_KIND(FILE_DESCRIPTOR_RESPONSE);
    out->file_descriptor_response = fr;
    return 0;
}

static int vc__list_reply(const vc_reflection *r, vc_arena *a, vc__resp *out)
{
    Grpc__Reflection__V1__ListServiceResponse *l = vc_arena_alloc(a, sizeof(*l));
    Grpc__Reflection__V1__ServiceResponse *items =
        vc_arena_calloc(a, r->n_services, sizeof(*items));
    Grpc__Reflection__V1__ServiceResponse **ptrs = vc_arena_calloc(a, r->n_services, sizeof(*ptrs));
    if (!l || !items || !ptrs) return VC_ENOMEM;
    grpc__reflection__v1__list_service_response__init(l);
    for (size_t i = 0; i < r->n_services; i++) {
        grpc__reflection__v1__service_response__init(&items[i]);
        items[i].name = r->services[i];
        ptrs[i] = &items[i];
    }
    l->n_service = r->n_services;
    l->service = ptrs;
    out->message_response_case = VC__RESP_KIND(LIST_SERVICES_RESPONSE);
    out->list_services_response = l;
    return 0;
}

static int vc__ext_numbers_reply(const vc_reflection *r, vc_arena *a, const char *type,
                                 vc__resp *out)
{
    const vc__sym *s = vc__find_sym(r, type);
    if (!s || s->kind != VC__SYM_MESSAGE)
        return vc__error_reply(a, out, GRPC_STATUS_NOT_FOUND, "message type not found: %s", type);
    size_t lo = vc__ext_lower_bound(r, s->name, INT32_MIN), hi = lo;
    while (hi < r->n_exts && strcmp(r->exts[hi].extendee, s->name) == 0)
        hi++;
    Grpc__Reflection__V1__ExtensionNumberResponse *en = vc_arena_alloc(a, sizeof(*en));
    int32_t *numbers = vc_arena_calloc(a, hi - lo, sizeof(*numbers));
    if (!en || !numbers) return VC_ENOMEM;
    grpc__reflection__v1__extension_number_response__init(en);
    for (size_t i = lo; i < hi; i++)
        numbers[i - lo] = r->exts[i].number;
    en->base_type_name = s->name;
    en->n_extension_number = hi - lo;
    en->extension_number = numbers;
    out->message_response_case = VC__RESP_KIND(ALL_EXTENSION_NUMBERS_RESPONSE);
    out->all_extension_numbers_response = en;
    return 0;
}

static int vc__ext_file_reply(const vc_reflection *r, vc_arena *a,
                              const Grpc__Reflection__V1__ExtensionRequest *x, vc__resp *out)
{
    const char *type = x ? vc__strip_dot(x->containing_type) : "";
    int32_t number = x ? x->extension_number : 0;
    size_t i = vc__ext_lower_bound(r, type, number);
    if (i == r->n_exts || r->exts[i].number != number || strcmp(r->exts[i].extendee, type) != 0)
        return vc__error_reply(a, out, GRPC_STATUS_NOT_FOUND, "extension not found: %s(%d)", type,
                               (int)number);
    return vc__files_reply(a, &r->files[r->exts[i].file], out);
}

static int vc__dispatch(const vc_reflection *r, vc_arena *a, const vc__req *in, vc__resp *out)
{
    switch (in->message_request_case) {
    case VC__REQ_KIND(FILE_BY_FILENAME): {
        const vc__file *f = vc__find_file(r, in->file_by_filename);
        if (!f)
            return vc__error_reply(a, out, GRPC_STATUS_NOT_FOUND, "file not found: %s",
                                   in->file_by_filename);
        return vc__files_reply(a, f, out);
    }
    case VC__REQ_KIND(FILE_CONTAINING_SYMBOL): {
        const vc__sym *s = vc__find_sym(r, in->file_containing_symbol);
        if (!s)
            return vc__error_reply(a, out, GRPC_STATUS_NOT_FOUND, "symbol not found: %s",
                                   in->file_containing_symbol);
        return vc__files_reply(a, &r->files[s->file], out);
    }
    case VC__REQ_KIND(FILE_CONTAINING_EXTENSION):
        return vc__ext_file_reply(r, a, in->file_containing_extension, out);
    case VC__REQ_KIND(ALL_EXTENSION_NUMBERS_OF_TYPE):
        return vc__ext_numbers_reply(r, a, in->all_extension_numbers_of_type, out);
    case VC__REQ_KIND(LIST_SERVICES): return vc__list_reply(r, a, out);
    default:
        /* Unset, or a request kind newer than our copy of reflection.proto. */
        return vc__error_reply(a, out, GRPC_STATUS_UNIMPLEMENTED,
                               "unsupported reflection request (field %d)",
                               (int)in->message_request_case);
    }
}

static int vc__pack(const ProtobufCMessage *m, unsigned char **out, size_t *out_len)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    unsigned char *buf = malloc(n ? n : 1);
    if (!buf) return VC_ENOMEM;
    protobuf_c_message_pack(m, buf);
    *out = buf;
    *out_len = n;
    return 0;
}

int vc_reflection_answer(const vc_reflection *r, const unsigned char *req, size_t req_len,
                         unsigned char **resp, size_t *resp_len)
{
    static const unsigned char empty[1];
    if (!r || (!req && req_len) || !resp || !resp_len) return VC_EINVAL;
    vc_arena *a = vc_arena_new(0);
    if (!a) return VC_ENOMEM;
    vc__unpack_alloc ua;
    vc__ua_init(&ua, a);
    vc__req *in = grpc__reflection__v1__server_reflection_request__unpack(&ua.base, req_len,
                                                                          req ? req : empty);
    int rc = in ? 0 : ua.exhausted ? VC_ENOMEM : VC_EINVAL;
    if (rc == 0) {
        vc__resp out = GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__INIT;
        out.valid_host = in->host;
        out.original_request = in;
        rc = vc__dispatch(r, a, in, &out);
        if (rc == 0) rc = vc__pack(&out.base, resp, resp_len);
    }
    vc_arena_free(a);
    return rc;
}

int vc_reflection_method_kind(const vc_reflection *r, const char *path, bool *client_streaming,
                              bool *server_streaming)
{
    if (!r || !path) return VC_EINVAL;
    vc__method key = {.path = (char *)path};
    const vc__method *m =
        r->n_methods ? bsearch(&key, r->methods, r->n_methods, sizeof(*r->methods), vc__method_cmp)
                     : NULL;
    if (!m) return VC_ENOENT;
    if (client_streaming) *client_streaming = m->client_streaming;
    if (server_streaming) *server_streaming = m->server_streaming;
    return 0;
}
