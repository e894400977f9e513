/*
 * quota.c - reseller.v1.QuotaService: the reseller's voucher quota and credit pool (SPEC §1,
 * §4), their ledger, and applications to the provider for more.
 *
 * Balances are read from the ledger accounts (common/ledger); nothing here moves money. An
 * application only records the request and queues a SubmitReview for approval-svc through the
 * outbox, in the same transaction: the balance grows when the review callback grants it
 * (callbacks.c). Reads never create rows: a reseller not seen yet simply has zero balances in
 * the configured default currency.
 *
 * Callers: resellers for their own tenant; staff and service callers for any reseller, named in
 * reseller_id (rs_tenant). ApplyForQuota is the reseller's own act: staff grant through
 * approval-svc instead, so it admits the reseller role only.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "approval/v1/review_service.pb-c.h"
#include "base/vc_money.h"
#include "db/vc_idem.h"
#include "ledger/vc_ledger.h"
#include "outbox/vc_outbox.h"
#include "reseller/v1/quota_service.pb-c.h"
#include "rpc/vc_page.h"
#include "rs.h"

#define RS_APPLY_MAX_MINOR     10000000000000LL /* 1e13 minor units per application */
#define RS_JUSTIFICATION_MAX 1000 /* characters, as the API says */
#define RS_SUBMIT_REVIEW_TOPIC "/approval.v1.ReviewService/SubmitReview"

/* ---- shared helpers ------------------------------------------------------------------------ */

/* Runs fn on a leased connection outside a transaction. Reads need no BEGIN/COMMIT round trips,
   and under READ COMMITTED a transaction would not make several reads consistent anyway. */
/* A Timestamp for a nullable microsecond column: *out stays NULL for SQL NULL. */
static int rs__col_ts(vc_db_rows *r, unsigned col, vc_arena *a, Google__Protobuf__Timestamp **out)
{
    int64_t us;
    *out = NULL;
    if (vc_db_get_i64(r, col, &us) != 0) return 0;
    *out = vc_ts_new(a, us);
    return *out ? 0 : VC_ENOMEM;
}

/* ---- GetQuota ------------------------------------------------------------------------------ */

struct rs__quota {
    rs_app *app;
    const char *tenant;
    char currency[4];
    int64_t own_cost;
    vc_ledger_balance voucher, pool;
};

static int rs__quota_read(vc_db_conn *c, void *arg)
{
    struct rs__quota *q = arg;
    vc_db_rows *rows;
    int rc = vc_db_query(c,
                         "SELECT currency_code, own_cost_issued_minor FROM resellers "
                         "WHERE reseller_id = ?",
                         VC_DB_ARGS(vc_db_str(q->tenant)), &rows);
    if (rc < 0) return rc;
    rc = vc_db_next(rows);
    if (rc == 1) {
        rc = vc_db_copy_str(rows, 0, q->currency, sizeof(q->currency));
        q->own_cost = vc_db_i64_or(rows, 1, 0);
    } else if (rc == 0) {
        /* First contact has not happened: report what it would create, create nothing. */
        snprintf(q->currency, sizeof(q->currency), "%s", q->app->cfg->currency);
        q->own_cost = 0;
    }
    vc_db_rows_close(rows);
    if (rc < 0) return rc;
    rc = vc_ledger_balance_of(c, q->tenant, VC_ACCOUNT_VOUCHER_QUOTA, "", &q->voucher);
    if (rc < 0) return rc;
    return vc_ledger_balance_of(c, q->tenant, VC_ACCOUNT_CREDIT_POOL, "", &q->pool);
}

