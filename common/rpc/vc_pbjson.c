/* pbjson.c - descriptor-driven protobuf-c -> JSON rendering (proto3 JSON mapping). */
#include "rpc/vc_pbjson.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/vc_err.h"

/* 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the Timestamp range of the JSON mapping. */
#define PBJ_TS_MIN_S (-62135596800LL)
#define PBJ_TS_MAX_S 253402300799LL
/* +-10000 years: the Duration range of the JSON mapping. */
#define PBJ_DUR_MAX_S 315576000000LL

static int pbj__message(const ProtobufCMessage *m, json_t **out);

static const void *pbj__at(const void *base, unsigned offset)
{
    return (const char *)base + offset;
}

/* ---- strings -------------------------------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at s (n bytes available), or 0 if it is not one. */
static size_t pbj__utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4;
    else
        return 0;
    if (c == 0xE0)
        lo = 0xA0; /* overlong */
    else if (c == 0xED)
        hi = 0x9F; /* UTF-16 surrogates */
    else if (c == 0xF0)
        lo = 0x90; /* overlong */
    else if (c == 0xF4)
        hi = 0x8F; /* beyond U+10FFFF */
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return len;
}

/* A JSON string. protobuf-c does not check that proto3 strings are UTF-8 and jansson refuses
   invalid UTF-8, so ill-formed bytes become U+FFFD instead of failing the whole rendering. */
static json_t *pbj__string(const char *s)
{
    if (s == NULL) s = "";
    json_t *j = json_string(s);
    if (j) return j;
    size_t n = strlen(s);
    char *fixed = malloc(n * 3 + 1); /* each bad byte grows to 3 bytes at most */
    if (!fixed) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t len = pbj__utf8_seq((const unsigned char *)s + i, n - i);
        if (len == 0) {
            memcpy(fixed + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        } else {
            memcpy(fixed + o, s + i, len);
            o += len;
            i += len;
        }
    }
    fixed[o] = '\0';
    j = json_string(fixed);
    free(fixed);
    return j;
}

static json_t *pbj__base64(const ProtobufCBinaryData *b)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = b->len;
    char *s = malloc((n + 2) / 3 * 4 + 1);
    if (!s) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)b->data[i] << 16;
        if (i + 1 < n) v |= (uint32_t)b->data[i + 1] << 8;
        if (i + 2 < n) v |= b->data[i + 2];
        s[o++] = abc[(v >> 18) & 63];
        s[o++] = abc[(v >> 12) & 63];
        s[o++] = i + 1 < n ? abc[(v >> 6) & 63] : '=';
        s[o++] = i + 2 < n ? abc[v & 63] : '=';
    }
    s[o] = '\0';
    json_t *j = json_string(s);
    free(s);
    return j;
}

int vc_pbjson_field_name(const char *proto_name, char *buf, size_t n)
{
    if (buf == NULL || n == 0) return VC_EOVERFLOW;
    size_t o = 0;
    bool upper = false;
    for (const char *p = proto_name; *p; p++) {
        if (*p == '_') {
            upper = true;
            continue;
        }
        if (o + 1 >= n) {
            buf[0] = '\0';
            return VC_EOVERFLOW;
        }
        buf[o++] = upper && *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
        upper = false;
    }
    buf[o] = '\0';
    return 0;
}

/* ---- numbers -------------------------------------------------------------------------------- */

static json_t *pbj__int64(int64_t v)
{
    char s[24];
    snprintf(s, sizeof(s), "%lld", (long long)v);
    return json_string(s);
}

static json_t *pbj__uint64(uint64_t v)
{
    char s[24];
    snprintf(s, sizeof(s), "%llu", (unsigned long long)v);
    return json_string(s);
}

static json_t *pbj__double(double v)
{
    if (isnan(v)) return json_string("NaN");
    if (isinf(v)) return json_string(v > 0 ? "Infinity" : "-Infinity");
    return json_real(v);
}

static json_t *pbj__enum(const ProtobufCEnumDescriptor *d, int v)
{
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, v);
    return ev ? json_string(ev->name) : json_integer(v);
}

/* ---- fields --------------------------------------------------------------------------------- */

/* Size of one element of a repeated field of type t, as protobuf-c lays the array out. */
static size_t pbj__elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: return 8;
    case PROTOBUF_C_TYPE_DOUBLE: return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage *);
    default: return 4; /* 32-bit integers, float, enum */
    }
}

/* The JSON value of one element of field f stored at p. A NULL sub-message (only reachable
   for map values) is an empty object. */
