/*
 * vc_db.c - connection pool, prepared statement cache, cursors and transactions on libmariadb.
 * See vc_db.h for the contract. Layout of this file: library/thread setup, error mapping,
 * connections, the pool, statements (cache, parameters, cursor), transactions.
 */
#include "db/vc_db.h"

#include "base/vc_err.h"

#include <errmsg.h>
#include <inttypes.h>
#include <mysqld_error.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define VC__ERRMSG_LEN 512
/* An idle connection older than this is pinged before it is handed out: a server restart or
 * wait_timeout would otherwise fail the first statement of an unlucky request. */
#define VC__IDLE_PING_MS 30000
#define VC__COL_MIN_CAP  64
/* Column buffers above this are freed when the cursor closes instead of being kept for reuse. */
#define VC__COL_KEEP_CAP (64 * 1024)

typedef struct vc__col {
    bool is_int;
    bool is_unsigned;
    my_bool is_null;
    my_bool error;
    union {
        int64_t i;
        uint64_t u;
    } num;
    char *buf; /* string columns; always one byte more than bound, for the NUL */
    size_t cap;
    unsigned long len;
} vc__col;

/* One cached prepared statement. It doubles as the cursor on its result while `open`. */
struct vc_db_rows {
    vc_db_conn *conn;
    char *sql;
    size_t sql_len;
    uint64_t hash;
    uint64_t last_used;
    MYSQL_STMT *stmt; /* NULL: free cache slot */
    unsigned nparams;
    MYSQL_BIND *pbind;
    unsigned ncols;
    unsigned cols_cap;
    MYSQL_BIND *rbind;
    vc__col *cols;
    bool open;
};

struct vc_db_conn {
    vc_db_pool *pool;
    MYSQL *mysql; /* NULL while disconnected */
    vc_db_conn *next_idle;
    bool broken;         /* network-level failure: close on release */
    bool just_connected; /* connected by the current lease: no need to ping */
    bool in_tx;
    bool tx_retry; /* deadlock / lock wait timeout seen inside the current transaction */
    uint64_t idle_since_ms;
    uint64_t insert_id;
    uint64_t tick;
    uint64_t rng;
    struct vc_db_rows *stmts; /* stmt_cache_size slots, allocated on first use */
    unsigned err;
    char errmsg[VC__ERRMSG_LEN];
};

struct vc_db_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *host, *socket, *user, *password, *database;
    unsigned port, size, connect_timeout_s, rw_timeout_s, lock_wait_timeout_s;
    unsigned tx_max_attempts, stmt_cache_size;
    int lease_timeout_ms;
    vc_db_conn *conns;
    vc_db_conn *idle;            /* LIFO: the most recently used connection is the warmest */
    unsigned leased;             /* under mu */
    char errmsg[VC__ERRMSG_LEN]; /* under mu */
    atomic_uint connected;
    atomic_uint_fast64_t leases, lease_waits, lease_timeouts, connects, connect_errors, broken,
        prepares, stmt_cache_hits, tx_retries;
};

/* ---- library and thread registration ------------------------------------------------------- */

static pthread_once_t vc__once = PTHREAD_ONCE_INIT;
static int vc__lib_rc;
static pthread_key_t vc__thread_key;
static _Thread_local bool vc__thread_registered;
static char vc__thread_marker;

static void vc__thread_dtor(void *p)
{
    (void)p;
    mysql_thread_end();
}

static void vc__lib_init(void)
{
    if (mysql_library_init(0, NULL, NULL) != 0) {
        vc__lib_rc = VC_EDB;
        return;
    }
    if (pthread_key_create(&vc__thread_key, vc__thread_dtor) != 0) vc__lib_rc = VC_ENOMEM;
}

/* libmariadb's per-thread hooks are no-ops today, but the API contract (and libmysqlclient)
 * requires them; the key destructor pairs the end with the init at thread exit. */
static int vc__thread_register(void)
{
    pthread_once(&vc__once, vc__lib_init);
    if (vc__lib_rc != 0) return vc__lib_rc;
    if (vc__thread_registered) return 0;
    if (mysql_thread_init() != 0) return VC_EDB;
    if (pthread_setspecific(vc__thread_key, &vc__thread_marker) != 0) {
        mysql_thread_end();
        return VC_ENOMEM;
    }
    vc__thread_registered = true;
    return 0;
}

void vc_db_thread_end(void)
{
    if (!vc__thread_registered) return;
    pthread_setspecific(vc__thread_key, NULL);
    mysql_thread_end();
    vc__thread_registered = false;
}

void vc_db_library_end(void)
{
    vc_db_thread_end();
    mysql_library_end();
}

/* ---- small helpers ------------------------------------------------------------------------- */

static uint64_t vc__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t vc__fnv1a(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static uint64_t vc__xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

static char *vc__strdup_opt(const char *s, bool *oom)
{
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) *oom = true;
    return d;
}

/* ---- error mapping ------------------------------------------------------------------------- */

static bool vc__is_conn_lost(unsigned err)
{
    switch (err) {
    case CR_CONNECTION_ERROR:
    case CR_CONN_HOST_ERROR:
    case CR_SERVER_GONE_ERROR:
    case CR_SERVER_LOST:
    case CR_SERVER_LOST_EXTENDED:
    case CR_SERVER_HANDSHAKE_ERR:
    case CR_SSL_CONNECTION_ERROR:
    case CR_ERR_NET_READ:
    case CR_ERR_NET_WRITE:
    case ER_CONNECTION_KILLED:
    case ER_SERVER_SHUTDOWN: return true;
    default: return false;
    }
}