static int get_quota(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Reseller__V1__GetQuotaRequest *req = req_;
    Reseller__V1__GetQuotaResponse *resp = resp_;
    rs_app *app = vc_rpc_service_data(ctx);
    vc_arena *a = vc_rpc_arena(ctx);
    char tenant[64];
    int code = rs_tenant(ctx, req->reseller_id, "reseller_id", tenant);
    if (code != VC_GRPC_OK) return code;

    struct rs__quota q = {.app = app, .tenant = tenant};
    int rc = vc_db_run(app->db, rs__quota_read, &q);
    if (rc < 0) return rs_fail(ctx, rc, "read quota");

    Reseller__V1__VoucherQuota *vq = vc_arena_alloc(a, sizeof(*vq));
    Reseller__V1__CreditPool *cp = vc_arena_alloc(a, sizeof(*cp));
    resp->reseller_id = vc_arena_strdup(a, tenant);
    resp->currency_code = vc_arena_strdup(a, q.currency);
    if (!vq || !cp || !resp->reseller_id || !resp->currency_code)
        return rs_fail(ctx, VC_ENOMEM, "get quota");
    reseller__v1__voucher_quota__init(vq);
    reseller__v1__credit_pool__init(cp);
    vq->granted_minor = q.voucher.granted_minor;
    vq->consumed_minor = q.voucher.debited_minor;
    vq->returned_minor = q.voucher.returned_minor;
    vq->remaining_minor = q.voucher.balance_minor;
    /* Deallocations are the pool's "returned": what customers hold now is the difference. */
    cp->granted_minor = q.pool.granted_minor;
    if (!vc_money_sub(q.pool.debited_minor, q.pool.returned_minor, &cp->allocated_minor))
        return rs_fail(ctx, VC_EOVERFLOW, "credit pool allocated");
    cp->remaining_minor = q.pool.balance_minor;
    resp->voucher_quota = vq;
    resp->credit_pool = cp;
    resp->own_cost_issued_minor = q.own_cost;
    return VC_GRPC_OK;
}

/* ---- ListQuotaEntries ---------------------------------------------------------------------- */

#define RS_ENTRY_COLS                                                                              \
    "entry_id, account, kind, amount_minor, currency_code, balance_before_minor, "                 \
    "balance_after_minor, reference_type, reference_id, reason, operator_id, created_us"

/* Every filter is always present (open bounds and "all kinds" when unset) so the statement text
   stays fixed; only the reference filter changes it, because it changes the index to use. The
   owner_id = '' guard keeps customer-credit entries (account 3) out whatever the account list. */
static const char rs_entries_sql[] =
    "SELECT " RS_ENTRY_COLS " FROM ledger_entries "
    "WHERE reseller_id = ? AND account IN (?, ?) AND owner_id = '' "
    "AND kind IN (?, ?, ?, ?, ?) AND created_us >= ? AND created_us < ? AND entry_id < ? "
    "ORDER BY entry_id DESC LIMIT ?";
static const char rs_entries_ref_sql[] =
    "SELECT " RS_ENTRY_COLS " FROM ledger_entries "
    "WHERE reseller_id = ? AND reference_id = ? AND account IN (?, ?) AND owner_id = '' "
    "AND kind IN (?, ?, ?, ?, ?) AND created_us >= ? AND created_us < ? AND entry_id < ? "
    "ORDER BY entry_id DESC LIMIT ?";

#define RS_N_ENTRY_KINDS 5

struct rs__entries {
    vc_arena *arena;
    const char *tenant;
    const char *reference_id; /* NULL = any */
    int accounts[2];
    int kinds[RS_N_ENTRY_KINDS]; /* padded by repetition */
    int64_t start, end;
    vc_page page;
    Reseller__V1__LedgerEntry **out;
    size_t n;
    bool more;
    uint64_t last_id;
};

static int rs__entry_from_row(vc_db_rows *r, struct rs__entries *q, Reseller__V1__LedgerEntry **out)
{
    vc_arena *a = q->arena;
    Reseller__V1__LedgerEntry *e = vc_arena_alloc(a, sizeof(*e));
    if (!e) return VC_ENOMEM;
    reseller__v1__ledger_entry__init(e);
    uint64_t id = 0;
    vc_db_get_u64(r, 0, &id);
    e->entry_id = vc_arena_sprintf(a, "%" PRIu64, id);
    e->reseller_id = vc_arena_strdup(a, q->tenant);
    e->account = (Reseller__V1__QuotaKind)vc_db_i64_or(r, 1, 0);
    e->kind = (Reseller__V1__LedgerEntryKind)vc_db_i64_or(r, 2, 0);
    e->amount_minor = vc_db_i64_or(r, 3, 0);
    e->currency_code = vc_db_arena_str(r, 4, a);
    e->balance_before_minor = vc_db_i64_or(r, 5, 0);
    e->balance_after_minor = vc_db_i64_or(r, 6, 0);
    e->reference_type = (Reseller__V1__ReferenceType)vc_db_i64_or(r, 7, 0);
    e->reference_id = vc_db_arena_str(r, 8, a);
    e->reason = vc_db_arena_str(r, 9, a);
    e->operator_id = vc_db_arena_str(r, 10, a);
    e->create_time = vc_ts_new(a, vc_db_i64_or(r, 11, 0));
    if (!e->entry_id || !e->reseller_id || !e->currency_code || !e->reference_id || !e->reason ||
        !e->operator_id || !e->create_time)
        return VC_ENOMEM;
    q->last_id = id;
    *out = e;
    return 0;
}

