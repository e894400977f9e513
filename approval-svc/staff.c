/*
 * staff.c - approval.v1.StaffService: the provider's reviewers work the queue (list, read,
 * claim, approve, reject), watch it (queue statistics) and grant quota directly (SPEC §6).
 *
 * Callers have the staff role; the staff id recorded on claims and decisions is the token's
 * subject. Decisions go through as_ticket_decide (tickets.h): one conditional update from
 * PENDING plus the outcome message in the same transaction, so a decision racing a cancel or
 * another decision ends in exactly one outcome, and the losers are told what happened
 * (FAILED_PRECONDITION "ticket ... is already CANCELLED" / "... is claimed by X until T").
 *
 * Claims are advisory locks with an expiry: a ticket whose claim lapsed counts as unclaimed
 * everywhere (lists, statistics, the next claim, decisions), without anything clearing it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "approval/v1/staff_service.pb-c.h"
#include "as.h"
#include "base/vc_money.h"
#include "db/vc_idem.h"
#include "outbox/vc_outbox.h"
#include "rpc/vc_page.h"
#include "rpc/vc_validate.h"
#include "tickets.h"

/* Pending and overdue tickets, for the queue gauges main.c registers. 0 or a VC_E* code. */
int as_queue_counts(vc_db_conn *c, int64_t now_us, int64_t *pending, int64_t *overdue);

#define AS__REASON_MAX    1000             /* rejection/grant reason, approval comment */
#define AS__ID_MAX        64               /* ticket and reseller ids */
#define AS__STAFF_MAX     128              /* staff ids are token subjects (< 128 bytes) */
#define AS__AMOUNT_MAX    10000000000000LL /* GrantQuota: 1e13 minor units */
#define AS__DAYS_DEFAULT  7
#define AS__DAYS_MAX      90
#define AS__BUCKET_US     (900 * VC_US_PER_SEC) /* decisions per day are summed per 15 min */
#define AS__QUOTA_VOUCHER APPROVAL__V1__QUOTA_KIND__QUOTA_KIND_VOUCHER_QUOTA
#define AS__QUOTA_CREDIT  APPROVAL__V1__QUOTA_KIND__QUOTA_KIND_CREDIT_POOL

/* ---- shared helpers -------------------------------------------------------------------------- */

/* Keeps the first failure while still running every check, so one answer names every field. */
static int as__also(int rc, int next)
{
    return rc != VC_GRPC_OK ? rc : next;
}

static const char *as__staff(const vc_rpc_ctx *ctx)
{
    return vc_rpc_caller(ctx)->subject;
}

static const char *as__state_name(int state)
{
    switch (state) {
    case AS_ST_PENDING: return "PENDING";
    case AS_ST_APPROVED: return "APPROVED";
    case AS_ST_REJECTED: return "REJECTED";
    case AS_ST_CANCELLED: return "CANCELLED";
    default: return "in an unknown state";
    }
}

