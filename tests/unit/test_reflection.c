/*
 * test_reflection.c - vc_reflection: requests built with the v1 (and v1alpha) generated types,
 * packed, answered, and the packed answers decoded and checked.
 *
 * Two descriptor sets: the real one protoc embeds for the tests (vctest + health + reflection,
 * none of which imports anything) and a small synthetic one built here whose files import each
 * other (a -> b, c; b -> c) and declare an extension, for dependency order and extensions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base/vc_err.h"
#include "google/protobuf/descriptor.pb-c.h"
#include "grpc/reflection/v1/reflection.pb-c.h"
#include "grpc/reflection/v1alpha/reflection.pb-c.h"
#include "rpc/vc_reflection.h"

extern const unsigned char vc_test_descriptor_set[];
extern const size_t vc_test_descriptor_set_len;

typedef Grpc__Reflection__V1__ServerReflectionRequest req_t;
typedef Grpc__Reflection__V1__ServerReflectionResponse resp_t;

/* The generated oneof case names do not fit a line. */
#define REQ_KIND(k)       GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_##k
#define RESP_KIND(k)      GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_##k
#define ALPHA_REQ_KIND(k) GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_##k
#define ALPHA_RESP_KIND(k)                                                                         \
    GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_##k

#define TEST_PROTO   "vctest/v1/test.proto"
#define HEALTH_PROTO "grpc/health/v1/health.proto"

/* Deliberately unsorted and with a duplicate: list_services must sort and de-duplicate. */
static const char *const test_services[] = {
    "vctest.v1.EchoService",  "grpc.reflection.v1alpha.ServerReflection",
    "grpc.health.v1.Health",  "grpc.reflection.v1.ServerReflection",
    ".grpc.health.v1.Health",
};
static const char *const test_services_sorted[] = {
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
    "vctest.v1.EchoService",
};

/* ---- helpers ---------------------------------------------------------------------------- */

static int setup_real(void **state)
{
    vc_reflection *r = NULL;
    int rc = vc_reflection_new(vc_test_descriptor_set, vc_test_descriptor_set_len, test_services,
                               sizeof(test_services) / sizeof(test_services[0]), &r);
    if (rc != 0) return -1;
    *state = r;
    return 0;
}

static int teardown(void **state)
{
    vc_reflection_free(*state);
    return 0;
}

/* Packs `req`, answers it, and returns the decoded response (free with free_resp). */
static resp_t *ask(const vc_reflection *r, const req_t *req)
{
    size_t n = grpc__reflection__v1__server_reflection_request__get_packed_size(req);
    unsigned char *buf = malloc(n ? n : 1);
    assert_non_null(buf);
    grpc__reflection__v1__server_reflection_request__pack(req, buf);
    unsigned char *out = NULL;
    size_t out_len = 0;
    assert_int_equal(vc_reflection_answer(r, buf, n, &out, &out_len), 0);
    free(buf);
    assert_non_null(out);
    resp_t *resp = grpc__reflection__v1__server_reflection_response__unpack(NULL, out_len, out);
    free(out);
    assert_non_null(resp);
    return resp;
}

static void free_resp(resp_t *resp)
{
    grpc__reflection__v1__server_reflection_response__free_unpacked(resp, NULL);
}

static resp_t *ask_symbol(const vc_reflection *r, const char *symbol)
{
    req_t req = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
    req.message_request_case = REQ_KIND(FILE_CONTAINING_SYMBOL);
    req.file_containing_symbol = (char *)symbol;
    return ask(r, &req);
}

static resp_t *ask_file(const vc_reflection *r, const char *name)
{
    req_t req = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
    req.message_request_case = REQ_KIND(FILE_BY_FILENAME);
    req.file_by_filename = (char *)name;
    return ask(r, &req);
}

static resp_t *ask_extension(const vc_reflection *r, const char *type, int32_t number)
{
    Grpc__Reflection__V1__ExtensionRequest x = GRPC__REFLECTION__V1__EXTENSION_REQUEST__INIT;
    x.containing_type = (char *)type;
    x.extension_number = number;
    req_t req = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
    req.message_request_case = REQ_KIND(FILE_CONTAINING_EXTENSION);
    req.file_containing_extension = &x;
    return ask(r, &req);
}

