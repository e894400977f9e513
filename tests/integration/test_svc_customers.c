/* CustomerService (minimal) end to end: create/get/list, create as a natural retry, every input
   rule with nothing written, one account per reseller, tenant isolation, roles, search and
   pagination that yields every customer exactly once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "reseller/v1/customer_service.pb-c.h"

static th_svc S;

#define CUST(m)   "/reseller.v1.CustomerService/" m
#define BASE_US   1700000000000000LL
#define MAX_ITEMS 64

/* ---- helpers ------------------------------------------------------------------------------- */

static int call(const char *tok, const char *path, const void *req,
                const ProtobufCMessageDescriptor *desc, void *resp, vc_rpc_result *res)
{
    return th_call(&S, tok, path, req, desc, (ProtobufCMessage **)resp, res);
}

static char *reseller_tok(const char *reseller)
{
    return th_token(&S, VC_ROLE_RESELLER, "op-1", reseller, NULL, false, false);
}

static int64_t count(const char *fmt, const char *arg)
{
    char sql[512];
    snprintf(sql, sizeof(sql), fmt, arg);
    return th_query_i64(&S, sql);
}

static int create(const char *tok, const char *id, const char *name, const char *email,
                  const char *phone, const char *remarks,
                  Reseller__V1__CreateCustomerResponse **out, vc_rpc_result *res)
{
    Reseller__V1__Customer cu = RESELLER__V1__CUSTOMER__INIT;
    cu.customer_id = (char *)id;
    cu.name = (char *)name;
    cu.email = (char *)email;
    cu.phone = (char *)phone;
    cu.remarks = (char *)remarks;
    Reseller__V1__CreateCustomerRequest req = RESELLER__V1__CREATE_CUSTOMER_REQUEST__INIT;
    req.customer = &cu;
    return call(tok, CUST("CreateCustomer"), &req,
                &reseller__v1__create_customer_response__descriptor, out, res);
}

static int get(const char *tok, const char *id, Reseller__V1__GetCustomerResponse **out,
               vc_rpc_result *res)
{
    Reseller__V1__GetCustomerRequest req = RESELLER__V1__GET_CUSTOMER_REQUEST__INIT;
    req.customer_id = (char *)id;
    return call(tok, CUST("GetCustomer"), &req, &reseller__v1__get_customer_response__descriptor,
                out, res);
}

static int64_t ts_us(const Google__Protobuf__Timestamp *t)
{
    assert_non_null(t);
    return t->seconds * 1000000LL + t->nanos / 1000;
}

/* ---- create / get -------------------------------------------------------------------------- */

static void test_create_and_get(void **state)
{
    (void)state;
    char *tok = reseller_tok("r-c1");
    Reseller__V1__CreateCustomerResponse *r = NULL;
    vc_rpc_result res;
    assert_int_equal(create(tok, "acct-100", "Acme Ltd", "ops@acme.example", "+86 (10) 1234-5678",
                            "key account", &r, &res),
                     VC_GRPC_OK);
    const Reseller__V1__Customer *c = r->customer;
    assert_string_equal(c->customer_id, "acct-100");
    assert_string_equal(c->reseller_id, "r-c1");
    assert_string_equal(c->name, "Acme Ltd");
    assert_string_equal(c->email, "ops@acme.example");
    assert_string_equal(c->phone, "+86 (10) 1234-5678");
    assert_string_equal(c->remarks, "key account");
    assert_non_null(c->credit);
    assert_int_equal(c->credit->credit_minor, 0);
    assert_int_equal(c->credit->used_minor, 0);
    assert_int_equal(c->credit->available_minor, 0);
    assert_string_equal(c->credit->currency_code, "CNY");
    assert_false(c->credit->exhausted);
    int64_t created = ts_us(c->create_time);
    assert_true(created > BASE_US);

    /* First contact created the reseller. */
    assert_int_equal(count("SELECT COUNT(*) FROM resellers WHERE reseller_id = '%s'", "r-c1"), 1);

    Reseller__V1__GetCustomerResponse *g = NULL;
    assert_int_equal(get(tok, "acct-100", &g, &res), VC_GRPC_OK);
    assert_string_equal(g->customer->name, "Acme Ltd");
    assert_string_equal(g->customer->email, "ops@acme.example");
    assert_string_equal(g->customer->reseller_id, "r-c1");
    assert_string_equal(g->customer->credit->currency_code, "CNY");
    assert_int_equal(ts_us(g->customer->create_time), created);
    protobuf_c_message_free_unpacked(&g->base, NULL);

    /* Optional fields may be empty; the reseller's own currency shows. */
    th_exec(&S, "INSERT INTO resellers (reseller_id, currency_code, created_us) "
            "VALUES ('r-usd', 'USD', 1)",
            VC_DB_NOARGS);
    char *usd = reseller_tok("r-usd");
    Reseller__V1__CreateCustomerResponse *u = NULL;
    assert_int_equal(create(usd, "acct-usd", "N", "", "", "", &u, &res), VC_GRPC_OK);
    assert_string_equal(u->customer->email, "");
    assert_string_equal(u->customer->credit->currency_code, "USD");
    protobuf_c_message_free_unpacked(&u->base, NULL);
    free(usd);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    free(tok);
}

