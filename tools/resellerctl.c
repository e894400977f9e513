/*
 * resellerctl - the reseller's command-line client for reseller-svc, and a debugging aid.
 *
 *   resellerctl [--addr HOST:PORT] [--token JWT] [--json] [--currency CUR] <command> [args]
 *   resellerctl --help                 every command, one line each
 *   resellerctl <command> --help       the command's flags
 *
 * Each command is one RPC (two when a money argument needs the reseller's currency and
 * --currency was not given: GetQuota tells it). Requests are built from flags only as far as
 * the syntax goes: amounts, times, enum names and numbers are parsed here (a typo is a usage
 * error), but business rules (required fields, ranges, currency) are the server's, so the
 * server's INVALID_ARGUMENT with the offending field is what a user sees for them.
 *
 * Output: aligned tables or "key  value" views by default (money formatted with the currency,
 * times in RFC 3339 UTC, enum values without their type prefix), or with --json the response
 * message in the proto3 JSON mapping (common/rpc/vc_pbjson.h). Lists fetch one page (--limit is the
 * page size) and tell how to get the next; --all follows next_page_token to the end.
 *
 * Mutations that take a request_id generate one when --request-id is missing and print it on
 * stderr first, so that a call whose outcome is unknown (deadline, lost connection) can be
 * retried with the same id without doing the work twice.
 *
 * Exit status: 0 success; 1 the server answered an error (printed as
 * "resellerctl: <CODE>: <message>" on stderr, plus the offending fields), the call failed, or a
 * batch had failed items; 2 usage error. Command functions below return this status directly.
 *
 * Memory: one arena per run owns every request, response and formatted string; it is freed
 * once at exit.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/vc_arena.h"
#include "base/vc_err.h"
#include "base/vc_id.h"
#include "base/vc_money.h"
#include "rpc/vc_pbjson.h"
#include "reseller/v1/customer_service.pb-c.h"
#include "reseller/v1/quota_service.pb-c.h"
#include "reseller/v1/template_service.pb-c.h"
#include "reseller/v1/voucher_service.pb-c.h"
#include "rpc/vc_rpc_client.h"
#include "rpc/vc_rpc_status.h"

#define CTL_PROG        "resellerctl"
#define CTL_FAIL        1
#define CTL_USAGE       2
#define CTL_MAX_POS     4
#define CTL_CLIP        40 /* display columns of free-text table cells */
#define CTL_DEFAULT_TMO 10000

typedef struct ctl ctl;

/* A command-line flag: "--name ARG" (arg = metavar) or a switch "--name" (arg = NULL). */
typedef struct ctl_flag {
    const char *name;
    const char *arg;
    const char *help;
} ctl_flag;

typedef struct ctl_cmd {
    const char *name;     /* "quota", "templates create" */
    const char *synopsis; /* what follows the name in the usage line */
    const char *summary;  /* one line for --help */
    const ctl_flag *flags;
    int min_pos, max_pos;
    int (*run)(ctl *c);
} ctl_cmd;

struct ctl {
    vc_arena *a;
    ProtobufCAllocator *alloc; /* responses unpack into the arena */
    vc_rpc_client *cli;
    const char *addr, *token, *currency_flag;
    int64_t timeout_ms;
    bool json, help, dashdash;
    char currency[4]; /* "" until known */
    const ctl_cmd *cmd;
    const char *group; /* "templates" when only the group was named */
    const char **val;  /* per cmd->flags entry: the value, "" for a switch, NULL if absent */
    const char *pos[CTL_MAX_POS];
    int npos;
};

/* ---- small helpers ------------------------------------------------------------------------- */

static void *ctl_oom(void)
{
    fprintf(stderr, CTL_PROG ": out of memory\n");
    exit(CTL_FAIL);
}

static void *ctl_alloc(ctl *c, size_t n)
{
    void *p = vc_arena_calloc(c->a, 1, n);
    return p ? p : ctl_oom();
}

static char *ctl_printf(ctl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *ctl_printf(ctl *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vc_arena_vsprintf(c->a, fmt, ap);
    va_end(ap);
    return s ? s : ctl_oom();
}

static int usage_error(ctl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage_error(ctl *c, const char *fmt, ...)
{
    fputs(CTL_PROG ": ", stderr);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (c->cmd)
        fprintf(stderr, "\nTry '" CTL_PROG " %s --help'.\n", c->cmd->name);
    else
        fprintf(stderr, "\nTry '" CTL_PROG " --help'.\n");
    return CTL_USAGE;
}

static int flag_index(const ctl_flag *flags, const char *name, size_t len)
{
    for (int i = 0; flags && flags[i].name; i++)
        if (strlen(flags[i].name) == len && strncmp(flags[i].name, name, len) == 0) return i;
    return -1;
}

/* The value of flag `name` of the running command, NULL when not given. Asking for a flag the
   command does not declare is a programming error, caught by any test that runs the path. */
static const char *opt(const ctl *c, const char *name)
{
    int i = flag_index(c->cmd->flags, name, strlen(name));
    if (i < 0) {
        fprintf(stderr, CTL_PROG ": internal error: %s has no flag --%s\n", c->cmd->name, name);
        abort();
    }
    return c->val[i];
}

/* Like opt() for a flag only some commands declare: NULL when this one does not. */
static const char *opt_if_declared(const ctl *c, const char *name)
{
    int i = flag_index(c->cmd->flags, name, strlen(name));
    return i < 0 ? NULL : c->val[i];
}

static bool has(const ctl *c, const char *name)
{
    return opt(c, name) != NULL;
}

static const char *opt_or(const ctl *c, const char *name, const char *dflt)
{
    const char *v = opt(c, name);
    return v ? v : dflt;
}

/* Parses --name as an integer in lo..hi into *out (untouched when the flag is absent). */
static int int_arg(ctl *c, const char *name, int64_t lo, int64_t hi, int64_t *out)
{
    const char *v = opt(c, name);
    if (!v) return 0;
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || end == v || *end || n < lo || n > hi)
        return usage_error(c, "--%s: expected an integer in %lld..%lld, got \"%s\"", name,
                           (long long)lo, (long long)hi, v);
    *out = n;
    return 0;
}

static int int32_arg(ctl *c, const char *name, int32_t *out)
{
    int64_t v = *out;
    int st = int_arg(c, name, INT32_MIN, INT32_MAX, &v);
    *out = (int32_t)v;
    return st;
}

/* Splits "a,b,c" into arena strings; empty items are dropped. */
static char **split(ctl *c, const char *s, size_t *n)
{
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    char **v = ctl_alloc(c, cap * sizeof(*v));
    *n = 0;
    while (*s) {
        size_t len = strcspn(s, ",");
        if (len) {
            v[*n] = vc_arena_strndup(c->a, s, len);
            if (!v[(*n)++]) ctl_oom();
        }
        s += len + (s[len] == ',');
    }
    return v;
}

static char *join(ctl *c, char *const *v, size_t n, const char *sep)
{
    char *s = "";
    for (size_t i = 0; i < n; i++)
        s = ctl_printf(c, "%s%s%s", s, i ? sep : "", v[i]);
    return s;
}

/* ---- enums ---------------------------------------------------------------------------------- */

/* Length of the type prefix of d's value names: "VOUCHER_STATUS_" from
   VOUCHER_STATUS_UNSPECIFIED (buf.build STANDARD lint guarantees that zero value). */
static size_t enum_prefix(const ProtobufCEnumDescriptor *d)
{
    const ProtobufCEnumValue *z = protobuf_c_enum_descriptor_get_value(d, 0);
    if (!z) return 0;
    size_t n = strlen(z->name), u = strlen("UNSPECIFIED");
    return n > u && strcmp(z->name + n - u, "UNSPECIFIED") == 0 ? n - u : 0;
}

/* "PENDING_REVIEW" for VOUCHER_STATUS_PENDING_REVIEW; "-" for the zero value. */
static const char *enum_name(ctl *c, const ProtobufCEnumDescriptor *d, int v)
{
    if (v == 0) return "-";
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, v);
    return ev ? ev->name + enum_prefix(d) : ctl_printf(c, "%d", v);
}

/* Case-insensitive, '-' = '_': the short name ("pending_review"), the full name, or a unique
   prefix of the short name ("provider" for PROVIDER_FUNDED). Never the zero value. */
static int enum_parse(const ProtobufCEnumDescriptor *d, const char *text, int *out)
{
    size_t pre = enum_prefix(d), tlen = strlen(text);
    char norm[64];
    if (tlen == 0 || tlen >= sizeof(norm)) return VC_EINVAL;
    for (size_t i = 0; i <= tlen; i++)
        norm[i] = text[i] == '-' ? '_' : text[i];
    int found = 0, hits = 0;
    for (unsigned i = 0; i < d->n_values; i++) {
        const ProtobufCEnumValue *ev = &d->values[i];
        if (ev->value == 0) continue;
        if (strcasecmp(norm, ev->name + pre) == 0 || strcasecmp(norm, ev->name) == 0) {
            *out = ev->value;
            return 0;
        }
        if (strncasecmp(norm, ev->name + pre, tlen) == 0) {
            found = ev->value;
            hits++;
        }
    }
    if (hits != 1) return VC_EINVAL;
    *out = found;
    return 0;
}