static resp_t *ask_ext_numbers(const vc_reflection *r, const char *type)
{
    req_t req = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
    req.message_request_case = REQ_KIND(ALL_EXTENSION_NUMBERS_OF_TYPE);
    req.all_extension_numbers_of_type = (char *)type;
    return ask(r, &req);
}

/* Asserts the response carries exactly these files, in this order. */
static void assert_files(const resp_t *resp, const char *const *names, size_t n)
{
    assert_int_equal(resp->message_response_case, RESP_KIND(FILE_DESCRIPTOR_RESPONSE));
    const Grpc__Reflection__V1__FileDescriptorResponse *fr = resp->file_descriptor_response;
    assert_int_equal(fr->n_file_descriptor_proto, n);
    for (size_t i = 0; i < n; i++) {
        Google__Protobuf__FileDescriptorProto *fd = google__protobuf__file_descriptor_proto__unpack(
            NULL, fr->file_descriptor_proto[i].len, fr->file_descriptor_proto[i].data);
        assert_non_null(fd);
        assert_string_equal(fd->name, names[i]);
        google__protobuf__file_descriptor_proto__free_unpacked(fd, NULL);
    }
}

static void check_symbol_file(const vc_reflection *r, const char *symbol, const char *file)
{
    resp_t *resp = ask_symbol(r, symbol);
    assert_files(resp, &file, 1);
    free_resp(resp);
}

static void assert_error(const resp_t *resp, int code)
{
    assert_int_equal(resp->message_response_case, RESP_KIND(ERROR_RESPONSE));
    assert_int_equal(resp->error_response->error_code, code);
    assert_true(strlen(resp->error_response->error_message) > 0);
}

/* ---- the synthetic set: a.proto -> {b.proto, c.proto}, b.proto -> c.proto ---------------- */

typedef struct {
    Google__Protobuf__FileDescriptorProto a, b, c, nopkg;
    Google__Protobuf__DescriptorProto msg_b, msg_inner, msg_c, msg_bare;
    Google__Protobuf__DescriptorProto__ExtensionRange range_c;
    Google__Protobuf__DescriptorProto__ExtensionRange *ranges_c[1];
    Google__Protobuf__FieldDescriptorProto field_b, field_tag;
    Google__Protobuf__FieldDescriptorProto *fields_b[1], *exts_b[1];
    Google__Protobuf__OneofDescriptorProto oneof_b;
    Google__Protobuf__OneofDescriptorProto *oneofs_b[1];
    Google__Protobuf__EnumDescriptorProto enum_color, enum_kind;
    Google__Protobuf__EnumDescriptorProto *enums_c[1], *enums_b[1];
    Google__Protobuf__EnumValueDescriptorProto red, green, k_a;
    Google__Protobuf__EnumValueDescriptorProto *color_values[2], *kind_values[1];
    Google__Protobuf__DescriptorProto *msgs_b[1], *nested_b[1], *msgs_c[1], *msgs_nopkg[1];
    Google__Protobuf__ServiceDescriptorProto svc;
    Google__Protobuf__ServiceDescriptorProto *svcs_a[1];
    Google__Protobuf__MethodDescriptorProto up;
    Google__Protobuf__MethodDescriptorProto *methods[1];
    char *deps_a[2], *deps_b[1];
} synth;

static void synth_enum_value(Google__Protobuf__EnumValueDescriptorProto *v, char *name, int n)
{
    google__protobuf__enum_value_descriptor_proto__init(v);
    v->name = name;
    v->has_number = 1;
    v->number = n;
}

