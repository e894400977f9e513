/*
 * customers.c - reseller.v1.CustomerService: the reseller's customer list with each customer's
 * credit, SetCustomerCredit and its allocation records, and the stored credit alarms (SPEC §4).
 *
 * A customer is a cloud account id registered by exactly one reseller (customers.customer_id is
 * the primary key). CreateCustomer is idempotent by nature: registering the same account with
 * the same details again answers the existing customer, so a client may simply retry it.
 *
 * Credit (model in credit.h): SetCustomerCredit moves money between the reseller's credit pool
 * and the customer's credit account through the ledger, in one transaction that first locks the
 * customer's credit row; every change is a credit_allocations row. The live alert stream
 * (WatchCreditAlerts) is alerts_hub.c.
 *
 * Callers: resellers only, on their own customers; another reseller's customer is NOT_FOUND
 * and never listed, nor are its allocations or alerts.
 */
#include "customers.h"

#include <stdio.h>
#include <string.h>

#include "base/vc_money.h"
#include "credit.h"
#include "db/vc_idem.h"
#include "ledger/vc_ledger.h"
#include "reseller/v1/customer_service.pb-c.h"
#include "rpc/vc_page.h"
#include "rs.h"

#define RS_NAME_MAX           128
#define RS_EMAIL_MAX          254
#define RS_PHONE_MAX          32
#define RS_REMARKS_MAX        1024
#define RS_QUERY_MAX          254
#define RS_CREDIT_REMARKS_MAX 1000 /* characters, as the API says */
#define RS_OPERATOR_MAX       128

/* ---- shared helpers ------------------------------------------------------------------------ */

/* True when column `col` holds exactly `s`. */
static bool rs__col_eq(vc_db_rows *r, unsigned col, const char *s)
{
    const char *v;
    size_t n = 0;
    if (vc_db_get_str(r, col, &v, &n) != 0) return !*s;
    return n == strlen(s) && memcmp(v, s, n) == 0;
}

/* ---- rows ---------------------------------------------------------------------------------- */

/* The currency comes from the reseller row: a customer exists only after first contact. The
   credit is the customer's ledger account (account 3, VC_ACCOUNT_CUSTOMER_CREDIT), the usage its
   customer_credit row; either may not exist yet (zero). One statement per page, however many
   customers it holds. */
_Static_assert(VC_ACCOUNT_CUSTOMER_CREDIT == 3, "RS_CUSTOMER_FROM names the account by number");
#define RS_CUSTOMER_COLS                                                                           \
    "c.customer_id, c.reseller_id, c.name, c.email, c.phone, c.remarks, c.created_us, "            \
    "r.currency_code, COALESCE(la.balance_minor, 0), COALESCE(cc.used_minor, 0)"
#define RS_CUSTOMER_FROM                                                                           \
    "FROM customers c JOIN resellers r ON r.reseller_id = c.reseller_id "                          \
    "LEFT JOIN ledger_accounts la ON la.reseller_id = c.reseller_id AND la.account = 3 "           \
    "AND la.owner_id = c.customer_id "                                                             \
    "LEFT JOIN customer_credit cc ON cc.customer_id = c.customer_id "

static int rs__customer_from_row(vc_db_rows *r, vc_arena *a, Reseller__V1__Customer **out)
{
    Reseller__V1__Customer *cu = vc_arena_alloc(a, sizeof(*cu));
    if (!cu) return VC_ENOMEM;
    reseller__v1__customer__init(cu);
    rs_credit credit = {.credit_minor = vc_db_i64_or(r, 8, 0), .used_minor = vc_db_i64_or(r, 9, 0)};
    vc_db_copy_str(r, 7, credit.currency, sizeof(credit.currency));
    int64_t created = 0;
    vc_db_get_i64(r, 6, &created);
    cu->customer_id = vc_db_arena_str(r, 0, a);
    cu->reseller_id = vc_db_arena_str(r, 1, a);
    cu->name = vc_db_arena_str(r, 2, a);
    cu->email = vc_db_arena_str(r, 3, a);
    cu->phone = vc_db_arena_str(r, 4, a);
    cu->remarks = vc_db_arena_str(r, 5, a);
    cu->create_time = vc_ts_new(a, created);
    cu->credit = rs_credit_to_pb(a, &credit);
    if (!cu->customer_id || !cu->reseller_id || !cu->name || !cu->email || !cu->phone ||
        !cu->remarks || !cu->create_time || !cu->credit)
        return VC_ENOMEM;
    *out = cu;
    return 0;
}

/* The customer `id` of `tenant`, or VC_ENOENT. */
static int rs__customer_load(vc_db_conn *c, vc_arena *a, const char *tenant, const char *id,
                             Reseller__V1__Customer **out)
{
    vc_db_rows *rows;
    int rc = vc_db_query(c,
                         "SELECT " RS_CUSTOMER_COLS " " RS_CUSTOMER_FROM
                         "WHERE c.customer_id = ? AND c.reseller_id = ?",
                         VC_DB_ARGS(vc_db_str(id), vc_db_str(tenant)), &rows);
    if (rc < 0) return rc;
    rc = vc_db_next(rows);
    if (rc == 1)
        rc = rs__customer_from_row(rows, a, out);
    else if (rc == 0)
        rc = VC_ENOENT;
    vc_db_rows_close(rows);
    return rc;
}

int rs_customer_exists(vc_db_conn *c, const char *reseller_id, const char *customer_id)
{
    int64_t one = 0;
    int rc = vc_db_query_i64(c, "SELECT 1 FROM customers WHERE customer_id = ? AND reseller_id = ?",
                             VC_DB_ARGS(vc_db_str(customer_id), vc_db_str(reseller_id)), &one);
    return rc < 0 ? rc : 0;
}