/* The accepted names of d, lower-case, for error messages. */
static char *enum_choices(ctl *c, const ProtobufCEnumDescriptor *d)
{
    char *s = "";
    size_t pre = enum_prefix(d);
    for (unsigned i = 0; i < d->n_values; i++) {
        if (d->values[i].value == 0) continue;
        char *n = ctl_printf(c, "%s", d->values[i].name + pre);
        for (char *p = n; *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
        s = ctl_printf(c, "%s%s%s", s, *s ? ", " : "", n);
    }
    return s;
}

/* Parses --name as one value of d into *out (untouched when absent). */
static int enum_arg(ctl *c, const char *name, const ProtobufCEnumDescriptor *d, int *out)
{
    const char *v = opt(c, name);
    if (v && enum_parse(d, v, out) != 0)
        return usage_error(c, "--%s: \"%s\" is not one of: %s", name, v, enum_choices(c, d));
    return 0;
}

/* Parses --name as a comma-separated list of values of d into *arr, an array of int (the size
   of every protobuf-c enum) for the request's repeated enum field; untouched when absent. */
static int enum_list_arg(ctl *c, const char *name, const ProtobufCEnumDescriptor *d, void **arr,
                         size_t *n)
{
    const char *v = opt(c, name);
    if (!v) return 0;
    size_t k;
    char **items = split(c, v, &k);
    int *vals = ctl_alloc(c, (k ? k : 1) * sizeof(int));
    for (size_t i = 0; i < k; i++)
        if (enum_parse(d, items[i], &vals[i]) != 0)
            return usage_error(c, "--%s: \"%s\" is not one of: %s", name, items[i],
                               enum_choices(c, d));
    *arr = vals;
    *n = k;
    return 0;
}

/* ---- money and time ------------------------------------------------------------------------- */

/* "1,234,567.89 CNY": vc_money_format's text with thousands grouped for reading. */
static const char *money(ctl *c, int64_t minor, const char *cur)
{
    char raw[VC_MONEY_FMT_MAX];
    if (vc_money_format(minor, cur, raw, sizeof(raw)) != 0)
        return ctl_printf(c, "%lld (minor units)", (long long)minor);
    size_t digits = strspn(raw + (raw[0] == '-'), "0123456789");
    char *out = ctl_alloc(c, sizeof(raw) + digits / 3 + 1);
    const char *p = raw;
    char *o = out;
    if (*p == '-') *o++ = *p++;
    for (size_t i = 0; i < digits; i++) {
        if (i && (digits - i) % 3 == 0) *o++ = ',';
        *o++ = *p++;
    }
    memcpy(o, p, strlen(p) + 1); /* the decimals and the currency */
    return out;
}

/* Ledger amounts carry their sign both ways: "+100.00 CNY", "-100.00 CNY". */
static const char *signed_money(ctl *c, int64_t minor, const char *cur)
{
    const char *m = money(c, minor, cur);
    return minor > 0 ? ctl_printf(c, "+%s", m) : m;
}

/* RFC 3339 UTC to the second; "-" when unset. */
static const char *ts(ctl *c, const Google__Protobuf__Timestamp *t)
{
    char buf[VC_PBJSON_TS_MAX];
    if (!t) return "-";
    if (vc_pbjson_timestamp(t->seconds, 0, buf, sizeof(buf)) != 0)
        return ctl_printf(c, "@%lld", (long long)t->seconds);
    return ctl_printf(c, "%s", buf);
}

static int ts_arg(ctl *c, const char *name, Google__Protobuf__Timestamp **out)
{
    const char *v = opt(c, name);
    if (!v) return 0;
    int64_t s;
    int32_t ns;
    if (vc_pbjson_parse_timestamp(v, &s, &ns) != 0)
        return usage_error(c, "--%s: \"%s\" is not an RFC 3339 time (2024-05-01T08:00:00Z)", name,
                           v);
    Google__Protobuf__Timestamp *t = ctl_alloc(c, sizeof(*t));
    google__protobuf__timestamp__init(t);
    t->seconds = s;
    t->nanos = ns;
    *out = t;
    return 0;
}

/* ---- calling the server --------------------------------------------------------------------- */

static void print_status(ctl *c, const char *path, const vc_rpc_result *res)
{
    fprintf(stderr, CTL_PROG ": %s: %s", vc_grpc_code_name(res->code),
            res->message[0] ? res->message : path);
    if (res->fields[0]) fprintf(stderr, " (fields: %s)", res->fields);
    fputc('\n', stderr);
    if (res->code == VC_GRPC_UNAVAILABLE)
        fprintf(stderr, CTL_PROG ": is reseller-svc running at %s? (--addr, RESELLER_ADDR)\n",
                c->addr);
    if (res->code == VC_GRPC_UNAUTHENTICATED && !c->token)
        fprintf(stderr, CTL_PROG ": no token: pass --token or set TOKEN_RESELLER\n");
}

/* Calls path with req; on success *resp (a pointer to a response message pointer) holds the
   arena-owned reply and 0 is returned, else the error is printed and the exit status returned.
   `retry` = the method is safe to repeat (reads, request_id mutations): UNAVAILABLE is retried. */
static int call(ctl *c, const char *path, const ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *rd, void *resp, bool retry,
                const char *request_id)
{
    vc_rpc_call_opts o = {.bearer = c->token,
                          .request_id = request_id,
                          .timeout_ms = (int)c->timeout_ms,
                          .max_attempts = retry ? 3 : 1};
    vc_rpc_result res;
    int rc = vc_rpc_client_unary(c->cli, path, req, rd, c->alloc, resp, &o, &res);
    if (rc < 0) {
        fprintf(stderr, CTL_PROG ": %s: %s\n", path, vc_strerror(rc));
        return CTL_FAIL;
    }
    if (res.code != VC_GRPC_OK) {
        print_status(c, path, &res);
        return CTL_FAIL;
    }
    return 0;
}

static int print_json(const ProtobufCMessage *m)
{
    char *s = NULL;
    int rc = vc_pbjson_dumps(m, JSON_INDENT(2), &s);
    if (rc != 0) {
        fprintf(stderr, CTL_PROG ": cannot render JSON: %s\n", vc_strerror(rc));
        return CTL_FAIL;
    }
    puts(s);
    free(s);
    return 0;
}

/* --request-id, or a fresh UUID announced on stderr so that the user can retry with it. */
static const char *request_id(ctl *c)
{
    const char *v = opt(c, "request-id");
    if (v) return v;
    char *id = ctl_alloc(c, VC_UUID_LEN);
    if (vc_uuid_new(id) != 0) {
        fprintf(stderr, CTL_PROG ": no randomness for a request id; pass --request-id\n");
        exit(CTL_FAIL);
    }
    fprintf(stderr, CTL_PROG ": request id %s (retry with --request-id %s)\n", id, id);
    return id;
}

/* The reseller's settlement currency: --currency, else what GetQuota reports. */
static int need_currency(ctl *c)
{
    if (c->currency[0]) return 0;
    Reseller__V1__GetQuotaRequest req = RESELLER__V1__GET_QUOTA_REQUEST__INIT;
    const char *reseller = opt_if_declared(c, "reseller"); /* staff acting for a reseller */
    req.reseller_id = (char *)(reseller ? reseller : "");
    Reseller__V1__GetQuotaResponse *r;
    int st = call(c, "/reseller.v1.QuotaService/GetQuota", &req.base,
                  &reseller__v1__get_quota_response__descriptor, &r, true, NULL);
    if (st) {
        fprintf(stderr, CTL_PROG ": cannot learn the reseller's currency; pass --currency\n");
        return st;
    }
    if (!vc_currency_valid(r->currency_code)) {
        fprintf(stderr, CTL_PROG ": server reported currency \"%s\"; pass --currency\n",
                r->currency_code);
        return CTL_FAIL;
    }
    memcpy(c->currency, r->currency_code, 4);
    return 0;
}

/* Parses money flag --name ("1000.00", major units) in the reseller's currency. */
static int money_arg(ctl *c, const char *name, int64_t *out)
{
    const char *v = opt(c, name);
    if (!v) return 0;
    int st = need_currency(c);
    if (st) return st;
    int exp = vc_currency_exponent(c->currency);
    int rc = vc_money_parse(v, exp, out);
    if (rc == VC_EOVERFLOW) return usage_error(c, "--%s: amount \"%s\" is too large", name, v);
    if (rc != 0)
        return usage_error(c, "--%s: \"%s\" is not an amount in %s (digits, at most %d decimals)",
                           name, v, c->currency, exp);
    return 0;
}

/* ---- tables --------------------------------------------------------------------------------- */

/* Columns a terminal gives the UTF-8 text: CJK and full-width forms take two. */
static size_t cp_width(uint32_t cp)
{
    if ((cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0xA4CF) ||
        (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) ||
        (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF60) ||
        (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x20000 && cp <= 0x3FFFD))
        return 2;
    return 1;
}

/* Decodes one code point at s (lenient: the bytes come from our own server). */
static size_t utf8_next(const char *s, uint32_t *cp)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = p[0] < 0x80 ? 1 : p[0] < 0xE0 ? 2 : p[0] < 0xF0 ? 3 : 4;
    *cp = len == 1 ? p[0] : p[0] & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) return i;
        *cp = (*cp << 6) | (p[i] & 0x3F);
    }
    return len;
}

static size_t text_width(const char *s)
{
    size_t w = 0;
    uint32_t cp;
    while (*s) {
        s += utf8_next(s, &cp);
        w += cp_width(cp);
    }
    return w;
}

/* A copy of s fit for one table cell: control characters become spaces, and with max > 0 text
   wider than max columns is cut with "...". */
static const char *cell(ctl *c, const char *s, size_t max)
{
    if (!s || !*s) return "-";
    char *o = vc_arena_strdup(c->a, s);
    if (!o) ctl_oom();
    for (char *p = o; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7F) *p = ' ';
    if (max == 0 || text_width(o) <= max) return o;
    size_t w = 0, i = 0;
    uint32_t cp;
    while (o[i]) {
        size_t len = utf8_next(o + i, &cp);
        if (w + cp_width(cp) > max - 3) break;
        w += cp_width(cp);
        i += len;
    }
    return ctl_printf(c, "%.*s...", (int)i, o);
}

