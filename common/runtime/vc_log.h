/*
 * vc_log.h - structured logging: one JSON object per line on stderr.
 *
 * Every line looks like
 *   {"time":"2026-11-23T15:04:05.123Z","level":"info","service":"reseller-svc","msg":"...",
 *    "rpc":"/reseller.v1.VoucherService/IssueVoucher","duration_ms":1.25}
 * i.e. the four fixed keys (time in UTC with milliseconds, level, service, msg) followed by the
 * caller's fields in the order given. Log shippers can parse every line with any JSON parser:
 * strings are escaped (quotes, backslash, control characters), invalid UTF-8 is replaced by
 * U+FFFD, NULL strings become null, NaN/Inf doubles become null. A field whose key is one of
 * the fixed keys is written as "_<key>" so a line never carries a duplicate key.
 *
 * Limits: a string value longer than VC_LOG_MAX_VALUE bytes is cut there and marked with
 * "...(truncated)"; a line is built on the stack and moves to the heap only when it outgrows
 * the stack buffer. If even that allocation fails, a short "log line dropped" line is written.
 *
 * Thread-safety: vc_log_init() must run before other threads start. Everything else may be
 * called from any thread: each line is assembled privately and handed to the kernel with a
 * single write(2), so concurrent lines never interleave (lines up to PIPE_BUF bytes are atomic
 * even on a pipe). There are no locks.
 */
#ifndef VC_LOG_H
#define VC_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum vc_log_level { VC_LOG_DEBUG, VC_LOG_INFO, VC_LOG_WARN, VC_LOG_ERROR } vc_log_level;

/* Bytes of one string value (message included) kept before truncation. */
#define VC_LOG_MAX_VALUE 8192

/* Sets the service name (copied; at most 63 bytes kept) and the minimum level written.
 * Before this call lines say "service":"vc" and the level is VC_LOG_INFO. */
void vc_log_init(const char *service, vc_log_level min_level);

/* Parses "debug", "info", "warn"/"warning", "error" (any case) into *out: 0 or VC_EINVAL. */
int vc_log_level_parse(const char *s, vc_log_level *out);

/* Name of a level as written in the "level" key ("debug", "info", ...). Never NULL. */
const char *vc_log_level_name(vc_log_level lvl);

/* Changes the minimum level at run time (e.g. from a signal-triggered reload). */
void vc_log_set_level(vc_log_level min_level);

/* Redirects output to fd (default 2). The fd is not owned: the caller keeps it open while
 * logging may happen and closes it afterwards. Meant for tests. */
void vc_log_set_fd(int fd);

/* True if a line at lvl would be written; use it to skip building expensive fields. */
bool vc_log_enabled(vc_log_level lvl);

typedef enum vc_log_ftype { VC_LF_STR, VC_LF_INT, VC_LF_DBL } vc_log_ftype;

/* One key/value pair. Build them with the macros below; nothing is copied or retained. */
typedef struct vc_log_field {
    const char *key;
    vc_log_ftype type;
    const char *s;
    int64_t i;
    double d;
} vc_log_field;

#define VC_LOG_S(k, v) ((vc_log_field){.key = (k), .type = VC_LF_STR, .s = (v)})
#define VC_LOG_I(k, v) ((vc_log_field){.key = (k), .type = VC_LF_INT, .i = (v)})
#define VC_LOG_D(k, v) ((vc_log_field){.key = (k), .type = VC_LF_DBL, .d = (v)})

/* Writes one line with msg and the n fields f[0..n-1] (f may be NULL when n is 0). Fields with
 * a NULL key are skipped. Example:
 *   vc_log_fields(VC_LOG_INFO, "rpc done",
 *                 (vc_log_field[]){VC_LOG_S("rpc", name), VC_LOG_I("status", code)}, 2); */
void vc_log_fields(vc_log_level lvl, const char *msg, const vc_log_field *f, size_t n);

/* printf-style convenience: the formatted text becomes "msg", no other fields. */
void vc_logf(vc_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
