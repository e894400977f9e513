/*
 * approvalctl - the provider's reviewers' command-line client for approval-svc: work the review
 * queue (list, show, claim, approve, reject), watch its statistics, keep the business calendar
 * (holidays and make-up working days), and grant quota or credit pool to a reseller directly.
 *
 *   approvalctl [--addr HOST:PORT] [--token JWT] [--json] <command> [args]
 *   approvalctl --help                 every command, one line each
 *   approvalctl <command> --help       the command's flags
 *
 * Each command is one RPC of approval.v1 StaffService or CalendarService (two when a money
 * argument needs a currency and --currency was not given: the ticket, or the reseller's latest
 * ticket, tells it). As in resellerctl, only what must be parsed is checked here; business rules
 * are the server's. The one exception is `reject` without --reason: the reason is mandatory and
 * a reviewer who forgot it should not need a round trip to learn that.
 *
 * Output: tables and "key  value" views (money with its currency, times RFC 3339 UTC, enum values
 * without their prefix, time left as "1d 4h" or "OVERDUE 3h"), or --json for the response
 * message. Exit status: 0 success, 1 server or call error ("approvalctl: CODE: message"), 2
 * usage error. The machinery is tools/ctl_common.h, shared with resellerctl.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "approval/v1/calendar_service.pb-c.h"
#include "approval/v1/staff_service.pb-c.h"
#include "base/vc_err.h"
#include "base/vc_money.h"
#include "ctl_common.h"

#define CTL_PROG "approvalctl"

/* reseller-svc gives a reseller this currency on first contact unless configured otherwise. */
#define DEFAULT_CURRENCY "CNY"

#define TICKET_PENDING APPROVAL__V1__TICKET_STATE__TICKET_STATE_PENDING

/* ---- formatting ----------------------------------------------------------------------------- */

/* A span of time for reading at a glance: "1d 4h", "3h 20m", "12m", "0m" (never negative). */
static const char *span(ctl *c, int64_t s)
{
    if (s < 0) s = -s;
    int64_t d = s / 86400, h = s % 86400 / 3600, m = s % 3600 / 60;
    if (d) return ctl_printf(c, "%lldd %lldh", (long long)d, (long long)h);
    if (h) return ctl_printf(c, "%lldh %lldm", (long long)h, (long long)m);
    return ctl_printf(c, "%lldm", (long long)m);
}

/* "1d 4h" until due, "OVERDUE 3h" past it; "-" once the ticket is final. */
static const char *time_left(ctl *c, const Approval__V1__Ticket *t)
{
    if (t->state != TICKET_PENDING) return "-";
    if (!t->time_left) return t->overdue ? "OVERDUE" : "-";
    int64_t s = t->time_left->seconds;
    if (t->overdue || s < 0) return ctl_printf(c, "OVERDUE %s", span(c, s));
    return span(c, s);
}

static const char *subject_name(ctl *c, int v)
{
    return ctl_enum_name(c, &approval__v1__subject_type__descriptor, v);
}

static const char *state_name(ctl *c, int v)
{
    return ctl_enum_name(c, &approval__v1__ticket_state__descriptor, v);
}

static bool is_application(int subject)
{
    return subject == APPROVAL__V1__SUBJECT_TYPE__SUBJECT_TYPE_QUOTA_APPLICATION ||
           subject == APPROVAL__V1__SUBJECT_TYPE__SUBJECT_TYPE_CREDIT_APPLICATION;
}

/* The day of the week of "YYYY-MM-DD" ("Mon"), "-" when it is not such a date. Holidays and
   make-up days are about weekdays, so the list shows them. */
