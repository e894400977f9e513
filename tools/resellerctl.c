/*
 * resellerctl - the reseller's command-line client for reseller-svc, and a debugging aid.
 *
 *   resellerctl [--addr HOST:PORT] [--token JWT] [--json] [--currency CUR] <command> [args]
 *   resellerctl --help                 every command, one line each
 *   resellerctl <command> --help       the command's flags
 *
 * Each command is one RPC (two when a money argument needs the reseller's currency and
 * --currency was not given: GetQuota tells it). Requests are built from flags only as far as
 * the syntax goes: amounts, times, enum names and numbers are parsed here (a typo is a usage
 * error), but business rules (required fields, ranges, currency) are the server's, so the
 * server's INVALID_ARGUMENT with the offending field is what a user sees for them.
 *
 * Output: aligned tables or "key  value" views by default (money formatted with the currency,
 * times in RFC 3339 UTC, enum values without their type prefix), or with --json the response
 * message in the proto3 JSON mapping (common/rpc/vc_pbjson.h). Lists fetch one page (--limit is the
 * page size) and tell how to get the next; --all follows next_page_token to the end.
 * `alerts watch` is the one server stream (ctl_stream): a line (or with --json one compact JSON
 * object) per alert as it is raised, until Ctrl-C; when the server ends it, the id to resume
 * after is printed.
 *
 * Mutations that take a request_id generate one when --request-id is missing and print it on
 * stderr first, so that a call whose outcome is unknown (deadline, lost connection) can be
 * retried with the same id without doing the work twice.
 *
 * Exit status: 0 success; 1 the server answered an error (printed as
 * "resellerctl: <CODE>: <message>" on stderr, plus the offending fields), the call failed, or a
 * batch had failed items; 2 usage error. Command functions below return this status directly.
 *
 * The machinery (flag parsing, help, calls with retries, tables, paging, money and enum
 * formatting) is tools/ctl_common.h, shared with approvalctl; this file is the commands.
 *
 * Memory: one arena per run owns every request, response and formatted string; it is freed
 * once at exit.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/vc_err.h"
#include "base/vc_money.h"
#include "ctl_common.h"
#include "reseller/v1/customer_service.pb-c.h"
#include "reseller/v1/quota_service.pb-c.h"
#include "reseller/v1/template_service.pb-c.h"
#include "reseller/v1/voucher_service.pb-c.h"
#include "rpc/vc_pbjson.h"
#include "rpc/vc_rpc_status.h"

#define CTL_PROG "resellerctl"

/* The reseller's settlement currency: --currency, else what GetQuota reports. */
static int need_currency(ctl *c)
{
    if (c->currency[0]) return 0;
    Reseller__V1__GetQuotaRequest req = RESELLER__V1__GET_QUOTA_REQUEST__INIT;
    const char *reseller = ctl_opt_if_declared(c, "reseller"); /* staff acting for a reseller */
    req.reseller_id = (char *)(reseller ? reseller : "");
    Reseller__V1__GetQuotaResponse *r;
    int st = ctl_call(c, "/reseller.v1.QuotaService/GetQuota", &req.base,
                      &reseller__v1__get_quota_response__descriptor, &r, true, NULL);
    if (st) {
        fprintf(stderr, CTL_PROG ": cannot learn the reseller's currency; pass --currency\n");
        return st;
    }
    if (!vc_currency_valid(r->currency_code)) {
        fprintf(stderr, CTL_PROG ": server reported currency \"%s\"; pass --currency\n",
                r->currency_code);
        return CTL_FAIL;
    }
    memcpy(c->currency, r->currency_code, 4);
    return 0;
}

/* ---- quota ---------------------------------------------------------------------------------- */

static const ctl_flag quota_flags[] = {
    {"reseller", "ID", "reseller id (staff/service tokens; a reseller token acts for itself)"},
    {0}};

static int cmd_quota(ctl *c)
{
    Reseller__V1__GetQuotaRequest req = RESELLER__V1__GET_QUOTA_REQUEST__INIT;
    req.reseller_id = (char *)ctl_opt_or(c, "reseller", "");
    Reseller__V1__GetQuotaResponse *r;
    int st = ctl_call(c, "/reseller.v1.QuotaService/GetQuota", &req.base,
                      &reseller__v1__get_quota_response__descriptor, &r, true, NULL);
    if (st || c->json) return st ? st : ctl_print_json(c, &r->base);
    const char *cur = r->currency_code;
    Reseller__V1__VoucherQuota vq = RESELLER__V1__VOUCHER_QUOTA__INIT;
    Reseller__V1__CreditPool cp = RESELLER__V1__CREDIT_POOL__INIT;
    const Reseller__V1__VoucherQuota *q = r->voucher_quota ? r->voucher_quota : &vq;
    const Reseller__V1__CreditPool *p = r->credit_pool ? r->credit_pool : &cp;
    printf("reseller %s, currency %s\n\n", r->reseller_id, cur);
    ctl_table t;
    ctl_table_init(&t, c, "lrrrrr");
    ctl_table_row(&t, "BALANCE", "GRANTED", "CONSUMED", "RETURNED", "ALLOCATED", "REMAINING");
    ctl_table_row(&t, "voucher quota", ctl_money(c, q->granted_minor, cur),
                  ctl_money(c, q->consumed_minor, cur), ctl_money(c, q->returned_minor, cur), "-",
                  ctl_money(c, q->remaining_minor, cur));
    ctl_table_row(&t, "credit pool", ctl_money(c, p->granted_minor, cur), "-", "-",
                  ctl_money(c, p->allocated_minor, cur), ctl_money(c, p->remaining_minor, cur));
    ctl_table_print(&t);
    printf("\nown-cost issued    %s\n", ctl_money(c, r->own_cost_issued_minor, cur));
    return 0;
}

static void entry_row(ctl *c, ctl_table *t, const ProtobufCMessage *m)
{
    const Reseller__V1__LedgerEntry *e = (const Reseller__V1__LedgerEntry *)m;
    ctl_table_row(t, ctl_ts(c, e->create_time),
                  ctl_enum_name(c, &reseller__v1__quota_kind__descriptor, e->account),
                  ctl_enum_name(c, &reseller__v1__ledger_entry_kind__descriptor, e->kind),
                  ctl_signed_money(c, e->amount_minor, e->currency_code),
                  ctl_money(c, e->balance_after_minor, e->currency_code), e->reference_id,
                  e->reason);
}

/* quota|pool, or the QuotaKind names. */
static int kind_arg(ctl *c, const char *name, int *out)
{
    const char *v = ctl_opt(c, name);
    if (!v) return 0;
    if (strcasecmp(v, "quota") == 0)
        *out = RESELLER__V1__QUOTA_KIND__QUOTA_KIND_VOUCHER_QUOTA;
    else if (strcasecmp(v, "pool") == 0)
        *out = RESELLER__V1__QUOTA_KIND__QUOTA_KIND_CREDIT_POOL;
    else if (ctl_enum_parse(&reseller__v1__quota_kind__descriptor, v, out) != 0)
        return ctl_usage_error(c, "--%s: expected quota or pool, got \"%s\"", name, v);
    return 0;
}

static const ctl_flag entries_flags[] = {
    {"account", "quota|pool", "only movements of the voucher quota or the credit pool"},
    {"kind", "K[,K]", "only these kinds: grant, consume, return, allocate, deallocate"},
    {"reference", "ID", "only movements about this voucher, batch, application or allocation"},
    {"reseller", "ID", "reseller id (staff/service tokens)"},
    CTL_PAGE_FLAGS,
    {0}};

