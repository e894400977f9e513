/* approval.v1.CalendarService against a real approval-svc (time zone Asia/Shanghai, the
   default, and --business-days=2): add/list/remove round trip, idempotent add, conflicts,
   the WORKDAY-on-a-weekend rule, strict dates and the other input rules (field named, nothing
   written), staff-only access, keyset pages with filters, and ComputeDueTime honouring entries
   as they are added and removed (including a holiday run longer than the loaded window).
   One service for the file; each test works in its own years. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "approval/v1/calendar_service.pb-c.h"
#include "calendar/vc_calendar.h"
#include "harness.h"

#define SVC(m) "/approval.v1.CalendarService/" m

#define HOLIDAY APPROVAL__V1__CALENDAR_ENTRY_KIND__CALENDAR_ENTRY_KIND_HOLIDAY
#define WORKDAY APPROVAL__V1__CALENDAR_ENTRY_KIND__CALENDAR_ENTRY_KIND_WORKDAY

static th_svc S;
static char *staff; /* token of staff member "alice" */

static int setup(void **state)
{
    (void)state;
    static const char *const extra[] = {"--business-days=2", NULL};
    th_start(&S, "VC_TEST_APPROVAL_BIN", "calendar", extra);
    staff = th_token(&S, VC_ROLE_STAFF, "alice", NULL, NULL, false, false);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(staff);
    th_stop(&S);
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------------- */

/* Seconds since the epoch at which Shanghai (UTC+8) shows y-m-d H:M. */
static int64_t sh(int y, int m, int d, int H, int M)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d, .tm_hour = H, .tm_min = M};
    return (int64_t)timegm(&tm) - 8 * 3600;
}

static int64_t count_sql(const char *where)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM calendar_entries %s", where);
    return th_query_i64(&S, sql);
}

static int add_call(const char *tok, const char *date, int kind, const char *desc,
                    Approval__V1__AddHolidayResponse **out, vc_rpc_result *res)
{
    Approval__V1__AddHolidayRequest req = APPROVAL__V1__ADD_HOLIDAY_REQUEST__INIT;
    req.date = (char *)date;
    req.kind = (Approval__V1__CalendarEntryKind)kind;
    req.description = (char *)desc;
    return th_call(&S, tok, SVC("AddHoliday"), &req.base,
                   &approval__v1__add_holiday_response__descriptor, (ProtobufCMessage **)out, res);
}

static void add_ok(const char *date, int kind, const char *desc)
{
    vc_rpc_result res;
    if (add_call(staff, date, kind, desc, NULL, &res) != VC_GRPC_OK)
        fail_msg("add %s: %d %s", date, res.code, res.message);
}

static int remove_call(const char *tok, const char *date, Approval__V1__RemoveHolidayResponse **out,
                       vc_rpc_result *res)
{
    Approval__V1__RemoveHolidayRequest req = APPROVAL__V1__REMOVE_HOLIDAY_REQUEST__INIT;
    req.date = (char *)date;
    return th_call(&S, tok, SVC("RemoveHoliday"), &req.base,
                   &approval__v1__remove_holiday_response__descriptor, (ProtobufCMessage **)out,
                   res);
}

static int list_call(const char *tok, const char *start, const char *end, int kind, int size,
                     const char *token, Approval__V1__ListHolidaysResponse **out,
                     vc_rpc_result *res)
{
    Approval__V1__ListHolidaysRequest req = APPROVAL__V1__LIST_HOLIDAYS_REQUEST__INIT;
    req.start_date = (char *)start;
    req.end_date = (char *)end;
    req.kind = (Approval__V1__CalendarEntryKind)kind;
    req.page_size = size;
    req.page_token = (char *)token;
    return th_call(&S, tok, SVC("ListHolidays"), &req.base,
                   &approval__v1__list_holidays_response__descriptor, (ProtobufCMessage **)out,
                   res);
}