/* RFC 3339 UTC, for messages ("claimed by alice until 2024-05-01T08:30:00Z"). */
static void as__utc(char buf[32], int64_t us)
{
    time_t s = (time_t)(us / VC_US_PER_SEC);
    struct tm tm;
    if (!gmtime_r(&s, &tm) || strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        memcpy(buf, "?", 2);
}

static Google__Protobuf__Duration *as__duration(vc_arena *a, int64_t us)
{
    Google__Protobuf__Duration *d = vc_arena_alloc(a, sizeof(*d));
    if (!d) return NULL;
    google__protobuf__duration__init(d);
    d->seconds = us / VC_US_PER_SEC;
    d->nanos = (int32_t)((us % VC_US_PER_SEC) * 1000);
    return d;
}

static int as__check_ticket_id(vc_rpc_ctx *ctx, const char *id)
{
    return vc_validate_token(ctx, "ticket_id", id, AS__ID_MAX, true);
}

/* Why a transaction body refused; it then returns VC_ECONFLICT so nothing is committed. */
typedef enum as__why {
    AS__OK = 0,
    AS__NOT_FOUND,
    AS__DECIDED,       /* no longer PENDING */
    AS__CLAIMED,       /* a live claim by another reviewer */
    AS__GRANT_VOUCHER, /* granted_amount_minor on a voucher ticket */
    AS__GRANT_TOO_BIG, /* granted_amount_minor above the requested amount */
    AS__MISMATCH,      /* request_id reused with other parameters */
} as__why;

static int as__refused(as__why *slot, as__why why)
{
    *slot = why;
    return VC_ECONFLICT;
}

/* What keeps `staff` from claiming or deciding ticket t at `now` (AS__OK: nothing). */
static as__why as__blocker(const as_ticket *t, const char *staff, int64_t now)
{
    if (t->state != AS_ST_PENDING) return AS__DECIDED;
    if (t->claimed_by[0] && strcmp(t->claimed_by, staff) != 0 && t->claim_expires_us > now)
        return AS__CLAIMED;
    return AS__OK;
}

/* The answer to a refusal; t is the ticket as last read (state, claim, amount). */
static int as__refuse(vc_rpc_ctx *ctx, as__why why, const char *id, const as_ticket *t)
{
    char until[32];
    switch (why) {
    case AS__NOT_FOUND: return vc_rpc_error(ctx, VC_GRPC_NOT_FOUND, "ticket %s not found", id);
    case AS__DECIDED:
        return vc_rpc_error(ctx, VC_GRPC_FAILED_PRECONDITION, "ticket %s is already %s", id,
                            as__state_name(t->state));
    case AS__CLAIMED:
        as__utc(until, t->claim_expires_us);
        return vc_rpc_error(ctx, VC_GRPC_FAILED_PRECONDITION, "ticket %s is claimed by %s until %s",
                            id, t->claimed_by, until);
    case AS__GRANT_VOUCHER:
        return vc_rpc_invalid(ctx, "granted_amount_minor",
                              "must be 0 for a VOUCHER_ISSUANCE ticket (applications only)");
    case AS__GRANT_TOO_BIG:
        return vc_rpc_invalid(ctx, "granted_amount_minor",
                              "must not exceed the requested amount %" PRId64
                              " (0 grants it in full)",
                              t->amount_minor);
    case AS__MISMATCH:
        return vc_rpc_error(ctx, VC_GRPC_ALREADY_EXISTS,
                            "request_id was already used with different parameters");
    case AS__OK: break;
    }
    return vc_rpc_error(ctx, VC_GRPC_INTERNAL, "internal error");
}

/* ---- ListTickets -------------------------------------------------------------------------------
 */

/* Two orders, each with its own keyset:
 *  - the work queue (overdue_only, or states == [PENDING]): PENDING only, most urgent first,
 *    ORDER BY due_us ASC, ticket_id ASC, continuing after (due_us, ticket_id); served by
 *    ix_tickets_queue (state, due_us, ticket_id);
 *  - anything else (history, mixed states): newest submission first, ORDER BY submitted_us
 *    DESC, ticket_id DESC (the vc_page convention), continuing after (submitted_us, ticket_id).
 * The order is a function of the filters, which a client repeats with its page_token, so a
 * token always continues the order it came from. Unset filters are expanded to every value (IN
 * lists of fixed length) or compare to their "any" value, so each order is one statement. */
typedef struct as__filter {
    int64_t states[4];   /* IN list; unused slots repeat the first value */
    int64_t subjects[3]; /* likewise */
    const char *reseller, *claimed_by;
    bool queue; /* the work-queue order */
    bool overdue_only;
    bool empty; /* the filters exclude everything (overdue_only without PENDING) */
    vc_page page;
} as__filter;

#define AS__FILTER_SQL                                                                             \
    "AND t.state IN (?, ?, ?, ?) AND t.subject_type IN (?, ?, ?) "                                 \
    "AND (? = '' OR t.reseller_id = ?) "                                                           \
    "AND (? = '' OR (t.state = 1 /* PENDING */ AND t.claimed_by = ? AND t.claim_expires_us > ?)) "

static const char as__list_sql[] =
    "SELECT " AS_TICKET_COLS AS_TICKET_FROM
    " WHERE (t.submitted_us < ? OR (t.submitted_us = ? AND t.ticket_id < ?)) " AS__FILTER_SQL
    "ORDER BY t.submitted_us DESC, t.ticket_id DESC LIMIT ?";

static const char as__queue_sql[] =
    "SELECT " AS_TICKET_COLS AS_TICKET_FROM
    " WHERE t.state = 1 AND (t.due_us > ? OR (t.due_us = ? AND t.ticket_id > ?)) "
    "AND (? = 0 OR t.due_us < ?) " AS__FILTER_SQL "ORDER BY t.due_us, t.ticket_id LIMIT ?";

/* A repeated enum filter as an IN list of n slots (values lo..hi); field names the bad index. */
static int as__enum_list(vc_rpc_ctx *ctx, const char *field, const int *v, size_t n, int lo, int hi,
                         int64_t *slots, size_t n_slots, unsigned *mask)
{
    int rc = VC_GRPC_OK;
    *mask = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < lo || v[i] > hi) {
            char path[48];
            snprintf(path, sizeof(path), "%s[%zu]", field, i);
            rc = vc_rpc_invalid(ctx, path, "must be one of the named values (not UNSPECIFIED)");
            continue;
        }
        *mask |= 1u << v[i];
    }
    if (*mask == 0) *mask = ((1u << (hi + 1)) - 1) & ~((1u << lo) - 1);
    size_t k = 0;
    for (int s = lo; s <= hi && k < n_slots; s++)
        if (*mask & (1u << s)) slots[k++] = s;
    for (size_t j = k; j < n_slots; j++)
        slots[j] = slots[0];
    return rc;
}

static int as__parse_filter(vc_rpc_ctx *ctx, const Approval__V1__ListTicketsRequest *req,
                            as__filter *f)
{
    memset(f, 0, sizeof(*f));
    unsigned states, subjects;
    /* protobuf-c stores repeated enum fields as arrays of int. */
    int rc = vc_page_parse(ctx, req->page_size, req->page_token, &f->page);
    rc = as__also(rc, as__enum_list(ctx, "states", (const int *)req->states, req->n_states,
                                    AS_ST_PENDING, AS_ST_CANCELLED, f->states, 4, &states));
    rc = as__also(rc, as__enum_list(ctx, "subject_types", (const int *)req->subject_types,
                                    req->n_subject_types, AS_SUBJ_VOUCHER, AS_SUBJ_CREDIT,
                                    f->subjects, 3, &subjects));
    rc = as__also(rc, vc_validate_token(ctx, "reseller_id", req->reseller_id, AS__ID_MAX, false));
    rc = as__also(
        rc, vc_validate_text(ctx, "claimed_by", req->claimed_by, AS__STAFF_MAX, false, false));
    f->reseller = req->reseller_id ? req->reseller_id : "";
    f->claimed_by = req->claimed_by ? req->claimed_by : "";
    f->overdue_only = req->overdue_only;
    f->queue = f->overdue_only || states == (1u << AS_ST_PENDING);
    f->empty = f->overdue_only && !(states & (1u << AS_ST_PENDING));
    return rc;
}