static const char *weekday(const char *date)
{
    static const char *const names[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    int y, m, d, n = 0;
    if (!date || sscanf(date, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 || date[n] || m < 1 || m > 12 ||
        d < 1 || d > 31)
        return "-";
    struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d, .tm_hour = 12};
    time_t t = timegm(&tm);
    struct tm out;
    if (t == (time_t)-1 || !gmtime_r(&t, &out)) return "-";
    return names[out.tm_wday];
}

/* A time as a wall clock in IANA zone tz: "2024-05-06 17:00 Mon". The CLI is one thread, so
   switching TZ for the call is safe; the previous value is restored. */
static const char *zoned(ctl *c, const Google__Protobuf__Timestamp *ts, const char *tz)
{
    if (!ts || !tz || !*tz) return "-";
    const char *old = getenv("TZ");
    char *saved = old ? ctl_printf(c, "%s", old) : NULL;
    setenv("TZ", tz, 1);
    tzset();
    time_t t = (time_t)ts->seconds;
    struct tm tm;
    char buf[64] = "";
    if (localtime_r(&t, &tm)) strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M %a", &tm);
    if (saved)
        setenv("TZ", saved, 1);
    else
        unsetenv("TZ");
    tzset();
    return buf[0] ? ctl_printf(c, "%s %s", buf, tz) : "-";
}

static void show_ticket(ctl *c, const Approval__V1__Ticket *t)
{
    const char *cur = t->currency_code;
    ctl_kv("ticket", t->ticket_id);
    ctl_kv("subject", ctl_printf(c, "%s %s", subject_name(c, t->subject_type), t->subject_id));
    ctl_kv("reseller", t->reseller_id);
    if (t->customer_id && *t->customer_id) ctl_kv("customer", t->customer_id);
    ctl_kv("amount", ctl_money(c, t->amount_minor, cur));
    ctl_kv("state", ctl_printf(c, "%s%s", state_name(c, t->state),
                               t->direct_grant ? " (direct grant)" : ""));
    ctl_kv("description", t->description);
    ctl_kv("submitted", ctl_ts(c, t->submit_time));
    ctl_kv("due", t->business_days ? ctl_printf(c, "%s (%d business days)", ctl_ts(c, t->due_time),
                                                t->business_days)
                                   : ctl_ts(c, t->due_time));
    ctl_kv("time left", time_left(c, t));
    ctl_kv("claimed by",
           t->claimed_by && *t->claimed_by
               ? ctl_printf(c, "%s until %s", t->claimed_by, ctl_ts(c, t->claim_expire_time))
               : "-");
    if (t->state != TICKET_PENDING) {
        ctl_kv("decided", ctl_ts(c, t->decide_time));
        ctl_kv("decided by", t->decided_by);
        ctl_kv("reason", t->reason);
    }
    if (t->state == APPROVAL__V1__TICKET_STATE__TICKET_STATE_APPROVED &&
        is_application(t->subject_type))
        ctl_kv("granted", ctl_money(c, t->granted_amount_minor, cur));
    ctl_kv("delivery",
           ctl_enum_name(c, &approval__v1__delivery_state__descriptor, t->delivery_state));
}

static void ticket_row(ctl *c, ctl_table *tb, const ProtobufCMessage *m)
{
    const Approval__V1__Ticket *t = (const Approval__V1__Ticket *)m;
    ctl_table_row(tb, t->ticket_id, subject_name(c, t->subject_type), t->reseller_id,
                  ctl_money(c, t->amount_minor, t->currency_code), state_name(c, t->state),
                  ctl_ts(c, t->submit_time), ctl_ts(c, t->due_time), time_left(c, t),
                  t->claimed_by);
}

/* ---- the caller and the currency ------------------------------------------------------------ */

/* Decodes base64url (no padding) into buf; the decoded length, or -1. */
static long b64url_decode(const char *s, size_t len, unsigned char *buf, size_t cap)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        const char *p = s[i] ? strchr(alphabet, s[i]) : NULL;
        if (!p) return s[i] == '=' ? (long)n : -1;
        acc = (acc << 6) | (uint32_t)(p - alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n == cap) return -1;
            buf[n++] = (unsigned char)(acc >> bits);
        }
    }
    return (long)n;
}

/* The staff id the server records for this caller: the token's "sub" claim. The signature is
   the server's business; this only reads the payload to filter on one's own claims. */
