/*
 * calendar.c - approval.v1.CalendarService: the business calendar staff maintain (holidays and
 * make-up working days), and the due times of tickets (SPEC §6). The rules of business days and
 * due times are those of common/calendar/vc_calendar.h; this file stores the exceptions
 * (calendar_entries, one row per date in the business time zone) and feeds them to it.
 *
 * A due time is computed once, when a ticket is submitted (queue.c calls as_due_time inside the
 * submitting transaction), and stored with the ticket. Adding or removing an entry later changes
 * the due times of later submissions only: a reviewer's deadline never moves under them, and a
 * ticket's SLA is the one announced to the reseller.
 *
 * Input rules (the API's): dates are strict "YYYY-MM-DD"; a WORKDAY must be a Saturday or
 * Sunday; a HOLIDAY on a weekend is accepted (it changes nothing); the description is required,
 * 1-200 characters; adding the same date with the same kind again returns the stored entry
 * (retries are safe), with the other kind it is ALREADY_EXISTS.
 */
#include <stdio.h>
#include <string.h>

#include "approval/v1/calendar_service.pb-c.h"
#include "as.h"
#include "calendar/vc_calendar.h"
#include "rpc/vc_page.h"
#include "rpc/vc_validate.h"

#define AS__HOLIDAY APPROVAL__V1__CALENDAR_ENTRY_KIND__CALENDAR_ENTRY_KIND_HOLIDAY
#define AS__WORKDAY APPROVAL__V1__CALENDAR_ENTRY_KIND__CALENDAR_ENTRY_KIND_WORKDAY

#define AS__DESCRIPTION_MAX 200
#define AS__LIST_DEFAULT    100
/* Entries loaded for a due time: the submission date and this many days after it, widened (x4)
   when a long run of holidays pushes the due date beyond them. */
#define AS__WINDOW_DAYS 60
#define AS__WINDOW_MAX  (4 * VC_CALENDAR_SEARCH_DAYS)

#define AS__ENTRY_COLS                                                                             \
    "DATE_FORMAT(entry_date, '%Y-%m-%d'), kind, description, created_by, created_us"

/* ---- due times ---------------------------------------------------------------------------- */

static void as__date_of(int64_t day, char out[VC_CALENDAR_DATE_LEN + 1])
{
    int y, m, d;
    vc_calendar_civil_from_days(day, &y, &m, &d);
    if (y > 9999) /* the last date a DATE column holds */
        y = 9999, m = 12, d = 31;
    vc_calendar_date_format(y, m, d, out);
}

/* A calendar with the entries of the days first..last. */
static int as__load(vc_db_conn *c, int64_t first, int64_t last, vc_calendar **out)
{
    char lo[VC_CALENDAR_DATE_LEN + 1], hi[VC_CALENDAR_DATE_LEN + 1];
    as__date_of(first, lo);
    as__date_of(last, hi);
    vc_calendar *cal;
    int rc = vc_calendar_new(&cal);
    if (rc < 0) return rc;
    vc_db_rows *rows = NULL;
    rc = vc_db_query(c,
                     "SELECT DATE_FORMAT(entry_date, '%Y-%m-%d'), kind FROM calendar_entries "
                     "WHERE entry_date BETWEEN ? AND ?",
                     VC_DB_ARGS(vc_db_str(lo), vc_db_str(hi)), &rows);
    int more = 0;
    while (rc == 0 && (more = vc_db_next(rows)) == 1) {
        const char *date = "";
        int y, m, d;
        int64_t kind = vc_db_i64_or(rows, 1, 0);
        rc = vc_db_get_str(rows, 0, &date, NULL);
        if (rc == 0 && vc_calendar_date_parse(date, &y, &m, &d) != 0)
            rc = VC_EDB; /* the column is a DATE: anything else is a broken database */
        /* A kind this binary does not know (a newer writer) cannot be honoured: skip it. */
        if (rc == 0 && (kind == VC_CALENDAR_HOLIDAY || kind == VC_CALENDAR_WORKDAY))
            rc = vc_calendar_add(cal, y, m, d, (int)kind);
    }
    if (rc == 0 && more < 0) rc = more;
    vc_db_rows_close(rows);
    if (rc < 0) {
        vc_calendar_free(cal);
        return rc;
    }
    *out = cal;
    return 0;
}