static void test_create_again(void **state)
{
    (void)state;
    char *tok = reseller_tok("r-c2");
    Reseller__V1__CreateCustomerResponse *a = NULL, *b = NULL;
    vc_rpc_result res;
    assert_int_equal(create(tok, "acct-200", "Beta", "b@x.io", "", "", &a, &res), VC_GRPC_OK);
    /* The same customer again is a retry: the existing one comes back. */
    assert_int_equal(create(tok, "acct-200", "Beta", "b@x.io", "", "", &b, &res), VC_GRPC_OK);
    assert_int_equal(ts_us(a->customer->create_time), ts_us(b->customer->create_time));
    assert_string_equal(b->customer->name, "Beta");
    /* Other details: a conflict, the stored customer stays as it was. */
    assert_int_equal(create(tok, "acct-200", "Beta Corp", "b@x.io", "", "", NULL, &res),
                     VC_GRPC_ALREADY_EXISTS);
    assert_int_equal(create(tok, "acct-200", "Beta", "b@x.io", "", "vip", NULL, &res),
                     VC_GRPC_ALREADY_EXISTS);
    assert_int_equal(
        count("SELECT COUNT(*) FROM customers WHERE customer_id = '%s' AND name = 'Beta'",
              "acct-200"),
        1);

    /* Another reseller cannot register the account, whatever the details, and learns nothing
       about who holds it. */
    char *other = reseller_tok("r-c2-other");
    assert_int_equal(create(other, "acct-200", "Beta", "b@x.io", "", "", NULL, &res),
                     VC_GRPC_ALREADY_EXISTS);
    assert_string_equal(res.message, "customer account is registered with another reseller");
    assert_null(strstr(res.message, "r-c2"));
    assert_int_equal(count("SELECT COUNT(*) FROM customers WHERE customer_id = '%s' "
                           "AND reseller_id = 'r-c2'",
                           "acct-200"),
                     1);
    /* The refused call wrote nothing, not even first contact. */
    assert_int_equal(count("SELECT COUNT(*) FROM resellers WHERE reseller_id = '%s'", "r-c2-other"),
                     0);
    /* Nor does the other reseller see it. */
    assert_int_equal(get(other, "acct-200", NULL, &res), VC_GRPC_NOT_FOUND);
    free(other);
    protobuf_c_message_free_unpacked(&a->base, NULL);
    protobuf_c_message_free_unpacked(&b->base, NULL);
    free(tok);
}