static const char *token_subject(ctl *c)
{
    const char *tok = c->token, *dot1 = tok ? strchr(tok, '.') : NULL;
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot2) return NULL;
    size_t len = (size_t)(dot2 - dot1 - 1);
    unsigned char *buf = ctl_alloc(c, len + 1);
    long n = b64url_decode(dot1 + 1, len, buf, len);
    if (n <= 0) return NULL;
    json_t *j = json_loadb((const char *)buf, (size_t)n, 0, NULL);
    const char *sub = json_string_value(json_object_get(j, "sub"));
    const char *out = sub && *sub ? ctl_printf(c, "%s", sub) : NULL;
    json_decref(j);
    return out;
}

static int get_ticket(ctl *c, const char *id, Approval__V1__GetTicketResponse **r)
{
    Approval__V1__GetTicketRequest req = APPROVAL__V1__GET_TICKET_REQUEST__INIT;
    req.ticket_id = (char *)id;
    return ctl_call(c, "/approval.v1.StaffService/GetTicket", &req.base,
                    &approval__v1__get_ticket_response__descriptor, r, true, NULL);
}

static int take_currency(ctl *c, const char *cur)
{
    if (!vc_currency_valid(cur)) {
        fprintf(stderr, CTL_PROG ": server reported currency \"%s\"; pass --currency\n", cur);
        return CTL_FAIL;
    }
    memcpy(c->currency, cur, 4);
    return 0;
}

/* The currency of a money argument when --currency is absent: the ticket's (approve), else
   that of the reseller's latest ticket (grant), else reseller-svc's default, said on stderr. */
static int need_currency(ctl *c)
{
    if (c->currency[0]) return 0;
    if (c->npos > 0) {
        Approval__V1__GetTicketResponse *r;
        int st = get_ticket(c, c->pos[0], &r);
        if (st) return st;
        return take_currency(c, r->ticket ? r->ticket->currency_code : "");
    }
    const char *reseller = ctl_opt_if_declared(c, "reseller");
    if (!reseller || !*reseller) return ctl_usage_error(c, "pass --currency");
    Approval__V1__ListTicketsRequest req = APPROVAL__V1__LIST_TICKETS_REQUEST__INIT;
    req.reseller_id = (char *)reseller;
    req.page_size = 1;
    Approval__V1__ListTicketsResponse *r;
    int st = ctl_call(c, "/approval.v1.StaffService/ListTickets", &req.base,
                      &approval__v1__list_tickets_response__descriptor, &r, true, NULL);
    if (st) return st;
    if (r->n_tickets > 0) return take_currency(c, r->tickets[0]->currency_code);
    fprintf(stderr,
            CTL_PROG ": reseller %s has no ticket telling its currency; assuming " DEFAULT_CURRENCY
                     " (pass --currency otherwise)\n",
            reseller);
    memcpy(c->currency, DEFAULT_CURRENCY, 4);
    return 0;
}

/* ---- the queue ------------------------------------------------------------------------------ */

static const ctl_flag queue_flags[] = {
    {"state", "S[,S]", "pending (default), approved, rejected, cancelled, or all"},
    {"subject", "S[,S]", "voucher, quota, credit"},
    {"reseller", "ID", "only this reseller's tickets"},
    {"overdue", NULL, "only pending tickets past their due time"},
    {"mine", NULL, "only tickets claimed by me (the token's subject)"},
    CTL_PAGE_FLAGS,
    {0}};