static int pbj__value(const ProtobufCFieldDescriptor *f, const void *p, json_t **out)
{
    json_t *j = NULL;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: j = json_integer(*(const int32_t *)p); break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: j = json_integer(*(const uint32_t *)p); break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: j = pbj__int64(*(const int64_t *)p); break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: j = pbj__uint64(*(const uint64_t *)p); break;
    case PROTOBUF_C_TYPE_FLOAT: j = pbj__double(*(const float *)p); break;
    case PROTOBUF_C_TYPE_DOUBLE: j = pbj__double(*(const double *)p); break;
    case PROTOBUF_C_TYPE_BOOL: j = json_boolean(*(const protobuf_c_boolean *)p); break;
    case PROTOBUF_C_TYPE_ENUM: j = pbj__enum(f->descriptor, *(const int *)p); break;
    case PROTOBUF_C_TYPE_STRING: j = pbj__string(*(char *const *)p); break;
    case PROTOBUF_C_TYPE_BYTES: j = pbj__base64(p); break;
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *m = *(ProtobufCMessage *const *)p;
        if (m) return pbj__message(m, out);
        j = json_object();
        break;
    }
    default: return VC_EINVAL;
    }
    if (!j) return VC_ENOMEM;
    *out = j;
    return 0;
}

/* True when the bytes of a scalar member are all zero: the proto3 default of every scalar. */
static bool pbj__zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i]) return false;
    return true;
}

/* Whether field f of m is written: the JSON mapping omits fields at their default unless
   presence is tracked (oneof member, `optional`) and says the field was set. */
static bool pbj__present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    const void *member = pbj__at(m, f->offset);
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)pbj__at(m, f->quantifier_offset) == f->id;
    switch (f->label) {
    case PROTOBUF_C_LABEL_REQUIRED: return true;
    case PROTOBUF_C_LABEL_REPEATED: return *(const size_t *)pbj__at(m, f->quantifier_offset) > 0;
    case PROTOBUF_C_LABEL_OPTIONAL:
        if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE) {
            const void *ptr = *(const void *const *)member;
            return ptr != NULL && ptr != f->default_value;
        }
        return *(const protobuf_c_boolean *)pbj__at(m, f->quantifier_offset);
    default: break;
    }
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)member;
        return s != NULL && s[0] != '\0';
    }
    case PROTOBUF_C_TYPE_BYTES: return ((const ProtobufCBinaryData *)member)->len > 0;
    case PROTOBUF_C_TYPE_MESSAGE: return *(ProtobufCMessage *const *)member != NULL;
    default: return !pbj__zero(member, pbj__elem_size(f->type));
    }
}

/* protobuf-c keeps no map flag: a map field is a repeated XxxEntry{key = 1, value = 2}. */
static bool pbj__is_map(const ProtobufCFieldDescriptor *f)
{
    if (f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_MESSAGE) return false;
    const ProtobufCMessageDescriptor *d = f->descriptor;
    size_t sl = strlen(d->short_name);
    return d->n_fields == 2 && d->fields[0].id == 1 && d->fields[1].id == 2 &&
           strcmp(d->fields[0].name, "key") == 0 && strcmp(d->fields[1].name, "value") == 0 &&
           sl > 5 && strcmp(d->short_name + sl - 5, "Entry") == 0;
}

/* Map keys are always JSON strings: the key's text, whatever its type. */
static int pbj__map_key(const ProtobufCMessage *entry, char *buf, size_t n, const char **key)
{
    const ProtobufCFieldDescriptor *kf = &entry->descriptor->fields[0];
    const void *p = pbj__at(entry, kf->offset);
    switch (kf->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        *key = s ? s : "";
        return 0;
    }
    case PROTOBUF_C_TYPE_BOOL: *key = *(const protobuf_c_boolean *)p ? "true" : "false"; return 0;
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: snprintf(buf, n, "%d", (int)*(const int32_t *)p); break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: snprintf(buf, n, "%u", (unsigned)*(const uint32_t *)p); break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        snprintf(buf, n, "%llu", (unsigned long long)*(const uint64_t *)p);
        break;
    default: snprintf(buf, n, "%lld", (long long)*(const int64_t *)p); break;
    }
    *key = buf;
    return 0;
}