typedef struct as__list {
    const as__filter *f;
    vc_arena *a;
    Approval__V1__ListTicketsResponse *resp;
} as__list;

static int as__list_query(vc_db_conn *c, const as__filter *f, int64_t now, vc_db_rows **rows)
{
    const vc_page *pg = &f->page;
    /* The first page continues after a position before every row. */
    int64_t key = pg->has_cursor ? pg->key : f->queue ? INT64_MIN : INT64_MAX;
    const char *after = pg->has_cursor ? pg->id : "";
    vc_db_param p[20];
    size_t n = 0;
    p[n++] = vc_db_i64(key);
    p[n++] = vc_db_i64(key);
    p[n++] = vc_db_str(after);
    if (f->queue) {
        p[n++] = vc_db_bool(f->overdue_only);
        p[n++] = vc_db_i64(now);
    }
    for (size_t i = 0; i < 4; i++)
        p[n++] = vc_db_i64(f->states[i]);
    for (size_t i = 0; i < 3; i++)
        p[n++] = vc_db_i64(f->subjects[i]);
    p[n++] = vc_db_str(f->reseller);
    p[n++] = vc_db_str(f->reseller);
    p[n++] = vc_db_str(f->claimed_by);
    p[n++] = vc_db_str(f->claimed_by);
    p[n++] = vc_db_i64(now);
    p[n++] = vc_db_i64(pg->limit + 1); /* one more than the page: is there another? */
    return vc_db_query(c, f->queue ? as__queue_sql : as__list_sql, p, n, rows);
}

static int as__list_run(vc_db_conn *c, void *arg)
{
    as__list *l = arg;
    const as__filter *f = l->f;
    Approval__V1__ListTicketsResponse *resp = l->resp;
    int64_t now = vc_now_us();
    vc_db_rows *rows;
    int rc = as__list_query(c, f, now, &rows);
    if (rc < 0) return rc;
    resp->tickets = vc_arena_alloc(l->a, (size_t)f->page.limit * sizeof(*resp->tickets));
    if (!resp->tickets) rc = VC_ENOMEM;
    as_ticket t;
    size_t n = 0;
    int more = 0;
    int64_t last_key = 0;
    while (rc == 0 && (more = vc_db_next(rows)) == 1 && n < (size_t)f->page.limit) {
        as_ticket_read(rows, l->a, &t);
        resp->tickets[n] = as_ticket_to_pb(l->a, &t, now);
        if (!resp->tickets[n]) rc = VC_ENOMEM;
        last_key = f->queue ? t.due_us : t.submitted_us;
        n++;
    }
    if (rc == 0 && more < 0) rc = more;
    resp->n_tickets = n;
    if (rc == 0 && more == 1 && n > 0) {
        resp->next_page_token = vc_page_token(l->a, last_key, resp->tickets[n - 1]->ticket_id);
        if (!resp->next_page_token) rc = VC_ENOMEM;
    }
    vc_db_rows_close(rows);
    return rc;
}

static int list_tickets(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    as_app *app = vc_rpc_service_data(ctx);
    as__filter f;
    int rc = as__parse_filter(ctx, req_, &f);
    if (rc != VC_GRPC_OK) return rc;
    if (f.empty) return VC_GRPC_OK;
    as__list l = {.f = &f, .a = vc_rpc_arena(ctx), .resp = resp_};
    rc = vc_db_run(app->db, as__list_run, &l);
    if (rc < 0) return vc_rpc_fail(ctx, rc, "list tickets");
    return VC_GRPC_OK;
}

/* ---- GetTicket ---------------------------------------------------------------------------------
 */

typedef struct as__get {
    const char *id;
    vc_arena *a;
    as_ticket t;
} as__get;

static int as__get_run(vc_db_conn *c, void *arg)
{
    as__get *g = arg;
    return as_ticket_load(c, g->a, g->id, false, &g->t);
}

static int get_ticket(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Approval__V1__GetTicketRequest *req = req_;
    Approval__V1__GetTicketResponse *resp = resp_;
    as_app *app = vc_rpc_service_data(ctx);
    int rc = as__check_ticket_id(ctx, req->ticket_id);
    if (rc != VC_GRPC_OK) return rc;
    as__get g = {.id = req->ticket_id, .a = vc_rpc_arena(ctx)};
    rc = vc_db_run(app->db, as__get_run, &g);
    if (rc == VC_ENOENT)
        return vc_rpc_error(ctx, VC_GRPC_NOT_FOUND, "ticket %s not found", req->ticket_id);
    if (rc == 0 && !(resp->ticket = as_ticket_to_pb(g.a, &g.t, vc_now_us()))) rc = VC_ENOMEM;
    if (rc < 0) return vc_rpc_fail(ctx, rc, "get ticket");
    return VC_GRPC_OK;
}

/* ---- ClaimTicket -------------------------------------------------------------------------------
 */

typedef struct as__claim {
    const char *id, *staff;
    int64_t duration_us;
    vc_arena *a;
    as_ticket t;
    as__why why;
} as__claim;