static int cmd_queue(ctl *c)
{
    Approval__V1__ListTicketsRequest req = APPROVAL__V1__LIST_TICKETS_REQUEST__INIT;
    void *states = NULL, *subjects = NULL;
    int pending = TICKET_PENDING;
    const char *sv = ctl_opt(c, "state");
    int st = 0;
    if (!sv) { /* the queue is what is waiting for a decision */
        states = &pending;
        req.n_states = 1;
    } else if (strcasecmp(sv, "all") != 0) {
        st = ctl_enum_list_arg(c, "state", &approval__v1__ticket_state__descriptor, &states,
                               &req.n_states);
    }
    if (!st)
        st = ctl_enum_list_arg(c, "subject", &approval__v1__subject_type__descriptor, &subjects,
                               &req.n_subject_types);
    if (st) return st;
    req.states = states;
    req.subject_types = subjects;
    req.reseller_id = (char *)ctl_opt_or(c, "reseller", "");
    req.overdue_only = ctl_has(c, "overdue");
    req.claimed_by = "";
    if (ctl_has(c, "mine")) {
        const char *me = token_subject(c);
        if (!me) return ctl_usage_error(c, "--mine needs a token with a subject (--token)");
        req.claimed_by = (char *)me;
    }
    ctl_table t;
    ctl_table_init(&t, c, "lllrlllll");
    ctl_table_row(&t, "TICKET", "SUBJECT", "RESELLER", "AMOUNT", "STATE", "SUBMITTED", "DUE",
                  "TIME LEFT", "CLAIMED BY");
    ctl_list l = {.path = "/approval.v1.StaffService/ListTickets",
                  .req = &req.base,
                  .resp_desc = &approval__v1__list_tickets_response__descriptor,
                  .items = "tickets",
                  .table = &t,
                  .row = ticket_row};
    return ctl_list_run(c, &l);
}

/* Prints the `Ticket ticket = 1` of a StaffService response. */
static int ticket_out(ctl *c, ProtobufCMessage *r, const Approval__V1__Ticket *t)
{
    if (c->json) return ctl_print_json(c, r);
    if (t) show_ticket(c, t);
    return 0;
}

static int cmd_show(ctl *c)
{
    Approval__V1__GetTicketResponse *r;
    int st = get_ticket(c, c->pos[0], &r);
    return st ? st : ticket_out(c, &r->base, r->ticket);
}

/* "30m", "1h", "1h30m", "90s", "2d": a sum of <integer><unit>, unit d, h, m or s; > 0. */
static int parse_span(const char *s, int64_t *secs)
{
    int64_t total = 0;
    if (!*s) return VC_EINVAL;
    while (*s) {
        if (*s < '0' || *s > '9') return VC_EINVAL;
        char *end;
        long long n = strtoll(s, &end, 10);
        if (n > 1000000) return VC_EINVAL;
        int64_t unit = *end == 'd' ? 86400 : *end == 'h' ? 3600 : *end == 'm' ? 60 : *end == 's';
        if (!unit) return VC_EINVAL;
        total += n * unit;
        s = end + 1;
    }
    if (total <= 0) return VC_EINVAL;
    *secs = total;
    return 0;
}

static const ctl_flag claim_flags[] = {
    {"for", "DURATION", "claim length: 30m, 1h, 1h30m (server default 30m, at most 8h)"}, {0}};

static int cmd_claim(ctl *c)
{
    Approval__V1__ClaimTicketRequest req = APPROVAL__V1__CLAIM_TICKET_REQUEST__INIT;
    Google__Protobuf__Duration d = GOOGLE__PROTOBUF__DURATION__INIT;
    req.ticket_id = (char *)c->pos[0];
    const char *f = ctl_opt(c, "for");
    if (f) {
        if (parse_span(f, &d.seconds) != 0)
            return ctl_usage_error(c, "--for: \"%s\" is not a duration (30m, 1h, 1h30m, 90s)", f);
        req.claim_duration = &d;
    }
    Approval__V1__ClaimTicketResponse *r;
    /* Retried: re-claiming one's own ticket only extends the claim. */
    int st = ctl_call(c, "/approval.v1.StaffService/ClaimTicket", &req.base,
                      &approval__v1__claim_ticket_response__descriptor, &r, true, NULL);
    return st ? st : ticket_out(c, &r->base, r->ticket);
}

static const ctl_flag approve_flags[] = {
    {"amount", "AMOUNT", "applications: grant less than asked, e.g. 500.00 (default all)"},
    {"comment", "T", "recorded as the ticket's reason"},
    {0}};