static int pbj__map(const ProtobufCMessage *const *entries, size_t n, json_t **out)
{
    json_t *obj = json_object();
    if (!obj) return VC_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        char buf[32];
        const char *key;
        json_t *v = NULL;
        int rc = pbj__map_key(entries[i], buf, sizeof(buf), &key);
        const ProtobufCFieldDescriptor *vf = &entries[i]->descriptor->fields[1];
        if (rc == 0) rc = pbj__value(vf, pbj__at(entries[i], vf->offset), &v);
        if (rc == 0 && json_object_set_new(obj, key, v) != 0) rc = VC_ENOMEM;
        if (rc != 0) {
            json_decref(obj);
            return rc;
        }
    }
    *out = obj;
    return 0;
}

static int pbj__repeated(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, json_t **out)
{
    size_t n = *(const size_t *)pbj__at(m, f->quantifier_offset);
    const char *base = *(const char *const *)pbj__at(m, f->offset);
    if (pbj__is_map(f))
        return pbj__map((const ProtobufCMessage *const *)(const void *)base, n, out);
    json_t *arr = json_array();
    if (!arr) return VC_ENOMEM;
    size_t size = pbj__elem_size(f->type);
    for (size_t i = 0; i < n; i++) {
        json_t *v = NULL;
        int rc = pbj__value(f, base + i * size, &v);
        if (rc == 0 && json_array_append_new(arr, v) != 0) rc = VC_ENOMEM;
        if (rc != 0) {
            json_decref(arr);
            return rc;
        }
    }
    *out = arr;
    return 0;
}

/* ---- well-known types ----------------------------------------------------------------------- */

/* The member called `name` of m, or NULL when the descriptor has no such field. */
static const void *pbj__member(const ProtobufCMessage *m, const char *name,
                               const ProtobufCFieldDescriptor **fd)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
    if (fd) *fd = f;
    return f ? pbj__at(m, f->offset) : NULL;
}

/* 1 = not representable this way (caller renders the plain message), 0 = done, < 0 error. */
static int pbj__seconds_nanos(const ProtobufCMessage *m, int64_t *s, int32_t *ns)
{
    const ProtobufCFieldDescriptor *fs, *fn;
    const void *ps = pbj__member(m, "seconds", &fs), *pn = pbj__member(m, "nanos", &fn);
    if (!ps || !pn || fs->type != PROTOBUF_C_TYPE_INT64 || fn->type != PROTOBUF_C_TYPE_INT32)
        return 1;
    *s = *(const int64_t *)ps;
    *ns = *(const int32_t *)pn;
    return 0;
}

static int pbj__wkt_timestamp(const ProtobufCMessage *m, json_t **out)
{
    int64_t s;
    int32_t ns;
    char buf[VC_PBJSON_TS_MAX];
    if (pbj__seconds_nanos(m, &s, &ns) != 0 || vc_pbjson_timestamp(s, ns, buf, sizeof(buf)) != 0)
        return 1;
    *out = json_string(buf);
    return *out ? 0 : VC_ENOMEM;
}

static int pbj__wkt_duration(const ProtobufCMessage *m, json_t **out)
{
    int64_t s;
    int32_t ns;
    if (pbj__seconds_nanos(m, &s, &ns) != 0 || s < -PBJ_DUR_MAX_S || s > PBJ_DUR_MAX_S ||
        ns <= -1000000000 || ns >= 1000000000 || (s > 0 && ns < 0) || (s < 0 && ns > 0))
        return 1;
    bool neg = s < 0 || ns < 0;
    unsigned long long us = (unsigned long long)(s < 0 ? -s : s);
    long abs_ns = ns < 0 ? -(long)ns : ns;
    char buf[48];
    int len = snprintf(buf, sizeof(buf), "%s%llu", neg ? "-" : "", us);
    if (abs_ns % 1000000 == 0 && abs_ns)
        snprintf(buf + len, sizeof(buf) - (size_t)len, ".%03lds", abs_ns / 1000000);
    else if (abs_ns % 1000 == 0 && abs_ns)
        snprintf(buf + len, sizeof(buf) - (size_t)len, ".%06lds", abs_ns / 1000);
    else if (abs_ns)
        snprintf(buf + len, sizeof(buf) - (size_t)len, ".%09lds", abs_ns);
    else
        snprintf(buf + len, sizeof(buf) - (size_t)len, "s");
    *out = json_string(buf);
    return *out ? 0 : VC_ENOMEM;
}

