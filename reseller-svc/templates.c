/*
 * templates.c - reseller.v1.TemplateService: create, read, edit (until the first issue) and
 * search voucher templates (SPEC §2). The row model and the edit-versus-issue protocol are
 * described in templates.h.
 */
#include "templates.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "base/vc_money.h"
#include "db/vc_idem.h"
#include "reseller/v1/template_service.pb-c.h"
#include "rpc/vc_page.h"
#include "rpc/vc_validate.h"
#include "rs.h"

#define RS__ALL_PRODUCTS RESELLER__V1__PRODUCT_SCOPE_KIND__PRODUCT_SCOPE_KIND_ALL_PRODUCTS
#define RS__SPECIFIED_PRODUCTS                                                                     \
    RESELLER__V1__PRODUCT_SCOPE_KIND__PRODUCT_SCOPE_KIND_SPECIFIED_PRODUCTS
#define RS__PREPAID  RESELLER__V1__PAYMENT_MODE__PAYMENT_MODE_PREPAID
#define RS__POSTPAID RESELLER__V1__PAYMENT_MODE__PAYMENT_MODE_POSTPAID
#define RS__DAYS     RESELLER__V1__VALIDITY__PERIOD_DAYS_AFTER_ACTIVATION
#define RS__WINDOW   RESELLER__V1__VALIDITY__PERIOD_FIXED_WINDOW

/* ---- rows ------------------------------------------------------------------------------- */

/* Every read of a template selects these columns, in this order (enum below). */
#define RS__TPL_COLS                                                                               \
    "template_id, name, face_value_minor, currency_code, funding, scope_kind, product_codes, "     \
    "excluded_product_codes, payment_modes, validity_days, valid_from_us, valid_until_us, "        \
    "min_order_minor, min_purchase_months, max_purchase_months, use_limit, remarks, "              \
    "issued_count, version, created_us, updated_us"

enum {
    RS__C_ID,
    RS__C_NAME,
    RS__C_FACE,
    RS__C_CURRENCY,
    RS__C_FUNDING,
    RS__C_SCOPE,
    RS__C_CODES,
    RS__C_EXCLUDED,
    RS__C_MODES,
    RS__C_DAYS,
    RS__C_FROM,
    RS__C_UNTIL,
    RS__C_MIN_ORDER,
    RS__C_MIN_MONTHS,
    RS__C_MAX_MONTHS,
    RS__C_USE_LIMIT,
    RS__C_REMARKS,
    RS__C_ISSUED,
    RS__C_VERSION,
    RS__C_CREATED,
    RS__C_UPDATED,
};

/* The columns an edit may change, as an INSERT column list and as an UPDATE SET list, bound
   by rs__editable_params() in the same order. */
#define RS__EDITABLE_COLS                                                                          \
    "name, face_value_minor, funding, scope_kind, product_codes, excluded_product_codes, "         \
    "payment_modes, validity_days, valid_from_us, valid_until_us, min_order_minor, "               \
    "min_purchase_months, max_purchase_months, use_limit, remarks"
#define RS__EDITABLE_SET                                                                           \
    "name = ?, face_value_minor = ?, funding = ?, scope_kind = ?, product_codes = ?, "             \
    "excluded_product_codes = ?, payment_modes = ?, validity_days = ?, valid_from_us = ?, "        \
    "valid_until_us = ?, min_order_minor = ?, min_purchase_months = ?, "                           \
    "max_purchase_months = ?, use_limit = ?, remarks = ?"
#define RS__N_EDITABLE 15

static int rs__col_int(vc_db_rows *r, unsigned col, int *out)
{
    int64_t v = 0;
    int rc = vc_db_get_i64(r, col, &v);
    if (rc == 0 && (v < INT_MIN || v > INT_MAX)) rc = VC_EOVERFLOW;
    if (rc == 0) *out = (int)v;
    return rc;
}

/* A nullable BIGINT; NULL reads as 0. */
static int rs__col_opt_i64(vc_db_rows *r, unsigned col, int64_t *out)
{
    *out = 0;
    int rc = vc_db_get_i64(r, col, out);
    return rc == VC_ENOENT ? 0 : rc;
}

static int rs__col_dup(vc_db_rows *r, unsigned col, vc_arena *a, char **out)
{
    const char *s = "";
    size_t len = 0;
    int rc = vc_db_get_str(r, col, &s, &len);
    if (rc < 0 && rc != VC_ENOENT) return rc;
    *out = vc_arena_strndup(a, rc == VC_ENOENT ? "" : s, rc == VC_ENOENT ? 0 : len);
    return *out ? 0 : VC_ENOMEM;
}

static int rs__template_read(vc_db_rows *r, vc_arena *a, rs_template *t)
{
    memset(t, 0, sizeof(*t));
    int rc = vc_db_copy_str(r, RS__C_ID, t->template_id, sizeof(t->template_id));
    if (rc == 0) rc = vc_db_copy_str(r, RS__C_NAME, t->name, sizeof(t->name));
    if (rc == 0) rc = vc_db_get_i64(r, RS__C_FACE, &t->face_value_minor);
    if (rc == 0) rc = vc_db_copy_str(r, RS__C_CURRENCY, t->currency_code, sizeof(t->currency_code));
    if (rc == 0) rc = rs__col_int(r, RS__C_FUNDING, &t->funding);
    if (rc == 0) rc = rs__col_int(r, RS__C_SCOPE, &t->scope_kind);
    if (rc == 0) rc = rs__col_dup(r, RS__C_CODES, a, &t->product_codes);
    if (rc == 0) rc = rs__col_dup(r, RS__C_EXCLUDED, a, &t->excluded_product_codes);
    if (rc == 0) rc = rs__col_int(r, RS__C_MODES, &t->payment_modes);
    t->has_days = !vc_db_is_null(r, RS__C_DAYS);
    if (rc == 0 && t->has_days) rc = rs__col_int(r, RS__C_DAYS, &t->validity_days);
    if (rc == 0) rc = rs__col_opt_i64(r, RS__C_FROM, &t->valid_from_us);
    if (rc == 0) rc = rs__col_opt_i64(r, RS__C_UNTIL, &t->valid_until_us);
    if (rc == 0) rc = vc_db_get_i64(r, RS__C_MIN_ORDER, &t->min_order_minor);
    if (rc == 0) rc = rs__col_int(r, RS__C_MIN_MONTHS, &t->min_purchase_months);
    if (rc == 0) rc = rs__col_int(r, RS__C_MAX_MONTHS, &t->max_purchase_months);
    if (rc == 0) rc = rs__col_int(r, RS__C_USE_LIMIT, &t->use_limit);
    if (rc == 0) rc = rs__col_dup(r, RS__C_REMARKS, a, &t->remarks);
    if (rc == 0) rc = vc_db_get_i64(r, RS__C_ISSUED, &t->issued_count);
    if (rc == 0) rc = vc_db_get_i64(r, RS__C_VERSION, &t->version);
    if (rc == 0) rc = vc_db_get_i64(r, RS__C_CREATED, &t->created_us);
    if (rc == 0) rc = vc_db_get_i64(r, RS__C_UPDATED, &t->updated_us);
    return rc;
}