typedef struct ctl_table {
    ctl *c;
    size_t ncols;
    const char *align; /* per column: 'l' left, 'r' right, 't' left and clipped free text */
    const char **cells;
    size_t n, cap; /* cells used / allocated; row r is cells[r * ncols ...] */
} ctl_table;

static void table_init(ctl_table *t, ctl *c, const char *align)
{
    *t = (ctl_table){.c = c, .ncols = strlen(align), .align = align};
}

/* Appends one row of t->ncols strings (NULL or "" shows "-"). */
static void table_row(ctl_table *t, ...)
{
    if (t->n + t->ncols > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : t->ncols * 16;
        const char **cells = ctl_alloc(t->c, cap * sizeof(*cells));
        if (t->n) memcpy(cells, t->cells, t->n * sizeof(*cells));
        t->cells = cells;
        t->cap = cap;
    }
    bool header = t->n == 0; /* the header row is printed as given */
    va_list ap;
    va_start(ap, t);
    for (size_t i = 0; i < t->ncols; i++) {
        const char *s = va_arg(ap, const char *);
        t->cells[t->n + i] = header ? s : cell(t->c, s, t->align[i] == 't' ? CTL_CLIP : 0);
    }
    va_end(ap);
    t->n += t->ncols;
}

static void table_print(const ctl_table *t)
{
    size_t rows = t->n / t->ncols;
    size_t *w = ctl_alloc(t->c, t->ncols * sizeof(*w));
    for (size_t i = 0; i < t->n; i++) {
        size_t tw = text_width(t->cells[i]);
        if (tw > w[i % t->ncols]) w[i % t->ncols] = tw;
    }
    for (size_t r = 0; r < rows; r++) {
        for (size_t k = 0; k < t->ncols; k++) {
            const char *s = t->cells[r * t->ncols + k];
            size_t pad = w[k] - text_width(s);
            bool last = k + 1 == t->ncols;
            if (t->align[k] == 'r') printf("%*s", (int)pad, "");
            fputs(s, stdout);
            if (t->align[k] != 'r' && !last) printf("%*s", (int)pad, "");
            if (!last) fputs("  ", stdout);
        }
        putchar('\n');
    }
    if (rows <= 1) puts("(none)");
}

/* One "key  value" line of a detail view; empty values show "-". */
static void kv(const char *key, const char *value)
{
    printf("%-18s %s\n", key, value && *value ? value : "-");
}

/* ---- list paging ---------------------------------------------------------------------------- */

typedef void (*ctl_row_fn)(ctl *c, ctl_table *t, const ProtobufCMessage *item);

typedef struct ctl_list {
    const char *path;
    ProtobufCMessage *req; /* a List request: page_size and page_token are set here */
    const ProtobufCMessageDescriptor *resp_desc;
    const char *items; /* the repeated field of the response */
    ctl_table *table;  /* header row already added */
    ctl_row_fn row;
} ctl_list;

/* Address of a field (or of its quantifier: n_ count, has_ flag, oneof case) found by name: list
   requests and responses share field names but not C types. */
static void *member_at(const ProtobufCMessage *m, const char *field, bool quantifier)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, field);
    if (!f) {
        fprintf(stderr, CTL_PROG ": internal error: %s has no field %s\n", m->descriptor->name,
                field);
        abort();
    }
    return (char *)m + (quantifier ? f->quantifier_offset : f->offset);
}

/* --all: appends the items of one more page to the JSON of the first page, so that the output
   is one response message holding every item (and no nextPageToken). */
static int json_merge(json_t **acc, const ProtobufCMessage *page, const char *items)
{
    json_t *j = NULL;
    char key[64];
    vc_pbjson_field_name(items, key, sizeof(key));
    int rc = vc_pbjson_render(page, &j);
    if (rc != 0) return rc;
    json_object_del(j, "nextPageToken");
    if (!*acc) {
        *acc = j;
        return 0;
    }
    json_t *more = json_object_get(j, key), *all = json_object_get(*acc, key);
    if (more && !all)
        rc = json_object_set(*acc, key, more) ? VC_ENOMEM : 0;
    else if (more)
        rc = json_array_extend(all, more) ? VC_ENOMEM : 0;
    json_decref(j);
    return rc;
}

static int list_print_json(json_t *j)
{
    char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
    json_decref(j);
    if (!s) return CTL_FAIL;
    puts(s);
    free(s);
    return 0;
}

/* Runs a list RPC honouring --limit, --page-token and --all; prints a table or JSON. */
static int list_run(ctl *c, ctl_list *l)
{
    int64_t limit = 0;
    int st = int_arg(c, "limit", 1, 1000, &limit);
    if (st) return st;
    char **page_token = member_at(l->req, "page_token", false);
    *(int32_t *)member_at(l->req, "page_size", false) = (int32_t)limit;
    *page_token = (char *)opt_or(c, "page-token", "");
    bool all = has(c, "all");
    json_t *acc = NULL;
    const char *next = "";
    for (;;) {
        ProtobufCMessage *resp;
        st = call(c, l->path, l->req, l->resp_desc, &resp, true, NULL);
        if (st) break;
        size_t n = *(const size_t *)member_at(resp, l->items, true);
        ProtobufCMessage *const *items =
            *(ProtobufCMessage *const *const *)member_at(resp, l->items, false);
        const char *prev = next;
        next = *(char *const *)member_at(resp, "next_page_token", false);
        if (c->json && all && json_merge(&acc, resp, l->items) != 0)
            st = CTL_FAIL;
        else if (c->json && !all)
            st = print_json(resp);
        for (size_t i = 0; !c->json && i < n; i++)
            l->row(c, l->table, items[i]);
        if (st || !all || !next || !*next) break;
        if (strcmp(prev, next) == 0) {
            fprintf(stderr, CTL_PROG ": server repeated page token \"%s\"; stopping\n", next);
            st = CTL_FAIL;
            break;
        }
        *page_token = (char *)next;
    }
    if (c->json) {
        if (all && st == 0) return list_print_json(acc);
        json_decref(acc);
        return st;
    }
    if (st) return st;
    table_print(l->table);
    if (!all && next && *next) printf("more: --page-token %s (or --all)\n", next);
    return 0;
}

/* clang-format off */
#define PAGE_FLAGS                                                                                 \
    {"limit", "N", "page size, 1-1000 (server default 50)"},                                       \
    {"page-token", "T", "continue after a previous page"},                                         \
    {"all", NULL, "follow next_page_token to the last page"}
/* clang-format on */

/* ---- quota ---------------------------------------------------------------------------------- */

static const ctl_flag quota_flags[] = {
    {"reseller", "ID", "reseller id (staff/service tokens; a reseller token acts for itself)"},
    {0}};

static int cmd_quota(ctl *c)
{
    Reseller__V1__GetQuotaRequest req = RESELLER__V1__GET_QUOTA_REQUEST__INIT;
    req.reseller_id = (char *)opt_or(c, "reseller", "");
    Reseller__V1__GetQuotaResponse *r;
    int st = call(c, "/reseller.v1.QuotaService/GetQuota", &req.base,
                  &reseller__v1__get_quota_response__descriptor, &r, true, NULL);
    if (st || c->json) return st ? st : print_json(&r->base);
    const char *cur = r->currency_code;
    Reseller__V1__VoucherQuota vq = RESELLER__V1__VOUCHER_QUOTA__INIT;
    Reseller__V1__CreditPool cp = RESELLER__V1__CREDIT_POOL__INIT;
    const Reseller__V1__VoucherQuota *q = r->voucher_quota ? r->voucher_quota : &vq;
    const Reseller__V1__CreditPool *p = r->credit_pool ? r->credit_pool : &cp;
    printf("reseller %s, currency %s\n\n", r->reseller_id, cur);
    ctl_table t;
    table_init(&t, c, "lrrrrr");
    table_row(&t, "BALANCE", "GRANTED", "CONSUMED", "RETURNED", "ALLOCATED", "REMAINING");
    table_row(&t, "voucher quota", money(c, q->granted_minor, cur),
              money(c, q->consumed_minor, cur), money(c, q->returned_minor, cur), "-",
              money(c, q->remaining_minor, cur));
    table_row(&t, "credit pool", money(c, p->granted_minor, cur), "-", "-",
              money(c, p->allocated_minor, cur), money(c, p->remaining_minor, cur));
    table_print(&t);
    printf("\nown-cost issued    %s\n", money(c, r->own_cost_issued_minor, cur));
    return 0;
}

static void entry_row(ctl *c, ctl_table *t, const ProtobufCMessage *m)
{
    const Reseller__V1__LedgerEntry *e = (const Reseller__V1__LedgerEntry *)m;
    table_row(t, ts(c, e->create_time),
              enum_name(c, &reseller__v1__quota_kind__descriptor, e->account),
              enum_name(c, &reseller__v1__ledger_entry_kind__descriptor, e->kind),
              signed_money(c, e->amount_minor, e->currency_code),
              money(c, e->balance_after_minor, e->currency_code), e->reference_id, e->reason);
}

/* quota|pool, or the QuotaKind names. */
static int kind_arg(ctl *c, const char *name, int *out)
{
    const char *v = opt(c, name);
    if (!v) return 0;
    if (strcasecmp(v, "quota") == 0)
        *out = RESELLER__V1__QUOTA_KIND__QUOTA_KIND_VOUCHER_QUOTA;
    else if (strcasecmp(v, "pool") == 0)
        *out = RESELLER__V1__QUOTA_KIND__QUOTA_KIND_CREDIT_POOL;
    else if (enum_parse(&reseller__v1__quota_kind__descriptor, v, out) != 0)
        return usage_error(c, "--%s: expected quota or pool, got \"%s\"", name, v);
    return 0;
}