/* Client errors that concern one statement's use, not the connection's state. */
static bool vc__is_stmt_client_error(unsigned err)
{
    switch (err) {
    case CR_NO_PREPARE_STMT:
    case CR_PARAMS_NOT_BOUND:
    case CR_INVALID_PARAMETER_NO:
    case CR_INVALID_BUFFER_USE:
    case CR_UNSUPPORTED_PARAM_TYPE:
    case CR_NO_DATA:
    case CR_NO_STMT_METADATA:
    case CR_NOT_IMPLEMENTED:
    case CR_STMT_CLOSED:
    case CR_NEW_STMT_METADATA: return true;
    default: return false;
    }
}

static void vc__mark_broken(vc_db_conn *c)
{
    if (c->broken) return;
    c->broken = true;
    atomic_fetch_add(&c->pool->broken, 1);
}

/* Records err/msg on c and maps err to a VC_E* code; marks c broken where the connection can no
 * longer be trusted, and flags the running transaction for retry on deadlocks. */
static int vc__fail(vc_db_conn *c, unsigned err, const char *msg)
{
    c->err = err;
    snprintf(c->errmsg, sizeof(c->errmsg), "%s (error %u)", msg && *msg ? msg : "unknown", err);
    switch (err) {
    case ER_DUP_ENTRY:
    case ER_DUP_ENTRY_WITH_KEY_NAME: return VC_EEXIST;
    case ER_LOCK_DEADLOCK:
    case ER_LOCK_WAIT_TIMEOUT:
        if (c->in_tx) c->tx_retry = true;
        return VC_EAGAIN;
    case ER_STATEMENT_TIMEOUT: return VC_ETIMEDOUT;
    case ER_QUERY_INTERRUPTED: return VC_ECANCELED;
    case CR_OUT_OF_MEMORY: vc__mark_broken(c); return VC_ENOMEM;
    default: break;
    }
    if (vc__is_conn_lost(err)) {
        vc__mark_broken(c);
        return VC_EDB_UNAVAILABLE;
    }
    if (err >= CR_MIN_ERROR && err <= CR_MAX_ERROR && !vc__is_stmt_client_error(err))
        vc__mark_broken(c); /* e.g. commands out of sync: the protocol state is unknown */
    return VC_EDB;
}

static int vc__fail_mysql(vc_db_conn *c)
{
    return vc__fail(c, mysql_errno(c->mysql), mysql_error(c->mysql));
}

static int vc__fail_stmt(vc_db_conn *c, MYSQL_STMT *s)
{
    return vc__fail(c, mysql_stmt_errno(s), mysql_stmt_error(s));
}

static int vc__misuse(vc_db_conn *c, const char *msg)
{
    c->err = 0;
    snprintf(c->errmsg, sizeof(c->errmsg), "%s", msg);
    return VC_EINVAL;
}

/* ---- statements: cache slots ---------------------------------------------------------------- */

static void vc__rows_free_result(struct vc_db_rows *st)
{
    if (!st->open) return;
    mysql_stmt_free_result(st->stmt);
    st->open = false;
    for (unsigned i = 0; i < st->ncols; i++) {
        if (st->cols[i].cap > VC__COL_KEEP_CAP) {
            free(st->cols[i].buf);
            st->cols[i].buf = NULL;
            st->cols[i].cap = 0;
        }
    }
}

static void vc__stmt_free(struct vc_db_rows *st)
{
    if (!st->stmt) return;
    vc__rows_free_result(st);
    mysql_stmt_close(st->stmt);
    for (unsigned i = 0; i < st->cols_cap; i++)
        free(st->cols[i].buf);
    free(st->cols);
    free(st->rbind);
    free(st->pbind);
    free(st->sql);
    vc_db_conn *c = st->conn;
    memset(st, 0, sizeof(*st));
    st->conn = c;
}

/* ---- connections --------------------------------------------------------------------------- */

static void vc__disconnect(vc_db_conn *c)
{
    /* Close the connection first: libmariadb then detaches its statements, and closing those
     * no longer talks to a server that may be gone. */
    if (c->mysql) {
        mysql_close(c->mysql);
        c->mysql = NULL;
        atomic_fetch_sub(&c->pool->connected, 1);
    }
    if (c->stmts) {
        for (unsigned i = 0; i < c->pool->stmt_cache_size; i++)
            vc__stmt_free(&c->stmts[i]);
    }
    c->broken = false;
    c->in_tx = false;
}

static void vc__pool_set_error(vc_db_pool *pool, const char *msg, unsigned err)
{
    pthread_mutex_lock(&pool->mu);
    snprintf(pool->errmsg, sizeof(pool->errmsg), "%s (error %u)", msg, err);
    pthread_mutex_unlock(&pool->mu);
}

static int vc__set_options(vc_db_pool *pool, MYSQL *m)
{
    my_bool off = 0;
    unsigned no_infile = 0;
    char init[160];
    snprintf(init, sizeof(init), "SET SESSION time_zone = '+00:00', innodb_lock_wait_timeout = %u",
             pool->lock_wait_timeout_s);
    if (mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &pool->connect_timeout_s) ||
        mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &pool->rw_timeout_s) ||
        mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &pool->rw_timeout_s) ||
        mysql_options(m, MYSQL_OPT_RECONNECT, &off) ||
        mysql_options(m, MYSQL_OPT_LOCAL_INFILE, &no_infile) ||
        mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4") ||
        mysql_options(m, MYSQL_INIT_COMMAND,
                      "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED") ||
        mysql_options(m, MYSQL_INIT_COMMAND, init))
        return VC_ENOMEM;
    return 0;
}