static int cmd_entries(ctl *c)
{
    Reseller__V1__ListQuotaEntriesRequest req = RESELLER__V1__LIST_QUOTA_ENTRIES_REQUEST__INIT;
    int account = 0;
    void *kinds = NULL;
    int st = kind_arg(c, "account", &account);
    if (!st)
        st = ctl_enum_list_arg(c, "kind", &reseller__v1__ledger_entry_kind__descriptor, &kinds,
                               &req.n_kinds);
    if (st) return st;
    req.account = account;
    req.kinds = kinds;
    req.reference_id = (char *)ctl_opt_or(c, "reference", "");
    req.reseller_id = (char *)ctl_opt_or(c, "reseller", "");
    ctl_table t;
    ctl_table_init(&t, c, "lllrrlt");
    ctl_table_row(&t, "TIME", "ACCOUNT", "KIND", "AMOUNT", "BALANCE AFTER", "REFERENCE", "REASON");
    ctl_list l = {.path = "/reseller.v1.QuotaService/ListQuotaEntries",
                  .req = &req.base,
                  .resp_desc = &reseller__v1__list_quota_entries_response__descriptor,
                  .items = "entries",
                  .table = &t,
                  .row = entry_row};
    return ctl_list_run(c, &l);
}

static void show_application(ctl *c, const Reseller__V1__Application *a)
{
    const char *cur = a->currency_code;
    ctl_kv("application", a->application_id);
    ctl_kv("kind", ctl_enum_name(c, &reseller__v1__quota_kind__descriptor, a->kind));
    ctl_kv("state", ctl_enum_name(c, &reseller__v1__application_state__descriptor, a->state));
    ctl_kv("requested", ctl_money(c, a->requested_amount_minor, cur));
    if (a->state == RESELLER__V1__APPLICATION_STATE__APPLICATION_STATE_APPROVED)
        ctl_kv("granted", ctl_money(c, a->granted_amount_minor, cur));
    ctl_kv("justification", a->justification);
    ctl_kv("ticket", a->ticket_id);
    ctl_kv("submitted", ctl_ts(c, a->submit_time));
    ctl_kv("due", ctl_ts(c, a->due_time));
    if (a->decide_time) {
        ctl_kv("decided", ctl_ts(c, a->decide_time));
        ctl_kv("decided by", a->decided_by);
        ctl_kv("reason", a->reason);
    }
    ctl_kv("request id", a->request_id);
}

static const ctl_flag apply_flags[] = {
    {"kind", "quota|pool", "voucher quota or customer-credit pool"},
    {"amount", "AMOUNT", "amount in major units, e.g. 1000.00"},
    {"reason", "TEXT", "justification shown to the reviewer"},
    {"reseller", "ID", "reseller id (staff/service tokens)"},
    {"request-id", "ID", "idempotency key (generated and printed when absent)"},
    {0}};

static int cmd_apply(ctl *c)
{
    Reseller__V1__ApplyForQuotaRequest req = RESELLER__V1__APPLY_FOR_QUOTA_REQUEST__INIT;
    int kind = 0;
    int st = need_currency(c);
    if (!st) st = kind_arg(c, "kind", &kind);
    if (!st) st = ctl_money_arg(c, "amount", &req.amount_minor);
    if (st) return st;
    req.kind = kind;
    req.currency_code = c->currency;
    req.justification = (char *)ctl_opt_or(c, "reason", "");
    req.reseller_id = (char *)ctl_opt_or(c, "reseller", "");
    req.request_id = (char *)ctl_request_id(c);
    Reseller__V1__ApplyForQuotaResponse *r;
    st = ctl_call(c, "/reseller.v1.QuotaService/ApplyForQuota", &req.base,
                  &reseller__v1__apply_for_quota_response__descriptor, &r, true, req.request_id);
    if (st || c->json) return st ? st : ctl_print_json(c, &r->base);
    if (r->application) show_application(c, r->application);
    return 0;
}

static void application_row(ctl *c, ctl_table *t, const ProtobufCMessage *m)
{
    const Reseller__V1__Application *a = (const Reseller__V1__Application *)m;
    bool approved = a->state == RESELLER__V1__APPLICATION_STATE__APPLICATION_STATE_APPROVED;
    ctl_table_row(
        t, a->application_id, ctl_enum_name(c, &reseller__v1__quota_kind__descriptor, a->kind),
        ctl_money(c, a->requested_amount_minor, a->currency_code),
        approved ? ctl_money(c, a->granted_amount_minor, a->currency_code) : "-",
        ctl_enum_name(c, &reseller__v1__application_state__descriptor, a->state),
        ctl_ts(c, a->submit_time), ctl_ts(c, a->due_time),
        a->direct_grant ? ctl_printf(c, "[direct grant] %s", a->justification) : a->justification);
}

static const ctl_flag applications_flags[] = {
    {"kind", "quota|pool", "only applications for this balance"},
    {"state", "S[,S]", "only these states: pending, approved, rejected, cancelled"},
    {"reseller", "ID", "reseller id (staff/service tokens)"},
    CTL_PAGE_FLAGS,
    {0}};

static int cmd_applications(ctl *c)
{
    Reseller__V1__ListApplicationsRequest req = RESELLER__V1__LIST_APPLICATIONS_REQUEST__INIT;
    int kind = 0;
    void *states = NULL;
    int st = kind_arg(c, "kind", &kind);
    if (!st)
        st = ctl_enum_list_arg(c, "state", &reseller__v1__application_state__descriptor, &states,
                               &req.n_states);
    if (st) return st;
    req.kind = kind;
    req.states = states;
    req.reseller_id = (char *)ctl_opt_or(c, "reseller", "");
    ctl_table t;
    ctl_table_init(&t, c, "llrrlllt");
    ctl_table_row(&t, "APPLICATION", "KIND", "REQUESTED", "GRANTED", "STATE", "SUBMITTED", "DUE",
                  "JUSTIFICATION");
    ctl_list l = {.path = "/reseller.v1.QuotaService/ListApplications",
                  .req = &req.base,
                  .resp_desc = &reseller__v1__list_applications_response__descriptor,
                  .items = "applications",
                  .table = &t,
                  .row = application_row};
    return ctl_list_run(c, &l);
}

/* ---- templates ------------------------------------------------------------------------------ */

static const char *scope_text(ctl *c, const Reseller__V1__ProductScope *s)
{
    if (!s) return "-";
    if (s->kind == RESELLER__V1__PRODUCT_SCOPE_KIND__PRODUCT_SCOPE_KIND_ALL_PRODUCTS)
        return s->n_excluded_product_codes ? ctl_printf(c, "all products except %s",
                                                        ctl_join(c, s->excluded_product_codes,
                                                                 s->n_excluded_product_codes, ", "))
                                           : "all products";
    return ctl_join(c, s->product_codes, s->n_product_codes, ", ");
}

static const char *modes_text(ctl *c, const Reseller__V1__PaymentMode *m, size_t n)
{
    char *s = "";
    for (size_t i = 0; i < n; i++)
        s = ctl_printf(c, "%s%s%s", s, i ? ", " : "",
                       ctl_enum_name(c, &reseller__v1__payment_mode__descriptor, (int)m[i]));
    return s;
}

static const char *validity_text(ctl *c, const Reseller__V1__Validity *v)
{
    if (!v) return "-";
    if (v->period_case == RESELLER__V1__VALIDITY__PERIOD_DAYS_AFTER_ACTIVATION)
        return ctl_printf(c, "%d days after activation", v->days_after_activation);
    if (v->period_case == RESELLER__V1__VALIDITY__PERIOD_FIXED_WINDOW && v->fixed_window)
        return ctl_printf(c, "%s to %s", ctl_ts(c, v->fixed_window->start_time),
                          ctl_ts(c, v->fixed_window->end_time));
    return "-";
}

static const char *conditions_text(ctl *c, const Reseller__V1__UsageConditions *u, const char *cur)
{
    if (!u) return "-";
    const char *s = ctl_enum_name(c, &reseller__v1__use_limit__descriptor, u->use_limit);
    if (u->min_order_amount_minor)
        s = ctl_printf(c, "%s; min order %s", s, ctl_money(c, u->min_order_amount_minor, cur));
    if (u->min_purchase_months || u->max_purchase_months)
        s = ctl_printf(c, "%s; prepaid %s..%s months", s,
                       u->min_purchase_months ? ctl_printf(c, "%d", u->min_purchase_months) : "",
                       u->max_purchase_months ? ctl_printf(c, "%d", u->max_purchase_months) : "");
    return s;
}