static const ctl_flag entries_flags[] = {
    {"account", "quota|pool", "only movements of the voucher quota or the credit pool"},
    {"kind", "K[,K]", "only these kinds: grant, consume, return, allocate, deallocate"},
    {"reference", "ID", "only movements about this voucher, batch, application or allocation"},
    {"reseller", "ID", "reseller id (staff/service tokens)"},
    PAGE_FLAGS,
    {0}};

static int cmd_entries(ctl *c)
{
    Reseller__V1__ListQuotaEntriesRequest req = RESELLER__V1__LIST_QUOTA_ENTRIES_REQUEST__INIT;
    int account = 0;
    void *kinds = NULL;
    int st = kind_arg(c, "account", &account);
    if (!st)
        st = enum_list_arg(c, "kind", &reseller__v1__ledger_entry_kind__descriptor, &kinds,
                           &req.n_kinds);
    if (st) return st;
    req.account = account;
    req.kinds = kinds;
    req.reference_id = (char *)opt_or(c, "reference", "");
    req.reseller_id = (char *)opt_or(c, "reseller", "");
    ctl_table t;
    table_init(&t, c, "lllrrlt");
    table_row(&t, "TIME", "ACCOUNT", "KIND", "AMOUNT", "BALANCE AFTER", "REFERENCE", "REASON");
    ctl_list l = {.path = "/reseller.v1.QuotaService/ListQuotaEntries",
                  .req = &req.base,
                  .resp_desc = &reseller__v1__list_quota_entries_response__descriptor,
                  .items = "entries",
                  .table = &t,
                  .row = entry_row};
    return list_run(c, &l);
}

static void show_application(ctl *c, const Reseller__V1__Application *a)
{
    const char *cur = a->currency_code;
    kv("application", a->application_id);
    kv("kind", enum_name(c, &reseller__v1__quota_kind__descriptor, a->kind));
    kv("state", enum_name(c, &reseller__v1__application_state__descriptor, a->state));
    kv("requested", money(c, a->requested_amount_minor, cur));
    if (a->state == RESELLER__V1__APPLICATION_STATE__APPLICATION_STATE_APPROVED)
        kv("granted", money(c, a->granted_amount_minor, cur));
    kv("justification", a->justification);
    kv("ticket", a->ticket_id);
    kv("submitted", ts(c, a->submit_time));
    kv("due", ts(c, a->due_time));
    if (a->decide_time) {
        kv("decided", ts(c, a->decide_time));
        kv("decided by", a->decided_by);
        kv("reason", a->reason);
    }
    kv("request id", a->request_id);
}

static const ctl_flag apply_flags[] = {
    {"kind", "quota|pool", "voucher quota or customer-credit pool"},
    {"amount", "AMOUNT", "amount in major units, e.g. 1000.00"},
    {"reason", "TEXT", "justification shown to the reviewer"},
    {"reseller", "ID", "reseller id (staff/service tokens)"},
    {"request-id", "ID", "idempotency key (generated and printed when absent)"},
    {0}};

static int cmd_apply(ctl *c)
{
    Reseller__V1__ApplyForQuotaRequest req = RESELLER__V1__APPLY_FOR_QUOTA_REQUEST__INIT;
    int kind = 0;
    int st = need_currency(c);
    if (!st) st = kind_arg(c, "kind", &kind);
    if (!st) st = money_arg(c, "amount", &req.amount_minor);
    if (st) return st;
    req.kind = kind;
    req.currency_code = c->currency;
    req.justification = (char *)opt_or(c, "reason", "");
    req.reseller_id = (char *)opt_or(c, "reseller", "");
    req.request_id = (char *)request_id(c);
    Reseller__V1__ApplyForQuotaResponse *r;
    st = call(c, "/reseller.v1.QuotaService/ApplyForQuota", &req.base,
              &reseller__v1__apply_for_quota_response__descriptor, &r, true, req.request_id);
    if (st || c->json) return st ? st : print_json(&r->base);
    if (r->application) show_application(c, r->application);
    return 0;
}

static void application_row(ctl *c, ctl_table *t, const ProtobufCMessage *m)
{
    const Reseller__V1__Application *a = (const Reseller__V1__Application *)m;
    bool approved = a->state == RESELLER__V1__APPLICATION_STATE__APPLICATION_STATE_APPROVED;
    table_row(t, a->application_id, enum_name(c, &reseller__v1__quota_kind__descriptor, a->kind),
              money(c, a->requested_amount_minor, a->currency_code),
              approved ? money(c, a->granted_amount_minor, a->currency_code) : "-",
              enum_name(c, &reseller__v1__application_state__descriptor, a->state),
              ts(c, a->submit_time), ts(c, a->due_time),
              a->direct_grant ? ctl_printf(c, "[direct grant] %s", a->justification)
                              : a->justification);
}

static const ctl_flag applications_flags[] = {
    {"kind", "quota|pool", "only applications for this balance"},
    {"state", "S[,S]", "only these states: pending, approved, rejected, cancelled"},
    {"reseller", "ID", "reseller id (staff/service tokens)"},
    PAGE_FLAGS,
    {0}};

static int cmd_applications(ctl *c)
{
    Reseller__V1__ListApplicationsRequest req = RESELLER__V1__LIST_APPLICATIONS_REQUEST__INIT;
    int kind = 0;
    void *states = NULL;
    int st = kind_arg(c, "kind", &kind);
    if (!st)
        st = enum_list_arg(c, "state", &reseller__v1__application_state__descriptor, &states,
                           &req.n_states);
    if (st) return st;
    req.kind = kind;
    req.states = states;
    req.reseller_id = (char *)opt_or(c, "reseller", "");
    ctl_table t;
    table_init(&t, c, "llrrlllt");
    table_row(&t, "APPLICATION", "KIND", "REQUESTED", "GRANTED", "STATE", "SUBMITTED", "DUE",
              "JUSTIFICATION");
    ctl_list l = {.path = "/reseller.v1.QuotaService/ListApplications",
                  .req = &req.base,
                  .resp_desc = &reseller__v1__list_applications_response__descriptor,
                  .items = "applications",
                  .table = &t,
                  .row = application_row};
    return list_run(c, &l);
}

/* ---- templates ------------------------------------------------------------------------------ */

static const char *scope_text(ctl *c, const Reseller__V1__ProductScope *s)
{
    if (!s) return "-";
    if (s->kind == RESELLER__V1__PRODUCT_SCOPE_KIND__PRODUCT_SCOPE_KIND_ALL_PRODUCTS)
        return s->n_excluded_product_codes ? ctl_printf(c, "all products except %s",
                                                        join(c, s->excluded_product_codes,
                                                             s->n_excluded_product_codes, ", "))
                                           : "all products";
    return join(c, s->product_codes, s->n_product_codes, ", ");
}

static const char *modes_text(ctl *c, const Reseller__V1__PaymentMode *m, size_t n)
{
    char *s = "";
    for (size_t i = 0; i < n; i++)
        s = ctl_printf(c, "%s%s%s", s, i ? ", " : "",
                       enum_name(c, &reseller__v1__payment_mode__descriptor, (int)m[i]));
    return s;
}

static const char *validity_text(ctl *c, const Reseller__V1__Validity *v)
{
    if (!v) return "-";
    if (v->period_case == RESELLER__V1__VALIDITY__PERIOD_DAYS_AFTER_ACTIVATION)
        return ctl_printf(c, "%d days after activation", v->days_after_activation);
    if (v->period_case == RESELLER__V1__VALIDITY__PERIOD_FIXED_WINDOW && v->fixed_window)
        return ctl_printf(c, "%s to %s", ts(c, v->fixed_window->start_time),
                          ts(c, v->fixed_window->end_time));
    return "-";
}

static const char *conditions_text(ctl *c, const Reseller__V1__UsageConditions *u, const char *cur)
{
    if (!u) return "-";
    const char *s = enum_name(c, &reseller__v1__use_limit__descriptor, u->use_limit);
    if (u->min_order_amount_minor)
        s = ctl_printf(c, "%s; min order %s", s, money(c, u->min_order_amount_minor, cur));
    if (u->min_purchase_months || u->max_purchase_months)
        s = ctl_printf(c, "%s; prepaid %s..%s months", s,
                       u->min_purchase_months ? ctl_printf(c, "%d", u->min_purchase_months) : "",
                       u->max_purchase_months ? ctl_printf(c, "%d", u->max_purchase_months) : "");
    return s;
}

static void show_template(ctl *c, const Reseller__V1__Template *t)
{
    kv("template", t->template_id);
    kv("name", t->name);
    kv("face value", money(c, t->face_value_minor, t->currency_code));
    kv("funding", enum_name(c, &reseller__v1__funding__descriptor, t->funding));
    kv("products", scope_text(c, t->product_scope));
    kv("payment modes", modes_text(c, t->payment_modes, t->n_payment_modes));
    kv("validity", validity_text(c, t->validity));
    kv("conditions", conditions_text(c, t->conditions, t->currency_code));
    kv("remarks", t->remarks);
    kv("state", enum_name(c, &reseller__v1__template_state__descriptor, t->state));
    kv("issued", ctl_printf(c, "%lld", (long long)t->issued_count));
    kv("etag", t->etag);
    kv("created", ts(c, t->create_time));
    kv("updated", ts(c, t->update_time));
}

static void template_row(ctl *c, ctl_table *t, const ProtobufCMessage *m)
{
    const Reseller__V1__Template *p = (const Reseller__V1__Template *)m;
    table_row(t, p->template_id, p->name, money(c, p->face_value_minor, p->currency_code),
              enum_name(c, &reseller__v1__funding__descriptor, p->funding),
              enum_name(c, &reseller__v1__template_state__descriptor, p->state),
              ctl_printf(c, "%lld", (long long)p->issued_count), ts(c, p->create_time));
}