/* The dates of a whole listing, page by page, comma-separated into buf. */
static void list_all(const char *start, const char *end, int kind, int size, char *buf, size_t cap,
                     int *pages)
{
    char token[256] = "";
    buf[0] = '\0';
    *pages = 0;
    for (;;) {
        Approval__V1__ListHolidaysResponse *r = NULL;
        vc_rpc_result res;
        if (list_call(staff, start, end, kind, size, token, &r, &res) != VC_GRPC_OK)
            fail_msg("list: %d %s", res.code, res.message);
        ++*pages;
        assert_true(r->n_entries <= (size_t)(size ? size : 100));
        for (size_t i = 0; i < r->n_entries; i++) {
            size_t len = strlen(buf);
            snprintf(buf + len, cap - len, "%s%s", len ? "," : "", r->entries[i]->date);
        }
        snprintf(token, sizeof(token), "%s", r->next_page_token);
        protobuf_c_message_free_unpacked(&r->base, NULL);
        if (!*token) return;
        assert_true(*pages < 100);
    }
}

static int due_call(const char *tok, int64_t submit_s, bool has_submit, int days,
                    Approval__V1__ComputeDueTimeResponse **out, vc_rpc_result *res)
{
    Approval__V1__ComputeDueTimeRequest req = APPROVAL__V1__COMPUTE_DUE_TIME_REQUEST__INIT;
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = submit_s;
    req.submit_time = has_submit ? &ts : NULL;
    req.business_days = days;
    return th_call(&S, tok, SVC("ComputeDueTime"), &req.base,
                   &approval__v1__compute_due_time_response__descriptor, (ProtobufCMessage **)out,
                   res);
}

/* The due time (seconds) of a submission; checks the echoed fields too. */
static int64_t due(int64_t submit_s, int days)
{
    Approval__V1__ComputeDueTimeResponse *r = NULL;
    vc_rpc_result res;
    if (due_call(staff, submit_s, true, days, &r, &res) != VC_GRPC_OK)
        fail_msg("due: %d %s", res.code, res.message);
    assert_non_null(r->due_time);
    assert_int_equal(r->due_time->nanos, 0);
    assert_int_equal(r->business_days, days ? days : 2); /* --business-days=2 */
    assert_string_equal(r->time_zone, "Asia/Shanghai");
    int64_t s = r->due_time->seconds;
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return s;
}

/* ---- tests --------------------------------------------------------------------------------- */