static void show_template(ctl *c, const Reseller__V1__Template *t)
{
    ctl_kv("template", t->template_id);
    ctl_kv("name", t->name);
    ctl_kv("face value", ctl_money(c, t->face_value_minor, t->currency_code));
    ctl_kv("funding", ctl_enum_name(c, &reseller__v1__funding__descriptor, t->funding));
    ctl_kv("products", scope_text(c, t->product_scope));
    ctl_kv("payment modes", modes_text(c, t->payment_modes, t->n_payment_modes));
    ctl_kv("validity", validity_text(c, t->validity));
    ctl_kv("conditions", conditions_text(c, t->conditions, t->currency_code));
    ctl_kv("remarks", t->remarks);
    ctl_kv("state", ctl_enum_name(c, &reseller__v1__template_state__descriptor, t->state));
    ctl_kv("issued", ctl_printf(c, "%lld", (long long)t->issued_count));
    ctl_kv("etag", t->etag);
    ctl_kv("created", ctl_ts(c, t->create_time));
    ctl_kv("updated", ctl_ts(c, t->update_time));
}

static void template_row(ctl *c, ctl_table *t, const ProtobufCMessage *m)
{
    const Reseller__V1__Template *p = (const Reseller__V1__Template *)m;
    ctl_table_row(t, p->template_id, p->name, ctl_money(c, p->face_value_minor, p->currency_code),
                  ctl_enum_name(c, &reseller__v1__funding__descriptor, p->funding),
                  ctl_enum_name(c, &reseller__v1__template_state__descriptor, p->state),
                  ctl_printf(c, "%lld", (long long)p->issued_count), ctl_ts(c, p->create_time));
}

static const ctl_flag tpl_list_flags[] = {{"name", "S", "name contains S (case-insensitive)"},
                                          {"product", "P", "scope covers product code P"},
                                          {"state", "editable|locked", "edit state"},
                                          {"funding", "provider|reseller", "who pays"},
                                          {"from", "RFC3339", "created at or after"},
                                          {"until", "RFC3339", "created before"},
                                          CTL_PAGE_FLAGS,
                                          {0}};

/* --from/--until as a TimeRange (NULL when neither is given). */
static int range_arg(ctl *c, Reseller__V1__TimeRange **out)
{
    if (!ctl_has(c, "from") && !ctl_has(c, "until")) return 0;
    Reseller__V1__TimeRange *r = ctl_alloc(c, sizeof(*r));
    reseller__v1__time_range__init(r);
    int st = ctl_ts_arg(c, "from", &r->start_time);
    if (!st) st = ctl_ts_arg(c, "until", &r->end_time);
    *out = r;
    return st;
}

static int cmd_tpl_list(ctl *c)
{
    Reseller__V1__ListTemplatesRequest req = RESELLER__V1__LIST_TEMPLATES_REQUEST__INIT;
    int state = 0, funding = 0;
    int st = ctl_enum_arg(c, "state", &reseller__v1__template_state__descriptor, &state);
    if (!st) st = ctl_enum_arg(c, "funding", &reseller__v1__funding__descriptor, &funding);
    if (!st) st = range_arg(c, &req.create_time);
    if (st) return st;
    req.state = state;
    req.funding = funding;
    req.name = (char *)ctl_opt_or(c, "name", "");
    req.product_code = (char *)ctl_opt_or(c, "product", "");
    ctl_table t;
    ctl_table_init(&t, c, "ltrllrl");
    ctl_table_row(&t, "TEMPLATE", "NAME", "FACE VALUE", "FUNDING", "STATE", "ISSUED", "CREATED");
    ctl_list l = {.path = "/reseller.v1.TemplateService/ListTemplates",
                  .req = &req.base,
                  .resp_desc = &reseller__v1__list_templates_response__descriptor,
                  .items = "templates",
                  .table = &t,
                  .row = template_row};
    return ctl_list_run(c, &l);
}

static int cmd_tpl_get(ctl *c)
{
    Reseller__V1__GetTemplateRequest req = RESELLER__V1__GET_TEMPLATE_REQUEST__INIT;
    req.template_id = (char *)c->pos[0];
    Reseller__V1__GetTemplateResponse *r;
    int st = ctl_call(c, "/reseller.v1.TemplateService/GetTemplate", &req.base,
                      &reseller__v1__get_template_response__descriptor, &r, true, NULL);
    if (st || c->json) return st ? st : ctl_print_json(c, &r->base);
    if (r->template_) show_template(c, r->template_);
    return 0;
}

/* clang-format off */
#define TEMPLATE_FLAGS                                                                             \
    {"name", "N", "display name"},                                                                 \
    {"face", "AMOUNT", "face value in major units, e.g. 100.00"},                                  \
    {"funding", "provider|reseller", "provider-funded (reviewed, uses quota) or own cost"},        \
    {"products", "a,b", "only these product codes"},                                               \
    {"all", NULL, "all products (with --exclude: all but those)"},                                 \
    {"exclude", "x,y", "products excluded from --all"},                                            \
    {"modes", "prepaid,postpaid", "payment modes the voucher applies to"},                         \
    {"days", "N", "valid N days from activation"},                                                 \
    {"from", "RFC3339", "fixed validity window start"},                                            \
    {"until", "RFC3339", "fixed validity window end"},                                             \
    {"min-order", "AMOUNT", "minimum order amount"},                                               \
    {"min-months", "N", "prepaid: shortest purchase duration"},                                    \
    {"max-months", "N", "prepaid: longest purchase duration"},                                     \
    {"multi-use", NULL, "keeps its balance across orders (default single-use)"},                   \
    {"single-use", NULL, "one order uses it"},                                                     \
    {"remarks", "T", "free text"}
/* clang-format on */

/* Records an update_mask path for a flag that was given. */
typedef struct tpl_mask {
    char *paths[16];
    size_t n;
} tpl_mask;

static void mask_add(tpl_mask *m, const char *path)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->paths[i], path) == 0) return;
    m->paths[m->n++] = (char *)path;
}

static int tpl_scope(ctl *c, Reseller__V1__Template *t, tpl_mask *m)
{
    bool products = ctl_has(c, "products"), all = ctl_has(c, "all"),
         exclude = ctl_has(c, "exclude");
    if (!products && !all && !exclude) return 0;
    if (products && (all || exclude))
        return ctl_usage_error(c, "--products cannot be combined with --all/--exclude");
    if (exclude && !all) return ctl_usage_error(c, "--exclude needs --all");
    Reseller__V1__ProductScope *s = ctl_alloc(c, sizeof(*s));
    reseller__v1__product_scope__init(s);
    if (products) {
        s->kind = RESELLER__V1__PRODUCT_SCOPE_KIND__PRODUCT_SCOPE_KIND_SPECIFIED_PRODUCTS;
        s->product_codes = ctl_split(c, ctl_opt(c, "products"), &s->n_product_codes);
    } else {
        s->kind = RESELLER__V1__PRODUCT_SCOPE_KIND__PRODUCT_SCOPE_KIND_ALL_PRODUCTS;
        if (exclude)
            s->excluded_product_codes =
                ctl_split(c, ctl_opt(c, "exclude"), &s->n_excluded_product_codes);
    }
    t->product_scope = s;
    mask_add(m, "product_scope");
    return 0;
}

static int tpl_validity(ctl *c, Reseller__V1__Template *t, tpl_mask *m)
{
    bool days = ctl_has(c, "days"), window = ctl_has(c, "from") || ctl_has(c, "until");
    if (!days && !window) return 0;
    if (days && window) return ctl_usage_error(c, "give either --days or --from/--until, not both");
    Reseller__V1__Validity *v = ctl_alloc(c, sizeof(*v));
    reseller__v1__validity__init(v);
    int st;
    if (days) {
        v->period_case = RESELLER__V1__VALIDITY__PERIOD_DAYS_AFTER_ACTIVATION;
        st = ctl_int32_arg(c, "days", &v->days_after_activation);
    } else {
        v->period_case = RESELLER__V1__VALIDITY__PERIOD_FIXED_WINDOW;
        st = range_arg(c, &v->fixed_window);
    }
    t->validity = v;
    mask_add(m, "validity");
    return st;
}