/* ---- validation ---------------------------------------------------------------------------- */

static int rs__check_email(vc_rpc_ctx *ctx, const char *field, const char *v)
{
    if (!*v) return VC_GRPC_OK;
    if (strlen(v) > RS_EMAIL_MAX)
        return vc_rpc_invalid(ctx, field, "must be at most %d characters", RS_EMAIL_MAX);
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return vc_rpc_invalid(ctx, field, "must not contain spaces or control characters");
    const char *at = strchr(v, '@');
    if (!at || at == v || !at[1] || strchr(at + 1, '@'))
        return vc_rpc_invalid(ctx, field, "must be an address of the form name@domain");
    return VC_GRPC_OK;
}

static int rs__check_phone(vc_rpc_ctx *ctx, const char *field, const char *v)
{
    if (!*v) return VC_GRPC_OK;
    if (strlen(v) > RS_PHONE_MAX)
        return vc_rpc_invalid(ctx, field, "must be at most %d characters", RS_PHONE_MAX);
    bool digit = false;
    for (const char *p = v; *p; p++) {
        if (*p >= '0' && *p <= '9')
            digit = true;
        else if (!strchr(" +-()", *p))
            return vc_rpc_invalid(ctx, field, "may contain only digits, spaces and + - ( )");
    }
    return digit ? VC_GRPC_OK : vc_rpc_invalid(ctx, field, "must contain a digit");
}

/* Checks the writable fields of a Customer (credit, reseller_id and create_time are output
   only and ignored); reports every violation. */
static int rs__check_customer(vc_rpc_ctx *ctx, const Reseller__V1__Customer *cu)
{
    if (!cu) return vc_rpc_invalid(ctx, "customer", "is required");
    int code = VC_GRPC_OK;
    if (rs_check_id(ctx, "customer.customer_id", cu->customer_id, true) != VC_GRPC_OK)
        code = VC_GRPC_INVALID_ARGUMENT;
    if (rs_check_text(ctx, "customer.name", cu->name, RS_NAME_MAX, true) != VC_GRPC_OK)
        code = VC_GRPC_INVALID_ARGUMENT;
    if (rs__check_email(ctx, "customer.email", cu->email) != VC_GRPC_OK)
        code = VC_GRPC_INVALID_ARGUMENT;
    if (rs__check_phone(ctx, "customer.phone", cu->phone) != VC_GRPC_OK)
        code = VC_GRPC_INVALID_ARGUMENT;
    if (rs_check_text(ctx, "customer.remarks", cu->remarks, RS_REMARKS_MAX, false) != VC_GRPC_OK)
        code = VC_GRPC_INVALID_ARGUMENT;
    return code;
}

/* ---- CreateCustomer ------------------------------------------------------------------------ */

enum { RS_CREATE_OK, RS_CREATE_OTHER_RESELLER, RS_CREATE_DIFFERENT };

struct rs__create {
    rs_app *app;
    vc_arena *arena;
    const char *tenant;
    const Reseller__V1__Customer *in;
    Reseller__V1__Customer *out;
    int refusal; /* RS_CREATE_*: why the body rolled back, when it did so on purpose */
};

/* The account id is taken. The same customer again is a retry of this create; anything else is
   a conflict the caller has to resolve. */
static int rs__create_existing(vc_db_conn *c, struct rs__create *t)
{
    const Reseller__V1__Customer *in = t->in;
    vc_db_rows *rows;
    int rc = vc_db_query(c,
                         "SELECT reseller_id, name, email, phone, remarks FROM customers "
                         "WHERE customer_id = ?",
                         VC_DB_ARGS(vc_db_str(in->customer_id)), &rows);
    if (rc < 0) return rc;
    rc = vc_db_next(rows);
    if (rc == 1) {
        rc = 0;
        if (!rs__col_eq(rows, 0, t->tenant))
            t->refusal = RS_CREATE_OTHER_RESELLER;
        else if (!rs__col_eq(rows, 1, in->name) || !rs__col_eq(rows, 2, in->email) ||
                 !rs__col_eq(rows, 3, in->phone) || !rs__col_eq(rows, 4, in->remarks))
            t->refusal = RS_CREATE_DIFFERENT;
    } else if (rc == 0) {
        rc = VC_ENOENT; /* duplicate key but no row: customers are never deleted */
    }
    vc_db_rows_close(rows);
    if (rc == 0 && t->refusal != RS_CREATE_OK)
        rc = VC_ECANCELED; /* roll back: nothing written, not even first contact */
    return rc;
}

static int rs__create_tx(vc_db_conn *c, void *arg)
{
    struct rs__create *t = arg;
    const Reseller__V1__Customer *in = t->in;
    t->refusal = RS_CREATE_OK;
    char currency[4];
    int rc = rs_reseller_ensure(c, t->app, t->tenant, currency);
    if (rc < 0) return rc;
    rc = vc_db_exec(c,
                    "INSERT INTO customers (customer_id, reseller_id, name, email, phone, remarks, "
                    "created_us) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    VC_DB_ARGS(vc_db_str(in->customer_id), vc_db_str(t->tenant),
                               vc_db_str(in->name), vc_db_str(in->email), vc_db_str(in->phone),
                               vc_db_str(in->remarks), vc_db_i64(vc_now_us())),
                    NULL);
    if (rc == VC_EEXIST) rc = rs__create_existing(c, t);
    if (rc < 0) return rc;
    return rs__customer_load(c, t->arena, t->tenant, in->customer_id, &t->out);
}

