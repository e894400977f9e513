/* Unit tests for runtime/vc_config: defaults < environment < flags, validation, --help. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/vc_err.h"
#include "runtime/vc_config.h"

typedef struct test_cfg {
    char *db_socket;
    char *name;
    int64_t workers;
    int64_t offset;
    bool tls;
    bool verbose;
} test_cfg;

static const vc_option opts[] = {
    {"db-socket", VC_OPT_STRING, offsetof(test_cfg, db_socket), "/run/mysqld/mysqld.sock",
     "MariaDB unix socket", 0, 0},
    {"name", VC_OPT_STRING, offsetof(test_cfg, name), NULL, "optional name", 0, 0},
    {"workers", VC_OPT_INT, offsetof(test_cfg, workers), "4", "RPC worker threads", 1, 64},
    {"offset", VC_OPT_INT, offsetof(test_cfg, offset), "-5", "unbounded number", 0, 0},
    {"tls", VC_OPT_BOOL, offsetof(test_cfg, tls), "false", "serve TLS", 0, 0},
    {"verbose", VC_OPT_BOOL, offsetof(test_cfg, verbose), "true", "chatty", 0, 0},
};
#define NOPTS  (sizeof(opts) / sizeof(opts[0]))
#define PREFIX "TCFG_"

static const char *const env_vars[] = {"TCFG_DB_SOCKET", "TCFG_NAME", "TCFG_WORKERS",
                                       "TCFG_OFFSET",    "TCFG_TLS",  "TCFG_VERBOSE"};

static int clear_env(void **state)
{
    for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++)
        unsetenv(env_vars[i]);
    return 0;
}

/* Runs vc_config_parse with fd (1 or 2) redirected to a temp file; *out gets what was
 * printed (caller frees). */
static int parse_capture(test_cfg *cfg, int argc, char **argv, int fd, char **out)
{
    char path[] = "/tmp/vc_test_config_XXXXXX";
    int tmp = mkstemp(path);
    assert_true(tmp >= 0);
    unlink(path);
    fflush(stdout);
    int saved = dup(fd);
    dup2(tmp, fd);
    int rc = vc_config_parse(opts, NOPTS, cfg, argc, argv, PREFIX, "testprog", "A test program.");
    fflush(stdout);
    dup2(saved, fd);
    close(saved);
    off_t size = lseek(tmp, 0, SEEK_END);
    *out = calloc(1, (size_t)size + 1);
    assert_non_null(*out);
    assert_int_equal(pread(tmp, *out, (size_t)size, 0), size);
    close(tmp);
    return rc;
}

/* Parses and expects failure with a one-line stderr message containing each of want[]. */
static void expect_error(int argc, char **argv, const char *want1, const char *want2)
{
    test_cfg cfg;
    memset(&cfg, 0xAB, sizeof(cfg)); /* garbage in: parse must not free or trust it */
    char *err = NULL;
    assert_int_equal(parse_capture(&cfg, argc, argv, 2, &err), VC_EINVAL);
    assert_null(cfg.db_socket); /* freed and cleared on error */
    assert_null(cfg.name);
    if (strstr(err, want1) == NULL || (want2 && strstr(err, want2) == NULL))
        fail_msg("stderr \"%s\" lacks \"%s\"/\"%s\"", err, want1, want2 ? want2 : "");
    const char *nl = strchr(err, '\n');
    assert_non_null(nl);
    assert_string_equal(nl, "\n"); /* exactly one line */
    free(err);
}

static void test_defaults(void **state)
{
    test_cfg cfg;
    memset(&cfg, 0xAB, sizeof(cfg));
    char *argv[] = {"prog", NULL};
    assert_int_equal(vc_config_parse(opts, NOPTS, &cfg, 1, argv, PREFIX, "p", "s"), 0);
    assert_string_equal(cfg.db_socket, "/run/mysqld/mysqld.sock");
    assert_null(cfg.name);
    assert_int_equal(cfg.workers, 4);
    assert_int_equal(cfg.offset, -5);
    assert_false(cfg.tls);
    assert_true(cfg.verbose);
    vc_config_free(opts, NOPTS, &cfg);
    assert_null(cfg.db_socket);
    vc_config_free(opts, NOPTS, &cfg); /* twice is harmless */
}

