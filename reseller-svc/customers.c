/*
 * customers.c - reseller.v1.CustomerService, minimal: the reseller's customer list (SPEC §4).
 *
 * A customer is a cloud account id registered by exactly one reseller (customers.customer_id is
 * the primary key). CreateCustomer is idempotent by nature: registering the same account with
 * the same details again answers the existing customer, so a client may simply retry it.
 *
 * Customer credit arrives with a later issue: every Customer carries a zero credit in the
 * reseller's currency, and SetCustomerCredit, ListCreditAllocations, ListCreditAlerts and
 * WatchCreditAlerts have no handler yet (UNIMPLEMENTED).
 *
 * Callers: resellers only, on their own customers; another reseller's customer is NOT_FOUND
 * and never listed.
 */
#include "customers.h"

#include <stdio.h>
#include <string.h>

#include "reseller/v1/customer_service.pb-c.h"
#include "rpc/vc_page.h"
#include "rs.h"

#define RS_NAME_MAX    128
#define RS_EMAIL_MAX   254
#define RS_PHONE_MAX   32
#define RS_REMARKS_MAX 1024
#define RS_QUERY_MAX   254

/* ---- shared helpers ------------------------------------------------------------------------ */

/* Runs fn on a leased connection outside a transaction (reads: no BEGIN/COMMIT round trips). */
/* True when column `col` holds exactly `s`. */
static bool rs__col_eq(vc_db_rows *r, unsigned col, const char *s)
{
    const char *v;
    size_t n = 0;
    if (vc_db_get_str(r, col, &v, &n) != 0) return !*s;
    return n == strlen(s) && memcmp(v, s, n) == 0;
}

/* ---- rows ---------------------------------------------------------------------------------- */

/* The currency comes from the reseller row: a customer exists only after first contact. */
#define RS_CUSTOMER_COLS                                                                           \
    "c.customer_id, c.reseller_id, c.name, c.email, c.phone, c.remarks, c.created_us, "            \
    "r.currency_code"
#define RS_CUSTOMER_FROM "FROM customers c JOIN resellers r ON r.reseller_id = c.reseller_id "

static int rs__customer_from_row(vc_db_rows *r, vc_arena *a, Reseller__V1__Customer **out)
{
    Reseller__V1__Customer *cu = vc_arena_alloc(a, sizeof(*cu));
    Reseller__V1__CustomerCredit *cr = vc_arena_alloc(a, sizeof(*cr));
    if (!cu || !cr) return VC_ENOMEM;
    reseller__v1__customer__init(cu);
    reseller__v1__customer_credit__init(cr);
    int64_t created = 0;
    vc_db_get_i64(r, 6, &created);
    cu->customer_id = vc_db_arena_str(r, 0, a);
    cu->reseller_id = vc_db_arena_str(r, 1, a);
    cu->name = vc_db_arena_str(r, 2, a);
    cu->email = vc_db_arena_str(r, 3, a);
    cu->phone = vc_db_arena_str(r, 4, a);
    cu->remarks = vc_db_arena_str(r, 5, a);
    cu->create_time = vc_ts_new(a, created);
    /* No credit before SetCustomerCredit exists: zero, hence not exhausted. */
    cr->currency_code = vc_db_arena_str(r, 7, a);
    cu->credit = cr;
    if (!cu->customer_id || !cu->reseller_id || !cu->name || !cu->email || !cu->phone ||
        !cu->remarks || !cu->create_time || !cr->currency_code)
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
   converted so that its match is case-insensitive like the name's and the email's. */
static const char rs_customers_sql[] =
    "SELECT " RS_CUSTOMER_COLS " " RS_CUSTOMER_FROM "WHERE c.reseller_id = ? "
    "AND (? OR c.name LIKE ? ESCAPE '!' OR c.email LIKE ? ESCAPE '!' "
    "OR CONVERT(c.customer_id USING utf8mb4) LIKE ? ESCAPE '!') "
    "AND (c.created_us < ? OR (c.created_us = ? AND c.customer_id < ?)) "
    "ORDER BY c.created_us DESC, c.customer_id DESC LIMIT ?";

struct rs__list {
    vc_arena *arena;
    const char *tenant;
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
                                    vc_db_str(pat), vc_db_str(pat), vc_db_i64(key), vc_db_i64(key),
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
    /* exhausted_only is accepted and ignored until customer credit exists (later issue): with
       no credit nobody can be exhausted yet, and clients need not special-case the field. */
    struct rs__list q = {.arena = a, .tenant = tenant};
    code = rs_check_text(ctx, "query", req->query, RS_QUERY_MAX, false);
    if (vc_page_parse(ctx, req->page_size, req->page_token, &q.page) != VC_GRPC_OK)
        code = VC_GRPC_INVALID_ARGUMENT;
    else if (q.page.has_cursor && rs_check_id(ctx, "page_token", q.page.id, true) != VC_GRPC_OK)
        code = VC_GRPC_INVALID_ARGUMENT; /* a forged cursor must not reach the ascii column */
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

/* ---- table --------------------------------------------------------------------------------- */

static const vc_rpc_method rs_customer_methods[] = {
    {.name = "CreateCustomer", .unary = create_customer},
    {.name = "GetCustomer", .unary = get_customer},
    {.name = "ListCustomers", .unary = list_customers},
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