static vc_db_param rs__opt_i64(bool set, int64_t v)
{
    return set ? vc_db_i64(v) : vc_db_null();
}

/* Binds the RS__EDITABLE_COLS of t into p[RS__N_EDITABLE]. */
static void rs__editable_params(const rs_template *t, vc_db_param *p)
{
    const vc_db_param v[RS__N_EDITABLE] = {
        vc_db_str(t->name),
        vc_db_i64(t->face_value_minor),
        vc_db_i64(t->funding),
        vc_db_i64(t->scope_kind),
        vc_db_str(t->product_codes),
        vc_db_str(t->excluded_product_codes),
        vc_db_i64(t->payment_modes),
        rs__opt_i64(t->has_days, t->validity_days),
        rs__opt_i64(!t->has_days, t->valid_from_us),
        rs__opt_i64(!t->has_days, t->valid_until_us),
        vc_db_i64(t->min_order_minor),
        vc_db_i64(t->min_purchase_months),
        vc_db_i64(t->max_purchase_months),
        vc_db_i64(t->use_limit),
        vc_db_str(t->remarks ? t->remarks : ""),
    };
    memcpy(p, v, sizeof(v));
}

static int rs__insert(vc_db_conn *c, const char *reseller_id, const rs_template *t)
{
    vc_db_param p[3 + RS__N_EDITABLE + 2];
    p[0] = vc_db_str(t->template_id);
    p[1] = vc_db_str(reseller_id);
    p[2] = vc_db_str(t->currency_code);
    rs__editable_params(t, p + 3);
    p[3 + RS__N_EDITABLE] = vc_db_i64(t->created_us);
    p[4 + RS__N_EDITABLE] = vc_db_i64(t->updated_us);
    return vc_db_exec(
        c,
        "INSERT INTO templates (template_id, reseller_id, currency_code, " RS__EDITABLE_COLS
        ", created_us, updated_us, issued_count, version) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 1)",
        p, sizeof(p) / sizeof(p[0]), NULL);
}

/* The edit itself: matches only the version the client read, and only while nothing was issued
   from the template (issuance bumps issued_count under the same row lock). */
static int rs__update_row(vc_db_conn *c, const char *reseller_id, const rs_template *t,
                          int64_t etag, int64_t now, uint64_t *matched)
{
    vc_db_param p[RS__N_EDITABLE + 4];
    rs__editable_params(t, p);
    p[RS__N_EDITABLE] = vc_db_i64(now);
    p[RS__N_EDITABLE + 1] = vc_db_str(t->template_id);
    p[RS__N_EDITABLE + 2] = vc_db_str(reseller_id);
    p[RS__N_EDITABLE + 3] = vc_db_i64(etag);
    return vc_db_exec(c,
                      "UPDATE templates SET " RS__EDITABLE_SET ", version = version + 1, "
                      "updated_us = ? WHERE template_id = ? AND reseller_id = ? AND version = ? "
                      "AND issued_count = 0",
                      p, sizeof(p) / sizeof(p[0]), matched);
}

int rs_template_get(vc_db_conn *c, vc_arena *a, const char *reseller_id, const char *template_id,
                    rs_template *out)
{
    vc_db_rows *rows;
    int rc = vc_db_query(c,
                         "SELECT " RS__TPL_COLS " FROM templates "
                         "WHERE template_id = ? AND reseller_id = ?",
                         VC_DB_ARGS(vc_db_str(template_id), vc_db_str(reseller_id)), &rows);
    if (rc < 0) return rc;
    rc = vc_db_next(rows);
    if (rc == 1)
        rc = rs__template_read(rows, a, out);
    else if (rc == 0)
        rc = VC_ENOENT;
    vc_db_rows_close(rows);
    return rc;
}

int rs_template_lock_for_issue(vc_db_conn *c, vc_arena *a, const char *reseller_id,
                               const char *template_id, int64_t n, rs_template *out)
{
    if (n < 0) return VC_EINVAL;
    uint64_t matched = 0;
    int rc = vc_db_exec(c,
                        "UPDATE templates SET issued_count = issued_count + ? "
                        "WHERE template_id = ? AND reseller_id = ?",
                        VC_DB_ARGS(vc_db_i64(n), vc_db_str(template_id), vc_db_str(reseller_id)),
                        &matched);
    if (rc < 0) return rc;
    if (matched == 0) /* CLIENT_FOUND_ROWS: 0 means no such row, even for n = 0 */
        return VC_ENOENT;
    return rs_template_get(c, a, reseller_id, template_id, out);
}

/* ---- converters ------------------------------------------------------------------------- */

int rs_codes_split(vc_arena *a, const char *list, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!list || !*list) return 0;
    size_t count = 1;
    for (const char *p = list; *p; p++)
        count += *p == ',';
    char **v = vc_arena_alloc(a, count * sizeof(*v));
    char *copy = vc_arena_strdup(a, list);
    if (!v || !copy) return VC_ENOMEM;
    size_t i = 0;
    for (char *tok = copy;;) {
        char *comma = strchr(tok, ',');
        v[i++] = tok;
        if (!comma) break;
        *comma = '\0';
        tok = comma + 1;
    }
    *out = v;
    *n = i;
    return 0;
}

char *rs_codes_join(vc_arena *a, char *const *codes, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(codes[i]) + 1;
    char *s = vc_arena_alloc(a, len);
    if (!s) return NULL;
    char *p = s;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(codes[i]);
        if (i) *p++ = ',';
        memcpy(p, codes[i], l);
        p += l;
    }
    *p = '\0';
    return s;
}

int rs_scope_to_pb(vc_arena *a, int kind, const char *codes, const char *excluded,
                   Reseller__V1__ProductScope **out)
{
    Reseller__V1__ProductScope *s = vc_arena_alloc(a, sizeof(*s));
    if (!s) return VC_ENOMEM;
    reseller__v1__product_scope__init(s);
    s->kind = (Reseller__V1__ProductScopeKind)kind;
    int rc = rs_codes_split(a, codes, &s->product_codes, &s->n_product_codes);
    if (rc == 0)
        rc = rs_codes_split(a, excluded, &s->excluded_product_codes, &s->n_excluded_product_codes);
    if (rc == 0) *out = s;
    return rc;
}

int rs_validity_to_pb(vc_arena *a, bool has_days, int days, int64_t from_us, int64_t until_us,
                      Reseller__V1__Validity **out)
{
    Reseller__V1__Validity *v = vc_arena_alloc(a, sizeof(*v));
    if (!v) return VC_ENOMEM;
    reseller__v1__validity__init(v);
    if (has_days) {
        v->period_case = RS__DAYS;
        v->days_after_activation = days;
        *out = v;
        return 0;
    }
    Reseller__V1__TimeRange *w = vc_arena_alloc(a, sizeof(*w));
    if (!w) return VC_ENOMEM;
    reseller__v1__time_range__init(w);
    w->start_time = vc_ts_new(a, from_us);
    w->end_time = vc_ts_new(a, until_us);
    if (!w->start_time || !w->end_time) return VC_ENOMEM;
    v->period_case = RS__WINDOW;
    v->fixed_window = w;
    *out = v;
    return 0;
}

