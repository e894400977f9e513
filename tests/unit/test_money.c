/* Unit tests for base/vc_money: checked arithmetic, currencies, strict text conversion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "base/vc_err.h"
#include "base/vc_money.h"

static void test_add_sub_edges(void **state)
{
    int64_t r = 42;
    assert_true(vc_money_add(1, 2, &r));
    assert_int_equal(r, 3);
    assert_true(vc_money_add(INT64_MAX - 1, 1, &r));
    assert_true(r == INT64_MAX);
    r = 42;
    assert_false(vc_money_add(INT64_MAX, 1, &r));
    assert_int_equal(r, 42); /* untouched on overflow */
    assert_false(vc_money_add(INT64_MIN, -1, &r));
    assert_true(vc_money_add(INT64_MIN, INT64_MAX, &r));
    assert_int_equal(r, -1);

    assert_true(vc_money_sub(0, INT64_MAX, &r));
    assert_true(r == -INT64_MAX);
    assert_false(vc_money_sub(0, INT64_MIN, &r));
    assert_false(vc_money_sub(INT64_MIN, 1, &r));
    assert_false(vc_money_sub(INT64_MAX, -1, &r));
    assert_true(vc_money_sub(-1, INT64_MAX, &r));
    assert_true(r == INT64_MIN);
}

static void test_mul_edges(void **state)
{
    int64_t r = 7;
    assert_true(vc_money_mul(1234, 100, &r));
    assert_int_equal(r, 123400);
    assert_false(vc_money_mul(INT64_MAX, 2, &r));
    assert_false(vc_money_mul(INT64_MIN, -1, &r));
    assert_false(vc_money_mul(INT64_MAX / 2 + 1, 2, &r));
    assert_int_equal(r, 123400);
    assert_true(vc_money_mul(INT64_MIN, 1, &r));
    assert_true(r == INT64_MIN);
    assert_true(vc_money_mul(-1, INT64_MAX, &r));
    assert_true(r == -INT64_MAX);
    assert_true(vc_money_mul(0, INT64_MIN, &r));
    assert_int_equal(r, 0);
}

static void test_currency(void **state)
{
    assert_true(vc_currency_valid("CNY"));
    assert_true(vc_currency_valid("USD"));
    assert_false(vc_currency_valid("cny"));
    assert_false(vc_currency_valid("CN"));
    assert_false(vc_currency_valid("CNYX"));
    assert_false(vc_currency_valid("C1Y"));
    assert_false(vc_currency_valid(""));
    assert_false(vc_currency_valid(NULL));

    assert_int_equal(vc_currency_exponent("CNY"), 2);
    assert_int_equal(vc_currency_exponent("USD"), 2);
    assert_int_equal(vc_currency_exponent("XYZ"), 2); /* unknown but well-formed */
    assert_int_equal(vc_currency_exponent("JPY"), 0);
    assert_int_equal(vc_currency_exponent("KRW"), 0);
    assert_int_equal(vc_currency_exponent("VND"), 0);
    assert_int_equal(vc_currency_exponent("BHD"), 3);
    assert_int_equal(vc_currency_exponent("KWD"), 3);
    assert_int_equal(vc_currency_exponent("CLF"), 4);
    assert_int_equal(vc_currency_exponent("jpy"), VC_EINVAL);
    assert_int_equal(vc_currency_exponent(NULL), VC_EINVAL);
}