static int cmd_approve(ctl *c)
{
    Approval__V1__ApproveTicketRequest req = APPROVAL__V1__APPROVE_TICKET_REQUEST__INIT;
    req.ticket_id = (char *)c->pos[0];
    int st = ctl_money_arg(c, "amount", &req.granted_amount_minor);
    if (st) return st;
    req.comment = (char *)ctl_opt_or(c, "comment", "");
    Approval__V1__ApproveTicketResponse *r;
    /* Not retried: a repeat after a lost reply would say FAILED_PRECONDITION (decided). */
    st = ctl_call(c, "/approval.v1.StaffService/ApproveTicket", &req.base,
                  &approval__v1__approve_ticket_response__descriptor, &r, false, NULL);
    return st ? st : ticket_out(c, &r->base, r->ticket);
}

static const ctl_flag reject_flags[] = {{"reason", "TEXT", "required; shown to the reseller"}, {0}};

static int cmd_reject(ctl *c)
{
    Approval__V1__RejectTicketRequest req = APPROVAL__V1__REJECT_TICKET_REQUEST__INIT;
    req.ticket_id = (char *)c->pos[0];
    const char *reason = ctl_opt(c, "reason");
    if (!reason || !reason[strspn(reason, " \t\r\n")])
        return ctl_usage_error(c, "reject needs --reason TEXT (it is shown to the reseller)");
    req.reason = (char *)reason;
    Approval__V1__RejectTicketResponse *r;
    int st = ctl_call(c, "/approval.v1.StaffService/RejectTicket", &req.base,
                      &approval__v1__reject_ticket_response__descriptor, &r, false, NULL);
    return st ? st : ticket_out(c, &r->base, r->ticket);
}

/* ---- statistics ----------------------------------------------------------------------------- */

static const ctl_flag stats_flags[] = {{"reseller", "ID", "only this reseller's tickets"},
                                       {"days", "N", "days of decision history, 1-90 (default 7)"},
                                       {0}};

static int cmd_stats(ctl *c)
{
    Approval__V1__GetQueueStatsRequest req = APPROVAL__V1__GET_QUEUE_STATS_REQUEST__INIT;
    req.reseller_id = (char *)ctl_opt_or(c, "reseller", "");
    int st = ctl_int32_arg(c, "days", &req.days);
    if (st) return st;
    Approval__V1__GetQueueStatsResponse *r;
    st = ctl_call(c, "/approval.v1.StaffService/GetQueueStats", &req.base,
                  &approval__v1__get_queue_stats_response__descriptor, &r, true, NULL);
    if (st || c->json) return st ? st : ctl_print_json(c, &r->base);
    ctl_kv("pending", ctl_printf(c, "%lld", (long long)r->pending_count));
    ctl_kv("overdue", ctl_printf(c, "%lld", (long long)r->overdue_count));
    ctl_kv("claimed", ctl_printf(c, "%lld", (long long)r->claimed_count));
    ctl_kv("oldest pending",
           r->oldest_pending_submit_time
               ? ctl_printf(c, "%s (submitted %s)",
                            r->oldest_pending_age ? span(c, r->oldest_pending_age->seconds) : "?",
                            ctl_ts(c, r->oldest_pending_submit_time))
               : "-");
    ctl_kv(
        "undelivered",
        ctl_printf(c, "%lld%s", (long long)r->undelivered_count,
                   r->undelivered_count ? " (outcomes not yet acknowledged by reseller-svc)" : ""));
    putchar('\n');
    ctl_table t;
    ctl_table_init(&t, c, "lr");
    ctl_table_row(&t, "SUBJECT", "PENDING");
    for (size_t i = 0; i < r->n_pending_by_subject; i++)
        ctl_table_row(&t, subject_name(c, r->pending_by_subject[i]->subject_type),
                      ctl_printf(c, "%lld", (long long)r->pending_by_subject[i]->pending_count));
    ctl_table_print(&t);
    putchar('\n');
    ctl_table_init(&t, c, "llrrr");
    ctl_table_row(&t, "DATE", "DAY", "APPROVED", "REJECTED", "CANCELLED");
    for (size_t i = 0; i < r->n_decisions_per_day; i++) {
        const Approval__V1__DailyDecisions *d = r->decisions_per_day[i];
        ctl_table_row(&t, d->date, weekday(d->date),
                      ctl_printf(c, "%lld", (long long)d->approved_count),
                      ctl_printf(c, "%lld", (long long)d->rejected_count),
                      ctl_printf(c, "%lld", (long long)d->cancelled_count));
    }
    ctl_table_print(&t);
    return 0;
}

