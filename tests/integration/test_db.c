/*
 * test_db.c - vc_db and vc_migrate against the private MariaDB of the "mariadb" CTest fixture.
 *
 * Each group works in its own scratch database (vc_test_db, vc_test_mig, ...), dropped and
 * created in the group setup, so runs are repeatable. Worker threads never call cmocka asserts
 * (they longjmp into the main thread's stack); they record results that the main thread checks.
 */
#include "base/vc_err.h"
#include "db/vc_db.h"
#include "db/vc_migrate.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The real migrations of both services, embedded by CMake exactly as the services embed them. */
extern const vc_migration vc_test_reseller_migrations[];
extern const size_t vc_test_reseller_migrations_count;
extern const vc_migration vc_test_approval_migrations[];
extern const size_t vc_test_approval_migrations_count;

/* ---- helpers ------------------------------------------------------------------------------- */

static const char *env_or_fail(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v) fail_msg("%s is not set: run through ctest (the mariadb fixture)", name);
    return v;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static vc_db_opts test_opts(const char *database)
{
    return (vc_db_opts){
        .socket = env_or_fail("VC_TEST_DB_SOCKET"),
        .user = env_or_fail("VC_TEST_DB_USER"),
        .password = env_or_fail("VC_TEST_DB_PASSWORD"),
        .database = database,
        .pool_size = 4,
        .connect_timeout_s = 5,
        .rw_timeout_s = 30,
    };
}

static vc_db_pool *open_pool(const char *database, unsigned size)
{
    vc_db_opts o = test_opts(database);
    o.pool_size = size;
    vc_db_pool *pool = NULL;
    assert_int_equal(vc_db_pool_open(&o, &pool), 0);
    assert_non_null(pool);
    return pool;
}

static void exec_ok(vc_db_conn *c, const char *sql)
{
    int rc = vc_db_exec(c, sql, VC_DB_NOARGS, NULL);
    if (rc != 0) fail_msg("%s: %s (%s)", sql, vc_strerror(rc), vc_db_errmsg(c));
}

static int64_t query_i64(vc_db_conn *c, const char *sql)
{
    int64_t v = -1;
    int rc = vc_db_query_i64(c, sql, VC_DB_NOARGS, &v);
    if (rc != 0) fail_msg("%s: %s (%s)", sql, vc_strerror(rc), vc_db_errmsg(c));
    return v;
}

/* Drops and creates a scratch database; the test user may do so for names vc_test_*. */
static void recreate_db(const char *name)
{
    vc_db_pool *admin = open_pool(env_or_fail("VC_TEST_DB_NAME"), 1);
    vc_db_conn *c;
    assert_int_equal(vc_db_lease(admin, 5000, &c), 0);
    char sql[256];
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS `%s`", name);
    exec_ok(c, sql);
    snprintf(sql, sizeof(sql), "CREATE DATABASE `%s` CHARACTER SET utf8mb4", name);
    exec_ok(c, sql);
    vc_db_release(admin, c);
    vc_db_pool_close(admin);
}

/* ---- group: pool and statements ------------------------------------------------------------- */

#define DB_MAIN "vc_test_db"

static int setup_main(void **state)
{
    recreate_db(DB_MAIN);
    vc_db_pool *pool = open_pool(DB_MAIN, 4);
    vc_db_conn *c;
    assert_int_equal(vc_db_lease(pool, 5000, &c), 0);
    exec_ok(c, "CREATE TABLE t (id BIGINT PRIMARY KEY, name VARCHAR(6000) NULL, amount BIGINT NULL,"
               " data BLOB NULL, u BIGINT UNSIGNED NULL, at DATETIME NULL) ENGINE=InnoDB");
    exec_ok(c, "CREATE TABLE acct (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL) ENGINE=InnoDB");
    exec_ok(c, "CREATE TABLE seq (id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT) ENGINE=InnoDB");
    vc_db_release(pool, c);
    *state = pool;
    return 0;
}

static int teardown_main(void **state)
{
    vc_db_pool_close(*state);
    return 0;
}

struct lease_waiter {
    vc_db_pool *pool;
    int rc;
    uint64_t waited_ms;
};

static void *lease_waiter_main(void *arg)
{
    struct lease_waiter *w = arg;
    vc_db_conn *c = NULL;
    uint64_t t0 = now_ms();
    w->rc = vc_db_lease(w->pool, 5000, &c);
    w->waited_ms = now_ms() - t0;
    if (w->rc == 0) vc_db_release(w->pool, c);
    return NULL;
}

