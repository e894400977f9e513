#include "calendar/vc_calendar.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/vc_err.h"

#define VC__US    1000000LL
#define VC__DAY_S 86400LL

typedef struct vc__entry {
    int64_t day; /* vc_calendar_days_from_civil */
    int kind;
} vc__entry;

struct vc_calendar {
    vc__entry *v; /* sorted by day, one per day */
    size_t n, cap;
};

/* ---- civil dates ------------------------------------------------------------------------- */

/* Floor division: instants before 1970 must still land on the right date. */
static int64_t vc__floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static bool vc__leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int vc__month_days(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && vc__leap(y) ? 29 : days[m - 1];
}

bool vc_calendar_date_valid(int y, int m, int d)
{
    return y >= 1 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 && d <= vc__month_days(y, m);
}

/* The computation counts years from March 1st, so the leap day is the last day of its year and
   the month lengths before it follow a fixed 153-days-per-5-months pattern; a 400-year era has
   exactly 146097 days. 719468 is the day number of 1970-01-01 counted from 0000-03-01. */
int64_t vc_calendar_days_from_civil(int y, int m, int d)
{
    int64_t yy = (int64_t)y - (m <= 2);
    int64_t era = vc__floor_div(yy, 400);
    int64_t yoe = yy - era * 400;                        /* 0..399 */
    int64_t mp = (m + 9) % 12;                           /* March = 0 .. February = 11 */
    int64_t doy = (153 * mp + 2) / 5 + d - 1;            /* 0..365 */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; /* 0..146096 */
    return era * 146097 + doe - 719468;
}

void vc_calendar_civil_from_days(int64_t days, int *y, int *m, int *d)
{
    int64_t z = days + 719468;
    int64_t era = vc__floor_div(z, 146097);
    int64_t doe = z - era * 146097;                                      /* 0..146096 */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* 0..399 */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* 0..365 */
    int64_t mp = (5 * doy + 2) / 153;                                    /* 0..11 */
    int month = (int)(mp < 10 ? mp + 3 : mp - 9);
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = month;
    *y = (int)(yoe + era * 400 + (month <= 2));
}

int vc_calendar_weekday(int64_t days)
{
    /* 1970-01-01 was a Thursday. */
    int64_t w = (days + 4) % 7;
    return (int)(w < 0 ? w + 7 : w);
}

static bool vc__digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

int vc_calendar_date_parse(const char *s, int *y, int *m, int *d)
{
    int yy, mm, dd;
    if (!s || strlen(s) != VC_CALENDAR_DATE_LEN || s[4] != '-' || s[7] != '-') return VC_EINVAL;
    if (!vc__digits(s, 4, &yy) || !vc__digits(s + 5, 2, &mm) || !vc__digits(s + 8, 2, &dd))
        return VC_EINVAL;
    if (!vc_calendar_date_valid(yy, mm, dd)) return VC_EINVAL;
    *y = yy;
    *m = mm;
    *d = dd;
    return 0;
}

/* v (validated to fit) as exactly `width` zero-padded digits. */
static void vc__put_digits(char *p, int v, int width)
{
    for (int i = width - 1; i >= 0; i--, v /= 10)
        p[i] = (char)('0' + v % 10);
}

int vc_calendar_date_format(int y, int m, int d, char *out)
{
    if (!vc_calendar_date_valid(y, m, d)) {
        out[0] = '\0';
        return VC_EINVAL;
    }
    vc__put_digits(out, y, 4);
    out[4] = '-';
    vc__put_digits(out + 5, m, 2);
    out[7] = '-';
    vc__put_digits(out + 8, d, 2);
    out[VC_CALENDAR_DATE_LEN] = '\0';
    return 0;
}

/* ---- local time ---------------------------------------------------------------------------- */

static int vc__localtime(int64_t secs, struct tm *tm)
{
    time_t t = (time_t)secs;
    if ((int64_t)t != secs || !localtime_r(&t, tm)) return VC_EOVERFLOW;
    return 0;
}

int vc_calendar_local_date(int64_t us, int *y, int *m, int *d)
{
    struct tm tm;
    int rc = vc__localtime(vc__floor_div(us, VC__US), &tm);
    if (rc < 0) return rc;
    *y = tm.tm_year + 1900;
    *m = tm.tm_mon + 1;
    *d = tm.tm_mday;
    return 0;
}

static int vc__offset_at(int64_t secs, long *off)
{
    struct tm tm;
    int rc = vc__localtime(secs, &tm);
    if (rc == 0) *off = tm.tm_gmtoff;
    return rc;
}

/* The instant (seconds, UTC) at which the local clock shows `wall` (local seconds counted from
   1970-01-01 00:00 local). mktime() would do, but what it picks for a time that exists twice
   or not at all is left to the C library; here it is the rule of the header.
   UTC offsets are within -12h..+14h, so the instants that can show `wall` lie within a day of
   `wall` read as UTC: the offsets a day before and a day after are the only candidates (one
   transition, at most, lies between them in any real zone). */