static const ctl_flag tpl_list_flags[] = {{"name", "S", "name contains S (case-insensitive)"},
                                          {"product", "P", "scope covers product code P"},
                                          {"state", "editable|locked", "edit state"},
                                          {"funding", "provider|reseller", "who pays"},
                                          {"from", "RFC3339", "created at or after"},
                                          {"until", "RFC3339", "created before"},
                                          PAGE_FLAGS,
                                          {0}};

/* --from/--until as a TimeRange (NULL when neither is given). */
static int range_arg(ctl *c, Reseller__V1__TimeRange **out)
{
    if (!has(c, "from") && !has(c, "until")) return 0;
    Reseller__V1__TimeRange *r = ctl_alloc(c, sizeof(*r));
    reseller__v1__time_range__init(r);
    int st = ts_arg(c, "from", &r->start_time);
    if (!st) st = ts_arg(c, "until", &r->end_time);
    *out = r;
    return st;
}

static int cmd_tpl_list(ctl *c)
{
    Reseller__V1__ListTemplatesRequest req = RESELLER__V1__LIST_TEMPLATES_REQUEST__INIT;
    int state = 0, funding = 0;
    int st = enum_arg(c, "state", &reseller__v1__template_state__descriptor, &state);
    if (!st) st = enum_arg(c, "funding", &reseller__v1__funding__descriptor, &funding);
    if (!st) st = range_arg(c, &req.create_time);
    if (st) return st;
    req.state = state;
    req.funding = funding;
    req.name = (char *)opt_or(c, "name", "");
    req.product_code = (char *)opt_or(c, "product", "");
    ctl_table t;
    table_init(&t, c, "ltrllrl");
    table_row(&t, "TEMPLATE", "NAME", "FACE VALUE", "FUNDING", "STATE", "ISSUED", "CREATED");
    ctl_list l = {.path = "/reseller.v1.TemplateService/ListTemplates",
                  .req = &req.base,
                  .resp_desc = &reseller__v1__list_templates_response__descriptor,
                  .items = "templates",
                  .table = &t,
                  .row = template_row};
    return list_run(c, &l);
}

static int cmd_tpl_get(ctl *c)
{
    Reseller__V1__GetTemplateRequest req = RESELLER__V1__GET_TEMPLATE_REQUEST__INIT;
    req.template_id = (char *)c->pos[0];
    Reseller__V1__GetTemplateResponse *r;
    int st = call(c, "/reseller.v1.TemplateService/GetTemplate", &req.base,
                  &reseller__v1__get_template_response__descriptor, &r, true, NULL);
    if (st || c->json) return st ? st : print_json(&r->base);
    if (r->template_) show_template(c, r->template_);
    return 0;
}

/* clang-format off */
#define TEMPLATE_FLAGS                                                                             \
    {"name", "N", "display name"},                                                                 \
    {"face", "AMOUNT", "face value in major units, e.g. 100.00"},                                  \
    {"funding", "provider|reseller", "provider-funded (reviewed, uses quota) or own cost"},        \
    {"products", "a,b", "only these product codes"},                                               \
    {"all", NULL, "all products (with --exclude: all but those)"},                                 \
    {"exclude", "x,y", "products excluded from --all"},                                            \
    {"modes", "prepaid,postpaid", "payment modes the voucher applies to"},                         \
    {"days", "N", "valid N days from activation"},                                                 \
    {"from", "RFC3339", "fixed validity window start"},                                            \
    {"until", "RFC3339", "fixed validity window end"},                                             \
    {"min-order", "AMOUNT", "minimum order amount"},                                               \
    {"min-months", "N", "prepaid: shortest purchase duration"},                                    \
    {"max-months", "N", "prepaid: longest purchase duration"},                                     \
    {"multi-use", NULL, "keeps its balance across orders (default single-use)"},                   \
    {"single-use", NULL, "one order uses it"},                                                     \
    {"remarks", "T", "free text"}
/* clang-format on */

/* Records an update_mask path for a flag that was given. */
typedef struct tpl_mask {
    char *paths[16];
    size_t n;
} tpl_mask;

static void mask_add(tpl_mask *m, const char *path)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->paths[i], path) == 0) return;
    m->paths[m->n++] = (char *)path;
}

static int tpl_scope(ctl *c, Reseller__V1__Template *t, tpl_mask *m)
{
    bool products = has(c, "products"), all = has(c, "all"), exclude = has(c, "exclude");
    if (!products && !all && !exclude) return 0;
    if (products && (all || exclude))
        return usage_error(c, "--products cannot be combined with --all/--exclude");
    if (exclude && !all) return usage_error(c, "--exclude needs --all");
    Reseller__V1__ProductScope *s = ctl_alloc(c, sizeof(*s));
    reseller__v1__product_scope__init(s);
    if (products) {
        s->kind = RESELLER__V1__PRODUCT_SCOPE_KIND__PRODUCT_SCOPE_KIND_SPECIFIED_PRODUCTS;
        s->product_codes = split(c, opt(c, "products"), &s->n_product_codes);
    } else {
        s->kind = RESELLER__V1__PRODUCT_SCOPE_KIND__PRODUCT_SCOPE_KIND_ALL_PRODUCTS;
        if (exclude)
            s->excluded_product_codes = split(c, opt(c, "exclude"), &s->n_excluded_product_codes);
    }
    t->product_scope = s;
    mask_add(m, "product_scope");
    return 0;
}

static int tpl_validity(ctl *c, Reseller__V1__Template *t, tpl_mask *m)
{
    bool days = has(c, "days"), window = has(c, "from") || has(c, "until");
    if (!days && !window) return 0;
    if (days && window) return usage_error(c, "give either --days or --from/--until, not both");
    Reseller__V1__Validity *v = ctl_alloc(c, sizeof(*v));
    reseller__v1__validity__init(v);
    int st;
    if (days) {
        v->period_case = RESELLER__V1__VALIDITY__PERIOD_DAYS_AFTER_ACTIVATION;
        st = int32_arg(c, "days", &v->days_after_activation);
    } else {
        v->period_case = RESELLER__V1__VALIDITY__PERIOD_FIXED_WINDOW;
        st = range_arg(c, &v->fixed_window);
    }
    t->validity = v;
    mask_add(m, "validity");
    return st;
}

static int tpl_conditions(ctl *c, Reseller__V1__Template *t, tpl_mask *m, bool send)
{
    static const char *const flags[] = {"min-order", "min-months", "max-months", "multi-use",
                                        "single-use"};
    static const char *const paths[] = {
        "conditions.min_order_amount_minor", "conditions.min_purchase_months",
        "conditions.max_purchase_months", "conditions.use_limit", "conditions.use_limit"};
    if (has(c, "multi-use") && has(c, "single-use"))
        return usage_error(c, "--multi-use and --single-use exclude each other");
    Reseller__V1__UsageConditions *u = ctl_alloc(c, sizeof(*u));
    reseller__v1__usage_conditions__init(u);
    u->use_limit = has(c, "multi-use") ? RESELLER__V1__USE_LIMIT__USE_LIMIT_MULTI_USE
                                       : RESELLER__V1__USE_LIMIT__USE_LIMIT_SINGLE_USE;
    int st = money_arg(c, "min-order", &u->min_order_amount_minor);
    if (!st) st = int32_arg(c, "min-months", &u->min_purchase_months);
    if (!st) st = int32_arg(c, "max-months", &u->max_purchase_months);
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
        if (has(c, flags[i])) {
            mask_add(m, paths[i]);
            send = true;
        }
    if (send) t->conditions = u;
    return st;
}

/* Fills t from the template flags; m collects the update_mask paths of the given ones. On
   create, conditions are always sent (single-use unless --multi-use), like the console does. */
static int tpl_from_flags(ctl *c, Reseller__V1__Template *t, tpl_mask *m, bool create)
{
    int funding = 0;
    void *modes = NULL;
    int st = enum_arg(c, "funding", &reseller__v1__funding__descriptor, &funding);
    if (!st)
        st = enum_list_arg(c, "modes", &reseller__v1__payment_mode__descriptor, &modes,
                           &t->n_payment_modes);
    if (!st) st = money_arg(c, "face", &t->face_value_minor);
    if (!st) st = tpl_scope(c, t, m);
    if (!st) st = tpl_validity(c, t, m);
    if (!st) st = tpl_conditions(c, t, m, create);
    if (st) return st;
    t->funding = funding;
    t->payment_modes = modes;
    static const char *const simple[][2] = {{"name", "name"},
                                            {"face", "face_value_minor"},
                                            {"funding", "funding"},
                                            {"modes", "payment_modes"},
                                            {"remarks", "remarks"}};
    for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
        if (has(c, simple[i][0])) mask_add(m, simple[i][1]);
    t->name = (char *)opt_or(c, "name", "");
    t->remarks = (char *)opt_or(c, "remarks", "");
    return 0;
}

static const ctl_flag tpl_create_flags[] = {
    TEMPLATE_FLAGS,
    {"request-id", "ID", "idempotency key (generated and printed when absent)"},
    {0}};

static int cmd_tpl_create(ctl *c)
{
    Reseller__V1__Template t = RESELLER__V1__TEMPLATE__INIT;
    tpl_mask m = {.n = 0};
    int st = need_currency(c);
    if (!st) st = tpl_from_flags(c, &t, &m, true);
    if (st) return st;
    t.currency_code = c->currency;
    Reseller__V1__CreateTemplateRequest req = RESELLER__V1__CREATE_TEMPLATE_REQUEST__INIT;
    req.template_ = &t;
    req.request_id = (char *)request_id(c);
    Reseller__V1__CreateTemplateResponse *r;
    st = call(c, "/reseller.v1.TemplateService/CreateTemplate", &req.base,
              &reseller__v1__create_template_response__descriptor, &r, true, req.request_id);
    if (st || c->json) return st ? st : print_json(&r->base);
    if (r->template_) show_template(c, r->template_);
    return 0;
}