static void test_round_trip(void **state)
{
    (void)state;
    int64_t before = (int64_t)time(NULL);
    Approval__V1__AddHolidayResponse *a = NULL;
    vc_rpc_result res;
    assert_int_equal(add_call(staff, "2030-10-01", HOLIDAY, "National Day", &a, &res), VC_GRPC_OK);
    assert_string_equal(a->entry->date, "2030-10-01");
    assert_int_equal(a->entry->kind, HOLIDAY);
    assert_string_equal(a->entry->description, "National Day");
    assert_string_equal(a->entry->created_by, "alice");
    assert_non_null(a->entry->create_time);
    assert_true(a->entry->create_time->seconds >= before - 5);
    assert_true(a->entry->create_time->seconds <= (int64_t)time(NULL) + 5);
    int64_t created = a->entry->create_time->seconds;
    protobuf_c_message_free_unpacked(&a->base, NULL);
    add_ok("2030-09-29", WORKDAY, "Make-up day (Sunday)");
    assert_int_equal(count_sql("WHERE YEAR(entry_date) = 2030"), 2);
    assert_int_equal(count_sql("WHERE entry_date = '2030-10-01' AND kind = 1 "
                               "AND created_by = 'alice'"),
                     1);

    Approval__V1__ListHolidaysResponse *l = NULL;
    assert_int_equal(list_call(staff, "2030-01-01", "2030-12-31", 0, 0, "", &l, &res), VC_GRPC_OK);
    assert_int_equal(l->n_entries, 2);
    assert_string_equal(l->entries[0]->date, "2030-09-29"); /* oldest first */
    assert_int_equal(l->entries[0]->kind, WORKDAY);
    assert_string_equal(l->entries[1]->date, "2030-10-01");
    assert_string_equal(l->entries[1]->description, "National Day");
    assert_string_equal(l->entries[1]->created_by, "alice");
    assert_int_equal(l->entries[1]->create_time->seconds, created);
    assert_string_equal(l->next_page_token, "");
    protobuf_c_message_free_unpacked(&l->base, NULL);

    Approval__V1__RemoveHolidayResponse *r = NULL;
    assert_int_equal(remove_call(staff, "2030-10-01", &r, &res), VC_GRPC_OK);
    assert_string_equal(r->entry->date, "2030-10-01");
    assert_int_equal(r->entry->kind, HOLIDAY);
    assert_string_equal(r->entry->description, "National Day");
    assert_string_equal(r->entry->created_by, "alice");
    protobuf_c_message_free_unpacked(&r->base, NULL);
    assert_int_equal(count_sql("WHERE entry_date = '2030-10-01'"), 0);
    assert_int_equal(remove_call(staff, "2030-10-01", NULL, &res), VC_GRPC_NOT_FOUND);
    assert_int_equal(remove_call(staff, "2030-10-02", NULL, &res), VC_GRPC_NOT_FOUND);

    assert_int_equal(list_call(staff, "2030-01-01", "2030-12-31", 0, 0, "", &l, &res), VC_GRPC_OK);
    assert_int_equal(l->n_entries, 1);
    assert_string_equal(l->entries[0]->date, "2030-09-29");
    protobuf_c_message_free_unpacked(&l->base, NULL);
    assert_int_equal(remove_call(staff, "2030-09-29", NULL, &res), VC_GRPC_OK);
    assert_int_equal(count_sql("WHERE YEAR(entry_date) = 2030"), 0);
}

static void test_idempotent_add_and_conflict(void **state)
{
    (void)state;
    add_ok("2031-05-01", HOLIDAY, "Labour Day");
    /* Same date and kind again: the stored entry, unchanged, even with another description
       (a retry must not edit; edits are remove + add). */
    Approval__V1__AddHolidayResponse *a = NULL;
    vc_rpc_result res;
    assert_int_equal(add_call(staff, "2031-05-01", HOLIDAY, "Labour Day", &a, &res), VC_GRPC_OK);
    assert_string_equal(a->entry->description, "Labour Day");
    protobuf_c_message_free_unpacked(&a->base, NULL);
    char *bob = th_token(&S, VC_ROLE_STAFF, "bob", NULL, NULL, false, false);
    assert_int_equal(add_call(bob, "2031-05-01", HOLIDAY, "May Day", &a, &res), VC_GRPC_OK);
    assert_string_equal(a->entry->description, "Labour Day");
    assert_string_equal(a->entry->created_by, "alice");
    protobuf_c_message_free_unpacked(&a->base, NULL);
    assert_int_equal(count_sql("WHERE YEAR(entry_date) = 2031"), 1);
    assert_int_equal(count_sql("WHERE entry_date = '2031-05-01' AND description = 'Labour Day' "
                               "AND created_by = 'alice'"),
                     1);

    /* The other kind on a taken date: ALREADY_EXISTS, nothing changes. */
    add_ok("2031-05-04", WORKDAY, "Make-up day"); /* a Sunday */
    assert_int_equal(add_call(bob, "2031-05-04", HOLIDAY, "Day off", NULL, &res),
                     VC_GRPC_ALREADY_EXISTS);
    assert_non_null(strstr(res.message, "2031-05-04"));
    assert_int_equal(count_sql("WHERE entry_date = '2031-05-04' AND kind = 2 "
                               "AND description = 'Make-up day'"),
                     1);
    /* A weekend holiday is accepted (it changes nothing). */
    add_ok("2031-05-03", HOLIDAY, "Saturday, off anyway");
    assert_int_equal(count_sql("WHERE YEAR(entry_date) = 2031"), 3);
    free(bob);
}

