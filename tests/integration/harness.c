#include "harness.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "base/vc_err.h"
#include "db/vc_check.h"
#include "ledger/vc_ledger.h"

static const char *env_or_fail(const char *k)
{
    const char *v = getenv(k);
    if (!v || !*v)
        fail_msg("environment variable %s is not set (run through ctest)", k);
    return v;
}

static void admin_exec(const char *sql)
{
    vc_db_opts o = {.socket = env_or_fail("VC_TEST_DB_SOCKET"),
                    .user = env_or_fail("VC_TEST_DB_USER"),
                    .password = env_or_fail("VC_TEST_DB_PASSWORD"),
                    .database = env_or_fail("VC_TEST_DB_NAME"),
                    .pool_size = 1};
    vc_db_pool *p;
    assert_int_equal(vc_db_pool_open(&o, &p), 0);
    vc_db_conn *c;
    assert_int_equal(vc_db_lease(p, 10000, &c), 0);
    assert_int_equal(vc_db_exec_text(c, sql, strlen(sql)), 0);
    vc_db_release(p, c);
    vc_db_pool_close(p);
}

/* Services this test process started and has not stopped yet: killed at exit, so a failed
   assertion (cmocka jumps out of the test) never leaves a service behind holding CTest's pipes. */
static pid_t th__live[32];

static void th__kill_leftovers(void)
{
    for (size_t i = 0; i < sizeof(th__live) / sizeof(th__live[0]); i++)
        if (th__live[i] > 0)
            kill(th__live[i], SIGKILL);
}

static void th__track(pid_t pid, bool add)
{
    static bool registered;
    if (!registered) {
        atexit(th__kill_leftovers);
        registered = true;
    }
    for (size_t i = 0; i < sizeof(th__live) / sizeof(th__live[0]); i++) {
        if (add && th__live[i] == 0) {
            th__live[i] = pid;
            return;
        }
        if (!add && th__live[i] == pid) {
            th__live[i] = 0;
            return;
        }
    }
}

static pid_t spawn(const char *log, char *const argv[])
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        FILE *f = freopen(log, "a", stderr);
        (void)f;
        execv(argv[0], argv);
        _exit(127);
    }
    th__track(pid, true);
    return pid;
}

/* Waits for a child and forgets it. */
static pid_t th__reap(pid_t pid, int *status, int flags)
{
    pid_t got = waitpid(pid, status, flags);
    if (got == pid)
        th__track(pid, false);
    return got;
}

static void build_argv(th_svc *s, const char *bin, bool migrate, const char *const *extra,
                       char **argv, char *keyfile, char *ready)
{
    int n = 0;
    static char sock[256], user[128], pw[128];
    snprintf(sock, sizeof(sock), "--db-socket=%s", env_or_fail("VC_TEST_DB_SOCKET"));
    snprintf(user, sizeof(user), "--db-user=%s", env_or_fail("VC_TEST_DB_USER"));
    snprintf(pw, sizeof(pw), "--db-password=%s", env_or_fail("VC_TEST_DB_PASSWORD"));
    static char dbn[160], key[256], rdy[256];
    snprintf(dbn, sizeof(dbn), "--db-name=%s", s->dbname);
    snprintf(key, sizeof(key), "--jwt-secret-file=%s", keyfile);
    snprintf(rdy, sizeof(rdy), "--ready-file=%s", ready);
    argv[n++] = (char *)bin;
    argv[n++] = sock;
    argv[n++] = user;
    argv[n++] = pw;
    argv[n++] = dbn;
    argv[n++] = key;
    if (migrate) {
        argv[n++] = "--migrate";
    } else {
        argv[n++] = "--listen=127.0.0.1:0";
        argv[n++] = "--metrics-listen=";
        argv[n++] = "--lame-duck-ms=0";
        argv[n++] = "--log-level=warn";
        argv[n++] = rdy;
        for (int i = 0; extra && extra[i] && n < 60; i++)
            argv[n++] = (char *)extra[i];
    }
    argv[n] = NULL;
}

static void launch(th_svc *s, const char *bin, const char *hex, bool migrate,
                   const char *const *extra);

