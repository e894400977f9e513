/* reseller.v1.TemplateService against a real reseller-svc: create/get/update/list, every input
   rule (field named, nothing written), request_id idempotency, etags, the lock after issuance
   (also raced against an open issuing transaction), tenant isolation, roles, keyset pages and
   the list filters. One service for the whole file; each test uses its own resellers. */
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/vc_err.h"
#include "harness.h"
#include "reseller/v1/template_service.pb-c.h"

#define SVC(m) "/reseller.v1.TemplateService/" m

#define PROVIDER  RESELLER__V1__FUNDING__FUNDING_PROVIDER_FUNDED
#define RESELLER  RESELLER__V1__FUNDING__FUNDING_RESELLER_FUNDED
#define ALL       RESELLER__V1__PRODUCT_SCOPE_KIND__PRODUCT_SCOPE_KIND_ALL_PRODUCTS
#define SPECIFIED RESELLER__V1__PRODUCT_SCOPE_KIND__PRODUCT_SCOPE_KIND_SPECIFIED_PRODUCTS
#define PREPAID   RESELLER__V1__PAYMENT_MODE__PAYMENT_MODE_PREPAID
#define POSTPAID  RESELLER__V1__PAYMENT_MODE__PAYMENT_MODE_POSTPAID
#define SINGLE    RESELLER__V1__USE_LIMIT__USE_LIMIT_SINGLE_USE
#define MULTI     RESELLER__V1__USE_LIMIT__USE_LIMIT_MULTI_USE
#define EDITABLE  RESELLER__V1__TEMPLATE_STATE__TEMPLATE_STATE_EDITABLE
#define LOCKED    RESELLER__V1__TEMPLATE_STATE__TEMPLATE_STATE_LOCKED
#define DAYS      RESELLER__V1__VALIDITY__PERIOD_DAYS_AFTER_ACTIVATION
#define WINDOW    RESELLER__V1__VALIDITY__PERIOD_FIXED_WINDOW

static th_svc S;
static int rid_seq;

/* ---- helpers ----------------------------------------------------------------------------------
 */

/* A valid template (SPECIFIED ecs+cdn, PREPAID, 30 days, single use) that cases then break. */
typedef struct fx {
    Reseller__V1__Template t;
    Reseller__V1__ProductScope scope;
    Reseller__V1__Validity validity;
    Reseller__V1__TimeRange window;
    Google__Protobuf__Timestamp start, end;
    Reseller__V1__UsageConditions cond;
    Reseller__V1__PaymentMode modes[3];
    char *codes[128];
    char *excluded[4];
} fx;

static void fx_init(fx *f, const char *name)
{
    memset(f, 0, sizeof(*f));
    reseller__v1__template__init(&f->t);
    reseller__v1__product_scope__init(&f->scope);
    reseller__v1__validity__init(&f->validity);
    reseller__v1__time_range__init(&f->window);
    google__protobuf__timestamp__init(&f->start);
    google__protobuf__timestamp__init(&f->end);
    reseller__v1__usage_conditions__init(&f->cond);
    f->t.name = (char *)name;
    f->t.face_value_minor = 5000;
    f->t.funding = PROVIDER;
    f->scope.kind = SPECIFIED;
    f->codes[0] = "ecs";
    f->codes[1] = "cdn";
    f->scope.product_codes = f->codes;
    f->scope.n_product_codes = 2;
    f->scope.excluded_product_codes = f->excluded;
    f->t.product_scope = &f->scope;
    f->modes[0] = PREPAID;
    f->t.payment_modes = f->modes;
    f->t.n_payment_modes = 1;
    f->validity.period_case = DAYS;
    f->validity.days_after_activation = 30;
    f->t.validity = &f->validity;
    f->cond.use_limit = SINGLE;
    f->t.conditions = &f->cond;
}

/* Switches to a fixed window [now + from_days, now + to_days) (whole seconds). */
static void fx_window(fx *f, int from_days, int to_days)
{
    int64_t now = (int64_t)time(NULL);
    f->start.seconds = now + (int64_t)from_days * 86400;
    f->end.seconds = now + (int64_t)to_days * 86400;
    f->window.start_time = &f->start;
    f->window.end_time = &f->end;
    f->validity.period_case = WINDOW;
    f->validity.fixed_window = &f->window;
}

static void fx_all_products(fx *f, char *excluded0)
{
    f->scope.kind = ALL;
    f->scope.n_product_codes = 0;
    f->excluded[0] = excluded0;
    f->scope.n_excluded_product_codes = excluded0 ? 1 : 0;
}

static char *next_rid(char buf[32])
{
    snprintf(buf, 32, "rq-%d", ++rid_seq);
    return buf;
}

static char *reseller_token(const char *reseller)
{
    return th_token(&S, VC_ROLE_RESELLER, "operator", reseller, NULL, false, false);
}

static int create_call(const char *tok, const char *rid, Reseller__V1__Template *t,
                       Reseller__V1__CreateTemplateResponse **out, vc_rpc_result *res)
{
    Reseller__V1__CreateTemplateRequest req = RESELLER__V1__CREATE_TEMPLATE_REQUEST__INIT;
    req.request_id = (char *)rid;
    req.template_ = t;
    ProtobufCMessage *m = NULL;
    int code = th_call(&S, tok, SVC("CreateTemplate"), &req.base,
                       &reseller__v1__create_template_response__descriptor, out ? &m : NULL, res);
    if (out) *out = (Reseller__V1__CreateTemplateResponse *)m;
    return code;
}

/* Creates and returns the response (caller frees with free_msg). */
static Reseller__V1__CreateTemplateResponse *create_ok(const char *tok, fx *f)
{
    char rid[32];
    Reseller__V1__CreateTemplateResponse *r = NULL;
    vc_rpc_result res;
    int code = create_call(tok, next_rid(rid), &f->t, &r, &res);
    if (code != VC_GRPC_OK) fail_msg("CreateTemplate: %d %s", code, res.message);
    assert_non_null(r);
    assert_non_null(r->template_);
    return r;
}

static void free_msg(void *m)
{
    if (m) protobuf_c_message_free_unpacked(m, NULL);
}