int as_due_time(vc_db_conn *c, int64_t submit_us, int days, int64_t *due_us)
{
    int y, m, d;
    int rc = vc_calendar_local_date(submit_us, &y, &m, &d);
    if (rc < 0) return rc;
    int64_t first = vc_calendar_days_from_civil(y, m, d);
    for (int64_t span = AS__WINDOW_DAYS;; span *= 4) {
        vc_calendar *cal;
        rc = as__load(c, first, first + span, &cal);
        if (rc < 0) return rc;
        rc = vc_calendar_due(cal, submit_us, days, due_us);
        vc_calendar_free(cal);
        if (rc == 0) rc = vc_calendar_local_date(*due_us, &y, &m, &d);
        if (rc < 0) return rc;
        /* Dates past the window counted as plain weekdays; only a due date inside it is sure. */
        if (vc_calendar_days_from_civil(y, m, d) <= first + span || span >= AS__WINDOW_MAX)
            return 0;
    }
}

/* ---- entries ------------------------------------------------------------------------------ */

static int as__entry_read(vc_db_rows *r, vc_arena *a, Approval__V1__CalendarEntry **out)
{
    Approval__V1__CalendarEntry *e = vc_arena_alloc(a, sizeof(*e));
    if (!e) return VC_ENOMEM;
    approval__v1__calendar_entry__init(e);
    e->date = vc_db_arena_str(r, 0, a);
    e->kind = (Approval__V1__CalendarEntryKind)vc_db_i64_or(r, 1, 0);
    e->description = vc_db_arena_str(r, 2, a);
    e->created_by = vc_db_arena_str(r, 3, a);
    e->create_time = vc_ts_new(a, vc_db_i64_or(r, 4, 0));
    if (!e->date || !e->description || !e->created_by || !e->create_time) return VC_ENOMEM;
    *out = e;
    return 0;
}

/* The entry of `date` (VC_ENOENT when none); `lock` takes its row lock (in a transaction). */
static int as__entry_get(vc_db_conn *c, vc_arena *a, const char *date, bool lock,
                         Approval__V1__CalendarEntry **out)
{
    vc_db_rows *rows;
    int rc = vc_db_query(
        c,
        lock ? "SELECT " AS__ENTRY_COLS " FROM calendar_entries WHERE entry_date = ? FOR UPDATE"
             : "SELECT " AS__ENTRY_COLS " FROM calendar_entries WHERE entry_date = ?",
        VC_DB_ARGS(vc_db_str(date)), &rows);
    if (rc < 0) return rc;
    rc = vc_db_next(rows);
    if (rc == 1)
        rc = as__entry_read(rows, a, out);
    else if (rc == 0)
        rc = VC_ENOENT;
    vc_db_rows_close(rows);
    return rc;
}

static const char *as__kind_name(int kind)
{
    return kind == AS__HOLIDAY ? "HOLIDAY" : kind == AS__WORKDAY ? "WORKDAY" : "UNSPECIFIED";
}

static const char *as__weekday_name(int64_t day)
{
    static const char *const names[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                        "Thursday", "Friday", "Saturday"};
    return names[vc_calendar_weekday(day)];
}

/* A required strict date; *day gets its day number. */
static int as__check_date(vc_rpc_ctx *ctx, const char *field, const char *s, int64_t *day)
{
    int y, m, d;
    if (!s || !*s) return vc_rpc_invalid(ctx, field, "is required");
    if (vc_calendar_date_parse(s, &y, &m, &d) != 0)
        return vc_rpc_invalid(ctx, field, "must be a real date written YYYY-MM-DD");
    *day = vc_calendar_days_from_civil(y, m, d);
    return VC_GRPC_OK;
}

/* ---- AddHoliday ----------------------------------------------------------------------------- */

typedef struct as__add {
    const Approval__V1__AddHolidayRequest *req;
    const char *by;
    vc_arena *a;
    Approval__V1__CalendarEntry *entry; /* the new or the stored one */
} as__add;