static void test_bad_input(void **state)
{
    (void)state;
    int64_t total = count_sql("");
    vc_rpc_result res;
    static const char *const bad_dates[] = {"2026-02-30",  "2026-1-5",   "",
                                            "2026-01-05 ", "05/01/2026", "1969-12-31"};
    for (size_t i = 0; i < sizeof(bad_dates) / sizeof(bad_dates[0]); i++) {
        th_expect_invalid(add_call(staff, bad_dates[i], HOLIDAY, "x", NULL, &res), &res, "date");
        if (i < 5) /* 1969 is a real date, merely out of range for adding */
            th_expect_invalid(remove_call(staff, bad_dates[i], NULL, &res), &res, "date");
    }
    /* A make-up day must be a weekend day. */
    th_expect_invalid(add_call(staff, "2032-10-04", WORKDAY, "Monday?", NULL, &res), &res, "date");
    assert_non_null(strstr(res.message, "Monday"));
    th_expect_invalid(add_call(staff, "2032-10-01", 0, "x", NULL, &res), &res, "kind");
    th_expect_invalid(add_call(staff, "2032-10-01", 3, "x", NULL, &res), &res, "kind");
    th_expect_invalid(add_call(staff, "2032-10-01", HOLIDAY, "", NULL, &res), &res, "description");
    th_expect_invalid(add_call(staff, "2032-10-01", HOLIDAY, "   ", NULL, &res), &res,
                      "description");
    th_expect_invalid(add_call(staff, "2032-10-01", HOLIDAY, "bad\xff utf8", NULL, &res), &res,
                      "description");
    th_expect_invalid(add_call(staff, "2032-10-01", HOLIDAY, "tab\there", NULL, &res), &res,
                      "description");
    char long_desc[202];
    memset(long_desc, 'x', 201);
    long_desc[201] = '\0';
    th_expect_invalid(add_call(staff, "2032-10-01", HOLIDAY, long_desc, NULL, &res), &res,
                      "description");
    /* Every violation at once. */
    assert_int_equal(add_call(staff, "2026-1-5", 0, "", NULL, &res), VC_GRPC_INVALID_ARGUMENT);
    th_expect_invalid(res.code, &res, "date");
    th_expect_invalid(res.code, &res, "kind");
    th_expect_invalid(res.code, &res, "description");
    assert_int_equal(count_sql(""), total);
    /* 200 characters (not bytes) is the limit: 200 CJK characters are fine. */
    char cjk[200 * 3 + 1] = "";
    for (int i = 0; i < 200; i++)
        strcat(cjk, "\xe5\x81\x87"); /* 假 */
    add_ok("2032-10-01", HOLIDAY, cjk);
    assert_int_equal(
        count_sql("WHERE entry_date = '2032-10-01' AND CHAR_LENGTH(description) = 200"), 1);

    /* ListHolidays. */
    th_expect_invalid(list_call(staff, "2026-02-30", "", 0, 0, "", NULL, &res), &res, "start_date");
    th_expect_invalid(list_call(staff, "", "2026-1-5", 0, 0, "", NULL, &res), &res, "end_date");
    th_expect_invalid(list_call(staff, "2026-02-01", "2026-01-31", 0, 0, "", NULL, &res), &res,
                      "end_date");
    th_expect_invalid(list_call(staff, "", "", 9, 0, "", NULL, &res), &res, "kind");
    th_expect_invalid(list_call(staff, "", "", 0, 1001, "", NULL, &res), &res, "page_size");
    th_expect_invalid(list_call(staff, "", "", 0, -1, "", NULL, &res), &res, "page_size");
    th_expect_invalid(list_call(staff, "", "", 0, 0, "not-a-token", NULL, &res), &res,
                      "page_token");

    /* ComputeDueTime. */
    int64_t mon = sh(2026, 1, 5, 10, 0);
    th_expect_invalid(due_call(staff, 0, false, 1, NULL, &res), &res, "submit_time");
    th_expect_invalid(due_call(staff, -86400, true, 1, NULL, &res), &res, "submit_time");
    th_expect_invalid(due_call(staff, mon, true, 4, NULL, &res), &res, "business_days");
    th_expect_invalid(due_call(staff, mon, true, -1, NULL, &res), &res, "business_days");
}