static int get_call(const char *tok, const char *id, Reseller__V1__GetTemplateResponse **out,
                    vc_rpc_result *res)
{
    Reseller__V1__GetTemplateRequest req = RESELLER__V1__GET_TEMPLATE_REQUEST__INIT;
    req.template_id = (char *)id;
    ProtobufCMessage *m = NULL;
    int code = th_call(&S, tok, SVC("GetTemplate"), &req.base,
                       &reseller__v1__get_template_response__descriptor, out ? &m : NULL, res);
    if (out) *out = (Reseller__V1__GetTemplateResponse *)m;
    return code;
}

/* update_mask paths: NULL-terminated list, or NULL for no mask. */
static int update_call(const char *tok, Reseller__V1__Template *t, const char *const *paths,
                       Reseller__V1__UpdateTemplateResponse **out, vc_rpc_result *res)
{
    Reseller__V1__UpdateTemplateRequest req = RESELLER__V1__UPDATE_TEMPLATE_REQUEST__INIT;
    Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    req.template_ = t;
    if (paths) {
        while (paths[mask.n_paths])
            mask.n_paths++;
        mask.paths = (char **)paths;
        req.update_mask = &mask;
    }
    ProtobufCMessage *m = NULL;
    int code = th_call(&S, tok, SVC("UpdateTemplate"), &req.base,
                       &reseller__v1__update_template_response__descriptor, out ? &m : NULL, res);
    if (out) *out = (Reseller__V1__UpdateTemplateResponse *)m;
    return code;
}

static int list_call(const char *tok, Reseller__V1__ListTemplatesRequest *req,
                     Reseller__V1__ListTemplatesResponse **out, vc_rpc_result *res)
{
    ProtobufCMessage *m = NULL;
    int code = th_call(&S, tok, SVC("ListTemplates"), &req->base,
                       &reseller__v1__list_templates_response__descriptor, out ? &m : NULL, res);
    if (out) *out = (Reseller__V1__ListTemplatesResponse *)m;
    return code;
}