static void test_env_overrides_default(void **state)
{
    setenv("TCFG_DB_SOCKET", "/tmp/env.sock", 1);
    setenv("TCFG_NAME", "from-env", 1);
    setenv("TCFG_WORKERS", "16", 1);
    setenv("TCFG_TLS", "yes", 1);
    setenv("TCFG_VERBOSE", "OFF", 1);
    test_cfg cfg = {0};
    char *argv[] = {"prog", NULL};
    assert_int_equal(vc_config_parse(opts, NOPTS, &cfg, 1, argv, PREFIX, "p", "s"), 0);
    assert_string_equal(cfg.db_socket, "/tmp/env.sock");
    assert_string_equal(cfg.name, "from-env");
    assert_int_equal(cfg.workers, 16);
    assert_true(cfg.tls);
    assert_false(cfg.verbose);
    vc_config_free(opts, NOPTS, &cfg);

    /* A NULL prefix ignores the environment entirely. */
    assert_int_equal(vc_config_parse(opts, NOPTS, &cfg, 1, argv, NULL, "p", "s"), 0);
    assert_string_equal(cfg.db_socket, "/run/mysqld/mysqld.sock");
    assert_int_equal(cfg.workers, 4);
    vc_config_free(opts, NOPTS, &cfg);
}

static void test_flag_overrides_env(void **state)
{
    setenv("TCFG_DB_SOCKET", "/tmp/env.sock", 1);
    setenv("TCFG_WORKERS", "16", 1);
    setenv("TCFG_TLS", "true", 1);
    test_cfg cfg = {0};
    char *argv[] = {
        "prog", "--db-socket=/tmp/flag.sock",    "--workers", "32", "--no-tls", "--name",
        "",     "--offset=-9223372036854775808", NULL};
    assert_int_equal(vc_config_parse(opts, NOPTS, &cfg, 8, argv, PREFIX, "p", "s"), 0);
    assert_string_equal(cfg.db_socket, "/tmp/flag.sock");
    assert_int_equal(cfg.workers, 32);
    assert_false(cfg.tls);
    assert_string_equal(cfg.name, "");
    assert_true(cfg.offset == INT64_MIN);
    vc_config_free(opts, NOPTS, &cfg);

    /* Last flag wins; earlier heap copies are not leaked (ASan would tell). */
    char *argv2[] = {"prog", "--name=a", "--name=b", "--name", "c", NULL};
    assert_int_equal(vc_config_parse(opts, NOPTS, &cfg, 5, argv2, PREFIX, "p", "s"), 0);
    assert_string_equal(cfg.name, "c");
    vc_config_free(opts, NOPTS, &cfg);
}

static void test_bools(void **state)
{
    test_cfg cfg = {0};
    char *a1[] = {"prog", "--tls", "--no-verbose", NULL};
    assert_int_equal(vc_config_parse(opts, NOPTS, &cfg, 3, a1, PREFIX, "p", "s"), 0);
    assert_true(cfg.tls);
    assert_false(cfg.verbose);
    vc_config_free(opts, NOPTS, &cfg);

    char *a2[] = {"prog", "--tls=1", "--verbose=False", NULL};
    assert_int_equal(vc_config_parse(opts, NOPTS, &cfg, 3, a2, PREFIX, "p", "s"), 0);
    assert_true(cfg.tls);
    assert_false(cfg.verbose);
    vc_config_free(opts, NOPTS, &cfg);

    /* A bare bool flag never swallows the next argument. */
    char *a3[] = {"prog", "--tls", "false", NULL};
    expect_error(3, a3, "\"false\"", NULL);

    char *a4[] = {"prog", "--tls=maybe", NULL};
    expect_error(2, a4, "--tls", "TCFG_TLS");
    char *a5[] = {"prog", "--no-tls=true", NULL};
    expect_error(2, a5, "--no-tls", NULL);
    char *a6[] = {"prog", "--no-workers", NULL}; /* --no- only exists for bools */
    expect_error(2, a6, "--no-workers", NULL);

    setenv("TCFG_TLS", "sometimes", 1);
    char *a7[] = {"prog", NULL};
    expect_error(1, a7, "TCFG_TLS", "--tls");
}