static int rs__entries_read(vc_db_conn *c, void *arg)
{
    struct rs__entries *q = arg;
    vc_db_param p[14];
    size_t n = 0;
    p[n++] = vc_db_str(q->tenant);
    if (q->reference_id) p[n++] = vc_db_str(q->reference_id);
    for (int i = 0; i < 2; i++)
        p[n++] = vc_db_i64(q->accounts[i]);
    for (int i = 0; i < RS_N_ENTRY_KINDS; i++)
        p[n++] = vc_db_i64(q->kinds[i]);
    p[n++] = vc_db_i64(q->start);
    p[n++] = vc_db_i64(q->end);
    /* entry_id is unique, so the keyset position is the id alone. */
    p[n++] = q->page.has_cursor ? vc_db_i64(q->page.key) : vc_db_i64(INT64_MAX);
    p[n++] = vc_db_i64(q->page.limit + 1); /* one more than asked: is there a next page? */

    vc_db_rows *rows;
    int rc = vc_db_query(c, q->reference_id ? rs_entries_ref_sql : rs_entries_sql, p, n, &rows);
    if (rc < 0) return rc;
    q->n = 0;
    q->more = false;
    while ((rc = vc_db_next(rows)) == 1) {
        if (q->n == (size_t)q->page.limit) {
            q->more = true;
            break;
        }
        rc = rs__entry_from_row(rows, q, &q->out[q->n]);
        if (rc < 0) break;
        q->n++;
    }
    vc_db_rows_close(rows);
    return rc < 0 ? rc : 0;
}

/* Validates the filters of ListQuotaEntries into q; reports every violation. */
static int rs__entries_parse(vc_rpc_ctx *ctx, const Reseller__V1__ListQuotaEntriesRequest *req,
                             struct rs__entries *q)
{
    int code = VC_GRPC_OK;
    if (req->account == RESELLER__V1__QUOTA_KIND__QUOTA_KIND_UNSPECIFIED) {
        q->accounts[0] = VC_ACCOUNT_VOUCHER_QUOTA;
        q->accounts[1] = VC_ACCOUNT_CREDIT_POOL;
    } else if (req->account == RESELLER__V1__QUOTA_KIND__QUOTA_KIND_VOUCHER_QUOTA ||
               req->account == RESELLER__V1__QUOTA_KIND__QUOTA_KIND_CREDIT_POOL) {
        q->accounts[0] = q->accounts[1] = (int)req->account;
    } else {
        code = vc_rpc_invalid(ctx, "account", "must be VOUCHER_QUOTA, CREDIT_POOL or unspecified");
    }
    unsigned seen = 0;
    for (size_t i = 0; i < req->n_kinds; i++) {
        int k = (int)req->kinds[i];
        if (k < VC_ENTRY_GRANT || k > VC_ENTRY_DEALLOCATE) {
            code = vc_rpc_invalid(ctx, "kinds", "contains an unknown entry kind %d", k);
            break;
        }
        seen |= 1u << k;
    }
    int nk = 0;
    for (int k = VC_ENTRY_GRANT; k <= VC_ENTRY_DEALLOCATE; k++)
        if (!seen || (seen & (1u << k))) q->kinds[nk++] = k;
    for (int i = nk; i < RS_N_ENTRY_KINDS; i++)
        q->kinds[i] = q->kinds[0];
    if (rs_check_id(ctx, "reference_id", req->reference_id, false) != VC_GRPC_OK)
        code = VC_GRPC_INVALID_ARGUMENT;
    q->reference_id = *req->reference_id ? req->reference_id : NULL;
    if (rs_check_time_range(ctx, "create_time", req->create_time, &q->start, &q->end) != VC_GRPC_OK)
        code = VC_GRPC_INVALID_ARGUMENT;
    if (vc_page_parse(ctx, req->page_size, req->page_token, &q->page) != VC_GRPC_OK)
        code = VC_GRPC_INVALID_ARGUMENT;
    return code;
}

