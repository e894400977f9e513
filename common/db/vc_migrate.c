/*
 * vc_migrate.c - applies and checks embedded migrations; see vc_migrate.h.
 */
#include "db/vc_migrate.h"

#include "base/vc_err.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VC__CHECKSUM_LEN 16

static const char vc__create_table[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INT NOT NULL PRIMARY KEY,"
    " name VARCHAR(255) NOT NULL,"
    " checksum VARCHAR(64) NOT NULL,"
    " applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";

/* GET_LOCK names are server-wide; the database name keeps services sharing a server apart. */
#define VC__LOCK_NAME "LEFT(CONCAT('vc_migrate.', DATABASE()), 64)"

static _Thread_local char vc__err[512];

static void vc__set_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(vc__err, sizeof(vc__err), fmt, ap);
    va_end(ap);
}

void vc_migrate_errmsg(char *buf, size_t cap)
{
    if (buf && cap) snprintf(buf, cap, "%s", vc__err);
}

/* ---- splitting and checksums --------------------------------------------------------------- */


/* Hands the statement accumulated in buf to cb (if not blank) and empties buf. */
static int vc__emit(char *buf, size_t *blen, vc_sql_stmt_fn cb, void *arg)
{
    size_t n = *blen;
    while (n > 0 && isspace((unsigned char)buf[n - 1]))
        n--;
    *blen = 0;
    if (n == 0) return 0;
    buf[n] = '\0';
    return cb(buf, n, arg);
}

/* Calls cb for every statement of sql, in order (see vc_migrate.h for the format). Statements
 * are rebuilt from their lines without comments and trailing blanks, which is also the text the
 * checksum covers. Stops at the first cb error and returns it. */
int vc_sql_split(const char *sql, vc_sql_stmt_fn cb, void *arg)
{
    /* Every statement is at most the whole text, its line breaks included. */
    char *buf = malloc(strlen(sql) + 1);
    if (!buf) return VC_ENOMEM;
    size_t blen = 0;
    int rc = 0;
    for (const char *p = sql; *p && rc == 0;) {
        const char *eol = strchr(p, '\n');
        size_t llen = eol ? (size_t)(eol - p) : strlen(p);
        const char *next = eol ? eol + 1 : p + llen;
        size_t end = llen, start = 0;
        while (end > 0 && isspace((unsigned char)p[end - 1]))
            end--;
        while (start < end && isspace((unsigned char)p[start]))
            start++;
        bool comment = end - start >= 2 && p[start] == '-' && p[start + 1] == '-';
        if (start < end && !comment) {
            bool last = p[end - 1] == ';';
            if (blen) buf[blen++] = '\n';
            memcpy(buf + blen, p, last ? end - 1 : end);
            blen += last ? end - 1 : end;
            if (last) rc = vc__emit(buf, &blen, cb, arg);
        }
        p = next;
    }
    if (rc == 0) rc = vc__emit(buf, &blen, cb, arg);
    free(buf);
    return rc;
}

static int vc__hash_stmt(const char *stmt, size_t len, void *arg)
{
    uint64_t *h = arg;
    /* The NUL terminator is hashed too, so statement boundaries count. */
    for (size_t i = 0; i <= len; i++) {
        *h ^= (unsigned char)stmt[i];
        *h *= 1099511628211ull;
    }
    return 0;
}

/* FNV-1a 64 of the normalised statements, as 16 hex digits. */
static int vc__checksum(const vc_migration *m, char out[VC__CHECKSUM_LEN + 1])
{
    uint64_t h = 1469598103934665603ull;
    int rc = vc_sql_split(m->sql ? m->sql : "", vc__hash_stmt, &h);
    if (rc < 0) return rc;
    snprintf(out, VC__CHECKSUM_LEN + 1, "%016" PRIx64, h);
    return 0;
}

/* ---- comparing the database with the binary ------------------------------------------------ */

static int vc__validate(const vc_migration *m, size_t n)
{
    if (n && !m) return VC_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (m[i].version <= 0 || !m[i].sql || (i > 0 && m[i].version <= m[i - 1].version)) {
            vc__set_err("migration table not sorted by increasing positive version at index %zu",
                        i);
            return VC_EINVAL;
        }
    }
    return 0;
}