static int64_t sql_i64(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int64_t sql_i64(const char *fmt, ...)
{
    char sql[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    return th_query_i64(&S, sql);
}

/* Stands in for issuance (vouchers.c): marks vouchers as issued from the template. */
static void set_issued(const char *id, int64_t n)
{
    vc_db_conn *c;
    assert_int_equal(vc_db_lease(S.db, 10000, &c), 0);
    uint64_t matched = 0;
    assert_int_equal(vc_db_exec(c, "UPDATE templates SET issued_count = ? WHERE template_id = ?",
                                VC_DB_ARGS(vc_db_i64(n), vc_db_str(id)), &matched),
                     0);
    vc_db_release(S.db, c);
    assert_int_equal(matched, 1);
}

/* Asserts the writable fields of `got` equal those `f` asked for. */
static void assert_same_terms(const Reseller__V1__Template *got, const fx *f)
{
    const Reseller__V1__Template *t = &f->t;
    assert_string_equal(got->name, t->name);
    assert_int_equal(got->face_value_minor, t->face_value_minor);
    assert_int_equal(got->funding, t->funding);
    assert_string_equal(got->remarks, t->remarks);
    assert_non_null(got->product_scope);
    assert_int_equal(got->product_scope->kind, f->scope.kind);
    assert_int_equal(got->product_scope->n_product_codes, f->scope.n_product_codes);
    for (size_t i = 0; i < f->scope.n_product_codes; i++)
        assert_string_equal(got->product_scope->product_codes[i], f->scope.product_codes[i]);
    assert_int_equal(got->product_scope->n_excluded_product_codes,
                     f->scope.n_excluded_product_codes);
    for (size_t i = 0; i < f->scope.n_excluded_product_codes; i++)
        assert_string_equal(got->product_scope->excluded_product_codes[i],
                            f->scope.excluded_product_codes[i]);
    assert_int_equal(got->n_payment_modes, t->n_payment_modes);
    for (size_t i = 0; i < t->n_payment_modes; i++)
        assert_int_equal(got->payment_modes[i], t->payment_modes[i]);
    assert_non_null(got->validity);
    assert_int_equal(got->validity->period_case, f->validity.period_case);
    if (f->validity.period_case == DAYS) {
        assert_int_equal(got->validity->days_after_activation, f->validity.days_after_activation);
    } else {
        assert_int_equal(got->validity->fixed_window->start_time->seconds, f->start.seconds);
        assert_int_equal(got->validity->fixed_window->end_time->seconds, f->end.seconds);
    }
    assert_non_null(got->conditions);
    assert_int_equal(got->conditions->min_order_amount_minor, f->cond.min_order_amount_minor);
    assert_int_equal(got->conditions->min_purchase_months, f->cond.min_purchase_months);
    assert_int_equal(got->conditions->max_purchase_months, f->cond.max_purchase_months);
    assert_int_equal(got->conditions->use_limit, f->cond.use_limit);
}

/* ---- create / get -------------------------------------------------------------------------- */

static void test_create_and_get(void **state)
{
    (void)state;
    char *tok = reseller_token("r_create");
    fx f;
    fx_init(&f, "Spring promotion");
    f.modes[1] = POSTPAID;
    f.t.n_payment_modes = 2;
    f.cond.min_order_amount_minor = 1000;
    f.cond.min_purchase_months = 1;
    f.cond.max_purchase_months = 12;
    f.cond.use_limit = MULTI;
    f.t.remarks = "for new customers\nsecond line";
    f.t.template_id = "tpl_client_chosen"; /* output-only: ignored */
    f.t.issued_count = 7;                  /* output-only: ignored */
    Reseller__V1__CreateTemplateResponse *cr = create_ok(tok, &f);
    const Reseller__V1__Template *t = cr->template_;
    assert_int_equal(strncmp(t->template_id, "tpl_", 4), 0);
    assert_string_equal(t->reseller_id, "r_create");
    assert_string_equal(t->currency_code, "CNY"); /* empty = the reseller's */
    assert_int_equal(t->state, EDITABLE);
    assert_int_equal(t->issued_count, 0);
    assert_string_equal(t->etag, "1");
    assert_non_null(t->create_time);
    assert_non_null(t->update_time);
    assert_true(t->create_time->seconds > 1600000000);
    assert_same_terms(t, &f);
    assert_int_equal(sql_i64("SELECT COUNT(*) FROM templates WHERE template_id = '%s' AND "
                             "reseller_id = 'r_create' AND version = 1 AND payment_modes = 3 "
                             "AND product_codes = 'ecs,cdn' AND validity_days = 30",
                             t->template_id),
                     1);

    Reseller__V1__GetTemplateResponse *gr = NULL;
    vc_rpc_result res;
    assert_int_equal(get_call(tok, t->template_id, &gr, &res), VC_GRPC_OK);
    assert_string_equal(gr->template_->template_id, t->template_id);
    assert_string_equal(gr->template_->etag, "1");
    assert_int_equal(gr->template_->state, EDITABLE);
    assert_int_equal(gr->template_->create_time->seconds, t->create_time->seconds);
    assert_int_equal(gr->template_->create_time->nanos, t->create_time->nanos);
    assert_same_terms(gr->template_, &f);
    free_msg(gr);
    free_msg(cr);

    assert_int_equal(get_call(tok, "tpl_unknown", NULL, &res), VC_GRPC_NOT_FOUND);
    assert_int_equal(get_call(tok, "", NULL, &res), VC_GRPC_INVALID_ARGUMENT);
    assert_string_equal(res.fields, "template_id");
    free(tok);
}

/* The largest accepted values, a fixed window, ALL_PRODUCTS with exclusions. */
static void test_create_boundaries(void **state)
{
    (void)state;
    char *tok = reseller_token("r_bounds");
    static char name[2 * 128 + 1], remarks[1025], codes[100][8];
    for (int i = 0; i < 128; i++)
        memcpy(name + 2 * i, "\xc3\xa9", 2); /* 128 x "é": 128 characters, 256 bytes */
    memset(remarks, 'r', 1024);
    fx f;
    fx_init(&f, name);
    f.t.remarks = remarks;
    f.t.face_value_minor = 1000000000000LL;
    f.t.currency_code = "CNY";
    f.t.funding = RESELLER;
    for (int i = 0; i < 100; i++) {
        snprintf(codes[i], sizeof(codes[i]), "p.%d_x", i);
        f.codes[i] = codes[i];
    }
    f.scope.n_product_codes = 100;
    f.validity.days_after_activation = 3650;
    f.cond.min_purchase_months = 120;
    f.cond.max_purchase_months = 120;
    Reseller__V1__CreateTemplateResponse *cr = create_ok(tok, &f);
    assert_same_terms(cr->template_, &f);
    free_msg(cr);

    fx w;
    fx_init(&w, "Window \xf0\x9f\x8e\x89 \xe4\xbb\xa3\xe9\x87\x91\xe5\x88\xb8"); /* emoji, CJK */
    fx_window(&w, -10, 20); /* may already have started */
    fx_all_products(&w, "gpu-A");
    w.cond.min_purchase_months = 3; /* max 0 = no upper limit */
    cr = create_ok(tok, &w);
    assert_same_terms(cr->template_, &w);
    assert_int_equal(sql_i64("SELECT COUNT(*) FROM templates WHERE template_id = '%s' AND "
                             "validity_days IS NULL AND valid_from_us = %" PRId64 "000000 AND "
                             "excluded_product_codes = 'gpu-A' AND product_codes = ''",
                             cr->template_->template_id, (int64_t)w.start.seconds),
                     1);
    free_msg(cr);
    free(tok);
}

/* Breaks one rule of a valid template; returns the field the answer must name, NULL when there
   are no more cases. */
static const char *break_rule(fx *f, int i)
{
    static char long_name[130], long_code[66], remarks[1026], codes[101][8];
    switch (i) {
    case 0: f->t.name = ""; return "template.name";
    case 1:
        memset(long_name, 'n', 129);
        f->t.name = long_name;
        return "template.name";
    case 2: f->t.name = "bad \xff utf8"; return "template.name";
    case 3: f->t.name = "tab\there"; return "template.name";
    case 4: f->t.name = "   "; return "template.name";
    case 5: f->t.face_value_minor = 0; return "template.face_value_minor";
    case 6: f->t.face_value_minor = 1000000000001LL; return "template.face_value_minor";
    case 7: f->t.face_value_minor = -5; return "template.face_value_minor";
    case 8: f->t.currency_code = "USD"; return "template.currency_code";
    case 9: f->t.currency_code = "cny"; return "template.currency_code";
    case 10: f->t.funding = 0; return "template.funding";
    case 11: f->t.funding = 9; return "template.funding";
    case 12: f->t.product_scope = NULL; return "template.product_scope";
    case 13: f->scope.kind = 0; return "template.product_scope.kind";
    case 14: f->scope.kind = ALL; return "template.product_scope.product_codes";
    case 15: f->scope.n_product_codes = 0; return "template.product_scope.product_codes";
    case 16:
        f->excluded[0] = "gpu";
        f->scope.n_excluded_product_codes = 1;
        return "template.product_scope.excluded_product_codes";
    case 17: f->codes[1] = "c d"; return "template.product_scope.product_codes[1]";
    case 18: f->codes[0] = "a,b"; return "template.product_scope.product_codes[0]";
    case 19:
        memset(long_code, 'c', 65);
        f->codes[0] = long_code;
        return "template.product_scope.product_codes[0]";
    case 20: f->codes[1] = ""; return "template.product_scope.product_codes[1]";
    case 21: f->codes[1] = "ecs"; return "template.product_scope.product_codes[1]";
    case 22:
        for (int k = 0; k < 101; k++) {
            snprintf(codes[k], sizeof(codes[k]), "p%d", k);
            f->codes[k] = codes[k];
        }
        f->scope.n_product_codes = 101;
        return "template.product_scope.product_codes";
    case 23: fx_all_products(f, "x;y"); return "template.product_scope.excluded_product_codes[0]";
    case 24: f->t.n_payment_modes = 0; return "template.payment_modes";
    case 25:
        f->modes[1] = PREPAID;
        f->t.n_payment_modes = 2;
        return "template.payment_modes[1]";
    case 26: f->modes[0] = 0; return "template.payment_modes[0]";
    case 27:
        f->modes[1] = POSTPAID;
        f->modes[2] = PREPAID;
        f->t.n_payment_modes = 3;
        return "template.payment_modes";
    case 28: f->t.validity = NULL; return "template.validity";
    case 29: f->validity.period_case = 0; return "template.validity";
    case 30:
        f->validity.days_after_activation = 0;
        return "template.validity.days_after_activation";
    case 31:
        f->validity.days_after_activation = 3651;
        return "template.validity.days_after_activation";
    case 32:
        fx_window(f, 1, 30);
        f->window.start_time = NULL;
        return "template.validity.fixed_window.start_time";
    case 33:
        fx_window(f, 1, 30);
        f->window.end_time = NULL;
        return "template.validity.fixed_window.end_time";
    case 34: fx_window(f, 5, 5); return "template.validity.fixed_window.end_time";
    case 35: fx_window(f, -30, -1); return "template.validity.fixed_window.end_time";
    case 36:
        fx_window(f, 1, 30);
        f->start.nanos = -1;
        return "template.validity.fixed_window.start_time";
    case 37:
        f->cond.min_order_amount_minor = -1;
        return "template.conditions.min_order_amount_minor";
    case 38: f->cond.min_purchase_months = 121; return "template.conditions.min_purchase_months";
    case 39: f->cond.max_purchase_months = -1; return "template.conditions.max_purchase_months";
    case 40:
        f->cond.min_purchase_months = 6;
        f->cond.max_purchase_months = 3;
        return "template.conditions.min_purchase_months";
    case 41: f->cond.use_limit = 0; return "template.conditions.use_limit";
    case 42: f->t.conditions = NULL; return "template.conditions";
    case 43:
        memset(remarks, 'r', 1025);
        f->t.remarks = remarks;
        return "template.remarks";
    case 44: f->t.remarks = "nul\x01"; return "template.remarks";
    case 45:
        f->t.name = "";
        f->t.face_value_minor = 0;
        f->cond.use_limit = 0;
        return "template.name,template.face_value_minor,template.conditions.use_limit";
    case 46: f->t.name = "overlong \xc0\xaf"; return "template.name";
    case 47: f->t.name = "surrogate \xed\xa0\x80"; return "template.name";
    case 48: f->t.name = "cut \xe2\x82"; return "template.name";
    case 49: f->t.name = "beyond \xf4\x90\x80\x80"; return "template.name";
    case 50: f->t.remarks = "lone \x80"; return "template.remarks";
    default: return NULL;
    }
}

static void test_create_validation(void **state)
{
    (void)state;
    char *tok = reseller_token("r_valid");
    int64_t rows = sql_i64("SELECT COUNT(*) FROM templates");
    int64_t logged = sql_i64("SELECT COUNT(*) FROM request_log");
    int cases = 0;
    for (int i = 0;; i++) {
        fx f;
        fx_init(&f, "Valid");
        const char *field = break_rule(&f, i);
        if (!field) break;
        char rid[32];
        vc_rpc_result res;
        int code = create_call(tok, next_rid(rid), &f.t, NULL, &res);
        if (code != VC_GRPC_INVALID_ARGUMENT || strcmp(res.fields, field) != 0)
            fail_msg("case %d: want INVALID_ARGUMENT on %s, got %d [%s] %s", i, field, code,
                     res.fields, res.message);
        cases++;
    }
    assert_int_equal(cases, 51);

    vc_rpc_result res;
    fx f;
    fx_init(&f, "Valid");
    assert_int_equal(create_call(tok, "", &f.t, NULL, &res), VC_GRPC_INVALID_ARGUMENT);
    assert_string_equal(res.fields, "request_id");
    assert_int_equal(create_call(tok, "bad id!", &f.t, NULL, &res), VC_GRPC_INVALID_ARGUMENT);
    assert_string_equal(res.fields, "request_id");
    assert_int_equal(create_call(tok, "rq-no-template", NULL, NULL, &res),
                     VC_GRPC_INVALID_ARGUMENT);
    assert_string_equal(res.fields, "template");

    assert_int_equal(sql_i64("SELECT COUNT(*) FROM templates"), rows);
    assert_int_equal(sql_i64("SELECT COUNT(*) FROM request_log"), logged);
    free(tok);
}

static void test_create_idempotent(void **state)
{
    (void)state;
    char *tok = reseller_token("r_idem");
    fx f;
    fx_init(&f, "Once");
    Reseller__V1__CreateTemplateResponse *a = NULL, *b = NULL;
    vc_rpc_result res;
    assert_int_equal(create_call(tok, "idem-1", &f.t, &a, &res), VC_GRPC_OK);
    assert_int_equal(create_call(tok, "idem-1", &f.t, &b, &res), VC_GRPC_OK);
    assert_string_equal(a->template_->template_id, b->template_->template_id);
    assert_string_equal(b->template_->etag, "1");
    assert_int_equal(sql_i64("SELECT COUNT(*) FROM templates WHERE reseller_id = 'r_idem'"), 1);

    f.t.name = "Once, but different";
    assert_int_equal(create_call(tok, "idem-1", &f.t, NULL, &res), VC_GRPC_ALREADY_EXISTS);
    assert_int_equal(sql_i64("SELECT COUNT(*) FROM templates WHERE reseller_id = 'r_idem'"), 1);

    /* The key is per reseller: another reseller may use the same request_id. */
    char *tok2 = reseller_token("r_idem2");
    Reseller__V1__CreateTemplateResponse *c = NULL;
    assert_int_equal(create_call(tok2, "idem-1", &f.t, &c, &res), VC_GRPC_OK);
    assert_string_not_equal(c->template_->template_id, a->template_->template_id);
    assert_string_equal(c->template_->reseller_id, "r_idem2");
    free_msg(a);
    free_msg(b);
    free_msg(c);
    free(tok);
    free(tok2);
}

/* ---- update ------------------------------------------------------------------------------ */

static void test_update(void **state)
{
    (void)state;
    char *tok = reseller_token("r_upd");
    vc_rpc_result res;
    fx base;
    fx_init(&base, "Base");
    base.cond.min_purchase_months = 6;
    base.cond.max_purchase_months = 12;
    base.cond.use_limit = MULTI;
    Reseller__V1__CreateTemplateResponse *cr = create_ok(tok, &base);
    char id[64];
    snprintf(id, sizeof(id), "%s", cr->template_->template_id);
    free_msg(cr);

    /* Masked: only the name changes; the invalid face value outside the mask is ignored. */
    fx e;
    fx_init(&e, "Renamed");
    e.t.template_id = id;
    e.t.etag = "1";
    e.t.face_value_minor = 0;
    Reseller__V1__UpdateTemplateResponse *ur = NULL;
    assert_int_equal(update_call(tok, &e.t, (const char *[]){"name", NULL}, &ur, &res), VC_GRPC_OK);
    assert_string_equal(ur->template_->etag, "2");
    base.t.name = "Renamed";
    assert_same_terms(ur->template_, &base);
    assert_true(
        ur->template_->update_time->seconds * 1000000000LL + ur->template_->update_time->nanos >=
        ur->template_->create_time->seconds * 1000000000LL + ur->template_->create_time->nanos);
    free_msg(ur);
    assert_int_equal(sql_i64("SELECT version FROM templates WHERE template_id = '%s'", id), 2);

    /* Stale etag. */
    e.t.name = "Lost update";
    assert_int_equal(update_call(tok, &e.t, (const char *[]){"name", NULL}, NULL, &res),
                     VC_GRPC_ABORTED);
    assert_non_null(strstr(res.message, "etag mismatch"));

    /* Input errors change nothing. */
    e.t.etag = "2";
    e.t.name = "";
    assert_int_equal(update_call(tok, &e.t, (const char *[]){"name", NULL}, NULL, &res),
                     VC_GRPC_INVALID_ARGUMENT);
    assert_string_equal(res.fields, "template.name");
    e.t.name = "Renamed again";
    assert_int_equal(update_call(tok, &e.t, (const char *[]){"currency_code", NULL}, NULL, &res),
                     VC_GRPC_INVALID_ARGUMENT);
    assert_string_equal(res.fields, "update_mask");
    assert_int_equal(update_call(tok, &e.t, (const char *[]){"name", "bogus", NULL}, NULL, &res),
                     VC_GRPC_INVALID_ARGUMENT);
    assert_string_equal(res.fields, "update_mask");
    e.t.etag = "";
    assert_int_equal(update_call(tok, &e.t, (const char *[]){"name", NULL}, NULL, &res),
                     VC_GRPC_INVALID_ARGUMENT);
    assert_string_equal(res.fields, "template.etag");
    e.t.etag = "2x";
    assert_int_equal(update_call(tok, &e.t, (const char *[]){"name", NULL}, NULL, &res),
                     VC_GRPC_INVALID_ARGUMENT);
    assert_string_equal(res.fields, "template.etag");
    e.t.etag = "2";
    e.t.template_id = "";
    assert_int_equal(update_call(tok, &e.t, (const char *[]){"name", NULL}, NULL, &res),
                     VC_GRPC_INVALID_ARGUMENT);
    assert_string_equal(res.fields, "template.template_id");
    e.t.template_id = id;
    e.t.currency_code = "USD";
    assert_int_equal(update_call(tok, &e.t, (const char *[]){"name", NULL}, NULL, &res),
                     VC_GRPC_INVALID_ARGUMENT);
    assert_string_equal(res.fields, "template.currency_code");
    e.t.currency_code = "";
    assert_int_equal(update_call(tok, NULL, NULL, NULL, &res), VC_GRPC_INVALID_ARGUMENT);
    assert_string_equal(res.fields, "template");
    /* One bound in the mask is checked against the stored other one (min 6). */
    e.cond.max_purchase_months = 3;
    assert_int_equal(update_call(tok, &e.t,
                                 (const char *[]){"conditions.max_purchase_months", NULL}, NULL,
                                 &res),
                     VC_GRPC_INVALID_ARGUMENT);
    assert_string_equal(res.fields, "template.conditions.min_purchase_months");
    assert_int_equal(sql_i64("SELECT COUNT(*) FROM templates WHERE template_id = '%s' AND "
                             "version = 2 AND name = 'Renamed' AND max_purchase_months = 12",
                             id),
                     1);

    /* A conditions sub-field alone. */
    e.cond.min_order_amount_minor = 700;
    assert_int_equal(update_call(tok, &e.t,
                                 (const char *[]){"conditions.min_order_amount_minor", NULL}, &ur,
                                 &res),
                     VC_GRPC_OK);
    assert_string_equal(ur->template_->etag, "3");
    base.cond.min_order_amount_minor = 700;
    assert_same_terms(ur->template_, &base);
    free_msg(ur);

    /* No mask: every writable field is replaced. */
    fx full;
    fx_init(&full, "Replaced");
    full.t.template_id = id;
    full.t.etag = "3";
    full.t.currency_code = "CNY";
    full.t.funding = RESELLER;
    full.t.face_value_minor = 9999;
    full.t.remarks = "v4";
    fx_all_products(&full, "gpu");
    full.modes[0] = POSTPAID;
    full.modes[1] = PREPAID;
    full.t.n_payment_modes = 2;
    fx_window(&full, 1, 60);
    assert_int_equal(update_call(tok, &full.t, NULL, &ur, &res), VC_GRPC_OK);
    assert_string_equal(ur->template_->etag, "4");
    full.modes[0] = PREPAID; /* answered in canonical order */
    full.modes[1] = POSTPAID;
    assert_same_terms(ur->template_, &full);
    free_msg(ur);
    Reseller__V1__GetTemplateResponse *gr = NULL;
    assert_int_equal(get_call(tok, id, &gr, &res), VC_GRPC_OK);
    assert_same_terms(gr->template_, &full);
    assert_string_equal(gr->template_->etag, "4");
    free_msg(gr);
    assert_int_equal(sql_i64("SELECT COUNT(*) FROM templates WHERE template_id = '%s' AND "
                             "validity_days IS NULL AND product_codes = '' AND version = 4",
                             id),
                     1);

    full.t.template_id = "tpl_nope";
    full.t.etag = "4";
    assert_int_equal(update_call(tok, &full.t, NULL, NULL, &res), VC_GRPC_NOT_FOUND);
    free(tok);
}

static void test_update_after_issue(void **state)
{
    (void)state;
    char *tok = reseller_token("r_locked");
    fx f;
    fx_init(&f, "Issued from");
    Reseller__V1__CreateTemplateResponse *cr = create_ok(tok, &f);
    char id[64];
    snprintf(id, sizeof(id), "%s", cr->template_->template_id);
    free_msg(cr);
    set_issued(id, 1);

    vc_rpc_result res;
    f.t.template_id = id;
    f.t.etag = "1";
    f.t.name = "Too late";
    assert_int_equal(update_call(tok, &f.t, NULL, NULL, &res), VC_GRPC_FAILED_PRECONDITION);
    assert_non_null(strstr(res.message, "vouchers were issued"));
    assert_non_null(strstr(res.message, "create a new template"));
    f.t.etag = "7"; /* locked wins over a stale etag: reloading would not help */
    assert_int_equal(update_call(tok, &f.t, NULL, NULL, &res), VC_GRPC_FAILED_PRECONDITION);

    Reseller__V1__GetTemplateResponse *gr = NULL;
    assert_int_equal(get_call(tok, id, &gr, &res), VC_GRPC_OK);
    assert_int_equal(gr->template_->state, LOCKED);
    assert_int_equal(gr->template_->issued_count, 1);
    assert_string_equal(gr->template_->etag, "1");
    assert_string_equal(gr->template_->name, "Issued from");
    free_msg(gr);
    free(tok);
}

typedef struct race {
    const char *tok;
    const char *id;
    atomic_int code; /* -1 while the call runs */
} race;

static void *race_edit(void *arg)
{
    race *r = arg;
    fx f;
    fx_init(&f, "Raced edit");
    f.t.template_id = (char *)r->id;
    f.t.etag = "1";
    Reseller__V1__UpdateTemplateRequest req = RESELLER__V1__UPDATE_TEMPLATE_REQUEST__INIT;
    req.template_ = &f.t;
    vc_rpc_call_opts o = {.bearer = r->tok, .timeout_ms = 30000};
    vc_rpc_result res;
    ProtobufCMessage *m = NULL;
    int rc = vc_rpc_client_unary(S.cli, SVC("UpdateTemplate"), &req.base,
                                 &reseller__v1__update_template_response__descriptor, NULL, &m, &o,
                                 &res);
    free_msg(m);
    atomic_store(&r->code, rc == 0 ? res.code : 1000);
    return NULL;
}

/* An edit that starts while an issuing transaction holds the row (as
   rs_template_lock_for_issue does) waits for it and then fails: it cannot slip in between. */
static void test_update_races_issue(void **state)
{
    (void)state;
    char *tok = reseller_token("r_race");
    fx f;
    fx_init(&f, "Before issue");
    Reseller__V1__CreateTemplateResponse *cr = create_ok(tok, &f);
    char id[64];
    snprintf(id, sizeof(id), "%s", cr->template_->template_id);
    free_msg(cr);

    vc_db_conn *c;
    assert_int_equal(vc_db_lease(S.db, 10000, &c), 0);
    assert_int_equal(vc_db_exec_text(c, "BEGIN", 5), 0);
    uint64_t matched = 0;
    assert_int_equal(vc_db_exec(c,
                                "UPDATE templates SET issued_count = issued_count + 1 "
                                "WHERE template_id = ?",
                                VC_DB_ARGS(vc_db_str(id)), &matched),
                     0);
    assert_int_equal(matched, 1);
    race r = {.tok = tok, .id = id};
    atomic_init(&r.code, -1);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, race_edit, &r), 0);
    usleep(700 * 1000);
    int during = atomic_load(&r.code);
    assert_int_equal(vc_db_exec_text(c, "COMMIT", 6), 0);
    vc_db_release(S.db, c);
    pthread_join(th, NULL);
    assert_int_equal(during, -1); /* it waited for the issuing transaction */
    assert_int_equal(atomic_load(&r.code), VC_GRPC_FAILED_PRECONDITION);
    assert_int_equal(sql_i64("SELECT COUNT(*) FROM templates WHERE template_id = '%s' AND "
                             "name = 'Before issue' AND version = 1 AND issued_count = 1",
                             id),
                     1);
    free(tok);
}

