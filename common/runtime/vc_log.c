#include "runtime/vc_log.h"

#include "base/vc_err.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* Most lines fit here; longer ones move to the heap. */
#define VC__LOG_STACK_LINE 2048
#define VC__LOG_STACK_MSG  1024

/* Written once by vc_log_init() before threads exist, read-only afterwards. */
static char vc__service[64] = "vc";
static atomic_int vc__min_level = VC_LOG_INFO;
static atomic_int vc__fd = 2;

static const char *const vc__level_names[] = {"debug", "info", "warn", "error"};

void vc_log_init(const char *service, vc_log_level min_level)
{
    snprintf(vc__service, sizeof(vc__service), "%s", service ? service : "vc");
    vc_log_set_level(min_level);
}

void vc_log_set_level(vc_log_level min_level)
{
    atomic_store_explicit(&vc__min_level, (int)min_level, memory_order_relaxed);
}

void vc_log_set_fd(int fd)
{
    atomic_store_explicit(&vc__fd, fd, memory_order_relaxed);
}

bool vc_log_enabled(vc_log_level lvl)
{
    return (int)lvl >= atomic_load_explicit(&vc__min_level, memory_order_relaxed);
}

const char *vc_log_level_name(vc_log_level lvl)
{
    if ((unsigned)lvl > VC_LOG_ERROR) return "unknown";
    return vc__level_names[lvl];
}

int vc_log_level_parse(const char *s, vc_log_level *out)
{
    if (s == NULL || out == NULL) return VC_EINVAL;
    for (int i = VC_LOG_DEBUG; i <= VC_LOG_ERROR; i++) {
        if (strcasecmp(s, vc__level_names[i]) == 0) {
            *out = (vc_log_level)i;
            return 0;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        *out = VC_LOG_WARN;
        return 0;
    }
    return VC_EINVAL;
}

/* ---- line builder: starts in a caller-provided stack buffer, spills to the heap ---- */

typedef struct vc__line {
    char *p;
    size_t len;
    size_t cap;
    bool heap;
    bool oom; /* an allocation failed; the line is abandoned */
} vc__line;

static void vc__put(vc__line *l, const char *s, size_t n)
{
    if (l->oom) return;
    if (n > l->cap - l->len) {
        size_t want = l->cap * 2 > l->len + n ? l->cap * 2 : l->len + n;
        char *np = l->heap ? realloc(l->p, want) : malloc(want);
        if (np == NULL) {
            l->oom = true;
            return;
        }
        if (!l->heap) memcpy(np, l->p, l->len);
        l->p = np;
        l->cap = want;
        l->heap = true;
    }
    memcpy(l->p + l->len, s, n);
    l->len += n;
}

static void vc__puts(vc__line *l, const char *s)
{
    vc__put(l, s, strlen(s));
}

/* Length of the well-formed UTF-8 sequence (2..4 bytes) at p, or 0 if it is not one.
 * Rejects overlong forms, surrogates and code points above U+10FFFF. A NUL terminator is
 * never a continuation byte, so this cannot read past the string. */
static size_t vc__utf8_seq(const unsigned char *p)
{
    unsigned c = p[0];
    unsigned lo = 0x80, hi = 0xBF;
    size_t n;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4;
    else
        return 0;
    if (c == 0xE0)
        lo = 0xA0;
    else if (c == 0xED)
        hi = 0x9F;
    else if (c == 0xF0)
        lo = 0x90;
    else if (c == 0xF4)
        hi = 0x8F;
    if (p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xBF) return 0;
    }
    return n;
}

static void vc__put_escape(vc__line *l, unsigned char c)
{
    char esc[8];
    switch (c) {
    case '"': vc__put(l, "\\\"", 2); return;
    case '\\': vc__put(l, "\\\\", 2); return;
    case '\n': vc__put(l, "\\n", 2); return;
    case '\r': vc__put(l, "\\r", 2); return;
    case '\t': vc__put(l, "\\t", 2); return;
    case '\b': vc__put(l, "\\b", 2); return;
    case '\f': vc__put(l, "\\f", 2); return;
    default: snprintf(esc, sizeof(esc), "\\u%04x", c); vc__put(l, esc, 6);
    }
}