static int pbj__wkt_field_mask(const ProtobufCMessage *m, json_t **out)
{
    const ProtobufCFieldDescriptor *f;
    const void *p = pbj__member(m, "paths", &f);
    if (!p || f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_STRING) return 1;
    size_t n = *(const size_t *)pbj__at(m, f->quantifier_offset);
    char *const *paths = *(char *const *const *)p;
    size_t cap = 1;
    for (size_t i = 0; i < n; i++)
        cap += strlen(paths[i] ? paths[i] : "") + 1;
    char *s = malloc(cap);
    if (!s) return VC_ENOMEM;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (i) s[o++] = ',';
        /* A camel-cased path is never longer than the original, so cap - o always suffices. */
        vc_pbjson_field_name(paths[i] ? paths[i] : "", s + o, cap - o);
        o += strlen(s + o);
    }
    s[o] = '\0';
    *out = pbj__string(s);
    free(s);
    return *out ? 0 : VC_ENOMEM;
}

static int pbj__wkt_wrapper(const ProtobufCMessage *m, json_t **out)
{
    const ProtobufCFieldDescriptor *f;
    const void *p = pbj__member(m, "value", &f);
    if (!p || f->label == PROTOBUF_C_LABEL_REPEATED) return 1;
    return pbj__value(f, p, out);
}

static int pbj__well_known(const ProtobufCMessage *m, json_t **out)
{
    static const char *const wrappers[] = {"DoubleValue", "FloatValue",  "Int64Value",
                                           "UInt64Value", "Int32Value",  "UInt32Value",
                                           "BoolValue",   "StringValue", "BytesValue"};
    const char *name = m->descriptor->name;
    if (name == NULL || strncmp(name, "google.protobuf.", 16) != 0) return 1;
    name += 16;
    if (strcmp(name, "Timestamp") == 0) return pbj__wkt_timestamp(m, out);
    if (strcmp(name, "Duration") == 0) return pbj__wkt_duration(m, out);
    if (strcmp(name, "FieldMask") == 0) return pbj__wkt_field_mask(m, out);
    for (size_t i = 0; i < sizeof(wrappers) / sizeof(wrappers[0]); i++)
        if (strcmp(name, wrappers[i]) == 0) return pbj__wkt_wrapper(m, out);
    return 1;
}

/* ---- messages ------------------------------------------------------------------------------- */

static int pbj__set_field(json_t *obj, const ProtobufCFieldDescriptor *f, json_t *v)
{
    char small[128];
    size_t need = strlen(f->name) + 1; /* the JSON name is never longer */
    char *name = need <= sizeof(small) ? small : malloc(need);
    if (!name) {
        json_decref(v);
        return VC_ENOMEM;
    }
    vc_pbjson_field_name(f->name, name, need);
    int rc = json_object_set_new(obj, name, v) == 0 ? 0 : VC_ENOMEM; /* v is consumed either way */
    if (name != small) free(name);
    return rc;
}

static int pbj__message(const ProtobufCMessage *m, json_t **out)
{
    int rc = pbj__well_known(m, out);
    if (rc <= 0) return rc;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    json_t *obj = json_object();
    if (!obj) return VC_ENOMEM;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (!pbj__present(m, f)) continue;
        json_t *v = NULL;
        rc = f->label == PROTOBUF_C_LABEL_REPEATED ? pbj__repeated(m, f, &v)
                                                   : pbj__value(f, pbj__at(m, f->offset), &v);
        if (rc == 0) rc = pbj__set_field(obj, f, v);
        if (rc != 0) {
            json_decref(obj);
            return rc;
        }
    }
    *out = obj;
    return 0;
}

int vc_pbjson_render(const ProtobufCMessage *msg, json_t **out)
{
    if (msg == NULL || msg->descriptor == NULL || out == NULL) return VC_EINVAL;
    return pbj__message(msg, out);
}

int vc_pbjson_dumps(const ProtobufCMessage *msg, size_t flags, char **out)
{
    json_t *j = NULL;
    int rc = vc_pbjson_render(msg, &j);
    if (rc != 0) return rc;
    /* JSON_ENCODE_ANY: a well-known type may render as a bare string. */
    *out = json_dumps(j, flags | JSON_ENCODE_ANY);
    json_decref(j);
    return *out ? 0 : VC_ENOMEM;
}

/* ---- timestamps ----------------------------------------------------------------------------- */