/* Takes the claim when the ticket is PENDING and unclaimed, claimed by the caller (re-claiming
   extends it) or its claim lapsed. */
static int as__claim_row(vc_db_conn *c, const as__claim *cl, int64_t now, uint64_t *matched)
{
    return vc_db_exec(c,
                      "UPDATE tickets SET claimed_by = ?, claim_expires_us = ? "
                      "WHERE ticket_id = ? AND state = ? "
                      "AND (claimed_by IS NULL OR claimed_by = ? OR claim_expires_us <= ?)",
                      VC_DB_ARGS(vc_db_str(cl->staff), vc_db_i64(now + cl->duration_us),
                                 vc_db_str(cl->id), vc_db_i64(AS_ST_PENDING), vc_db_str(cl->staff),
                                 vc_db_i64(now)),
                      matched);
}

static int as__claim_tx(vc_db_conn *c, void *arg)
{
    as__claim *cl = arg;
    cl->why = AS__OK;
    int64_t now = vc_now_us();
    uint64_t matched = 0;
    int rc = as__claim_row(c, cl, now, &matched);
    if (rc < 0) return rc;
    if (!matched) {
        /* Explain under the row lock, so the answer is still true when it is sent. If the row
           changed in between so that the claim is now free, the update is repeated: holding
           the lock, it is decisive. */
        rc = as_ticket_load(c, cl->a, cl->id, true, &cl->t);
        if (rc == VC_ENOENT) return as__refused(&cl->why, AS__NOT_FOUND);
        if (rc < 0) return rc;
        as__why why = as__blocker(&cl->t, cl->staff, now);
        if (why != AS__OK) return as__refused(&cl->why, why);
        if ((rc = as__claim_row(c, cl, now, &matched)) < 0) return rc;
        if (!matched) return VC_EAGAIN; /* unreachable while we hold the lock */
    }
    return as_ticket_load(c, cl->a, cl->id, false, &cl->t);
}

static int as__check_duration(vc_rpc_ctx *ctx, const as_config *cfg,
                              const Google__Protobuf__Duration *d, int64_t *us)
{
    int64_t max = cfg->claim_max_s;
    if (!d) {
        *us = (cfg->claim_ttl_s < max ? cfg->claim_ttl_s : max) * VC_US_PER_SEC;
        return VC_GRPC_OK;
    }
    if (d->seconds < 1 || d->seconds > max || d->nanos < 0 || d->nanos > 999999999 ||
        (d->seconds == max && d->nanos > 0))
        return vc_rpc_invalid(ctx, "claim_duration",
                              "must be between 1 s and %" PRId64 " s (unset: %" PRId64 " s)", max,
                              cfg->claim_ttl_s < max ? cfg->claim_ttl_s : max);
    *us = d->seconds * VC_US_PER_SEC + d->nanos / 1000;
    return VC_GRPC_OK;
}

static int claim_ticket(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Approval__V1__ClaimTicketRequest *req = req_;
    Approval__V1__ClaimTicketResponse *resp = resp_;
    as_app *app = vc_rpc_service_data(ctx);
    as__claim cl = {.id = req->ticket_id, .staff = as__staff(ctx), .a = vc_rpc_arena(ctx)};
    int rc = as__check_ticket_id(ctx, req->ticket_id);
    rc = as__also(rc, as__check_duration(ctx, app->cfg, req->claim_duration, &cl.duration_us));
    if (rc != VC_GRPC_OK) return rc;
    rc = vc_db_tx(app->db, as__claim_tx, &cl);
    if (rc == VC_ECONFLICT && cl.why != AS__OK) return as__refuse(ctx, cl.why, cl.id, &cl.t);
    if (rc == 0 && !(resp->ticket = as_ticket_to_pb(cl.a, &cl.t, vc_now_us()))) rc = VC_ENOMEM;
    if (rc < 0) return vc_rpc_fail(ctx, rc, "claim ticket");
    return VC_GRPC_OK;
}

/* ---- ApproveTicket / RejectTicket --------------------------------------------------------------
 */

typedef struct as__decide {
    const char *id, *staff, *reason;
    int state;       /* AS_ST_APPROVED or AS_ST_REJECTED */
    int64_t granted; /* approvals: as asked, 0 = the requested amount */
    vc_arena *a;
    as_ticket t;
    as__why why;
} as__decide;

static int as__decide_tx(vc_db_conn *c, void *arg)
{
    as__decide *d = arg;
    d->why = AS__OK;
    /* Subject and amount never change, so a plain read is enough to check the grant. */
    int rc = as_ticket_load(c, d->a, d->id, false, &d->t);
    if (rc == VC_ENOENT) return as__refused(&d->why, AS__NOT_FOUND);
    if (rc < 0) return rc;
    int64_t granted = 0;
    if (d->state == AS_ST_APPROVED) {
        if (d->t.subject_type == AS_SUBJ_VOUCHER && d->granted != 0)
            return as__refused(&d->why, AS__GRANT_VOUCHER);
        if (d->t.subject_type != AS_SUBJ_VOUCHER && d->granted > d->t.amount_minor)
            return as__refused(&d->why, AS__GRANT_TOO_BIG);
        if (d->t.subject_type != AS_SUBJ_VOUCHER)
            granted = d->granted ? d->granted : d->t.amount_minor;
    }
    rc = as_ticket_decide(c, d->a, &d->t, d->state, d->staff, d->reason, granted, false);
    /* Lost: d->t is the row as it is now; a PENDING one was held by another reviewer's claim
       when the update ran. */
    if (rc == VC_ECONFLICT)
        return as__refused(&d->why, d->t.state != AS_ST_PENDING ? AS__DECIDED : AS__CLAIMED);
    return rc;
}