static int create_customer(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Reseller__V1__CreateCustomerRequest *req = req_;
    Reseller__V1__CreateCustomerResponse *resp = resp_;
    rs_app *app = vc_rpc_service_data(ctx);
    char tenant[64];
    int code = rs_tenant(ctx, NULL, "reseller_id", tenant);
    if (code != VC_GRPC_OK) return code;
    code = rs__check_customer(ctx, req->customer);
    if (code != VC_GRPC_OK) return code;

    struct rs__create t = {
        .app = app, .arena = vc_rpc_arena(ctx), .tenant = tenant, .in = req->customer};
    int rc = vc_db_tx(app->db, rs__create_tx, &t);
    /* Whose customer it is stays undisclosed: the account id is all the caller learns about. */
    if (t.refusal == RS_CREATE_OTHER_RESELLER)
        return vc_rpc_error(ctx, VC_GRPC_ALREADY_EXISTS,
                            "customer account is registered with another reseller");
    if (t.refusal == RS_CREATE_DIFFERENT)
        return vc_rpc_error(ctx, VC_GRPC_ALREADY_EXISTS,
                            "customer %s already exists with different details",
                            req->customer->customer_id);
    if (rc < 0) return rs_fail(ctx, rc, "create customer");
    resp->customer = t.out;
    return VC_GRPC_OK;
}

/* ---- GetCustomer --------------------------------------------------------------------------- */

struct rs__get {
    vc_arena *arena;
    const char *tenant;
    const char *id;
    Reseller__V1__Customer *out;
};

static int rs__get_read(vc_db_conn *c, void *arg)
{
    struct rs__get *g = arg;
    return rs__customer_load(c, g->arena, g->tenant, g->id, &g->out);
}

static int get_customer(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Reseller__V1__GetCustomerRequest *req = req_;
    Reseller__V1__GetCustomerResponse *resp = resp_;
    rs_app *app = vc_rpc_service_data(ctx);
    char tenant[64];
    int code = rs_tenant(ctx, NULL, "reseller_id", tenant);
    if (code != VC_GRPC_OK) return code;
    code = rs_check_id(ctx, "customer_id", req->customer_id, true);
    if (code != VC_GRPC_OK) return code;
    struct rs__get g = {.arena = vc_rpc_arena(ctx), .tenant = tenant, .id = req->customer_id};
    int rc = vc_db_run(app->db, rs__get_read, &g);
    if (rc == VC_ENOENT)
        return vc_rpc_error(ctx, VC_GRPC_NOT_FOUND, "customer %s not found", req->customer_id);
    if (rc < 0) return rs_fail(ctx, rc, "get customer");
    resp->customer = g.out;
    return VC_GRPC_OK;
}

/* ---- ListCustomers ------------------------------------------------------------------------- */

/* One fixed statement: no query matches everything, no cursor starts at the newest. The id is
   converted so that its match is case-insensitive like the name's and the email's. Exhausted is
   rs_credit_exhausted() in SQL: nothing available while there is credit or usage (a customer
   that never had credit has nothing to exhaust). */
#define RS_CREDIT_SQL "COALESCE(la.balance_minor, 0)"
#define RS_USED_SQL   "COALESCE(cc.used_minor, 0)"
static const char rs_customers_sql[] =
    "SELECT " RS_CUSTOMER_COLS " " RS_CUSTOMER_FROM "WHERE c.reseller_id = ? "
    "AND (? OR c.name LIKE ? ESCAPE '!' OR c.email LIKE ? ESCAPE '!' "
    "OR CONVERT(c.customer_id USING utf8mb4) LIKE ? ESCAPE '!') "
    "AND (? OR (" RS_CREDIT_SQL " <= " RS_USED_SQL " AND (" RS_CREDIT_SQL " > 0 OR " RS_USED_SQL
    " > 0))) "
    "AND (c.created_us < ? OR (c.created_us = ? AND c.customer_id < ?)) "
    "ORDER BY c.created_us DESC, c.customer_id DESC LIMIT ?";

struct rs__list {
    vc_arena *arena;
    const char *tenant;
    bool exhausted_only;
    const char *pattern; /* NULL = no query */
    vc_page page;
    Reseller__V1__Customer **out;
    size_t n;
    bool more;
    int64_t last_created;
};

/* "%<query>%" with LIKE's wildcards (and the escape character) taken literally. */
static char *rs__like_pattern(vc_arena *a, const char *q)
{
    char *p = vc_arena_alloc(a, 2 * strlen(q) + 3);
    if (!p) return NULL;
    size_t n = 0;
    p[n++] = '%';
    for (; *q; q++) {
        if (*q == '%' || *q == '_' || *q == '!') p[n++] = '!';
        p[n++] = *q;
    }
    p[n++] = '%';
    p[n] = '\0';
    return p;
}

static int rs__list_read(vc_db_conn *c, void *arg)
{
    struct rs__list *q = arg;
    int64_t key = q->page.has_cursor ? q->page.key : INT64_MAX;
    const char *pat = q->pattern ? q->pattern : "%";
    vc_db_rows *rows;
    int rc = vc_db_query(c, rs_customers_sql,
                         VC_DB_ARGS(vc_db_str(q->tenant), vc_db_bool(!q->pattern), vc_db_str(pat),
                                    vc_db_str(pat), vc_db_str(pat), vc_db_bool(!q->exhausted_only),
                                    vc_db_i64(key), vc_db_i64(key), vc_db_str(q->page.id),
                                    vc_db_i64(q->page.limit + 1)),
                         &rows);
    if (rc < 0) return rc;
    q->n = 0;
    q->more = false;
    while ((rc = vc_db_next(rows)) == 1) {
        if (q->n == (size_t)q->page.limit) {
            q->more = true;
            break;
        }
        rc = rs__customer_from_row(rows, q->arena, &q->out[q->n]);
        if (rc < 0) break;
        vc_db_get_i64(rows, 6, &q->last_created);
        q->n++;
    }
    vc_db_rows_close(rows);
    return rc < 0 ? rc : 0;
}