static int list_quota_entries(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Reseller__V1__ListQuotaEntriesRequest *req = req_;
    Reseller__V1__ListQuotaEntriesResponse *resp = resp_;
    rs_app *app = vc_rpc_service_data(ctx);
    vc_arena *a = vc_rpc_arena(ctx);
    char tenant[64];
    int code = rs_tenant(ctx, req->reseller_id, "reseller_id", tenant);
    if (code != VC_GRPC_OK) return code;
    struct rs__entries q = {.arena = a, .tenant = tenant};
    code = rs__entries_parse(ctx, req, &q);
    if (code != VC_GRPC_OK) return code;

    q.out = vc_arena_calloc(a, (size_t)q.page.limit, sizeof(*q.out));
    if (!q.out) return rs_fail(ctx, VC_ENOMEM, "list quota entries");
    int rc = vc_db_run(app->db, rs__entries_read, &q);
    if (rc < 0) return rs_fail(ctx, rc, "list quota entries");
    resp->entries = q.out;
    resp->n_entries = q.n;
    if (q.more) {
        char id[24];
        snprintf(id, sizeof(id), "%" PRIu64, q.last_id);
        resp->next_page_token = vc_page_token(a, (int64_t)q.last_id, id);
        if (!resp->next_page_token) return rs_fail(ctx, VC_ENOMEM, "list quota entries");
    }
    return VC_GRPC_OK;
}

/* ---- applications: rows ---------------------------------------------------------------------- */

#define RS_APP_COLS                                                                                \
    "application_id, reseller_id, kind, requested_minor, granted_minor, currency_code, "           \
    "justification, state, ticket_id, direct_grant, submitted_us, due_us, decided_us, "            \
    "decided_by, reason, request_id"

/* An Application from a row selected with RS_APP_COLS (arena). */
static int rs__app_from_row(vc_db_rows *r, vc_arena *a, Reseller__V1__Application **out)
{
    Reseller__V1__Application *p = vc_arena_alloc(a, sizeof(*p));
    if (!p) return VC_ENOMEM;
    reseller__v1__application__init(p);
    p->application_id = vc_db_arena_str(r, 0, a);
    p->reseller_id = vc_db_arena_str(r, 1, a);
    p->kind = (Reseller__V1__QuotaKind)vc_db_i64_or(r, 2, 0);
    p->requested_amount_minor = vc_db_i64_or(r, 3, 0);
    p->granted_amount_minor = vc_db_i64_or(r, 4, 0);
    p->currency_code = vc_db_arena_str(r, 5, a);
    p->justification = vc_db_arena_str(r, 6, a);
    p->state = (Reseller__V1__ApplicationState)vc_db_i64_or(r, 7, 0);
    p->ticket_id = vc_db_arena_str(r, 8, a);
    p->direct_grant = vc_db_i64_or(r, 9, 0) != 0;
    p->submit_time = vc_ts_new(a, vc_db_i64_or(r, 10, 0));
    p->decided_by = vc_db_arena_str(r, 13, a);
    p->reason = vc_db_arena_str(r, 14, a);
    p->request_id = vc_db_arena_str(r, 15, a);
    if (!p->application_id || !p->reseller_id || !p->currency_code || !p->justification ||
        !p->ticket_id || !p->submit_time || !p->decided_by || !p->reason || !p->request_id)
        return VC_ENOMEM;
    int rc = rs__col_ts(r, 11, a, &p->due_time);
    if (rc == 0) rc = rs__col_ts(r, 12, a, &p->decide_time);
    if (rc == 0) *out = p;
    return rc;
}

static int rs__app_load(vc_db_conn *c, vc_arena *a, const char *tenant, const char *id,
                        Reseller__V1__Application **out)
{
    vc_db_rows *rows;
    int rc = vc_db_query(c,
                         "SELECT " RS_APP_COLS " FROM applications "
                         "WHERE application_id = ? AND reseller_id = ?",
                         VC_DB_ARGS(vc_db_str(id), vc_db_str(tenant)), &rows);
    if (rc < 0) return rc;
    rc = vc_db_next(rows);
    if (rc == 1)
        rc = rs__app_from_row(rows, a, out);
    else if (rc == 0)
        rc = VC_ENOENT;
    vc_db_rows_close(rows);
    return rc;
}

/* ---- ApplyForQuota ------------------------------------------------------------------------- */

enum { RS_APPLY_OK, RS_APPLY_WRONG_CURRENCY, RS_APPLY_REUSED_ID };