static int as__decide_run(vc_rpc_ctx *ctx, as__decide *d, Approval__V1__Ticket **out)
{
    as_app *app = vc_rpc_service_data(ctx);
    d->staff = as__staff(ctx);
    d->a = vc_rpc_arena(ctx);
    int rc = vc_db_tx(app->db, as__decide_tx, d);
    if (rc == VC_ECONFLICT && d->why != AS__OK) return as__refuse(ctx, d->why, d->id, &d->t);
    if (rc == 0 && !(*out = as_ticket_to_pb(d->a, &d->t, vc_now_us()))) rc = VC_ENOMEM;
    if (rc < 0)
        return vc_rpc_fail(ctx, rc,
                           d->state == AS_ST_APPROVED ? "approve ticket" : "reject ticket");
    return VC_GRPC_OK;
}

static int approve_ticket(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Approval__V1__ApproveTicketRequest *req = req_;
    Approval__V1__ApproveTicketResponse *resp = resp_;
    int rc = as__check_ticket_id(ctx, req->ticket_id);
    if (req->granted_amount_minor < 0)
        rc = vc_rpc_invalid(ctx, "granted_amount_minor",
                            "must be 0 (the requested amount) or a positive amount");
    rc = as__also(rc, vc_validate_text(ctx, "comment", req->comment, AS__REASON_MAX, false, true));
    if (rc != VC_GRPC_OK) return rc;
    as__decide d = {.id = req->ticket_id,
                    .reason = req->comment ? req->comment : "",
                    .state = AS_ST_APPROVED,
                    .granted = req->granted_amount_minor};
    return as__decide_run(ctx, &d, &resp->ticket);
}

static int reject_ticket(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Approval__V1__RejectTicketRequest *req = req_;
    Approval__V1__RejectTicketResponse *resp = resp_;
    int rc = as__check_ticket_id(ctx, req->ticket_id);
    rc = as__also(rc, vc_validate_text(ctx, "reason", req->reason, AS__REASON_MAX, true, true));
    if (rc == VC_GRPC_OK && strspn(req->reason, " \t\n") == strlen(req->reason))
        rc = vc_rpc_invalid(ctx, "reason", "must not be blank");
    if (rc != VC_GRPC_OK) return rc;
    as__decide d = {.id = req->ticket_id, .reason = req->reason, .state = AS_ST_REJECTED};
    return as__decide_run(ctx, &d, &resp->ticket);
}

/* ---- GetQueueStats -----------------------------------------------------------------------------
 */

typedef struct as__stats {
    const char *reseller; /* "" = all */
    int days;
    int64_t now;
    vc_arena *a;
    Approval__V1__GetQueueStatsResponse *resp;
} as__stats;

#define AS__RESELLER_SQL "(? = '' OR reseller_id = ?)"

int as_queue_counts(vc_db_conn *c, int64_t now_us, int64_t *pending, int64_t *overdue)
{
    vc_db_rows *rows;
    int rc = vc_db_query(c,
                         "SELECT COUNT(*), COALESCE(SUM(due_us < ?), 0) FROM tickets "
                         "WHERE state = ?",
                         VC_DB_ARGS(vc_db_i64(now_us), vc_db_i64(AS_ST_PENDING)), &rows);
    if (rc < 0) return rc;
    rc = vc_db_next(rows);
    if (rc == 1) rc = vc_db_get_i64(rows, 0, pending);
    if (rc == 0) rc = vc_db_get_i64(rows, 1, overdue);
    vc_db_rows_close(rows);
    return rc;
}

/* pending, overdue, claimed and the oldest PENDING ticket. */
static int as__stats_pending(vc_db_conn *c, as__stats *st)
{
    Approval__V1__GetQueueStatsResponse *r = st->resp;
    vc_db_rows *rows;
    int rc =
        vc_db_query(c,
                    "SELECT COUNT(*), COALESCE(SUM(due_us < ?), 0), "
                    "COALESCE(SUM(claimed_by IS NOT NULL AND claim_expires_us > ?), 0), "
                    "MIN(submitted_us) FROM tickets WHERE state = ? AND " AS__RESELLER_SQL,
                    VC_DB_ARGS(vc_db_i64(st->now), vc_db_i64(st->now), vc_db_i64(AS_ST_PENDING),
                               vc_db_str(st->reseller), vc_db_str(st->reseller)),
                    &rows);
    if (rc < 0) return rc;
    int64_t oldest = 0;
    rc = vc_db_next(rows);
    if (rc == 1) rc = vc_db_get_i64(rows, 0, &r->pending_count);
    if (rc == 0) rc = vc_db_get_i64(rows, 1, &r->overdue_count);
    if (rc == 0) rc = vc_db_get_i64(rows, 2, &r->claimed_count);
    if (rc == 0) rc = vc_db_get_i64(rows, 3, &oldest);
    if (rc == VC_ENOENT) rc = 0; /* MIN() of nothing: no PENDING ticket */
    vc_db_rows_close(rows);
    if (rc < 0 || r->pending_count == 0) return rc;
    r->oldest_pending_submit_time = vc_ts_new(st->a, oldest);
    r->oldest_pending_age = as__duration(st->a, st->now - oldest);
    return r->oldest_pending_submit_time && r->oldest_pending_age ? 0 : VC_ENOMEM;
}