static int vc__connect(vc_db_conn *c)
{
    vc_db_pool *pool = c->pool;
    MYSQL *m = mysql_init(NULL);
    if (!m) return VC_ENOMEM;
    if (vc__set_options(pool, m) < 0) {
        mysql_close(m);
        return VC_ENOMEM;
    }
    /* libmariadb takes the socket only with host NULL/"localhost" and would quietly go to TCP
     * otherwise; a configured socket always wins. */
    const char *host = pool->socket ? "localhost" : pool->host;
    if (pool->socket) {
        unsigned proto = MYSQL_PROTOCOL_SOCKET;
        if (mysql_options(m, MYSQL_OPT_PROTOCOL, &proto) != 0) {
            mysql_close(m);
            return VC_ENOMEM;
        }
    }
    if (!mysql_real_connect(m, host, pool->user, pool->password, pool->database, pool->port,
                            pool->socket, CLIENT_FOUND_ROWS)) {
        vc__pool_set_error(pool, mysql_error(m), mysql_errno(m));
        c->err = mysql_errno(m);
        snprintf(c->errmsg, sizeof(c->errmsg), "%s (error %u)", mysql_error(m), c->err);
        mysql_close(m);
        atomic_fetch_add(&pool->connect_errors, 1);
        return VC_EDB_UNAVAILABLE;
    }
    c->mysql = m;
    c->just_connected = true;
    atomic_fetch_add(&pool->connected, 1);
    atomic_fetch_add(&pool->connects, 1);
    return 0;
}

/* Makes a freshly leased connection usable: connect if needed, ping if it idled long. */
static int vc__conn_ready(vc_db_conn *c)
{
    c->just_connected = false;
    c->err = 0;
    c->errmsg[0] = '\0';
    if (c->mysql && vc__now_ms() - c->idle_since_ms > VC__IDLE_PING_MS && mysql_ping(c->mysql) != 0)
        vc__disconnect(c);
    if (c->mysql) return 0;
    return vc__connect(c);
}

/* ---- pool ---------------------------------------------------------------------------------- */

static void vc__pool_free(vc_db_pool *pool)
{
    if (pool->conns) {
        for (unsigned i = 0; i < pool->size; i++) {
            vc__disconnect(&pool->conns[i]);
            free(pool->conns[i].stmts);
        }
    }
    free(pool->conns);
    free(pool->host);
    free(pool->socket);
    free(pool->user);
    if (pool->password) {
        explicit_bzero(pool->password, strlen(pool->password));
        free(pool->password);
    }
    free(pool->database);
    free(pool);
}

static void vc__pool_defaults(vc_db_pool *pool, const vc_db_opts *o)
{
    pool->port = o->port;
    pool->size = o->pool_size ? o->pool_size : 8;
    pool->connect_timeout_s = o->connect_timeout_s ? o->connect_timeout_s : 5;
    pool->rw_timeout_s = o->rw_timeout_s ? o->rw_timeout_s : 30;
    if (pool->rw_timeout_s < 2) pool->rw_timeout_s = 2;
    /* A lock wait must end before the read timeout, or it shows up as a lost connection. */
    unsigned lw = o->lock_wait_timeout_s ? o->lock_wait_timeout_s : 10;
    if (lw >= pool->rw_timeout_s) lw = pool->rw_timeout_s - 1;
    if (!o->lock_wait_timeout_s && lw > pool->rw_timeout_s / 2) lw = pool->rw_timeout_s / 2;
    pool->lock_wait_timeout_s = lw;
    pool->lease_timeout_ms = o->lease_timeout_ms > 0 ? o->lease_timeout_ms : 5000;
    pool->tx_max_attempts = o->tx_max_attempts ? o->tx_max_attempts : 5;
    pool->stmt_cache_size = o->stmt_cache_size ? o->stmt_cache_size : 64;
}

static int vc__pool_sync_init(vc_db_pool *pool)
{
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0) return VC_ENOMEM;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&pool->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0) return VC_ENOMEM;
    if (pthread_mutex_init(&pool->mu, NULL) != 0) {
        pthread_cond_destroy(&pool->cv);
        return VC_ENOMEM;
    }
    return 0;
}

int vc_db_pool_open(const vc_db_opts *opts, vc_db_pool **out)
{
    if (!opts || !out || opts->pool_size > 4096) return VC_EINVAL;
    *out = NULL;
    int rc = vc__thread_register();
    if (rc < 0) return rc;
    vc_db_pool *pool = calloc(1, sizeof(*pool));
    if (!pool) return VC_ENOMEM;
    vc__pool_defaults(pool, opts);
    bool oom = false;
    pool->host = vc__strdup_opt(opts->host, &oom);
    pool->socket = vc__strdup_opt(opts->socket, &oom);
    pool->user = vc__strdup_opt(opts->user, &oom);
    pool->password = vc__strdup_opt(opts->password, &oom);
    pool->database = vc__strdup_opt(opts->database, &oom);
    pool->conns = calloc(pool->size, sizeof(*pool->conns));
    if (oom || !pool->conns) {
        vc__pool_free(pool);
        return VC_ENOMEM;
    }
    uint64_t seed = vc__now_ms() ^ (uint64_t)(uintptr_t)pool;
    for (unsigned i = pool->size; i-- > 0;) {
        vc_db_conn *c = &pool->conns[i];
        c->pool = pool;
        c->rng = (seed + i * 0x9e3779b97f4a7c15ull) | 1;
        c->next_idle = pool->idle;
        pool->idle = c;
    }
    if (vc__pool_sync_init(pool) < 0) {
        vc__pool_free(pool);
        return VC_ENOMEM;
    }
    *out = pool;
    return 0;
}

