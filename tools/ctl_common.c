/*
 * ctl_common.c - the shared machinery of the command-line clients; see ctl_common.h.
 */
#include "ctl_common.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "base/vc_err.h"
#include "base/vc_id.h"
#include "base/vc_money.h"
#include "rpc/vc_pbjson.h"
#include "rpc/vc_rpc_status.h"

#define CTL_DEFAULT_TMO 10000

/* ---- memory and messages ------------------------------------------------------------------ */

_Noreturn void ctl_oom(ctl *c)
{
    fprintf(stderr, "%s: out of memory\n", c->prog->name);
    exit(CTL_FAIL);
}

void *ctl_alloc(ctl *c, size_t n)
{
    void *p = vc_arena_calloc(c->a, 1, n);
    if (!p) ctl_oom(c);
    return p;
}

char *ctl_printf(ctl *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vc_arena_vsprintf(c->a, fmt, ap);
    va_end(ap);
    if (!s) ctl_oom(c);
    return s;
}

int ctl_usage_error(ctl *c, const char *fmt, ...)
{
    fprintf(stderr, "%s: ", c->prog->name);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (c->cmd)
        fprintf(stderr, "\nTry '%s %s --help'.\n", c->prog->name, c->cmd->name);
    else
        fprintf(stderr, "\nTry '%s --help'.\n", c->prog->name);
    return CTL_USAGE;
}

/* ---- flags of the running command --------------------------------------------------------- */

static int flag_index(const ctl_flag *flags, const char *name, size_t len)
{
    for (int i = 0; flags && flags[i].name; i++)
        if (strlen(flags[i].name) == len && strncmp(flags[i].name, name, len) == 0) return i;
    return -1;
}

const char *ctl_opt(const ctl *c, const char *name)
{
    int i = flag_index(c->cmd->flags, name, strlen(name));
    if (i < 0) {
        fprintf(stderr, "%s: internal error: %s has no flag --%s\n", c->prog->name, c->cmd->name,
                name);
        abort();
    }
    return c->val[i];
}

const char *ctl_opt_if_declared(const ctl *c, const char *name)
{
    int i = flag_index(c->cmd->flags, name, strlen(name));
    return i < 0 ? NULL : c->val[i];
}

bool ctl_has(const ctl *c, const char *name)
{
    return ctl_opt(c, name) != NULL;
}

const char *ctl_opt_or(const ctl *c, const char *name, const char *dflt)
{
    const char *v = ctl_opt(c, name);
    return v ? v : dflt;
}

int ctl_int_arg(ctl *c, const char *name, int64_t lo, int64_t hi, int64_t *out)
{
    const char *v = ctl_opt(c, name);
    if (!v) return 0;
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || end == v || *end || n < lo || n > hi)
        return ctl_usage_error(c, "--%s: expected an integer in %lld..%lld, got \"%s\"", name,
                               (long long)lo, (long long)hi, v);
    *out = n;
    return 0;
}

int ctl_int32_arg(ctl *c, const char *name, int32_t *out)
{
    int64_t v = *out;
    int st = ctl_int_arg(c, name, INT32_MIN, INT32_MAX, &v);
    *out = (int32_t)v;
    return st;
}

char **ctl_split(ctl *c, const char *s, size_t *n)
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
            if (!v[(*n)++]) ctl_oom(c);
        }
        s += len + (s[len] == ',');
    }
    return v;
}

char *ctl_join(ctl *c, char *const *v, size_t n, const char *sep)
{
    char *s = "";
    for (size_t i = 0; i < n; i++)
        s = ctl_printf(c, "%s%s%s", s, i ? sep : "", v[i]);
    return s;
}

/* ---- enums -------------------------------------------------------------------------------- */

/* Length of the type prefix of d's value names: "VOUCHER_STATUS_" from
   VOUCHER_STATUS_UNSPECIFIED (buf.build STANDARD lint guarantees that zero value). */