/* c.proto: package c; message C { extensions 100 to 199; } enum Color { RED = 0; GREEN = 1; } */
static void synth_file_c(synth *s)
{
    google__protobuf__file_descriptor_proto__init(&s->c);
    s->c.name = "c.proto";
    s->c.package = "c";
    google__protobuf__descriptor_proto__init(&s->msg_c);
    s->msg_c.name = "C";
    google__protobuf__descriptor_proto__extension_range__init(&s->range_c);
    s->range_c.has_start = s->range_c.has_end = 1;
    s->range_c.start = 100;
    s->range_c.end = 200;
    s->ranges_c[0] = &s->range_c;
    s->msg_c.n_extension_range = 1;
    s->msg_c.extension_range = s->ranges_c;
    s->msgs_c[0] = &s->msg_c;
    s->c.n_message_type = 1;
    s->c.message_type = s->msgs_c;
    google__protobuf__enum_descriptor_proto__init(&s->enum_color);
    s->enum_color.name = "Color";
    synth_enum_value(&s->red, "RED", 0);
    synth_enum_value(&s->green, "GREEN", 1);
    s->color_values[0] = &s->red;
    s->color_values[1] = &s->green;
    s->enum_color.n_value = 2;
    s->enum_color.value = s->color_values;
    s->enums_c[0] = &s->enum_color;
    s->c.n_enum_type = 1;
    s->c.enum_type = s->enums_c;
}

/* b.proto: package b; import "c.proto";
   message B { message Inner {} enum Kind { K_A = 0; } oneof choice { c.C c = 1; } }
   extend c.C { int32 tag = 100; } */
static void synth_file_b(synth *s)
{
    google__protobuf__file_descriptor_proto__init(&s->b);
    s->b.name = "b.proto";
    s->b.package = "b";
    s->deps_b[0] = "c.proto";
    s->b.n_dependency = 1;
    s->b.dependency = s->deps_b;
    google__protobuf__descriptor_proto__init(&s->msg_b);
    s->msg_b.name = "B";
    google__protobuf__descriptor_proto__init(&s->msg_inner);
    s->msg_inner.name = "Inner";
    s->nested_b[0] = &s->msg_inner;
    s->msg_b.n_nested_type = 1;
    s->msg_b.nested_type = s->nested_b;
    google__protobuf__enum_descriptor_proto__init(&s->enum_kind);
    s->enum_kind.name = "Kind";
    synth_enum_value(&s->k_a, "K_A", 0);
    s->kind_values[0] = &s->k_a;
    s->enum_kind.n_value = 1;
    s->enum_kind.value = s->kind_values;
    s->enums_b[0] = &s->enum_kind;
    s->msg_b.n_enum_type = 1;
    s->msg_b.enum_type = s->enums_b;
    google__protobuf__oneof_descriptor_proto__init(&s->oneof_b);
    s->oneof_b.name = "choice";
    s->oneofs_b[0] = &s->oneof_b;
    s->msg_b.n_oneof_decl = 1;
    s->msg_b.oneof_decl = s->oneofs_b;
    google__protobuf__field_descriptor_proto__init(&s->field_b);
    s->field_b.name = "c";
    s->field_b.has_number = 1;
    s->field_b.number = 1;
    s->field_b.type_name = ".c.C";
    s->field_b.has_oneof_index = 1;
    s->field_b.oneof_index = 0;
    s->fields_b[0] = &s->field_b;
    s->msg_b.n_field = 1;
    s->msg_b.field = s->fields_b;
    s->msgs_b[0] = &s->msg_b;
    s->b.n_message_type = 1;
    s->b.message_type = s->msgs_b;
    google__protobuf__field_descriptor_proto__init(&s->field_tag);
    s->field_tag.name = "tag";
    s->field_tag.has_number = 1;
    s->field_tag.number = 100;
    s->field_tag.extendee = ".c.C";
    s->exts_b[0] = &s->field_tag;
    s->b.n_extension = 1;
    s->b.extension = s->exts_b;
}

/* a.proto: package a; import "b.proto"; import "c.proto";
   service Svc { rpc Up(stream b.B) returns (c.C); }
   nopkg.proto: message Bare {} */