static void test_roles(void **state)
{
    (void)state;
    int64_t total = count_sql("");
    char *toks[] = {
        th_token(&S, VC_ROLE_RESELLER, "op", "r1", NULL, false, false),
        th_token(&S, VC_ROLE_CUSTOMER, "c1", "r1", "cust1", true, true),
        th_token(&S, VC_ROLE_BILLING, "billing", NULL, NULL, false, false),
        th_token(&S, VC_ROLE_SERVICE, "reseller-svc", NULL, NULL, false, false),
    };
    vc_rpc_result res;
    for (size_t i = 0; i < sizeof(toks) / sizeof(toks[0]); i++) {
        assert_int_equal(add_call(toks[i], "2033-01-03", HOLIDAY, "x", NULL, &res),
                         VC_GRPC_PERMISSION_DENIED);
        assert_int_equal(remove_call(toks[i], "2031-05-01", NULL, &res), VC_GRPC_PERMISSION_DENIED);
        assert_int_equal(list_call(toks[i], "", "", 0, 0, "", NULL, &res),
                         VC_GRPC_PERMISSION_DENIED);
        assert_int_equal(due_call(toks[i], sh(2026, 1, 5, 10, 0), true, 1, NULL, &res),
                         VC_GRPC_PERMISSION_DENIED);
        free(toks[i]);
    }
    assert_int_equal(add_call(NULL, "2033-01-03", HOLIDAY, "x", NULL, &res),
                     VC_GRPC_UNAUTHENTICATED);
    assert_int_equal(count_sql(""), total);
    assert_int_equal(count_sql("WHERE entry_date = '2031-05-01'"), 1);
}

static void test_list_pages_and_filters(void **state)
{
    (void)state;
    /* 2034: seven holidays and two make-up days, added out of order. */
    static const char *const off[] = {"2034-10-05", "2034-10-02", "2034-10-03", "2034-10-04",
                                      "2034-10-06", "2034-01-02", "2034-12-25"};
    for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++)
        add_ok(off[i], HOLIDAY, "off");
    add_ok("2034-10-08", WORKDAY, "make-up (Sunday)");
    add_ok("2034-09-30", WORKDAY, "make-up (Saturday)");
    add_ok("2035-01-01", HOLIDAY, "next year");
    char buf[512];
    int pages;
    static const char all[] = "2034-01-02,2034-09-30,2034-10-02,2034-10-03,2034-10-04,"
                              "2034-10-05,2034-10-06,2034-10-08,2034-12-25";
    for (int size = 1; size <= 10; size++) {
        list_all("2034-01-01", "2034-12-31", 0, size, buf, sizeof(buf), &pages);
        assert_string_equal(buf, all);
        assert_int_equal(pages, (9 + size - 1) / size);
    }
    list_all("2034-01-01", "2034-12-31", 0, 0, buf, sizeof(buf), &pages);
    assert_string_equal(buf, all);
    assert_int_equal(pages, 1);
    /* Inclusive bounds. */
    list_all("2034-10-02", "2034-10-06", 0, 2, buf, sizeof(buf), &pages);
    assert_string_equal(buf, "2034-10-02,2034-10-03,2034-10-04,2034-10-05,2034-10-06");
    list_all("2034-10-06", "2034-10-06", 0, 1, buf, sizeof(buf), &pages);
    assert_string_equal(buf, "2034-10-06");
    /* Kind filter. */
    list_all("2034-01-01", "2034-12-31", WORKDAY, 1, buf, sizeof(buf), &pages);
    assert_string_equal(buf, "2034-09-30,2034-10-08");
    list_all("2034-10-01", "2034-12-31", HOLIDAY, 3, buf, sizeof(buf), &pages);
    assert_string_equal(buf, "2034-10-02,2034-10-03,2034-10-04,2034-10-05,2034-10-06,2034-12-25");
    /* Open-ended. */
    list_all("2034-12-01", "", 0, 1, buf, sizeof(buf), &pages);
    assert_string_equal(buf, "2034-12-25,2035-01-01");
    list_all("", "2030-12-31", 0, 0, buf, sizeof(buf), &pages);
    assert_string_equal(buf, ""); /* round-trip entries were removed */
}