static size_t enum_prefix(const ProtobufCEnumDescriptor *d)
{
    const ProtobufCEnumValue *z = protobuf_c_enum_descriptor_get_value(d, 0);
    if (!z) return 0;
    size_t n = strlen(z->name), u = strlen("UNSPECIFIED");
    return n > u && strcmp(z->name + n - u, "UNSPECIFIED") == 0 ? n - u : 0;
}

const char *ctl_enum_name(ctl *c, const ProtobufCEnumDescriptor *d, int v)
{
    if (v == 0) return "-";
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, v);
    return ev ? ev->name + enum_prefix(d) : ctl_printf(c, "%d", v);
}

int ctl_enum_parse(const ProtobufCEnumDescriptor *d, const char *text, int *out)
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

char *ctl_enum_choices(ctl *c, const ProtobufCEnumDescriptor *d)
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

int ctl_enum_arg(ctl *c, const char *name, const ProtobufCEnumDescriptor *d, int *out)
{
    const char *v = ctl_opt(c, name);
    if (v && ctl_enum_parse(d, v, out) != 0)
        return ctl_usage_error(c, "--%s: \"%s\" is not one of: %s", name, v,
                               ctl_enum_choices(c, d));
    return 0;
}

int ctl_enum_list_arg(ctl *c, const char *name, const ProtobufCEnumDescriptor *d, void **arr,
                      size_t *n)
{
    const char *v = ctl_opt(c, name);
    if (!v) return 0;
    size_t k;
    char **items = ctl_split(c, v, &k);
    int *vals = ctl_alloc(c, (k ? k : 1) * sizeof(int));
    for (size_t i = 0; i < k; i++)
        if (ctl_enum_parse(d, items[i], &vals[i]) != 0)
            return ctl_usage_error(c, "--%s: \"%s\" is not one of: %s", name, items[i],
                                   ctl_enum_choices(c, d));
    *arr = vals;
    *n = k;
    return 0;
}

/* ---- money and time ----------------------------------------------------------------------- */

const char *ctl_money(ctl *c, int64_t minor, const char *cur)
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

const char *ctl_signed_money(ctl *c, int64_t minor, const char *cur)
{
    const char *m = ctl_money(c, minor, cur);
    return minor > 0 ? ctl_printf(c, "+%s", m) : m;
}

int ctl_money_arg(ctl *c, const char *name, int64_t *out)
{
    const char *v = ctl_opt(c, name);
    if (!v) return 0;
    if (!c->currency[0]) {
        if (!c->prog->need_currency) return ctl_usage_error(c, "--%s needs --currency", name);
        int st = c->prog->need_currency(c);
        if (st) return st;
    }
    int exp = vc_currency_exponent(c->currency);
    int rc = vc_money_parse(v, exp, out);
    if (rc == VC_EOVERFLOW) return ctl_usage_error(c, "--%s: amount \"%s\" is too large", name, v);
    if (rc != 0)
        return ctl_usage_error(c,
                               "--%s: \"%s\" is not an amount in %s (digits, at most %d decimals)",
                               name, v, c->currency, exp);
    return 0;
}

const char *ctl_ts(ctl *c, const Google__Protobuf__Timestamp *t)
{
    char buf[VC_PBJSON_TS_MAX];
    if (!t) return "-";
    if (vc_pbjson_timestamp(t->seconds, 0, buf, sizeof(buf)) != 0)
        return ctl_printf(c, "@%lld", (long long)t->seconds);
    return ctl_printf(c, "%s", buf);
}

int ctl_ts_arg(ctl *c, const char *name, Google__Protobuf__Timestamp **out)
{
    const char *v = ctl_opt(c, name);
    if (!v) return 0;
    int64_t s;
    int32_t ns;
    if (vc_pbjson_parse_timestamp(v, &s, &ns) != 0)
        return ctl_usage_error(c, "--%s: \"%s\" is not an RFC 3339 time (2024-05-01T08:00:00Z)",
                               name, v);
    Google__Protobuf__Timestamp *t = ctl_alloc(c, sizeof(*t));
    google__protobuf__timestamp__init(t);
    t->seconds = s;
    t->nanos = ns;
    *out = t;
    return 0;
}

