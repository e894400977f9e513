/*
 * vc_db.h - MariaDB/MySQL access: a thread-safe connection pool, per-connection prepared
 * statement cache, typed parameters, a row cursor and retrying transactions.
 *
 * Typical use from an RPC worker:
 *
 *     static int debit(vc_db_conn *c, void *arg)
 *     {
 *         const struct debit *d = arg;
 *         uint64_t n;
 *         int rc = vc_db_exec(c, "UPDATE quota SET balance = balance - ? "
 *                                "WHERE reseller_id = ? AND balance >= ?",
 *                             VC_DB_ARGS(vc_db_i64(d->amount), vc_db_i64(d->reseller),
 *                                        vc_db_i64(d->amount)), &n);
 *         if (rc < 0) return rc;
 *         return n == 1 ? 0 : VC_ECONFLICT;
 *     }
 *     ...
 *     rc = vc_db_tx(pool, debit, &d);   // BEGIN; debit(); COMMIT, retried on deadlock
 *
 * Pool. vc_db_pool_open() copies the options and connects nothing: connections are made lazily
 * by vc_db_lease(), so a service starts (and reports unhealthy) while the database is down. A
 * connection that failed at the network level is marked broken, closed on release and replaced
 * by a fresh one on a later lease; MYSQL_OPT_RECONNECT is never used (it would silently drop
 * session state and open transactions).
 *
 * Session settings of every connection: character set utf8mb4, autocommit on (outside
 * vc_db_tx), isolation READ COMMITTED, time_zone '+00:00' (NOW() and TIMESTAMP columns are UTC),
 * innodb_lock_wait_timeout below the read timeout (a lock wait ends as a retryable error, not as
 * a dead connection), and CLIENT_FOUND_ROWS: the affected-row count of an UPDATE is the number
 * of rows its WHERE clause matched, so "0 rows" reliably means "the condition did not hold".
 * Connect, read and write timeouts are always set, so a dead server never hangs a thread.
 *
 * Statements. Every data statement runs through the binary protocol as a prepared statement,
 * cached per connection by its SQL text (bounded LRU, opts.stmt_cache_size). Parameters are an
 * array of vc_db_param built with vc_db_i64() & co. and VC_DB_ARGS(); strings and blobs carry
 * their length (no NUL needed; embedded NULs allowed); SQL NULL is vc_db_null() or a NULL
 * string pointer. Results are read with a cursor (vc_db_query / vc_db_next / vc_db_get_*).
 *
 * Errors. Functions return 0 or a negative VC_E* code:
 *   VC_EEXIST            duplicate key (1062, 1586)
 *   VC_EAGAIN            deadlock (1213) or lock wait timeout (1205): retry the transaction;
 *                        vc_db_tx does so by itself
 *   VC_EDB_UNAVAILABLE   cannot connect, or the connection was lost (2002, 2006, 2013, ...);
 *                        the connection is marked broken
 *   VC_ETIMEDOUT         no connection became free in time; statement timeout (1969)
 *   VC_EINVAL            API misuse (wrong parameter count, bad column, ...)
 *   VC_ENOMEM            allocation failure
 *   VC_EDB               any other server error (syntax, constraint, ...)
 * vc_db_errmsg() keeps the text of the last error of a connection for logs.
 *
 * Threads. The pool is thread-safe. A leased vc_db_conn (and any cursor on it) belongs to one
 * thread at a time; it may be passed to another thread between calls (e.g. libuv work callbacks)
 * but never used by two at once. The client library is initialised once (pthread_once); each
 * thread that leases a connection is registered with the client library lazily, and
 * unregistered automatically when it exits (pthread key destructor). A thread may call
 * vc_db_thread_end() itself before exiting; it is harmless otherwise.
 */
#ifndef VC_DB_H
#define VC_DB_H

#include <mysql.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/vc_arena.h"