static void test_format(void **state)
{
    char buf[VC_MONEY_FMT_MAX];
    assert_int_equal(vc_money_format(-1234, "CNY", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "-12.34 CNY");
    assert_int_equal(vc_money_format(5, "USD", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "0.05 USD");
    assert_int_equal(vc_money_format(-5, "USD", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "-0.05 USD");
    assert_int_equal(vc_money_format(0, "CNY", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "0.00 CNY");
    assert_int_equal(vc_money_format(1500, "JPY", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "1500 JPY");
    assert_int_equal(vc_money_format(1, "KWD", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "0.001 KWD");
    assert_int_equal(vc_money_format(INT64_MIN, "CNY", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "-92233720368547758.08 CNY");
    assert_int_equal(vc_money_format(INT64_MAX, "CNY", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "92233720368547758.07 CNY");
    assert_int_equal(vc_money_format(INT64_MIN, "JPY", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "-9223372036854775808 JPY");
    assert_int_equal(vc_money_format(INT64_MIN, "CLF", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "-922337203685477.5808 CLF");

    char tiny[8];
    assert_int_equal(vc_money_format(123456, "CNY", tiny, sizeof(tiny)), VC_EOVERFLOW);
    assert_string_equal(tiny, "");
    assert_int_equal(vc_money_format(1, "cny", buf, sizeof(buf)), VC_EINVAL);
    assert_int_equal(vc_money_format(1, "CNY", NULL, 10), VC_EINVAL);
}

static void test_parse_accepts(void **state)
{
    int64_t v = 0;
    assert_int_equal(vc_money_parse("12.34", 2, &v), 0);
    assert_int_equal(v, 1234);
    assert_int_equal(vc_money_parse("12.3", 2, &v), 0);
    assert_int_equal(v, 1230);
    assert_int_equal(vc_money_parse("12", 2, &v), 0);
    assert_int_equal(v, 1200);
    assert_int_equal(vc_money_parse("-0.05", 2, &v), 0);
    assert_int_equal(v, -5);
    assert_int_equal(vc_money_parse("-0", 2, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(vc_money_parse("007.10", 2, &v), 0);
    assert_int_equal(v, 710);
    assert_int_equal(vc_money_parse("1500", 0, &v), 0);
    assert_int_equal(v, 1500);
    assert_int_equal(vc_money_parse("1.234", 3, &v), 0);
    assert_int_equal(v, 1234);
    assert_int_equal(vc_money_parse("92233720368547758.07", 2, &v), 0);
    assert_true(v == INT64_MAX);
    assert_int_equal(vc_money_parse("-92233720368547758.08", 2, &v), 0);
    assert_true(v == INT64_MIN);
    assert_int_equal(vc_money_parse("-9223372036854775808", 0, &v), 0);
    assert_true(v == INT64_MIN);
}

static void test_parse_rejects(void **state)
{
    static const char *const bad[] = {"",     "-",   ".5",   "1.",   "1.234", "+1",    " 1",
                                      "1 ",   "1e3", "1,00", "0x10", "--1",   "1.2.3", "abc",
                                      "1.-2", "12a", "1.2 ", "\t1",  "-.5"};
    int64_t v = 99;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (vc_money_parse(bad[i], 2, &v) != VC_EINVAL) fail_msg("accepted \"%s\"", bad[i]);
    }
    assert_int_equal(v, 99);
    assert_int_equal(vc_money_parse("1.5", 0, &v), VC_EINVAL); /* no decimals in JPY */
    assert_int_equal(vc_money_parse("1", 5, &v), VC_EINVAL);
    assert_int_equal(vc_money_parse("1", -1, &v), VC_EINVAL);
    assert_int_equal(vc_money_parse(NULL, 2, &v), VC_EINVAL);

    assert_int_equal(vc_money_parse("92233720368547758.08", 2, &v), VC_EOVERFLOW);
    assert_int_equal(vc_money_parse("-92233720368547758.09", 2, &v), VC_EOVERFLOW);
    assert_int_equal(vc_money_parse("9223372036854775808", 0, &v), VC_EOVERFLOW);
    assert_int_equal(vc_money_parse("99999999999999999999999999", 0, &v), VC_EOVERFLOW);
    assert_int_equal(vc_money_parse("92233720368547758", 3, &v), VC_EOVERFLOW);
    /* Syntax errors win over overflow: the caller learns the input is wrong, not big. */
    assert_int_equal(vc_money_parse("99999999999999999999999x", 0, &v), VC_EINVAL);
    assert_int_equal(v, 99);
}

static void test_roundtrip(void **state)
{
    static const int64_t values[] = {
        0,         1,          -1,        99,        100,           -100,
        123456789, -987654321, INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1};
    static const char *const currencies[] = {"CNY", "JPY", "KWD", "CLF"};
    for (size_t c = 0; c < 4; c++) {
        int exp = vc_currency_exponent(currencies[c]);
        for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
            char buf[VC_MONEY_FMT_MAX];
            assert_int_equal(vc_money_format(values[i], currencies[c], buf, sizeof(buf)), 0);
            char *space = strchr(buf, ' ');
            assert_non_null(space);
            assert_string_equal(space + 1, currencies[c]);
            *space = '\0';
            int64_t back = 0;
            assert_int_equal(vc_money_parse(buf, exp, &back), 0);
            assert_true(back == values[i]);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_sub_edges), cmocka_unit_test(test_mul_edges),
        cmocka_unit_test(test_currency),      cmocka_unit_test(test_format),
        cmocka_unit_test(test_parse_accepts), cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