static void test_create_invalid(void **state)
{
    (void)state;
    static char id65[66], name129[130], name128[129], email255[256], email254[255], phone33[34],
        remarks1025[1026];
    memset(id65, 'i', 65);
    memset(name129, 'n', 129);
    memset(name128, 'n', 128);
    memset(email255, 'e', 255);
    email255[1] = '@';
    memset(email254, 'e', 254);
    email254[1] = '@';
    memset(phone33, '1', 33);
    memset(remarks1025, 'r', 1025);
    const struct {
        const char *field, *id, *name, *email, *phone, *remarks;
    } cases[] = {
        {"customer.customer_id", "", "N", "", "", ""},
        {"customer.customer_id", "has space", "N", "", "", ""},
        {"customer.customer_id", id65, "N", "", "", ""},
        {"customer.name", "v1", "", "", "", ""},
        {"customer.name", "v2", name129, "", "", ""},
        {"customer.name", "v3", "tab\x01", "", "", ""},
        {"customer.email", "v4", "N", "plain", "", ""},
        {"customer.email", "v5", "N", "@x.io", "", ""},
        {"customer.email", "v6", "N", "a@", "", ""},
        {"customer.email", "v7", "N", "a@b@c", "", ""},
        {"customer.email", "v8", "N", "a b@c.io", "", ""},
        {"customer.email", "v9", "N", email255, "", ""},
        {"customer.phone", "v10", "N", "", "12ab", ""},
        {"customer.phone", "v11", "N", "", "()", ""},
        {"customer.phone", "v12", "N", "", phone33, ""},
        {"customer.remarks", "v13", "N", "", "", remarks1025},
        {"customer.remarks", "v14", "N", "", "", "esc\x1b"},
    };
    char *tok = reseller_tok("r-bad");
    vc_rpc_result res;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        th_expect_invalid(create(tok, cases[i].id, cases[i].name, cases[i].email, cases[i].phone,
                              cases[i].remarks, NULL, &res),
                       &res, cases[i].field);
    /* No customer message at all. */
    Reseller__V1__CreateCustomerRequest empty = RESELLER__V1__CREATE_CUSTOMER_REQUEST__INIT;
    th_expect_invalid(call(tok, CUST("CreateCustomer"), &empty,
                        &reseller__v1__create_customer_response__descriptor, NULL, &res),
                   &res, "customer");
    /* Everything at once. */
    th_expect_invalid(create(tok, "", "", "x", "y", remarks1025, NULL, &res), &res,
                   "customer.customer_id");
    th_expect_invalid(VC_GRPC_INVALID_ARGUMENT, &res, "customer.name");
    th_expect_invalid(VC_GRPC_INVALID_ARGUMENT, &res, "customer.email");
    th_expect_invalid(VC_GRPC_INVALID_ARGUMENT, &res, "customer.phone");
    th_expect_invalid(VC_GRPC_INVALID_ARGUMENT, &res, "customer.remarks");
    assert_int_equal(count("SELECT COUNT(*) FROM customers WHERE reseller_id = '%s'", "r-bad"), 0);
    assert_int_equal(count("SELECT COUNT(*) FROM resellers WHERE reseller_id = '%s'", "r-bad"), 0);

    /* The bounds are accepted. */
    assert_int_equal(create(tok, "b1", name128, email254, "+1 (2) 3-4", "", NULL, &res),
                     VC_GRPC_OK);
    assert_int_equal(count("SELECT COUNT(*) FROM customers WHERE reseller_id = '%s'", "r-bad"), 1);
    free(tok);
}

static void test_get(void **state)
{
    (void)state;
    char *tok = reseller_tok("r-c1");
    vc_rpc_result res;
    assert_int_equal(get(tok, "acct-none", NULL, &res), VC_GRPC_NOT_FOUND);
    th_expect_invalid(get(tok, "", NULL, &res), &res, "customer_id");
    th_expect_invalid(get(tok, "a b", NULL, &res), &res, "customer_id");
    free(tok);
    char *other = reseller_tok("r-c1-other");
    assert_int_equal(get(other, "acct-100", NULL, &res), VC_GRPC_NOT_FOUND);
    assert_null(strstr(res.message, "r-c1"));
    free(other);
}