/* Insert, or read what is there. Each statement commits on its own: the insert is the only
   write, and the unique key makes concurrent adds of one date meet. */
static int as__add_fn(vc_db_conn *c, void *arg)
{
    as__add *x = arg;
    const Approval__V1__AddHolidayRequest *req = x->req;
    /* A concurrent RemoveHoliday may delete the row between our refused insert and the read. */
    for (int attempt = 0; attempt < 3; attempt++) {
        int rc = vc_db_exec(c,
                            "INSERT INTO calendar_entries "
                            "(entry_date, kind, description, created_by, created_us) "
                            "VALUES (?, ?, ?, ?, ?)",
                            VC_DB_ARGS(vc_db_str(req->date), vc_db_i64(req->kind),
                                       vc_db_str(req->description), vc_db_str(x->by),
                                       vc_db_i64(vc_now_us())),
                            NULL);
        if (rc < 0 && rc != VC_EEXIST) return rc;
        rc = as__entry_get(c, x->a, req->date, false, &x->entry);
        if (rc != VC_ENOENT) return rc;
    }
    return VC_EAGAIN;
}

static int add_holiday(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Approval__V1__AddHolidayRequest *req = req_;
    Approval__V1__AddHolidayResponse *resp = resp_;
    as_app *app = vc_rpc_service_data(ctx);
    int64_t day = 0;
    int date_rc = as__check_date(ctx, "date", req->date, &day);
    if (date_rc == VC_GRPC_OK && day < 0)
        vc_rpc_invalid(ctx, "date", "must be 1970-01-01 or later");
    if (req->kind != AS__HOLIDAY && req->kind != AS__WORKDAY)
        vc_rpc_invalid(ctx, "kind", "must be HOLIDAY or WORKDAY");
    else if (date_rc == VC_GRPC_OK && req->kind == AS__WORKDAY && vc_calendar_weekday(day) != 0 &&
             vc_calendar_weekday(day) != 6)
        vc_rpc_invalid(ctx, "date",
                       "a WORKDAY (make-up working day) must be a Saturday or Sunday; "
                       "%s is a %s",
                       req->date, as__weekday_name(day));
    if (vc_validate_text(ctx, "description", req->description, AS__DESCRIPTION_MAX, true, false) ==
            VC_GRPC_OK &&
        strspn(req->description, " ") == strlen(req->description))
        vc_rpc_invalid(ctx, "description", "must not be blank");
    if (vc_rpc_error_code(ctx) != VC_GRPC_OK) return vc_rpc_error_code(ctx);

    as__add x = {.req = req, .by = vc_rpc_caller(ctx)->subject, .a = vc_rpc_arena(ctx)};
    int rc = vc_db_run(app->db, as__add_fn, &x);
    if (rc < 0) return vc_rpc_fail(ctx, rc, "add calendar entry");
    if ((int)x.entry->kind != (int)req->kind)
        return vc_rpc_error(ctx, VC_GRPC_ALREADY_EXISTS, "%s is already a %s (%s)", req->date,
                            as__kind_name(x.entry->kind), x.entry->description);
    resp->entry = x.entry;
    return VC_GRPC_OK;
}

/* ---- RemoveHoliday -------------------------------------------------------------------------- */

typedef struct as__remove {
    const char *date;
    vc_arena *a;
    Approval__V1__CalendarEntry *entry;
} as__remove;

static int as__remove_fn(vc_db_conn *c, void *arg)
{
    as__remove *x = arg;
    int rc = as__entry_get(c, x->a, x->date, true, &x->entry);
    if (rc < 0) return rc;
    return vc_db_exec(c, "DELETE FROM calendar_entries WHERE entry_date = ?",
                      VC_DB_ARGS(vc_db_str(x->date)), NULL);
}