static int list_customers(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Reseller__V1__ListCustomersRequest *req = req_;
    Reseller__V1__ListCustomersResponse *resp = resp_;
    rs_app *app = vc_rpc_service_data(ctx);
    vc_arena *a = vc_rpc_arena(ctx);
    char tenant[64];
    int code = rs_tenant(ctx, NULL, "reseller_id", tenant);
    if (code != VC_GRPC_OK) return code;
    struct rs__list q = {.arena = a, .tenant = tenant, .exhausted_only = req->exhausted_only};
    code = rs_check_text(ctx, "query", req->query, RS_QUERY_MAX, false);
    if (vc_page_parse(ctx, req->page_size, req->page_token, &q.page) != VC_GRPC_OK)
        code = VC_GRPC_INVALID_ARGUMENT;
    if (code != VC_GRPC_OK) return code;

    if (*req->query && !(q.pattern = rs__like_pattern(a, req->query)))
        return rs_fail(ctx, VC_ENOMEM, "list customers");
    q.out = vc_arena_calloc(a, (size_t)q.page.limit, sizeof(*q.out));
    if (!q.out) return rs_fail(ctx, VC_ENOMEM, "list customers");
    int rc = vc_db_run(app->db, rs__list_read, &q);
    if (rc < 0) return rs_fail(ctx, rc, "list customers");
    resp->customers = q.out;
    resp->n_customers = q.n;
    if (q.more) {
        resp->next_page_token = vc_page_token(a, q.last_created, q.out[q.n - 1]->customer_id);
        if (!resp->next_page_token) return rs_fail(ctx, VC_ENOMEM, "list customers");
    }
    return VC_GRPC_OK;
}

/* ---- SetCustomerCredit --------------------------------------------------------------------- */

struct rs__set {
    rs_app *app;
    vc_arena *arena;
    const char *tenant;
    const char *operator_id;
    const Reseller__V1__SetCustomerCreditRequest *req;
    Reseller__V1__SetCustomerCreditResponse *resp;
    rs_credit_refusal no;
};

/* What one change did: the allocation id, the customer's credit around it, the pool after it. */
struct rs__move {
    char id[VC_ID_MAX];
    int64_t before, after, pool_after;
};

/* The reseller's currency, when customer_id is one of its customers (VC_ENOENT otherwise). */
static int rs__customer_currency(vc_db_conn *c, const char *tenant, const char *id, char cur[4])
{
    vc_db_rows *rows;
    int rc = vc_db_query(c,
                         "SELECT r.currency_code FROM customers c JOIN resellers r "
                         "ON r.reseller_id = c.reseller_id "
                         "WHERE c.customer_id = ? AND c.reseller_id = ?",
                         VC_DB_ARGS(vc_db_str(id), vc_db_str(tenant)), &rows);
    if (rc < 0) return rc;
    rc = vc_db_next(rows);
    if (rc == 1)
        rc = vc_db_copy_str(rows, 0, cur, 4);
    else if (rc == 0)
        rc = VC_ENOENT;
    vc_db_rows_close(rows);
    return rc;
}

/* The two postings of a change. An allocation debits the pool first (it may not exceed what is
   left); a withdrawal debits the customer first, keeping at least `used` (it may not take
   credit the customer already used). Either debit is one conditional UPDATE: no race can
   overdraw. */
static int rs__move_credit(vc_db_conn *c, struct rs__set *t, const rs_credit *cr,
                           struct rs__move *m)
{
    const Reseller__V1__SetCustomerCreditRequest *req = t->req;
    bool allocate = req->amount_minor > 0;
    int64_t x = allocate ? req->amount_minor : -req->amount_minor; /* |amount| <= 1e13 */
    char pool_ref[80], cust_ref[80], reason[128], money[VC_MONEY_FMT_MAX];
    snprintf(pool_ref, sizeof(pool_ref), "alloc:%s:pool", m->id);
    snprintf(cust_ref, sizeof(cust_ref), "alloc:%s:customer", m->id);
    snprintf(reason, sizeof(reason), "credit %s customer %s",
             allocate ? "allocated to" : "withdrawn from", req->customer_id);
    vc_ledger_posting pool = {.reseller_id = t->tenant,
                              .account = VC_ACCOUNT_CREDIT_POOL,
                              .currency_code = cr->currency,
                              .kind = allocate ? VC_ENTRY_ALLOCATE : VC_ENTRY_DEALLOCATE,
                              .amount_minor = x,
                              .reference_type =
                                  RESELLER__V1__REFERENCE_TYPE__REFERENCE_TYPE_CREDIT_ALLOCATION,
                              .reference_id = m->id,
                              .idem_ref = pool_ref,
                              .reason = reason,
                              .operator_id = t->operator_id};
    vc_ledger_posting cust = pool;
    cust.account = VC_ACCOUNT_CUSTOMER_CREDIT;
    cust.owner_id = req->customer_id;
    cust.kind = allocate ? VC_ENTRY_GRANT : VC_ENTRY_CONSUME;
    cust.idem_ref = cust_ref;
    cust.keep_minor = allocate ? 0 : cr->used_minor;