static const ctl_flag tpl_update_flags[] = {
    {"etag", "E", "etag of the version you read (templates get)"}, TEMPLATE_FLAGS, {0}};

static int cmd_tpl_update(ctl *c)
{
    Reseller__V1__Template t = RESELLER__V1__TEMPLATE__INIT;
    tpl_mask m = {.n = 0};
    int st = tpl_from_flags(c, &t, &m, false);
    if (st) return st;
    /* An empty mask would replace every field: never send one by accident. */
    if (m.n == 0) return usage_error(c, "nothing to update: give at least one field flag");
    t.template_id = (char *)c->pos[0];
    t.etag = (char *)opt_or(c, "etag", "");
    Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    mask.paths = m.paths;
    mask.n_paths = m.n;
    Reseller__V1__UpdateTemplateRequest req = RESELLER__V1__UPDATE_TEMPLATE_REQUEST__INIT;
    req.template_ = &t;
    req.update_mask = &mask;
    Reseller__V1__UpdateTemplateResponse *r;
    st = call(c, "/reseller.v1.TemplateService/UpdateTemplate", &req.base,
              &reseller__v1__update_template_response__descriptor, &r, false, NULL);
    if (st || c->json) return st ? st : print_json(&r->base);
    if (r->template_) show_template(c, r->template_);
    return 0;
}

/* ---- customers ------------------------------------------------------------------------------ */

static void show_customer(ctl *c, const Reseller__V1__Customer *p)
{
    kv("customer", p->customer_id);
    kv("name", p->name);
    kv("email", p->email);
    kv("phone", p->phone);
    kv("remarks", p->remarks);
    if (p->credit) {
        const char *cur = p->credit->currency_code;
        kv("credit", money(c, p->credit->credit_minor, cur));
        kv("used", money(c, p->credit->used_minor, cur));
        kv("available", ctl_printf(c, "%s%s", money(c, p->credit->available_minor, cur),
                                   p->credit->exhausted ? " (exhausted)" : ""));
    }
    kv("created", ts(c, p->create_time));
}

static const ctl_flag cust_create_flags[] = {{"id", "ACCOUNT", "the customer's cloud account id"},
                                             {"name", "N", "display name"},
                                             {"email", "E", "contact e-mail"},
                                             {"phone", "P", "contact phone"},
                                             {"remarks", "T", "free text"},
                                             {0}};

static int cmd_cust_create(ctl *c)
{
    Reseller__V1__Customer p = RESELLER__V1__CUSTOMER__INIT;
    p.customer_id = (char *)opt_or(c, "id", "");
    p.name = (char *)opt_or(c, "name", "");
    p.email = (char *)opt_or(c, "email", "");
    p.phone = (char *)opt_or(c, "phone", "");
    p.remarks = (char *)opt_or(c, "remarks", "");
    Reseller__V1__CreateCustomerRequest req = RESELLER__V1__CREATE_CUSTOMER_REQUEST__INIT;
    req.customer = &p;
    Reseller__V1__CreateCustomerResponse *r;
    /* Not retried: a retry after a lost reply would answer ALREADY_EXISTS. */
    int st = call(c, "/reseller.v1.CustomerService/CreateCustomer", &req.base,
                  &reseller__v1__create_customer_response__descriptor, &r, false, NULL);
    if (st || c->json) return st ? st : print_json(&r->base);
    if (r->customer) show_customer(c, r->customer);
    return 0;
}

static int cmd_cust_get(ctl *c)
{
    Reseller__V1__GetCustomerRequest req = RESELLER__V1__GET_CUSTOMER_REQUEST__INIT;
    req.customer_id = (char *)c->pos[0];
    Reseller__V1__GetCustomerResponse *r;
    int st = call(c, "/reseller.v1.CustomerService/GetCustomer", &req.base,
                  &reseller__v1__get_customer_response__descriptor, &r, true, NULL);
    if (st || c->json) return st ? st : print_json(&r->base);
    if (r->customer) show_customer(c, r->customer);
    return 0;
}

static void customer_row(ctl *c, ctl_table *t, const ProtobufCMessage *m)
{
    const Reseller__V1__Customer *p = (const Reseller__V1__Customer *)m;
    const Reseller__V1__CustomerCredit *k = p->credit;
    const char *cur = k ? k->currency_code : "";
    table_row(t, p->customer_id, p->name, p->email, k ? money(c, k->credit_minor, cur) : "-",
              k ? money(c, k->used_minor, cur) : "-", k ? money(c, k->available_minor, cur) : "-",
              ts(c, p->create_time));
}

static const ctl_flag cust_list_flags[] = {
    {"query", "Q", "id, name or e-mail contains Q"},
    {"exhausted", NULL, "only customers whose available credit is 0"},
    PAGE_FLAGS,
    {0}};

static int cmd_cust_list(ctl *c)
{
    Reseller__V1__ListCustomersRequest req = RESELLER__V1__LIST_CUSTOMERS_REQUEST__INIT;
    req.query = (char *)opt_or(c, "query", "");
    req.exhausted_only = has(c, "exhausted");
    ctl_table t;
    table_init(&t, c, "ltlrrrl");
    table_row(&t, "CUSTOMER", "NAME", "EMAIL", "CREDIT", "USED", "AVAILABLE", "CREATED");
    ctl_list l = {.path = "/reseller.v1.CustomerService/ListCustomers",
                  .req = &req.base,
                  .resp_desc = &reseller__v1__list_customers_response__descriptor,
                  .items = "customers",
                  .table = &t,
                  .row = customer_row};
    return list_run(c, &l);
}

/* ---- vouchers ------------------------------------------------------------------------------- */

static const char *review_text(ctl *c, const Reseller__V1__ReviewProgress *r)
{
    if (!r) return "-";
    const char *s = enum_name(c, &reseller__v1__review_status__descriptor, r->status);
    if (r->ticket_id && *r->ticket_id) s = ctl_printf(c, "%s, ticket %s", s, r->ticket_id);
    if (r->submit_time) s = ctl_printf(c, "%s, submitted %s", s, ts(c, r->submit_time));
    if (r->due_time && !r->decide_time) s = ctl_printf(c, "%s, due %s", s, ts(c, r->due_time));
    if (r->decide_time) s = ctl_printf(c, "%s, decided %s", s, ts(c, r->decide_time));
    if (r->reason && *r->reason) s = ctl_printf(c, "%s: %s", s, r->reason);
    return s;
}

static void show_voucher(ctl *c, const Reseller__V1__Voucher *v)
{
    const char *cur = v->currency_code;
    kv("voucher", v->voucher_id);
    kv("status", enum_name(c, &reseller__v1__voucher_status__descriptor, v->status));
    kv("usage", enum_name(c, &reseller__v1__usage_status__descriptor, v->usage_status));
    kv("customer", v->customer_id);
    kv("template", ctl_printf(c, "%s (%s)", v->template_id, v->name));
    kv("funding", enum_name(c, &reseller__v1__funding__descriptor, v->funding));
    kv("source", enum_name(c, &reseller__v1__voucher_source__descriptor, v->source));
    kv("face value", money(c, v->face_value_minor, cur));
    kv("balance", money(c, v->balance_minor, cur));
    kv("used", money(c, v->used_amount_minor, cur));
    kv("products", scope_text(c, v->product_scope));
    kv("payment modes", modes_text(c, v->payment_modes, v->n_payment_modes));
    kv("validity", validity_text(c, v->validity));
    kv("conditions", conditions_text(c, v->conditions, cur));
    kv("review", review_text(c, v->review));
    kv("issued", ts(c, v->issue_time));
    kv("activated", ts(c, v->activate_time));
    kv("valid from", ts(c, v->valid_from_time));
    kv("expires", ts(c, v->expire_time));
    if (v->end_time) kv("ended", ts(c, v->end_time));
    if (v->frozen_order_id && *v->frozen_order_id) kv("frozen by order", v->frozen_order_id);
    if (v->withdraw_reason && *v->withdraw_reason) kv("withdraw reason", v->withdraw_reason);
    kv("request id", v->request_id);
}

static const ctl_flag issue_flags[] = {
    {"template", "ID", "template to issue"},
    {"customer", "ID", "customer account id"},
    {"remarks", "T", "shown to the reviewer"},
    {"request-id", "ID", "idempotency key (generated and printed when absent)"},
    {0}};

static int cmd_issue(ctl *c)
{
    Reseller__V1__IssueVoucherRequest req = RESELLER__V1__ISSUE_VOUCHER_REQUEST__INIT;
    req.template_id = (char *)opt_or(c, "template", "");
    req.customer_id = (char *)opt_or(c, "customer", "");
    req.remarks = (char *)opt_or(c, "remarks", "");
    req.request_id = (char *)request_id(c);
    Reseller__V1__IssueVoucherResponse *r;
    int st = call(c, "/reseller.v1.VoucherService/IssueVoucher", &req.base,
                  &reseller__v1__issue_voucher_response__descriptor, &r, true, req.request_id);
    if (st || c->json) return st ? st : print_json(&r->base);
    if (r->voucher) show_voucher(c, r->voucher);
    return 0;
}

static const ctl_flag batch_flags[] = {
    {"template", "ID", "template to issue"},
    {"customers", "a,b,c", "customer account ids, one voucher each"},
    {"remarks", "T", "shown to the reviewer"},
    {"request-id", "ID", "idempotency key (generated and printed when absent)"},
    {0}};