/* PENDING per subject type: every type, zeros included. */
static int as__stats_subjects(vc_db_conn *c, as__stats *st)
{
    Approval__V1__GetQueueStatsResponse *r = st->resp;
    enum { N = AS_SUBJ_CREDIT - AS_SUBJ_VOUCHER + 1 };
    r->pending_by_subject = vc_arena_alloc(st->a, N * sizeof(*r->pending_by_subject));
    if (!r->pending_by_subject) return VC_ENOMEM;
    for (int i = 0; i < N; i++) {
        Approval__V1__SubjectCount *sc = vc_arena_alloc(st->a, sizeof(*sc));
        if (!sc) return VC_ENOMEM;
        approval__v1__subject_count__init(sc);
        sc->subject_type = AS_SUBJ_VOUCHER + i;
        r->pending_by_subject[i] = sc;
    }
    r->n_pending_by_subject = N;
    vc_db_rows *rows;
    int rc = vc_db_query(
        c,
        "SELECT subject_type, COUNT(*) FROM tickets "
        "WHERE state = ? AND " AS__RESELLER_SQL " GROUP BY subject_type",
        VC_DB_ARGS(vc_db_i64(AS_ST_PENDING), vc_db_str(st->reseller), vc_db_str(st->reseller)),
        &rows);
    if (rc < 0) return rc;
    while ((rc = vc_db_next(rows)) == 1) {
        int64_t type = vc_db_i64_or(rows, 0, 0), n = vc_db_i64_or(rows, 1, 0);
        if (type >= AS_SUBJ_VOUCHER && type <= AS_SUBJ_CREDIT)
            r->pending_by_subject[type - AS_SUBJ_VOUCHER]->pending_count = n;
    }
    vc_db_rows_close(rows);
    return rc;
}

/* The business-local dates of the last st->days days, oldest first, ending today. Noon is used
   to step days because no zone moves its clocks across noon. */
static int as__stats_dates(as__stats *st, struct tm *first)
{
    Approval__V1__GetQueueStatsResponse *r = st->resp;
    time_t now = (time_t)(st->now / VC_US_PER_SEC);
    struct tm today;
    if (!localtime_r(&now, &today)) return VC_EINVAL;
    r->decisions_per_day = vc_arena_alloc(st->a, (size_t)st->days * sizeof(*r->decisions_per_day));
    if (!r->decisions_per_day) return VC_ENOMEM;
    for (int i = 0; i < st->days; i++) {
        struct tm d = today;
        d.tm_hour = 12;
        d.tm_min = d.tm_sec = 0;
        d.tm_isdst = -1;
        d.tm_mday -= st->days - 1 - i;
        time_t noon = mktime(&d);
        struct tm local;
        Approval__V1__DailyDecisions *dd = vc_arena_alloc(st->a, sizeof(*dd));
        char *date = vc_arena_alloc(st->a, 16);
        if (!dd || !date) return VC_ENOMEM;
        if (noon == (time_t)-1 || !localtime_r(&noon, &local) ||
            strftime(date, 16, "%Y-%m-%d", &local) == 0)
            return VC_EINVAL;
        if (i == 0) *first = local;
        approval__v1__daily_decisions__init(dd);
        dd->date = date;
        r->decisions_per_day[i] = dd;
    }
    r->n_decisions_per_day = (size_t)st->days;
    return 0;
}

static void as__count_decision(Approval__V1__DailyDecisions *dd, int64_t state, int64_t n)
{
    if (state == AS_ST_APPROVED) dd->approved_count += n;
    if (state == AS_ST_REJECTED) dd->rejected_count += n;
    if (state == AS_ST_CANCELLED) dd->cancelled_count += n;
}

/* Decisions per business-local day. The database sums them per 15 minutes of UTC time (every
   zone's midnight falls on such a boundary, as no zone's offset is finer than 15 min) and each
   bucket is dated with localtime_r, so the bucketing follows the process zone, DST included,
   while the rows read stay bounded (at most 96 per day and state). */
static int as__stats_days(vc_db_conn *c, as__stats *st)
{
    Approval__V1__GetQueueStatsResponse *r = st->resp;
    struct tm first;
    int rc = as__stats_dates(st, &first);
    if (rc < 0) return rc;
    /* From the first day's midnight, less a day of slack for zones whose midnight does not
       exist on that date: dates before the first are skipped below. */
    first.tm_hour = first.tm_min = first.tm_sec = 0;
    first.tm_mday -= 1;
    first.tm_isdst = -1;
    time_t from = mktime(&first);
    if (from == (time_t)-1) return VC_EINVAL;
    vc_db_rows *rows;
    rc = vc_db_query(c,
                     "SELECT decided_us DIV ?, state, COUNT(*) FROM tickets "
                     "WHERE decided_us >= ? AND state IN (?, ?, ?) AND " AS__RESELLER_SQL
                     " GROUP BY 1, 2 ORDER BY 1",
                     VC_DB_ARGS(vc_db_i64(AS__BUCKET_US), vc_db_i64((int64_t)from * VC_US_PER_SEC),
                                vc_db_i64(AS_ST_APPROVED), vc_db_i64(AS_ST_REJECTED),
                                vc_db_i64(AS_ST_CANCELLED), vc_db_str(st->reseller),
                                vc_db_str(st->reseller)),
                     &rows);
    if (rc < 0) return rc;
    size_t day = 0;
    while ((rc = vc_db_next(rows)) == 1 && day < r->n_decisions_per_day) {
        time_t at = (time_t)(vc_db_i64_or(rows, 0, 0) * (AS__BUCKET_US / VC_US_PER_SEC));
        struct tm local;
        char date[16];
        if (!localtime_r(&at, &local) || strftime(date, sizeof(date), "%Y-%m-%d", &local) == 0)
            continue;
        /* Buckets come in time order, so the matching day only moves forward. */
        while (day < r->n_decisions_per_day && strcmp(r->decisions_per_day[day]->date, date) < 0)
            day++;
        if (day < r->n_decisions_per_day && strcmp(r->decisions_per_day[day]->date, date) == 0)
            as__count_decision(r->decisions_per_day[day], vc_db_i64_or(rows, 1, 0),
                               vc_db_i64_or(rows, 2, 0));
    }
    vc_db_rows_close(rows);
    return rc == 1 ? 0 : rc; /* 1: stopped past today (a clock step back) */
}