int rs_conditions_to_pb(vc_arena *a, int64_t min_order_minor, int min_months, int max_months,
                        int use_limit, Reseller__V1__UsageConditions **out)
{
    Reseller__V1__UsageConditions *c = vc_arena_alloc(a, sizeof(*c));
    if (!c) return VC_ENOMEM;
    reseller__v1__usage_conditions__init(c);
    c->min_order_amount_minor = min_order_minor;
    c->min_purchase_months = min_months;
    c->max_purchase_months = max_months;
    c->use_limit = (Reseller__V1__UseLimit)use_limit;
    *out = c;
    return 0;
}

unsigned rs_payment_modes_mask(const Reseller__V1__PaymentMode *modes, size_t n)
{
    unsigned mask = 0;
    for (size_t i = 0; i < n; i++) {
        if (modes[i] == RS__PREPAID)
            mask |= RS_PAY_PREPAID;
        else if (modes[i] == RS__POSTPAID)
            mask |= RS_PAY_POSTPAID;
    }
    return mask;
}

int rs_payment_modes_to_pb(vc_arena *a, unsigned mask, Reseller__V1__PaymentMode **modes, size_t *n)
{
    Reseller__V1__PaymentMode *v = vc_arena_alloc(a, 2 * sizeof(*v));
    if (!v) return VC_ENOMEM;
    size_t k = 0;
    if (mask & RS_PAY_PREPAID) v[k++] = RS__PREPAID;
    if (mask & RS_PAY_POSTPAID) v[k++] = RS__POSTPAID;
    *modes = v;
    *n = k;
    return 0;
}

int rs_template_to_pb(vc_arena *a, const char *reseller_id, const rs_template *t,
                      Reseller__V1__Template **out)
{
    Reseller__V1__Template *m = vc_arena_alloc(a, sizeof(*m));
    if (!m) return VC_ENOMEM;
    reseller__v1__template__init(m);
    m->template_id = vc_arena_strdup(a, t->template_id);
    m->reseller_id = vc_arena_strdup(a, reseller_id);
    m->name = vc_arena_strdup(a, t->name);
    m->currency_code = vc_arena_strdup(a, t->currency_code);
    m->remarks = vc_arena_strdup(a, t->remarks ? t->remarks : "");
    m->etag = vc_arena_sprintf(a, "%" PRId64, t->version);
    m->create_time = vc_ts_new(a, t->created_us);
    m->update_time = vc_ts_new(a, t->updated_us);
    if (!m->template_id || !m->reseller_id || !m->name || !m->currency_code || !m->remarks ||
        !m->etag || !m->create_time || !m->update_time)
        return VC_ENOMEM;
    m->face_value_minor = t->face_value_minor;
    m->funding = (Reseller__V1__Funding)t->funding;
    m->issued_count = t->issued_count;
    m->state = t->issued_count > 0 ? RESELLER__V1__TEMPLATE_STATE__TEMPLATE_STATE_LOCKED
                                   : RESELLER__V1__TEMPLATE_STATE__TEMPLATE_STATE_EDITABLE;
    int rc = rs_scope_to_pb(a, t->scope_kind, t->product_codes, t->excluded_product_codes,
                            &m->product_scope);
    if (rc == 0)
        rc = rs_payment_modes_to_pb(a, (unsigned)t->payment_modes, &m->payment_modes,
                                    &m->n_payment_modes);
    if (rc == 0)
        rc = rs_validity_to_pb(a, t->has_days, t->validity_days, t->valid_from_us,
                               t->valid_until_us, &m->validity);
    if (rc == 0)
        rc = rs_conditions_to_pb(a, t->min_order_minor, t->min_purchase_months,
                                 t->max_purchase_months, t->use_limit, &m->conditions);
    if (rc == 0) *out = m;
    return rc;
}

/* ---- validation --------------------------------------------------------------------------- */

/* Which Template fields a request sets: all of them on create, the update_mask on edits. */
enum {
    RS__F_NAME = 1u << 0,
    RS__F_FACE = 1u << 1,
    RS__F_FUNDING = 1u << 2,
    RS__F_SCOPE = 1u << 3,
    RS__F_MODES = 1u << 4,
    RS__F_VALIDITY = 1u << 5,
    RS__F_REMARKS = 1u << 6,
    RS__F_MIN_ORDER = 1u << 7,
    RS__F_MIN_MONTHS = 1u << 8,
    RS__F_MAX_MONTHS = 1u << 9,
    RS__F_USE_LIMIT = 1u << 10,
    RS__F_CONDITIONS = RS__F_MIN_ORDER | RS__F_MIN_MONTHS | RS__F_MAX_MONTHS | RS__F_USE_LIMIT,
    RS__F_ALL = (1u << 11) - 1,
};

/* update_mask paths (relative to Template). Sub-fields of conditions are accepted because they
   are independent numbers; product_scope and validity only change as a whole (their parts
   depend on the kind / the oneof case). */
static const struct {
    const char *path;
    unsigned fields;
} rs__mask_paths[] = {
    {"name", RS__F_NAME},
    {"face_value_minor", RS__F_FACE},
    {"funding", RS__F_FUNDING},
    {"product_scope", RS__F_SCOPE},
    {"payment_modes", RS__F_MODES},
    {"validity", RS__F_VALIDITY},
    {"conditions", RS__F_CONDITIONS},
    {"conditions.min_order_amount_minor", RS__F_MIN_ORDER},
    {"conditions.min_purchase_months", RS__F_MIN_MONTHS},
    {"conditions.max_purchase_months", RS__F_MAX_MONTHS},
    {"conditions.use_limit", RS__F_USE_LIMIT},
    {"remarks", RS__F_REMARKS},
};

/* Keeps the first failure while still running every check, so that one answer lists all the
   violations of a request. */
static int rs__also(int rc, int next)
{
    return rc != VC_GRPC_OK ? rc : next;
}

static int rs__check_name(vc_rpc_ctx *ctx, const char *name)
{
    int rc = vc_validate_text(ctx, "template.name", name, RS_TEMPLATE_NAME_MAX, true, false);
    if (rc == VC_GRPC_OK && strspn(name, " ") == strlen(name))
        rc = vc_rpc_invalid(ctx, "template.name", "must not be blank");
    return rc;
}

static bool rs__code_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > RS_PRODUCT_CODE_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '.' || ch == '-'))
            return false;
    }
    return true;
}