void vc_db_pool_close(vc_db_pool *pool)
{
    if (!pool) return;
    pthread_mutex_lock(&pool->mu);
    unsigned leased = pool->leased;
    pthread_mutex_unlock(&pool->mu);
    if (leased) {
        fprintf(stderr, "vc_db_pool_close: %u connection(s) still leased\n", leased);
        abort();
    }
    pthread_mutex_destroy(&pool->mu);
    pthread_cond_destroy(&pool->cv);
    vc__pool_free(pool);
}

/* Takes an idle connection, waiting up to timeout_ms. NULL on timeout. */
static vc_db_conn *vc__take_idle(vc_db_pool *pool, int timeout_ms)
{
    pthread_mutex_lock(&pool->mu);
    if (!pool->idle && timeout_ms > 0) {
        atomic_fetch_add(&pool->lease_waits, 1);
        struct timespec dl;
        clock_gettime(CLOCK_MONOTONIC, &dl);
        dl.tv_sec += timeout_ms / 1000;
        dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (dl.tv_nsec >= 1000000000L) {
            dl.tv_sec++;
            dl.tv_nsec -= 1000000000L;
        }
        while (!pool->idle) {
            if (pthread_cond_timedwait(&pool->cv, &pool->mu, &dl) == ETIMEDOUT) break;
        }
    }
    vc_db_conn *c = pool->idle;
    if (c) {
        pool->idle = c->next_idle;
        c->next_idle = NULL;
        pool->leased++;
    }
    pthread_mutex_unlock(&pool->mu);
    return c;
}

static void vc__put_idle(vc_db_pool *pool, vc_db_conn *c)
{
    c->idle_since_ms = vc__now_ms();
    pthread_mutex_lock(&pool->mu);
    c->next_idle = pool->idle;
    pool->idle = c;
    pool->leased--;
    pthread_cond_signal(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
}

int vc_db_lease(vc_db_pool *pool, int timeout_ms, vc_db_conn **out)
{
    if (!pool || !out) return VC_EINVAL;
    *out = NULL;
    int rc = vc__thread_register();
    if (rc < 0) return rc;
    if (timeout_ms < 0) timeout_ms = pool->lease_timeout_ms;
    vc_db_conn *c = vc__take_idle(pool, timeout_ms);
    if (!c) {
        atomic_fetch_add(&pool->lease_timeouts, 1);
        return VC_ETIMEDOUT;
    }
    rc = vc__conn_ready(c);
    if (rc < 0) {
        vc__put_idle(pool, c);
        return rc;
    }
    atomic_fetch_add(&pool->leases, 1);
    *out = c;
    return 0;
}

void vc_db_release(vc_db_pool *pool, vc_db_conn *c)
{
    if (!c) return;
    if (c->pool != pool) {
        fprintf(stderr, "vc_db_release: connection released to a pool it does not belong to\n");
        abort();
    }
    if (c->stmts) {
        for (unsigned i = 0; i < pool->stmt_cache_size; i++)
            vc__rows_free_result(&c->stmts[i]);
    }
    /* Never hand the next lessee an open transaction or a session without autocommit. */
    if (c->mysql && !c->broken) {
        unsigned status = 0;
        mariadb_get_infov(c->mysql, MARIADB_CONNECTION_SERVER_STATUS, &status);
        if ((status & SERVER_STATUS_IN_TRANS) && mysql_rollback(c->mysql) != 0) vc__mark_broken(c);
        if (!(status & SERVER_STATUS_AUTOCOMMIT)) vc__mark_broken(c);
    }
    if (c->broken) vc__disconnect(c);
    c->in_tx = false;
    c->tx_retry = false;
    vc__put_idle(pool, c);
}

int vc_db_ping(vc_db_pool *pool, int timeout_ms)
{
    vc_db_conn *c;
    int rc = vc_db_lease(pool, timeout_ms, &c);
    if (rc < 0) return rc == VC_ETIMEDOUT ? rc : VC_EDB_UNAVAILABLE;
    if (!c->just_connected && mysql_ping(c->mysql) != 0) {
        vc__fail_mysql(c);
        vc__mark_broken(c);
        rc = VC_EDB_UNAVAILABLE;
    }
    vc_db_release(pool, c);
    return rc;
}

void vc_db_pool_errmsg(vc_db_pool *pool, char *buf, size_t cap)
{
    if (!buf || cap == 0) return;
    pthread_mutex_lock(&pool->mu);
    snprintf(buf, cap, "%s", pool->errmsg);
    pthread_mutex_unlock(&pool->mu);
}

void vc_db_pool_stats(vc_db_pool *pool, vc_db_stats *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&pool->mu);
    out->leased = pool->leased;
    pthread_mutex_unlock(&pool->mu);
    out->size = pool->size;
    out->connected = atomic_load(&pool->connected);
    out->leases = atomic_load(&pool->leases);
    out->lease_waits = atomic_load(&pool->lease_waits);
    out->lease_timeouts = atomic_load(&pool->lease_timeouts);
    out->connects = atomic_load(&pool->connects);
    out->connect_errors = atomic_load(&pool->connect_errors);
    out->broken = atomic_load(&pool->broken);
    out->prepares = atomic_load(&pool->prepares);
    out->stmt_cache_hits = atomic_load(&pool->stmt_cache_hits);
    out->tx_retries = atomic_load(&pool->tx_retries);
}