/* One unary call from a thread (th_call asserts, which only the main thread may do). */
typedef struct racer {
    pthread_t th;
    const char *tok;
    const char *path;
    const ProtobufCMessage *req;
    const ProtobufCMessageDescriptor *resp_desc;
    int code;
    char template_id[64];
} racer;

static void *racer_run(void *arg)
{
    racer *r = arg;
    vc_rpc_call_opts o = {.bearer = r->tok, .timeout_ms = 30000};
    vc_rpc_result res;
    ProtobufCMessage *m = NULL;
    r->code = vc_rpc_client_unary(S.cli, r->path, r->req, r->resp_desc, NULL, &m, &o, &res) == 0
                  ? res.code
                  : 1000;
    /* Create and Update responses both hold the template as field 1. */
    Reseller__V1__CreateTemplateResponse *cr = (Reseller__V1__CreateTemplateResponse *)m;
    if (m && cr->template_)
        snprintf(r->template_id, sizeof(r->template_id), "%s", cr->template_->template_id);
    free_msg(m);
    return NULL;
}

static void race_all(racer *rs, int n)
{
    for (int i = 0; i < n; i++)
        assert_int_equal(pthread_create(&rs[i].th, NULL, racer_run, &rs[i]), 0);
    for (int i = 0; i < n; i++)
        pthread_join(rs[i].th, NULL);
}