/* A list of product codes; a bad element is named with its index ("field[2]"). */
static int rs__check_codes(vc_rpc_ctx *ctx, const char *field, char *const *codes, size_t n)
{
    if (n > RS_PRODUCT_CODES_MAX)
        return vc_rpc_invalid(ctx, field, "must hold at most %d product codes",
                              RS_PRODUCT_CODES_MAX);
    int rc = VC_GRPC_OK;
    char path[96];
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s[%zu]", field, i);
        if (!rs__code_ok(codes[i])) {
            rc = vc_rpc_invalid(ctx, path, "must be 1 to %d characters of A-Z a-z 0-9 _ . -",
                                RS_PRODUCT_CODE_MAX);
            continue;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(codes[i], codes[j]) == 0) {
                rc = vc_rpc_invalid(ctx, path, "duplicates %s[%zu]", field, j);
                break;
            }
        }
    }
    return rc;
}

static int rs__check_scope(vc_rpc_ctx *ctx, const Reseller__V1__ProductScope *s)
{
    static const char codes[] = "template.product_scope.product_codes";
    static const char excluded[] = "template.product_scope.excluded_product_codes";
    if (!s) return vc_rpc_invalid(ctx, "template.product_scope", "is required");
    int rc = VC_GRPC_OK;
    switch (s->kind) {
    case RS__ALL_PRODUCTS:
        if (s->n_product_codes)
            rc = vc_rpc_invalid(ctx, codes,
                                "must be empty for ALL_PRODUCTS "
                                "(exclusions go in excluded_product_codes)");
        return rs__also(rc, rs__check_codes(ctx, excluded, s->excluded_product_codes,
                                            s->n_excluded_product_codes));
    case RS__SPECIFIED_PRODUCTS:
        if (s->n_excluded_product_codes)
            rc = vc_rpc_invalid(ctx, excluded, "must be empty for SPECIFIED_PRODUCTS");
        if (s->n_product_codes == 0)
            return vc_rpc_invalid(ctx, codes, "at least one is required for SPECIFIED_PRODUCTS");
        return rs__also(rc, rs__check_codes(ctx, codes, s->product_codes, s->n_product_codes));
    default:
        return vc_rpc_invalid(ctx, "template.product_scope.kind",
                              "must be ALL_PRODUCTS or SPECIFIED_PRODUCTS");
    }
}

static int rs__check_modes(vc_rpc_ctx *ctx, const Reseller__V1__PaymentMode *modes, size_t n)
{
    if (n == 0 || n > 2)
        return vc_rpc_invalid(ctx, "template.payment_modes",
                              "must hold PREPAID, POSTPAID or both (1 or 2 values)");
    int rc = VC_GRPC_OK;
    char path[48];
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "template.payment_modes[%zu]", i);
        if (modes[i] != RS__PREPAID && modes[i] != RS__POSTPAID)
            rc = vc_rpc_invalid(ctx, path, "must be PREPAID or POSTPAID");
        else if (i == 1 && modes[1] == modes[0])
            rc = vc_rpc_invalid(ctx, path, "duplicates template.payment_modes[0]");
    }
    return rc;
}

static int rs__check_time(vc_rpc_ctx *ctx, const char *field, const Google__Protobuf__Timestamp *ts,
                          int64_t *us)
{
    if (!ts) return vc_rpc_invalid(ctx, field, "is required");
    if (!vc_ts_to_us(ts, us))
        return vc_rpc_invalid(ctx, field, "is not a valid time (years 1970 to 9999)");
    return VC_GRPC_OK;
}

static int rs__check_validity(vc_rpc_ctx *ctx, const Reseller__V1__Validity *v, int64_t now)
{
    static const char start[] = "template.validity.fixed_window.start_time";
    static const char end[] = "template.validity.fixed_window.end_time";
    if (!v || (v->period_case != RS__DAYS && v->period_case != RS__WINDOW))
        return vc_rpc_invalid(ctx, "template.validity",
                              "exactly one of days_after_activation or fixed_window is required");
    if (v->period_case == RS__DAYS) {
        if (v->days_after_activation < 1 || v->days_after_activation > RS_VALIDITY_DAYS_MAX)
            return vc_rpc_invalid(ctx, "template.validity.days_after_activation",
                                  "must be between 1 and %d", RS_VALIDITY_DAYS_MAX);
        return VC_GRPC_OK;
    }
    const Reseller__V1__TimeRange *w = v->fixed_window;
    int64_t from = 0, until = 0;
    int rc = rs__check_time(ctx, start, w ? w->start_time : NULL, &from);
    rc = rs__also(rc, rs__check_time(ctx, end, w ? w->end_time : NULL, &until));
    if (rc != VC_GRPC_OK) return rc;
    if (from >= until) return vc_rpc_invalid(ctx, end, "must be after start_time");
    if (until <= now) return vc_rpc_invalid(ctx, end, "must be in the future");
    return VC_GRPC_OK;
}

static int rs__check_months(vc_rpc_ctx *ctx, int min, int max)
{
    if (max > 0 && min > max)
        return vc_rpc_invalid(ctx, "template.conditions.min_purchase_months",
                              "must not exceed max_purchase_months (%d)", max);
    return VC_GRPC_OK;
}

static int rs__check_month_field(vc_rpc_ctx *ctx, const char *field, int v)
{
    if (v < 0 || v > RS_PURCHASE_MONTHS_MAX)
        return vc_rpc_invalid(ctx, field, "must be between 0 (no limit) and %d",
                              RS_PURCHASE_MONTHS_MAX);
    return VC_GRPC_OK;
}

/* Checks the conditions sub-fields selected by `fields`. An absent message stands for its
   defaults (no minimum, no duration limits) except that use_limit has no default. */
static int rs__check_conditions(vc_rpc_ctx *ctx, const Reseller__V1__UsageConditions *c,
                                unsigned fields)
{
    if (!c)
        return (fields & RS__F_USE_LIMIT)
                   ? vc_rpc_invalid(ctx, "template.conditions", "is required (use_limit)")
                   : VC_GRPC_OK;
    int rc = VC_GRPC_OK, months = VC_GRPC_OK;
    if ((fields & RS__F_MIN_ORDER) && c->min_order_amount_minor < 0)
        rc = vc_rpc_invalid(ctx, "template.conditions.min_order_amount_minor",
                            "must be 0 (no minimum) or more");
    if (fields & RS__F_MIN_MONTHS)
        months = rs__check_month_field(ctx, "template.conditions.min_purchase_months",
                                       c->min_purchase_months);
    if (fields & RS__F_MAX_MONTHS)
        months =
            rs__also(months, rs__check_month_field(ctx, "template.conditions.max_purchase_months",
                                                   c->max_purchase_months));
    /* Both bounds given: check the pair here. With one, rs__update_tx checks it against the
       stored other bound after merging. */
    if (months == VC_GRPC_OK && (fields & RS__F_MIN_MONTHS) && (fields & RS__F_MAX_MONTHS))
        months = rs__check_months(ctx, c->min_purchase_months, c->max_purchase_months);
    rc = rs__also(rc, months);
    if ((fields & RS__F_USE_LIMIT) &&
        c->use_limit != RESELLER__V1__USE_LIMIT__USE_LIMIT_SINGLE_USE &&
        c->use_limit != RESELLER__V1__USE_LIMIT__USE_LIMIT_MULTI_USE)
        rc =
            vc_rpc_invalid(ctx, "template.conditions.use_limit", "must be SINGLE_USE or MULTI_USE");
    return rc;
}