static int remove_holiday(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Approval__V1__RemoveHolidayRequest *req = req_;
    Approval__V1__RemoveHolidayResponse *resp = resp_;
    as_app *app = vc_rpc_service_data(ctx);
    int64_t day;
    int rc = as__check_date(ctx, "date", req->date, &day);
    if (rc != VC_GRPC_OK) return rc;
    as__remove x = {.date = req->date, .a = vc_rpc_arena(ctx)};
    rc = vc_db_tx(app->db, as__remove_fn, &x);
    if (rc == VC_ENOENT)
        return vc_rpc_error(ctx, VC_GRPC_NOT_FOUND, "no calendar entry on %s", req->date);
    if (rc < 0) return vc_rpc_fail(ctx, rc, "remove calendar entry");
    resp->entry = x.entry;
    return VC_GRPC_OK;
}

/* ---- ListHolidays --------------------------------------------------------------------------- */

typedef struct as__list {
    char lo[VC_CALENDAR_DATE_LEN + 1]; /* first date to return */
    char hi[VC_CALENDAR_DATE_LEN + 1]; /* last date */
    bool empty;                        /* the range is empty: no query */
    int kind;                          /* 0 = both */
    int limit;
    vc_arena *a;
    Approval__V1__ListHolidaysResponse *resp;
} as__list;

/* Ascending by date, the primary key: the page token carries the last date returned (its day
   number as the key, the date itself as the id) and the next page starts the day after. */
static int as__parse_list(vc_rpc_ctx *ctx, const Approval__V1__ListHolidaysRequest *req,
                          as__list *l)
{
    int64_t start = vc_calendar_days_from_civil(1, 1, 1);
    int64_t end = vc_calendar_days_from_civil(9999, 12, 31);
    int rc_start = VC_GRPC_OK, rc_end = VC_GRPC_OK;
    if (req->start_date && *req->start_date)
        rc_start = as__check_date(ctx, "start_date", req->start_date, &start);
    if (req->end_date && *req->end_date)
        rc_end = as__check_date(ctx, "end_date", req->end_date, &end);
    if (rc_start == VC_GRPC_OK && rc_end == VC_GRPC_OK && end < start)
        vc_rpc_invalid(ctx, "end_date", "must not be before start_date");
    if (req->kind != 0 && req->kind != AS__HOLIDAY && req->kind != AS__WORKDAY)
        vc_rpc_invalid(ctx, "kind", "must be UNSPECIFIED (both), HOLIDAY or WORKDAY");
    vc_page pg;
    if (vc_page_parse(ctx, req->page_size, req->page_token, &pg) == VC_GRPC_OK && pg.has_cursor) {
        int y, m, d;
        if (vc_calendar_date_parse(pg.id, &y, &m, &d) != 0 ||
            vc_calendar_days_from_civil(y, m, d) != pg.key)
            vc_rpc_invalid(ctx, "page_token", "is not a token this service issued");
        else if (pg.key >= start)
            start = pg.key + 1;
    }
    if (vc_rpc_error_code(ctx) != VC_GRPC_OK) return vc_rpc_error_code(ctx);
    l->kind = req->kind;
    l->limit = req->page_size ? pg.limit : AS__LIST_DEFAULT;
    l->empty = start > end; /* a token past the end of the range */
    if (!l->empty) {
        as__date_of(start, l->lo);
        as__date_of(end, l->hi);
    }
    return VC_GRPC_OK;
}