/* Concurrent creates with one request_id make one template and all get it; concurrent edits
   from the same etag: exactly one wins, the others are told to reload. */
static void test_concurrent_create_and_edit(void **state)
{
    (void)state;
    enum { N = 6 };
    char *tok = reseller_token("r_concurrent");
    fx f;
    fx_init(&f, "Concurrent");
    Reseller__V1__CreateTemplateRequest creq = RESELLER__V1__CREATE_TEMPLATE_REQUEST__INIT;
    creq.request_id = "same-request";
    creq.template_ = &f.t;
    racer rs[N];
    memset(rs, 0, sizeof(rs));
    for (int i = 0; i < N; i++)
        rs[i] = (racer){.tok = tok,
                        .path = SVC("CreateTemplate"),
                        .req = &creq.base,
                        .resp_desc = &reseller__v1__create_template_response__descriptor};
    race_all(rs, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(rs[i].code, VC_GRPC_OK);
        assert_string_equal(rs[i].template_id, rs[0].template_id);
    }
    assert_int_equal(sql_i64("SELECT COUNT(*) FROM templates WHERE reseller_id = 'r_concurrent'"),
                     1);

    fx e[N];
    Reseller__V1__UpdateTemplateRequest ureq[N];
    char names[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "Edit %d", i);
        fx_init(&e[i], names[i]);
        e[i].t.template_id = rs[0].template_id;
        e[i].t.etag = "1";
        reseller__v1__update_template_request__init(&ureq[i]);
        ureq[i].template_ = &e[i].t;
    }
    racer us[N];
    memset(us, 0, sizeof(us));
    for (int i = 0; i < N; i++)
        us[i] = (racer){.tok = tok,
                        .path = SVC("UpdateTemplate"),
                        .req = &ureq[i].base,
                        .resp_desc = &reseller__v1__update_template_response__descriptor};
    race_all(us, N);
    int won = 0;
    for (int i = 0; i < N; i++) {
        if (us[i].code == VC_GRPC_OK)
            won++;
        else
            assert_int_equal(us[i].code, VC_GRPC_ABORTED);
    }
    assert_int_equal(won, 1);
    assert_int_equal(
        sql_i64("SELECT version FROM templates WHERE template_id = '%s'", rs[0].template_id), 2);
    free(tok);
}