/* Validates the writable fields of `t` selected by `fields` (currency: rs__check_currency). */
static int rs__validate(vc_rpc_ctx *ctx, const Reseller__V1__Template *t, unsigned fields,
                        int64_t now)
{
    int rc = VC_GRPC_OK;
    if (fields & RS__F_NAME) rc = rs__also(rc, rs__check_name(ctx, t->name));
    if ((fields & RS__F_FACE) &&
        (t->face_value_minor < 1 || t->face_value_minor > RS_FACE_VALUE_MAX))
        rc = rs__also(rc, vc_rpc_invalid(ctx, "template.face_value_minor",
                                         "must be between 1 and %lld", RS_FACE_VALUE_MAX));
    if ((fields & RS__F_FUNDING) && t->funding != RESELLER__V1__FUNDING__FUNDING_PROVIDER_FUNDED &&
        t->funding != RESELLER__V1__FUNDING__FUNDING_RESELLER_FUNDED)
        rc = rs__also(rc, vc_rpc_invalid(ctx, "template.funding",
                                         "must be PROVIDER_FUNDED or RESELLER_FUNDED"));
    if (fields & RS__F_SCOPE) rc = rs__also(rc, rs__check_scope(ctx, t->product_scope));
    if (fields & RS__F_MODES)
        rc = rs__also(rc, rs__check_modes(ctx, t->payment_modes, t->n_payment_modes));
    if (fields & RS__F_VALIDITY) rc = rs__also(rc, rs__check_validity(ctx, t->validity, now));
    if (fields & RS__F_CONDITIONS)
        rc = rs__also(rc, rs__check_conditions(ctx, t->conditions, fields));
    if (fields & RS__F_REMARKS)
        rc = rs__also(rc, vc_validate_text(ctx, "template.remarks", t->remarks,
                                         RS_TEMPLATE_REMARKS_MAX, false, true));
    return rc;
}

/* The reseller's currency without creating the reseller (a newcomer gets the configured one). */
static int rs__currency_of(rs_app *app, const char *reseller_id, char cur[4])
{
    vc_db_conn *c;
    int rc = vc_db_lease(app->db, VC_DB_DEFAULT_TIMEOUT, &c);
    if (rc < 0) return rc;
    vc_db_rows *rows;
    rc = vc_db_query(c, "SELECT currency_code FROM resellers WHERE reseller_id = ?",
                     VC_DB_ARGS(vc_db_str(reseller_id)), &rows);
    if (rc == 0) {
        rc = vc_db_next(rows);
        if (rc == 1)
            rc = vc_db_copy_str(rows, 0, cur, 4);
        else if (rc == 0)
            snprintf(cur, 4, "%s", app->cfg->currency);
        vc_db_rows_close(rows);
    }
    vc_db_release(app->db, c);
    return rc;
}

/* currency_code is optional but, when given, must be the reseller's (fixed per reseller).
   Runs before the other checks: a database failure then answers alone, without violations. */
static int rs__check_currency(vc_rpc_ctx *ctx, rs_app *app, const char *tenant, const char *code)
{
    static const char field[] = "template.currency_code";
    if (!code || !*code) return VC_GRPC_OK;
    if (!vc_currency_valid(code))
        return vc_rpc_invalid(ctx, field, "must be a 3-letter ISO 4217 code");
    char cur[4];
    int rc = rs__currency_of(app, tenant, cur);
    if (rc < 0) return rs_fail(ctx, rc, "read reseller currency");
    if (strcmp(code, cur) != 0)
        return vc_rpc_invalid(ctx, field, "must be the reseller's currency %s (or empty)", cur);
    return VC_GRPC_OK;
}

static int rs__parse_mask(vc_rpc_ctx *ctx, const Google__Protobuf__FieldMask *m, unsigned *fields)
{
    *fields = 0;
    if (!m || m->n_paths == 0) {
        *fields = RS__F_ALL;
        return VC_GRPC_OK;
    }
    for (size_t i = 0; i < m->n_paths; i++) {
        unsigned f = 0;
        for (size_t k = 0; k < sizeof(rs__mask_paths) / sizeof(rs__mask_paths[0]) && !f; k++)
            if (m->paths[i] && strcmp(m->paths[i], rs__mask_paths[k].path) == 0)
                f = rs__mask_paths[k].fields;
        if (!f)
            return vc_rpc_invalid(ctx, "update_mask",
                                  "unknown path \"%.64s\" (editable: name, face_value_minor, "
                                  "funding, product_scope, payment_modes, validity, "
                                  "conditions[.<field>], remarks)",
                                  m->paths[i] ? m->paths[i] : "");
        *fields |= f;
    }
    return VC_GRPC_OK;
}

/* The etag is the decimal version this service rendered. */
static int rs__parse_etag(vc_rpc_ctx *ctx, const char *s, int64_t *out)
{
    if (!s || !*s)
        return vc_rpc_invalid(ctx, "template.etag", "is required (the etag as last read)");
    int64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9' || v > (INT64_MAX - 9) / 10)
            return vc_rpc_invalid(ctx, "template.etag", "is not an etag this service issued");
        v = v * 10 + (*p - '0');
    }
    if (v < 1) return vc_rpc_invalid(ctx, "template.etag", "is not an etag this service issued");
    *out = v;
    return VC_GRPC_OK;
}

/* Copies the (validated) fields selected by `fields` from the message into the row. */
static int rs__apply(vc_arena *a, rs_template *row, const Reseller__V1__Template *t,
                     unsigned fields)
{
    static const Reseller__V1__UsageConditions none = RESELLER__V1__USAGE_CONDITIONS__INIT;
    const Reseller__V1__UsageConditions *c = t->conditions ? t->conditions : &none;
    if (fields & RS__F_NAME) snprintf(row->name, sizeof(row->name), "%s", t->name);
    if (fields & RS__F_FACE) row->face_value_minor = t->face_value_minor;
    if (fields & RS__F_FUNDING) row->funding = (int)t->funding;
    if (fields & RS__F_SCOPE) {
        const Reseller__V1__ProductScope *s = t->product_scope;
        row->scope_kind = (int)s->kind;
        row->product_codes = rs_codes_join(a, s->product_codes, s->n_product_codes);
        row->excluded_product_codes =
            rs_codes_join(a, s->excluded_product_codes, s->n_excluded_product_codes);
        if (!row->product_codes || !row->excluded_product_codes) return VC_ENOMEM;
    }
    if (fields & RS__F_MODES)
        row->payment_modes = (int)rs_payment_modes_mask(t->payment_modes, t->n_payment_modes);
    if (fields & RS__F_VALIDITY) {
        const Reseller__V1__Validity *v = t->validity;
        row->has_days = v->period_case == RS__DAYS;
        row->validity_days = row->has_days ? v->days_after_activation : 0;
        row->valid_from_us = row->valid_until_us = 0;
        if (!row->has_days && (!vc_ts_to_us(v->fixed_window->start_time, &row->valid_from_us) ||
                               !vc_ts_to_us(v->fixed_window->end_time, &row->valid_until_us)))
            return VC_EINVAL; /* validated before: unreachable */
    }
    if (fields & RS__F_MIN_ORDER) row->min_order_minor = c->min_order_amount_minor;
    if (fields & RS__F_MIN_MONTHS) row->min_purchase_months = c->min_purchase_months;
    if (fields & RS__F_MAX_MONTHS) row->max_purchase_months = c->max_purchase_months;
    if (fields & RS__F_USE_LIMIT) row->use_limit = (int)c->use_limit;
    if (fields & RS__F_REMARKS) {
        row->remarks = vc_arena_strdup(a, t->remarks ? t->remarks : "");
        if (!row->remarks) return VC_ENOMEM;
    }
    return 0;
}