static int vc__local_to_utc(int64_t wall, int64_t *out)
{
    long before, after, off1, off2;
    int rc = vc__offset_at(wall - VC__DAY_S, &before);
    if (rc == 0) rc = vc__offset_at(wall + VC__DAY_S, &after);
    int64_t t1 = wall - before, t2 = wall - after;
    if (rc == 0) rc = vc__offset_at(t1, &off1);
    if (rc == 0) rc = vc__offset_at(t2, &off2);
    if (rc < 0) return rc;
    bool ok1 = off1 == before, ok2 = off2 == after;
    if (ok1 && ok2)
        *out = t1 < t2 ? t1 : t2; /* shown twice (or no transition at all): the earlier */
    else if (ok1 || ok2)
        *out = ok1 ? t1 : t2;
    else
        *out = t1; /* skipped: the old offset lands after the jump, by the jump's length */
    return 0;
}

/* ---- the calendar --------------------------------------------------------------------------- */

int vc_calendar_new(vc_calendar **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : VC_ENOMEM;
}

void vc_calendar_free(vc_calendar *cal)
{
    if (!cal) return;
    free(cal->v);
    free(cal);
}

unsigned vc_calendar_count(const vc_calendar *cal)
{
    return (unsigned)cal->n;
}

/* First index whose day is >= day. */
static size_t vc__lower_bound(const vc_calendar *cal, int64_t day)
{
    size_t lo = 0, hi = cal->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cal->v[mid].day < day)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int vc_calendar_add(vc_calendar *cal, int y, int m, int d, int kind)
{
    if (!cal || !vc_calendar_date_valid(y, m, d) ||
        (kind != VC_CALENDAR_HOLIDAY && kind != VC_CALENDAR_WORKDAY))
        return VC_EINVAL;
    int64_t day = vc_calendar_days_from_civil(y, m, d);
    size_t i = vc__lower_bound(cal, day);
    if (i < cal->n && cal->v[i].day == day) {
        cal->v[i].kind = kind;
        return 0;
    }
    if (cal->n == cal->cap) {
        size_t cap = cal->cap ? cal->cap * 2 : 32;
        vc__entry *v = realloc(cal->v, cap * sizeof(*v));
        if (!v) return VC_ENOMEM;
        cal->v = v;
        cal->cap = cap;
    }
    /* Entries come from the database in date order, so this is nearly always an append. */
    memmove(cal->v + i + 1, cal->v + i, (cal->n - i) * sizeof(*cal->v));
    cal->v[i] = (vc__entry){.day = day, .kind = kind};
    cal->n++;
    return 0;
}

static int vc__entry_cmp(const void *key, const void *elem)
{
    int64_t a = *(const int64_t *)key, b = ((const vc__entry *)elem)->day;
    return (a > b) - (a < b);
}

static bool vc__business(const vc_calendar *cal, int64_t day)
{
    const vc__entry *e =
        cal->n ? bsearch(&day, cal->v, cal->n, sizeof(*cal->v), vc__entry_cmp) : NULL;
    if (e) return e->kind == VC_CALENDAR_WORKDAY;
    int wd = vc_calendar_weekday(day);
    return wd >= 1 && wd <= 5;
}

bool vc_calendar_is_business_day(const vc_calendar *cal, int y, int m, int d)
{
    return cal && vc_calendar_date_valid(y, m, d) &&
           vc__business(cal, vc_calendar_days_from_civil(y, m, d));
}

/* Moves *day to the next business day after it. */
static int vc__next_business(const vc_calendar *cal, int64_t *day)
{
    for (int64_t i = 1; i <= VC_CALENDAR_SEARCH_DAYS; i++) {
        if (vc__business(cal, *day + i)) {
            *day += i;
            return 0;
        }
    }
    return VC_EOVERFLOW;
}

int vc_calendar_due(const vc_calendar *cal, int64_t submit_us, int n, int64_t *due_us)
{
    if (!cal || !due_us || n < 1 || n > VC_CALENDAR_MAX_DAYS) return VC_EINVAL;
    int64_t secs = vc__floor_div(submit_us, VC__US);
    int64_t frac = submit_us - secs * VC__US;
    struct tm tm;
    int rc = vc__localtime(secs, &tm);
    if (rc < 0) return rc;
    int64_t day = vc_calendar_days_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    /* A leap second (only "right/" zones show one) is the last second of its minute. */
    int64_t tod = tm.tm_hour * 3600LL + tm.tm_min * 60LL + (tm.tm_sec > 59 ? 59 : tm.tm_sec);
    if (!vc__business(cal, day)) {
        rc = vc__next_business(cal, &day);
        tod = 0;
        frac = 0;
    }
    for (int i = 0; rc == 0 && i < n; i++)
        rc = vc__next_business(cal, &day);
    int64_t at = 0;
    if (rc == 0) rc = vc__local_to_utc(day * VC__DAY_S + tod, &at);
    if (rc < 0) return rc;
    if (at > INT64_MAX / VC__US - 1 || at < INT64_MIN / VC__US + 1) return VC_EOVERFLOW;
    *due_us = at * VC__US + frac;
    return 0;
}