/* ---- isolation and roles ------------------------------------------------------------------- */

static void test_other_reseller(void **state)
{
    (void)state;
    char *mine = reseller_token("r_owner");
    char *other = reseller_token("r_intruder");
    fx f;
    fx_init(&f, "Private");
    Reseller__V1__CreateTemplateResponse *cr = create_ok(mine, &f);
    char id[64];
    snprintf(id, sizeof(id), "%s", cr->template_->template_id);
    free_msg(cr);
    fx g;
    fx_init(&g, "Intruder's own");
    free_msg(create_ok(other, &g));

    vc_rpc_result res;
    assert_int_equal(get_call(other, id, NULL, &res), VC_GRPC_NOT_FOUND);
    f.t.template_id = id;
    f.t.etag = "1";
    f.t.name = "Hijacked";
    assert_int_equal(update_call(other, &f.t, NULL, NULL, &res), VC_GRPC_NOT_FOUND);
    assert_int_equal(sql_i64("SELECT COUNT(*) FROM templates WHERE template_id = '%s' AND "
                             "name = 'Private' AND version = 1",
                             id),
                     1);

    Reseller__V1__ListTemplatesRequest lr = RESELLER__V1__LIST_TEMPLATES_REQUEST__INIT;
    Reseller__V1__ListTemplatesResponse *page = NULL;
    assert_int_equal(list_call(other, &lr, &page, &res), VC_GRPC_OK);
    assert_int_equal(page->n_templates, 1);
    assert_string_equal(page->templates[0]->name, "Intruder's own");
    assert_string_equal(page->templates[0]->reseller_id, "r_intruder");
    free_msg(page);
    free(mine);
    free(other);
}