    int rc;
    if (allocate) {
        rc = vc_ledger_post(c, &pool, NULL, &m->pool_after);
        if (rc == VC_ECONFLICT) {
            vc_ledger_balance b;
            if ((rc = vc_ledger_balance_of(c, t->tenant, VC_ACCOUNT_CREDIT_POOL, "", &b)) < 0)
                return rc;
            vc_money_format(b.balance_minor, cr->currency, money, sizeof(money));
            return rs_credit_refuse(&t->no, VC_GRPC_FAILED_PRECONDITION, NULL,
                                    "the credit pool has only %s left", money);
        }
        if (rc == 0) rc = vc_ledger_post(c, &cust, &m->before, &m->after);
        return rc;
    }
    rc = vc_ledger_post(c, &cust, &m->before, &m->after);
    if (rc == VC_ECONFLICT) {
        vc_money_format(rs_credit_available(cr), cr->currency, money, sizeof(money));
        return rs_credit_refuse(&t->no, VC_GRPC_FAILED_PRECONDITION, NULL,
                                "available credit is only %s", money);
    }
    if (rc == 0) rc = vc_ledger_post(c, &pool, NULL, &m->pool_after);
    return rc;
}

/* The allocation record, stored and as a message (arena). */
static int rs__record(vc_db_conn *c, struct rs__set *t, const rs_credit *cr,
                      const struct rs__move *m, Reseller__V1__CreditAllocation **out)
{
    const Reseller__V1__SetCustomerCreditRequest *req = t->req;
    int64_t now = vc_now_us();
    int rc = vc_db_exec(
        c,
        "INSERT INTO credit_allocations (allocation_id, reseller_id, customer_id, amount_minor, "
        "currency_code, operator_id, request_id, remarks, credit_before_minor, "
        "credit_after_minor, used_minor, pool_remaining_after_minor, created_us) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        VC_DB_ARGS(vc_db_str(m->id), vc_db_str(t->tenant), vc_db_str(req->customer_id),
                   vc_db_i64(req->amount_minor), vc_db_str(cr->currency), vc_db_str(t->operator_id),
                   vc_db_str(req->request_id), vc_db_str(req->remarks), vc_db_i64(m->before),
                   vc_db_i64(m->after), vc_db_i64(cr->used_minor), vc_db_i64(m->pool_after),
                   vc_db_i64(now)),
        NULL);
    if (rc < 0) return rc;
    vc_arena *a = t->arena;
    Reseller__V1__CreditAllocation *al = vc_arena_alloc(a, sizeof(*al));
    if (!al) return VC_ENOMEM;
    reseller__v1__credit_allocation__init(al);
    al->allocation_id = vc_arena_strdup(a, m->id);
    al->customer_id = vc_arena_strdup(a, req->customer_id);
    al->amount_minor = req->amount_minor;
    al->currency_code = vc_arena_strdup(a, cr->currency);
    al->operator_id = vc_arena_strdup(a, t->operator_id);
    al->request_id = vc_arena_strdup(a, req->request_id);
    al->remarks = vc_arena_strdup(a, req->remarks);
    al->credit_after = rs_credit_to_pb(a, cr);
    al->pool_remaining_after_minor = m->pool_after;
    al->create_time = vc_ts_new(a, now);
    if (!al->allocation_id || !al->customer_id || !al->currency_code || !al->operator_id ||
        !al->request_id || !al->remarks || !al->credit_after || !al->create_time)
        return VC_ENOMEM;
    *out = al;
    return 0;
}

static int rs__set_tx(vc_db_conn *c, void *arg)
{
    struct rs__set *t = arg;
    const Reseller__V1__SetCustomerCreditRequest *req = t->req;
    t->resp = NULL;
    t->no.code = VC_GRPC_OK;
    char currency[4];
    int rc = rs__customer_currency(c, t->tenant, req->customer_id, currency);
    if (rc == VC_ENOENT)
        return rs_credit_refuse(&t->no, VC_GRPC_NOT_FOUND, NULL, "customer %s not found",
                                req->customer_id);
    if (rc < 0) return rc;
    if (*req->currency_code && strcmp(req->currency_code, currency) != 0)
        return rs_credit_refuse(&t->no, VC_GRPC_INVALID_ARGUMENT, "currency_code",
                                "must be the reseller's currency %s", currency);
    /* The lock comes before the idempotency lookup: a concurrent twin of this request waits
       here and then finds the first one's answer. */
    rs_credit cr;
    if ((rc = rs_credit_lock(c, t->tenant, req->customer_id, currency, &cr)) < 0) return rc;
    /* An empty currency and the explicit one are the same request. */
    Reseller__V1__SetCustomerCreditRequest norm = *req;
    norm.currency_code = currency;
    ProtobufCMessage *replay = NULL;
    rc = vc_idem_begin(c, t->tenant, "SetCustomerCredit", req->request_id, &norm.base, t->arena,
                       &reseller__v1__set_customer_credit_response__descriptor, &replay);
    if (rc == VC_IDEM_REPLAY) {
        t->resp = (Reseller__V1__SetCustomerCreditResponse *)replay;
        return 0;
    }
    if (rc == VC_IDEM_MISMATCH)
        return rs_credit_refuse(&t->no, VC_GRPC_ALREADY_EXISTS, NULL,
                                "request_id %s was already used with other parameters",
                                req->request_id);
    if (rc < 0) return rc;

    struct rs__move m;
    if ((rc = vc_id_new(m.id, "alc")) < 0) return rc;
    if ((rc = rs__move_credit(c, t, &cr, &m)) < 0) return rc;
    cr.credit_minor = m.after;
    if ((rc = rs_credit_store(c, t->arena, t->tenant, req->customer_id, &cr, m.id, NULL, NULL)) < 0)
        return rc;
    if ((rc = rs_alarm_reseller_low(c, t->app, t->tenant, VC_ACCOUNT_CREDIT_POOL, m.id)) < 0)
        return rc;
    Reseller__V1__SetCustomerCreditResponse *resp = vc_arena_alloc(t->arena, sizeof(*resp));
    if (!resp) return VC_ENOMEM;
    reseller__v1__set_customer_credit_response__init(resp);
    if ((rc = rs__record(c, t, &cr, &m, &resp->allocation)) < 0) return rc;
    if ((rc = rs__customer_load(c, t->arena, t->tenant, req->customer_id, &resp->customer)) < 0)
        return rc;
    rc =
        vc_idem_finish(c, t->tenant, "SetCustomerCredit", req->request_id, &norm.base, &resp->base);
    if (rc < 0) return rc; /* VC_EEXIST: a twin committed first; the caller replays it */
    t->resp = resp;
    return 0;
}