/* Options of a pool. Strings are copied by vc_db_pool_open(); zero/NULL means "default". */
typedef struct vc_db_opts {
    const char *host;   /* TCP host; ignored when socket is set */
    unsigned port;      /* 0 → 3306 */
    const char *socket; /* unix socket path; when set, always used */
    const char *user;
    const char *password;       /* NULL → no password */
    const char *database;       /* default schema, or NULL */
    unsigned pool_size;         /* max connections; 0 → 8 */
    unsigned connect_timeout_s; /* 0 → 5 */
    unsigned rw_timeout_s;      /* per network read/write; 0 → 30, minimum 2 */
    /* Added beyond the original set: */
    int lease_timeout_ms;         /* used by vc_db_tx and VC_DB_DEFAULT_TIMEOUT; 0 → 5000 */
    unsigned tx_max_attempts;     /* vc_db_tx attempts on deadlock; 0 → 5 */
    unsigned stmt_cache_size;     /* prepared statements kept per connection; 0 → 64 */
    unsigned lock_wait_timeout_s; /* innodb_lock_wait_timeout; 0 → min(10, rw_timeout_s/2) */
} vc_db_opts;

typedef struct vc_db_pool vc_db_pool; /* opaque */
typedef struct vc_db_conn vc_db_conn; /* opaque: a leased connection + its statement cache */
typedef struct vc_db_rows vc_db_rows; /* opaque: the open result of a vc_db_query */

/* Pass as timeout_ms to wait as long as opts.lease_timeout_ms. */
#define VC_DB_DEFAULT_TIMEOUT (-1)

/* Creates a pool; *out is set on success and freed with vc_db_pool_close(). Connects nothing,
 * so it succeeds while the database is down. VC_EINVAL (no user / neither host nor socket),
 * VC_ENOMEM, VC_EDB (client library failed to initialise). */
int vc_db_pool_open(const vc_db_opts *opts, vc_db_pool **out);

/* Closes every connection and frees the pool. All leased connections must have been released
 * first (a leased one aborts the process: it is a use-after-free in waiting). NULL is a no-op. */
void vc_db_pool_close(vc_db_pool *pool);

/* Leases a connection, waiting up to timeout_ms for one to become free (0: do not wait,
 * VC_DB_DEFAULT_TIMEOUT: opts.lease_timeout_ms), then connects it if needed (bounded by
 * connect_timeout_s). Idle connections unused for a while are pinged first. Errors:
 * VC_ETIMEDOUT (pool exhausted), VC_EDB_UNAVAILABLE (cannot connect; see vc_db_pool_errmsg).
 * The connection must be given back with vc_db_release() by the same pool. */
int vc_db_lease(vc_db_pool *pool, int timeout_ms, vc_db_conn **out);

/* Gives a leased connection back. Open cursors are closed, an open transaction is rolled back,
 * and a broken connection is closed (a later lease reconnects). NULL conn is a no-op. */
void vc_db_release(vc_db_pool *pool, vc_db_conn *conn);

/* 0 when the server answers a ping within the lease timeout_ms (+ connect/read timeouts);
 * VC_ETIMEDOUT when no connection was free, VC_EDB_UNAVAILABLE otherwise. For health checks. */
int vc_db_ping(vc_db_pool *pool, int timeout_ms);

/* Copies the text of the pool's last connection failure into buf (always NUL-terminated; ""
 * when none). */
void vc_db_pool_errmsg(vc_db_pool *pool, char *buf, size_t cap);

/* Counters for metrics; a consistent-enough snapshot, taken without stopping the pool. */
typedef struct vc_db_stats {
    unsigned size;            /* opts.pool_size */
    unsigned leased;          /* connections currently leased */
    unsigned connected;       /* connections currently open (leased or idle) */
    uint64_t leases;          /* successful leases */
    uint64_t lease_waits;     /* leases that had to wait for a free connection */
    uint64_t lease_timeouts;  /* leases that gave up (VC_ETIMEDOUT) */
    uint64_t connects;        /* successful connects */
    uint64_t connect_errors;  /* failed connects */
    uint64_t broken;          /* connections closed after a network error */
    uint64_t prepares;        /* statements prepared (cache misses) */
    uint64_t stmt_cache_hits; /* statements found prepared */
    uint64_t tx_retries;      /* vc_db_tx attempts repeated after a deadlock/lock timeout */
} vc_db_stats;

void vc_db_pool_stats(vc_db_pool *pool, vc_db_stats *out);

/* The underlying handle of a leased connection, for what this API does not cover. Valid until
 * release; NULL never (a leased connection is connected). Do not close it, change autocommit or
 * leave a transaction open; errors seen through it are not recorded in vc_db_errmsg(). */