static void test_lease_release(void **state)
{
    (void)state;
    vc_db_pool *pool = open_pool(DB_MAIN, 2);
    vc_db_conn *c1, *c2, *c3 = NULL;
    assert_int_equal(vc_db_lease(pool, 1000, &c1), 0);
    assert_int_equal(vc_db_lease(pool, 1000, &c2), 0);
    assert_ptr_not_equal(c1, c2);
    assert_non_null(vc_db_conn_mysql(c1));

    /* Exhausted: no wait, then a bounded wait. */
    assert_int_equal(vc_db_lease(pool, 0, &c3), VC_ETIMEDOUT);
    assert_null(c3);
    uint64_t t0 = now_ms();
    assert_int_equal(vc_db_lease(pool, 150, &c3), VC_ETIMEDOUT);
    uint64_t waited = now_ms() - t0;
    assert_true(waited >= 140 && waited < 2000);

    vc_db_stats st;
    vc_db_pool_stats(pool, &st);
    assert_int_equal(st.size, 2);
    assert_int_equal(st.leased, 2);
    assert_int_equal(st.connected, 2);
    assert_int_equal(st.lease_timeouts, 2);

    /* A waiter is woken by a release, long before its timeout. */
    struct lease_waiter w = {.pool = pool};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, lease_waiter_main, &w), 0);
    usleep(100 * 1000);
    vc_db_release(pool, c2);
    pthread_join(th, NULL);
    assert_int_equal(w.rc, 0);
    assert_true(w.waited_ms >= 50 && w.waited_ms < 2000);

    /* LIFO: the connection just released is the next one leased (and is still connected). */
    assert_int_equal(vc_db_lease(pool, 1000, &c3), 0);
    assert_ptr_equal(c3, c2);
    vc_db_release(pool, c3);
    vc_db_release(pool, c1);
    vc_db_pool_stats(pool, &st);
    assert_int_equal(st.leased, 0);
    assert_int_equal(st.connects, 2);
    assert_int_equal(vc_db_ping(pool, 1000), 0);
    vc_db_pool_close(pool);
}