static void test_due_time_honours_calendar(void **state)
{
    (void)state;
    /* 2036-09-30 is a Tuesday. */
    int64_t tue = sh(2036, 9, 30, 10, 0);
    assert_int_equal(due(tue, 1), sh(2036, 10, 1, 10, 0));
    assert_int_equal(due(tue, 0), sh(2036, 10, 2, 10, 0)); /* the configured default: 2 */
    assert_int_equal(due(tue, 3), sh(2036, 10, 3, 10, 0));
    /* The National Day week and its make-up Saturday. */
    static const char *const off[] = {"2036-10-01", "2036-10-02", "2036-10-03", "2036-10-06",
                                      "2036-10-07"};
    for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++)
        add_ok(off[i], HOLIDAY, "National Day");
    assert_int_equal(due(tue, 1), sh(2036, 10, 8, 10, 0));
    assert_int_equal(due(tue, 3), sh(2036, 10, 10, 10, 0));
    /* A make-up Saturday counts: Thursday + 2 is Saturday instead of Monday. */
    int64_t thu = sh(2036, 10, 9, 10, 0);
    assert_int_equal(due(thu, 2), sh(2036, 10, 13, 10, 0));
    add_ok("2036-10-11", WORKDAY, "make-up");
    assert_int_equal(due(thu, 2), sh(2036, 10, 11, 10, 0));
    /* Submitted during the holidays: the clock starts Wednesday Oct 8 00:00. */
    assert_int_equal(due(sh(2036, 10, 2, 22, 0), 1), sh(2036, 10, 9, 0, 0));
    /* Night in Shanghai, still afternoon in UTC. */
    assert_int_equal(due(sh(2036, 9, 30, 23, 59), 1), sh(2036, 10, 8, 23, 59));
    /* Removing an entry takes effect for the next computation. */
    vc_rpc_result res;
    assert_int_equal(remove_call(staff, "2036-10-01", NULL, &res), VC_GRPC_OK);
    assert_int_equal(due(tue, 1), sh(2036, 10, 1, 10, 0));
}

static void test_due_time_long_closure(void **state)
{
    (void)state;
    /* Every day from 2037-01-01 to 2037-03-31 off: the first business day is Wed Apr 1, more
       than the 60 days the service loads at first. */
    int64_t first = vc_calendar_days_from_civil(2037, 1, 1);
    int64_t last = vc_calendar_days_from_civil(2037, 3, 31);
    for (int64_t day = first; day <= last; day++) {
        int y, m, d;
        char date[VC_CALENDAR_DATE_LEN + 1];
        vc_calendar_civil_from_days(day, &y, &m, &d);
        assert_int_equal(vc_calendar_date_format(y, m, d, date), 0);
        add_ok(date, HOLIDAY, "closed");
    }
    assert_int_equal(count_sql("WHERE YEAR(entry_date) = 2037"), 90);
    assert_int_equal(due(sh(2036, 12, 31, 9, 30), 1), sh(2037, 4, 1, 9, 30));
    assert_int_equal(due(sh(2037, 2, 14, 9, 30), 2), sh(2037, 4, 3, 0, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_idempotent_add_and_conflict),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_list_pages_and_filters),
        cmocka_unit_test(test_due_time_honours_calendar),
        cmocka_unit_test(test_due_time_long_closure),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