/* ---- calling the server ------------------------------------------------------------------- */

static void print_status(ctl *c, const char *path, const vc_rpc_result *res)
{
    const ctl_prog *p = c->prog;
    fprintf(stderr, "%s: %s: %s", p->name, vc_grpc_code_name(res->code),
            res->message[0] ? res->message : path);
    if (res->fields[0]) fprintf(stderr, " (fields: %s)", res->fields);
    fputc('\n', stderr);
    if (res->code == VC_GRPC_UNAVAILABLE)
        fprintf(stderr, "%s: is %s running at %s? (--addr, %s)\n", p->name, p->service, c->addr,
                p->addr_env);
    if (res->code == VC_GRPC_UNAUTHENTICATED && !c->token)
        fprintf(stderr, "%s: no token: pass --token or set %s\n", p->name, p->token_env);
}

int ctl_call(ctl *c, const char *path, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *rd, void *resp, bool retry, const char *request_id)
{
    vc_rpc_call_opts o = {.bearer = c->token,
                          .request_id = request_id,
                          .timeout_ms = (int)c->timeout_ms,
                          .max_attempts = retry ? 3 : 1};
    vc_rpc_result res;
    int rc = vc_rpc_client_unary(c->cli, path, req, rd, c->alloc, resp, &o, &res);
    if (rc < 0) {
        fprintf(stderr, "%s: %s: %s\n", c->prog->name, path, vc_strerror(rc));
        return CTL_FAIL;
    }
    if (res.code != VC_GRPC_OK) {
        print_status(c, path, &res);
        return CTL_FAIL;
    }
    return 0;
}

int ctl_print_json(ctl *c, const ProtobufCMessage *m)
{
    char *s = NULL;
    int rc = vc_pbjson_dumps(m, JSON_INDENT(2), &s);
    if (rc != 0) {
        fprintf(stderr, "%s: cannot render JSON: %s\n", c->prog->name, vc_strerror(rc));
        return CTL_FAIL;
    }
    puts(s);
    free(s);
    return 0;
}

const char *ctl_request_id(ctl *c)
{
    const char *v = ctl_opt(c, "request-id");
    if (v) return v;
    char *id = ctl_alloc(c, VC_UUID_LEN);
    if (vc_uuid_new(id) != 0) {
        fprintf(stderr, "%s: no randomness for a request id; pass --request-id\n", c->prog->name);
        exit(CTL_FAIL);
    }
    fprintf(stderr, "%s: request id %s (retry with --request-id %s)\n", c->prog->name, id, id);
    return id;
}

/* ---- server streams ------------------------------------------------------------------------- */

static volatile sig_atomic_t ctl__interrupted;

static void ctl__on_signal(int sig)
{
    (void)sig;
    ctl__interrupted = 1;
}

/* Runs one batch and waits for it, looking at the interrupt flag every 200 ms: an interrupt
   cancels the call, which completes the batch. false when the batch could not start. */
static bool ctl__batch(grpc_call *call, grpc_completion_queue *cq, const grpc_op *ops, size_t n,
                       bool *cancelled)
{
    int tag;
    if (grpc_call_start_batch(call, ops, n, &tag, NULL) != GRPC_CALL_OK) return false;
    for (;;) {
        gpr_timespec dl =
            gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(200, GPR_TIMESPAN));
        if (grpc_completion_queue_pluck(cq, &tag, dl, NULL).type == GRPC_OP_COMPLETE) return true;
        if (ctl__interrupted && !*cancelled) {
            grpc_call_cancel(call, NULL);
            *cancelled = true;
        }
    }
}

static void ctl__violation(const char *field, size_t flen, const char *desc, size_t dlen, void *arg)
{
    (void)desc;
    (void)dlen;
    char *out = arg;
    size_t used = strlen(out);
    snprintf(out + used, sizeof(((vc_rpc_result *)0)->fields) - used, "%s%.*s", used ? "," : "",
             (int)flen, field ? field : "");
}