static void test_roles(void **state)
{
    (void)state;
    char *toks[] = {
        th_token(&S, VC_ROLE_STAFF, "staff-1", NULL, NULL, false, false),
        th_token(&S, VC_ROLE_SERVICE, "approval-svc", NULL, NULL, false, false),
        th_token(&S, VC_ROLE_BILLING, "billing", NULL, NULL, false, false),
        th_token(&S, VC_ROLE_CUSTOMER, "acct-100", "r-c1", "acct-100", true, true),
    };
    vc_rpc_result res;
    Reseller__V1__ListCustomersRequest lr = RESELLER__V1__LIST_CUSTOMERS_REQUEST__INIT;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(create(toks[i], "acct-role", "N", "", "", "", NULL, &res),
                         VC_GRPC_PERMISSION_DENIED);
        assert_int_equal(get(toks[i], "acct-100", NULL, &res), VC_GRPC_PERMISSION_DENIED);
        assert_int_equal(call(toks[i], CUST("ListCustomers"), &lr,
                              &reseller__v1__list_customers_response__descriptor, NULL, &res),
                         VC_GRPC_PERMISSION_DENIED);
        free(toks[i]);
    }
    assert_int_equal(count("SELECT COUNT(*) FROM customers WHERE customer_id = '%s'", "acct-role"),
                     0);
}

/* ---- ListCustomers ------------------------------------------------------------------------- */

/* Walks every page of a query; returns the ids in order, asserting newest first. */
static size_t walk(const char *tok, Reseller__V1__ListCustomersRequest *req, char ids[][65])
{
    size_t n = 0;
    char token[256] = "";
    int64_t prev_t = INT64_MAX;
    char prev_id[65] = "";
    for (int pages = 0;; pages++) {
        assert_true(pages < 50);
        req->page_token = token;
        Reseller__V1__ListCustomersResponse *r = NULL;
        vc_rpc_result res;
        int code = call(tok, CUST("ListCustomers"), req,
                        &reseller__v1__list_customers_response__descriptor, &r, &res);
        if (code != VC_GRPC_OK) fail_msg("ListCustomers: %d %s", code, res.message);
        for (size_t i = 0; i < r->n_customers; i++) {
            const Reseller__V1__Customer *c = r->customers[i];
            int64_t t = ts_us(c->create_time);
            assert_true(t < prev_t || (t == prev_t && strcmp(c->customer_id, prev_id) < 0));
            prev_t = t;
            snprintf(prev_id, sizeof(prev_id), "%s", c->customer_id);
            assert_non_null(c->credit);
            assert_true(n < MAX_ITEMS);
            snprintf(ids[n++], 65, "%s", c->customer_id);
        }
        snprintf(token, sizeof(token), "%s", r->next_page_token);
        if (*token && req->page_size) assert_int_equal(r->n_customers, req->page_size);
        protobuf_c_message_free_unpacked(&r->base, NULL);
        if (!*token) return n;
    }
}

static size_t list_count(const char *tok, const char *query)
{
    Reseller__V1__ListCustomersRequest req = RESELLER__V1__LIST_CUSTOMERS_REQUEST__INIT;
    req.query = (char *)query;
    req.page_size = 2;
    char ids[MAX_ITEMS][65];
    return walk(tok, &req, ids);
}