MYSQL *vc_db_conn_mysql(vc_db_conn *c)
{
    return c ? c->mysql : NULL;
}

const char *vc_db_errmsg(vc_db_conn *c)
{
    return c ? c->errmsg : "";
}

unsigned vc_db_errno(vc_db_conn *c)
{
    return c ? c->err : 0;
}

bool vc_db_in_tx(const vc_db_conn *c)
{
    return c && c->in_tx;
}

uint64_t vc_db_last_insert_id(vc_db_conn *c)
{
    return c ? c->insert_id : 0;
}

/* ---- statements: lookup and prepare --------------------------------------------------------- */

static int vc__prepare(vc_db_conn *c, struct vc_db_rows *st, const char *sql, size_t len,
                       uint64_t hash)
{
    MYSQL_STMT *s = mysql_stmt_init(c->mysql);
    if (!s) return vc__fail(c, CR_OUT_OF_MEMORY, "mysql_stmt_init failed");
    if (mysql_stmt_prepare(s, sql, (unsigned long)len) != 0) {
        int rc = vc__fail_stmt(c, s);
        mysql_stmt_close(s);
        return rc;
    }
    unsigned np = (unsigned)mysql_stmt_param_count(s);
    char *copy = malloc(len + 1);
    MYSQL_BIND *pb = calloc(np ? np : 1, sizeof(*pb));
    if (!copy || !pb) {
        free(copy);
        free(pb);
        mysql_stmt_close(s);
        return VC_ENOMEM;
    }
    memcpy(copy, sql, len + 1);
    st->stmt = s;
    st->sql = copy;
    st->sql_len = len;
    st->hash = hash;
    st->nparams = np;
    st->pbind = pb;
    atomic_fetch_add(&c->pool->prepares, 1);
    return 0;
}

/* Finds the cached statement for sql or prepares it into a free or least recently used slot. */
static int vc__stmt_get(vc_db_conn *c, const char *sql, struct vc_db_rows **out)
{
    unsigned cap = c->pool->stmt_cache_size;
    if (!c->stmts) {
        c->stmts = calloc(cap, sizeof(*c->stmts));
        if (!c->stmts) return VC_ENOMEM;
        for (unsigned i = 0; i < cap; i++)
            c->stmts[i].conn = c;
    }
    size_t len = strlen(sql);
    uint64_t h = vc__fnv1a(sql, len);
    struct vc_db_rows *victim = NULL;
    c->tick++;
    for (unsigned i = 0; i < cap; i++) {
        struct vc_db_rows *st = &c->stmts[i];
        if (!st->stmt) {
            if (!victim || victim->stmt) victim = st;
            continue;
        }
        if (st->hash == h && st->sql_len == len && memcmp(st->sql, sql, len) == 0) {
            if (st->open) return vc__misuse(c, "a cursor on this statement is still open");
            st->last_used = c->tick;
            atomic_fetch_add(&c->pool->stmt_cache_hits, 1);
            *out = st;
            return 0;
        }
        if (!st->open && (!victim || (victim->stmt && st->last_used < victim->last_used)))
            victim = st;
    }
    if (!victim) return vc__misuse(c, "every cached statement has an open cursor");
    vc__stmt_free(victim);
    int rc = vc__prepare(c, victim, sql, len, h);
    if (rc < 0) return rc;
    victim->last_used = c->tick;
    *out = victim;
    return 0;
}

static int vc__bind_params(vc_db_conn *c, struct vc_db_rows *st, const vc_db_param *p, size_t n)
{
    if (n != st->nparams) {
        c->err = 0;
        snprintf(c->errmsg, sizeof(c->errmsg),
                 "statement has %u placeholders, %zu parameters given", st->nparams, n);
        return VC_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        MYSQL_BIND *b = &st->pbind[i];
        memset(b, 0, sizeof(*b));
        /* The client library only reads input buffers; the casts drop const for its API. */
        switch (p[i].type) {
        case VC_DB_T_NULL: b->buffer_type = MYSQL_TYPE_NULL; break;
        case VC_DB_T_I64:
            b->buffer_type = MYSQL_TYPE_LONGLONG;
            b->buffer = (void *)(uintptr_t)&p[i].i64;
            break;
        case VC_DB_T_U64:
            b->buffer_type = MYSQL_TYPE_LONGLONG;
            b->buffer = (void *)(uintptr_t)&p[i].u64;
            b->is_unsigned = 1;
            break;
        case VC_DB_T_STR:
        case VC_DB_T_BLOB:
            if (p[i].len > VC_DB_MAX_PARAM_LEN || (!p[i].ptr && p[i].len))
                return vc__misuse(c, "string parameter too long or without data");
            b->buffer_type = p[i].type == VC_DB_T_STR ? MYSQL_TYPE_STRING : MYSQL_TYPE_BLOB;
            b->buffer = (void *)(uintptr_t)(p[i].ptr ? p[i].ptr : "");
            b->buffer_length = (unsigned long)p[i].len;
            break;
        default: return vc__misuse(c, "unknown parameter type");
        }
    }
    if (n && mysql_stmt_bind_param(st->stmt, st->pbind) != 0) return vc__fail_stmt(c, st->stmt);
    return 0;
}