static int cmd_batch(ctl *c)
{
    Reseller__V1__BatchIssueVouchersRequest req = RESELLER__V1__BATCH_ISSUE_VOUCHERS_REQUEST__INIT;
    req.template_id = (char *)opt_or(c, "template", "");
    if (has(c, "customers")) req.customer_ids = split(c, opt(c, "customers"), &req.n_customer_ids);
    req.remarks = (char *)opt_or(c, "remarks", "");
    req.request_id = (char *)request_id(c);
    Reseller__V1__BatchIssueVouchersResponse *r;
    int st =
        call(c, "/reseller.v1.VoucherService/BatchIssueVouchers", &req.base,
             &reseller__v1__batch_issue_vouchers_response__descriptor, &r, true, req.request_id);
    if (st) return st;
    if (c->json)
        st = print_json(&r->base);
    else {
        ctl_table t;
        table_init(&t, c, "llllt");
        table_row(&t, "CUSTOMER", "RESULT", "VOUCHER", "STATUS", "MESSAGE");
        for (size_t i = 0; i < r->n_results; i++) {
            const Reseller__V1__BatchIssueResult *x = r->results[i];
            const Reseller__V1__Voucher *v = x->voucher;
            table_row(&t, x->customer_id, vc_grpc_code_name(x->code), v ? v->voucher_id : "-",
                      v ? enum_name(c, &reseller__v1__voucher_status__descriptor, v->status) : "-",
                      x->message);
        }
        table_print(&t);
        printf("%d succeeded, %d failed\n", r->succeeded_count, r->failed_count);
    }
    if (st == 0 && r->failed_count > 0) {
        fprintf(stderr, CTL_PROG ": %d of %zu items failed\n", r->failed_count, r->n_results);
        st = CTL_FAIL;
    }
    return st;
}

static void voucher_row(ctl *c, ctl_table *t, const ProtobufCMessage *m)
{
    const Reseller__V1__Voucher *v = (const Reseller__V1__Voucher *)m;
    table_row(
        t, v->voucher_id, v->customer_id, v->name, money(c, v->face_value_minor, v->currency_code),
        money(c, v->balance_minor, v->currency_code),
        enum_name(c, &reseller__v1__voucher_status__descriptor, v->status),
        v->review ? enum_name(c, &reseller__v1__review_status__descriptor, v->review->status) : "-",
        ts(c, v->expire_time), ts(c, v->issue_time));
}

static const ctl_flag vch_list_flags[] = {
    {"status", "S[,S]", "pending_review, cancelling, cancelled, rejected, active, ..."},
    {"review", "S[,S]", "review status: not_required, pending, approved, rejected, ..."},
    {"customer", "ID", "only this customer's vouchers"},
    {"template", "ID", "only vouchers of this template"},
    {"from", "RFC3339", "issued at or after"},
    {"until", "RFC3339", "issued before"},
    PAGE_FLAGS,
    {0}};

static int cmd_vch_list(ctl *c)
{
    Reseller__V1__ListVouchersRequest req = RESELLER__V1__LIST_VOUCHERS_REQUEST__INIT;
    void *statuses = NULL, *reviews = NULL;
    int st = enum_list_arg(c, "status", &reseller__v1__voucher_status__descriptor, &statuses,
                           &req.n_statuses);
    if (!st)
        st = enum_list_arg(c, "review", &reseller__v1__review_status__descriptor, &reviews,
                           &req.n_review_statuses);
    if (!st) st = range_arg(c, &req.issue_time);
    if (st) return st;
    req.statuses = statuses;
    req.review_statuses = reviews;
    req.customer_id = (char *)opt_or(c, "customer", "");
    req.template_id = (char *)opt_or(c, "template", "");
    ctl_table t;
    table_init(&t, c, "lltrrllll");
    table_row(&t, "VOUCHER", "CUSTOMER", "NAME", "FACE VALUE", "BALANCE", "STATUS", "REVIEW",
              "EXPIRES", "ISSUED");
    ctl_list l = {.path = "/reseller.v1.VoucherService/ListVouchers",
                  .req = &req.base,
                  .resp_desc = &reseller__v1__list_vouchers_response__descriptor,
                  .items = "vouchers",
                  .table = &t,
                  .row = voucher_row};
    return list_run(c, &l);
}

/* GetVoucher, CancelReview and WithdrawVoucher: a request with the voucher id in field 1 and a
   response holding `Voucher voucher = 1`, so one function serves the three. */
static int voucher_call(ctl *c, const char *path, ProtobufCMessage *req,
                        const ProtobufCMessageDescriptor *rd)
{
    ProtobufCMessage *r;
    int st = call(c, path, req, rd, &r, true, NULL);
    if (st || c->json) return st ? st : print_json(r);
    const Reseller__V1__Voucher *v =
        *(Reseller__V1__Voucher *const *)member_at(r, "voucher", false);
    if (v) show_voucher(c, v);
    if (v && v->status == RESELLER__V1__VOUCHER_STATUS__VOUCHER_STATUS_CANCELLING)
        puts("note: approval-svc has not confirmed the cancellation yet; the quota returns "
             "once it does");
    return 0;
}

static int cmd_vch_get(ctl *c)
{
    Reseller__V1__GetVoucherRequest req = RESELLER__V1__GET_VOUCHER_REQUEST__INIT;
    req.voucher_id = (char *)c->pos[0];
    return voucher_call(c, "/reseller.v1.VoucherService/GetVoucher", &req.base,
                        &reseller__v1__get_voucher_response__descriptor);
}

static int cmd_cancel(ctl *c)
{
    Reseller__V1__CancelReviewRequest req = RESELLER__V1__CANCEL_REVIEW_REQUEST__INIT;
    req.voucher_id = (char *)c->pos[0];
    return voucher_call(c, "/reseller.v1.VoucherService/CancelReview", &req.base,
                        &reseller__v1__cancel_review_response__descriptor);
}

static const ctl_flag withdraw_flags[] = {{"reason", "T", "why (kept on the voucher)"}, {0}};

static int cmd_withdraw(ctl *c)
{
    Reseller__V1__WithdrawVoucherRequest req = RESELLER__V1__WITHDRAW_VOUCHER_REQUEST__INIT;
    req.voucher_id = (char *)c->pos[0];
    req.reason = (char *)opt_or(c, "reason", "");
    return voucher_call(c, "/reseller.v1.VoucherService/WithdrawVoucher", &req.base,
                        &reseller__v1__withdraw_voucher_response__descriptor);
}

static int cmd_summary(ctl *c)
{
    Reseller__V1__GetIssuanceSummaryRequest req = RESELLER__V1__GET_ISSUANCE_SUMMARY_REQUEST__INIT;
    Reseller__V1__GetIssuanceSummaryResponse *r;
    int st = call(c, "/reseller.v1.VoucherService/GetIssuanceSummary", &req.base,
                  &reseller__v1__get_issuance_summary_response__descriptor, &r, true, NULL);
    if (st || c->json) return st ? st : print_json(&r->base);
    const char *cur = r->currency_code;
    kv("issued", money(c, r->issued_amount_minor, cur));
    kv("  provider-funded", money(c, r->provider_funded_issued_minor, cur));
    kv("  reseller-funded", money(c, r->reseller_funded_issued_minor, cur));
    kv("quota granted", money(c, r->quota_granted_minor, cur));
    kv("quota remaining", money(c, r->quota_remaining_minor, cur));
    putchar('\n');
    ctl_table t;
    table_init(&t, c, "lr");
    table_row(&t, "STATUS", "VOUCHERS");
    for (size_t i = 0; i < r->n_status_counts; i++)
        table_row(
            &t,
            enum_name(c, &reseller__v1__voucher_status__descriptor, r->status_counts[i]->status),
            ctl_printf(c, "%lld", (long long)r->status_counts[i]->count));
    table_print(&t);
    return 0;
}

/* ---- command table and main ----------------------------------------------------------------- */