/* ---- the business calendar ------------------------------------------------------------------ */

static const char *kind_name(ctl *c, int v)
{
    return ctl_enum_name(c, &approval__v1__calendar_entry_kind__descriptor, v);
}

static void show_entry(ctl *c, const Approval__V1__CalendarEntry *e)
{
    ctl_kv("date", ctl_printf(c, "%s (%s)", e->date, weekday(e->date)));
    ctl_kv("kind", kind_name(c, e->kind));
    ctl_kv("description", e->description);
    ctl_kv("added by", e->created_by);
    ctl_kv("added", ctl_ts(c, e->create_time));
}

static void entry_row(ctl *c, ctl_table *t, const ProtobufCMessage *m)
{
    const Approval__V1__CalendarEntry *e = (const Approval__V1__CalendarEntry *)m;
    ctl_table_row(t, e->date, weekday(e->date), kind_name(c, e->kind), e->description,
                  e->created_by, ctl_ts(c, e->create_time));
}

static const ctl_flag hol_list_flags[] = {{"from", "YYYY-MM-DD", "first date (inclusive)"},
                                          {"to", "YYYY-MM-DD", "last date (inclusive)"},
                                          {"kind", "holiday|workday", "only this kind"},
                                          CTL_PAGE_FLAGS,
                                          {0}};

static int cmd_hol_list(ctl *c)
{
    Approval__V1__ListHolidaysRequest req = APPROVAL__V1__LIST_HOLIDAYS_REQUEST__INIT;
    int kind = 0;
    int st = ctl_enum_arg(c, "kind", &approval__v1__calendar_entry_kind__descriptor, &kind);
    if (st) return st;
    req.kind = kind;
    req.start_date = (char *)ctl_opt_or(c, "from", "");
    req.end_date = (char *)ctl_opt_or(c, "to", "");
    ctl_table t;
    ctl_table_init(&t, c, "llltll");
    ctl_table_row(&t, "DATE", "DAY", "KIND", "DESCRIPTION", "ADDED BY", "ADDED");
    ctl_list l = {.path = "/approval.v1.CalendarService/ListHolidays",
                  .req = &req.base,
                  .resp_desc = &approval__v1__list_holidays_response__descriptor,
                  .items = "entries",
                  .table = &t,
                  .row = entry_row};
    return ctl_list_run(c, &l);
}

static const ctl_flag hol_add_flags[] = {
    {"workday", NULL, "a make-up working day (a Saturday or Sunday); default: a holiday"},
    {"description", "T", "e.g. \"National Day\" (required by the server)"},
    {0}};

static int cmd_hol_add(ctl *c)
{
    Approval__V1__AddHolidayRequest req = APPROVAL__V1__ADD_HOLIDAY_REQUEST__INIT;
    req.date = (char *)c->pos[0];
    req.kind = ctl_has(c, "workday")
                   ? APPROVAL__V1__CALENDAR_ENTRY_KIND__CALENDAR_ENTRY_KIND_WORKDAY
                   : APPROVAL__V1__CALENDAR_ENTRY_KIND__CALENDAR_ENTRY_KIND_HOLIDAY;
    req.description = (char *)ctl_opt_or(c, "description", "");
    Approval__V1__AddHolidayResponse *r;
    /* Retried: adding the same date and kind again returns the existing entry. */
    int st = ctl_call(c, "/approval.v1.CalendarService/AddHoliday", &req.base,
                      &approval__v1__add_holiday_response__descriptor, &r, true, NULL);
    if (st || c->json) return st ? st : ctl_print_json(c, &r->base);
    if (r->entry) show_entry(c, r->entry);
    puts("note: due times of tickets submitted from now on use it; existing ones are kept");
    return 0;
}