/* ---- outcomes decided inside transactions --------------------------------------------------- */

/* Why a transaction body refused (it then returns VC_ECONFLICT so that nothing is committed). */
typedef enum rs__outcome {
    RS__DONE = 0,
    RS__NOT_FOUND,    /* unknown, or another reseller's */
    RS__LOCKED,       /* vouchers were issued from it */
    RS__STALE,        /* etag differs */
    RS__MISMATCH,     /* request_id reused with other parameters */
    RS__BAD_CURRENCY, /* not the reseller's currency */
    RS__BAD_MONTHS,   /* merged purchase-duration bounds contradict each other */
} rs__outcome;

static int rs__refused(rs__outcome *slot, rs__outcome why)
{
    *slot = why;
    return VC_ECONFLICT;
}

/* What forbids editing a row at `etag`: issued vouchers first (reloading would not help). */
static rs__outcome rs__edit_block(const rs_template *row, int64_t etag)
{
    if (row->issued_count > 0) return RS__LOCKED;
    return row->version != etag ? RS__STALE : RS__DONE;
}

/* The answer to a refusal; `row` is the template as read (currency, merged bounds). */
static int rs__refuse(vc_rpc_ctx *ctx, rs__outcome why, const char *id, const rs_template *row)
{
    switch (why) {
    case RS__NOT_FOUND: return vc_rpc_error(ctx, VC_GRPC_NOT_FOUND, "template %s not found", id);
    case RS__LOCKED:
        return vc_rpc_error(ctx, VC_GRPC_FAILED_PRECONDITION,
                            "template %s can no longer be edited: vouchers were issued from it; "
                            "create a new template instead",
                            id);
    case RS__STALE: return vc_rpc_error(ctx, VC_GRPC_ABORTED, "etag mismatch: reload and retry");
    case RS__MISMATCH:
        return vc_rpc_error(ctx, VC_GRPC_ALREADY_EXISTS,
                            "request_id was already used with different parameters");
    case RS__BAD_CURRENCY:
        return vc_rpc_invalid(ctx, "template.currency_code",
                              "must be the reseller's currency %s (or empty)", row->currency_code);
    case RS__BAD_MONTHS:
        return rs__check_months(ctx, row->min_purchase_months, row->max_purchase_months);
    case RS__DONE: break;
    }
    return vc_rpc_error(ctx, VC_GRPC_INTERNAL, "internal error");
}

/* ---- CreateTemplate ------------------------------------------------------------------------ */

typedef struct rs__create {
    rs_app *app;
    const char *tenant;
    const Reseller__V1__CreateTemplateRequest *req;
    vc_arena *arena;
    rs_template row; /* the validated request; id, currency and times are set by the body */
    rs__outcome outcome;
    Reseller__V1__Template *out;
} rs__create;

static int rs__create_tx(vc_db_conn *c, void *arg)
{
    rs__create *cr = arg;
    const Reseller__V1__CreateTemplateRequest *req = cr->req;
    rs_template *row = &cr->row;
    cr->outcome = RS__DONE;
    ProtobufCMessage *replay = NULL;
    int rc = vc_idem_begin(c, cr->tenant, "CreateTemplate", req->request_id, &req->base, cr->arena,
                           &reseller__v1__create_template_response__descriptor, &replay);
    if (rc < 0) return rc;
    if (rc == VC_IDEM_MISMATCH) return rs__refused(&cr->outcome, RS__MISMATCH);
    if (rc == VC_IDEM_REPLAY) {
        cr->out = ((Reseller__V1__CreateTemplateResponse *)replay)->template_;
        return cr->out ? 0 : VC_EIO;
    }
    rc = rs_reseller_ensure(c, cr->app, cr->tenant, row->currency_code);
    if (rc < 0) return rc;
    /* Checked before the transaction too; this is the authoritative comparison. */
    const char *asked = req->template_->currency_code;
    if (asked && *asked && strcmp(asked, row->currency_code) != 0)
        return rs__refused(&cr->outcome, RS__BAD_CURRENCY);
    rc = vc_id_new(row->template_id, "tpl");
    if (rc < 0) return rc;
    row->version = 1;
    row->issued_count = 0;
    row->created_us = row->updated_us = vc_now_us();
    rc = rs__insert(c, cr->tenant, row);
    if (rc == 0) rc = rs_template_to_pb(cr->arena, cr->tenant, row, &cr->out);
    if (rc < 0) return rc;
    Reseller__V1__CreateTemplateResponse resp = RESELLER__V1__CREATE_TEMPLATE_RESPONSE__INIT;
    resp.template_ = cr->out;
    return vc_idem_finish(c, cr->tenant, "CreateTemplate", req->request_id, &req->base, &resp.base);
}

static int create_template(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Reseller__V1__CreateTemplateRequest *req = req_;
    Reseller__V1__CreateTemplateResponse *resp = resp_;
    rs_app *app = vc_rpc_service_data(ctx);
    char tenant[64];
    int rc = rs_tenant(ctx, NULL, "reseller_id", tenant);
    if (rc != VC_GRPC_OK) return rc;
    const Reseller__V1__Template *t = req->template_;
    if (t) {
        rc = rs__check_currency(ctx, app, tenant, t->currency_code);
        if (rc != VC_GRPC_OK && rc != VC_GRPC_INVALID_ARGUMENT) return rc;
    }
    rc = rs__also(rc, rs_check_request_id(ctx, req->request_id));
    if (!t) return vc_rpc_invalid(ctx, "template", "is required");
    rc = rs__also(rc, rs__validate(ctx, t, RS__F_ALL, vc_now_us()));
    if (rc != VC_GRPC_OK) return rc;

    rs__create cr = {.app = app, .tenant = tenant, .req = req, .arena = vc_rpc_arena(ctx)};
    rc = rs__apply(cr.arena, &cr.row, t, RS__F_ALL);
    if (rc == 0) rc = vc_db_tx(app->db, rs__create_tx, &cr);
    /* A concurrent call with the same request_id committed first (request_log key): run again
       to replay its answer. */
    if (rc == VC_EEXIST) rc = vc_db_tx(app->db, rs__create_tx, &cr);
    if (rc == VC_ECONFLICT && cr.outcome != RS__DONE)
        return rs__refuse(ctx, cr.outcome, "", &cr.row);
    if (rc < 0) return rs_fail(ctx, rc, "create template");
    resp->template_ = cr.out;
    return VC_GRPC_OK;
}

