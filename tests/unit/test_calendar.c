/* vc_calendar: civil-date arithmetic, strict date strings, business days and due times in
   Asia/Shanghai (weekends, holidays, the 2026 National Day week with its make-up days, year
   ends, night and holiday submissions, N = 1..3, leap days) and in Europe/Berlin across the
   DST changes. Expected instants are computed independently with timegm() and a fixed offset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "base/vc_err.h"
#include "calendar/vc_calendar.h"

#define US 1000000LL

/* The instant (µs) at which a zone with UTC offset `off_h` hours shows y-m-d H:M:S. */
static int64_t at_off(int off_h, int y, int m, int d, int H, int M, int S)
{
    struct tm tm = {
        .tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d, .tm_hour = H, .tm_min = M, .tm_sec = S};
    return ((int64_t)timegm(&tm) - off_h * 3600LL) * US;
}

/* Asia/Shanghai: UTC+8 all year, no DST since 1991. */
static int64_t sh(int y, int m, int d, int H, int M)
{
    return at_off(8, y, m, d, H, M, 0);
}

static void use_zone(const char *tz)
{
    assert_int_equal(setenv("TZ", tz, 1), 0);
    tzset();
}

static int setup_group(void **state)
{
    (void)state;
    use_zone("Asia/Shanghai");
    return 0;
}

static vc_calendar *cal_new(void)
{
    vc_calendar *cal = NULL;
    assert_int_equal(vc_calendar_new(&cal), 0);
    assert_non_null(cal);
    return cal;
}

static int64_t due(const vc_calendar *cal, int64_t submit_us, int n)
{
    int64_t out = -1;
    assert_int_equal(vc_calendar_due(cal, submit_us, n, &out), 0);
    return out;
}

static void add(vc_calendar *cal, const char *date, int kind)
{
    int y, m, d;
    assert_int_equal(vc_calendar_date_parse(date, &y, &m, &d), 0);
    assert_int_equal(vc_calendar_add(cal, y, m, d, kind), 0);
}

static bool business(const vc_calendar *cal, const char *date)
{
    int y, m, d;
    assert_int_equal(vc_calendar_date_parse(date, &y, &m, &d), 0);
    return vc_calendar_is_business_day(cal, y, m, d);
}

/* China's 2026 National Day / Mid-Autumn week: Oct 1 (Thu) .. Oct 7 (Wed) off, worked on
   Sun Sep 27 and Sat Oct 10. */
static vc_calendar *national_day_2026(void)
{
    vc_calendar *cal = cal_new();
    /* Out of order on purpose: the calendar keeps them sorted. */
    static const char *const off[] = {"2026-10-07", "2026-10-01", "2026-10-03", "2026-10-02",
                                      "2026-10-05", "2026-10-04", "2026-10-06"};
    for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++)
        add(cal, off[i], VC_CALENDAR_HOLIDAY);
    add(cal, "2026-10-10", VC_CALENDAR_WORKDAY);
    add(cal, "2026-09-27", VC_CALENDAR_WORKDAY);
    assert_int_equal(vc_calendar_count(cal), 9);
    return cal;
}

/* ---- civil dates ------------------------------------------------------------------------- */