static int as__list_fn(vc_db_conn *c, void *arg)
{
    as__list *l = arg;
    if (l->empty) return 0;
    vc_db_rows *rows;
    int rc = vc_db_query(c,
                         "SELECT " AS__ENTRY_COLS " FROM calendar_entries "
                         "WHERE entry_date >= ? AND entry_date <= ? AND (? = 0 OR kind = ?) "
                         "ORDER BY entry_date LIMIT ?",
                         VC_DB_ARGS(vc_db_str(l->lo), vc_db_str(l->hi), vc_db_i64(l->kind),
                                    vc_db_i64(l->kind), vc_db_i64(l->limit + 1)),
                         &rows);
    if (rc < 0) return rc;
    Approval__V1__ListHolidaysResponse *resp = l->resp;
    resp->entries = vc_arena_alloc(l->a, (size_t)l->limit * sizeof(*resp->entries));
    if (!resp->entries) rc = VC_ENOMEM;
    size_t n = 0;
    int more = 0;
    /* LIMIT asked for one row more than the page: when it comes, another page exists. */
    while (rc == 0 && (more = vc_db_next(rows)) == 1 && n < (size_t)l->limit) {
        rc = as__entry_read(rows, l->a, &resp->entries[n]);
        if (rc == 0) n++;
    }
    if (rc == 0 && more < 0) rc = more;
    resp->n_entries = n;
    vc_db_rows_close(rows);
    if (rc == 0 && more == 1 && n > 0) {
        const char *last = resp->entries[n - 1]->date;
        int y, m, d;
        if (vc_calendar_date_parse(last, &y, &m, &d) != 0) return VC_EDB;
        resp->next_page_token = vc_page_token(l->a, vc_calendar_days_from_civil(y, m, d), last);
        if (!resp->next_page_token) rc = VC_ENOMEM;
    }
    return rc;
}

static int list_holidays(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    as_app *app = vc_rpc_service_data(ctx);
    as__list l = {.a = vc_rpc_arena(ctx), .resp = resp_};
    int rc = as__parse_list(ctx, req_, &l);
    if (rc != VC_GRPC_OK) return rc;
    rc = vc_db_run(app->db, as__list_fn, &l);
    if (rc < 0) return vc_rpc_fail(ctx, rc, "list calendar entries");
    return VC_GRPC_OK;
}

/* ---- ComputeDueTime ------------------------------------------------------------------------- */

typedef struct as__due {
    int64_t submit_us;
    int days;
    int64_t due_us;
} as__due;

static int as__due_fn(vc_db_conn *c, void *arg)
{
    as__due *x = arg;
    return as_due_time(c, x->submit_us, x->days, &x->due_us);
}

static int compute_due_time(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Approval__V1__ComputeDueTimeRequest *req = req_;
    Approval__V1__ComputeDueTimeResponse *resp = resp_;
    as_app *app = vc_rpc_service_data(ctx);
    as__due x = {.days = req->business_days ? req->business_days : (int)app->cfg->business_days};
    if (!req->submit_time)
        vc_rpc_invalid(ctx, "submit_time", "is required");
    else if (!vc_ts_to_us(req->submit_time, &x.submit_us))
        vc_rpc_invalid(ctx, "submit_time", "must be a valid time in the years 1970 to 9999");
    if (req->business_days < 0 || req->business_days > 3)
        vc_rpc_invalid(ctx, "business_days", "must be 1 to 3, or 0 for the default (%d)",
                       (int)app->cfg->business_days);
    if (vc_rpc_error_code(ctx) != VC_GRPC_OK) return vc_rpc_error_code(ctx);
    int rc = vc_db_run(app->db, as__due_fn, &x);
    if (rc < 0) return vc_rpc_fail(ctx, rc, "compute due time");
    vc_arena *a = vc_rpc_arena(ctx);
    resp->due_time = vc_ts_new(a, x.due_us);
    resp->time_zone = vc_arena_strdup(a, app->cfg->time_zone);
    if (!resp->due_time || !resp->time_zone) return vc_rpc_fail(ctx, VC_ENOMEM, "compute due time");
    resp->business_days = x.days;
    return VC_GRPC_OK;
}

/* ---- service table -------------------------------------------------------------------------- */

static const vc_rpc_method as_calendar_methods[] = {
    {.name = "ListHolidays", .unary = list_holidays},
    {.name = "AddHoliday", .unary = add_holiday},
    {.name = "RemoveHoliday", .unary = remove_holiday},
    {.name = "ComputeDueTime", .unary = compute_due_time},
};

static vc_rpc_service as_calendar_table = {
    .descriptor = &approval__v1__calendar_service__descriptor,
    .methods = as_calendar_methods,
    .n_methods = sizeof(as_calendar_methods) / sizeof(as_calendar_methods[0]),
    .roles = VC_ROLE_STAFF,
};

const vc_rpc_service *as_calendar_service(as_app *app)
{
    as_calendar_table.data = app;
    return &as_calendar_table;
}