/* Prepares (or finds), binds and executes. Returns the executed statement, or NULL with the
 * error in *rc. */
static struct vc_db_rows *vc__run(vc_db_conn *c, const char *sql, const vc_db_param *p, size_t n,
                                  int *rc)
{
    struct vc_db_rows *st = NULL;
    if (!c || !sql || (n && !p)) {
        *rc = VC_EINVAL;
        return NULL;
    }
    if (c->broken || !c->mysql) {
        *rc = VC_EDB_UNAVAILABLE;
        return NULL;
    }
    *rc = vc__stmt_get(c, sql, &st);
    if (*rc < 0) return NULL;
    *rc = vc__bind_params(c, st, p, n);
    if (*rc < 0) return NULL;
    if (mysql_stmt_execute(st->stmt) != 0) {
        unsigned err = mysql_stmt_errno(st->stmt);
        *rc = vc__fail_stmt(c, st->stmt);
        /* A statement the server forgot or that changed shape is prepared afresh next time. */
        if (err == ER_UNKNOWN_STMT_HANDLER || err == ER_NEED_REPREPARE ||
            (err >= CR_MIN_ERROR && err <= CR_MAX_ERROR))
            vc__stmt_free(st);
        return NULL;
    }
    return st;
}

int vc_db_exec(vc_db_conn *c, const char *sql, const vc_db_param *params, size_t n,
               uint64_t *affected)
{
    int rc;
    struct vc_db_rows *st = vc__run(c, sql, params, n, &rc);
    if (!st) return rc;
    if (mysql_stmt_field_count(st->stmt) > 0) {
        /* A result nobody asked for must still be drained before the next command. */
        if (mysql_stmt_store_result(st->stmt) != 0) return vc__fail_stmt(c, st->stmt);
        mysql_stmt_free_result(st->stmt);
    }
    c->insert_id = mysql_stmt_insert_id(st->stmt);
    if (affected) *affected = mysql_stmt_affected_rows(st->stmt);
    return 0;
}

int vc_db_exec_text(vc_db_conn *c, const char *sql, size_t len)
{
    if (!c || !sql) return VC_EINVAL;
    if (c->broken || !c->mysql) return VC_EDB_UNAVAILABLE;
    if (mysql_real_query(c->mysql, sql, (unsigned long)len) != 0) return vc__fail_mysql(c);
    MYSQL_RES *res = mysql_store_result(c->mysql);
    if (res)
        mysql_free_result(res);
    else if (mysql_field_count(c->mysql) != 0)
        return vc__fail_mysql(c);
    c->insert_id = mysql_insert_id(c->mysql);
    return 0;
}

/* ---- cursor -------------------------------------------------------------------------------- */

static bool vc__is_int_type(enum enum_field_types t)
{
    switch (t) {
    case MYSQL_TYPE_TINY:
    case MYSQL_TYPE_SHORT:
    case MYSQL_TYPE_LONG:
    case MYSQL_TYPE_INT24:
    case MYSQL_TYPE_LONGLONG:
    case MYSQL_TYPE_YEAR: return true;
    default: return false;
    }
}

static int vc__cols_reserve(struct vc_db_rows *st, unsigned n)
{
    if (n <= st->cols_cap) return 0;
    vc__col *cols = realloc(st->cols, n * sizeof(*cols));
    if (!cols) return VC_ENOMEM;
    st->cols = cols;
    memset(cols + st->cols_cap, 0, (n - st->cols_cap) * sizeof(*cols));
    MYSQL_BIND *rb = realloc(st->rbind, n * sizeof(*rb));
    if (!rb) return VC_ENOMEM; /* cols_cap unchanged: the larger cols array is harmless */
    st->rbind = rb;
    st->cols_cap = n;
    return 0;
}

static int vc__col_grow(vc__col *col, size_t need)
{
    if (col->cap >= need) return 0;
    char *b = realloc(col->buf, need);
    if (!b) return VC_ENOMEM;
    col->buf = b;
    col->cap = need;
    return 0;
}

static void vc__bind_col(MYSQL_BIND *b, vc__col *col)
{
    memset(b, 0, sizeof(*b));
    b->is_null = &col->is_null;
    b->error = &col->error;
    if (col->is_int) {
        b->buffer_type = MYSQL_TYPE_LONGLONG;
        b->buffer = &col->num;
        b->is_unsigned = col->is_unsigned;
    } else {
        b->buffer_type = MYSQL_TYPE_STRING;
        b->buffer = col->buf;
        b->buffer_length = (unsigned long)(col->cap - 1);
        b->length = &col->len;
    }
}