static int rs__set_check(vc_rpc_ctx *ctx, const Reseller__V1__SetCustomerCreditRequest *req)
{
    int code = rs_check_request_id(ctx, req->request_id);
    if (rs_check_id(ctx, "customer_id", req->customer_id, true) != VC_GRPC_OK)
        code = VC_GRPC_INVALID_ARGUMENT;
    if (req->amount_minor == 0)
        code = vc_rpc_invalid(ctx, "amount_minor", "must not be 0: > 0 allocates, < 0 withdraws");
    else if (req->amount_minor > RS_CREDIT_MAX_MINOR || req->amount_minor < -RS_CREDIT_MAX_MINOR)
        code = vc_rpc_invalid(ctx, "amount_minor", "must be between -%lld and %lld",
                              (long long)RS_CREDIT_MAX_MINOR, (long long)RS_CREDIT_MAX_MINOR);
    if (*req->currency_code && !vc_currency_valid(req->currency_code))
        code = vc_rpc_invalid(ctx, "currency_code", "must be a 3-letter ISO 4217 code");
    if (rs_check_text(ctx, "remarks", req->remarks, RS_CREDIT_REMARKS_MAX, false) != VC_GRPC_OK)
        code = VC_GRPC_INVALID_ARGUMENT;
    return code;
}

static int set_customer_credit(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Reseller__V1__SetCustomerCreditRequest *req = req_;
    Reseller__V1__SetCustomerCreditResponse *resp = resp_;
    rs_app *app = vc_rpc_service_data(ctx);
    char tenant[64];
    int code = rs_tenant(ctx, NULL, "reseller_id", tenant);
    if (code != VC_GRPC_OK) return code;
    code = rs__set_check(ctx, req);
    if (code != VC_GRPC_OK) return code;

    struct rs__set t = {.app = app,
                        .arena = vc_rpc_arena(ctx),
                        .tenant = tenant,
                        .operator_id = vc_rpc_caller(ctx)->subject,
                        .req = req};
    int rc = VC_EEXIST;
    for (int attempt = 0; attempt < 3 && rc == VC_EEXIST; attempt++)
        rc = vc_db_tx(app->db, rs__set_tx, &t);
    if (rc == RS_CREDIT_REFUSED) return rs_credit_refusal_reply(ctx, &t.no);
    if (rc < 0) return rs_fail(ctx, rc, "set customer credit");
    resp->allocation = t.resp->allocation;
    resp->customer = t.resp->customer;
    return VC_GRPC_OK;
}

/* ---- ListCreditAllocations ----------------------------------------------------------------- */

#define RS_ALLOC_COLS                                                                              \
    "allocation_id, customer_id, amount_minor, currency_code, operator_id, request_id, remarks, "  \
    "credit_after_minor, used_minor, pool_remaining_after_minor, created_us"

/* One statement per index: by customer (the operator then filters), by operator, or all. */
#define RS_ALLOC_SQL(filter)                                                                       \
    "SELECT " RS_ALLOC_COLS " FROM credit_allocations WHERE reseller_id = ? " filter               \
    "AND created_us >= ? AND created_us < ? "                                                      \
    "AND (created_us < ? OR (created_us = ? AND allocation_id < ?)) "                              \
    "ORDER BY created_us DESC, allocation_id DESC LIMIT ?"
static const char rs_allocs_sql[] = RS_ALLOC_SQL("");
static const char rs_allocs_customer_sql[] =
    RS_ALLOC_SQL("AND customer_id = ? AND (? OR operator_id = ?) ");
static const char rs_allocs_operator_sql[] = RS_ALLOC_SQL("AND operator_id = ? ");

struct rs__allocs {
    vc_arena *arena;
    const char *tenant;
    const char *customer_id; /* NULL = any */
    const char *operator_id; /* NULL = any */
    int64_t start, end;
    vc_page page;
    Reseller__V1__CreditAllocation **out;
    size_t n;
    bool more;
    int64_t last_created;
};

static int rs__alloc_from_row(vc_db_rows *r, vc_arena *a, Reseller__V1__CreditAllocation **out)
{
    Reseller__V1__CreditAllocation *al = vc_arena_alloc(a, sizeof(*al));
    if (!al) return VC_ENOMEM;
    reseller__v1__credit_allocation__init(al);
    rs_credit after = {.credit_minor = vc_db_i64_or(r, 7, 0), .used_minor = vc_db_i64_or(r, 8, 0)};
    vc_db_copy_str(r, 3, after.currency, sizeof(after.currency));
    al->allocation_id = vc_db_arena_str(r, 0, a);
    al->customer_id = vc_db_arena_str(r, 1, a);
    al->amount_minor = vc_db_i64_or(r, 2, 0);
    al->currency_code = vc_db_arena_str(r, 3, a);
    al->operator_id = vc_db_arena_str(r, 4, a);
    al->request_id = vc_db_arena_str(r, 5, a);
    al->remarks = vc_db_arena_str(r, 6, a);
    al->credit_after = rs_credit_to_pb(a, &after);
    al->pool_remaining_after_minor = vc_db_i64_or(r, 9, 0);
    al->create_time = vc_ts_new(a, vc_db_i64_or(r, 10, 0));
    if (!al->allocation_id || !al->customer_id || !al->currency_code || !al->operator_id ||
        !al->request_id || !al->remarks || !al->credit_after || !al->create_time)
        return VC_ENOMEM;
    *out = al;
    return 0;
}