/* ---- GetTemplate ----------------------------------------------------------------------------- */

/* One template of the reseller, on a leased connection (a single read needs no transaction). */
static int rs__read(rs_app *app, vc_arena *a, const char *tenant, const char *id, rs_template *t)
{
    vc_db_conn *c;
    int rc = vc_db_lease(app->db, VC_DB_DEFAULT_TIMEOUT, &c);
    if (rc < 0) return rc;
    rc = rs_template_get(c, a, tenant, id, t);
    vc_db_release(app->db, c);
    return rc;
}

static int get_template(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Reseller__V1__GetTemplateRequest *req = req_;
    Reseller__V1__GetTemplateResponse *resp = resp_;
    rs_app *app = vc_rpc_service_data(ctx);
    char tenant[64];
    int rc = rs_tenant(ctx, NULL, "reseller_id", tenant);
    if (rc != VC_GRPC_OK) return rc;
    rc = rs_check_id(ctx, "template_id", req->template_id, true);
    if (rc != VC_GRPC_OK) return rc;
    rs_template row;
    rc = rs__read(app, vc_rpc_arena(ctx), tenant, req->template_id, &row);
    if (rc == VC_ENOENT)
        return vc_rpc_error(ctx, VC_GRPC_NOT_FOUND, "template %s not found", req->template_id);
    if (rc == 0) rc = rs_template_to_pb(vc_rpc_arena(ctx), tenant, &row, &resp->template_);
    if (rc < 0) return rs_fail(ctx, rc, "get template");
    return VC_GRPC_OK;
}

/* ---- UpdateTemplate ------------------------------------------------------------------------- */

typedef struct rs__update {
    const char *tenant;
    const Reseller__V1__Template *in;
    unsigned fields;
    int64_t etag;
    vc_arena *arena;
    rs_template row; /* as read, then merged with the request */
    rs__outcome outcome;
    Reseller__V1__Template *out;
} rs__update;

/* Reads the row to merge the masked fields into it (and to answer the common refusals early),
   then writes with one conditional UPDATE: that UPDATE, not the read, decides, because an issue
   or another edit may commit in between. */
static int rs__update_tx(vc_db_conn *c, void *arg)
{
    rs__update *up = arg;
    rs_template *row = &up->row;
    const char *id = up->in->template_id;
    up->outcome = RS__DONE;
    int rc = rs_template_get(c, up->arena, up->tenant, id, row);
    if (rc == VC_ENOENT) return rs__refused(&up->outcome, RS__NOT_FOUND);
    if (rc < 0) return rc;
    rs__outcome why = rs__edit_block(row, up->etag);
    if (why != RS__DONE) return rs__refused(&up->outcome, why);
    const char *asked = up->in->currency_code;
    if (asked && *asked && strcmp(asked, row->currency_code) != 0)
        return rs__refused(&up->outcome, RS__BAD_CURRENCY);
    rc = rs__apply(up->arena, row, up->in, up->fields);
    if (rc < 0) return rc;
    if (row->max_purchase_months > 0 && row->min_purchase_months > row->max_purchase_months)
        return rs__refused(&up->outcome, RS__BAD_MONTHS);

    int64_t now = vc_now_us();
    uint64_t matched = 0;
    rc = rs__update_row(c, up->tenant, row, up->etag, now, &matched);
    if (rc < 0) return rc;
    if (matched == 0) {
        rc = rs_template_get(c, up->arena, up->tenant, id, row);
        if (rc == VC_ENOENT) return rs__refused(&up->outcome, RS__NOT_FOUND);
        if (rc < 0) return rc;
        why = rs__edit_block(row, up->etag);
        return rs__refused(&up->outcome, why == RS__DONE ? RS__STALE : why);
    }
    row->version = up->etag + 1;
    row->updated_us = now;
    return rs_template_to_pb(up->arena, up->tenant, row, &up->out);
}

static int update_template(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Reseller__V1__UpdateTemplateRequest *req = req_;
    Reseller__V1__UpdateTemplateResponse *resp = resp_;
    rs_app *app = vc_rpc_service_data(ctx);
    char tenant[64];
    int rc = rs_tenant(ctx, NULL, "reseller_id", tenant);
    if (rc != VC_GRPC_OK) return rc;
    const Reseller__V1__Template *t = req->template_;
    if (!t) return vc_rpc_invalid(ctx, "template", "is required");
    rc = rs__check_currency(ctx, app, tenant, t->currency_code);
    if (rc != VC_GRPC_OK && rc != VC_GRPC_INVALID_ARGUMENT) return rc;
    rs__update up = {.tenant = tenant, .in = t, .arena = vc_rpc_arena(ctx)};
    rc = rs__also(rc, rs_check_id(ctx, "template.template_id", t->template_id, true));
    rc = rs__also(rc, rs__parse_etag(ctx, t->etag, &up.etag));
    int mask_rc = rs__parse_mask(ctx, req->update_mask, &up.fields);
    rc = rs__also(rc, mask_rc);
    if (mask_rc == VC_GRPC_OK) rc = rs__also(rc, rs__validate(ctx, t, up.fields, vc_now_us()));
    if (rc != VC_GRPC_OK) return rc;

    rc = vc_db_tx(app->db, rs__update_tx, &up);
    if (rc == VC_ECONFLICT && up.outcome != RS__DONE)
        return rs__refuse(ctx, up.outcome, t->template_id, &up.row);
    if (rc < 0) return rs_fail(ctx, rc, "update template");
    resp->template_ = up.out;
    return VC_GRPC_OK;
}

/* ---- ListTemplates -------------------------------------------------------------------------- */

typedef struct rs__filter {
    const char *pattern; /* LIKE pattern for the name, "" = any */
    int funding;         /* 0 = any */
    const char *product; /* "" = any */
    int state;           /* 0 = any, 1 editable, 2 locked */
    int64_t from_us, until_us;
    vc_page page;
} rs__filter;

/* "%<s>%" with LIKE's wildcards escaped by '!' (the query says ESCAPE '!'). */
static char *rs__like_pattern(vc_arena *a, const char *s)
{
    size_t n = strlen(s), o = 0;
    char *p = vc_arena_alloc(a, 2 * n + 3);
    if (!p) return NULL;
    p[o++] = '%';
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' || s[i] == '_' || s[i] == '!') p[o++] = '!';
        p[o++] = s[i];
    }
    p[o++] = '%';
    p[o] = '\0';
    return p;
}

static int rs__parse_range(vc_rpc_ctx *ctx, const Reseller__V1__TimeRange *r, rs__filter *f)
{
    f->from_us = INT64_MIN;
    f->until_us = INT64_MAX;
    if (!r) return VC_GRPC_OK;
    int rc = VC_GRPC_OK;
    if (r->start_time && !vc_ts_to_us(r->start_time, &f->from_us))
        rc = vc_rpc_invalid(ctx, "create_time.start_time", "is not a valid time");
    if (r->end_time && !vc_ts_to_us(r->end_time, &f->until_us))
        rc = vc_rpc_invalid(ctx, "create_time.end_time", "is not a valid time");
    if (rc == VC_GRPC_OK && f->from_us >= f->until_us)
        rc = vc_rpc_invalid(ctx, "create_time.end_time", "must be after start_time");
    return rc;
}