static const vc_migration *vc__find(const vc_migration *m, size_t n, int64_t version)
{
    for (size_t i = 0; i < n; i++)
        if (m[i].version == version) return &m[i];
    return NULL;
}

/* Reads schema_migrations: done[i] tells whether m[i] is applied, *max_version the highest
 * version recorded. An unknown version is reported before a checksum mismatch. */
static int vc__compare(vc_db_conn *c, const vc_migration *m, size_t n, bool *done, int *max_version)
{
    vc_db_rows *r;
    int rc = vc_db_query(c, "SELECT version, checksum FROM schema_migrations ORDER BY version",
                         VC_DB_NOARGS, &r);
    if (rc < 0) {
        vc__set_err("reading schema_migrations: %s", vc_db_errmsg(c));
        return rc;
    }
    int64_t unknown = 0;
    const vc_migration *changed = NULL;
    char sum[65], want[VC__CHECKSUM_LEN + 1], changed_sum[65] = "";
    *max_version = 0;
    while ((rc = vc_db_next(r)) == 1) {
        int64_t v;
        if (vc_db_get_i64(r, 0, &v) < 0 || vc_db_copy_str(r, 1, sum, sizeof(sum)) < 0) {
            vc__set_err("malformed schema_migrations row");
            rc = VC_EDB;
            break;
        }
        if (v > *max_version && v <= INT32_MAX) *max_version = (int)v;
        const vc_migration *mi = vc__find(m, n, v);
        if (!mi) {
            if (!unknown) unknown = v;
            continue;
        }
        if ((rc = vc__checksum(mi, want)) < 0) break;
        if (strcmp(want, sum) == 0) {
            done[mi - m] = true;
        } else if (!changed) {
            changed = mi;
            memcpy(changed_sum, sum, sizeof(sum));
        }
    }
    vc_db_rows_close(r);
    if (rc < 0) return rc;
    if (unknown) {
        vc__set_err("database has migration %" PRId64 ", unknown to this binary", unknown);
        return VC_ESCHEMA_NEWER;
    }
    if (changed) {
        vc__checksum(changed, want);
        vc__set_err("migration %d (%s) was changed after it was applied: checksum %s, database "
                    "has %s",
                    changed->version, changed->name ? changed->name : "", want, changed_sum);
        return VC_EDB;
    }
    return 0;
}

/* ---- applying ------------------------------------------------------------------------------ */

static int vc__lock(vc_db_conn *c)
{
    for (int waited = 0;; waited++) {
        int64_t got = 0;
        /* Short waits in a loop: one long GET_LOCK would outlast the connection's read
         * timeout and look like a dead server. */
        int rc = vc_db_query_i64(c, "SELECT GET_LOCK(" VC__LOCK_NAME ", 1)", VC_DB_NOARGS, &got);
        if (rc == VC_ENOENT) {
            vc__set_err("no database selected (vc_db_opts.database)");
            return VC_EINVAL;
        }
        if (rc < 0) {
            vc__set_err("GET_LOCK: %s", vc_db_errmsg(c));
            return rc;
        }
        if (got == 1) return 0;
        if (waited >= VC_MIGRATE_LOCK_WAIT_S) {
            vc__set_err("another migrator held the lock for %d s", VC_MIGRATE_LOCK_WAIT_S);
            return VC_ETIMEDOUT;
        }
    }
}

static void vc__unlock(vc_db_conn *c)
{
    /* Best effort: if the connection is gone, the server has released the lock already. */
    vc_db_exec(c, "SELECT RELEASE_LOCK(" VC__LOCK_NAME ")", VC_DB_NOARGS, NULL);
}

static int vc__run_stmt(const char *stmt, size_t len, void *arg)
{
    vc_db_conn *c = arg;
    int rc = vc_db_exec_text(c, stmt, len);
    if (rc < 0) vc__set_err("%s; in statement: %.200s", vc_db_errmsg(c), stmt);
    return rc;
}