static void test_roles(void **state)
{
    (void)state;
    char *toks[] = {
        th_token(&S, VC_ROLE_CUSTOMER, "cust", "r_roles", "c1", true, true),
        th_token(&S, VC_ROLE_BILLING, "billing", NULL, NULL, false, false),
        th_token(&S, VC_ROLE_STAFF, "staff", NULL, NULL, false, false),
        th_token(&S, VC_ROLE_SERVICE, "approval-svc", NULL, NULL, false, false),
    };
    fx f;
    fx_init(&f, "Not allowed");
    Reseller__V1__ListTemplatesRequest lr = RESELLER__V1__LIST_TEMPLATES_REQUEST__INIT;
    vc_rpc_result res;
    for (size_t i = 0; i < sizeof(toks) / sizeof(toks[0]); i++) {
        f.t.template_id = "tpl_x";
        f.t.etag = "1";
        assert_int_equal(create_call(toks[i], "role-1", &f.t, NULL, &res),
                         VC_GRPC_PERMISSION_DENIED);
        assert_int_equal(get_call(toks[i], "tpl_x", NULL, &res), VC_GRPC_PERMISSION_DENIED);
        assert_int_equal(update_call(toks[i], &f.t, NULL, NULL, &res), VC_GRPC_PERMISSION_DENIED);
        assert_int_equal(list_call(toks[i], &lr, NULL, &res), VC_GRPC_PERMISSION_DENIED);
        free(toks[i]);
    }
    assert_int_equal(create_call(NULL, "role-2", &f.t, NULL, &res), VC_GRPC_UNAUTHENTICATED);
    assert_int_equal(sql_i64("SELECT COUNT(*) FROM templates WHERE name = 'Not allowed'"), 0);
}

/* ---- list ---------------------------------------------------------------------------------- */

static void test_list_pages(void **state)
{
    (void)state;
    char *tok = reseller_token("r_pages");
    char ids[7][64];
    for (int i = 0; i < 7; i++) {
        char name[16];
        snprintf(name, sizeof(name), "Page %d", i);
        fx f;
        fx_init(&f, name);
        Reseller__V1__CreateTemplateResponse *cr = create_ok(tok, &f);
        snprintf(ids[i], sizeof(ids[i]), "%s", cr->template_->template_id);
        free_msg(cr);
    }
    Reseller__V1__ListTemplatesRequest lr = RESELLER__V1__LIST_TEMPLATES_REQUEST__INIT;
    lr.page_size = 3;
    char token[256] = "";
    int seen = 0, pages = 0;
    const size_t want_sizes[] = {3, 3, 1};
    do {
        lr.page_token = token;
        Reseller__V1__ListTemplatesResponse *page = NULL;
        vc_rpc_result res;
        assert_int_equal(list_call(tok, &lr, &page, &res), VC_GRPC_OK);
        assert_true(pages < 3);
        assert_int_equal(page->n_templates, want_sizes[pages]);
        for (size_t i = 0; i < page->n_templates; i++, seen++)
            assert_string_equal(page->templates[i]->template_id, ids[6 - seen]); /* newest first */
        assert_int_equal(*page->next_page_token != '\0', pages < 2);
        snprintf(token, sizeof(token), "%s", page->next_page_token);
        free_msg(page);
        pages++;
    } while (*token);
    assert_int_equal(seen, 7);

    /* A page that holds everything has no continuation. */
    lr.page_size = 7;
    lr.page_token = "";
    Reseller__V1__ListTemplatesResponse *page = NULL;
    vc_rpc_result res;
    assert_int_equal(list_call(tok, &lr, &page, &res), VC_GRPC_OK);
    assert_int_equal(page->n_templates, 7);
    assert_string_equal(page->next_page_token, "");
    free_msg(page);
    free(tok);
}