void th_start_keyed(th_svc *s, const char *binary_env, const char *name,
                    const char *const *extra, const char *key_hex)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->name, sizeof(s->name), "%s", name);
    snprintf(s->dbname, sizeof(s->dbname), "%s_%s", env_or_fail("VC_TEST_DB_NAME"), name);
    char sql[256];
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS `%s`", s->dbname);
    admin_exec(sql);
    snprintf(sql, sizeof(sql), "CREATE DATABASE `%s` CHARACTER SET utf8mb4", s->dbname);
    admin_exec(sql);
    char hex[65];
    if (key_hex) {
        snprintf(hex, sizeof(hex), "%s", key_hex);
    } else {
        /* A fresh random key per test: tokens from another test never verify here. */
        unsigned char key[32];
        FILE *ur = fopen("/dev/urandom", "r");
        assert_non_null(ur);
        assert_int_equal(fread(key, 1, sizeof(key), ur), sizeof(key));
        fclose(ur);
        for (int i = 0; i < 32; i++)
            snprintf(hex + 2 * i, 3, "%02x", key[i]);
    }
    launch(s, env_or_fail(binary_env), hex, true, extra);
}

void th_start(th_svc *s, const char *binary_env, const char *name, const char *const *extra)
{
    th_start_keyed(s, binary_env, name, extra, NULL);
}

int th_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    close(fd);
    return ntohs(a.sin_port);
}

void th_start_replica(th_svc *replica, const th_svc *primary, const char *binary_env,
                      const char *const *extra)
{
    memset(replica, 0, sizeof(*replica));
    snprintf(replica->name, sizeof(replica->name), "%s", primary->name);
    snprintf(replica->dbname, sizeof(replica->dbname), "%s", primary->dbname);
    char keyfile[192], hex[80] = "";
    snprintf(keyfile, sizeof(keyfile), "%s/jwt.key", primary->dir);
    FILE *kf = fopen(keyfile, "r");
    assert_non_null(kf);
    assert_non_null(fgets(hex, sizeof(hex), kf));
    fclose(kf);
    launch(replica, env_or_fail(binary_env), hex, false, extra);
}

static void launch(th_svc *s, const char *bin, const char *hex, bool migrate,
                   const char *const *extra)
{
    char tmpl[] = "/tmp/vcth.XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    snprintf(s->dir, sizeof(s->dir), "%s", tmpl);
    snprintf(s->log, sizeof(s->log), "%s/service.log", s->dir);
    char keyfile[192], ready[192];
    snprintf(keyfile, sizeof(keyfile), "%s/jwt.key", s->dir);
    snprintf(s->key_hex, sizeof(s->key_hex), "%s", hex);
    snprintf(ready, sizeof(ready), "%s/ready", s->dir);
    FILE *kf = fopen(keyfile, "w");
    assert_non_null(kf);
    fputs(hex, kf);
    fclose(kf);
    assert_int_equal(vc_auth_new((const unsigned char *)hex, 64, &s->auth), 0);

    char *argv[64];
    if (migrate) {
        build_argv(s, bin, true, NULL, argv, keyfile, ready);
        pid_t mp = spawn(s->log, argv);
        int st = 0;
        assert_int_equal(th__reap(mp, &st, 0), mp);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fail_msg("--migrate failed; see %s", s->log);
    }

    build_argv(s, bin, false, extra, argv, keyfile, ready);
    s->pid = spawn(s->log, argv);
    for (int i = 0; i < 300; i++) {
        FILE *rf = fopen(ready, "r");
        if (rf) {
            if (fscanf(rf, "grpc_port=%d", &s->port) == 1) {
                fclose(rf);
                break;
            }
            fclose(rf);
        }
        int wst;
        if (th__reap(s->pid, &wst, WNOHANG) == s->pid)
            fail_msg("service exited during start-up; see %s", s->log);
        usleep(50 * 1000);
    }
    if (s->port <= 0)
        fail_msg("service not ready; see %s", s->log);
    snprintf(s->target, sizeof(s->target), "127.0.0.1:%d", s->port);
    assert_int_equal(vc_rpc_client_new(s->target, &s->cli), 0);

    vc_db_opts o = {.socket = env_or_fail("VC_TEST_DB_SOCKET"),
                    .user = env_or_fail("VC_TEST_DB_USER"),
                    .password = env_or_fail("VC_TEST_DB_PASSWORD"),
                    .database = s->dbname,
                    .pool_size = 2};
    assert_int_equal(vc_db_pool_open(&o, &s->db), 0);
}

void th_stop(th_svc *s)
{
    vc_rpc_client_free(s->cli);
    s->cli = NULL;
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        int st = 0;
        assert_int_equal(th__reap(s->pid, &st, 0), s->pid);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            char cmd[256];
            snprintf(cmd, sizeof(cmd), "tail -n 40 %s >&2", s->log);
            if (system(cmd) != 0)
                fprintf(stderr, "(no log)\n");
            fail_msg("service did not exit 0 after SIGTERM (status %d)", st);
        }
        s->pid = 0;
    }
    vc_rpc_client_free(s->cli);
    vc_auth_free(s->auth);
    if (s->db)
        vc_db_pool_close(s->db);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", s->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", s->dir);
    memset(s, 0, sizeof(*s));
}