static int rs__parse_filter(vc_rpc_ctx *ctx, const Reseller__V1__ListTemplatesRequest *req,
                            rs__filter *f)
{
    int rc = vc_page_parse(ctx, req->page_size, req->page_token, &f->page);
    f->pattern = "";
    if (req->name && *req->name) {
        rc = rs__also(rc,
                      vc_validate_text(ctx, "name", req->name, RS_TEMPLATE_NAME_MAX, false, false));
        f->pattern = rs__like_pattern(vc_rpc_arena(ctx), req->name);
        if (!f->pattern) return vc_rpc_fail(ctx, VC_ENOMEM, "list templates");
    }
    f->funding = (int)req->funding;
    if (f->funding < 0 || f->funding > RESELLER__V1__FUNDING__FUNDING_RESELLER_FUNDED)
        rc = vc_rpc_invalid(ctx, "funding", "must be PROVIDER_FUNDED, RESELLER_FUNDED or unset");
    f->product = req->product_code ? req->product_code : "";
    if (*f->product && !rs__code_ok(f->product))
        rc = vc_rpc_invalid(ctx, "product_code", "must be 1 to %d characters of A-Z a-z 0-9 _ . -",
                            RS_PRODUCT_CODE_MAX);
    f->state = (int)req->state;
    if (f->state < 0 || f->state > RESELLER__V1__TEMPLATE_STATE__TEMPLATE_STATE_LOCKED)
        rc = vc_rpc_invalid(ctx, "state", "must be EDITABLE, LOCKED or unset");
    return rs__also(rc, rs__parse_range(ctx, req->create_time, f));
}

/* One statement for every combination of filters (unset ones compare to their "any" value), so
   a single prepared statement serves all lists; the keyset condition always applies (the first
   page starts after (INT64_MAX, "")), which lets ix_templates_list drive the scan. */
static const char rs__list_sql[] =
    "SELECT " RS__TPL_COLS " FROM templates "
    "WHERE reseller_id = ? "
    "AND (created_us < ? OR (created_us = ? AND template_id < ?)) "
    "AND created_us >= ? AND created_us < ? "
    "AND (? = '' OR name LIKE ? ESCAPE '!') "
    "AND (? = 0 OR funding = ?) "
    "AND (? = 0 OR (? = 1 AND issued_count = 0) OR (? = 2 AND issued_count > 0)) "
    /* scope_kind 1 = ALL_PRODUCTS, 2 = SPECIFIED_PRODUCTS; codes compare case-sensitively */
    "AND (? = '' "
    "OR (scope_kind = 1 AND FIND_IN_SET(?, excluded_product_codes COLLATE ascii_bin) = 0) "
    "OR (scope_kind = 2 AND FIND_IN_SET(?, product_codes COLLATE ascii_bin) > 0)) "
    "ORDER BY created_us DESC, template_id DESC LIMIT ?";

static int rs__list(vc_db_conn *c, vc_arena *a, const char *tenant, const rs__filter *f,
                    Reseller__V1__ListTemplatesResponse *resp)
{
    const vc_page *pg = &f->page;
    int64_t key = pg->has_cursor ? pg->key : INT64_MAX;
    const char *after = pg->has_cursor ? pg->id : "";
    vc_db_rows *rows;
    int rc =
        vc_db_query(c, rs__list_sql,
                    VC_DB_ARGS(vc_db_str(tenant), vc_db_i64(key), vc_db_i64(key), vc_db_str(after),
                               vc_db_i64(f->from_us), vc_db_i64(f->until_us), vc_db_str(f->pattern),
                               vc_db_str(f->pattern), vc_db_i64(f->funding), vc_db_i64(f->funding),
                               vc_db_i64(f->state), vc_db_i64(f->state), vc_db_i64(f->state),
                               vc_db_str(f->product), vc_db_str(f->product), vc_db_str(f->product),
                               vc_db_i64(pg->limit + 1)),
                    &rows);
    if (rc < 0) return rc;
    resp->templates = vc_arena_alloc(a, (size_t)pg->limit * sizeof(*resp->templates));
    if (!resp->templates) rc = VC_ENOMEM;
    rs_template row;
    size_t n = 0;
    int more = 0;
    int64_t last_key = 0;
    /* LIMIT asked for one row more than the page: when it comes, another page exists. */
    while (rc == 0 && (more = vc_db_next(rows)) == 1 && n < (size_t)pg->limit) {
        rc = rs__template_read(rows, a, &row);
        if (rc == 0) rc = rs_template_to_pb(a, tenant, &row, &resp->templates[n]);
        if (rc == 0) {
            last_key = row.created_us;
            n++;
        }
    }
    if (rc == 0 && more < 0) rc = more;
    resp->n_templates = n;
    if (rc == 0 && more == 1 && n > 0) {
        resp->next_page_token = vc_page_token(a, last_key, resp->templates[n - 1]->template_id);
        if (!resp->next_page_token) rc = VC_ENOMEM;
    }
    vc_db_rows_close(rows);
    return rc < 0 ? rc : 0;
}

static int list_templates(vc_rpc_ctx *ctx, const void *req_, void *resp_)
{
    const Reseller__V1__ListTemplatesRequest *req = req_;
    Reseller__V1__ListTemplatesResponse *resp = resp_;
    rs_app *app = vc_rpc_service_data(ctx);
    char tenant[64];
    int rc = rs_tenant(ctx, NULL, "reseller_id", tenant);
    if (rc != VC_GRPC_OK) return rc;
    rs__filter f;
    rc = rs__parse_filter(ctx, req, &f);
    if (rc != VC_GRPC_OK) return rc;
    vc_db_conn *c;
    rc = vc_db_lease(app->db, VC_DB_DEFAULT_TIMEOUT, &c);
    if (rc == 0) {
        rc = rs__list(c, vc_rpc_arena(ctx), tenant, &f, resp);
        vc_db_release(app->db, c);
    }
    if (rc < 0) return rs_fail(ctx, rc, "list templates");
    return VC_GRPC_OK;
}

/* ---- service table -------------------------------------------------------------------------- */

static const vc_rpc_method rs_template_methods[] = {
    {.name = "CreateTemplate", .unary = create_template},
    {.name = "GetTemplate", .unary = get_template},
    {.name = "UpdateTemplate", .unary = update_template},
    {.name = "ListTemplates", .unary = list_templates},
};

static vc_rpc_service rs_template_table = {
    .descriptor = &reseller__v1__template_service__descriptor,
    .methods = rs_template_methods,
    .n_methods = sizeof(rs_template_methods) / sizeof(rs_template_methods[0]),
    .roles = VC_ROLE_RESELLER,
};

const vc_rpc_service *rs_template_service(rs_app *app)
{
    rs_template_table.data = app;
    return &rs_template_table;
}
