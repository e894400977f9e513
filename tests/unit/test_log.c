/* Unit tests for runtime/vc_log: every line parses back as JSON with the right content. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/vc_err.h"
#include "runtime/vc_log.h"

/* Each test logs into a fresh unlinked temp file and reads the lines back. */
typedef struct capture {
    int fd;
    char *text;
} capture;

static int setup(void **state)
{
    capture *c = calloc(1, sizeof(*c));
    char path[] = "/tmp/vc_test_log_XXXXXX";
    c->fd = mkstemp(path);
    if (c->fd < 0) return -1;
    unlink(path);
    vc_log_init("test-svc", VC_LOG_DEBUG);
    vc_log_set_fd(c->fd);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    capture *c = *state;
    vc_log_set_fd(2);
    close(c->fd);
    free(c->text);
    free(c);
    return 0;
}

/* Returns all lines as one JSON array (every line must parse on its own). */
static json_t *read_lines(capture *c)
{
    off_t size = lseek(c->fd, 0, SEEK_END);
    free(c->text);
    c->text = malloc((size_t)size + 1);
    assert_non_null(c->text);
    assert_int_equal(pread(c->fd, c->text, (size_t)size, 0), size);
    c->text[size] = '\0';
    json_t *arr = json_array();
    char *save = NULL;
    for (char *line = strtok_r(c->text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        json_error_t err;
        json_t *obj = json_loads(line, JSON_REJECT_DUPLICATES, &err);
        if (obj == NULL) fail_msg("not JSON (%s): %.200s", err.text, line);
        json_array_append_new(arr, obj);
    }
    /* Reset so the next read sees only new lines. */
    assert_int_equal(ftruncate(c->fd, 0), 0);
    assert_int_equal(lseek(c->fd, 0, SEEK_SET), 0);
    return arr;
}

static const char *str_of(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    if (s == NULL) fail_msg("key %s missing or not a string", key);
    return s;
}

static void test_basic_line(void **state)
{
    capture *c = *state;
    vc_log_fields(VC_LOG_INFO, "rpc done",
                  (vc_log_field[]){VC_LOG_S("rpc", "/reseller.v1.QuotaService/GetQuota"),
                                   VC_LOG_I("status", 5), VC_LOG_I("big", INT64_MIN),
                                   VC_LOG_D("duration_ms", 1.25)},
                  4);
    json_t *lines = read_lines(c);
    assert_int_equal(json_array_size(lines), 1);
    json_t *l = json_array_get(lines, 0);
    assert_string_equal(str_of(l, "level"), "info");
    assert_string_equal(str_of(l, "service"), "test-svc");
    assert_string_equal(str_of(l, "msg"), "rpc done");
    assert_string_equal(str_of(l, "rpc"), "/reseller.v1.QuotaService/GetQuota");
    assert_int_equal(json_integer_value(json_object_get(l, "status")), 5);
    assert_true(json_integer_value(json_object_get(l, "big")) == INT64_MIN);
    assert_true(json_real_value(json_object_get(l, "duration_ms")) == 1.25);

    /* 2026-11-23T15:04:05.123Z */
    const char *t = str_of(l, "time");
    assert_int_equal(strlen(t), 24);
    assert_true(t[4] == '-' && t[10] == 'T' && t[19] == '.' && t[23] == 'Z');

    /* Fixed keys come first, in this order. */
    assert_non_null(strstr(c->text, "{\"time\":\""));
    assert_true(strstr(c->text, "\"level\"") < strstr(c->text, "\"service\""));
    assert_true(strstr(c->text, "\"service\"") < strstr(c->text, "\"msg\""));
    assert_true(strstr(c->text, "\"msg\"") < strstr(c->text, "\"rpc\""));
    json_decref(lines);
}

static void test_escaping(void **state)
{
    capture *c = *state;
    const char *nasty = "q\"b\\s/n\nt\tr\rc\x01\x1f end";
    vc_log_fields(VC_LOG_WARN, nasty,
                  (vc_log_field[]){VC_LOG_S("k\"ey", "v\\al"),
                                   VC_LOG_S("utf8", "h\xC3\xA9llo \xE4\xB8\xAD"),
                                   VC_LOG_S("bad", "a\xFF"
                                                   "b\xC3"
                                                   "c\xED\xA0\x80"
                                                   "d\xC0\xAF"
                                                   "e"),
                                   VC_LOG_S("null", NULL)},
                  4);
    json_t *lines = read_lines(c);
    json_t *l = json_array_get(lines, 0);
    assert_string_equal(str_of(l, "level"), "warn");
    assert_string_equal(str_of(l, "msg"), nasty);
    assert_string_equal(str_of(l, "k\"ey"), "v\\al");
    assert_string_equal(str_of(l, "utf8"), "h\xC3\xA9llo \xE4\xB8\xAD");
    /* Each invalid byte becomes U+FFFD (EF BF BD): lone FF, truncated C3, a surrogate (3 bytes),
     * an overlong '/' (2 bytes). */
    assert_string_equal(str_of(l, "bad"), "a\xEF\xBF\xBD"
                                          "b\xEF\xBF\xBD"
                                          "c\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
                                          "d\xEF\xBF\xBD\xEF\xBF\xBD"
                                          "e");
    assert_true(json_is_null(json_object_get(l, "null")));
    /* Control characters never appear raw inside the line. */
    for (const char *p = c->text; *p; p++)
        assert_true((unsigned char)*p >= 0x20 || *p == '\n');
    json_decref(lines);
}

static void test_null_msg_reserved_keys_and_doubles(void **state)
{
    capture *c = *state;
    vc_log_fields(VC_LOG_ERROR, NULL,
                  (vc_log_field[]){VC_LOG_S("msg", "shadow"),
                                   VC_LOG_S("level", "x"),
                                   VC_LOG_D("nan", NAN),
                                   VC_LOG_D("inf", INFINITY),
                                   VC_LOG_D("tiny", 0.1),
                                   VC_LOG_D("third", 1.0 / 3.0),
                                   {.key = NULL, .type = VC_LF_INT, .i = 1}},
                  7);
    json_t *lines = read_lines(c);
    json_t *l = json_array_get(lines, 0);
    assert_true(json_is_null(json_object_get(l, "msg")));
    assert_string_equal(str_of(l, "level"), "error");
    assert_string_equal(str_of(l, "_msg"), "shadow");
    assert_string_equal(str_of(l, "_level"), "x");
    assert_true(json_is_null(json_object_get(l, "nan")));
    assert_true(json_is_null(json_object_get(l, "inf")));
    assert_true(json_real_value(json_object_get(l, "tiny")) == 0.1);
    assert_true(json_real_value(json_object_get(l, "third")) == 1.0 / 3.0);
    assert_non_null(strstr(c->text, "\"tiny\":0.1,")); /* shortest form, not 0.10000000000000001 */
    assert_int_equal(json_object_size(l), 4 + 6);
    json_decref(lines);
}

static void test_level_filter(void **state)
{
    capture *c = *state;
    vc_log_set_level(VC_LOG_WARN);
    assert_false(vc_log_enabled(VC_LOG_DEBUG));
    assert_false(vc_log_enabled(VC_LOG_INFO));
    assert_true(vc_log_enabled(VC_LOG_WARN));
    assert_true(vc_log_enabled(VC_LOG_ERROR));
    vc_logf(VC_LOG_DEBUG, "debug %d", 1);
    vc_logf(VC_LOG_INFO, "info %d", 2);
    vc_logf(VC_LOG_WARN, "warn %d", 3);
    vc_log_fields(VC_LOG_INFO, "dropped", NULL, 0);
    vc_log_fields(VC_LOG_ERROR, "kept", NULL, 0);
    json_t *lines = read_lines(c);
    assert_int_equal(json_array_size(lines), 2);
    assert_string_equal(str_of(json_array_get(lines, 0), "msg"), "warn 3");
    assert_string_equal(str_of(json_array_get(lines, 0), "level"), "warn");
    assert_string_equal(str_of(json_array_get(lines, 1), "msg"), "kept");
    json_decref(lines);
}

static void test_level_parse(void **state)
{
    vc_log_level l = VC_LOG_ERROR;
    assert_int_equal(vc_log_level_parse("debug", &l), 0);
    assert_int_equal(l, VC_LOG_DEBUG);
    assert_int_equal(vc_log_level_parse("INFO", &l), 0);
    assert_int_equal(l, VC_LOG_INFO);
    assert_int_equal(vc_log_level_parse("warning", &l), 0);
    assert_int_equal(l, VC_LOG_WARN);
    assert_int_equal(vc_log_level_parse("Error", &l), 0);
    assert_int_equal(l, VC_LOG_ERROR);
    assert_int_equal(vc_log_level_parse("verbose", &l), VC_EINVAL);
    assert_int_equal(vc_log_level_parse("", &l), VC_EINVAL);
    assert_int_equal(vc_log_level_parse(NULL, &l), VC_EINVAL);
    assert_int_equal(l, VC_LOG_ERROR);
    assert_string_equal(vc_log_level_name(VC_LOG_WARN), "warn");
}

static void test_long_lines(void **state)
{
    capture *c = *state;
    /* Longer than the stack buffer but below the truncation limit: kept whole (heap path). */
    size_t mid_len = 5000;
    char *mid = malloc(mid_len + 1);
    memset(mid, 'm', mid_len);
    mid[mid_len] = '\0';
    /* Far above the limit: cut and marked. Quotes make the escaped form twice as long. */
    size_t huge_len = 100000;
    char *huge = malloc(huge_len + 1);
    memset(huge, '"', huge_len);
    huge[huge_len] = '\0';

    vc_log_fields(VC_LOG_INFO, "long",
                  (vc_log_field[]){VC_LOG_S("mid", mid), VC_LOG_S("huge", huge)}, 2);
    vc_logf(VC_LOG_INFO, "%s", mid);
    vc_logf(VC_LOG_INFO, "%s!", huge);
    json_t *lines = read_lines(c);
    assert_int_equal(json_array_size(lines), 3);
    json_t *l = json_array_get(lines, 0);
    assert_string_equal(str_of(l, "mid"), mid);
    const char *h = str_of(l, "huge");
    assert_int_equal(strlen(h), VC_LOG_MAX_VALUE + strlen("...(truncated)"));
    assert_memory_equal(h, huge, VC_LOG_MAX_VALUE);
    assert_string_equal(h + VC_LOG_MAX_VALUE, "...(truncated)");
    assert_string_equal(str_of(json_array_get(lines, 1), "msg"), mid);
    const char *m2 = str_of(json_array_get(lines, 2), "msg");
    assert_int_equal(strlen(m2), VC_LOG_MAX_VALUE + strlen("...(truncated)"));
    json_decref(lines);
    free(mid);
    free(huge);
}

#define THREADS    4
#define PER_THREAD 500

static void *writer(void *arg)
{
    long id = (long)(intptr_t)arg;
    /* Long enough that interleaved writes would certainly corrupt lines. */
    char pad[3000];
    memset(pad, 'a' + (int)id, sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    for (int i = 0; i < PER_THREAD; i++)
        vc_log_fields(
            VC_LOG_INFO, "concurrent",
            (vc_log_field[]){VC_LOG_I("thread", id), VC_LOG_I("i", i), VC_LOG_S("pad", pad)}, 3);
    return NULL;
}

static void test_concurrent_lines_stay_whole(void **state)
{
    capture *c = *state;
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, writer, (void *)(intptr_t)i), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    json_t *lines = read_lines(c);
    assert_int_equal(json_array_size(lines), THREADS * PER_THREAD);
    int next[THREADS] = {0};
    size_t idx;
    json_t *l;
    json_array_foreach(lines, idx, l)
    {
        int id = (int)json_integer_value(json_object_get(l, "thread"));
        assert_in_range(id, 0, THREADS - 1);
        /* Per-thread order is preserved and nothing is lost. */
        assert_int_equal(json_integer_value(json_object_get(l, "i")), next[id]++);
        assert_int_equal(strlen(str_of(l, "pad")), 2999);
    }
    json_decref(lines);
}

static void test_errno_preserved(void **state)
{
    capture *c = *state;
    errno = EAGAIN;
    vc_logf(VC_LOG_INFO, "keeps errno");
    assert_int_equal(errno, EAGAIN);
    json_decref(read_lines(c));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_basic_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escaping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_null_msg_reserved_keys_and_doubles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_level_filter, setup, teardown),
        cmocka_unit_test(test_level_parse),
        cmocka_unit_test_setup_teardown(test_long_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_lines_stay_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errno_preserved, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