static void synth_init(synth *s)
{
    memset(s, 0, sizeof(*s));
    synth_file_c(s);
    synth_file_b(s);
    google__protobuf__file_descriptor_proto__init(&s->a);
    s->a.name = "a.proto";
    s->a.package = "a";
    s->deps_a[0] = "b.proto";
    s->deps_a[1] = "c.proto";
    s->a.n_dependency = 2;
    s->a.dependency = s->deps_a;
    google__protobuf__method_descriptor_proto__init(&s->up);
    s->up.name = "Up";
    s->up.input_type = ".b.B";
    s->up.output_type = ".c.C";
    s->up.has_client_streaming = 1;
    s->up.client_streaming = 1;
    s->methods[0] = &s->up;
    google__protobuf__service_descriptor_proto__init(&s->svc);
    s->svc.name = "Svc";
    s->svc.n_method = 1;
    s->svc.method = s->methods;
    s->svcs_a[0] = &s->svc;
    s->a.n_service = 1;
    s->a.service = s->svcs_a;

    google__protobuf__file_descriptor_proto__init(&s->nopkg);
    s->nopkg.name = "nopkg.proto";
    google__protobuf__descriptor_proto__init(&s->msg_bare);
    s->msg_bare.name = "Bare";
    s->msgs_nopkg[0] = &s->msg_bare;
    s->nopkg.n_message_type = 1;
    s->nopkg.message_type = s->msgs_nopkg;
}

/* Packs a FileDescriptorSet of these files; caller frees. */
static unsigned char *pack_set(Google__Protobuf__FileDescriptorProto **files, size_t n, size_t *len)
{
    Google__Protobuf__FileDescriptorSet set = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_SET__INIT;
    set.n_file = n;
    set.file = files;
    *len = google__protobuf__file_descriptor_set__get_packed_size(&set);
    unsigned char *buf = malloc(*len ? *len : 1);
    assert_non_null(buf);
    google__protobuf__file_descriptor_set__pack(&set, buf);
    return buf;
}

/* The set bytes must outlive the object, so the fixture keeps both. */
typedef struct {
    unsigned char *bytes;
    vc_reflection *r;
} synth_fixture;

static int setup_synth(void **state)
{
    synth s;
    synth_init(&s);
    /* Dependencies after their dependents, as nothing requires a particular order. */
    Google__Protobuf__FileDescriptorProto *files[] = {&s.a, &s.nopkg, &s.b, &s.c};
    synth_fixture *fx = calloc(1, sizeof(*fx));
    if (!fx) return -1;
    size_t len;
    fx->bytes = pack_set(files, 4, &len);
    const char *const services[] = {"a.Svc"};
    if (vc_reflection_new(fx->bytes, len, services, 1, &fx->r) != 0) {
        free(fx->bytes);
        free(fx);
        return -1;
    }
    *state = fx;
    return 0;
}

static int teardown_synth(void **state)
{
    synth_fixture *fx = *state;
    vc_reflection_free(fx->r);
    free(fx->bytes);
    free(fx);
    return 0;
}

/* ---- tests on the real embedded set ----------------------------------------------------- */

static void test_list_services(void **state)
{
    req_t req = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
    req.host = "localhost:50051";
    req.message_request_case = REQ_KIND(LIST_SERVICES);
    req.list_services = "*";
    resp_t *resp = ask(*state, &req);

    assert_string_equal(resp->valid_host, "localhost:50051");
    assert_non_null(resp->original_request);
    assert_int_equal(resp->original_request->message_request_case, REQ_KIND(LIST_SERVICES));
    assert_string_equal(resp->original_request->list_services, "*");
    assert_int_equal(resp->message_response_case, RESP_KIND(LIST_SERVICES_RESPONSE));
    const size_t n = sizeof(test_services_sorted) / sizeof(test_services_sorted[0]);
    assert_int_equal(resp->list_services_response->n_service, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(resp->list_services_response->service[i]->name,
                            test_services_sorted[i]);
    free_resp(resp);
}

static void test_symbols(void **state)
{
    const vc_reflection *r = *state;
    check_symbol_file(r, "vctest.v1.EchoService", TEST_PROTO);
    check_symbol_file(r, ".vctest.v1.EchoService.Echo", TEST_PROTO);
    check_symbol_file(r, "vctest.v1.EchoRequest", TEST_PROTO);
    check_symbol_file(r, "vctest.v1.EchoRequest.text", TEST_PROTO);
    check_symbol_file(r, "grpc.health.v1.HealthCheckResponse.ServingStatus", HEALTH_PROTO);
    check_symbol_file(r, "grpc.health.v1.HealthCheckResponse.SERVING", HEALTH_PROTO);
    check_symbol_file(r, "grpc.health.v1.Health.Watch", HEALTH_PROTO);
    check_symbol_file(r, "grpc.reflection.v1.ServerReflection",
                      "grpc/reflection/v1/reflection.proto");
    check_symbol_file(r, "grpc.reflection.v1alpha.ServerReflectionRequest.host",
                      "grpc/reflection/v1alpha/reflection.proto");
    /* A oneof of the reflection request. */
    check_symbol_file(r, "grpc.reflection.v1.ServerReflectionRequest.message_request",
                      "grpc/reflection/v1/reflection.proto");
}

static void test_unknown_symbols(void **state)
{
    static const char *const unknown[] = {
        "vctest.v1.Nope",
        "vctest.v1.EchoRequest.nope",
        "vctest.v1", /* packages are not symbols */
        "vctest",
        "",
        ".",
        "EchoRequest", /* unqualified */
        /* Enum values live beside their enum, not inside it. */
        "grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING",
    };
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        resp_t *resp = ask_symbol(*state, unknown[i]);
        assert_error(resp, 5);
        free_resp(resp);
    }
}