static const ctl_cmd commands[] = {
    {"quota", "[--reseller ID]", "voucher quota, credit pool and own-cost issued (GetQuota)",
     quota_flags, 0, 0, cmd_quota},
    {"entries", "[--account quota|pool] [--kind K] [--reference ID] [--limit N] [--all]",
     "the quota/pool ledger, newest first (ListQuotaEntries)", entries_flags, 0, 0, cmd_entries},
    {"apply", "--kind quota|pool --amount 1000.00 --reason TEXT [--request-id ID]",
     "apply for voucher quota or credit pool (ApplyForQuota)", apply_flags, 0, 0, cmd_apply},
    {"applications", "[--kind quota|pool] [--state S[,S]] [--limit N] [--all]",
     "quota and pool applications, newest first (ListApplications)", applications_flags, 0, 0,
     cmd_applications},
    {"templates list",
     "[--name S] [--product P] [--state editable|locked] [--funding F] [--limit N] [--all]",
     "search templates, newest first (ListTemplates)", tpl_list_flags, 0, 0, cmd_tpl_list},
    {"templates get", "ID", "one template (GetTemplate)", NULL, 1, 1, cmd_tpl_get},
    {"templates create",
     "--name N --face 100.00 --funding provider|reseller [--products a,b | --all [--exclude x,y]] "
     "--modes prepaid,postpaid (--days N | --from RFC3339 --until RFC3339) [--min-order 10.00] "
     "[--min-months N] [--max-months N] [--multi-use] [--remarks T] [--request-id ID]",
     "create a template (CreateTemplate)", tpl_create_flags, 0, 0, cmd_tpl_create},
    {"templates update", "ID --etag E [template flags: only those given are changed]",
     "edit a template not yet issued from (UpdateTemplate)", tpl_update_flags, 1, 1,
     cmd_tpl_update},
    {"customers create", "--id ACCOUNT --name N [--email E] [--phone P] [--remarks T]",
     "add a customer account (CreateCustomer)", cust_create_flags, 0, 0, cmd_cust_create},
    {"customers list", "[--query Q] [--exhausted] [--limit N] [--all]",
     "customers with their credit (ListCustomers)", cust_list_flags, 0, 0, cmd_cust_list},
    {"customers get", "ID", "one customer with its credit (GetCustomer)", NULL, 1, 1, cmd_cust_get},
    {"issue", "--template ID --customer ID [--remarks T] [--request-id ID]",
     "issue one voucher (IssueVoucher)", issue_flags, 0, 0, cmd_issue},
    {"batch-issue", "--template ID --customers a,b,c [--remarks T] [--request-id ID]",
     "issue a template to many customers, per-item results (BatchIssueVouchers)", batch_flags, 0, 0,
     cmd_batch},
    {"vouchers list",
     "[--status S[,S]] [--review S[,S]] [--customer ID] [--template ID] [--limit N] [--all]",
     "vouchers, newest issue first (ListVouchers)", vch_list_flags, 0, 0, cmd_vch_list},
    {"vouchers get", "ID", "one voucher (GetVoucher)", NULL, 1, 1, cmd_vch_get},
    {"cancel", "VOUCHER_ID", "cancel the review of a pending voucher (CancelReview)", NULL, 1, 1,
     cmd_cancel},
    {"withdraw", "VOUCHER_ID [--reason T]", "withdraw an unused active voucher (WithdrawVoucher)",
     withdraw_flags, 1, 1, cmd_withdraw},
    {"summary", "", "issued amounts, quota and counts per status (GetIssuanceSummary)", NULL, 0, 0,
     cmd_summary},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const ctl_flag global_flags[] = {
    {"addr", "HOST:PORT", "reseller-svc address (default $RESELLER_ADDR or 127.0.0.1:50051)"},
    {"token", "JWT", "bearer token (default $TOKEN_RESELLER)"},
    {"json", NULL, "print the response message as JSON (proto3 mapping)"},
    {"currency", "CUR", "currency of money arguments (default: the reseller's, from GetQuota)"},
    {"timeout-ms", "MS", "deadline per call, retries included (default 10000)"},
    {0}};

static void print_flags(const ctl_flag *f)
{
    for (; f && f->name; f++) {
        char *lhs = NULL;
        if (asprintf(&lhs, "--%s%s%s", f->name, f->arg ? " " : "", f->arg ? f->arg : "") < 0)
            continue;
        printf("  %-28s %s\n", lhs, f->help);
        free(lhs);
    }
}

static void print_help(const char *group)
{
    printf("usage: " CTL_PROG " [--addr HOST:PORT] [--token JWT] [--json] [--currency CUR] "
           "<command> [args]\n\nCommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++) {
        size_t gl = group ? strlen(group) : 0;
        if (group && (strncmp(commands[i].name, group, gl) != 0 || commands[i].name[gl] != ' '))
            continue;
        printf("  %-18s %s\n", commands[i].name, commands[i].summary);
    }
    printf("\nGlobal flags (before or after the command):\n");
    print_flags(global_flags);
    printf("\n'" CTL_PROG " <command> --help' shows a command's flags. Exit status: 0 success, 1 "
           "error from the server or the call, 2 usage error.\n");
}

static void print_cmd_help(const ctl_cmd *cmd)
{
    printf("usage: " CTL_PROG " %s %s\n\n%s\n", cmd->name, cmd->synopsis, cmd->summary);
    if (cmd->flags) {
        printf("\nFlags:\n");
        print_flags(cmd->flags);
    }
    printf("\nGlobal flags: --addr, --token, --json, --currency, --timeout-ms (" CTL_PROG
           " --help).\n");
}

/* Resolves "templates list" (two words) or "quota" (one) at argv[*i]; advances *i past it. */
static int find_command(ctl *c, int argc, char **argv, int *i)
{
    const char *w = argv[*i];
    for (size_t k = 0; k < NCOMMANDS; k++)
        if (strcmp(commands[k].name, w) == 0) {
            c->cmd = &commands[k];
            return 0;
        }
    size_t wl = strlen(w);
    bool group = false;
    for (size_t k = 0; k < NCOMMANDS; k++)
        group |= strncmp(commands[k].name, w, wl) == 0 && commands[k].name[wl] == ' ';
    if (!group) return usage_error(c, "unknown command \"%s\"", w);
    c->group = w;
    if (*i + 1 >= argc || argv[*i + 1][0] == '-') return 0; /* "templates --help" */
    const char *sub = argv[++*i];
    for (size_t k = 0; k < NCOMMANDS; k++)
        if (strncmp(commands[k].name, w, wl) == 0 && commands[k].name[wl] == ' ' &&
            strcmp(commands[k].name + wl + 1, sub) == 0) {
            c->cmd = &commands[k];
            return 0;
        }
    return usage_error(c, "unknown command \"%s %s\"", w, sub);
}

static int set_global(ctl *c, int idx, const char *v)
{
    switch (idx) {
    case 0: c->addr = v; return 0;
    case 1: c->token = v; return 0;
    case 2: c->json = true; return 0;
    case 3: c->currency_flag = v; return 0;
    default: {
        char *end;
        c->timeout_ms = strtoll(v, &end, 10);
        if (end == v || *end || c->timeout_ms < 1 || c->timeout_ms > 3600000)
            return usage_error(c, "--timeout-ms: expected 1..3600000 milliseconds, got \"%s\"", v);
        return 0;
    }
    }
}

/* One "--name[=value]" at argv[*i] (consuming the next word as its value when needed). */
static int parse_flag(ctl *c, int argc, char **argv, int *i)
{
    const char *name = argv[*i] + 2, *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    int g = flag_index(global_flags, name, len);
    int k = g < 0 && c->cmd ? flag_index(c->cmd->flags, name, len) : -1;
    if (g < 0 && k < 0) return usage_error(c, "unknown flag --%.*s", (int)len, name);
    const ctl_flag *f = g >= 0 ? &global_flags[g] : &c->cmd->flags[k];
    const char *v = eq ? eq + 1 : NULL;
    if (!f->arg && v) return usage_error(c, "--%s takes no value", f->name);
    if (f->arg && !v) {
        if (*i + 1 >= argc) return usage_error(c, "--%s needs a value (%s)", f->name, f->arg);
        v = argv[++*i];
    }
    if (!v) v = "";
    if (g >= 0) return set_global(c, g, v);
    if (c->val[k]) return usage_error(c, "--%s given twice", f->name);
    c->val[k] = v;
    return 0;
}

static int parse_args(ctl *c, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int st = 0;
        if (!c->dashdash && (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)) {
            c->help = true;
        } else if (!c->dashdash && strcmp(a, "--") == 0) {
            c->dashdash = true;
        } else if (!c->dashdash && a[0] == '-' && a[1] == '-') {
            st = parse_flag(c, argc, argv, &i);
        } else if (!c->dashdash && a[0] == '-' && a[1]) {
            st = usage_error(c, "unknown flag %s", a);
        } else if (!c->cmd && !c->group) {
            st = find_command(c, argc, argv, &i);
            if (!st && c->cmd) {
                size_t n = 0;
                while (c->cmd->flags && c->cmd->flags[n].name)
                    n++;
                c->val = ctl_alloc(c, (n + 1) * sizeof(*c->val));
            }
        } else if (c->cmd && c->npos < c->cmd->max_pos) {
            c->pos[c->npos++] = a;
        } else {
            st = usage_error(c, "unexpected argument \"%s\"", a);
        }
        if (st) return st;
    }
    return 0;
}

/* Addresses, token and currency from flags, then the environment. */
static int settle_config(ctl *c)
{
    if (!c->addr) c->addr = getenv("RESELLER_ADDR");
    if (!c->addr || !*c->addr) c->addr = "127.0.0.1:50051";
    if (!c->token) c->token = getenv("TOKEN_RESELLER");
    if (c->token && !*c->token) c->token = NULL;
    if (c->currency_flag) {
        if (!vc_currency_valid(c->currency_flag))
            return usage_error(c, "--currency: \"%s\" is not a 3-letter ISO 4217 code",
                               c->currency_flag);
        memcpy(c->currency, c->currency_flag, 4);
    }
    if (c->npos < c->cmd->min_pos)
        return usage_error(c, "missing argument: %s %s", c->cmd->name, c->cmd->synopsis);
    return 0;
}

static int run(ctl *c, int argc, char **argv)
{
    int st = parse_args(c, argc, argv);
    if (st) return st;
    if (c->help) {
        if (c->cmd)
            print_cmd_help(c->cmd);
        else
            print_help(c->group);
        return 0;
    }
    if (!c->cmd) {
        if (c->group) return usage_error(c, "\"%s\" needs a subcommand", c->group);
        return usage_error(c, "no command given");
    }
    st = settle_config(c);
    if (st) return st;
    int rc = vc_rpc_client_new(c->addr, &c->cli);
    if (rc != 0) {
        fprintf(stderr, CTL_PROG ": cannot create a channel to %s: %s\n", c->addr, vc_strerror(rc));
        return CTL_FAIL;
    }
    return c->cmd->run(c);
}

int main(int argc, char **argv)
{
    ctl c = {.timeout_ms = CTL_DEFAULT_TMO};
    c.a = vc_arena_new(64 * 1024);
    if (!c.a || !(c.alloc = vc_arena_allocator(c.a))) ctl_oom();
    int st = run(&c, argc, argv);
    fflush(stdout);
    vc_rpc_client_free(c.cli);
    vc_arena_free(c.a);
    return st;
}