static int tpl_conditions(ctl *c, Reseller__V1__Template *t, tpl_mask *m, bool send)
{
    static const char *const flags[] = {"min-order", "min-months", "max-months", "multi-use",
                                        "single-use"};
    static const char *const paths[] = {
        "conditions.min_order_amount_minor", "conditions.min_purchase_months",
        "conditions.max_purchase_months", "conditions.use_limit", "conditions.use_limit"};
    if (ctl_has(c, "multi-use") && ctl_has(c, "single-use"))
        return ctl_usage_error(c, "--multi-use and --single-use exclude each other");
    Reseller__V1__UsageConditions *u = ctl_alloc(c, sizeof(*u));
    reseller__v1__usage_conditions__init(u);
    u->use_limit = ctl_has(c, "multi-use") ? RESELLER__V1__USE_LIMIT__USE_LIMIT_MULTI_USE
                                           : RESELLER__V1__USE_LIMIT__USE_LIMIT_SINGLE_USE;
    int st = ctl_money_arg(c, "min-order", &u->min_order_amount_minor);
    if (!st) st = ctl_int32_arg(c, "min-months", &u->min_purchase_months);
    if (!st) st = ctl_int32_arg(c, "max-months", &u->max_purchase_months);
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
        if (ctl_has(c, flags[i])) {
            mask_add(m, paths[i]);
            send = true;
        }
    if (send) t->conditions = u;
    return st;
}

/* Fills t from the template flags; m collects the update_mask paths of the given ones. On
   create, conditions are always sent (single-use unless --multi-use), like the console does. */
static int tpl_from_flags(ctl *c, Reseller__V1__Template *t, tpl_mask *m, bool create)
{
    int funding = 0;
    void *modes = NULL;
    int st = ctl_enum_arg(c, "funding", &reseller__v1__funding__descriptor, &funding);
    if (!st)
        st = ctl_enum_list_arg(c, "modes", &reseller__v1__payment_mode__descriptor, &modes,
                               &t->n_payment_modes);
    if (!st) st = ctl_money_arg(c, "face", &t->face_value_minor);
    if (!st) st = tpl_scope(c, t, m);
    if (!st) st = tpl_validity(c, t, m);
    if (!st) st = tpl_conditions(c, t, m, create);
    if (st) return st;
    t->funding = funding;
    t->payment_modes = modes;
    static const char *const simple[][2] = {{"name", "name"},
                                            {"face", "face_value_minor"},
                                            {"funding", "funding"},
                                            {"modes", "payment_modes"},
                                            {"remarks", "remarks"}};
    for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
        if (ctl_has(c, simple[i][0])) mask_add(m, simple[i][1]);
    t->name = (char *)ctl_opt_or(c, "name", "");
    t->remarks = (char *)ctl_opt_or(c, "remarks", "");
    return 0;
}

static const ctl_flag tpl_create_flags[] = {
    TEMPLATE_FLAGS,
    {"request-id", "ID", "idempotency key (generated and printed when absent)"},
    {0}};

static int cmd_tpl_create(ctl *c)
{
    Reseller__V1__Template t = RESELLER__V1__TEMPLATE__INIT;
    tpl_mask m = {.n = 0};
    int st = need_currency(c);
    if (!st) st = tpl_from_flags(c, &t, &m, true);
    if (st) return st;
    t.currency_code = c->currency;
    Reseller__V1__CreateTemplateRequest req = RESELLER__V1__CREATE_TEMPLATE_REQUEST__INIT;
    req.template_ = &t;
    req.request_id = (char *)ctl_request_id(c);
    Reseller__V1__CreateTemplateResponse *r;
    st = ctl_call(c, "/reseller.v1.TemplateService/CreateTemplate", &req.base,
                  &reseller__v1__create_template_response__descriptor, &r, true, req.request_id);
    if (st || c->json) return st ? st : ctl_print_json(c, &r->base);
    if (r->template_) show_template(c, r->template_);
    return 0;
}

static const ctl_flag tpl_update_flags[] = {
    {"etag", "E", "etag of the version you read (templates get)"}, TEMPLATE_FLAGS, {0}};

static int cmd_tpl_update(ctl *c)
{
    Reseller__V1__Template t = RESELLER__V1__TEMPLATE__INIT;
    tpl_mask m = {.n = 0};
    int st = tpl_from_flags(c, &t, &m, false);
    if (st) return st;
    /* An empty mask would replace every field: never send one by accident. */
    if (m.n == 0) return ctl_usage_error(c, "nothing to update: give at least one field flag");
    t.template_id = (char *)c->pos[0];
    t.etag = (char *)ctl_opt_or(c, "etag", "");
    Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    mask.paths = m.paths;
    mask.n_paths = m.n;
    Reseller__V1__UpdateTemplateRequest req = RESELLER__V1__UPDATE_TEMPLATE_REQUEST__INIT;
    req.template_ = &t;
    req.update_mask = &mask;
    Reseller__V1__UpdateTemplateResponse *r;
    st = ctl_call(c, "/reseller.v1.TemplateService/UpdateTemplate", &req.base,
                  &reseller__v1__update_template_response__descriptor, &r, false, NULL);
    if (st || c->json) return st ? st : ctl_print_json(c, &r->base);
    if (r->template_) show_template(c, r->template_);
    return 0;
}

/* ---- customers ------------------------------------------------------------------------------ */

static void show_customer(ctl *c, const Reseller__V1__Customer *p)
{
    ctl_kv("customer", p->customer_id);
    ctl_kv("name", p->name);
    ctl_kv("email", p->email);
    ctl_kv("phone", p->phone);
    ctl_kv("remarks", p->remarks);
    if (p->credit) {
        const char *cur = p->credit->currency_code;
        ctl_kv("credit", ctl_money(c, p->credit->credit_minor, cur));
        ctl_kv("used", ctl_money(c, p->credit->used_minor, cur));
        ctl_kv("available", ctl_printf(c, "%s%s", ctl_money(c, p->credit->available_minor, cur),
                                       p->credit->exhausted ? " (exhausted)" : ""));
    }
    ctl_kv("created", ctl_ts(c, p->create_time));
}

static const ctl_flag cust_create_flags[] = {{"id", "ACCOUNT", "the customer's cloud account id"},
                                             {"name", "N", "display name"},
                                             {"email", "E", "contact e-mail"},
                                             {"phone", "P", "contact phone"},
                                             {"remarks", "T", "free text"},
                                             {0}};

static int cmd_cust_create(ctl *c)
{
    Reseller__V1__Customer p = RESELLER__V1__CUSTOMER__INIT;
    p.customer_id = (char *)ctl_opt_or(c, "id", "");
    p.name = (char *)ctl_opt_or(c, "name", "");
    p.email = (char *)ctl_opt_or(c, "email", "");
    p.phone = (char *)ctl_opt_or(c, "phone", "");
    p.remarks = (char *)ctl_opt_or(c, "remarks", "");
    Reseller__V1__CreateCustomerRequest req = RESELLER__V1__CREATE_CUSTOMER_REQUEST__INIT;
    req.customer = &p;
    Reseller__V1__CreateCustomerResponse *r;
    /* Not retried: a retry after a lost reply would answer ALREADY_EXISTS. */
    int st = ctl_call(c, "/reseller.v1.CustomerService/CreateCustomer", &req.base,
                      &reseller__v1__create_customer_response__descriptor, &r, false, NULL);
    if (st || c->json) return st ? st : ctl_print_json(c, &r->base);
    if (r->customer) show_customer(c, r->customer);
    return 0;
}