static void test_list(void **state)
{
    (void)state;
    char *tok = reseller_tok("r-list");
    const struct {
        const char *id, *name, *email;
    } cs[] = {
        {"L-001", "Alpha Networks", "noc@alpha.example"},
        {"L-002", "beta systems", "it@beta.example"},
        {"L-003", "Gamma 100% Cloud", ""},
        {"L-004", "Delta_Ops", "ops@delta.example"},
        {"L-005", "Epsilon", "billing@eps.example"},
        {"X-006", "Zeta", ""},
        {"X-007", "Eta", "eta@alpha.example"},
    };
    vc_rpc_result res;
    for (int i = 0; i < 7; i++) {
        assert_int_equal(create(tok, cs[i].id, cs[i].name, cs[i].email, "", "", NULL, &res),
                         VC_GRPC_OK);
        th_exec(&S, "UPDATE customers SET created_us = ? WHERE customer_id = ?",
                VC_DB_ARGS(vc_db_i64(BASE_US + i), vc_db_str(cs[i].id)));
    }
    char *other = reseller_tok("r-list-other");
    assert_int_equal(create(other, "L-999", "Alpha Other", "", "", "", NULL, &res), VC_GRPC_OK);

    Reseller__V1__ListCustomersRequest req = RESELLER__V1__LIST_CUSTOMERS_REQUEST__INIT;
    req.page_size = 3;
    char ids[MAX_ITEMS][65];
    size_t n = walk(tok, &req, ids);
    assert_int_equal(n, 7);
    for (int i = 0; i < 7; i++)
        assert_string_equal(ids[i], cs[6 - i].id);

    /* Ties on the creation time are broken by id: still each exactly once. */
    th_exec(&S, "UPDATE customers SET created_us = ? WHERE reseller_id = 'r-list'",
            VC_DB_ARGS(vc_db_i64(BASE_US)));
    req.page_size = 2;
    n = walk(tok, &req, ids);
    assert_int_equal(n, 7);
    for (int i = 0; i < 7; i++)
        for (int j = 0; j < i; j++)
            assert_string_not_equal(ids[i], ids[j]);

    /* Search: name and email substrings and the id, all case-insensitive; wildcards literal. */
    assert_int_equal(list_count(tok, "ALPHA"), 2); /* Alpha Networks, eta@alpha */
    assert_int_equal(list_count(tok, "Systems"), 1);
    assert_int_equal(list_count(tok, "l-00"), 5); /* id prefix, other case */
    assert_int_equal(list_count(tok, "x-007"), 1);
    assert_int_equal(list_count(tok, "%"), 1); /* only "100%" */
    assert_int_equal(list_count(tok, "_"), 1); /* only "Delta_Ops" */
    assert_int_equal(list_count(tok, "!"), 0);
    assert_int_equal(list_count(tok, "nomatch"), 0);
    assert_int_equal(list_count(tok, "@"), 5);
    /* exhausted_only is accepted (these customers have no credit: none is exhausted). */
    Reseller__V1__ListCustomersRequest ex = RESELLER__V1__LIST_CUSTOMERS_REQUEST__INIT;
    ex.exhausted_only = true;
    assert_int_equal(call(tok, CUST("ListCustomers"), &ex,
                          &reseller__v1__list_customers_response__descriptor, NULL, &res),
                     VC_GRPC_OK);

    /* The other reseller sees its own customer only, even when searching for ours. */
    assert_int_equal(list_count(other, ""), 1);
    assert_int_equal(list_count(other, "L-00"), 0);
    free(other);
    free(tok);
}

static void test_list_invalid(void **state)
{
    (void)state;
    char *tok = reseller_tok("r-list");
    vc_rpc_result res;
    const ProtobufCMessageDescriptor *d = &reseller__v1__list_customers_response__descriptor;
    Reseller__V1__ListCustomersRequest req = RESELLER__V1__LIST_CUSTOMERS_REQUEST__INIT;
    req.page_size = 1001;
    th_expect_invalid(call(tok, CUST("ListCustomers"), &req, d, NULL, &res), &res, "page_size");
    req.page_size = 0;
    req.page_token = "garbage";
    th_expect_invalid(call(tok, CUST("ListCustomers"), &req, d, NULL, &res), &res, "page_token");
    /* A well-formed token whose position is not an id ("v1|1|a b", base64url). */
    req.page_token = "djF8MXxhIGI";
    th_expect_invalid(call(tok, CUST("ListCustomers"), &req, d, NULL, &res), &res, "page_token");
    req.page_token = "";
    static char longq[300];
    memset(longq, 'q', 299);
    req.query = longq;
    th_expect_invalid(call(tok, CUST("ListCustomers"), &req, d, NULL, &res), &res, "query");
    free(tok);
}

static int setup(void **state)
{
    (void)state;
    th_start(&S, "VC_TEST_RESELLER_BIN", "customers", NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_stop(&S);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_and_get), cmocka_unit_test(test_create_again),
        cmocka_unit_test(test_create_invalid), cmocka_unit_test(test_get),
        cmocka_unit_test(test_roles),          cmocka_unit_test(test_list),
        cmocka_unit_test(test_list_invalid),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