/* Binds every column of the executed statement: integers as 64-bit, the rest as text. */
static int vc__bind_result(vc_db_conn *c, struct vc_db_rows *st, unsigned nf)
{
    MYSQL_RES *meta = mysql_stmt_result_metadata(st->stmt);
    if (!meta) return vc__fail_stmt(c, st->stmt);
    int rc = vc__cols_reserve(st, nf);
    MYSQL_FIELD *f = mysql_fetch_fields(meta);
    for (unsigned i = 0; rc == 0 && i < nf; i++) {
        vc__col *col = &st->cols[i];
        col->is_int = vc__is_int_type(f[i].type);
        col->is_unsigned = (f[i].flags & UNSIGNED_FLAG) != 0;
        if (!col->is_int) rc = vc__col_grow(col, VC__COL_MIN_CAP);
        if (rc == 0) vc__bind_col(&st->rbind[i], col);
    }
    mysql_free_result(meta);
    if (rc < 0) return rc;
    st->ncols = nf;
    if (mysql_stmt_bind_result(st->stmt, st->rbind) != 0) return vc__fail_stmt(c, st->stmt);
    return 0;
}

int vc_db_query(vc_db_conn *c, const char *sql, const vc_db_param *params, size_t n,
                vc_db_rows **out)
{
    if (!out) return VC_EINVAL;
    *out = NULL;
    int rc;
    struct vc_db_rows *st = vc__run(c, sql, params, n, &rc);
    if (!st) return rc;
    unsigned nf = mysql_stmt_field_count(st->stmt);
    st->ncols = 0;
    if (nf > 0) {
        /* Buffered: the connection stays free for other statements while the cursor is read. */
        if (mysql_stmt_store_result(st->stmt) != 0) return vc__fail_stmt(c, st->stmt);
        rc = vc__bind_result(c, st, nf);
        if (rc < 0) {
            mysql_stmt_free_result(st->stmt);
            return rc;
        }
    }
    st->open = true;
    *out = st;
    return 0;
}

/* After MYSQL_DATA_TRUNCATED: grows the short buffers and re-reads those columns. */
static int vc__refetch_truncated(vc_db_rows *r)
{
    bool rebind = false;
    for (unsigned i = 0; i < r->ncols; i++) {
        vc__col *col = &r->cols[i];
        if (!col->error || col->is_null) continue;
        if (col->is_int) return vc__misuse(r->conn, "integer column out of range");
        if (vc__col_grow(col, (size_t)col->len + 1) < 0) return VC_ENOMEM;
        vc__bind_col(&r->rbind[i], col);
        if (mysql_stmt_fetch_column(r->stmt, &r->rbind[i], i, 0) != 0)
            return vc__fail_stmt(r->conn, r->stmt);
        rebind = true;
    }
    if (rebind && mysql_stmt_bind_result(r->stmt, r->rbind) != 0)
        return vc__fail_stmt(r->conn, r->stmt);
    return 0;
}

int vc_db_next(vc_db_rows *r)
{
    if (!r || !r->open) return VC_EINVAL;
    if (r->ncols == 0) return 0;
    int rc = mysql_stmt_fetch(r->stmt);
    if (rc == MYSQL_NO_DATA) return 0;
    if (rc == 1) return vc__fail_stmt(r->conn, r->stmt);
    if (rc == MYSQL_DATA_TRUNCATED) {
        rc = vc__refetch_truncated(r);
        if (rc < 0) return rc;
    }
    for (unsigned i = 0; i < r->ncols; i++) {
        vc__col *col = &r->cols[i];
        if (col->is_int || col->is_null) continue;
        if (col->len >= col->cap) return vc__misuse(r->conn, "column value truncated");
        col->buf[col->len] = '\0';
    }
    return 1;
}

unsigned vc_db_ncols(const vc_db_rows *r)
{
    return r && r->open ? r->ncols : 0;
}

void vc_db_rows_close(vc_db_rows *r)
{
    if (r) vc__rows_free_result(r);
}

static const vc__col *vc__col_at(const vc_db_rows *r, unsigned col)
{
    if (!r || !r->open || col >= r->ncols) return NULL;
    return &r->cols[col];
}

bool vc_db_is_null(const vc_db_rows *r, unsigned col)
{
    const vc__col *c = vc__col_at(r, col);
    return !c || c->is_null;
}

/* Strict decimal integer text ("-12", "340"; no spaces, no fraction). */
static int vc__parse_int(const char *s, bool is_unsigned, int64_t *i, uint64_t *u)
{
    if (!*s || (*s != '-' && (*s < '0' || *s > '9'))) return VC_EINVAL;
    if (is_unsigned && *s == '-') return VC_EOVERFLOW;
    char *end;
    errno = 0;
    if (is_unsigned)
        *u = strtoull(s, &end, 10);
    else
        *i = strtoll(s, &end, 10);
    if (*end != '\0') return VC_EINVAL;
    return errno == ERANGE ? VC_EOVERFLOW : 0;
}

int vc_db_get_i64(const vc_db_rows *r, unsigned col, int64_t *out)
{
    const vc__col *c = vc__col_at(r, col);
    if (!c || !out) return VC_EINVAL;
    if (c->is_null) return VC_ENOENT;
    if (!c->is_int) {
        uint64_t unused;
        return vc__parse_int(c->buf, false, out, &unused);
    }
    if (c->is_unsigned && c->num.u > INT64_MAX) return VC_EOVERFLOW;
    *out = c->num.i;
    return 0;
}

int vc_db_get_u64(const vc_db_rows *r, unsigned col, uint64_t *out)
{
    const vc__col *c = vc__col_at(r, col);
    if (!c || !out) return VC_EINVAL;
    if (c->is_null) return VC_ENOENT;
    if (!c->is_int) {
        int64_t unused;
        return vc__parse_int(c->buf, true, &unused, out);
    }
    if (!c->is_unsigned && c->num.i < 0) return VC_EOVERFLOW;
    *out = c->num.u;
    return 0;
}