static int cmd_cust_get(ctl *c)
{
    Reseller__V1__GetCustomerRequest req = RESELLER__V1__GET_CUSTOMER_REQUEST__INIT;
    req.customer_id = (char *)c->pos[0];
    Reseller__V1__GetCustomerResponse *r;
    int st = ctl_call(c, "/reseller.v1.CustomerService/GetCustomer", &req.base,
                      &reseller__v1__get_customer_response__descriptor, &r, true, NULL);
    if (st || c->json) return st ? st : ctl_print_json(c, &r->base);
    if (r->customer) show_customer(c, r->customer);
    return 0;
}

static void customer_row(ctl *c, ctl_table *t, const ProtobufCMessage *m)
{
    const Reseller__V1__Customer *p = (const Reseller__V1__Customer *)m;
    const Reseller__V1__CustomerCredit *k = p->credit;
    const char *cur = k ? k->currency_code : "";
    ctl_table_row(t, p->customer_id, p->name, p->email,
                  k ? ctl_money(c, k->credit_minor, cur) : "-",
                  k ? ctl_money(c, k->used_minor, cur) : "-",
                  k ? ctl_printf(c, "%s%s", ctl_money(c, k->available_minor, cur),
                                 k->exhausted ? " (exhausted)" : "")
                    : "-",
                  ctl_ts(c, p->create_time));
}

static const ctl_flag cust_list_flags[] = {
    {"query", "Q", "id, name or e-mail contains Q"},
    {"exhausted", NULL, "only customers whose available credit is 0"},
    CTL_PAGE_FLAGS,
    {0}};

static int cmd_cust_list(ctl *c)
{
    Reseller__V1__ListCustomersRequest req = RESELLER__V1__LIST_CUSTOMERS_REQUEST__INIT;
    req.query = (char *)ctl_opt_or(c, "query", "");
    req.exhausted_only = ctl_has(c, "exhausted");
    ctl_table t;
    ctl_table_init(&t, c, "ltlrrrl");
    ctl_table_row(&t, "CUSTOMER", "NAME", "EMAIL", "CREDIT", "USED", "AVAILABLE", "CREATED");
    ctl_list l = {.path = "/reseller.v1.CustomerService/ListCustomers",
                  .req = &req.base,
                  .resp_desc = &reseller__v1__list_customers_response__descriptor,
                  .items = "customers",
                  .table = &t,
                  .row = customer_row};
    return ctl_list_run(c, &l);
}

/* ---- customer credit and alerts -------------------------------------------------------------- */

/* A signed money flag ("+100.00", "-50", "100"): an optional sign, then an amount as
   ctl_money_arg takes it (vc_money_parse takes the '-' itself, and refuses a second sign).
   Untouched when absent. */
static int signed_money_arg(ctl *c, const char *name, int64_t *out)
{
    const char *v = ctl_opt(c, name);
    if (!v) return 0;
    int st = need_currency(c);
    if (st) return st;
    int exp = vc_currency_exponent(c->currency);
    const char *rest = *v == '+' ? v + 1 : v;
    int rc =
        *rest == '+' || (rest != v && *rest == '-') ? VC_EINVAL : vc_money_parse(rest, exp, out);
    if (rc == VC_EOVERFLOW) return ctl_usage_error(c, "--%s: amount \"%s\" is too large", name, v);
    if (rc != 0)
        return ctl_usage_error(c,
                               "--%s: \"%s\" is not a signed amount in %s (+ to allocate, - to "
                               "withdraw; digits, at most %d decimals)",
                               name, v, c->currency, exp);
    return 0;
}

static const char *credit_text(ctl *c, const Reseller__V1__CustomerCredit *k)
{
    if (!k) return "-";
    const char *cur = k->currency_code;
    return ctl_printf(c, "%s (used %s, available %s%s)", ctl_money(c, k->credit_minor, cur),
                      ctl_money(c, k->used_minor, cur), ctl_money(c, k->available_minor, cur),
                      k->exhausted ? ", exhausted" : "");
}

static void show_allocation(ctl *c, const Reseller__V1__CreditAllocation *a)
{
    const char *cur = a->currency_code;
    ctl_kv("allocation", a->allocation_id);
    ctl_kv("customer", a->customer_id);
    ctl_kv("amount", ctl_signed_money(c, a->amount_minor, cur));
    ctl_kv("credit after", credit_text(c, a->credit_after));
    ctl_kv("pool left", ctl_money(c, a->pool_remaining_after_minor, cur));
    ctl_kv("operator", a->operator_id);
    ctl_kv("time", ctl_ts(c, a->create_time));
    ctl_kv("remarks", a->remarks);
    ctl_kv("request id", a->request_id);
}

static const ctl_flag cust_credit_flags[] = {
    {"amount", "+100.00|-50.00", "allocate from the pool (+) or withdraw back into it (-)"},
    {"remarks", "T", "kept on the allocation record"},
    {"request-id", "ID", "idempotency key (generated and printed when absent)"},
    {0}};

static int cmd_cust_credit(ctl *c)
{
    Reseller__V1__SetCustomerCreditRequest req = RESELLER__V1__SET_CUSTOMER_CREDIT_REQUEST__INIT;
    int st = signed_money_arg(c, "amount", &req.amount_minor);
    if (st) return st;
    req.customer_id = (char *)c->pos[0];
    req.currency_code = c->currency;
    req.remarks = (char *)ctl_opt_or(c, "remarks", "");
    req.request_id = (char *)ctl_request_id(c);
    Reseller__V1__SetCustomerCreditResponse *r;
    st =
        ctl_call(c, "/reseller.v1.CustomerService/SetCustomerCredit", &req.base,
                 &reseller__v1__set_customer_credit_response__descriptor, &r, true, req.request_id);
    if (st || c->json) return st ? st : ctl_print_json(c, &r->base);
    if (r->allocation) show_allocation(c, r->allocation);
    return 0;
}

static void allocation_row(ctl *c, ctl_table *t, const ProtobufCMessage *m)
{
    const Reseller__V1__CreditAllocation *a = (const Reseller__V1__CreditAllocation *)m;
    const Reseller__V1__CustomerCredit *k = a->credit_after;
    const char *cur = a->currency_code;
    ctl_table_row(t, ctl_ts(c, a->create_time), a->allocation_id, a->customer_id,
                  ctl_signed_money(c, a->amount_minor, cur),
                  k ? ctl_money(c, k->credit_minor, cur) : "-",
                  k ? ctl_money(c, k->available_minor, cur) : "-",
                  ctl_money(c, a->pool_remaining_after_minor, cur), a->operator_id, a->remarks);
}

static const ctl_flag allocations_flags[] = {
    {"customer", "ID", "only this customer's allocations"},
    {"operator", "OP", "only allocations made by this operator (token subject)"},
    {"from", "RFC3339", "made at or after"},
    {"until", "RFC3339", "made before"},
    CTL_PAGE_FLAGS,
    {0}};

static int cmd_allocations(ctl *c)
{
    Reseller__V1__ListCreditAllocationsRequest req =
        RESELLER__V1__LIST_CREDIT_ALLOCATIONS_REQUEST__INIT;
    int st = range_arg(c, &req.create_time);
    if (st) return st;
    req.customer_id = (char *)ctl_opt_or(c, "customer", "");
    req.operator_id = (char *)ctl_opt_or(c, "operator", "");
    ctl_table t;
    ctl_table_init(&t, c, "lllrrrrlt");
    ctl_table_row(&t, "TIME", "ALLOCATION", "CUSTOMER", "AMOUNT", "CREDIT AFTER", "AVAILABLE AFTER",
                  "POOL LEFT", "OPERATOR", "REMARKS");
    ctl_list l = {.path = "/reseller.v1.CustomerService/ListCreditAllocations",
                  .req = &req.base,
                  .resp_desc = &reseller__v1__list_credit_allocations_response__descriptor,
                  .items = "allocations",
                  .table = &t,
                  .row = allocation_row};
    return ctl_list_run(c, &l);
}