static void test_bounds_and_numbers(void **state)
{
    test_cfg cfg = {0};
    char *ok_lo[] = {"prog", "--workers=1", NULL};
    assert_int_equal(vc_config_parse(opts, NOPTS, &cfg, 2, ok_lo, PREFIX, "p", "s"), 0);
    assert_int_equal(cfg.workers, 1);
    vc_config_free(opts, NOPTS, &cfg);
    char *ok_hi[] = {"prog", "--workers", "64", NULL};
    assert_int_equal(vc_config_parse(opts, NOPTS, &cfg, 3, ok_hi, PREFIX, "p", "s"), 0);
    assert_int_equal(cfg.workers, 64);
    vc_config_free(opts, NOPTS, &cfg);

    char *hi[] = {"prog", "--workers=65", NULL};
    expect_error(2, hi, "--workers", "between 1 and 64");
    char *lo[] = {"prog", "--workers=0", NULL};
    expect_error(2, lo, "--workers", "TCFG_WORKERS");
    char *junk[] = {"prog", "--workers=4x", NULL};
    expect_error(2, junk, "not an integer", "TCFG_WORKERS");
    char *space[] = {"prog", "--workers= 4", NULL};
    expect_error(2, space, "not an integer", NULL);
    char *empty[] = {"prog", "--workers=", NULL};
    expect_error(2, empty, "not an integer", NULL);
    char *huge[] = {"prog", "--offset=9223372036854775808", NULL};
    expect_error(2, huge, "--offset", "not an integer");

    setenv("TCFG_WORKERS", "100", 1);
    char *none[] = {"prog", NULL};
    expect_error(1, none, "TCFG_WORKERS", "between 1 and 64");
    /* ... unless a flag fixes it? No: the environment is validated as it is read. */
}

static void test_unknown_positional_missing(void **state)
{
    char *unknown[] = {"prog", "--workerz=3", NULL};
    expect_error(2, unknown, "unknown flag --workerz", NULL);
    char *single_dash[] = {"prog", "-w", NULL};
    expect_error(2, single_dash, "\"-w\"", NULL);
    char *positional[] = {"prog", "--tls", "extra", NULL};
    expect_error(3, positional, "\"extra\"", NULL);
    char *dashdash[] = {"prog", "--", "x", NULL};
    expect_error(3, dashdash, "\"--\"", NULL);
    char *missing[] = {"prog", "--db-socket", NULL};
    expect_error(2, missing, "--db-socket needs a value", "TCFG_DB_SOCKET");
}

static void test_help(void **state)
{
    test_cfg cfg;
    memset(&cfg, 0xAB, sizeof(cfg));
    char *out = NULL;
    /* --help wins over a bad flag elsewhere, and over a bad environment. */
    setenv("TCFG_WORKERS", "nope", 1);
    char *argv[] = {"prog", "--workerz", "--help", NULL};
    assert_int_equal(parse_capture(&cfg, 3, argv, 1, &out), 1);
    assert_null(cfg.db_socket);
    assert_non_null(strstr(out, "Usage: testprog [OPTIONS]"));
    assert_non_null(strstr(out, "A test program."));
    assert_non_null(strstr(out, "--db-socket=STRING"));
    assert_non_null(strstr(out, "MariaDB unix socket"));
    assert_non_null(strstr(out, "default: /run/mysqld/mysqld.sock"));
    assert_non_null(strstr(out, "env: TCFG_DB_SOCKET"));
    assert_non_null(strstr(out, "--workers=INT (1..64)"));
    assert_non_null(strstr(out, "env: TCFG_WORKERS"));
    assert_non_null(strstr(out, "--[no-]tls"));
    assert_non_null(strstr(out, "default: (none)"));
    assert_non_null(strstr(out, "-h, --help"));
    free(out);

    char *argv2[] = {"prog", "-h", NULL};
    assert_int_equal(parse_capture(&cfg, 2, argv2, 1, &out), 1);
    assert_non_null(strstr(out, "Usage: testprog"));
    free(out);
    vc_config_free(opts, NOPTS, &cfg);

    /* "--help" as the value of a string flag is a value, not a request for help. */
    unsetenv("TCFG_WORKERS");
    char *argv3[] = {"prog", "--name", "--help", NULL};
    assert_int_equal(parse_capture(&cfg, 3, argv3, 1, &out), 0);
    assert_string_equal(cfg.name, "--help");
    assert_string_equal(out, "");
    free(out);
    vc_config_free(opts, NOPTS, &cfg);
}

static void test_bad_table(void **state)
{
    typedef struct {
        int64_t n;
    } small;
    const vc_option bad_default[] = {{"n", VC_OPT_INT, offsetof(small, n), "ten", "", 0, 0}};
    small s;
    char *argv[] = {"prog", NULL};
    assert_int_equal(vc_config_parse(bad_default, 1, &s, 1, argv, NULL, "p", "s"), VC_EINVAL);
    const vc_option no_name[] = {{NULL, VC_OPT_INT, 0, NULL, "", 0, 0}};
    assert_int_equal(vc_config_parse(no_name, 1, &s, 1, argv, NULL, "p", "s"), VC_EINVAL);
    assert_int_equal(vc_config_parse(NULL, 1, &s, 1, argv, NULL, "p", "s"), VC_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_env_overrides_default, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_flag_overrides_env, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_bools, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_bounds_and_numbers, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_unknown_positional_missing, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_help, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_bad_table, clear_env, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