struct rs__apply {
    rs_app *app;
    vc_arena *arena;
    const char *tenant;
    const Reseller__V1__ApplyForQuotaRequest *req;
    Reseller__V1__Application *result;
    int refusal; /* RS_APPLY_*: why the body rolled back, when it did so on purpose */
    char currency[4];
};

/* The review request approval-svc gets for this application (queued, delivered later). */
static int rs__apply_submit(vc_db_conn *c, const struct rs__apply *t, const char *id)
{
    Approval__V1__SubmitReviewRequest sr = APPROVAL__V1__SUBMIT_REVIEW_REQUEST__INIT;
    sr.subject_type = t->req->kind == RESELLER__V1__QUOTA_KIND__QUOTA_KIND_VOUCHER_QUOTA
                          ? APPROVAL__V1__SUBJECT_TYPE__SUBJECT_TYPE_QUOTA_APPLICATION
                          : APPROVAL__V1__SUBJECT_TYPE__SUBJECT_TYPE_CREDIT_APPLICATION;
    sr.subject_id = (char *)id;
    sr.reseller_id = (char *)t->tenant;
    sr.amount_minor = t->req->amount_minor;
    sr.currency_code = (char *)t->currency;
    sr.description = t->req->justification;
    return vc_outbox_put(c, RS_SUBMIT_REVIEW_TOPIC, &sr.base, NULL);
}

static int rs__apply_tx(vc_db_conn *c, void *arg)
{
    struct rs__apply *t = arg;
    const Reseller__V1__ApplyForQuotaRequest *req = t->req;
    t->refusal = RS_APPLY_OK;
    int rc = rs_reseller_ensure(c, t->app, t->tenant, t->currency);
    if (rc < 0) return rc;
    if (*req->currency_code && strcmp(req->currency_code, t->currency) != 0) {
        t->refusal = RS_APPLY_WRONG_CURRENCY;
        return VC_ECANCELED; /* rolls back the first-contact row too: nothing written */
    }
    /* The idempotency hash covers what the request means, not how it was spelled: an empty
       reseller_id or currency and the explicit values are the same application. */
    Reseller__V1__ApplyForQuotaRequest norm = *req;
    norm.reseller_id = (char *)t->tenant;
    norm.currency_code = t->currency;
    ProtobufCMessage *replay = NULL;
    rc = vc_idem_begin(c, t->tenant, "ApplyForQuota", req->request_id, &norm.base, t->arena,
                       &reseller__v1__apply_for_quota_response__descriptor, &replay);
    if (rc == VC_IDEM_REPLAY) {
        t->result = ((Reseller__V1__ApplyForQuotaResponse *)replay)->application;
        return 0;
    }
    if (rc == VC_IDEM_MISMATCH) {
        t->refusal = RS_APPLY_REUSED_ID;
        return VC_ECANCELED;
    }
    if (rc < 0) return rc;

    char id[VC_ID_MAX];
    rc = vc_id_new(id, "app");
    if (rc < 0) return rc;
    rc =
        vc_db_exec(c,
                   "INSERT INTO applications (application_id, reseller_id, kind, requested_minor, "
                   "currency_code, justification, state, submitted_us, request_id) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   VC_DB_ARGS(vc_db_str(id), vc_db_str(t->tenant), vc_db_i64(req->kind),
                              vc_db_i64(req->amount_minor), vc_db_str(t->currency),
                              vc_db_str(req->justification),
                              vc_db_i64(RESELLER__V1__APPLICATION_STATE__APPLICATION_STATE_PENDING),
                              vc_db_i64(vc_now_us()), vc_db_str(req->request_id)),
                   NULL);
    if (rc < 0) return rc;
    rc = rs__apply_submit(c, t, id);
    if (rc < 0) return rc;
    rc = rs__app_load(c, t->arena, t->tenant, id, &t->result);
    if (rc < 0) return rc;
    Reseller__V1__ApplyForQuotaResponse resp = RESELLER__V1__APPLY_FOR_QUOTA_RESPONSE__INIT;
    resp.application = t->result;
    return vc_idem_finish(c, t->tenant, "ApplyForQuota", req->request_id, &norm.base, &resp.base);
}