/* "90% used" for a customer's usage alarm, "10% left" for a low quota or pool. */
static const char *threshold_text(ctl *c, const Reseller__V1__CreditAlert *a)
{
    bool usage = a->kind == RESELLER__V1__ALERT_KIND__ALERT_KIND_CUSTOMER_CREDIT_USAGE;
    return ctl_printf(c, "%d%% %s", a->threshold_percent, usage ? "used" : "left");
}

static void alert_row(ctl *c, ctl_table *t, const ProtobufCMessage *m)
{
    const Reseller__V1__CreditAlert *a = (const Reseller__V1__CreditAlert *)m;
    ctl_table_row(t, a->alert_id, ctl_ts(c, a->create_time),
                  ctl_enum_name(c, &reseller__v1__alert_kind__descriptor, a->kind), a->customer_id,
                  threshold_text(c, a), ctl_money(c, a->used_minor, a->currency_code),
                  ctl_money(c, a->limit_minor, a->currency_code), a->trigger_id);
}

#define ALERT_HEADER "ALERT", "TIME", "KIND", "CUSTOMER", "THRESHOLD", "USED", "LIMIT", "TRIGGER"

static const ctl_flag alerts_flags[] = {
    {"customer", "ID", "only this customer's alerts"},
    {"kind", "K[,K]", "customer_credit_usage, voucher_quota_low, credit_pool_low"},
    {"from", "RFC3339", "raised at or after"},
    {"until", "RFC3339", "raised before"},
    CTL_PAGE_FLAGS,
    {0}};

static int cmd_alerts(ctl *c)
{
    Reseller__V1__ListCreditAlertsRequest req = RESELLER__V1__LIST_CREDIT_ALERTS_REQUEST__INIT;
    void *kinds = NULL;
    int st =
        ctl_enum_list_arg(c, "kind", &reseller__v1__alert_kind__descriptor, &kinds, &req.n_kinds);
    if (!st) st = range_arg(c, &req.create_time);
    if (st) return st;
    req.kinds = kinds;
    req.customer_id = (char *)ctl_opt_or(c, "customer", "");
    ctl_table t;
    ctl_table_init(&t, c, "rllllrrl");
    ctl_table_row(&t, ALERT_HEADER);
    ctl_list l = {.path = "/reseller.v1.CustomerService/ListCreditAlerts",
                  .req = &req.base,
                  .resp_desc = &reseller__v1__list_credit_alerts_response__descriptor,
                  .items = "alerts",
                  .table = &t,
                  .row = alert_row};
    return ctl_list_run(c, &l);
}

/* One streamed alert: a line of fixed-width columns (the table header was printed first), or
   with --json the message as one line of JSON. Remembers the id for a resume hint. */
static int on_alert(ctl *c, const ProtobufCMessage *m, void *arg)
{
    char *last = arg;
    const Reseller__V1__WatchCreditAlertsResponse *r =
        (const Reseller__V1__WatchCreditAlertsResponse *)m;
    if (!r->alert) return 0;
    snprintf(last, 32, "%s", r->alert->alert_id);
    if (c->json) {
        char *s = NULL;
        if (vc_pbjson_dumps(m, JSON_COMPACT, &s) != 0) return CTL_FAIL;
        puts(s);
        free(s);
        return 0;
    }
    const Reseller__V1__CreditAlert *a = r->alert;
    printf("%8s  %-20s  %-21s  %-16s  %-9s  %18s  %18s  %s\n", a->alert_id,
           ctl_ts(c, a->create_time),
           ctl_enum_name(c, &reseller__v1__alert_kind__descriptor, a->kind),
           *a->customer_id ? a->customer_id : "-", threshold_text(c, a),
           ctl_money(c, a->used_minor, a->currency_code),
           ctl_money(c, a->limit_minor, a->currency_code), a->trigger_id);
    return 0;
}

static const ctl_flag watch_flags[] = {
    {"customer", "ID", "only this customer's alerts"},
    {"kind", "K[,K]", "customer_credit_usage, voucher_quota_low, credit_pool_low"},
    {"resume-after", "ALERT_ID", "first replay the stored alerts raised after this one"},
    {0}};

static int cmd_alerts_watch(ctl *c)
{
    Reseller__V1__WatchCreditAlertsRequest req = RESELLER__V1__WATCH_CREDIT_ALERTS_REQUEST__INIT;
    void *kinds = NULL;
    int st =
        ctl_enum_list_arg(c, "kind", &reseller__v1__alert_kind__descriptor, &kinds, &req.n_kinds);
    if (st) return st;
    req.kinds = kinds;
    req.customer_id = (char *)ctl_opt_or(c, "customer", "");
    req.resume_after_alert_id = (char *)ctl_opt_or(c, "resume-after", "");
    if (!c->json) {
        printf("%8s  %-20s  %-21s  %-16s  %-9s  %18s  %18s  %s\n", ALERT_HEADER);
        fflush(stdout);
    }
    fprintf(stderr, CTL_PROG ": watching alerts; Ctrl-C stops\n");
    char last[32] = "";
    st = ctl_stream(c, "/reseller.v1.CustomerService/WatchCreditAlerts", &req.base,
                    &reseller__v1__watch_credit_alerts_response__descriptor, on_alert, last);
    const char *resume = last[0] ? last : req.resume_after_alert_id;
    if (st && *resume)
        fprintf(stderr, CTL_PROG ": to go on where this stopped: alerts watch --resume-after %s\n",
                resume);
    return st;
}

/* ---- vouchers ------------------------------------------------------------------------------- */

static const char *review_text(ctl *c, const Reseller__V1__ReviewProgress *r)
{
    if (!r) return "-";
    const char *s = ctl_enum_name(c, &reseller__v1__review_status__descriptor, r->status);
    if (r->ticket_id && *r->ticket_id) s = ctl_printf(c, "%s, ticket %s", s, r->ticket_id);
    if (r->submit_time) s = ctl_printf(c, "%s, submitted %s", s, ctl_ts(c, r->submit_time));
    if (r->due_time && !r->decide_time) s = ctl_printf(c, "%s, due %s", s, ctl_ts(c, r->due_time));
    if (r->decide_time) s = ctl_printf(c, "%s, decided %s", s, ctl_ts(c, r->decide_time));
    if (r->reason && *r->reason) s = ctl_printf(c, "%s: %s", s, r->reason);
    return s;
}

static void show_voucher(ctl *c, const Reseller__V1__Voucher *v)
{
    const char *cur = v->currency_code;
    ctl_kv("voucher", v->voucher_id);
    ctl_kv("status", ctl_enum_name(c, &reseller__v1__voucher_status__descriptor, v->status));
    ctl_kv("usage", ctl_enum_name(c, &reseller__v1__usage_status__descriptor, v->usage_status));
    ctl_kv("customer", v->customer_id);
    ctl_kv("template", ctl_printf(c, "%s (%s)", v->template_id, v->name));
    ctl_kv("funding", ctl_enum_name(c, &reseller__v1__funding__descriptor, v->funding));
    ctl_kv("source", ctl_enum_name(c, &reseller__v1__voucher_source__descriptor, v->source));
    ctl_kv("face value", ctl_money(c, v->face_value_minor, cur));
    ctl_kv("balance", ctl_money(c, v->balance_minor, cur));
    ctl_kv("used", ctl_money(c, v->used_amount_minor, cur));
    ctl_kv("products", scope_text(c, v->product_scope));
    ctl_kv("payment modes", modes_text(c, v->payment_modes, v->n_payment_modes));
    ctl_kv("validity", validity_text(c, v->validity));
    ctl_kv("conditions", conditions_text(c, v->conditions, cur));
    ctl_kv("review", review_text(c, v->review));
    ctl_kv("issued", ctl_ts(c, v->issue_time));
    ctl_kv("activated", ctl_ts(c, v->activate_time));
    ctl_kv("valid from", ctl_ts(c, v->valid_from_time));
    ctl_kv("expires", ctl_ts(c, v->expire_time));
    if (v->end_time) ctl_kv("ended", ctl_ts(c, v->end_time));
    if (v->frozen_order_id && *v->frozen_order_id) ctl_kv("frozen by order", v->frozen_order_id);
    if (v->withdraw_reason && *v->withdraw_reason) ctl_kv("withdraw reason", v->withdraw_reason);
    ctl_kv("request id", v->request_id);
}