static int cmd_hol_rm(ctl *c)
{
    Approval__V1__RemoveHolidayRequest req = APPROVAL__V1__REMOVE_HOLIDAY_REQUEST__INIT;
    req.date = (char *)c->pos[0];
    Approval__V1__RemoveHolidayResponse *r;
    /* Not retried: a repeat after a lost reply would say NOT_FOUND. */
    int st = ctl_call(c, "/approval.v1.CalendarService/RemoveHoliday", &req.base,
                      &approval__v1__remove_holiday_response__descriptor, &r, false, NULL);
    if (st || c->json) return st ? st : ctl_print_json(c, &r->base);
    puts("removed:");
    if (r->entry) show_entry(c, r->entry);
    return 0;
}

static const ctl_flag due_flags[] = {{"at", "RFC3339", "submission time (default now)"},
                                     {"days", "N", "business days, 1-3 (default: the service's)"},
                                     {0}};

static int cmd_due(ctl *c)
{
    Approval__V1__ComputeDueTimeRequest req = APPROVAL__V1__COMPUTE_DUE_TIME_REQUEST__INIT;
    Google__Protobuf__Timestamp now = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    now.seconds = (int64_t)time(NULL);
    req.submit_time = &now;
    int st = ctl_ts_arg(c, "at", &req.submit_time);
    if (!st) st = ctl_int32_arg(c, "days", &req.business_days);
    if (st) return st;
    Approval__V1__ComputeDueTimeResponse *r;
    st = ctl_call(c, "/approval.v1.CalendarService/ComputeDueTime", &req.base,
                  &approval__v1__compute_due_time_response__descriptor, &r, true, NULL);
    if (st || c->json) return st ? st : ctl_print_json(c, &r->base);
    ctl_kv("submitted", ctl_printf(c, "%s (%s)", ctl_ts(c, req.submit_time),
                                   zoned(c, req.submit_time, r->time_zone)));
    ctl_kv("business days", ctl_printf(c, "%d", r->business_days));
    ctl_kv("due",
           ctl_printf(c, "%s (%s)", ctl_ts(c, r->due_time), zoned(c, r->due_time, r->time_zone)));
    return 0;
}

/* ---- direct grants -------------------------------------------------------------------------- */

static const ctl_flag grant_flags[] = {
    {"reseller", "ID", "the reseller receiving the grant"},
    {"kind", "quota|pool", "voucher quota or customer-credit pool"},
    {"amount", "AMOUNT", "amount in major units, e.g. 1000.00"},
    {"reason", "T", "why (recorded on the ticket and the reseller's ledger)"},
    {"request-id", "ID", "idempotency key (generated and printed when absent)"},
    {0}};

/* quota|pool, or the QuotaKind names. */
static int kind_arg(ctl *c, const char *name, int *out)
{
    const char *v = ctl_opt(c, name);
    if (!v) return 0;
    if (strcasecmp(v, "quota") == 0)
        *out = APPROVAL__V1__QUOTA_KIND__QUOTA_KIND_VOUCHER_QUOTA;
    else if (strcasecmp(v, "pool") == 0)
        *out = APPROVAL__V1__QUOTA_KIND__QUOTA_KIND_CREDIT_POOL;
    else if (ctl_enum_parse(&approval__v1__quota_kind__descriptor, v, out) != 0)
        return ctl_usage_error(c, "--%s: expected quota or pool, got \"%s\"", name, v);
    return 0;
}

