#include "rpc/vc_rpc_status.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/vc_err.h"

static const char *const vc__code_names[] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

const char *vc_grpc_code_name(int code)
{
    if (code < 0 || code > VC_GRPC_UNAUTHENTICATED)
        return "UNKNOWN";
    return vc__code_names[code];
}

/* --- a tiny protobuf writer: enough for three small messages --------------------------- */

typedef struct {
    unsigned char *p;
    size_t len, cap;
    bool oom;
} vc__buf;

static void vc__put(vc__buf *b, const void *data, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void vc__varint(vc__buf *b, uint64_t v)
{
    unsigned char tmp[10];
    size_t n = 0;
    do {
        tmp[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v)
            tmp[n] |= 0x80;
        n++;
    } while (v);
    vc__put(b, tmp, n);
}

static void vc__bytes_field(vc__buf *b, unsigned field, const void *data, size_t n)
{
    vc__varint(b, (uint64_t)field << 3 | 2);
    vc__varint(b, n);
    vc__put(b, data, n);
}

static void vc__string_field(vc__buf *b, unsigned field, const char *s)
{
    if (s && *s)
        vc__bytes_field(b, field, s, strlen(s));
}

static const char vc__bad_request_url[] = "type.googleapis.com/google.rpc.BadRequest";

int vc_rpc_status_encode(int code, const char *message, const vc_field_violation *violations,
                         unsigned char **out, size_t *out_len)
{
    vc__buf status = {0}, bad = {0}, any = {0}, fv = {0};
    for (const vc_field_violation *v = violations; v; v = v->next) {
        fv.len = 0;
        vc__string_field(&fv, 1, v->field);       /* FieldViolation.field */
        vc__string_field(&fv, 2, v->description); /* FieldViolation.description */
        if (fv.oom)
            break;
        vc__bytes_field(&bad, 1, fv.p, fv.len); /* BadRequest.field_violations */
    }
    if (code != 0) {
        vc__varint(&status, 1 << 3 | 0); /* Status.code */
        vc__varint(&status, (uint64_t)(uint32_t)code);
    }
    vc__string_field(&status, 2, message); /* Status.message */
    if (violations && !bad.oom && !fv.oom) {
        vc__bytes_field(&any, 1, vc__bad_request_url, sizeof(vc__bad_request_url) - 1);
        vc__bytes_field(&any, 2, bad.p, bad.len);
        vc__bytes_field(&status, 3, any.p, any.len); /* Status.details */
    }
    bool oom = status.oom || bad.oom || any.oom || fv.oom;
    free(bad.p);
    free(any.p);
    free(fv.p);
    if (oom) {
        free(status.p);
        return VC_ENOMEM;
    }
    if (!status.p) { /* code 0 and empty message: an empty message is valid protobuf */
        status.p = malloc(1);
        if (!status.p)
            return VC_ENOMEM;
    }
    *out = status.p;
    *out_len = status.len;
    return 0;
}

/* --- reader ---------------------------------------------------------------------------- */

typedef struct {
    const unsigned char *p, *end;
} vc__rd;

static bool vc__rd_varint(vc__rd *r, uint64_t *v)
{
    *v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end)
            return false;
        unsigned char c = *r->p++;
        *v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            return true;
    }
    return false;
}

/* Reads one field header and, for length-delimited fields, the payload. Other wire types are
   skipped correctly so unknown fields do not break decoding. */
static bool vc__rd_field(vc__rd *r, unsigned *field, unsigned *wt, uint64_t *num, vc__rd *sub)
{
    uint64_t key;
    if (!vc__rd_varint(r, &key))
        return false;
    *field = (unsigned)(key >> 3);
    *wt = (unsigned)(key & 7);
    switch (*wt) {
    case 0: return vc__rd_varint(r, num);
    case 1:
        if (r->end - r->p < 8)
            return false;
        r->p += 8;
        return true;
    case 5:
        if (r->end - r->p < 4)
            return false;
        r->p += 4;
        return true;
    case 2: {
        uint64_t n;
        if (!vc__rd_varint(r, &n) || n > (uint64_t)(r->end - r->p))
            return false;
        sub->p = r->p;
        sub->end = r->p + n;
        r->p += n;
        return true;
    }
    default: return false;
    }
}

static int vc__decode_bad_request(vc__rd r, vc_rpc_violation_cb cb, void *arg)
{
    while (r.p < r.end) {
        unsigned f, wt;
        uint64_t num;
        vc__rd fv;
        if (!vc__rd_field(&r, &f, &wt, &num, &fv))
            return VC_EINVAL;
        if (f != 1 || wt != 2)
            continue;
        vc__rd field = {0}, desc = {0};
        while (fv.p < fv.end) {
            unsigned f2, wt2;
            vc__rd s;
            if (!vc__rd_field(&fv, &f2, &wt2, &num, &s))
                return VC_EINVAL;
            if (wt2 == 2 && f2 == 1)
                field = s;
            else if (wt2 == 2 && f2 == 2)
                desc = s;
        }
        if (cb)
            cb((const char *)field.p, (size_t)(field.end - field.p), (const char *)desc.p,
               (size_t)(desc.end - desc.p), arg);
    }
    return 0;
}

int vc_rpc_status_decode(const unsigned char *buf, size_t len, int *code, vc_rpc_violation_cb cb,
                         void *arg)
{
    vc__rd r = {buf, buf + len};
    *code = 0;
    while (r.p < r.end) {
        unsigned f, wt;
        uint64_t num = 0;
        vc__rd any;
        if (!vc__rd_field(&r, &f, &wt, &num, &any))
            return VC_EINVAL;
        if (f == 1 && wt == 0) {
            *code = (int)(int32_t)num;
        } else if (f == 3 && wt == 2) {
            vc__rd url = {0}, value = {0};
            while (any.p < any.end) {
                unsigned f2, wt2;
                vc__rd s;
                if (!vc__rd_field(&any, &f2, &wt2, &num, &s))
                    return VC_EINVAL;
                if (f2 == 1 && wt2 == 2)
                    url = s;
                else if (f2 == 2 && wt2 == 2)
                    value = s;
            }
            size_t ulen = (size_t)(url.end - url.p);
            if (ulen == sizeof(vc__bad_request_url) - 1 &&
                memcmp(url.p, vc__bad_request_url, ulen) == 0) {
                int rc = vc__decode_bad_request(value, cb, arg);
                if (rc)
                    return rc;
            }
        }
    }
    return 0;
}