static const ctl_flag issue_flags[] = {
    {"template", "ID", "template to issue"},
    {"customer", "ID", "customer account id"},
    {"remarks", "T", "shown to the reviewer"},
    {"request-id", "ID", "idempotency key (generated and printed when absent)"},
    {0}};

static int cmd_issue(ctl *c)
{
    Reseller__V1__IssueVoucherRequest req = RESELLER__V1__ISSUE_VOUCHER_REQUEST__INIT;
    req.template_id = (char *)ctl_opt_or(c, "template", "");
    req.customer_id = (char *)ctl_opt_or(c, "customer", "");
    req.remarks = (char *)ctl_opt_or(c, "remarks", "");
    req.request_id = (char *)ctl_request_id(c);
    Reseller__V1__IssueVoucherResponse *r;
    int st = ctl_call(c, "/reseller.v1.VoucherService/IssueVoucher", &req.base,
                      &reseller__v1__issue_voucher_response__descriptor, &r, true, req.request_id);
    if (st || c->json) return st ? st : ctl_print_json(c, &r->base);
    if (r->voucher) show_voucher(c, r->voucher);
    return 0;
}

static const ctl_flag batch_flags[] = {
    {"template", "ID", "template to issue"},
    {"customers", "a,b,c", "customer account ids, one voucher each"},
    {"remarks", "T", "shown to the reviewer"},
    {"request-id", "ID", "idempotency key (generated and printed when absent)"},
    {0}};

static int cmd_batch(ctl *c)
{
    Reseller__V1__BatchIssueVouchersRequest req = RESELLER__V1__BATCH_ISSUE_VOUCHERS_REQUEST__INIT;
    req.template_id = (char *)ctl_opt_or(c, "template", "");
    if (ctl_has(c, "customers"))
        req.customer_ids = ctl_split(c, ctl_opt(c, "customers"), &req.n_customer_ids);
    req.remarks = (char *)ctl_opt_or(c, "remarks", "");
    req.request_id = (char *)ctl_request_id(c);
    Reseller__V1__BatchIssueVouchersResponse *r;
    int st = ctl_call(c, "/reseller.v1.VoucherService/BatchIssueVouchers", &req.base,
                      &reseller__v1__batch_issue_vouchers_response__descriptor, &r, true,
                      req.request_id);
    if (st) return st;
    if (c->json)
        st = ctl_print_json(c, &r->base);
    else {
        ctl_table t;
        ctl_table_init(&t, c, "llllt");
        ctl_table_row(&t, "CUSTOMER", "RESULT", "VOUCHER", "STATUS", "MESSAGE");
        for (size_t i = 0; i < r->n_results; i++) {
            const Reseller__V1__BatchIssueResult *x = r->results[i];
            const Reseller__V1__Voucher *v = x->voucher;
            ctl_table_row(&t, x->customer_id, vc_grpc_code_name(x->code), v ? v->voucher_id : "-",
                          v ? ctl_enum_name(c, &reseller__v1__voucher_status__descriptor, v->status)
                            : "-",
                          x->message);
        }
        ctl_table_print(&t);
        printf("%d succeeded, %d failed\n", r->succeeded_count, r->failed_count);
    }
    if (st == 0 && r->failed_count > 0) {
        fprintf(stderr, CTL_PROG ": %d of %zu items failed\n", r->failed_count, r->n_results);
        st = CTL_FAIL;
    }
    return st;
}

static void voucher_row(ctl *c, ctl_table *t, const ProtobufCMessage *m)
{
    const Reseller__V1__Voucher *v = (const Reseller__V1__Voucher *)m;
    ctl_table_row(
        t, v->voucher_id, v->customer_id, v->name,
        ctl_money(c, v->face_value_minor, v->currency_code),
        ctl_money(c, v->balance_minor, v->currency_code),
        ctl_enum_name(c, &reseller__v1__voucher_status__descriptor, v->status),
        v->review ? ctl_enum_name(c, &reseller__v1__review_status__descriptor, v->review->status)
                  : "-",
        ctl_ts(c, v->expire_time), ctl_ts(c, v->issue_time));
}

static const ctl_flag vch_list_flags[] = {
    {"status", "S[,S]", "pending_review, cancelling, cancelled, rejected, active, ..."},
    {"review", "S[,S]", "review status: not_required, pending, approved, rejected, ..."},
    {"customer", "ID", "only this customer's vouchers"},
    {"template", "ID", "only vouchers of this template"},
    {"from", "RFC3339", "issued at or after"},
    {"until", "RFC3339", "issued before"},
    CTL_PAGE_FLAGS,
    {0}};

static int cmd_vch_list(ctl *c)
{
    Reseller__V1__ListVouchersRequest req = RESELLER__V1__LIST_VOUCHERS_REQUEST__INIT;
    void *statuses = NULL, *reviews = NULL;
    int st = ctl_enum_list_arg(c, "status", &reseller__v1__voucher_status__descriptor, &statuses,
                               &req.n_statuses);
    if (!st)
        st = ctl_enum_list_arg(c, "review", &reseller__v1__review_status__descriptor, &reviews,
                               &req.n_review_statuses);
    if (!st) st = range_arg(c, &req.issue_time);
    if (st) return st;
    req.statuses = statuses;
    req.review_statuses = reviews;
    req.customer_id = (char *)ctl_opt_or(c, "customer", "");
    req.template_id = (char *)ctl_opt_or(c, "template", "");
    ctl_table t;
    ctl_table_init(&t, c, "lltrrllll");
    ctl_table_row(&t, "VOUCHER", "CUSTOMER", "NAME", "FACE VALUE", "BALANCE", "STATUS", "REVIEW",
                  "EXPIRES", "ISSUED");
    ctl_list l = {.path = "/reseller.v1.VoucherService/ListVouchers",
                  .req = &req.base,
                  .resp_desc = &reseller__v1__list_vouchers_response__descriptor,
                  .items = "vouchers",
                  .table = &t,
                  .row = voucher_row};
    return ctl_list_run(c, &l);
}

/* GetVoucher, CancelReview and WithdrawVoucher: a request with the voucher id in field 1 and a
   response holding `Voucher voucher = 1`, so one function serves the three. */
static int voucher_call(ctl *c, const char *path, ProtobufCMessage *req,
                        const ProtobufCMessageDescriptor *rd)
{
    ProtobufCMessage *r;
    int st = ctl_call(c, path, req, rd, &r, true, NULL);
    if (st || c->json) return st ? st : ctl_print_json(c, r);
    const Reseller__V1__Voucher *v =
        *(Reseller__V1__Voucher *const *)ctl_member_at(r, "voucher", false);
    if (v) show_voucher(c, v);
    if (v && v->status == RESELLER__V1__VOUCHER_STATUS__VOUCHER_STATUS_CANCELLING)
        puts("note: approval-svc has not confirmed the cancellation yet; the quota returns "
             "once it does");
    return 0;
}

static int cmd_vch_get(ctl *c)
{
    Reseller__V1__GetVoucherRequest req = RESELLER__V1__GET_VOUCHER_REQUEST__INIT;
    req.voucher_id = (char *)c->pos[0];
    return voucher_call(c, "/reseller.v1.VoucherService/GetVoucher", &req.base,
                        &reseller__v1__get_voucher_response__descriptor);
}

static int cmd_cancel(ctl *c)
{
    Reseller__V1__CancelReviewRequest req = RESELLER__V1__CANCEL_REVIEW_REQUEST__INIT;
    req.voucher_id = (char *)c->pos[0];
    return voucher_call(c, "/reseller.v1.VoucherService/CancelReview", &req.base,
                        &reseller__v1__cancel_review_response__descriptor);
}