char *th_token(th_svc *s, vc_role role, const char *sub, const char *reseller,
               const char *customer, bool owner, bool finance)
{
    vc_caller c = {.role = role, .owner = owner, .finance = finance};
    snprintf(c.subject, sizeof(c.subject), "%s", sub);
    if (reseller)
        snprintf(c.reseller_id, sizeof(c.reseller_id), "%s", reseller);
    if (customer)
        snprintf(c.customer_id, sizeof(c.customer_id), "%s", customer);
    char *tok = NULL;
    assert_int_equal(vc_auth_mint(s->auth, &c, 3600, &tok), 0);
    return tok;
}

int th_call(th_svc *s, const char *token, const char *path, const ProtobufCMessage *req,
            const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp,
            vc_rpc_result *res)
{
    ProtobufCMessage *r = NULL;
    vc_rpc_call_opts o = {.bearer = token, .timeout_ms = 30000};
    assert_int_equal(vc_rpc_client_unary(s->cli, path, req, resp_desc, NULL, &r, &o, res), 0);
    if (resp)
        *resp = r;
    else if (r)
        protobuf_c_message_free_unpacked(r, NULL);
    return res->code;
}

void th_assert_ledger_clean(th_svc *s)
{
    vc_db_conn *c;
    assert_int_equal(vc_db_lease(s->db, 10000, &c), 0);
    long violations = -1;
    assert_int_equal(vc_ledger_check(c, &violations), 0);
    assert_int_equal(violations, 0);
    /* The service's own cross-checks, when it has them (reseller-svc/invariants.sql). */
    const char *script = getenv("VC_TEST_SERVICE_INVARIANTS");
    if (script && access(script, R_OK) == 0 &&
        th_query_i64(s, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = "
                        "DATABASE() AND table_name = 'vouchers'") > 0) {
        FILE *f = fopen(script, "r");
        assert_non_null(f);
        char *text = calloc(1, 1 << 20);
        size_t n = fread(text, 1, (1 << 20) - 1, f);
        fclose(f);
        text[n] = '\0';
        assert_int_equal(vc_check_script(c, text, &violations), 0);
        free(text);
        assert_int_equal(violations, 0);
    }
    vc_db_release(s->db, c);
}

int64_t th_query_i64(th_svc *s, const char *sql)
{
    vc_db_conn *c;
    assert_int_equal(vc_db_lease(s->db, 10000, &c), 0);
    int64_t v = 0;
    int rc = vc_db_query_i64(c, sql, VC_DB_NOARGS, &v);
    vc_db_release(s->db, c);
    assert_true(rc == 0 || rc == VC_ENOENT);
    return v;
}

void th_expect_invalid(int code, const vc_rpc_result *res, const char *field)
{
    if (code != VC_GRPC_INVALID_ARGUMENT)
        fail_msg("expected INVALID_ARGUMENT for %s, got %d (%s)", field, code, res->message);
    char list[512];
    snprintf(list, sizeof(list), "%s", res->fields);
    for (char *save = NULL, *f = strtok_r(list, ",", &save); f; f = strtok_r(NULL, ",", &save))
        if (strcmp(f, field) == 0)
            return;
    fail_msg("field %s not named in violations '%s' (%s)", field, res->fields, res->message);
}

void th_exec(th_svc *s, const char *sql, const vc_db_param *params, size_t n)
{
    vc_db_conn *c;
    assert_int_equal(vc_db_lease(s->db, 10000, &c), 0);
    int rc = vc_db_exec(c, sql, params, n, NULL);
    if (rc != 0)
        fail_msg("%s: %s", sql, vc_db_errmsg(c));
    vc_db_release(s->db, c);
}

void th_kill(th_svc *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        int st;
        th__reap(s->pid, &st, 0);
        s->pid = 0;
    }
}

void th_relaunch(th_svc *s, const char *binary_env, const char *const *extra)
{
    assert_int_equal(s->pid, 0);
    char keyfile[192], ready[192];
    snprintf(keyfile, sizeof(keyfile), "%s/jwt.key", s->dir);
    snprintf(ready, sizeof(ready), "%s/ready", s->dir);
    unlink(ready);
    char *argv[64];
    build_argv(s, env_or_fail(binary_env), false, extra, argv, keyfile, ready);
    s->pid = spawn(s->log, argv);
    for (int i = 0; i < 300; i++) {
        if (access(ready, R_OK) == 0)
            return;
        int wst;
        if (th__reap(s->pid, &wst, WNOHANG) == s->pid)
            fail_msg("service exited during restart; see %s", s->log);
        usleep(50 * 1000);
    }
    fail_msg("service not ready after restart; see %s", s->log);
}