/* Decided outcomes reseller-svc has not acknowledged. The outbox carries nothing but outcomes,
   so without a reseller filter it is the outbox's own count (its pending index). */
static int as__stats_undelivered(vc_db_conn *c, as__stats *st)
{
    if (!*st->reseller) return vc_outbox_pending(c, &st->resp->undelivered_count);
    return vc_db_query_i64(c,
                           "SELECT COUNT(*) FROM tickets t JOIN outbox o "
                           "ON o.message_id = t.outcome_message_id "
                           "WHERE t.reseller_id = ? AND o.delivered_at IS NULL",
                           VC_DB_ARGS(vc_db_str(st->reseller)), &st->resp->undelivered_count);
}

static int as__stats_run(vc_db_conn *c, void *arg)
{
    as__stats *st = arg;
    int rc = as__stats_pending(c, st);
    if (rc == 0) rc = as__stats_subjects(c, st);
    if (rc == 0) rc = as__stats_days(c, st);
    if (rc == 0) rc = as__stats_undelivered(c, st);
    return rc;
}

static int get_queue_stats(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Approval__V1__GetQueueStatsRequest *req = req_;
    as_app *app = vc_rpc_service_data(ctx);
    int rc = vc_validate_token(ctx, "reseller_id", req->reseller_id, AS__ID_MAX, false);
    if (req->days < 0 || req->days > AS__DAYS_MAX)
        rc = vc_rpc_invalid(ctx, "days", "must be 1 to %d (0 means %d)", AS__DAYS_MAX,
                            AS__DAYS_DEFAULT);
    if (rc != VC_GRPC_OK) return rc;
    as__stats st = {.reseller = req->reseller_id ? req->reseller_id : "",
                    .days = req->days ? req->days : AS__DAYS_DEFAULT,
                    .now = vc_now_us(),
                    .a = vc_rpc_arena(ctx),
                    .resp = resp_};
    rc = vc_db_run(app->db, as__stats_run, &st);
    if (rc < 0) return vc_rpc_fail(ctx, rc, "queue stats");
    return VC_GRPC_OK;
}

/* ---- GrantQuota --------------------------------------------------------------------------------
 */

typedef struct as__grant {
    const Approval__V1__GrantQuotaRequest *req;
    const char *staff;
    vc_arena *a;
    as_ticket t;
    Approval__V1__Ticket *out;
    as__why why;
} as__grant;

static int as__grant_insert(vc_db_conn *c, const as_ticket *t)
{
    return vc_db_exec(
        c,
        "INSERT INTO tickets (ticket_id, subject_type, subject_id, reseller_id, amount_minor, "
        "currency_code, state, business_days, submitted_us, due_us, decided_by, decided_us, "
        "reason, granted_minor, direct_grant) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, 1)",
        VC_DB_ARGS(vc_db_str(t->ticket_id), vc_db_i64(t->subject_type), vc_db_str(t->subject_id),
                   vc_db_str(t->reseller_id), vc_db_i64(t->amount_minor), vc_db_str(t->currency),
                   vc_db_i64(t->state), vc_db_i64(t->submitted_us), vc_db_i64(t->due_us),
                   vc_db_str(t->decided_by), vc_db_i64(t->decided_us), vc_db_str(t->reason),
                   vc_db_i64(t->granted_minor)),
        NULL);
}

/* The first answer to a repeated request_id, showing the ticket as it is now (its delivery may
   have progressed since). */
static int as__grant_replay(vc_db_conn *c, as__grant *g, const ProtobufCMessage *replay)
{
    const Approval__V1__GrantQuotaResponse *r = (const Approval__V1__GrantQuotaResponse *)replay;
    if (!r->ticket || !r->ticket->ticket_id) return VC_EIO;
    int rc = as_ticket_load(c, g->a, r->ticket->ticket_id, false, &g->t);
    if (rc == VC_ENOENT) {
        g->out = r->ticket;
        return 0;
    }
    if (rc < 0) return rc;
    g->out = as_ticket_to_pb(g->a, &g->t, vc_now_us());
    return g->out ? 0 : VC_ENOMEM;
}

/* A ticket born APPROVED (direct_grant), its subject id its own id, with the outcome queued for
   reseller-svc like any approval. */