/* The stream's status into res (code, message, BadRequest fields). */
static void ctl__status(grpc_call *call, grpc_completion_queue *cq, bool *cancelled,
                        vc_rpc_result *res)
{
    grpc_metadata_array trailing;
    grpc_metadata_array_init(&trailing);
    grpc_status_code code = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op.data.recv_status_on_client.trailing_metadata = &trailing;
    op.data.recv_status_on_client.status = &code;
    op.data.recv_status_on_client.status_details = &details;
    memset(res, 0, sizeof(*res));
    ctl__batch(call, cq, &op, 1, cancelled);
    res->code = (int)code;
    snprintf(res->message, sizeof(res->message), "%.*s", (int)GRPC_SLICE_LENGTH(details),
             (const char *)GRPC_SLICE_START_PTR(details));
    for (size_t i = 0; i < trailing.count; i++) {
        grpc_slice k = trailing.metadata[i].key, v = trailing.metadata[i].value;
        int dcode;
        if (GRPC_SLICE_LENGTH(k) == 23 &&
            memcmp(GRPC_SLICE_START_PTR(k), "grpc-status-details-bin", 23) == 0)
            vc_rpc_status_decode(GRPC_SLICE_START_PTR(v), GRPC_SLICE_LENGTH(v), &dcode,
                                 ctl__violation, res->fields);
    }
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&trailing);
}

/* Sends the request (with the token) and half-closes. */
static bool ctl__send(ctl *c, grpc_call *call, grpc_completion_queue *cq,
                      const ProtobufCMessage *req, bool *cancelled)
{
    size_t len = protobuf_c_message_get_packed_size(req);
    grpc_slice s = grpc_slice_malloc(len);
    protobuf_c_message_pack(req, GRPC_SLICE_START_PTR(s));
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    const char *authz = c->token ? ctl_printf(c, "Bearer %s", c->token) : NULL;
    grpc_metadata md;
    memset(&md, 0, sizeof(md));
    if (authz) {
        md.key = grpc_slice_from_static_string("authorization");
        md.value = grpc_slice_from_static_string(authz);
    }
    grpc_op ops[3];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = authz ? 1 : 0;
    ops[0].data.send_initial_metadata.metadata = authz ? &md : NULL;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = bb;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    bool ok = ctl__batch(call, cq, ops, 3, cancelled);
    grpc_byte_buffer_destroy(bb);
    return ok;
}

/* Reads messages until the stream ends or on_msg stops it; the exit status so far. */
static int ctl__read_all(ctl *c, grpc_call *call, grpc_completion_queue *cq,
                         const ProtobufCMessageDescriptor *desc, ctl_msg_fn on_msg, void *arg,
                         bool *cancelled)
{
    grpc_metadata_array initial;
    grpc_metadata_array_init(&initial);
    int st = 0;
    for (bool first = true; !st; first = false) {
        grpc_byte_buffer *in = NULL;
        grpc_op ops[2];
        memset(ops, 0, sizeof(ops));
        size_t n = 0;
        if (first) { /* the server's initial metadata comes with its first message */
            ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
            ops[n++].data.recv_initial_metadata.recv_initial_metadata = &initial;
        }
        ops[n].op = GRPC_OP_RECV_MESSAGE;
        ops[n++].data.recv_message.recv_message = &in;
        if (!ctl__batch(call, cq, ops, n, cancelled) || !in) break;
        grpc_byte_buffer_reader rd;
        ProtobufCMessage *m = NULL;
        if (grpc_byte_buffer_reader_init(&rd, in)) {
            grpc_slice s = grpc_byte_buffer_reader_readall(&rd);
            grpc_byte_buffer_reader_destroy(&rd);
            m = protobuf_c_message_unpack(desc, NULL, GRPC_SLICE_LENGTH(s),
                                          GRPC_SLICE_START_PTR(s));
            grpc_slice_unref(s);
        }
        grpc_byte_buffer_destroy(in);
        if (!m) {
            fprintf(stderr, "%s: cannot decode a %s from the stream\n", c->prog->name, desc->name);
            st = CTL_FAIL;
        } else {
            st = on_msg(c, m, arg);
            protobuf_c_message_free_unpacked(m, NULL);
            fflush(stdout);
        }
    }
    if (st && !*cancelled) {
        grpc_call_cancel(call, NULL);
        *cancelled = true;
    }
    grpc_metadata_array_destroy(&initial);
    return st;
}