/* Writes s as a JSON string (or null), prefix (trusted, unescaped) right after the quote. */
static void vc__put_str(vc__line *l, const char *prefix, const char *s)
{
    if (s == NULL) {
        vc__put(l, "null", 4);
        return;
    }
    vc__put(l, "\"", 1);
    if (prefix) vc__puts(l, prefix);
    const unsigned char *start = (const unsigned char *)s, *p = start, *run = start;
    bool truncated = false;
    while (*p) {
        if ((size_t)(p - start) >= VC_LOG_MAX_VALUE) {
            truncated = true;
            break;
        }
        if (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') {
            p++;
            continue;
        }
        vc__put(l, (const char *)run, (size_t)(p - run));
        if (*p < 0x80) {
            vc__put_escape(l, *p);
            p++;
        } else {
            size_t k = vc__utf8_seq(p);
            if (k == 0) {
                vc__put(l, "\xEF\xBF\xBD", 3);
                p++;
            } else {
                vc__put(l, (const char *)p, k);
                p += k;
            }
        }
        run = p;
    }
    vc__put(l, (const char *)run, (size_t)(p - run));
    if (truncated) vc__puts(l, "...(truncated)");
    vc__put(l, "\"", 1);
}

static void vc__put_double(vc__line *l, double d)
{
    char nb[40];
    if (!isfinite(d)) {
        vc__put(l, "null", 4);
        return;
    }
    /* The shortest precision that reads back as the same double: 0.1 stays "0.1". */
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(nb, sizeof(nb), "%.*g", prec, d);
        if (strtod(nb, NULL) == d) break;
    }
    vc__puts(l, nb);
}

static bool vc__reserved_key(const char *k)
{
    return strcmp(k, "time") == 0 || strcmp(k, "level") == 0 || strcmp(k, "service") == 0 ||
           strcmp(k, "msg") == 0;
}

static void vc__put_field(vc__line *l, const vc_log_field *f)
{
    char nb[32];
    vc__put(l, ",", 1);
    vc__put_str(l, vc__reserved_key(f->key) ? "_" : NULL, f->key);
    vc__put(l, ":", 1);
    switch (f->type) {
    case VC_LF_STR: vc__put_str(l, NULL, f->s); break;
    case VC_LF_INT:
        snprintf(nb, sizeof(nb), "%" PRId64, f->i);
        vc__puts(l, nb);
        break;
    case VC_LF_DBL: vc__put_double(l, f->d); break;
    default: vc__put(l, "null", 4); break;
    }
}

static void vc__put_head(vc__line *l, vc_log_level lvl, const char *msg)
{
    struct timespec ts;
    struct tm tm;
    char tb[128]; /* sized for the worst case the compiler can prove */
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(tb, sizeof(tb), "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             ts.tv_nsec / 1000000);
    vc__puts(l, tb);
    vc__puts(l, vc_log_level_name(lvl));
    vc__puts(l, "\",\"service\":");
    vc__put_str(l, NULL, vc__service);
    vc__puts(l, ",\"msg\":");
    vc__put_str(l, NULL, msg);
}

static void vc__write_all(const char *p, size_t n)
{
    int fd = atomic_load_explicit(&vc__fd, memory_order_relaxed);
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return; /* nowhere left to report it */
        }
        p += w;
        n -= (size_t)w;
    }
}

void vc_log_fields(vc_log_level lvl, const char *msg, const vc_log_field *f, size_t n)
{
    if (!vc_log_enabled(lvl)) return;
    int saved_errno = errno; /* callers log and then inspect errno */
    char stack[VC__LOG_STACK_LINE];
    vc__line l = {.p = stack, .cap = sizeof(stack)};

    vc__put_head(&l, lvl, msg);
    for (size_t i = 0; f != NULL && i < n; i++) {
        if (f[i].key != NULL) vc__put_field(&l, &f[i]);
    }
    vc__put(&l, "}\n", 2);

    if (l.oom) {
        /* The head alone always fits the stack buffer, so this cannot fail again. */
        if (l.heap) free(l.p);
        l = (vc__line){.p = stack, .cap = sizeof(stack)};
        vc__put_head(&l, lvl, "log line dropped: out of memory");
        vc__put(&l, "}\n", 2);
    }
    vc__write_all(l.p, l.len);
    if (l.heap) free(l.p);
    errno = saved_errno;
}

void vc_logf(vc_log_level lvl, const char *fmt, ...)
{
    if (!vc_log_enabled(lvl)) return;
    char stack[VC__LOG_STACK_MSG];
    const char *msg = stack;
    char *heap = NULL;
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(stack, sizeof(stack), fmt, ap);
    va_end(ap);
    if (len < 0) {
        msg = fmt;
    } else if ((size_t)len >= sizeof(stack)) {
        /* Anything past VC_LOG_MAX_VALUE is cut anyway; format just enough to mark it. */
        size_t want = (size_t)len < VC_LOG_MAX_VALUE + 1 ? (size_t)len + 1 : VC_LOG_MAX_VALUE + 2;
        heap = malloc(want);
        if (heap != NULL) {
            va_start(ap, fmt);
            vsnprintf(heap, want, fmt, ap);
            va_end(ap);
            msg = heap;
        }
    }
    vc_log_fields(lvl, msg, NULL, 0);
    free(heap);
}