static int rs__apply_check(vc_rpc_ctx *ctx, const Reseller__V1__ApplyForQuotaRequest *req)
{
    int code = rs_check_request_id(ctx, req->request_id);
    if (req->kind != RESELLER__V1__QUOTA_KIND__QUOTA_KIND_VOUCHER_QUOTA &&
        req->kind != RESELLER__V1__QUOTA_KIND__QUOTA_KIND_CREDIT_POOL)
        code = vc_rpc_invalid(ctx, "kind", "must be VOUCHER_QUOTA or CREDIT_POOL");
    if (req->amount_minor <= 0 || req->amount_minor > RS_APPLY_MAX_MINOR)
        code = vc_rpc_invalid(ctx, "amount_minor", "must be between 1 and %lld",
                              (long long)RS_APPLY_MAX_MINOR);
    if (*req->currency_code && !vc_currency_valid(req->currency_code))
        code = vc_rpc_invalid(ctx, "currency_code", "must be a 3-letter ISO 4217 code");
    if (rs_check_text(ctx, "justification", req->justification, RS_JUSTIFICATION_MAX, true) !=
        VC_GRPC_OK)
        code = VC_GRPC_INVALID_ARGUMENT;
    return code;
}

static int apply_for_quota(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Reseller__V1__ApplyForQuotaRequest *req = req_;
    Reseller__V1__ApplyForQuotaResponse *resp = resp_;
    rs_app *app = vc_rpc_service_data(ctx);
    char tenant[64];
    int code = rs_tenant(ctx, req->reseller_id, "reseller_id", tenant);
    if (code != VC_GRPC_OK) return code;
    code = rs__apply_check(ctx, req);
    if (code != VC_GRPC_OK) return code;

    struct rs__apply t = {.app = app, .arena = vc_rpc_arena(ctx), .tenant = tenant, .req = req};
    int rc = vc_db_tx(app->db, rs__apply_tx, &t);
    if (rc == VC_EEXIST) /* a concurrent call with this request_id committed first: replay it */
        rc = vc_db_tx(app->db, rs__apply_tx, &t);
    if (t.refusal == RS_APPLY_WRONG_CURRENCY)
        return vc_rpc_invalid(ctx, "currency_code", "must be the reseller's currency %s",
                              t.currency);
    if (t.refusal == RS_APPLY_REUSED_ID)
        return vc_rpc_error(ctx, VC_GRPC_ALREADY_EXISTS,
                            "request_id was already used with different parameters");
    if (rc < 0) return rs_fail(ctx, rc, "apply for quota");
    resp->application = t.result;
    return VC_GRPC_OK;
}

/* ---- ListApplications ---------------------------------------------------------------------- */

#define RS_N_APP_STATES 4

/* One fixed statement: unset filters become "both kinds" / "any state", no cursor an open one.
   The index ix_applications_list (reseller_id, submitted_us, application_id) serves the order. */
static const char rs_apps_sql[] =
    "SELECT " RS_APP_COLS " FROM applications "
    "WHERE reseller_id = ? AND kind IN (?, ?) AND (? OR state IN (?, ?, ?, ?)) "
    "AND (submitted_us < ? OR (submitted_us = ? AND application_id < ?)) "
    "ORDER BY submitted_us DESC, application_id DESC LIMIT ?";

struct rs__apps {
    vc_arena *arena;
    const char *tenant;
    int kinds[2];
    bool any_state;
    int states[RS_N_APP_STATES]; /* padded by repetition */
    vc_page page;
    Reseller__V1__Application **out;
    size_t n;
    bool more;
};

static int rs__apps_read(vc_db_conn *c, void *arg)
{
    struct rs__apps *q = arg;
    int64_t key = q->page.has_cursor ? q->page.key : INT64_MAX;
    vc_db_rows *rows;
    int rc = vc_db_query(
        c, rs_apps_sql,
        VC_DB_ARGS(vc_db_str(q->tenant), vc_db_i64(q->kinds[0]), vc_db_i64(q->kinds[1]),
                   vc_db_bool(q->any_state), vc_db_i64(q->states[0]), vc_db_i64(q->states[1]),
                   vc_db_i64(q->states[2]), vc_db_i64(q->states[3]), vc_db_i64(key), vc_db_i64(key),
                   vc_db_str(q->page.id), vc_db_i64(q->page.limit + 1)),
        &rows);
    if (rc < 0) return rc;
    q->n = 0;
    q->more = false;
    while ((rc = vc_db_next(rows)) == 1) {
        if (q->n == (size_t)q->page.limit) {
            q->more = true;
            break;
        }
        rc = rs__app_from_row(rows, q->arena, &q->out[q->n]);
        if (rc < 0) break;
        q->n++;
    }
    vc_db_rows_close(rows);
    return rc < 0 ? rc : 0;
}

