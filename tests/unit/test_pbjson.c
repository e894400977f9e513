/* test_pbjson.c - tools/pbjson: proto3 JSON mapping of protobuf-c messages, RFC 3339 both ways.
 * Uses the product protos (proto3: implicit presence, oneof, enums, repeated, nested, int64) and
 * descriptor.proto (proto2: has_ flags, optional strings, bytes, double, uint64, defaults). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/vc_err.h"
#include "google/protobuf/descriptor.pb-c.h"
#include "google/protobuf/duration.pb-c.h"
#include "google/protobuf/field_mask.pb-c.h"
#include "rpc/vc_pbjson.h"
#include "reseller/v1/template_service.pb-c.h"

static char *dump(const ProtobufCMessage *m)
{
    char *s = NULL;
    assert_int_equal(vc_pbjson_dumps(m, JSON_COMPACT, &s), 0);
    return s;
}

#define ASSERT_JSON(msg, want)                                                                     \
    do {                                                                                           \
        char *got_ = dump(&(msg).base);                                                            \
        assert_string_equal(got_, want);                                                           \
        free(got_);                                                                                \
    } while (0)

static void test_defaults_omitted(void **state)
{
    (void)state;
    Reseller__V1__Template t = RESELLER__V1__TEMPLATE__INIT;
    ASSERT_JSON(t, "{}");
    Reseller__V1__UsageConditions u = RESELLER__V1__USAGE_CONDITIONS__INIT;
    t.conditions = &u; /* a set but empty message is written */
    t.name = "";       /* an empty string is not */
    ASSERT_JSON(t, "{\"conditions\":{}}");
}

static void test_scalars_enums_repeated(void **state)
{
    (void)state;
    Reseller__V1__Template t = RESELLER__V1__TEMPLATE__INIT;
    Reseller__V1__PaymentMode modes[] = {RESELLER__V1__PAYMENT_MODE__PAYMENT_MODE_PREPAID,
                                         (Reseller__V1__PaymentMode)42};
    Reseller__V1__UsageConditions u = RESELLER__V1__USAGE_CONDITIONS__INIT;
    u.min_purchase_months = -3;
    u.min_order_amount_minor = INT64_MIN;
    u.use_limit = RESELLER__V1__USE_LIMIT__USE_LIMIT_MULTI_USE;
    t.template_id = "tpl_1";
    t.face_value_minor = 9007199254740993LL; /* not exact as a double: must be a string */
    t.funding = RESELLER__V1__FUNDING__FUNDING_RESELLER_FUNDED;
    t.payment_modes = modes;
    t.n_payment_modes = 2;
    t.conditions = &u;
    t.issued_count = 0;
    ASSERT_JSON(t, "{\"templateId\":\"tpl_1\",\"faceValueMinor\":\"9007199254740993\","
                   "\"funding\":\"FUNDING_RESELLER_FUNDED\",\"paymentModes\":"
                   "[\"PAYMENT_MODE_PREPAID\",42],\"conditions\":{\"minOrderAmountMinor\":"
                   "\"-9223372036854775808\",\"minPurchaseMonths\":-3,\"useLimit\":"
                   "\"USE_LIMIT_MULTI_USE\"}}");
}

static void test_oneof_and_timestamp(void **state)
{
    (void)state;
    Reseller__V1__Validity v = RESELLER__V1__VALIDITY__INIT;
    v.period_case = RESELLER__V1__VALIDITY__PERIOD_DAYS_AFTER_ACTIVATION;
    v.days_after_activation = 0; /* a set oneof member is written even at its default */
    ASSERT_JSON(v, "{\"daysAfterActivation\":0}");

    Google__Protobuf__Timestamp a = GOOGLE__PROTOBUF__TIMESTAMP__INIT, b = a;
    a.seconds = 1714550400; /* 2024-05-01T08:00:00Z */
    b.seconds = -1;
    b.nanos = 500000000;
    Reseller__V1__TimeRange r = RESELLER__V1__TIME_RANGE__INIT;
    r.start_time = &a;
    r.end_time = &b;
    v.period_case = RESELLER__V1__VALIDITY__PERIOD_FIXED_WINDOW;
    v.fixed_window = &r;
    ASSERT_JSON(v, "{\"fixedWindow\":{\"startTime\":\"2024-05-01T08:00:00Z\","
                   "\"endTime\":\"1969-12-31T23:59:59.500Z\"}}");
    /* Out of the mapping's range: written as the plain message rather than failing. */
    b.seconds = 253402300800LL;
    b.nanos = 0;
    ASSERT_JSON(v, "{\"fixedWindow\":{\"startTime\":\"2024-05-01T08:00:00Z\","
                   "\"endTime\":{\"seconds\":\"253402300800\"}}}");
    /* A bare well-known type renders as a JSON string. */
    ASSERT_JSON(a, "\"2024-05-01T08:00:00Z\"");
}