static const ctl_flag withdraw_flags[] = {{"reason", "T", "why (kept on the voucher)"}, {0}};

static int cmd_withdraw(ctl *c)
{
    Reseller__V1__WithdrawVoucherRequest req = RESELLER__V1__WITHDRAW_VOUCHER_REQUEST__INIT;
    req.voucher_id = (char *)c->pos[0];
    req.reason = (char *)ctl_opt_or(c, "reason", "");
    return voucher_call(c, "/reseller.v1.VoucherService/WithdrawVoucher", &req.base,
                        &reseller__v1__withdraw_voucher_response__descriptor);
}

static int cmd_summary(ctl *c)
{
    Reseller__V1__GetIssuanceSummaryRequest req = RESELLER__V1__GET_ISSUANCE_SUMMARY_REQUEST__INIT;
    Reseller__V1__GetIssuanceSummaryResponse *r;
    int st = ctl_call(c, "/reseller.v1.VoucherService/GetIssuanceSummary", &req.base,
                      &reseller__v1__get_issuance_summary_response__descriptor, &r, true, NULL);
    if (st || c->json) return st ? st : ctl_print_json(c, &r->base);
    const char *cur = r->currency_code;
    ctl_kv("issued", ctl_money(c, r->issued_amount_minor, cur));
    ctl_kv("  provider-funded", ctl_money(c, r->provider_funded_issued_minor, cur));
    ctl_kv("  reseller-funded", ctl_money(c, r->reseller_funded_issued_minor, cur));
    ctl_kv("quota granted", ctl_money(c, r->quota_granted_minor, cur));
    ctl_kv("quota remaining", ctl_money(c, r->quota_remaining_minor, cur));
    putchar('\n');
    ctl_table t;
    ctl_table_init(&t, c, "lr");
    ctl_table_row(&t, "STATUS", "VOUCHERS");
    for (size_t i = 0; i < r->n_status_counts; i++)
        ctl_table_row(&t,
                      ctl_enum_name(c, &reseller__v1__voucher_status__descriptor,
                                    r->status_counts[i]->status),
                      ctl_printf(c, "%lld", (long long)r->status_counts[i]->count));
    ctl_table_print(&t);
    return 0;
}

/* ---- command table and main ----------------------------------------------------------------- */

static const ctl_cmd commands[] = {
    {"quota", "[--reseller ID]", "voucher quota, credit pool and own-cost issued (GetQuota)",
     quota_flags, 0, 0, cmd_quota},
    {"entries", "[--account quota|pool] [--kind K] [--reference ID] [--limit N] [--all]",
     "the quota/pool ledger, newest first (ListQuotaEntries)", entries_flags, 0, 0, cmd_entries},
    {"apply", "--kind quota|pool --amount 1000.00 --reason TEXT [--request-id ID]",
     "apply for voucher quota or credit pool (ApplyForQuota)", apply_flags, 0, 0, cmd_apply},
    {"applications", "[--kind quota|pool] [--state S[,S]] [--limit N] [--all]",
     "quota and pool applications, newest first (ListApplications)", applications_flags, 0, 0,
     cmd_applications},
    {"templates list",
     "[--name S] [--product P] [--state editable|locked] [--funding F] [--limit N] [--all]",
     "search templates, newest first (ListTemplates)", tpl_list_flags, 0, 0, cmd_tpl_list},
    {"templates get", "ID", "one template (GetTemplate)", NULL, 1, 1, cmd_tpl_get},
    {"templates create",
     "--name N --face 100.00 --funding provider|reseller [--products a,b | --all [--exclude x,y]] "
     "--modes prepaid,postpaid (--days N | --from RFC3339 --until RFC3339) [--min-order 10.00] "
     "[--min-months N] [--max-months N] [--multi-use] [--remarks T] [--request-id ID]",
     "create a template (CreateTemplate)", tpl_create_flags, 0, 0, cmd_tpl_create},
    {"templates update", "ID --etag E [template flags: only those given are changed]",
     "edit a template not yet issued from (UpdateTemplate)", tpl_update_flags, 1, 1,
     cmd_tpl_update},
    {"customers create", "--id ACCOUNT --name N [--email E] [--phone P] [--remarks T]",
     "add a customer account (CreateCustomer)", cust_create_flags, 0, 0, cmd_cust_create},
    {"customers list", "[--query Q] [--exhausted] [--limit N] [--all]",
     "customers with their credit (ListCustomers)", cust_list_flags, 0, 0, cmd_cust_list},
    {"customers get", "ID", "one customer with its credit (GetCustomer)", NULL, 1, 1, cmd_cust_get},
    {"customers credit", "ID --amount +100.00|-50.00 [--remarks T] [--request-id ID]",
     "allocate credit from the pool (+) or withdraw it (-) (SetCustomerCredit)", cust_credit_flags,
     1, 1, cmd_cust_credit},
    {"allocations", "[--customer ID] [--operator OP] [--from T] [--until T] [--limit N] [--all]",
     "credit allocation records, newest first (ListCreditAllocations)", allocations_flags, 0, 0,
     cmd_allocations},
    {"alerts", "[--customer ID] [--kind K[,K]] [--from T] [--until T] [--limit N] [--all]",
     "stored credit and quota alarms, newest first (ListCreditAlerts)", alerts_flags, 0, 0,
     cmd_alerts},
    {"alerts watch", "[--customer ID] [--kind K[,K]] [--resume-after ALERT_ID]",
     "print alarms as they are raised, until Ctrl-C (WatchCreditAlerts)", watch_flags, 0, 0,
     cmd_alerts_watch},
    {"issue", "--template ID --customer ID [--remarks T] [--request-id ID]",
     "issue one voucher (IssueVoucher)", issue_flags, 0, 0, cmd_issue},
    {"batch-issue", "--template ID --customers a,b,c [--remarks T] [--request-id ID]",
     "issue a template to many customers, per-item results (BatchIssueVouchers)", batch_flags, 0, 0,
     cmd_batch},
    {"vouchers list",
     "[--status S[,S]] [--review S[,S]] [--customer ID] [--template ID] [--limit N] [--all]",
     "vouchers, newest issue first (ListVouchers)", vch_list_flags, 0, 0, cmd_vch_list},
    {"vouchers get", "ID", "one voucher (GetVoucher)", NULL, 1, 1, cmd_vch_get},
    {"cancel", "VOUCHER_ID", "cancel the review of a pending voucher (CancelReview)", NULL, 1, 1,
     cmd_cancel},
    {"withdraw", "VOUCHER_ID [--reason T]", "withdraw an unused active voucher (WithdrawVoucher)",
     withdraw_flags, 1, 1, cmd_withdraw},
    {"summary", "", "issued amounts, quota and counts per status (GetIssuanceSummary)", NULL, 0, 0,
     cmd_summary},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const ctl_flag global_flags[] = {
    {"addr", "HOST:PORT", "reseller-svc address (default $RESELLER_ADDR or 127.0.0.1:50051)"},
    {"token", "JWT", "bearer token (default $TOKEN_RESELLER)"},
    {"json", NULL, "print the response message as JSON (proto3 mapping)"},
    {"currency", "CUR", "currency of money arguments (default: the reseller's, from GetQuota)"},
    {"timeout-ms", "MS", "deadline per call, retries included (default 10000)"},
    {0}};

static const ctl_prog prog = {
    .name = CTL_PROG,
    .service = "reseller-svc",
    .addr_env = "RESELLER_ADDR",
    .default_addr = "127.0.0.1:50051",
    .token_env = "TOKEN_RESELLER",
    .usage = "[--addr HOST:PORT] [--token JWT] [--json] [--currency CUR]",
    .commands = commands,
    .ncommands = NCOMMANDS,
    .globals = global_flags,
    .need_currency = need_currency,
};

int main(int argc, char **argv)
{
    return ctl_main(&prog, argc, argv);
}