int ctl_stream(ctl *c, const char *path, const ProtobufCMessage *req,
               const ProtobufCMessageDescriptor *msg_desc, ctl_msg_fn on_msg, void *arg)
{
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = ctl__on_signal; /* no SA_RESTART needed: nothing blocks in a syscall */
    sigemptyset(&sa.sa_mask);
    ctl__interrupted = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    grpc_init();
    grpc_channel_credentials *cr = grpc_insecure_credentials_create();
    grpc_channel *ch = grpc_channel_create(c->addr, cr, NULL);
    grpc_channel_credentials_release(cr);
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_call *call = grpc_channel_create_call(ch, NULL, 0, cq, grpc_slice_from_static_string(path),
                                               NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    bool cancelled = false;
    int st = ctl__send(c, call, cq, req, &cancelled) ? 0 : CTL_FAIL;
    if (!st) st = ctl__read_all(c, call, cq, msg_desc, on_msg, arg, &cancelled);
    vc_rpc_result res;
    ctl__status(call, cq, &cancelled, &res);
    if (!st && !ctl__interrupted && res.code != VC_GRPC_OK) {
        print_status(c, path, &res);
        st = CTL_FAIL;
    }
    grpc_call_unref(call);
    grpc_completion_queue_shutdown(cq);
    grpc_completion_queue_destroy(cq);
    grpc_channel_destroy(ch);
    grpc_shutdown();
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return st;
}

/* ---- tables ------------------------------------------------------------------------------- */

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
    if (!o) ctl_oom(c);
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

void ctl_table_init(ctl_table *t, ctl *c, const char *align)
{
    *t = (ctl_table){.c = c, .ncols = strlen(align), .align = align};
}

void ctl_table_row(ctl_table *t, ...)
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

void ctl_table_print(const ctl_table *t)
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

void ctl_kv(const char *key, const char *value)
{
    if (!value || !*value) value = "-";
    size_t len = strlen(value);
    while (len > 1 && (value[len - 1] == '\n' || value[len - 1] == '\r'))
        len--;
    printf("%-18s ", key);
    for (size_t i = 0; i < len; i++) { /* continuation lines stay in the value column */
        putchar(value[i]);
        if (value[i] == '\n') printf("%-18s ", "");
    }
    putchar('\n');
}

/* ---- paged lists -------------------------------------------------------------------------- */

void *ctl_member_at(const ProtobufCMessage *m, const char *field, bool quantifier)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, field);
    if (!f) {
        fprintf(stderr, "internal error: %s has no field %s\n", m->descriptor->name, field);
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

int ctl_list_run(ctl *c, ctl_list *l)
{
    int64_t limit = 0;
    int st = ctl_int_arg(c, "limit", 1, 1000, &limit);
    if (st) return st;
    char **page_token = ctl_member_at(l->req, "page_token", false);
    *(int32_t *)ctl_member_at(l->req, "page_size", false) = (int32_t)limit;
    *page_token = (char *)ctl_opt_or(c, "page-token", "");
    bool all = ctl_has(c, "all");
    json_t *acc = NULL;
    const char *next = "";
    for (;;) {
        ProtobufCMessage *resp;
        st = ctl_call(c, l->path, l->req, l->resp_desc, &resp, true, NULL);
        if (st) break;
        size_t n = *(const size_t *)ctl_member_at(resp, l->items, true);
        ProtobufCMessage *const *items =
            *(ProtobufCMessage *const *const *)ctl_member_at(resp, l->items, false);
        const char *prev = next;
        next = *(char *const *)ctl_member_at(resp, "next_page_token", false);
        if (c->json && all && json_merge(&acc, resp, l->items) != 0)
            st = CTL_FAIL;
        else if (c->json && !all)
            st = ctl_print_json(c, resp);
        for (size_t i = 0; !c->json && i < n; i++)
            l->row(c, l->table, items[i]);
        if (st || !all || !next || !*next) break;
        if (strcmp(prev, next) == 0) {
            fprintf(stderr, "%s: server repeated page token \"%s\"; stopping\n", c->prog->name,
                    next);
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
    ctl_table_print(l->table);
    if (!all && next && *next) printf("more: --page-token %s (or --all)\n", next);
    return 0;
}

/* ---- help, argument parsing and main ------------------------------------------------------ */

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

/* True when command name `name` is in group `group` ("templates create" in "templates"). */
static bool in_group(const char *name, const char *group, size_t gl)
{
    return strncmp(name, group, gl) == 0 && name[gl] == ' ';
}

static void print_help(const ctl *c)
{
    const ctl_prog *p = c->prog;
    printf("usage: %s %s <command> [args]\n\nCommands:\n", p->name, p->usage);
    size_t gl = c->group ? strlen(c->group) : 0;
    for (size_t i = 0; i < p->ncommands; i++) {
        if (c->group && !in_group(p->commands[i].name, c->group, gl)) continue;
        printf("  %-18s %s\n", p->commands[i].name, p->commands[i].summary);
    }
    printf("\nGlobal flags (before or after the command):\n");
    print_flags(p->globals);
    printf("\n'%s <command> --help' shows a command's flags. Exit status: 0 success, 1 "
           "error from the server or the call, 2 usage error.\n",
           p->name);
}

static void print_cmd_help(const ctl *c)
{
    const ctl_cmd *cmd = c->cmd;
    printf("usage: %s %s %s\n\n%s\n", c->prog->name, cmd->name, cmd->synopsis, cmd->summary);
    if (cmd->flags) {
        printf("\nFlags:\n");
        print_flags(cmd->flags);
    }
    printf("\nGlobal flags: ");
    for (const ctl_flag *f = c->prog->globals; f->name; f++)
        printf("%s--%s", f == c->prog->globals ? "" : ", ", f->name);
    printf(" (%s --help).\n", c->prog->name);
}

/* Resolves "templates list" (two words) or "quota" (one) at argv[*i]; advances *i past it. */
static int find_command(ctl *c, int argc, char **argv, int *i)
{
    const ctl_prog *p = c->prog;
    const char *w = argv[*i];
    size_t wl = strlen(w);
    /* A command may share its name with a group ("alerts", "alerts watch"): the subcommand
       wins when the next word names one. */
    for (size_t k = 0; *i + 1 < argc && k < p->ncommands; k++)
        if (in_group(p->commands[k].name, w, wl) &&
            strcmp(p->commands[k].name + wl + 1, argv[*i + 1]) == 0) {
            c->cmd = &p->commands[k];
            ++*i;
            return 0;
        }
    for (size_t k = 0; k < p->ncommands; k++)
        if (strcmp(p->commands[k].name, w) == 0) {
            c->cmd = &p->commands[k];
            return 0;
        }
    bool group = false;
    for (size_t k = 0; k < p->ncommands; k++)
        group |= in_group(p->commands[k].name, w, wl);
    if (!group) return ctl_usage_error(c, "unknown command \"%s\"", w);
    c->group = w;
    if (*i + 1 >= argc || argv[*i + 1][0] == '-') return 0; /* "templates --help" */
    return ctl_usage_error(c, "unknown command \"%s %s\"", w, argv[*i + 1]);
}

static int set_global(ctl *c, const char *name, const char *v)
{
    if (strcmp(name, "addr") == 0) {
        c->addr = v;
    } else if (strcmp(name, "token") == 0) {
        c->token = v;
    } else if (strcmp(name, "json") == 0) {
        c->json = true;
    } else if (strcmp(name, "currency") == 0) {
        c->currency_flag = v;
    } else if (strcmp(name, "timeout-ms") == 0) {
        char *end;
        errno = 0;
        c->timeout_ms = strtoll(v, &end, 10);
        if (errno || end == v || *end || c->timeout_ms < 1 || c->timeout_ms > 3600000)
            return ctl_usage_error(c, "--timeout-ms: expected 1..3600000 milliseconds, got \"%s\"",
                                   v);
    } else {
        fprintf(stderr, "%s: internal error: unknown global flag --%s\n", c->prog->name, name);
        abort();
    }
    return 0;
}

/* One "--name[=value]" at argv[*i] (consuming the next word as its value when needed). */
static int parse_flag(ctl *c, int argc, char **argv, int *i)
{
    const ctl_flag *globals = c->prog->globals;
    const char *name = argv[*i] + 2, *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    int g = flag_index(globals, name, len);
    int k = g < 0 && c->cmd ? flag_index(c->cmd->flags, name, len) : -1;
    if (g < 0 && k < 0) return ctl_usage_error(c, "unknown flag --%.*s", (int)len, name);
    const ctl_flag *f = g >= 0 ? &globals[g] : &c->cmd->flags[k];
    const char *v = eq ? eq + 1 : NULL;
    if (!f->arg && v) return ctl_usage_error(c, "--%s takes no value", f->name);
    if (f->arg && !v) {
        if (*i + 1 >= argc) return ctl_usage_error(c, "--%s needs a value (%s)", f->name, f->arg);
        v = argv[++*i];
    }
    if (!v) v = "";
    if (g >= 0) return set_global(c, f->name, v);
    if (c->val[k]) return ctl_usage_error(c, "--%s given twice", f->name);
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
            st = ctl_usage_error(c, "unknown flag %s", a);
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
            st = ctl_usage_error(c, "unexpected argument \"%s\"", a);
        }
        if (st) return st;
    }
    return 0;
}

/* Address, token and currency from flags, then the environment. */
static int settle_config(ctl *c)
{
    const ctl_prog *p = c->prog;
    if (!c->addr) c->addr = getenv(p->addr_env);
    if (!c->addr || !*c->addr) c->addr = p->default_addr;
    if (!c->token) c->token = getenv(p->token_env);
    if (c->token && !*c->token) c->token = NULL;
    if (c->currency_flag) {
        if (!vc_currency_valid(c->currency_flag))
            return ctl_usage_error(c, "--currency: \"%s\" is not a 3-letter ISO 4217 code",
                                   c->currency_flag);
        memcpy(c->currency, c->currency_flag, 4);
    }
    if (c->npos < c->cmd->min_pos)
        return ctl_usage_error(c, "missing argument: %s %s", c->cmd->name, c->cmd->synopsis);
    return 0;
}

static int run(ctl *c, int argc, char **argv)
{
    int st = parse_args(c, argc, argv);
    if (st) return st;
    if (c->help) {
        if (c->cmd)
            print_cmd_help(c);
        else
            print_help(c);
        return 0;
    }
    if (!c->cmd) {
        if (c->group) return ctl_usage_error(c, "\"%s\" needs a subcommand", c->group);
        return ctl_usage_error(c, "no command given");
    }
    st = settle_config(c);
    if (st) return st;
    int rc = vc_rpc_client_new(c->addr, &c->cli);
    if (rc != 0) {
        fprintf(stderr, "%s: cannot create a channel to %s: %s\n", c->prog->name, c->addr,
                vc_strerror(rc));
        return CTL_FAIL;
    }
    return c->cmd->run(c);
}

int ctl_main(const ctl_prog *prog, int argc, char **argv)
{
    ctl c = {.prog = prog, .timeout_ms = CTL_DEFAULT_TMO};
    c.a = vc_arena_new(64 * 1024);
    if (!c.a || !(c.alloc = vc_arena_allocator(c.a))) ctl_oom(&c);
    int st = run(&c, argc, argv);
    fflush(stdout);
    vc_rpc_client_free(c.cli);
    vc_arena_free(c.a);
    return st;
}