/* Names of one list page, newest first, joined with '|'. */
static const char *list_names(const char *tok, Reseller__V1__ListTemplatesRequest *lr)
{
    static char out[512];
    Reseller__V1__ListTemplatesResponse *page = NULL;
    vc_rpc_result res;
    int code = list_call(tok, lr, &page, &res);
    if (code != VC_GRPC_OK) fail_msg("ListTemplates: %d %s", code, res.message);
    out[0] = '\0';
    for (size_t i = 0; i < page->n_templates; i++) {
        size_t used = strlen(out);
        snprintf(out + used, sizeof(out) - used, "%s%s", i ? "|" : "", page->templates[i]->name);
    }
    free_msg(page);
    return out;
}

static void test_list_filters(void **state)
{
    (void)state;
    char *tok = reseller_token("r_filter");
    fx f[5];
    fx_init(&f[0], "Alpha Spring"); /* PROVIDER, SPECIFIED ecs,cdn */
    fx_init(&f[1], "alpha summer");
    f[1].t.funding = RESELLER;
    fx_all_products(&f[1], "cdn");
    fx_init(&f[2], "Beta 100% off");
    fx_all_products(&f[2], NULL);
    fx_init(&f[3], "Beta 100 off");
    f[3].t.funding = RESELLER;
    f[3].codes[0] = "rds";
    f[3].scope.n_product_codes = 1;
    fx_init(&f[4], "Gamma_x");
    f[4].codes[0] = "ECS";
    f[4].scope.n_product_codes = 1;
    char ids[5][64];
    Google__Protobuf__Timestamp created[5];
    for (int i = 0; i < 5; i++) {
        Reseller__V1__CreateTemplateResponse *cr = create_ok(tok, &f[i]);
        snprintf(ids[i], sizeof(ids[i]), "%s", cr->template_->template_id);
        created[i] = *cr->template_->create_time;
        free_msg(cr);
    }
    set_issued(ids[3], 2);

    Reseller__V1__ListTemplatesRequest lr = RESELLER__V1__LIST_TEMPLATES_REQUEST__INIT;
    assert_string_equal(list_names(tok, &lr),
                        "Gamma_x|Beta 100 off|Beta 100% off|alpha summer|Alpha Spring");
    lr.name = "ALPHA";
    assert_string_equal(list_names(tok, &lr), "alpha summer|Alpha Spring");
    lr.name = "100%";
    assert_string_equal(list_names(tok, &lr), "Beta 100% off");
    lr.name = "_";
    assert_string_equal(list_names(tok, &lr), "Gamma_x");
    lr.name = "";

    lr.funding = RESELLER;
    assert_string_equal(list_names(tok, &lr), "Beta 100 off|alpha summer");
    lr.funding = 0;

    lr.product_code = "cdn";
    assert_string_equal(list_names(tok, &lr), "Beta 100% off|Alpha Spring");
    lr.product_code = "ecs"; /* case-sensitive: Gamma_x covers ECS only */
    assert_string_equal(list_names(tok, &lr), "Beta 100% off|alpha summer|Alpha Spring");
    lr.product_code = "rds";
    assert_string_equal(list_names(tok, &lr), "Beta 100 off|Beta 100% off|alpha summer");
    lr.funding = PROVIDER;
    lr.product_code = "ecs";
    assert_string_equal(list_names(tok, &lr), "Beta 100% off|Alpha Spring");
    lr.funding = 0;
    lr.product_code = "";

    lr.state = LOCKED;
    assert_string_equal(list_names(tok, &lr), "Beta 100 off");
    lr.state = EDITABLE;
    assert_string_equal(list_names(tok, &lr), "Gamma_x|Beta 100% off|alpha summer|Alpha Spring");
    lr.state = 0;

    Reseller__V1__TimeRange range = RESELLER__V1__TIME_RANGE__INIT;
    range.start_time = &created[1];
    range.end_time = &created[3];
    lr.create_time = &range;
    assert_string_equal(list_names(tok, &lr), "Beta 100% off|alpha summer");
    range.end_time = NULL;
    lr.page_size = 2;
    assert_string_equal(list_names(tok, &lr), "Gamma_x|Beta 100 off");
    free(tok);
}

static void test_list_validation(void **state)
{
    (void)state;
    char *tok = reseller_token("r_listbad");
    Reseller__V1__TimeRange range = RESELLER__V1__TIME_RANGE__INIT;
    Google__Protobuf__Timestamp a = GOOGLE__PROTOBUF__TIMESTAMP__INIT,
                                b = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    a.seconds = 1700000000;
    b.seconds = 1600000000;
    for (int i = 0; i < 9; i++) {
        Reseller__V1__ListTemplatesRequest lr = RESELLER__V1__LIST_TEMPLATES_REQUEST__INIT;
        const char *field = NULL;
        switch (i) {
        case 0: lr.page_size = -1, field = "page_size"; break;
        case 1: lr.page_size = 1001, field = "page_size"; break;
        case 2: lr.page_token = "not-a-token!", field = "page_token"; break;
        case 3: lr.product_code = "a b", field = "product_code"; break;
        case 4: lr.funding = 7, field = "funding"; break;
        case 5: lr.state = 3, field = "state"; break;
        case 6: lr.name = "\xc3", field = "name"; break;
        case 7:
            range.start_time = &a;
            range.end_time = &b;
            lr.create_time = &range;
            field = "create_time.end_time";
            break;
        case 8:
            a.nanos = 1000000000;
            range.start_time = &a;
            range.end_time = NULL;
            lr.create_time = &range;
            field = "create_time.start_time";
            break;
        }
        vc_rpc_result res;
        int code = list_call(tok, &lr, NULL, &res);
        if (code != VC_GRPC_INVALID_ARGUMENT || strcmp(res.fields, field) != 0)
            fail_msg("case %d: want INVALID_ARGUMENT on %s, got %d [%s] %s", i, field, code,
                     res.fields, res.message);
    }
    free(tok);
}

/* ---- main -------------------------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    th_start(&S, "VC_TEST_RESELLER_BIN", "templates", NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_assert_ledger_clean(&S);
    th_stop(&S);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_and_get),
        cmocka_unit_test(test_create_boundaries),
        cmocka_unit_test(test_create_validation),
        cmocka_unit_test(test_create_idempotent),
        cmocka_unit_test(test_update),
        cmocka_unit_test(test_update_after_issue),
        cmocka_unit_test(test_update_races_issue),
        cmocka_unit_test(test_concurrent_create_and_edit),
        cmocka_unit_test(test_other_reseller),
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_list_pages),
        cmocka_unit_test(test_list_filters),
        cmocka_unit_test(test_list_validation),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