static void test_timestamp_text(void **state)
{
    (void)state;
    char buf[VC_PBJSON_TS_MAX];
    assert_int_equal(vc_pbjson_timestamp(0, 0, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "1970-01-01T00:00:00Z");
    assert_int_equal(vc_pbjson_timestamp(951782400, 1000, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "2000-02-29T00:00:00.000001Z");
    assert_int_equal(vc_pbjson_timestamp(1, 1, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "1970-01-01T00:00:01.000000001Z");
    assert_int_equal(vc_pbjson_timestamp(-62135596800LL, 0, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "0001-01-01T00:00:00Z");
    assert_int_equal(vc_pbjson_timestamp(253402300799LL, 999999999, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "9999-12-31T23:59:59.999999999Z");
    assert_int_equal(vc_pbjson_timestamp(-62135596801LL, 0, buf, sizeof(buf)), VC_EINVAL);
    assert_int_equal(vc_pbjson_timestamp(0, -1, buf, sizeof(buf)), VC_EINVAL);
    assert_int_equal(vc_pbjson_timestamp(0, 1000000000, buf, sizeof(buf)), VC_EINVAL);
    assert_int_equal(vc_pbjson_timestamp(0, 0, buf, 10), VC_EOVERFLOW);

    int64_t s;
    int32_t ns;
    assert_int_equal(vc_pbjson_parse_timestamp("2024-05-01T08:00:00Z", &s, &ns), 0);
    assert_int_equal(s, 1714550400);
    assert_int_equal(ns, 0);
    assert_int_equal(vc_pbjson_parse_timestamp("2024-05-01t16:00:00.25+08:00", &s, &ns), 0);
    assert_int_equal(s, 1714550400);
    assert_int_equal(ns, 250000000);
    assert_int_equal(vc_pbjson_parse_timestamp("2024-04-30T23:30:00-08:30", &s, &ns), 0);
    assert_int_equal(s, 1714550400);
    assert_int_equal(vc_pbjson_parse_timestamp("2000-02-29", &s, &ns), 0);
    assert_int_equal(s, 951782400);
    assert_int_equal(vc_pbjson_parse_timestamp("0001-01-01T00:00:00Z", &s, &ns), 0);
    assert_int_equal(s, -62135596800LL);
    assert_int_equal(vc_pbjson_parse_timestamp("1970-01-01T00:00:00.123456789Z", &s, &ns), 0);
    assert_int_equal(ns, 123456789);
    static const char *const bad[] = {
        "",
        "2024-5-01",
        "2023-02-29",
        "2024-13-01",
        "2024-04-31",
        "2024-05-01T08:00:00",
        "2024-05-01T24:00:00Z",
        "2024-05-01T08:00:60Z",
        "2024-05-01T08:00Z",
        "2024-05-01T08:00:00.Z",
        "2024-05-01T08:00:00.1234567890Z",
        "2024-05-01T08:00:00+0800",
        "2024-05-01T08:00:00Zjunk",
        "2024-05-01 08:00:00Z",
        "0001-01-01T00:00:00+00:01",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        s = 7;
        if (vc_pbjson_parse_timestamp(bad[i], &s, &ns) != VC_EINVAL)
            fail_msg("accepted %s", bad[i]);
        assert_int_equal(s, 7); /* untouched on failure */
    }
    /* Round trip across a range of instants. */
    for (int64_t t = -62135596800LL; t < 253402300799LL; t += 86399LL * 997) {
        assert_int_equal(vc_pbjson_timestamp(t, 0, buf, sizeof(buf)), 0);
        assert_int_equal(vc_pbjson_parse_timestamp(buf, &s, &ns), 0);
        assert_int_equal(s, t);
    }
}

static void test_proto2_presence_bytes_double(void **state)
{
    (void)state;
    Google__Protobuf__UninterpretedOption o = GOOGLE__PROTOBUF__UNINTERPRETED_OPTION__INIT;
    ASSERT_JSON(o, "{}");
    unsigned char raw[] = {0xff, 0x00, 'a', 'b'};
    o.has_string_value = 1;
    o.string_value.data = raw;
    o.string_value.len = sizeof(raw);
    o.has_positive_int_value = 1;
    o.positive_int_value = UINT64_MAX;
    o.has_negative_int_value = 1; /* explicit presence: written although 0 */
    o.has_double_value = 1;
    o.double_value = NAN;
    o.identifier_value = "x";
    ASSERT_JSON(o,
                "{\"identifierValue\":\"x\",\"positiveIntValue\":\"18446744073709551615\","
                "\"negativeIntValue\":\"0\",\"doubleValue\":\"NaN\",\"stringValue\":\"/wBhYg==\"}");
    o.double_value = -INFINITY;
    o.string_value.len = 1;
    o.has_positive_int_value = 0;
    o.has_negative_int_value = 0;
    o.identifier_value = NULL;
    ASSERT_JSON(o, "{\"doubleValue\":\"-Infinity\",\"stringValue\":\"/w==\"}");
    o.double_value = 1.5;
    o.string_value.len = 2;
    ASSERT_JSON(o, "{\"doubleValue\":1.5,\"stringValue\":\"/wA=\"}");
}

static void test_duration_field_mask(void **state)
{
    (void)state;
    Google__Protobuf__Duration d = GOOGLE__PROTOBUF__DURATION__INIT;
    ASSERT_JSON(d, "\"0s\"");
    d.seconds = 1;
    d.nanos = 500000000;
    ASSERT_JSON(d, "\"1.500s\"");
    d.seconds = 0;
    d.nanos = -1000;
    ASSERT_JSON(d, "\"-0.000001s\"");
    d.seconds = -3;
    d.nanos = -7;
    ASSERT_JSON(d, "\"-3.000000007s\"");
    d.nanos = 7; /* mixed signs are invalid: plain message */
    ASSERT_JSON(d, "{\"seconds\":\"-3\",\"nanos\":7}");

    Google__Protobuf__FieldMask m = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    char *paths[] = {"face_value_minor", "conditions.min_order_amount_minor", "name"};
    m.paths = paths;
    m.n_paths = 3;
    ASSERT_JSON(m, "\"faceValueMinor,conditions.minOrderAmountMinor,name\"");
    Reseller__V1__UpdateTemplateRequest u = RESELLER__V1__UPDATE_TEMPLATE_REQUEST__INIT;
    u.update_mask = &m;
    m.n_paths = 1;
    ASSERT_JSON(u, "{\"updateMask\":\"faceValueMinor\"}");
}

static void test_strings(void **state)
{
    (void)state;
    Reseller__V1__Template t = RESELLER__V1__TEMPLATE__INIT;
    t.name = "春季 \"100\"\n";
    ASSERT_JSON(t, "{\"name\":\"春季 \\\"100\\\"\\n\"}");
    t.name = "a\xff"
             "b\xe6\x98"; /* invalid UTF-8 becomes U+FFFD, not a failure */
    ASSERT_JSON(t, "{\"name\":\"a\xef\xbf\xbd"
                   "b\xef\xbf\xbd\xef\xbf\xbd\"}");
    t.name = "\xed\xa0\x80"; /* a UTF-16 surrogate is not UTF-8 */
    ASSERT_JSON(t, "{\"name\":\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"}");

    char buf[32];
    assert_int_equal(vc_pbjson_field_name("face_value_minor", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "faceValueMinor");
    assert_int_equal(vc_pbjson_field_name("a__b_2c", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "aB2c");
    assert_int_equal(vc_pbjson_field_name("face_value_minor", buf, 14), VC_EOVERFLOW);
    assert_string_equal(buf, "");
}

static void test_render_errors(void **state)
{
    (void)state;
    json_t *j = NULL;
    assert_int_equal(vc_pbjson_render(NULL, &j), VC_EINVAL);
    assert_null(j);
    Reseller__V1__Template t = RESELLER__V1__TEMPLATE__INIT;
    t.name = "n";
    assert_int_equal(vc_pbjson_render(&t.base, &j), 0);
    assert_string_equal(json_string_value(json_object_get(j, "name")), "n");
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_omitted),
        cmocka_unit_test(test_scalars_enums_repeated),
        cmocka_unit_test(test_oneof_and_timestamp),
        cmocka_unit_test(test_timestamp_text),
        cmocka_unit_test(test_proto2_presence_bytes_double),
        cmocka_unit_test(test_duration_field_mask),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_render_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