static int rs__allocs_read(vc_db_conn *c, void *arg)
{
    struct rs__allocs *q = arg;
    vc_db_param p[11];
    size_t n = 0;
    const char *sql = rs_allocs_sql;
    p[n++] = vc_db_str(q->tenant);
    if (q->customer_id) {
        sql = rs_allocs_customer_sql;
        p[n++] = vc_db_str(q->customer_id);
        p[n++] = vc_db_bool(!q->operator_id);
        p[n++] = vc_db_str(q->operator_id ? q->operator_id : "");
    } else if (q->operator_id) {
        sql = rs_allocs_operator_sql;
        p[n++] = vc_db_str(q->operator_id);
    }
    int64_t key = q->page.has_cursor ? q->page.key : INT64_MAX;
    p[n++] = vc_db_i64(q->start);
    p[n++] = vc_db_i64(q->end);
    p[n++] = vc_db_i64(key);
    p[n++] = vc_db_i64(key);
    p[n++] = vc_db_str(q->page.id);
    p[n++] = vc_db_i64(q->page.limit + 1); /* one more than asked: is there a next page? */

    vc_db_rows *rows;
    int rc = vc_db_query(c, sql, p, n, &rows);
    if (rc < 0) return rc;
    q->n = 0;
    q->more = false;
    while ((rc = vc_db_next(rows)) == 1) {
        if (q->n == (size_t)q->page.limit) {
            q->more = true;
            break;
        }
        rc = rs__alloc_from_row(rows, q->arena, &q->out[q->n]);
        if (rc < 0) break;
        q->last_created = vc_db_i64_or(rows, 10, 0);
        q->n++;
    }
    vc_db_rows_close(rows);
    return rc < 0 ? rc : 0;
}

static int rs__allocs_parse(vc_rpc_ctx *ctx, const Reseller__V1__ListCreditAllocationsRequest *req,
                            struct rs__allocs *q)
{
    int code = VC_GRPC_OK;
    if (rs_check_id(ctx, "customer_id", req->customer_id, false) != VC_GRPC_OK)
        code = VC_GRPC_INVALID_ARGUMENT;
    if (rs_check_text(ctx, "operator_id", req->operator_id, RS_OPERATOR_MAX, false) != VC_GRPC_OK)
        code = VC_GRPC_INVALID_ARGUMENT;
    q->customer_id = *req->customer_id ? req->customer_id : NULL;
    q->operator_id = *req->operator_id ? req->operator_id : NULL;
    if (rs_check_time_range(ctx, "create_time", req->create_time, &q->start, &q->end) != VC_GRPC_OK)
        code = VC_GRPC_INVALID_ARGUMENT;
    if (vc_page_parse(ctx, req->page_size, req->page_token, &q->page) != VC_GRPC_OK)
        code = VC_GRPC_INVALID_ARGUMENT;
    return code;
}

static int list_credit_allocations(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Reseller__V1__ListCreditAllocationsRequest *req = req_;
    Reseller__V1__ListCreditAllocationsResponse *resp = resp_;
    rs_app *app = vc_rpc_service_data(ctx);
    vc_arena *a = vc_rpc_arena(ctx);
    char tenant[64];
    int code = rs_tenant(ctx, NULL, "reseller_id", tenant);
    if (code != VC_GRPC_OK) return code;
    struct rs__allocs q = {.arena = a, .tenant = tenant};
    code = rs__allocs_parse(ctx, req, &q);
    if (code != VC_GRPC_OK) return code;

    q.out = vc_arena_calloc(a, (size_t)q.page.limit, sizeof(*q.out));
    if (!q.out) return rs_fail(ctx, VC_ENOMEM, "list credit allocations");
    int rc = vc_db_run(app->db, rs__allocs_read, &q);
    if (rc < 0) return rs_fail(ctx, rc, "list credit allocations");
    resp->allocations = q.out;
    resp->n_allocations = q.n;
    if (q.more) {
        resp->next_page_token = vc_page_token(a, q.last_created, q.out[q.n - 1]->allocation_id);
        if (!resp->next_page_token) return rs_fail(ctx, VC_ENOMEM, "list credit allocations");
    }
    return VC_GRPC_OK;
}

/* ---- ListCreditAlerts ---------------------------------------------------------------------- */

#define RS_N_ALERT_KINDS 3

/* alert_id is unique and orders the alerts: the keyset position is the id alone. */
#define RS_ALERTS_SQL(filter)                                                                      \
    "SELECT " RS_ALERT_COLS " FROM credit_alerts WHERE reseller_id = ? " filter                    \
    "AND kind IN (?, ?, ?) AND created_us >= ? AND created_us < ? AND alert_id < ? "               \
    "ORDER BY alert_id DESC LIMIT ?"
static const char rs_alerts_sql[] = RS_ALERTS_SQL("");
static const char rs_alerts_customer_sql[] = RS_ALERTS_SQL("AND customer_id = ? ");