static int cmd_grant(ctl *c)
{
    Approval__V1__GrantQuotaRequest req = APPROVAL__V1__GRANT_QUOTA_REQUEST__INIT;
    int kind = 0;
    req.reseller_id = (char *)ctl_opt_or(c, "reseller", "");
    int st = kind_arg(c, "kind", &kind);
    if (!st) st = ctl_money_arg(c, "amount", &req.amount_minor);
    if (st) return st;
    req.kind = kind;
    req.currency_code = c->currency;
    req.reason = (char *)ctl_opt_or(c, "reason", "");
    req.request_id = (char *)ctl_request_id(c);
    Approval__V1__GrantQuotaResponse *r;
    st = ctl_call(c, "/approval.v1.StaffService/GrantQuota", &req.base,
                  &approval__v1__grant_quota_response__descriptor, &r, true, req.request_id);
    return st ? st : ticket_out(c, &r->base, r->ticket);
}

/* ---- command table and main ----------------------------------------------------------------- */

static const ctl_cmd commands[] = {
    {"queue",
     "[--state S[,S]|all] [--subject voucher|quota|credit] [--reseller ID] [--overdue] [--mine] "
     "[--limit N] [--all]",
     "the review queue, soonest due first (ListTickets)", queue_flags, 0, 0, cmd_queue},
    {"show", "TICKET_ID", "one ticket, every field (GetTicket)", NULL, 1, 1, cmd_show},
    {"claim", "TICKET_ID [--for 30m]",
     "claim a pending ticket so no one else decides it (ClaimTicket)", claim_flags, 1, 1,
     cmd_claim},
    {"approve", "TICKET_ID [--amount 500.00] [--comment T]",
     "approve a pending ticket (ApproveTicket)", approve_flags, 1, 1, cmd_approve},
    {"reject", "TICKET_ID --reason TEXT", "reject a pending ticket, with the reason (RejectTicket)",
     reject_flags, 1, 1, cmd_reject},
    {"stats", "[--reseller ID] [--days N]",
     "pending, overdue, claimed, oldest age, decisions per day (GetQueueStats)", stats_flags, 0, 0,
     cmd_stats},
    {"holidays list", "[--from YYYY-MM-DD] [--to YYYY-MM-DD] [--kind holiday|workday]",
     "holidays and make-up working days (ListHolidays)", hol_list_flags, 0, 0, cmd_hol_list},
    {"holidays add", "YYYY-MM-DD [--workday] [--description T]",
     "add a holiday or a make-up working day (AddHoliday)", hol_add_flags, 1, 1, cmd_hol_add},
    {"holidays rm", "YYYY-MM-DD", "remove a date's calendar entry (RemoveHoliday)", NULL, 1, 1,
     cmd_hol_rm},
    {"due", "[--at RFC3339] [--days N]", "when a ticket submitted then is due (ComputeDueTime)",
     due_flags, 0, 0, cmd_due},
    {"grant", "--reseller ID --kind quota|pool --amount 1000.00 --reason T [--request-id ID]",
     "grant quota or credit pool directly, without an application (GrantQuota)", grant_flags, 0, 0,
     cmd_grant},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const ctl_flag global_flags[] = {
    {"addr", "HOST:PORT", "approval-svc address (default $APPROVAL_ADDR or 127.0.0.1:50052)"},
    {"token", "JWT", "staff bearer token (default $TOKEN_STAFF)"},
    {"json", NULL, "print the response message as JSON (proto3 mapping)"},
    {"currency", "CUR", "currency of money arguments (default: the ticket's or reseller's)"},
    {"timeout-ms", "MS", "deadline per call, retries included (default 10000)"},
    {0}};

static const ctl_prog prog = {
    .name = CTL_PROG,
    .service = "approval-svc",
    .addr_env = "APPROVAL_ADDR",
    .default_addr = "127.0.0.1:50052",
    .token_env = "TOKEN_STAFF",
    .usage = "[--addr HOST:PORT] [--token JWT] [--json]",
    .commands = commands,
    .ncommands = NCOMMANDS,
    .globals = global_flags,
    .need_currency = need_currency,
};

int main(int argc, char **argv)
{
    return ctl_main(&prog, argc, argv);
}