static void test_days_from_civil(void **state)
{
    (void)state;
    assert_int_equal(vc_calendar_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(vc_calendar_days_from_civil(1969, 12, 31), -1);
    assert_int_equal(vc_calendar_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(vc_calendar_weekday(0), 4); /* Thursday */
    assert_int_equal(vc_calendar_weekday(-1), 3);
    /* Every day from 1900 to 2400 against the C library's UTC calendar, both directions. */
    int64_t first = vc_calendar_days_from_civil(1900, 1, 1);
    int64_t last = vc_calendar_days_from_civil(2400, 12, 31);
    for (int64_t day = first; day <= last; day++) {
        int y, m, d;
        vc_calendar_civil_from_days(day, &y, &m, &d);
        time_t t = (time_t)(day * 86400);
        struct tm tm;
        assert_non_null(gmtime_r(&t, &tm));
        if (y != tm.tm_year + 1900 || m != tm.tm_mon + 1 || d != tm.tm_mday ||
            vc_calendar_weekday(day) != tm.tm_wday)
            fail_msg("day %lld: %04d-%02d-%02d", (long long)day, y, m, d);
        assert_true(vc_calendar_date_valid(y, m, d));
        assert_int_equal(vc_calendar_days_from_civil(y, m, d), day);
    }
}

static void test_date_parse_format(void **state)
{
    (void)state;
    int y = 0, m = 0, d = 0;
    assert_int_equal(vc_calendar_date_parse("2026-10-01", &y, &m, &d), 0);
    assert_int_equal(y, 2026);
    assert_int_equal(m, 10);
    assert_int_equal(d, 1);
    assert_int_equal(vc_calendar_date_parse("2028-02-29", &y, &m, &d), 0);
    assert_int_equal(vc_calendar_date_parse("2000-02-29", &y, &m, &d), 0);
    assert_int_equal(vc_calendar_date_parse("0001-01-01", &y, &m, &d), 0);
    assert_int_equal(vc_calendar_date_parse("9999-12-31", &y, &m, &d), 0);
    static const char *const bad[] = {
        "",           "2026-02-30",  "2026-1-5",    "2026-01-5",   "2027-02-29", "2100-02-29",
        "2026-04-31", "2026-13-01",  "2026-00-10",  "2026-01-00",  "0000-01-01", "2026/01/05",
        "+026-01-05", "2026-01-05x", " 2026-01-05", "2026-01-05 ", "20260105",   "2026-0a-05",
        "2026--1-05", "２026-01-05",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        y = m = d = -7;
        if (vc_calendar_date_parse(bad[i], &y, &m, &d) != VC_EINVAL)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_int_equal(y, -7); /* untouched */
    }
    assert_int_equal(vc_calendar_date_parse(NULL, &y, &m, &d), VC_EINVAL);

    char buf[VC_CALENDAR_DATE_LEN + 1];
    assert_int_equal(vc_calendar_date_format(2026, 1, 5, buf), 0);
    assert_string_equal(buf, "2026-01-05");
    assert_int_equal(vc_calendar_date_format(7, 12, 31, buf), 0);
    assert_string_equal(buf, "0007-12-31");
    assert_int_equal(vc_calendar_date_format(2026, 2, 29, buf), VC_EINVAL);
    assert_string_equal(buf, "");
    assert_int_equal(vc_calendar_date_format(10000, 1, 1, buf), VC_EINVAL);
}

static void test_local_date(void **state)
{
    (void)state;
    int y, m, d;
    /* 16:30 UTC on New Year's Eve is already New Year's Day in Shanghai. */
    assert_int_equal(vc_calendar_local_date(at_off(0, 2025, 12, 31, 16, 30, 0), &y, &m, &d), 0);
    assert_int_equal(y * 10000 + m * 100 + d, 20260101);
    assert_int_equal(vc_calendar_local_date(at_off(0, 2025, 12, 31, 15, 59, 59), &y, &m, &d), 0);
    assert_int_equal(y * 10000 + m * 100 + d, 20251231);
    /* Just before the epoch: floor, not truncation. */
    use_zone("UTC");
    assert_int_equal(vc_calendar_local_date(-1, &y, &m, &d), 0);
    assert_int_equal(y * 10000 + m * 100 + d, 19691231);
    use_zone("Asia/Shanghai");
    assert_int_equal(vc_calendar_local_date(-1, &y, &m, &d), 0);
    assert_int_equal(y * 10000 + m * 100 + d, 19700101);
}

/* ---- the calendar ---------------------------------------------------------------------------- */

static void test_add_and_lookup(void **state)
{
    (void)state;
    vc_calendar *cal = cal_new();
    assert_true(business(cal, "2026-01-05"));  /* Monday */
    assert_true(business(cal, "2026-01-09"));  /* Friday */
    assert_false(business(cal, "2026-01-10")); /* Saturday */
    assert_false(business(cal, "2026-01-11")); /* Sunday */
    assert_false(vc_calendar_is_business_day(cal, 2026, 2, 30));
    assert_false(vc_calendar_is_business_day(NULL, 2026, 1, 5));

    assert_int_equal(vc_calendar_add(cal, 2026, 2, 30, VC_CALENDAR_HOLIDAY), VC_EINVAL);
    assert_int_equal(vc_calendar_add(cal, 2026, 1, 5, 0), VC_EINVAL);
    assert_int_equal(vc_calendar_add(cal, 2026, 1, 5, 3), VC_EINVAL);
    assert_int_equal(vc_calendar_count(cal), 0);

    add(cal, "2026-01-05", VC_CALENDAR_HOLIDAY);
    assert_false(business(cal, "2026-01-05"));
    add(cal, "2026-01-05", VC_CALENDAR_WORKDAY); /* the later kind wins */
    assert_true(business(cal, "2026-01-05"));
    assert_int_equal(vc_calendar_count(cal), 1);
    add(cal, "2026-01-10", VC_CALENDAR_WORKDAY);
    assert_true(business(cal, "2026-01-10"));
    add(cal, "2026-01-11", VC_CALENDAR_HOLIDAY); /* a weekend holiday: harmless */
    assert_false(business(cal, "2026-01-11"));
    assert_true(business(cal, "2026-01-12"));
    vc_calendar_free(cal);
    vc_calendar_free(NULL);
}

static void test_weekdays_and_weekends(void **state)
{
    (void)state;
    vc_calendar *cal = cal_new();
    /* The examples of the header. */
    assert_int_equal(due(cal, sh(2026, 1, 5, 10, 0), 3), sh(2026, 1, 8, 10, 0));    /* Mon→Thu */
    assert_int_equal(due(cal, sh(2026, 1, 9, 23, 30), 3), sh(2026, 1, 14, 23, 30)); /* Fri→Wed */
    assert_int_equal(due(cal, sh(2026, 1, 10, 14, 0), 1), sh(2026, 1, 13, 0, 0));   /* Sat→Tue */
    /* N = 1, 2, 3 from a Wednesday morning. */
    assert_int_equal(due(cal, sh(2026, 1, 7, 9, 15), 1), sh(2026, 1, 8, 9, 15));
    assert_int_equal(due(cal, sh(2026, 1, 7, 9, 15), 2), sh(2026, 1, 9, 9, 15));
    assert_int_equal(due(cal, sh(2026, 1, 7, 9, 15), 3), sh(2026, 1, 12, 9, 15));
    /* Sunday at any hour starts Monday 00:00. */
    assert_int_equal(due(cal, sh(2026, 1, 11, 0, 0), 1), sh(2026, 1, 13, 0, 0));
    assert_int_equal(due(cal, sh(2026, 1, 11, 23, 59), 3), sh(2026, 1, 15, 0, 0));
    /* Midnight of a business day is that day. */
    assert_int_equal(due(cal, sh(2026, 1, 12, 0, 0), 1), sh(2026, 1, 13, 0, 0));
    /* Sub-second parts are kept while the start stays, dropped when it moves. */
    assert_int_equal(due(cal, sh(2026, 1, 9, 23, 59) + 59 * US + 500000, 1),
                     sh(2026, 1, 12, 23, 59) + 59 * US + 500000);
    assert_int_equal(due(cal, sh(2026, 1, 10, 9, 0) + 123456, 1), sh(2026, 1, 13, 0, 0));
    /* Local, not UTC: Sunday 20:00 UTC is Monday 04:00 in Shanghai, a business day. */
    assert_int_equal(due(cal, at_off(0, 2026, 1, 11, 20, 0, 0), 1), sh(2026, 1, 13, 4, 0));
    /* Friday 17:00 UTC is Saturday 01:00 in Shanghai. */
    assert_int_equal(due(cal, at_off(0, 2026, 1, 9, 17, 0, 0), 1), sh(2026, 1, 13, 0, 0));
    /* The module goes up to VC_CALENDAR_MAX_DAYS: 30 business days are six weeks. */
    assert_int_equal(due(cal, sh(2026, 1, 5, 10, 0), 30), sh(2026, 2, 16, 10, 0));
    vc_calendar_free(cal);
}

static void test_night_submissions(void **state)
{
    (void)state;
    vc_calendar *cal = cal_new();
    add(cal, "2026-01-09", VC_CALENDAR_HOLIDAY); /* a Friday off */
    /* Thursday 23:59 before a Friday holiday: Friday and the weekend are skipped. */
    assert_int_equal(due(cal, sh(2026, 1, 8, 23, 59), 1), sh(2026, 1, 12, 23, 59));
    assert_int_equal(due(cal, sh(2026, 1, 8, 23, 59), 2), sh(2026, 1, 13, 23, 59));
    assert_int_equal(due(cal, sh(2026, 1, 8, 23, 59), 3), sh(2026, 1, 14, 23, 59));
    /* One minute later it is the holiday itself: the clock starts Monday 00:00. */
    assert_int_equal(due(cal, sh(2026, 1, 9, 0, 0), 1), sh(2026, 1, 13, 0, 0));
    /* Thursday 00:00 and 23:59 both count Thursday as the start day. */
    assert_int_equal(due(cal, sh(2026, 1, 8, 0, 0), 1), sh(2026, 1, 12, 0, 0));
    vc_calendar_free(cal);
}

static void test_national_day_week(void **state)
{
    (void)state;
    vc_calendar *cal = national_day_2026();
    assert_false(business(cal, "2026-10-01"));
    assert_false(business(cal, "2026-10-05")); /* a Monday inside the block */
    assert_false(business(cal, "2026-10-11")); /* plain Sunday */
    assert_true(business(cal, "2026-09-27"));  /* make-up Sunday */
    assert_true(business(cal, "2026-10-10"));  /* make-up Saturday */
    assert_true(business(cal, "2026-10-08"));
    assert_true(business(cal, "2026-09-30"));

    /* The day before the block skips all of it; the make-up Saturday counts. */
    assert_int_equal(due(cal, sh(2026, 9, 30, 10, 0), 1), sh(2026, 10, 8, 10, 0));
    assert_int_equal(due(cal, sh(2026, 9, 30, 10, 0), 2), sh(2026, 10, 9, 10, 0));
    assert_int_equal(due(cal, sh(2026, 9, 30, 10, 0), 3), sh(2026, 10, 10, 10, 0));
    assert_int_equal(due(cal, sh(2026, 9, 30, 23, 59), 3), sh(2026, 10, 10, 23, 59));
    /* Friday before: the make-up Sunday is the first business day. */
    assert_int_equal(due(cal, sh(2026, 9, 25, 16, 0), 1), sh(2026, 9, 27, 16, 0));
    assert_int_equal(due(cal, sh(2026, 9, 25, 16, 0), 3), sh(2026, 9, 29, 16, 0));
    /* Submitted on the make-up Sunday itself: it is a business day, the time is kept. */
    assert_int_equal(due(cal, sh(2026, 9, 27, 9, 0), 1), sh(2026, 9, 28, 9, 0));
    /* Submitted during the holidays (weekday and weekend): the clock starts Thu Oct 8 00:00. */
    assert_int_equal(due(cal, sh(2026, 10, 1, 9, 0), 1), sh(2026, 10, 9, 0, 0));
    assert_int_equal(due(cal, sh(2026, 10, 3, 11, 0), 2), sh(2026, 10, 10, 0, 0));
    assert_int_equal(due(cal, sh(2026, 10, 7, 23, 59), 3), sh(2026, 10, 12, 0, 0));
    /* Submitted on the make-up Saturday. */
    assert_int_equal(due(cal, sh(2026, 10, 10, 18, 0), 1), sh(2026, 10, 12, 18, 0));
    vc_calendar_free(cal);
}

static void test_year_end(void **state)
{
    (void)state;
    vc_calendar *cal = cal_new();
    /* Plain calendar: Wed Dec 31 2025 → Thu, Fri, Mon. */
    assert_int_equal(due(cal, sh(2025, 12, 31, 10, 0), 1), sh(2026, 1, 1, 10, 0));
    assert_int_equal(due(cal, sh(2025, 12, 31, 23, 59), 3), sh(2026, 1, 5, 23, 59));
    /* Fri Dec 31 2027 → Mon Jan 3 2028. */
    assert_int_equal(due(cal, sh(2027, 12, 31, 15, 0), 1), sh(2028, 1, 3, 15, 0));
    /* China's 2026 New Year: Jan 1-2 off (Jan 3 is a Saturday anyway), Sunday Jan 4 worked. */
    add(cal, "2026-01-01", VC_CALENDAR_HOLIDAY);
    add(cal, "2026-01-02", VC_CALENDAR_HOLIDAY);
    add(cal, "2026-01-04", VC_CALENDAR_WORKDAY);
    assert_int_equal(due(cal, sh(2025, 12, 31, 10, 0), 1), sh(2026, 1, 4, 10, 0));
    assert_int_equal(due(cal, sh(2025, 12, 31, 10, 0), 2), sh(2026, 1, 5, 10, 0));
    assert_int_equal(due(cal, sh(2025, 12, 31, 10, 0), 3), sh(2026, 1, 6, 10, 0));
    /* New Year's Eve at night, Shanghai time; in UTC it is still the afternoon. */
    assert_int_equal(due(cal, at_off(0, 2025, 12, 31, 15, 59, 0), 1), sh(2026, 1, 4, 23, 59));
    /* New Year's Day itself: starts on the make-up Sunday. */
    assert_int_equal(due(cal, sh(2026, 1, 1, 8, 0), 1), sh(2026, 1, 5, 0, 0));
    vc_calendar_free(cal);
}

static void test_leap_day(void **state)
{
    (void)state;
    vc_calendar *cal = cal_new();
    /* 2028-02-28 is a Monday, 2028-02-29 a Tuesday. */
    assert_int_equal(due(cal, sh(2028, 2, 28, 10, 0), 1), sh(2028, 2, 29, 10, 0));
    assert_int_equal(due(cal, sh(2028, 2, 28, 10, 0), 3), sh(2028, 3, 2, 10, 0));
    assert_int_equal(due(cal, sh(2028, 2, 25, 10, 0), 3), sh(2028, 3, 1, 10, 0));
    /* 2024-02-29 was a Thursday; 2027 has no leap day (Fri Feb 26 → Tue Mar 2). */
    assert_int_equal(due(cal, sh(2024, 2, 29, 12, 0), 1), sh(2024, 3, 1, 12, 0));
    assert_int_equal(due(cal, sh(2027, 2, 26, 12, 0), 2), sh(2027, 3, 2, 12, 0));
    /* A holiday on the leap day. */
    add(cal, "2028-02-29", VC_CALENDAR_HOLIDAY);
    assert_int_equal(due(cal, sh(2028, 2, 28, 10, 0), 1), sh(2028, 3, 1, 10, 0));
    assert_int_equal(due(cal, sh(2028, 2, 29, 10, 0), 1), sh(2028, 3, 2, 0, 0));
    vc_calendar_free(cal);
}

/* Europe/Berlin 2026: clocks go 02:00 → 03:00 on Sun Mar 29, 03:00 → 02:00 on Sun Oct 25. */
static void test_dst_zone(void **state)
{
    (void)state;
    use_zone("Europe/Berlin");
    vc_calendar *cal = cal_new();
    /* Due times are wall-clock: Fri 10:00 CET + 1 → Mon 10:00 CEST (71 hours later). */
    int64_t fri = at_off(1, 2026, 3, 27, 10, 0, 0);
    assert_int_equal(due(cal, fri, 1), at_off(2, 2026, 3, 30, 10, 0, 0));
    assert_int_equal(due(cal, fri, 1) - fri, 71 * 3600 * US);
    /* Fri 10:00 CEST + 1 → Mon 10:00 CET (73 hours later). */
    int64_t fri2 = at_off(2, 2026, 10, 23, 10, 0, 0);
    assert_int_equal(due(cal, fri2, 1), at_off(1, 2026, 10, 26, 10, 0, 0));
    assert_int_equal(due(cal, fri2, 1) - fri2, 73 * 3600 * US);
    /* Saturday before the change: start Monday 00:00 CEST, due Tuesday 00:00 CEST. */
    assert_int_equal(due(cal, at_off(1, 2026, 3, 28, 14, 0, 0), 1),
                     at_off(2, 2026, 3, 31, 0, 0, 0));
    /* Local dates: 23:30 UTC on Sunday Mar 29 is already Monday 01:30 CEST. */
    assert_int_equal(due(cal, at_off(0, 2026, 3, 29, 23, 30, 0), 1),
                     at_off(2, 2026, 3, 31, 1, 30, 0));
    /* With the change days worked, the due time can fall into the jump: 02:30 does not exist
       on Mar 29 (→ 03:30 CEST) and exists twice on Oct 25 (→ the earlier, CEST). */
    add(cal, "2026-03-29", VC_CALENDAR_WORKDAY);
    add(cal, "2026-10-25", VC_CALENDAR_WORKDAY);
    assert_int_equal(due(cal, at_off(1, 2026, 3, 27, 2, 30, 0), 1),
                     at_off(2, 2026, 3, 29, 3, 30, 0));
    assert_int_equal(due(cal, at_off(2, 2026, 10, 23, 2, 30, 0), 1),
                     at_off(2, 2026, 10, 25, 2, 30, 0));
    /* 01:30 and 03:30 exist once on both days. */
    assert_int_equal(due(cal, at_off(2, 2026, 10, 23, 3, 30, 0), 1),
                     at_off(1, 2026, 10, 25, 3, 30, 0));
    assert_int_equal(due(cal, at_off(1, 2026, 3, 27, 1, 30, 0), 1),
                     at_off(1, 2026, 3, 29, 1, 30, 0));
    vc_calendar_free(cal);
    use_zone("Asia/Shanghai");
}

static void test_due_errors(void **state)
{
    (void)state;
    vc_calendar *cal = cal_new();
    int64_t out = 42;
    int64_t mon = sh(2026, 1, 5, 10, 0);
    assert_int_equal(vc_calendar_due(cal, mon, 0, &out), VC_EINVAL);
    assert_int_equal(vc_calendar_due(cal, mon, -1, &out), VC_EINVAL);
    assert_int_equal(vc_calendar_due(cal, mon, VC_CALENDAR_MAX_DAYS + 1, &out), VC_EINVAL);
    assert_int_equal(vc_calendar_due(NULL, mon, 1, &out), VC_EINVAL);
    assert_int_equal(vc_calendar_due(cal, mon, 1, NULL), VC_EINVAL);
    assert_int_equal(out, 42);
    assert_int_equal(vc_calendar_due(cal, INT64_MAX, 1, &out), VC_EOVERFLOW);
    /* A calendar without a business day in reach. */
    int64_t first = vc_calendar_days_from_civil(2026, 1, 6);
    for (int64_t day = first; day <= first + VC_CALENDAR_SEARCH_DAYS; day++) {
        int y, m, d;
        vc_calendar_civil_from_days(day, &y, &m, &d);
        assert_int_equal(vc_calendar_add(cal, y, m, d, VC_CALENDAR_HOLIDAY), 0);
    }
    assert_int_equal(vc_calendar_due(cal, mon, 1, &out), VC_EOVERFLOW);
    assert_int_equal(out, 42);
    vc_calendar_free(cal);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_days_from_civil),
        cmocka_unit_test(test_date_parse_format),
        cmocka_unit_test(test_local_date),
        cmocka_unit_test(test_add_and_lookup),
        cmocka_unit_test(test_weekdays_and_weekends),
        cmocka_unit_test(test_night_submissions),
        cmocka_unit_test(test_national_day_week),
        cmocka_unit_test(test_year_end),
        cmocka_unit_test(test_leap_day),
        cmocka_unit_test(test_dst_zone),
        cmocka_unit_test(test_due_errors),
    };
    return cmocka_run_group_tests(tests, setup_group, NULL);
}