struct rs__alerts {
    vc_arena *arena;
    const char *tenant;
    const char *customer_id;     /* NULL = all, the reseller's own alerts included */
    int kinds[RS_N_ALERT_KINDS]; /* padded by repetition */
    int64_t start, end;
    vc_page page;
    Reseller__V1__CreditAlert **out;
    size_t n;
    bool more;
    uint64_t last_id;
};

static int rs__alerts_read(vc_db_conn *c, void *arg)
{
    struct rs__alerts *q = arg;
    vc_db_param p[9];
    size_t n = 0;
    p[n++] = vc_db_str(q->tenant);
    if (q->customer_id) p[n++] = vc_db_str(q->customer_id);
    for (int i = 0; i < RS_N_ALERT_KINDS; i++)
        p[n++] = vc_db_i64(q->kinds[i]);
    p[n++] = vc_db_i64(q->start);
    p[n++] = vc_db_i64(q->end);
    p[n++] = q->page.has_cursor ? vc_db_i64(q->page.key) : vc_db_i64(INT64_MAX);
    p[n++] = vc_db_i64(q->page.limit + 1);

    vc_db_rows *rows;
    int rc = vc_db_query(c, q->customer_id ? rs_alerts_customer_sql : rs_alerts_sql, p, n, &rows);
    if (rc < 0) return rc;
    q->n = 0;
    q->more = false;
    while ((rc = vc_db_next(rows)) == 1) {
        if (q->n == (size_t)q->page.limit) {
            q->more = true;
            break;
        }
        rc = rs_alert_from_row(rows, q->arena, &q->out[q->n], &q->last_id);
        if (rc < 0) break;
        q->n++;
    }
    vc_db_rows_close(rows);
    return rc < 0 ? rc : 0;
}

static int rs__alerts_parse(vc_rpc_ctx *ctx, const Reseller__V1__ListCreditAlertsRequest *req,
                            struct rs__alerts *q)
{
    int code = VC_GRPC_OK;
    if (rs_check_id(ctx, "customer_id", req->customer_id, false) != VC_GRPC_OK)
        code = VC_GRPC_INVALID_ARGUMENT;
    q->customer_id = *req->customer_id ? req->customer_id : NULL;
    unsigned seen = 0;
    for (size_t i = 0; i < req->n_kinds; i++) {
        int k = (int)req->kinds[i];
        if (k < RESELLER__V1__ALERT_KIND__ALERT_KIND_CUSTOMER_CREDIT_USAGE ||
            k > RESELLER__V1__ALERT_KIND__ALERT_KIND_CREDIT_POOL_LOW) {
            code = vc_rpc_invalid(ctx, "kinds", "contains an unknown alert kind %d", k);
            break;
        }
        seen |= 1u << k;
    }
    int nk = 0;
    for (int k = 1; k <= RS_N_ALERT_KINDS; k++)
        if (!seen || (seen & (1u << k))) q->kinds[nk++] = k;
    for (int i = nk; i < RS_N_ALERT_KINDS; i++)
        q->kinds[i] = q->kinds[0];
    if (rs_check_time_range(ctx, "create_time", req->create_time, &q->start, &q->end) != VC_GRPC_OK)
        code = VC_GRPC_INVALID_ARGUMENT;
    if (vc_page_parse(ctx, req->page_size, req->page_token, &q->page) != VC_GRPC_OK)
        code = VC_GRPC_INVALID_ARGUMENT;
    return code;
}

static int list_credit_alerts(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Reseller__V1__ListCreditAlertsRequest *req = req_;
    Reseller__V1__ListCreditAlertsResponse *resp = resp_;
    rs_app *app = vc_rpc_service_data(ctx);
    vc_arena *a = vc_rpc_arena(ctx);
    char tenant[64];
    int code = rs_tenant(ctx, NULL, "reseller_id", tenant);
    if (code != VC_GRPC_OK) return code;
    struct rs__alerts q = {.arena = a, .tenant = tenant};
    code = rs__alerts_parse(ctx, req, &q);
    if (code != VC_GRPC_OK) return code;

    q.out = vc_arena_calloc(a, (size_t)q.page.limit, sizeof(*q.out));
    if (!q.out) return rs_fail(ctx, VC_ENOMEM, "list credit alerts");
    int rc = vc_db_run(app->db, rs__alerts_read, &q);
    if (rc < 0) return rs_fail(ctx, rc, "list credit alerts");
    resp->alerts = q.out;
    resp->n_alerts = q.n;
    if (q.more) {
        resp->next_page_token = vc_page_token(a, (int64_t)q.last_id, q.out[q.n - 1]->alert_id);
        if (!resp->next_page_token) return rs_fail(ctx, VC_ENOMEM, "list credit alerts");
    }
    return VC_GRPC_OK;
}

/* ---- table --------------------------------------------------------------------------------- */

static const vc_rpc_method rs_customer_methods[] = {
    {.name = "CreateCustomer", .unary = create_customer},
    {.name = "GetCustomer", .unary = get_customer},
    {.name = "ListCustomers", .unary = list_customers},
    {.name = "SetCustomerCredit", .unary = set_customer_credit},
    {.name = "ListCreditAllocations", .unary = list_credit_allocations},
    {.name = "ListCreditAlerts", .unary = list_credit_alerts},
    {.name = "WatchCreditAlerts", .server_stream = rs_watch_credit_alerts},
};

static vc_rpc_service rs_customer_table = {
    .descriptor = &reseller__v1__customer_service__descriptor,
    .methods = rs_customer_methods,
    .n_methods = sizeof(rs_customer_methods) / sizeof(rs_customer_methods[0]),
    .roles = VC_ROLE_RESELLER,
};

const vc_rpc_service *rs_customer_service(rs_app *app)
{
    rs_customer_table.data = app;
    return &rs_customer_table;
}