static int vc__apply_one(vc_db_conn *c, const vc_migration *mi)
{
    char sum[VC__CHECKSUM_LEN + 1];
    int rc = vc__checksum(mi, sum);
    if (rc < 0) return rc;
    rc = vc_sql_split(mi->sql, vc__run_stmt, c);
    if (rc < 0) {
        char detail[sizeof(vc__err)];
        memcpy(detail, vc__err, sizeof(detail));
        vc__set_err("migration %d (%s) failed: %s", mi->version, mi->name ? mi->name : "", detail);
        return rc == VC_EDB_UNAVAILABLE || rc == VC_ENOMEM ? rc : VC_EDB;
    }
    rc = vc_db_exec(
        c, "INSERT INTO schema_migrations (version, name, checksum) VALUES (?, ?, ?)",
        VC_DB_ARGS(vc_db_i64(mi->version), vc_db_str(mi->name ? mi->name : ""), vc_db_str(sum)),
        NULL);
    if (rc < 0) vc__set_err("recording migration %d: %s", mi->version, vc_db_errmsg(c));
    return rc;
}

/* Under the lock: create the bookkeeping table, compare, apply what is missing. */
static int vc__apply_locked(vc_db_conn *c, const vc_migration *m, size_t n, int *applied)
{
    int rc = vc_db_exec_text(c, vc__create_table, sizeof(vc__create_table) - 1);
    if (rc < 0) {
        vc__set_err("creating schema_migrations: %s", vc_db_errmsg(c));
        return rc;
    }
    bool *done = calloc(n ? n : 1, sizeof(*done));
    if (!done) return VC_ENOMEM;
    int max_version;
    rc = vc__compare(c, m, n, done, &max_version);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (done[i]) continue;
        rc = vc__apply_one(c, &m[i]);
        if (rc == 0) (*applied)++;
    }
    free(done);
    return rc;
}

int vc_migrate_apply(vc_db_pool *pool, const vc_migration *m, size_t n, int *applied)
{
    int count = 0;
    vc__err[0] = '\0';
    if (applied) *applied = 0;
    int rc = vc__validate(m, n);
    if (rc < 0) return rc;
    vc_db_conn *c;
    rc = vc_db_lease(pool, VC_DB_DEFAULT_TIMEOUT, &c);
    if (rc < 0) {
        vc__set_err("no database connection: %s", vc_strerror(rc));
        return rc;
    }
    rc = vc__lock(c);
    if (rc == 0) {
        rc = vc__apply_locked(c, m, n, &count);
        vc__unlock(c);
    }
    vc_db_release(pool, c);
    if (applied) *applied = count;
    return rc;
}

static int vc__table_exists(vc_db_conn *c, bool *exists)
{
    int64_t cnt = 0;
    int rc = vc_db_query_i64(c,
                             "SELECT COUNT(*) FROM information_schema.tables "
                             "WHERE table_schema = DATABASE() AND table_name = 'schema_migrations'",
                             VC_DB_NOARGS, &cnt);
    if (rc < 0) {
        vc__set_err("looking for schema_migrations: %s", vc_db_errmsg(c));
        return rc;
    }
    *exists = cnt > 0;
    return 0;
}

int vc_migrate_check(vc_db_pool *pool, const vc_migration *m, size_t n, int *db_version)
{
    vc__err[0] = '\0';
    if (db_version) *db_version = 0;
    int rc = vc__validate(m, n);
    if (rc < 0) return rc;
    bool *done = calloc(n ? n : 1, sizeof(*done));
    if (!done) return VC_ENOMEM;
    vc_db_conn *c;
    rc = vc_db_lease(pool, VC_DB_DEFAULT_TIMEOUT, &c);
    if (rc < 0) {
        free(done);
        vc__set_err("no database connection: %s", vc_strerror(rc));
        return rc;
    }
    bool exists = false;
    int max_version = 0;
    rc = vc__table_exists(c, &exists);
    if (rc == 0 && exists) rc = vc__compare(c, m, n, done, &max_version);
    vc_db_release(pool, c);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!done[i]) {
            vc__set_err("migration %d (%s) is not applied", m[i].version,
                        m[i].name ? m[i].name : "");
            rc = VC_ESCHEMA_PENDING;
        }
    }
    free(done);
    if (db_version) *db_version = max_version;
    return rc;
}