static int as__grant_tx(vc_db_conn *c, void *arg)
{
    as__grant *g = arg;
    const Approval__V1__GrantQuotaRequest *req = g->req;
    g->why = AS__OK;
    ProtobufCMessage *replay = NULL;
    int rc = vc_idem_begin(c, req->reseller_id, "GrantQuota", req->request_id, &req->base, g->a,
                           &approval__v1__grant_quota_response__descriptor, &replay);
    if (rc < 0) return rc;
    if (rc == VC_IDEM_MISMATCH) return as__refused(&g->why, AS__MISMATCH);
    if (rc == VC_IDEM_REPLAY) return as__grant_replay(c, g, replay);

    as_ticket *t = &g->t;
    memset(t, 0, sizeof(*t));
    if ((rc = vc_id_new(t->ticket_id, "grt")) < 0) return rc;
    memcpy(t->subject_id, t->ticket_id, sizeof(t->ticket_id));
    t->subject_type = req->kind == AS__QUOTA_VOUCHER ? AS_SUBJ_QUOTA : AS_SUBJ_CREDIT;
    snprintf(t->reseller_id, sizeof(t->reseller_id), "%.64s", req->reseller_id);
    memcpy(t->currency, req->currency_code, 4); /* validated: 3 letters */
    snprintf(t->decided_by, sizeof(t->decided_by), "%.128s", g->staff);
    t->amount_minor = t->granted_minor = req->amount_minor;
    t->state = AS_ST_APPROVED;
    t->submitted_us = t->due_us = t->decided_us = vc_now_us();
    t->direct_grant = true;
    t->description = (char *)"";
    t->reason = req->reason;
    if ((rc = as__grant_insert(c, t)) < 0) return rc;
    if ((rc = as_ticket_queue_outcome(c, t)) < 0) return rc;
    if (!(g->out = as_ticket_to_pb(g->a, t, t->decided_us))) return VC_ENOMEM;
    Approval__V1__GrantQuotaResponse resp = APPROVAL__V1__GRANT_QUOTA_RESPONSE__INIT;
    resp.ticket = g->out;
    return vc_idem_finish(c, req->reseller_id, "GrantQuota", req->request_id, &req->base,
                          &resp.base);
}

static int as__check_grant(vc_rpc_ctx *ctx, const Approval__V1__GrantQuotaRequest *req)
{
    int rc = vc_validate_token(ctx, "request_id", req->request_id, 64, true);
    rc = as__also(rc, vc_validate_token(ctx, "reseller_id", req->reseller_id, AS__ID_MAX, true));
    if (req->kind != AS__QUOTA_VOUCHER && req->kind != AS__QUOTA_CREDIT)
        rc = vc_rpc_invalid(ctx, "kind", "must be VOUCHER_QUOTA or CREDIT_POOL");
    if (req->amount_minor < 1 || req->amount_minor > AS__AMOUNT_MAX)
        rc = vc_rpc_invalid(ctx, "amount_minor", "must be between 1 and %lld", AS__AMOUNT_MAX);
    if (!vc_currency_valid(req->currency_code))
        rc = vc_rpc_invalid(ctx, "currency_code", "must be a 3-letter ISO 4217 code (e.g. CNY)");
    rc = as__also(rc, vc_validate_text(ctx, "reason", req->reason, AS__REASON_MAX, true, true));
    if (rc == VC_GRPC_OK && strspn(req->reason, " \t\n") == strlen(req->reason))
        rc = vc_rpc_invalid(ctx, "reason", "must not be blank");
    return rc;
}

static int grant_quota(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Approval__V1__GrantQuotaRequest *req = req_;
    Approval__V1__GrantQuotaResponse *resp = resp_;
    as_app *app = vc_rpc_service_data(ctx);
    int rc = as__check_grant(ctx, req);
    if (rc != VC_GRPC_OK) return rc;
    as__grant g = {.req = req, .staff = as__staff(ctx), .a = vc_rpc_arena(ctx)};
    rc = vc_db_tx(app->db, as__grant_tx, &g);
    /* A concurrent call with the same request_id committed first: replay its answer. */
    if (rc == VC_EEXIST) rc = vc_db_tx(app->db, as__grant_tx, &g);
    if (rc == VC_ECONFLICT && g.why != AS__OK) return as__refuse(ctx, g.why, "", &g.t);
    if (rc < 0) return vc_rpc_fail(ctx, rc, "grant quota");
    resp->ticket = g.out;
    return VC_GRPC_OK;
}

/* ---- service table -----------------------------------------------------------------------------
 */

static const vc_rpc_method as_staff_methods[] = {
    {.name = "ListTickets", .unary = list_tickets},
    {.name = "GetTicket", .unary = get_ticket},
    {.name = "ClaimTicket", .unary = claim_ticket},
    {.name = "ApproveTicket", .unary = approve_ticket},
    {.name = "RejectTicket", .unary = reject_ticket},
    {.name = "GetQueueStats", .unary = get_queue_stats},
    {.name = "GrantQuota", .unary = grant_quota},
};

static vc_rpc_service as_staff_table = {
    .descriptor = &approval__v1__staff_service__descriptor,
    .methods = as_staff_methods,
    .n_methods = sizeof(as_staff_methods) / sizeof(as_staff_methods[0]),
    .roles = VC_ROLE_STAFF,
};

const vc_rpc_service *as_staff_service(as_app *app)
{
    as_staff_table.data = app;
    return &as_staff_table;
}