int vc_db_get_str(vc_db_rows *r, unsigned col, const char **s, size_t *len)
{
    if (!vc__col_at(r, col) || !s) return VC_EINVAL;
    vc__col *c = &r->cols[col];
    if (c->is_null) return VC_ENOENT;
    if (c->is_int) {
        /* Formatted into the column's own buffer, which integer columns do not otherwise use. */
        if (vc__col_grow(c, 24) < 0) return VC_ENOMEM;
        int w = c->is_unsigned ? snprintf(c->buf, c->cap, "%" PRIu64, c->num.u)
                               : snprintf(c->buf, c->cap, "%" PRId64, c->num.i);
        c->len = (unsigned long)w;
    }
    *s = c->buf;
    if (len) *len = c->len;
    return 0;
}

int vc_db_copy_str(vc_db_rows *r, unsigned col, char *dst, size_t cap)
{
    if (!dst || cap == 0) return VC_EINVAL;
    dst[0] = '\0';
    const char *s;
    size_t len;
    int rc = vc_db_get_str(r, col, &s, &len);
    if (rc < 0) return rc;
    if (len + 1 > cap) return VC_EOVERFLOW;
    memcpy(dst, s, len + 1);
    return 0;
}

int vc_db_query_i64(vc_db_conn *c, const char *sql, const vc_db_param *params, size_t n,
                    int64_t *out)
{
    vc_db_rows *r;
    int rc = vc_db_query(c, sql, params, n, &r);
    if (rc < 0) return rc;
    rc = vc_db_next(r);
    if (rc == 0)
        rc = VC_ENOENT;
    else if (rc == 1)
        rc = vc_db_get_i64(r, 0, out);
    vc_db_rows_close(r);
    return rc;
}

/* ---- transactions -------------------------------------------------------------------------- */

static void vc__backoff(vc_db_conn *c, unsigned attempt)
{
    unsigned shift = attempt < 6 ? attempt : 6;
    unsigned base_us = 1000u << shift; /* 2 ms, 4 ms, ... capped at 50 ms */
    if (base_us > 50000u) base_us = 50000u;
    /* Jitter so that the two sides of a deadlock do not collide again in lockstep. */
    unsigned us = base_us / 2 + (unsigned)(vc__xorshift(&c->rng) % (base_us / 2 + 1));
    struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)us * 1000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* One attempt: BEGIN; fn; COMMIT or ROLLBACK. */
static int vc__tx_once(vc_db_conn *c, vc_db_tx_fn fn, void *arg)
{
    static const char begin[] = "START TRANSACTION";
    int rc = vc_db_exec_text(c, begin, sizeof(begin) - 1);
    if (rc < 0) return rc;
    c->in_tx = true;
    c->tx_retry = false;
    rc = fn(c, arg);
    if (rc > 0) rc = 0;
    if (rc == 0 && !c->tx_retry && !c->broken) {
        if (mysql_commit(c->mysql) != 0) rc = vc__fail_mysql(c);
    }
    if ((rc < 0 || c->tx_retry) && !c->broken) {
        /* The server may already have rolled back (deadlock); ROLLBACK is then a no-op. */
        if (mysql_rollback(c->mysql) != 0) vc__fail_mysql(c);
    }
    c->in_tx = false;
    return rc;
}

int vc_db_tx_on(vc_db_conn *c, vc_db_tx_fn fn, void *arg)
{
    if (!c || !fn) return VC_EINVAL;
    if (c->in_tx) return vc__misuse(c, "vc_db_tx inside a transaction");
    for (unsigned attempt = 1;; attempt++) {
        int rc = vc__tx_once(c, fn, arg);
        if (c->broken) return VC_EDB_UNAVAILABLE;
        if (!c->tx_retry) return rc;
        c->tx_retry = false;
        if (attempt >= c->pool->tx_max_attempts) return VC_EAGAIN;
        atomic_fetch_add(&c->pool->tx_retries, 1);
        vc__backoff(c, attempt);
    }
}

int vc_db_tx(vc_db_pool *pool, vc_db_tx_fn fn, void *arg)
{
    if (!pool || !fn) return VC_EINVAL;
    vc_db_conn *c;
    int rc = vc_db_lease(pool, VC_DB_DEFAULT_TIMEOUT, &c);
    if (rc < 0) return rc;
    rc = vc_db_tx_on(c, fn, arg);
    vc_db_release(pool, c);
    return rc;
}

int64_t vc_db_i64_or(const vc_db_rows *r, unsigned col, int64_t dflt)
{
    int64_t v;
    return vc_db_get_i64(r, col, &v) == 0 ? v : dflt;
}

char *vc_db_arena_str(vc_db_rows *r, unsigned col, vc_arena *a)
{
    const char *s = NULL;
    size_t n = 0;
    if (vc_db_get_str(r, col, &s, &n) != 0)
        return vc_arena_strdup(a, "");
    return vc_arena_strndup(a, s, n);
}

int vc_db_run(vc_db_pool *pool, vc_db_tx_fn fn, void *arg)
{
    vc_db_conn *c;
    int rc = vc_db_lease(pool, VC_DB_DEFAULT_TIMEOUT, &c);
    if (rc < 0)
        return rc;
    rc = fn(c, arg);
    vc_db_release(pool, c);
    return rc;
}
