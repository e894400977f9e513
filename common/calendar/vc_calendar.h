/*
 * vc_calendar.h - the business-day calendar: which local dates are working days, and when a
 * review submitted at some instant is due (SPEC §6). Pure computation: no database, no clock.
 *
 * Business day. A local date is a business day when it is Monday–Friday and not a HOLIDAY
 * entry, or when it is a WORKDAY entry (a make-up working day: a Saturday or Sunday worked in
 * exchange for a holiday, as the Chinese public-holiday schedule does every year). A HOLIDAY
 * on a weekend and a WORKDAY on a weekday change nothing.
 *
 * Due time. vc_calendar_due(cal, submit, n):
 *   1. take the local date and time of day of `submit`;
 *   2. if that date is not a business day, the clock starts at 00:00 of the next business day
 *      (a submission on Saturday afternoon or during a holiday week waits for the office);
 *   3. move forward n business days (dates, skipping the others);
 *   4. the due time is that date at the time of day of the (possibly moved) start.
 * Examples: Mon 10:00 + 3 → Thu 10:00; Fri 23:30 + 3 → Wed 23:30; Sat 14:00 + 1 → Tue 00:00
 * (start Mon 00:00, one business day later); the day before a holiday week skips the week; a
 * make-up Saturday counts. Sub-second parts of `submit` are kept unless the start moved.
 *
 * Local time is the process time zone (TZ; approval-svc sets it from --time-zone at start-up).
 * Dates are civil dates in the proleptic Gregorian calendar, handled as day numbers (days since
 * 1970-01-01), so a date never goes through seconds. Due times are local wall-clock times: with
 * a DST zone, "Friday 10:00 + 1" is Monday 10:00 whatever the clocks did on Sunday. When the
 * wall-clock time does not exist on the due date (a forward jump, possible only when the jump
 * day is a business day), it is moved forward by the length of the jump (02:30 → 03:30); when
 * it exists twice (a backward jump), the earlier instant is due.
 *
 * Why a computed-once due time: callers store the result with the ticket; calendar changes made
 * later apply to later submissions only.
 *
 * Threads. A vc_calendar is not synchronised: build it on one thread, then any number of
 * threads may read it (is_business_day, due) as long as nobody adds to it. The time functions
 * read the process time zone: nobody may change TZ while they run (approval-svc sets it once,
 * before any thread starts). Everything else here is pure.
 *
 * Errors: VC_EINVAL (bad argument, invalid date), VC_ENOMEM, VC_EOVERFLOW (an instant the C
 * library cannot represent, or no business day within VC_CALENDAR_SEARCH_DAYS).
 */
#ifndef VC_CALENDAR_H
#define VC_CALENDAR_H

#include <stdbool.h>
#include <stdint.h>

typedef struct vc_calendar vc_calendar; /* opaque: the exception dates, sorted */

/* Entry kinds; the values are stored in the database and match the API's CalendarEntryKind. */
enum {
    VC_CALENDAR_HOLIDAY = 1, /* a day off, even Monday–Friday */
    VC_CALENDAR_WORKDAY = 2, /* a make-up working day, even Saturday/Sunday */
};

/* Longest due period, in business days (the service allows 1..3; the module is general). */
#define VC_CALENDAR_MAX_DAYS 30
/* How far the search for the next business day goes before giving up (a calendar that marks
   every weekday a holiday has none). */
#define VC_CALENDAR_SEARCH_DAYS 3660
/* "YYYY-MM-DD" without the NUL. */
#define VC_CALENDAR_DATE_LEN 10

/* An empty calendar (plain Monday–Friday). 0 or VC_ENOMEM; caller frees with
   vc_calendar_free(). */
int vc_calendar_new(vc_calendar **out);
/* NULL is fine. */
void vc_calendar_free(vc_calendar *cal);

/* Records that y-m-d is a HOLIDAY or a WORKDAY. A date already present takes the new kind (the
   database holds one entry per date, so this only matters to callers that build calendars by
   hand). 0, VC_EINVAL (invalid date or kind), VC_ENOMEM. */
int vc_calendar_add(vc_calendar *cal, int y, int m, int d, int kind);
/* Number of entries. */
unsigned vc_calendar_count(const vc_calendar *cal);

/* Whether y-m-d is a business day (see above). An invalid date is not. */
bool vc_calendar_is_business_day(const vc_calendar *cal, int y, int m, int d);

/* The due time of a submission at submit_us (microseconds since the epoch, UTC) with n business
   days, 1..VC_CALENDAR_MAX_DAYS (see above). Dates not in the calendar count as plain
   Monday–Friday, so the calendar must hold the entries of the dates the computation may reach.
   0, VC_EINVAL, VC_EOVERFLOW. */
int vc_calendar_due(const vc_calendar *cal, int64_t submit_us, int n, int64_t *due_us);

/* ---- civil dates ------------------------------------------------------------------------- */

/* Whether y-m-d is a real date, years 1..9999 (leap years by the Gregorian rule). */
bool vc_calendar_date_valid(int y, int m, int d);
/* Strict "YYYY-MM-DD": exactly ten characters, zero-padded, a real date. 0 or VC_EINVAL (then
   the outputs are untouched). */
int vc_calendar_date_parse(const char *s, int *y, int *m, int *d);
/* Writes "YYYY-MM-DD" and a NUL into out[VC_CALENDAR_DATE_LEN + 1]. 0, or VC_EINVAL for an
   invalid date (out is then ""). */
int vc_calendar_date_format(int y, int m, int d, char *out);

/* Day number of a date: days since 1970-01-01 (negative before). Any y/m/d with m 1..12 and
   d 1..31 gives a number; validate first if it matters. */
int64_t vc_calendar_days_from_civil(int y, int m, int d);
/* The date of a day number (inverse of the above). */
void vc_calendar_civil_from_days(int64_t days, int *y, int *m, int *d);
/* Day of the week of a day number: 0 = Sunday … 6 = Saturday (as struct tm's tm_wday). */
int vc_calendar_weekday(int64_t days);

/* The local date (process time zone) of an instant. 0 or VC_EOVERFLOW. */
int vc_calendar_local_date(int64_t us, int *y, int *m, int *d);

#endif