static void test_file_by_filename(void **state)
{
    resp_t *resp = ask_file(*state, HEALTH_PROTO);
    const char *const want[] = {HEALTH_PROTO};
    assert_files(resp, want, 1);
    free_resp(resp);

    resp = ask_file(*state, "vctest/v1/nope.proto");
    assert_error(resp, 5);
    free_resp(resp);
}

static void test_extensions_real(void **state)
{
    resp_t *resp = ask_ext_numbers(*state, "vctest.v1.EchoRequest");
    assert_int_equal(resp->message_response_case, RESP_KIND(ALL_EXTENSION_NUMBERS_RESPONSE));
    assert_string_equal(resp->all_extension_numbers_response->base_type_name,
                        "vctest.v1.EchoRequest");
    assert_int_equal(resp->all_extension_numbers_response->n_extension_number, 0);
    free_resp(resp);

    resp = ask_ext_numbers(*state, ".vctest.v1.EchoResponse");
    assert_string_equal(resp->all_extension_numbers_response->base_type_name,
                        "vctest.v1.EchoResponse");
    free_resp(resp);

    resp = ask_ext_numbers(*state, "vctest.v1.Nope");
    assert_error(resp, 5);
    free_resp(resp);
    resp = ask_ext_numbers(*state, "vctest.v1.EchoService"); /* not a message */
    assert_error(resp, 5);
    free_resp(resp);

    resp = ask_extension(*state, "vctest.v1.EchoRequest", 100);
    assert_error(resp, 5);
    free_resp(resp);
}

static void test_unset_request(void **state)
{
    /* An empty message decodes as "no request kind set"; so does a kind from the future. */
    unsigned char *out = NULL;
    size_t out_len = 0;
    assert_int_equal(vc_reflection_answer(*state, NULL, 0, &out, &out_len), 0);
    resp_t *resp = grpc__reflection__v1__server_reflection_response__unpack(NULL, out_len, out);
    free(out);
    assert_non_null(resp);
    assert_error(resp, 12);
    free_resp(resp);

    static const unsigned char future[] = {0x42, 0x01, 'x'}; /* field 8, a string */
    assert_int_equal(vc_reflection_answer(*state, future, sizeof(future), &out, &out_len), 0);
    resp = grpc__reflection__v1__server_reflection_response__unpack(NULL, out_len, out);
    free(out);
    assert_non_null(resp);
    assert_error(resp, 12);
    free_resp(resp);
}