static void test_stmt_cache(void **state)
{
    (void)state;
    vc_db_opts o = test_opts(DB_MAIN);
    o.pool_size = 1;
    o.stmt_cache_size = 2;
    vc_db_pool *pool;
    assert_int_equal(vc_db_pool_open(&o, &pool), 0);
    vc_db_conn *c;
    assert_int_equal(vc_db_lease(pool, 1000, &c), 0);
    vc_db_stats s0, s1;

    vc_db_pool_stats(pool, &s0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(query_i64(c, "SELECT 7"), 7);
    vc_db_pool_stats(pool, &s1);
    assert_int_equal(s1.prepares - s0.prepares, 1);
    assert_int_equal(s1.stmt_cache_hits - s0.stmt_cache_hits, 4);

    /* Bounded, least recently used goes: A B C evicts "SELECT 7", then C is still cached. */
    query_i64(c, "SELECT 8");
    query_i64(c, "SELECT 9");
    vc_db_pool_stats(pool, &s0);
    assert_int_equal(s0.prepares - s1.prepares, 2);
    assert_int_equal(query_i64(c, "SELECT 7"), 7); /* evicted: prepared again */
    assert_int_equal(query_i64(c, "SELECT 9"), 9); /* still cached */
    vc_db_pool_stats(pool, &s1);
    assert_int_equal(s1.prepares - s0.prepares, 1);
    assert_int_equal(s1.stmt_cache_hits - s0.stmt_cache_hits, 1);

    /* The same SQL cannot run while its cursor is open; other SQL can. */
    vc_db_rows *r;
    assert_int_equal(vc_db_query(c, "SELECT 1 UNION SELECT 2", VC_DB_NOARGS, &r), 0);
    assert_int_equal(vc_db_next(r), 1);
    vc_db_rows *r2;
    assert_int_equal(vc_db_query(c, "SELECT 1 UNION SELECT 2", VC_DB_NOARGS, &r2), VC_EINVAL);
    assert_int_equal(query_i64(c, "SELECT 3"), 3);
    assert_int_equal(vc_db_next(r), 1);
    assert_int_equal(vc_db_next(r), 0);
    vc_db_rows_close(r);

    /* Placeholder count is checked; a syntax error is VC_EDB with the server's text. */
    assert_int_equal(vc_db_exec(c, "SELECT ?", VC_DB_NOARGS, NULL), VC_EINVAL);
    assert_int_equal(vc_db_exec(c, "SELEC 1", VC_DB_NOARGS, NULL), VC_EDB);
    assert_int_equal(vc_db_errno(c), 1064);
    assert_non_null(strstr(vc_db_errmsg(c), "syntax"));
    /* A forgotten cursor is closed by release. */
    assert_int_equal(vc_db_query(c, "SELECT 1 UNION SELECT 2", VC_DB_NOARGS, &r), 0);
    vc_db_release(pool, c);
    assert_int_equal(vc_db_lease(pool, 1000, &c), 0);
    assert_int_equal(vc_db_query(c, "SELECT 1 UNION SELECT 2", VC_DB_NOARGS, &r), 0);
    vc_db_rows_close(r);
    vc_db_release(pool, c);
    vc_db_pool_close(pool);
}

static void test_exec_params_nulls(void **state)
{
    vc_db_pool *pool = *state;
    vc_db_conn *c;
    assert_int_equal(vc_db_lease(pool, 1000, &c), 0);
    exec_ok(c, "DELETE FROM t");

    static const char blob[] = {'a', '\0', 'b', '\xff'};
    char *big = malloc(5001);
    assert_non_null(big);
    memset(big, 'x', 5000);
    big[5000] = '\0';
    const char *ins = "INSERT INTO t (id, name, amount, data, u, at) VALUES (?, ?, ?, ?, ?, ?)";
    uint64_t n = 0;
    assert_int_equal(vc_db_exec(c, ins,
                                VC_DB_ARGS(vc_db_i64(1), vc_db_str("h\xc3\xa9llo \xe2\x82\xac"),
                                           vc_db_i64(-42), vc_db_blob(blob, sizeof(blob)),
                                           vc_db_u64(UINT64_MAX), vc_db_str("2024-02-29 12:34:56")),
                                &n),
                     0);
    assert_int_equal(n, 1);
    /* NULLs: explicit, and through NULL pointers; a length-bounded string. */
    assert_int_equal(vc_db_exec(c, ins,
                                VC_DB_ARGS(vc_db_i64(2), vc_db_strn("abcdef", 3), vc_db_null(),
                                           vc_db_blob(NULL, 0), vc_db_null(), vc_db_str(NULL)),
                                &n),
                     0);
    assert_int_equal(vc_db_exec(c, ins,
                                VC_DB_ARGS(vc_db_i64(3), vc_db_str(big), vc_db_i64(INT64_MAX),
                                           vc_db_blob("", 0), vc_db_u64(5), vc_db_null()),
                                &n),
                     0);

    vc_db_rows *r;
    assert_int_equal(
        vc_db_query(c, "SELECT id, name, amount, data, u, at FROM t WHERE id >= ? ORDER BY id",
                    VC_DB_ARGS(vc_db_i64(1)), &r),
        0);
    assert_int_equal(vc_db_ncols(r), 6);
    int64_t i64;
    uint64_t u64;
    const char *s;
    size_t len;
    char small[4];

    assert_int_equal(vc_db_next(r), 1);
    assert_int_equal(vc_db_get_i64(r, 0, &i64), 0);
    assert_int_equal(i64, 1);
    assert_int_equal(vc_db_get_str(r, 1, &s, &len), 0);
    assert_string_equal(s, "h\xc3\xa9llo \xe2\x82\xac");
    assert_int_equal(vc_db_get_i64(r, 2, &i64), 0);
    assert_int_equal(i64, -42);
    assert_int_equal(vc_db_get_u64(r, 2, &u64), VC_EOVERFLOW);
    assert_int_equal(vc_db_get_str(r, 3, &s, &len), 0);
    assert_int_equal(len, sizeof(blob));
    assert_memory_equal(s, blob, sizeof(blob));
    assert_int_equal(vc_db_get_u64(r, 4, &u64), 0);
    assert_true(u64 == UINT64_MAX);
    assert_int_equal(vc_db_get_i64(r, 4, &i64), VC_EOVERFLOW);
    assert_int_equal(vc_db_get_str(r, 4, &s, NULL), 0);
    assert_string_equal(s, "18446744073709551615");
    assert_int_equal(vc_db_get_str(r, 5, &s, NULL), 0);
    assert_string_equal(s, "2024-02-29 12:34:56");
    assert_int_equal(vc_db_copy_str(r, 1, small, sizeof(small)), VC_EOVERFLOW);
    assert_string_equal(small, "");
    assert_int_equal(vc_db_get_i64(r, 1, &i64), VC_EINVAL); /* not a number */
    assert_int_equal(vc_db_get_i64(r, 6, &i64), VC_EINVAL); /* no such column */

    assert_int_equal(vc_db_next(r), 1);
    assert_int_equal(vc_db_get_str(r, 1, &s, &len), 0);
    assert_int_equal(len, 3);
    assert_string_equal(s, "abc");
    for (unsigned col = 2; col <= 5; col++) {
        assert_true(vc_db_is_null(r, col));
        assert_int_equal(vc_db_get_i64(r, col, &i64), VC_ENOENT);
        assert_int_equal(vc_db_copy_str(r, col, small, sizeof(small)), VC_ENOENT);
    }
    assert_false(vc_db_is_null(r, 1));

    /* A value longer than the column buffer is re-read in full. */
    assert_int_equal(vc_db_next(r), 1);
    assert_int_equal(vc_db_get_str(r, 1, &s, &len), 0);
    assert_int_equal(len, 5000);
    assert_string_equal(s, big);
    assert_int_equal(vc_db_get_i64(r, 2, &i64), 0);
    assert_true(i64 == INT64_MAX);
    assert_int_equal(vc_db_get_str(r, 3, &s, &len), 0);
    assert_int_equal(len, 0);
    assert_false(vc_db_is_null(r, 3));
    assert_int_equal(vc_db_next(r), 0);
    vc_db_rows_close(r);

    /* SUM() is DECIMAL: read as an integer all the same. */
    int64_t sum = 0;
    assert_int_equal(
        vc_db_query_i64(c, "SELECT SUM(u) FROM t WHERE id = ?", VC_DB_ARGS(vc_db_i64(3)), &sum), 0);
    assert_int_equal(sum, 5);
    assert_int_equal(
        vc_db_query_i64(c, "SELECT amount FROM t WHERE id = ?", VC_DB_ARGS(vc_db_i64(2)), &sum),
        VC_ENOENT);
    assert_int_equal(
        vc_db_query_i64(c, "SELECT amount FROM t WHERE id = ?", VC_DB_ARGS(vc_db_i64(99)), &sum),
        VC_ENOENT);

    /* AUTO_INCREMENT ids. */
    assert_int_equal(vc_db_exec(c, "INSERT INTO seq (v) VALUES (?)", VC_DB_ARGS(vc_db_i64(1)), &n),
                     0);
    uint64_t id1 = vc_db_last_insert_id(c);
    assert_int_equal(vc_db_exec(c, "INSERT INTO seq (v) VALUES (?)", VC_DB_ARGS(vc_db_i64(2)), &n),
                     0);
    assert_true(id1 > 0);
    assert_int_equal(vc_db_last_insert_id(c), id1 + 1);
    free(big);
    vc_db_release(pool, c);
}

static void test_duplicate_key(void **state)
{
    vc_db_pool *pool = *state;
    vc_db_conn *c;
    assert_int_equal(vc_db_lease(pool, 1000, &c), 0);
    const char *ins = "INSERT INTO acct (id, balance) VALUES (?, ?)";
    exec_ok(c, "DELETE FROM acct");
    assert_int_equal(vc_db_exec(c, ins, VC_DB_ARGS(vc_db_i64(10), vc_db_i64(0)), NULL), 0);
    assert_int_equal(vc_db_exec(c, ins, VC_DB_ARGS(vc_db_i64(10), vc_db_i64(5)), NULL), VC_EEXIST);
    assert_int_equal(vc_db_errno(c), 1062);
    assert_non_null(strstr(vc_db_errmsg(c), "Duplicate"));
    /* The connection is fine afterwards. */
    assert_int_equal(query_i64(c, "SELECT COUNT(*) FROM acct"), 1);
    vc_db_release(pool, c);
}

static void test_conditional_update(void **state)
{
    vc_db_pool *pool = *state;
    vc_db_conn *c;
    assert_int_equal(vc_db_lease(pool, 1000, &c), 0);
    exec_ok(c, "DELETE FROM acct");
    exec_ok(c, "INSERT INTO acct (id, balance) VALUES (1, 100)");
    const char *debit = "UPDATE acct SET balance = balance - ? WHERE id = ? AND balance >= ?";
    uint64_t n = 99;
    assert_int_equal(
        vc_db_exec(c, debit, VC_DB_ARGS(vc_db_i64(150), vc_db_i64(1), vc_db_i64(150)), &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(
        vc_db_exec(c, debit, VC_DB_ARGS(vc_db_i64(60), vc_db_i64(1), vc_db_i64(60)), &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(
        vc_db_exec(c, debit, VC_DB_ARGS(vc_db_i64(60), vc_db_i64(1), vc_db_i64(60)), &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(query_i64(c, "SELECT balance FROM acct WHERE id = 1"), 40);
    /* Matched rows, not changed rows: an update to the same value still counts. */
    assert_int_equal(vc_db_exec(c, "UPDATE acct SET balance = 40 WHERE id = 1", VC_DB_NOARGS, &n),
                     0);
    assert_int_equal(n, 1);
    vc_db_release(pool, c);
}

struct tx_arg {
    int64_t id;
    int result; /* what the body returns */
    int calls;
};

static int tx_insert(vc_db_conn *c, void *arg)
{
    struct tx_arg *a = arg;
    a->calls++;
    if (!vc_db_in_tx(c)) return VC_EINVAL;
    int rc = vc_db_exec(c, "INSERT INTO acct (id, balance) VALUES (?, 1)",
                        VC_DB_ARGS(vc_db_i64(a->id)), NULL);
    if (rc < 0) return rc;
    return a->result;
}

static void test_tx_commit_rollback(void **state)
{
    vc_db_pool *pool = *state;
    vc_db_conn *c;
    assert_int_equal(vc_db_lease(pool, 1000, &c), 0);
    exec_ok(c, "DELETE FROM acct");

    struct tx_arg ok = {.id = 1, .result = 0};
    assert_int_equal(vc_db_tx(pool, tx_insert, &ok), 0);
    assert_int_equal(ok.calls, 1);
    assert_int_equal(query_i64(c, "SELECT COUNT(*) FROM acct WHERE id = 1"), 1);

    struct tx_arg bad = {.id = 2, .result = VC_ECONFLICT};
    assert_int_equal(vc_db_tx(pool, tx_insert, &bad), VC_ECONFLICT);
    assert_int_equal(bad.calls, 1);
    assert_int_equal(query_i64(c, "SELECT COUNT(*) FROM acct WHERE id = 2"), 0);

    /* An error from the database inside the body rolls back too and is returned as is. */
    struct tx_arg dup = {.id = 1, .result = 0};
    assert_int_equal(vc_db_tx(pool, tx_insert, &dup), VC_EEXIST);

    /* On a held connection; nesting is refused. */
    struct tx_arg held = {.id = 3, .result = 0};
    assert_int_equal(vc_db_tx_on(c, tx_insert, &held), 0);
    assert_false(vc_db_in_tx(c));
    assert_int_equal(query_i64(c, "SELECT COUNT(*) FROM acct"), 2);

    /* A transaction left open through the escape hatch is rolled back on release. */
    assert_int_equal(mysql_query(vc_db_conn_mysql(c), "START TRANSACTION"), 0);
    exec_ok(c, "INSERT INTO acct (id, balance) VALUES (4, 1)");
    vc_db_release(pool, c);
    assert_int_equal(vc_db_lease(pool, 1000, &c), 0);
    assert_int_equal(query_i64(c, "SELECT COUNT(*) FROM acct WHERE id = 4"), 0);
    vc_db_release(pool, c);
}

/* Two transactions lock rows 1 and 2 in opposite order; the barrier makes sure both hold their
 * first lock before either asks for the second, so InnoDB must pick a deadlock victim. */
struct dl_shared {
    vc_db_pool *pool;
    pthread_barrier_t barrier;
};

struct dl_arg {
    struct dl_shared *sh;
    int64_t first, second;
    int attempts;
    int rc;
};

static int dl_body(vc_db_conn *c, void *arg)
{
    struct dl_arg *a = arg;
    a->attempts++;
    int rc = vc_db_exec(c, "UPDATE acct SET balance = balance + 1 WHERE id = ?",
                        VC_DB_ARGS(vc_db_i64(a->first)), NULL);
    /* Even on error: the other thread must not wait at the barrier forever. */
    if (a->attempts == 1) pthread_barrier_wait(&a->sh->barrier);
    if (rc < 0) return rc;
    return vc_db_exec(c, "UPDATE acct SET balance = balance + 1 WHERE id = ?",
                      VC_DB_ARGS(vc_db_i64(a->second)), NULL);
}

static void *dl_thread(void *arg)
{
    struct dl_arg *a = arg;
    a->rc = vc_db_tx(a->sh->pool, dl_body, a);
    vc_db_thread_end();
    return NULL;
}

static void test_deadlock_retry(void **state)
{
    vc_db_pool *pool = *state;
    vc_db_conn *c;
    assert_int_equal(vc_db_lease(pool, 1000, &c), 0);
    exec_ok(c, "DELETE FROM acct");
    exec_ok(c, "INSERT INTO acct (id, balance) VALUES (1, 0), (2, 0)");
    vc_db_release(pool, c);

    vc_db_stats s0, s1;
    vc_db_pool_stats(pool, &s0);
    struct dl_shared sh = {.pool = pool};
    assert_int_equal(pthread_barrier_init(&sh.barrier, NULL, 2), 0);
    struct dl_arg a = {.sh = &sh, .first = 1, .second = 2};
    struct dl_arg b = {.sh = &sh, .first = 2, .second = 1};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, dl_thread, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, dl_thread, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&sh.barrier);
    vc_db_pool_stats(pool, &s1);

    assert_int_equal(a.rc, 0);
    assert_int_equal(b.rc, 0);
    /* Exactly one side was the victim and ran again. */
    assert_int_equal(a.attempts + b.attempts, 3);
    assert_int_equal(s1.tx_retries - s0.tx_retries, 1);
    assert_int_equal(vc_db_lease(pool, 1000, &c), 0);
    /* Both committed once: each row incremented by both transactions, never twice by one. */
    assert_int_equal(query_i64(c, "SELECT balance FROM acct WHERE id = 1"), 2);
    assert_int_equal(query_i64(c, "SELECT balance FROM acct WHERE id = 2"), 2);
    vc_db_release(pool, c);
}

static int tx_always_deadlocks(vc_db_conn *c, void *arg)
{
    int *calls = arg;
    (*calls)++;
    /* Simulate the server's verdict: SIGNAL raises the same error number as a real deadlock. */
    int rc = vc_db_exec(c, "SIGNAL SQLSTATE '40001' SET MYSQL_ERRNO = 1213, MESSAGE_TEXT = 'dl'",
                        VC_DB_NOARGS, NULL);
    return rc == VC_EAGAIN ? 0 : VC_EINVAL; /* even a body that swallows it is retried */
}

static void test_tx_gives_up(void **state)
{
    vc_db_opts o = test_opts(DB_MAIN);
    o.pool_size = 1;
    o.tx_max_attempts = 3;
    vc_db_pool *pool;
    assert_int_equal(vc_db_pool_open(&o, &pool), 0);
    int calls = 0;
    assert_int_equal(vc_db_tx(pool, tx_always_deadlocks, &calls), VC_EAGAIN);
    assert_int_equal(calls, 3);
    vc_db_pool_close(pool);
    (void)state;
}

struct kill_arg {
    vc_db_pool *pool;
    int calls;
};

static void kill_conn(vc_db_pool *pool, int64_t id)
{
    vc_db_conn *k;
    assert_int_equal(vc_db_lease(pool, 1000, &k), 0);
    char sql[64];
    snprintf(sql, sizeof(sql), "KILL %lld", (long long)id);
    assert_int_equal(vc_db_exec_text(k, sql, strlen(sql)), 0);
    vc_db_release(pool, k);
}

static int tx_killed(vc_db_conn *c, void *arg)
{
    struct kill_arg *a = arg;
    a->calls++;
    int64_t id = 0;
    int rc = vc_db_query_i64(c, "SELECT CONNECTION_ID()", VC_DB_NOARGS, &id);
    if (rc < 0) return rc;
    vc_db_conn *k;
    if (vc_db_lease(a->pool, 1000, &k) != 0) return VC_EINVAL;
    char sql[64];
    snprintf(sql, sizeof(sql), "KILL %lld", (long long)id);
    rc = vc_db_exec_text(k, sql, strlen(sql));
    vc_db_release(a->pool, k);
    if (rc < 0) return VC_EINVAL;
    return vc_db_exec(c, "UPDATE acct SET balance = 0", VC_DB_NOARGS, NULL);
}

static void test_broken_connection(void **state)
{
    (void)state;
    vc_db_pool *pool = open_pool(DB_MAIN, 2);
    vc_db_conn *c;
    assert_int_equal(vc_db_lease(pool, 1000, &c), 0);
    int64_t id = query_i64(c, "SELECT CONNECTION_ID()");
    kill_conn(pool, id);
    assert_int_equal(vc_db_exec(c, "SELECT 1", VC_DB_NOARGS, NULL), VC_EDB_UNAVAILABLE);
    /* Stays failed without touching the network until released. */
    assert_int_equal(vc_db_exec(c, "SELECT 2", VC_DB_NOARGS, NULL), VC_EDB_UNAVAILABLE);
    vc_db_release(pool, c);

    vc_db_stats st;
    vc_db_pool_stats(pool, &st);
    assert_int_equal(st.broken, 1);
    assert_int_equal(st.connected, 1);

    /* The next lease reconnects lazily; the statement cache starts afresh. */
    assert_int_equal(vc_db_lease(pool, 1000, &c), 0);
    assert_int_equal(query_i64(c, "SELECT 1"), 1);
    assert_true(query_i64(c, "SELECT CONNECTION_ID()") != id);
    vc_db_release(pool, c);

    /* Lost inside a transaction. */
    struct kill_arg ka = {.pool = pool};
    assert_int_equal(vc_db_tx(pool, tx_killed, &ka), VC_EDB_UNAVAILABLE);
    assert_int_equal(ka.calls, 1);
    assert_int_equal(vc_db_ping(pool, 1000), 0);
    vc_db_pool_close(pool);
}

static void test_ping_no_server(void **state)
{
    (void)state;
    vc_db_opts o = test_opts(NULL);
    o.socket = "/nonexistent-vc-test-dir/mysqld.sock";
    o.connect_timeout_s = 5;
    vc_db_pool *pool = NULL;
    /* Opening succeeds while the database is unreachable. */
    assert_int_equal(vc_db_pool_open(&o, &pool), 0);
    uint64_t t0 = now_ms();
    assert_int_equal(vc_db_ping(pool, 1000), VC_EDB_UNAVAILABLE);
    assert_true(now_ms() - t0 < 1000);
    vc_db_conn *c = NULL;
    assert_int_equal(vc_db_lease(pool, 1000, &c), VC_EDB_UNAVAILABLE);
    assert_null(c);
    char msg[256];
    vc_db_pool_errmsg(pool, msg, sizeof(msg));
    assert_true(strlen(msg) > 0);
    vc_db_stats st;
    vc_db_pool_stats(pool, &st);
    assert_int_equal(st.connect_errors, 2);
    assert_int_equal(st.leased, 0);
    vc_db_pool_close(pool);

    /* The real server answers; a configured socket wins over a host (which would mean TCP,
     * and the test server has no TCP listener). */
    o = test_opts(DB_MAIN);
    o.host = "127.0.0.1";
    assert_int_equal(vc_db_pool_open(&o, &pool), 0);
    assert_int_equal(vc_db_ping(pool, 1000), 0);
    vc_db_pool_close(pool);
}

/* ---- group: migrations --------------------------------------------------------------------- */

#define DB_MIG "vc_test_mig"

static const vc_migration migs[] = {
    {1, "first",
     "-- a comment\n"
     "CREATE TABLE a (id INT PRIMARY KEY) ENGINE=InnoDB;\n"
     "\n"
     "INSERT INTO a (id) VALUES (1);\n"},
    {2, "second",
     "CREATE TABLE b (\n"
     "    id INT PRIMARY KEY,\n"
     "    -- comments inside a statement are dropped\n"
     "    note VARCHAR(20) DEFAULT 'x;y'\n"
     ") ENGINE=InnoDB  ;  \r\n"
     "INSERT INTO b (id) VALUES (1), (2)"},
    {3, "third", "INSERT INTO a (id) SELECT id + 10 FROM b;"},
};
#define NMIGS (sizeof(migs) / sizeof(migs[0]))

static int setup_mig(void **state)
{
    recreate_db(DB_MIG);
    *state = open_pool(DB_MIG, 4);
    return 0;
}

static int teardown_mig(void **state)
{
    vc_db_pool_close(*state);
    return 0;
}

static void test_migrate_apply_and_reapply(void **state)
{
    vc_db_pool *pool = *state;
    int applied = -1, version = -1;
    assert_int_equal(vc_migrate_check(pool, migs, NMIGS, &version), VC_ESCHEMA_PENDING);
    assert_int_equal(version, 0);

    assert_int_equal(vc_migrate_apply(pool, migs, NMIGS, &applied), 0);
    assert_int_equal(applied, 3);
    assert_int_equal(vc_migrate_check(pool, migs, NMIGS, &version), 0);
    assert_int_equal(version, 3);

    assert_int_equal(vc_migrate_apply(pool, migs, NMIGS, &applied), 0);
    assert_int_equal(applied, 0);

    vc_db_conn *c;
    assert_int_equal(vc_db_lease(pool, 1000, &c), 0);
    assert_int_equal(query_i64(c, "SELECT COUNT(*) FROM a"), 3); /* 1, 11, 12: applied once */
    assert_int_equal(query_i64(c, "SELECT COUNT(*) FROM schema_migrations"), 3);
    char note[8];
    vc_db_rows *r;
    assert_int_equal(vc_db_query(c, "SELECT note FROM b WHERE id = 1", VC_DB_NOARGS, &r), 0);
    assert_int_equal(vc_db_next(r), 1);
    assert_int_equal(vc_db_copy_str(r, 0, note, sizeof(note)), 0);
    assert_string_equal(note, "x;y");
    vc_db_rows_close(r);
    vc_db_release(pool, c);

    /* Editing comments and blank space of an applied migration is fine; editing SQL is not. */
    vc_migration edited[NMIGS];
    memcpy(edited, migs, sizeof(migs));
    edited[0].sql = "-- reworded comment\n"
                    "CREATE TABLE a (id INT PRIMARY KEY) ENGINE=InnoDB;   \n"
                    "-- another one\n"
                    "INSERT INTO a (id) VALUES (1);";
    assert_int_equal(vc_migrate_apply(pool, edited, NMIGS, &applied), 0);
    assert_int_equal(applied, 0);
    edited[0].sql = "CREATE TABLE a (id BIGINT PRIMARY KEY) ENGINE=InnoDB;\n"
                    "INSERT INTO a (id) VALUES (1);";
    assert_int_equal(vc_migrate_apply(pool, edited, NMIGS, &applied), VC_EDB);
    char msg[512];
    vc_migrate_errmsg(msg, sizeof(msg));
    assert_non_null(strstr(msg, "changed"));
    assert_int_equal(vc_migrate_check(pool, edited, NMIGS, NULL), VC_EDB);

    /* A table that is not sorted is refused before anything happens. */
    vc_migration unsorted[2] = {migs[1], migs[0]};
    assert_int_equal(vc_migrate_apply(pool, unsorted, 2, &applied), VC_EINVAL);
}

static void test_migrate_newer_and_pending(void **state)
{
    vc_db_pool *pool = *state;
    int applied = -1, version = -1;
    assert_int_equal(vc_migrate_apply(pool, migs, NMIGS, &applied), 0);

    /* The binary lacks migration 3 the database has. */
    assert_int_equal(vc_migrate_check(pool, migs, 2, &version), VC_ESCHEMA_NEWER);
    assert_int_equal(version, 3);
    assert_int_equal(vc_migrate_apply(pool, migs, 2, &applied), VC_ESCHEMA_NEWER);
    assert_int_equal(applied, 0);

    /* A row for a version no binary has. */
    vc_db_conn *c;
    assert_int_equal(vc_db_lease(pool, 1000, &c), 0);
    exec_ok(c,
            "INSERT INTO schema_migrations (version, name, checksum) VALUES (99, 'future', 'x')");
    vc_db_release(pool, c);
    assert_int_equal(vc_migrate_check(pool, migs, NMIGS, &version), VC_ESCHEMA_NEWER);
    assert_int_equal(version, 99);
    assert_int_equal(vc_migrate_apply(pool, migs, NMIGS, &applied), VC_ESCHEMA_NEWER);
    char msg[512];
    vc_migrate_errmsg(msg, sizeof(msg));
    assert_non_null(strstr(msg, "99"));
    assert_int_equal(vc_db_lease(pool, 1000, &c), 0);
    exec_ok(c, "DELETE FROM schema_migrations WHERE version = 99");
    vc_db_release(pool, c);

    /* The binary has a migration the database lacks. */
    vc_migration more[NMIGS + 1];
    memcpy(more, migs, sizeof(migs));
    more[NMIGS] = (vc_migration){7, "fourth", "CREATE TABLE d (id INT PRIMARY KEY);"};
    assert_int_equal(vc_migrate_check(pool, more, NMIGS + 1, &version), VC_ESCHEMA_PENDING);
    assert_int_equal(version, 3);
    assert_int_equal(vc_migrate_apply(pool, more, NMIGS + 1, &applied), 0);
    assert_int_equal(applied, 1);
    assert_int_equal(vc_migrate_check(pool, more, NMIGS + 1, &version), 0);
    assert_int_equal(version, 7);

    /* A failing migration is reported and not recorded. */
    vc_migration broken[NMIGS + 2];
    memcpy(broken, more, sizeof(more));
    broken[NMIGS + 1] = (vc_migration){8, "bad",
                                       "CREATE TABLE e (id INT PRIMARY KEY);\n"
                                       "INSERT INTO nosuchtable VALUES (1);"};
    assert_int_equal(vc_migrate_apply(pool, broken, NMIGS + 2, &applied), VC_EDB);
    assert_int_equal(applied, 0);
    vc_migrate_errmsg(msg, sizeof(msg));
    assert_non_null(strstr(msg, "nosuchtable"));
    assert_int_equal(vc_migrate_check(pool, broken, NMIGS + 2, NULL), VC_ESCHEMA_PENDING);
}

struct mig_thread {
    vc_db_pool *pool;
    int rc;
    int applied;
};

static void *mig_thread_main(void *arg)
{
    struct mig_thread *t = arg;
    t->rc = vc_migrate_apply(t->pool, migs, NMIGS, &t->applied);
    vc_db_thread_end();
    return NULL;
}

static void test_migrate_concurrent(void **state)
{
    (void)state;
    recreate_db("vc_test_mig2");
    /* Separate pools: as two processes would, each with its own connections. */
    struct mig_thread t[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        t[i] = (struct mig_thread){.pool = open_pool("vc_test_mig2", 1), .applied = -1};
        assert_int_equal(pthread_create(&th[i], NULL, mig_thread_main, &t[i]), 0);
    }
    /* Join every thread before the first assert: a failing assert leaves this frame. */
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    int total = 0;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(t[i].rc, 0);
        total += t[i].applied;
    }
    assert_int_equal(total, (int)NMIGS);
    vc_db_conn *c;
    assert_int_equal(vc_db_lease(t[0].pool, 1000, &c), 0);
    assert_int_equal(query_i64(c, "SELECT COUNT(*) FROM a"), 3); /* INSERTs ran exactly once */
    assert_int_equal(query_i64(c, "SELECT COUNT(*) FROM schema_migrations"), 3);
    vc_db_release(t[0].pool, c);
    for (int i = 0; i < 3; i++)
        vc_db_pool_close(t[i].pool);
}

/* The services' real migrations apply to an empty database, and the outbox behaves. */
static void test_migrate_services(void **state)
{
    (void)state;
    const struct {
        const char *db;
        const vc_migration *m;
        size_t n;
    } svc[] = {
        {"vc_test_reseller", vc_test_reseller_migrations, vc_test_reseller_migrations_count},
        {"vc_test_approval", vc_test_approval_migrations, vc_test_approval_migrations_count},
    };
    for (size_t i = 0; i < 2; i++) {
        recreate_db(svc[i].db);
        vc_db_pool *pool = open_pool(svc[i].db, 1);
        int applied = -1, version = -1;
        assert_true(svc[i].n >= 1);
        assert_int_equal(svc[i].m[0].version, 1);
        int rc = vc_migrate_apply(pool, svc[i].m, svc[i].n, &applied);
        char msg[512];
        vc_migrate_errmsg(msg, sizeof(msg));
        if (rc != 0) fail_msg("%s: %s: %s", svc[i].db, vc_strerror(rc), msg);
        assert_int_equal(applied, (int)svc[i].n);
        assert_int_equal(vc_migrate_check(pool, svc[i].m, svc[i].n, &version), 0);
        assert_int_equal(version, svc[i].m[svc[i].n - 1].version);

        vc_db_conn *c;
        assert_int_equal(vc_db_lease(pool, 1000, &c), 0);
        const char *ins = "INSERT INTO outbox (message_id, topic, payload) VALUES (?, ?, ?)";
        const char *mid = "6f1c7a2e-1d4b-4c8e-9a57-0f3b2d1e4c5a";
        assert_int_equal(vc_db_exec(c, ins,
                                    VC_DB_ARGS(vc_db_str(mid), vc_db_str("t"), vc_db_blob("\0", 1)),
                                    NULL),
                         0);
        assert_int_equal(vc_db_exec(c, ins,
                                    VC_DB_ARGS(vc_db_str(mid), vc_db_str("t"), vc_db_blob("\0", 1)),
                                    NULL),
                         VC_EEXIST);
        assert_int_equal(query_i64(c, "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL "
                                      "AND next_attempt_at <= NOW(6)"),
                         1);
        assert_int_equal(vc_db_exec(c, "INSERT INTO inbox (message_id) VALUES (?)",
                                    VC_DB_ARGS(vc_db_str(mid)), NULL),
                         0);
        assert_int_equal(vc_db_exec(c, "INSERT INTO inbox (message_id) VALUES (?)",
                                    VC_DB_ARGS(vc_db_str(mid)), NULL),
                         VC_EEXIST);
        vc_db_release(pool, c);
        vc_db_pool_close(pool);
    }
}

int main(void)
{
    const struct CMUnitTest db_tests[] = {
        cmocka_unit_test(test_lease_release),      cmocka_unit_test(test_stmt_cache),
        cmocka_unit_test(test_exec_params_nulls),  cmocka_unit_test(test_duplicate_key),
        cmocka_unit_test(test_conditional_update), cmocka_unit_test(test_tx_commit_rollback),
        cmocka_unit_test(test_deadlock_retry),     cmocka_unit_test(test_tx_gives_up),
        cmocka_unit_test(test_broken_connection),  cmocka_unit_test(test_ping_no_server),
    };
    const struct CMUnitTest mig_tests[] = {
        cmocka_unit_test(test_migrate_apply_and_reapply),
        cmocka_unit_test(test_migrate_newer_and_pending),
        cmocka_unit_test(test_migrate_concurrent),
        cmocka_unit_test(test_migrate_services),
    };
    int failed = cmocka_run_group_tests_name("vc_db", db_tests, setup_main, teardown_main);
    failed += cmocka_run_group_tests_name("vc_migrate", mig_tests, setup_mig, teardown_mig);
    vc_db_library_end();
    return failed ? 1 : 0;
}