static int rs__apps_parse(vc_rpc_ctx *ctx, const Reseller__V1__ListApplicationsRequest *req,
                          struct rs__apps *q)
{
    int code = VC_GRPC_OK;
    if (req->kind == RESELLER__V1__QUOTA_KIND__QUOTA_KIND_UNSPECIFIED) {
        q->kinds[0] = VC_ACCOUNT_VOUCHER_QUOTA;
        q->kinds[1] = VC_ACCOUNT_CREDIT_POOL;
    } else if (req->kind == RESELLER__V1__QUOTA_KIND__QUOTA_KIND_VOUCHER_QUOTA ||
               req->kind == RESELLER__V1__QUOTA_KIND__QUOTA_KIND_CREDIT_POOL) {
        q->kinds[0] = q->kinds[1] = (int)req->kind;
    } else {
        code = vc_rpc_invalid(ctx, "kind", "must be VOUCHER_QUOTA, CREDIT_POOL or unspecified");
    }
    unsigned seen = 0;
    for (size_t i = 0; i < req->n_states; i++) {
        int s = (int)req->states[i];
        if (s < RESELLER__V1__APPLICATION_STATE__APPLICATION_STATE_PENDING ||
            s > RESELLER__V1__APPLICATION_STATE__APPLICATION_STATE_CANCELLED) {
            code = vc_rpc_invalid(ctx, "states", "contains an unknown application state %d", s);
            break;
        }
        seen |= 1u << s;
    }
    q->any_state = seen == 0;
    int ns = 0;
    for (int s = 1; s <= RS_N_APP_STATES; s++)
        if (seen & (1u << s)) q->states[ns++] = s;
    for (int i = ns; i < RS_N_APP_STATES; i++)
        q->states[i] = ns ? q->states[0] : 0;
    if (vc_page_parse(ctx, req->page_size, req->page_token, &q->page) != VC_GRPC_OK)
        code = VC_GRPC_INVALID_ARGUMENT;
    return code;
}

static int list_applications(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Reseller__V1__ListApplicationsRequest *req = req_;
    Reseller__V1__ListApplicationsResponse *resp = resp_;
    rs_app *app = vc_rpc_service_data(ctx);
    vc_arena *a = vc_rpc_arena(ctx);
    char tenant[64];
    int code = rs_tenant(ctx, req->reseller_id, "reseller_id", tenant);
    if (code != VC_GRPC_OK) return code;
    struct rs__apps q = {.arena = a, .tenant = tenant};
    code = rs__apps_parse(ctx, req, &q);
    if (code != VC_GRPC_OK) return code;

    q.out = vc_arena_calloc(a, (size_t)q.page.limit, sizeof(*q.out));
    if (!q.out) return rs_fail(ctx, VC_ENOMEM, "list applications");
    int rc = vc_db_run(app->db, rs__apps_read, &q);
    if (rc < 0) return rs_fail(ctx, rc, "list applications");
    resp->applications = q.out;
    resp->n_applications = q.n;
    if (q.more) {
        const Reseller__V1__Application *last = q.out[q.n - 1];
        int64_t key = 0;
        vc_ts_to_us(last->submit_time, &key);
        resp->next_page_token = vc_page_token(a, key, last->application_id);
        if (!resp->next_page_token) return rs_fail(ctx, VC_ENOMEM, "list applications");
    }
    return VC_GRPC_OK;
}

/* ---- table --------------------------------------------------------------------------------- */

static const vc_rpc_method rs_quota_methods[] = {
    {.name = "GetQuota", .unary = get_quota},
    {.name = "ListQuotaEntries", .unary = list_quota_entries},
    {.name = "ApplyForQuota", .unary = apply_for_quota, .roles = VC_ROLE_RESELLER},
    {.name = "ListApplications", .unary = list_applications},
};

static vc_rpc_service rs_quota_table = {
    .descriptor = &reseller__v1__quota_service__descriptor,
    .methods = rs_quota_methods,
    .n_methods = sizeof(rs_quota_methods) / sizeof(rs_quota_methods[0]),
    .roles = VC_ROLE_RESELLER | VC_ROLE_STAFF | VC_ROLE_SERVICE,
};

const vc_rpc_service *rs_quota_service(rs_app *app)
{
    rs_quota_table.data = app;
    return &rs_quota_table;
}