MYSQL *vc_db_conn_mysql(vc_db_conn *c);

/* Text of the last error on this connection ("" if none yet). Owned by the connection, valid
 * until its next call. */
const char *vc_db_errmsg(vc_db_conn *c);

/* MariaDB/MySQL error number of the last error on this connection (0 if none). */
unsigned vc_db_errno(vc_db_conn *c);

/* Unregisters the calling thread from the client library. Optional (thread exit does it). */
void vc_db_thread_end(void);

/* Releases the client library's global state. Only at process exit, after every pool is closed
 * and every other thread that used the pool has ended; makes leak checkers quiet. */
void vc_db_library_end(void);

/* ---- parameters ---------------------------------------------------------------------------- */

typedef enum vc_db_type {
    VC_DB_T_NULL = 0,
    VC_DB_T_I64,
    VC_DB_T_U64,
    VC_DB_T_STR,  /* text, utf8mb4 */
    VC_DB_T_BLOB, /* bytes */
} vc_db_type;

/* One statement parameter. Strings and blobs are borrowed: they must stay valid for the call. */
typedef struct vc_db_param {
    vc_db_type type;
    int64_t i64;
    uint64_t u64;
    const void *ptr;
    size_t len;
} vc_db_param;

static inline vc_db_param vc_db_null(void)
{
    return (vc_db_param){.type = VC_DB_T_NULL};
}
static inline vc_db_param vc_db_i64(int64_t v)
{
    return (vc_db_param){.type = VC_DB_T_I64, .i64 = v};
}
static inline vc_db_param vc_db_u64(uint64_t v)
{
    return (vc_db_param){.type = VC_DB_T_U64, .u64 = v};
}
/* A NUL-terminated string; NULL → SQL NULL. */
static inline vc_db_param vc_db_str(const char *s)
{
    if (!s) return vc_db_null();
    return (vc_db_param){.type = VC_DB_T_STR, .ptr = s, .len = strlen(s)};
}
/* len bytes of s (need not be NUL-terminated); NULL s → SQL NULL. */
static inline vc_db_param vc_db_strn(const char *s, size_t len)
{
    if (!s) return vc_db_null();
    return (vc_db_param){.type = VC_DB_T_STR, .ptr = s, .len = len};
}
/* len bytes of p; NULL p → SQL NULL. */
static inline vc_db_param vc_db_blob(const void *p, size_t len)
{
    if (!p) return vc_db_null();
    return (vc_db_param){.type = VC_DB_T_BLOB, .ptr = p, .len = len};
}
static inline vc_db_param vc_db_bool(bool b)
{
    return vc_db_i64(b ? 1 : 0);
}

/* Expands to "array, count" for the params/nparams arguments below:
 *   vc_db_exec(c, sql, VC_DB_ARGS(vc_db_i64(a), vc_db_str(b)), &affected);
 * and VC_DB_NOARGS for a statement without placeholders. */
#define VC_DB_ARGS(...)                                                                            \
    ((const vc_db_param[]){__VA_ARGS__}),                                                          \
        (sizeof((const vc_db_param[]){__VA_ARGS__}) / sizeof(vc_db_param))
#define VC_DB_NOARGS NULL, 0

/* Longest string/blob parameter accepted (the server's max_allowed_packet may be lower). */
#define VC_DB_MAX_PARAM_LEN ((size_t)64 << 20)

/* ---- statements ---------------------------------------------------------------------------- */

/* Executes one statement with n parameters (n must equal its number of '?'). *affected (may be
 * NULL) receives the rows matched (UPDATE), inserted or deleted. A result set, if any, is
 * discarded. */
int vc_db_exec(vc_db_conn *c, const char *sql, const vc_db_param *params, size_t n,
               uint64_t *affected);

/* AUTO_INCREMENT value generated by the last vc_db_exec on this connection (0 if none). */
uint64_t vc_db_last_insert_id(vc_db_conn *c);

/* Executes a query and opens a cursor on its result (buffered on the client, so other
 * statements may run on the connection while it is open). *out is owned by the connection:
 * close it with vc_db_rows_close() (vc_db_release closes forgotten ones). While a cursor is
 * open, running the same SQL text again on the connection fails with VC_EINVAL. */
int vc_db_query(vc_db_conn *c, const char *sql, const vc_db_param *params, size_t n,
                vc_db_rows **out);