static void test_garbage_request(void **state)
{
    static const unsigned char truncated[] = {0x3a, 0x05, 'a'}; /* list_services, 5 bytes: 1 */
    static const unsigned char bad_wire[] = {0x0f};             /* wire type 7 */
    static const unsigned char bad_varint[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
                                               0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    unsigned char *out = (unsigned char *)"untouched";
    size_t out_len = 42;
    assert_int_equal(vc_reflection_answer(*state, truncated, sizeof(truncated), &out, &out_len),
                     VC_EINVAL);
    assert_int_equal(vc_reflection_answer(*state, bad_wire, sizeof(bad_wire), &out, &out_len),
                     VC_EINVAL);
    assert_int_equal(vc_reflection_answer(*state, bad_varint, sizeof(bad_varint), &out, &out_len),
                     VC_EINVAL);
    assert_string_equal((const char *)out, "untouched");
    assert_int_equal(out_len, 42);
    assert_int_equal(vc_reflection_answer(*state, truncated, sizeof(truncated), NULL, &out_len),
                     VC_EINVAL);
}

static void test_method_kind(void **state)
{
    const vc_reflection *r = *state;
    bool cs = true, ss = true;
    assert_int_equal(vc_reflection_method_kind(r, "/vctest.v1.EchoService/Echo", &cs, &ss), 0);
    assert_false(cs);
    assert_false(ss);
    assert_int_equal(vc_reflection_method_kind(r, "/vctest.v1.EchoService/EchoStream", &cs, &ss),
                     0);
    assert_false(cs);
    assert_true(ss);
    assert_int_equal(vc_reflection_method_kind(r, "/vctest.v1.EchoService/EchoChat", &cs, &ss), 0);
    assert_true(cs);
    assert_true(ss);
    cs = ss = false;
    assert_int_equal(vc_reflection_method_kind(
                         r, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", &cs, &ss),
                     0);
    assert_true(cs);
    assert_true(ss);
    cs = ss = false;
    assert_int_equal(
        vc_reflection_method_kind(
            r, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cs, &ss),
        0);
    assert_true(cs && ss);
    assert_int_equal(vc_reflection_method_kind(r, "/grpc.health.v1.Health/Watch", &cs, &ss), 0);
    assert_false(cs);
    assert_true(ss);

    assert_int_equal(vc_reflection_method_kind(r, "/vctest.v1.EchoService/Nope", &cs, &ss),
                     VC_ENOENT);
    assert_int_equal(vc_reflection_method_kind(r, "vctest.v1.EchoService.Echo", &cs, &ss),
                     VC_ENOENT);
    assert_int_equal(vc_reflection_method_kind(r, "/vctest.v1.EchoService", &cs, &ss), VC_ENOENT);
    assert_int_equal(vc_reflection_method_kind(r, "", &cs, &ss), VC_ENOENT);
}

/* grpcurl falls back to v1alpha: the same bytes must decode there too. */
static void test_v1alpha_wire_compat(void **state)
{
    Grpc__Reflection__V1alpha__ServerReflectionRequest req =
        GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__INIT;
    req.host = "h";
    req.message_request_case = ALPHA_REQ_KIND(FILE_CONTAINING_SYMBOL);
    req.file_containing_symbol = "vctest.v1.EchoService";
    size_t n = grpc__reflection__v1alpha__server_reflection_request__get_packed_size(&req);
    unsigned char *buf = malloc(n);
    assert_non_null(buf);
    grpc__reflection__v1alpha__server_reflection_request__pack(&req, buf);
    unsigned char *out = NULL;
    size_t out_len = 0;
    assert_int_equal(vc_reflection_answer(*state, buf, n, &out, &out_len), 0);
    free(buf);

    Grpc__Reflection__V1alpha__ServerReflectionResponse *resp =
        grpc__reflection__v1alpha__server_reflection_response__unpack(NULL, out_len, out);
    free(out);
    assert_non_null(resp);
    assert_string_equal(resp->valid_host, "h");
    assert_string_equal(resp->original_request->file_containing_symbol, "vctest.v1.EchoService");
    assert_int_equal(resp->message_response_case, ALPHA_RESP_KIND(FILE_DESCRIPTOR_RESPONSE));
    assert_int_equal(resp->file_descriptor_response->n_file_descriptor_proto, 1);
    grpc__reflection__v1alpha__server_reflection_response__free_unpacked(resp, NULL);
}

/* The answer carries protoc's own bytes for the file, and they describe the whole service. */
static void test_file_content(void **state)
{
    resp_t *resp = ask_symbol(*state, "vctest.v1.EchoService");
    const ProtobufCBinaryData *blob = &resp->file_descriptor_response->file_descriptor_proto[0];
    Google__Protobuf__FileDescriptorProto *fd =
        google__protobuf__file_descriptor_proto__unpack(NULL, blob->len, blob->data);
    assert_non_null(fd);
    assert_string_equal(fd->package, "vctest.v1");
    assert_int_equal(fd->n_service, 1);
    assert_int_equal(fd->service[0]->n_method, 4);
    assert_int_equal(fd->n_message_type, 2);
    assert_non_null(fd->source_code_info); /* --include_source_info survived */
    google__protobuf__file_descriptor_proto__free_unpacked(fd, NULL);
    free_resp(resp);
}

/* ---- tests on the synthetic set --------------------------------------------------------- */

static void test_synth_dependencies(void **state)
{
    const vc_reflection *r = ((synth_fixture *)*state)->r;
    const char *const abc[] = {"a.proto", "b.proto", "c.proto"};
    const char *const bc[] = {"b.proto", "c.proto"};

    /* c.proto is imported twice (directly and through b.proto) but sent once. */
    resp_t *resp = ask_symbol(r, "a.Svc");
    assert_files(resp, abc, 3);
    free_resp(resp);
    resp = ask_symbol(r, "a.Svc.Up");
    assert_files(resp, abc, 3);
    free_resp(resp);
    resp = ask_file(r, "a.proto");
    assert_files(resp, abc, 3);
    free_resp(resp);
    resp = ask_file(r, "b.proto");
    assert_files(resp, bc, 2);
    free_resp(resp);

    static const char *const in_b[] = {"b.B",        "b.B.Inner", "b.B.Kind", "b.B.K_A",
                                       "b.B.choice", "b.B.c",     "b.tag",    ".b.B.Inner"};
    for (size_t i = 0; i < sizeof(in_b) / sizeof(in_b[0]); i++) {
        resp = ask_symbol(r, in_b[i]);
        assert_files(resp, bc, 2);
        free_resp(resp);
    }
    check_symbol_file(r, "c.C", "c.proto");
    check_symbol_file(r, "c.Color", "c.proto");
    check_symbol_file(r, "c.RED", "c.proto"); /* top-level enum value: in the package scope */
    check_symbol_file(r, "c.GREEN", "c.proto");
    check_symbol_file(r, "Bare", "nopkg.proto");

    static const char *const unknown[] = {"c.Color.RED", "b.B.Kind.K_A", "b.K_A", "b", ".Bare.x"};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        resp = ask_symbol(r, unknown[i]);
        assert_error(resp, 5);
        free_resp(resp);
    }
}

static void test_synth_list_services(void **state)
{
    req_t req = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
    req.message_request_case = REQ_KIND(LIST_SERVICES);
    req.list_services = "";
    resp_t *resp = ask(((synth_fixture *)*state)->r, &req);
    assert_string_equal(resp->valid_host, "");
    assert_int_equal(resp->list_services_response->n_service, 1);
    assert_string_equal(resp->list_services_response->service[0]->name, "a.Svc");
    free_resp(resp);
}

static void test_synth_extensions(void **state)
{
    const vc_reflection *r = ((synth_fixture *)*state)->r;
    const char *const bc[] = {"b.proto", "c.proto"};

    resp_t *resp = ask_extension(r, "c.C", 100);
    assert_files(resp, bc, 2);
    free_resp(resp);
    resp = ask_extension(r, ".c.C", 100);
    assert_files(resp, bc, 2);
    free_resp(resp);
    resp = ask_extension(r, "c.C", 101);
    assert_error(resp, 5);
    free_resp(resp);
    resp = ask_extension(r, "b.B", 100);
    assert_error(resp, 5);
    free_resp(resp);

    resp = ask_ext_numbers(r, "c.C");
    const Grpc__Reflection__V1__ExtensionNumberResponse *en = resp->all_extension_numbers_response;
    assert_string_equal(en->base_type_name, "c.C");
    assert_int_equal(en->n_extension_number, 1);
    assert_int_equal(en->extension_number[0], 100);
    free_resp(resp);
    resp = ask_ext_numbers(r, "b.B");
    assert_int_equal(resp->all_extension_numbers_response->n_extension_number, 0);
    free_resp(resp);
    resp = ask_ext_numbers(r, "c.Color"); /* an enum is not a message type */
    assert_error(resp, 5);
    free_resp(resp);

    bool cs = false, ss = true;
    assert_int_equal(vc_reflection_method_kind(r, "/a.Svc/Up", &cs, &ss), 0);
    assert_true(cs);
    assert_false(ss);
}

/* ---- construction errors ---------------------------------------------------------------- */

static int new_from(Google__Protobuf__FileDescriptorProto **files, size_t n,
                    const char *const *services, size_t n_services)
{
    size_t len;
    unsigned char *bytes = pack_set(files, n, &len);
    vc_reflection *r = NULL;
    int rc = vc_reflection_new(bytes, len, services, n_services, &r);
    if (rc == 0) assert_non_null(r);
    vc_reflection_free(r);
    free(bytes);
    return rc;
}

static void test_new_errors(void **state)
{
    (void)state;
    synth s;
    synth_init(&s);
    Google__Protobuf__FileDescriptorProto *ok[] = {&s.c, &s.b, &s.a};
    Google__Protobuf__FileDescriptorProto *missing_dep[] = {&s.a, &s.b};
    Google__Protobuf__FileDescriptorProto *dup_file[] = {&s.c, &s.c};
    const char *const svc[] = {"a.Svc"};
    const char *const not_svc[] = {"b.B"};
    const char *const absent[] = {"a.Other"};
    const char *const null_svc[] = {NULL};

    assert_int_equal(new_from(ok, 3, svc, 1), 0);
    assert_int_equal(new_from(ok, 3, NULL, 0), 0);
    assert_int_equal(new_from(missing_dep, 2, svc, 1), VC_EINVAL);
    assert_int_equal(new_from(dup_file, 2, NULL, 0), VC_EINVAL);
    assert_int_equal(new_from(ok, 3, not_svc, 1), VC_ENOENT);
    assert_int_equal(new_from(ok, 3, absent, 1), VC_ENOENT);
    assert_int_equal(new_from(ok, 3, null_svc, 1), VC_EINVAL);

    /* A file without a name, and a set truncated in the middle of a file. */
    s.nopkg.name = NULL;
    Google__Protobuf__FileDescriptorProto *nameless[] = {&s.nopkg};
    assert_int_equal(new_from(nameless, 1, NULL, 0), VC_EINVAL);

    vc_reflection *r = (vc_reflection *)&s; /* must stay untouched on failure */
    assert_int_equal(
        vc_reflection_new(vc_test_descriptor_set, vc_test_descriptor_set_len - 1, NULL, 0, &r),
        VC_EINVAL);
    assert_ptr_equal(r, (vc_reflection *)&s);
    static const unsigned char garbage[] = {0xff, 0xff, 0xff};
    assert_int_equal(vc_reflection_new(garbage, sizeof(garbage), NULL, 0, &r), VC_EINVAL);
    assert_int_equal(vc_reflection_new(NULL, 10, NULL, 0, &r), VC_EINVAL);
    assert_int_equal(vc_reflection_new(garbage, sizeof(garbage), NULL, 1, &r), VC_EINVAL);
    assert_int_equal(vc_reflection_new(garbage, sizeof(garbage), NULL, 0, NULL), VC_EINVAL);
    vc_reflection_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_list_services, setup_real, teardown),
        cmocka_unit_test_setup_teardown(test_symbols, setup_real, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_symbols, setup_real, teardown),
        cmocka_unit_test_setup_teardown(test_file_by_filename, setup_real, teardown),
        cmocka_unit_test_setup_teardown(test_extensions_real, setup_real, teardown),
        cmocka_unit_test_setup_teardown(test_unset_request, setup_real, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_request, setup_real, teardown),
        cmocka_unit_test_setup_teardown(test_method_kind, setup_real, teardown),
        cmocka_unit_test_setup_teardown(test_v1alpha_wire_compat, setup_real, teardown),
        cmocka_unit_test_setup_teardown(test_file_content, setup_real, teardown),
        cmocka_unit_test_setup_teardown(test_synth_dependencies, setup_synth, teardown_synth),
        cmocka_unit_test_setup_teardown(test_synth_list_services, setup_synth, teardown_synth),
        cmocka_unit_test_setup_teardown(test_synth_extensions, setup_synth, teardown_synth),
        cmocka_unit_test(test_new_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