int vc_pbjson_timestamp(int64_t seconds, int32_t nanos, char *buf, size_t n)
{
    if (buf == NULL) return VC_EINVAL;
    if (n < VC_PBJSON_TS_MAX) {
        if (n) buf[0] = '\0';
        return VC_EOVERFLOW;
    }
    buf[0] = '\0';
    if (seconds < PBJ_TS_MIN_S || seconds > PBJ_TS_MAX_S || nanos < 0 || nanos > 999999999)
        return VC_EINVAL;
    time_t t = (time_t)seconds;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL) return VC_EINVAL;
    int len = snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                       tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (nanos % 1000000 == 0 && nanos)
        len += snprintf(buf + len, n - (size_t)len, ".%03d", (int)(nanos / 1000000));
    else if (nanos % 1000 == 0 && nanos)
        len += snprintf(buf + len, n - (size_t)len, ".%06d", (int)(nanos / 1000));
    else if (nanos)
        len += snprintf(buf + len, n - (size_t)len, ".%09d", (int)nanos);
    snprintf(buf + len, n - (size_t)len, "Z");
    return 0;
}

/* Reads exactly `count` decimal digits. */
static bool pbj__digits(const char **p, int count, int *out)
{
    int v = 0;
    for (int i = 0; i < count; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9') return false;
        v = v * 10 + (c - '0');
    }
    *p += count;
    *out = v;
    return true;
}

static bool pbj__leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t pbj__days(int y, int m, int d)
{
    static const int before[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    int64_t yy = (int64_t)y - 1; /* whole years before y, counted from year 1 */
    int64_t days = yy * 365 + yy / 4 - yy / 100 + yy / 400;
    days += before[m - 1] + (m > 2 && pbj__leap(y)) + (d - 1);
    return days - 719162; /* days from 0001-01-01 to 1970-01-01 */
}

/* "2024-05-01" -> y/m/d, validated. */
static bool pbj__parse_date(const char **p, int *y, int *m, int *d)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (!pbj__digits(p, 4, y) || *(*p)++ != '-' || !pbj__digits(p, 2, m) || *(*p)++ != '-' ||
        !pbj__digits(p, 2, d))
        return false;
    if (*y < 1 || *m < 1 || *m > 12 || *d < 1) return false;
    return *d <= mdays[*m - 1] + (*m == 2 && pbj__leap(*y));
}

/* "08:00:00[.123]" -> seconds of the day and nanos. */
static bool pbj__parse_time(const char **p, int64_t *secs, int32_t *nanos)
{
    int h, mi, s;
    if (!pbj__digits(p, 2, &h) || *(*p)++ != ':' || !pbj__digits(p, 2, &mi) || *(*p)++ != ':' ||
        !pbj__digits(p, 2, &s) || h > 23 || mi > 59 || s > 59)
        return false;
    *secs = h * 3600 + mi * 60 + s;
    *nanos = 0;
    if (**p != '.') return true;
    (*p)++;
    int n = 0, scale = 100000000;
    for (; **p >= '0' && **p <= '9'; (*p)++, n++) {
        if (n == 9) return false;
        *nanos += (int32_t)((**p - '0') * scale);
        scale /= 10;
    }
    return n > 0;
}

/* "Z" or "+hh:mm"/"-hh:mm" -> offset east of UTC in seconds. */
static bool pbj__parse_offset(const char **p, int64_t *offset)
{
    char c = *(*p)++;
    if (c == 'Z' || c == 'z') {
        *offset = 0;
        return true;
    }
    int h, m;
    if ((c != '+' && c != '-') || !pbj__digits(p, 2, &h) || *(*p)++ != ':' ||
        !pbj__digits(p, 2, &m) || h > 23 || m > 59)
        return false;
    *offset = (c == '-' ? -1 : 1) * (int64_t)(h * 3600 + m * 60);
    return true;
}

int vc_pbjson_parse_timestamp(const char *text, int64_t *seconds, int32_t *nanos)
{
    if (text == NULL || seconds == NULL || nanos == NULL) return VC_EINVAL;
    const char *p = text;
    int y, m, d;
    int64_t tod = 0, offset = 0;
    int32_t ns = 0;
    if (!pbj__parse_date(&p, &y, &m, &d)) return VC_EINVAL;
    if (*p != '\0') {
        if (*p != 'T' && *p != 't') return VC_EINVAL;
        p++;
        if (!pbj__parse_time(&p, &tod, &ns) || !pbj__parse_offset(&p, &offset) || *p != '\0')
            return VC_EINVAL;
    }
    int64_t s = pbj__days(y, m, d) * 86400 + tod - offset;
    if (s < PBJ_TS_MIN_S || s > PBJ_TS_MAX_S) return VC_EINVAL;
    *seconds = s;
    *nanos = ns;
    return 0;
}