/* Advances to the next row: 1 when there is one, 0 at the end, <0 on error. */
int vc_db_next(vc_db_rows *r);

/* Number of columns of the result. */
unsigned vc_db_ncols(const vc_db_rows *r);

/* Column accessors for the current row (columns from 0). Each returns 0, VC_ENOENT when the
 * value is SQL NULL, VC_EINVAL for a bad column or a value of the wrong kind, VC_EOVERFLOW
 * when it does not fit. Integers may come from integer columns or from integer-valued text or
 * DECIMAL (e.g. SUM()). */
bool vc_db_is_null(const vc_db_rows *r, unsigned col);
int vc_db_get_i64(const vc_db_rows *r, unsigned col, int64_t *out);
int vc_db_get_u64(const vc_db_rows *r, unsigned col, uint64_t *out);
/* *s points into the cursor (NUL-terminated, *len bytes without the NUL; len may be NULL),
 * valid until the next vc_db_next/vc_db_rows_close. Any column type; numbers are formatted. */
int vc_db_get_str(vc_db_rows *r, unsigned col, const char **s, size_t *len);
/* Copies a column as a NUL-terminated string into dst[cap]; VC_EOVERFLOW if it does not fit
 * (dst is then ""). On VC_ENOENT (NULL) dst is "" too. */
int vc_db_copy_str(vc_db_rows *r, unsigned col, char *dst, size_t cap);

/* Convenience readers for handlers: the integer, or `dflt` for NULL/bad; the text copied into
 * the arena, "" for NULL (NULL only on ENOMEM). */
int64_t vc_db_i64_or(const vc_db_rows *r, unsigned col, int64_t dflt);
char *vc_db_arena_str(vc_db_rows *r, unsigned col, vc_arena *a);

/* Frees the result; the cursor must not be used afterwards. NULL is a no-op. */
void vc_db_rows_close(vc_db_rows *r);

/* Runs a query and reads column 0 of its first row as an integer. VC_ENOENT when there is no
 * row or the value is NULL. */
int vc_db_query_i64(vc_db_conn *c, const char *sql, const vc_db_param *params, size_t n,
                    int64_t *out);

/* Runs one statement through the text protocol, without parameters. Only for fixed, trusted
 * SQL that the prepared-statement protocol does not accept (some DDL, migrations); never with
 * text that came from outside the binary. */
int vc_db_exec_text(vc_db_conn *c, const char *sql, size_t len);

/* ---- transactions -------------------------------------------------------------------------- */

/* The body of a transaction: returns 0 (or any value >= 0) to commit, a negative VC_E* code to
 * roll back. It may run several times (see vc_db_tx), so it must not have effects outside the
 * database that a repetition would duplicate; it must not commit or roll back itself. */
typedef int (*vc_db_tx_fn)(vc_db_conn *c, void *arg);

/* Leases a connection (opts.lease_timeout_ms), runs BEGIN; fn; COMMIT and releases it.
 * - fn returns < 0: ROLLBACK, that code is returned.
 * - a deadlock (1213) or lock wait timeout (1205) anywhere inside, including COMMIT and even
 *   if fn swallowed the error: ROLLBACK, short jittered backoff, fn again from the start; after
 *   opts.tx_max_attempts attempts VC_EAGAIN.
 * - the connection was lost: VC_EDB_UNAVAILABLE (if it was lost during COMMIT the outcome is
 *   unknown: make the work idempotent).
 * Returns 0 after a successful COMMIT. Do not nest: fn must use c, not lease another
 * connection from the same pool (that can exhaust the pool). */
int vc_db_tx(vc_db_pool *pool, vc_db_tx_fn fn, void *arg);

/* As vc_db_tx, on a connection the caller already holds. VC_EINVAL if c is inside a
 * transaction already. */
int vc_db_tx_on(vc_db_conn *c, vc_db_tx_fn fn, void *arg);

/* Leases a connection, runs fn on it outside any transaction (reads that need no snapshot
 * across statements) and releases it. fn's result is returned. */
int vc_db_run(vc_db_pool *pool, vc_db_tx_fn fn, void *arg);

/* True while c is inside vc_db_tx. */
bool vc_db_in_tx(const vc_db_conn *c);

#endif
