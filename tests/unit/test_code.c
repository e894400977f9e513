/*
 * unit.code - redemption codes (base/vc_code.h): format, the Damm check digit's guarantees (every
 * single digit change and every adjacent transposition is caught, proved on the table and shown
 * exhaustively on sample codes), normalisation of typed input, and the digit distribution
 * (exactly uniform by construction on a full byte cycle; sane on real CSPRNG output).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/vc_code.h"
#include "base/vc_err.h"

static int all_digits(const char *s)
{
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

static void test_generated_format(void **state)
{
    (void)state;
    for (int i = 0; i < 2000; i++) {
        char code[VC_CODE_LEN + 1];
        assert_int_equal(vc_code_generate(code), 0);
        assert_int_equal(strlen(code), VC_CODE_LEN);
        assert_true(all_digits(code));
        assert_true(vc_code_valid(code));
        assert_int_equal(code[17] - '0', vc_code_damm(code, 17));
    }
}

static void test_known_values(void **state)
{
    (void)state;
    /* Damm's worked example: 572 gets check digit 4. */
    assert_int_equal(vc_code_damm("572", 3), 4);
    assert_int_equal(vc_code_damm("5724", 4), 0);
    assert_int_equal(vc_code_damm("", 0), 0);
    assert_int_equal(vc_code_damm("12a", 3), VC_EINVAL);
    assert_true(vc_code_valid("000000000000000000"));
    assert_false(vc_code_valid("000000000000000001"));
    assert_false(vc_code_valid("00000000000000000"));   /* 17 digits */
    assert_false(vc_code_valid("0000000000000000000")); /* 19 digits */
    assert_false(vc_code_valid("00000000000000000x"));
    assert_false(vc_code_valid(NULL));
}

/* The one-digit prefix whose interim value is c (the first row is a permutation). */
static char prefix_for(int c)
{
    for (char d = '0'; d <= '9'; d++)
        if (vc_code_damm(&d, 1) == c) return d;
    fail_msg("no prefix for interim %d", c);
    return 0;
}

/* The table's properties, over every case: rows are permutations (the digit being typed wrong
   changes the interim), columns are permutations (a difference carries through every later
   digit), and T[T[c][a]][b] != T[T[c][b]][a] for a != b (an adjacent swap changes it). */
static void test_table_properties(void **state)
{
    (void)state;
    for (int c = 0; c < 10; c++) {
        char p = prefix_for(c);
        for (int a = 0; a < 10; a++)
            for (int b = 0; b < 10; b++) {
                if (a == b) continue;
                char x[4] = {p, (char)('0' + a), (char)('0' + b), 0};
                char y[4] = {p, (char)('0' + b), (char)('0' + a), 0};
                assert_int_not_equal(vc_code_damm(x, 3), vc_code_damm(y, 3));
                assert_int_not_equal(vc_code_damm(x, 2), vc_code_damm(y, 2));
            }
    }
    for (int c1 = 0; c1 < 10; c1++)
        for (int c2 = 0; c2 < 10; c2++) {
            if (c1 == c2) continue;
            for (int d = 0; d < 10; d++) {
                char x[3] = {prefix_for(c1), (char)('0' + d), 0};
                char y[3] = {prefix_for(c2), (char)('0' + d), 0};
                assert_int_not_equal(vc_code_damm(x, 2), vc_code_damm(y, 2));
            }
        }
    /* The diagonal is 0: appending the check digit always makes a valid code. */
    for (int c = 0; c < 10; c++) {
        char x[3] = {prefix_for(c), (char)('0' + c), 0};
        assert_int_equal(vc_code_damm(x, 2), 0);
    }
}

/* On sample codes, exhaustively: each of the 18 positions changed to each of the 9 other
   digits, and each of the 17 adjacent pairs swapped (when the digits differ). */
static void test_catches_typos_exhaustively(void **state)
{
    (void)state;
    int checked_subst = 0, checked_swaps = 0;
    for (int s = 0; s < 500; s++) {
        char code[VC_CODE_LEN + 1];
        assert_int_equal(vc_code_generate(code), 0);
        for (int pos = 0; pos < VC_CODE_LEN; pos++) {
            for (char d = '0'; d <= '9'; d++) {
                if (d == code[pos]) continue;
                char typo[VC_CODE_LEN + 1];
                memcpy(typo, code, sizeof(typo));
                typo[pos] = d;
                if (vc_code_valid(typo)) fail_msg("substitution not caught: %s -> %s", code, typo);
                checked_subst++;
            }
        }
        for (int pos = 0; pos + 1 < VC_CODE_LEN; pos++) {
            if (code[pos] == code[pos + 1]) continue;
            char typo[VC_CODE_LEN + 1];
            memcpy(typo, code, sizeof(typo));
            typo[pos] = code[pos + 1];
            typo[pos + 1] = code[pos];
            if (vc_code_valid(typo)) fail_msg("transposition not caught: %s -> %s", code, typo);
            checked_swaps++;
        }
    }
    assert_int_equal(checked_subst, 500 * VC_CODE_LEN * 9);
    assert_true(checked_swaps > 500 * 14);
    /* The pair Luhn cannot see: 09 <-> 90. */
    char code[VC_CODE_LEN + 1] = "09000000000000000";
    code[17] = (char)('0' + vc_code_damm(code, 17));
    code[18] = 0;
    assert_true(vc_code_valid(code));
    code[0] = '9';
    code[1] = '0';
    assert_false(vc_code_valid(code));
}

static void test_normalize(void **state)
{
    (void)state;
    char out[VC_CODE_LEN + 1];
    assert_int_equal(vc_code_normalize("123456-789012-345678", out), 0);
    assert_string_equal(out, "123456789012345678");
    assert_int_equal(vc_code_normalize(" 1234 5678 9012 3456 78 ", out), 0);
    assert_string_equal(out, "123456789012345678");
    assert_int_equal(vc_code_normalize("12345678901234567", out), VC_EINVAL); /* 17 */
    assert_string_equal(out, "");
    assert_int_equal(vc_code_normalize("1234567890123456789", out), VC_EINVAL); /* 19 */
    assert_int_equal(vc_code_normalize("12345678901234567a", out), VC_EINVAL);
    assert_int_equal(vc_code_normalize("123456789012345678\n", out), VC_EINVAL);
    assert_int_equal(vc_code_normalize("１23456789012345678", out), VC_EINVAL); /* full-width */
    assert_int_equal(vc_code_normalize("", out), VC_EINVAL);
    assert_int_equal(vc_code_normalize("- -", out), VC_EINVAL);
    assert_int_equal(vc_code_normalize(NULL, out), VC_EINVAL);
    /* A long run of digits stops at the 19th, never writing past out. */
    assert_int_equal(vc_code_normalize("1111111111111111111111111111111111111111", out), VC_EINVAL);
}

static void test_format(void **state)
{
    (void)state;
    char out[32];
    assert_int_equal(vc_code_format("123456789012345678", out, sizeof(out)), 0);
    assert_string_equal(out, "123456-789012-345678");
    char back[VC_CODE_LEN + 1];
    assert_int_equal(vc_code_normalize(out, back), 0);
    assert_string_equal(back, "123456789012345678");
    assert_int_equal(vc_code_format("123456789012345678", out, 20), VC_EINVAL); /* too small */
    assert_int_equal(vc_code_format("12345678901234567", out, sizeof(out)), VC_EINVAL);
    assert_int_equal(vc_code_format("12345678901234567x", out, sizeof(out)), VC_EINVAL);
}

/* Deterministic: over a full cycle of byte values 0..249, each digit appears exactly 25 times
   per position; 250..255 are skipped (no modulo bias), and running out of bytes is reported. */
static void test_rejection_sampling_is_exact(void **state)
{
    (void)state;
    unsigned char rnd[256 * 17];
    for (size_t i = 0; i < sizeof(rnd); i++)
        rnd[i] = (unsigned char)(i % 256);
    long count[10] = {0};
    size_t off = 0;
    int codes = 0;
    while (off < sizeof(rnd)) {
        char code[VC_CODE_LEN + 1];
        size_t used = 0;
        int rc = vc_code_from_bytes(rnd + off, sizeof(rnd) - off, code, &used);
        if (rc == VC_EAGAIN) {
            assert_string_equal(code, "");
            assert_int_equal(used, sizeof(rnd) - off);
            break;
        }
        assert_int_equal(rc, 0);
        assert_true(vc_code_valid(code));
        for (int i = 0; i < VC_CODE_RANDOM_DIGITS; i++)
            count[code[i] - '0']++;
        off += used;
        codes++;
    }
    /* 17 cycles of 250 accepted bytes = 4250 digits = 250 codes exactly. */
    assert_int_equal(codes, 250);
    for (int d = 0; d < 10; d++)
        assert_int_equal(count[d], 425);
    /* Only rejected bytes: nothing comes out. */
    unsigned char high[64];
    memset(high, 250, sizeof(high));
    char code[VC_CODE_LEN + 1];
    size_t used = 0;
    assert_int_equal(vc_code_from_bytes(high, sizeof(high), code, &used), VC_EAGAIN);
    assert_int_equal(used, sizeof(high));
    /* 255s interleaved are skipped, the rest map b % 10. */
    unsigned char mixed[40];
    for (size_t i = 0; i < sizeof(mixed); i++)
        mixed[i] = i % 2 ? 255 : (unsigned char)(240 + i / 2 % 10);
    assert_int_equal(vc_code_from_bytes(mixed, sizeof(mixed), code, &used), 0);
    assert_int_equal(used, 33);
    assert_memory_equal(code, "01234567890123456", 17);
}

/* Real CSPRNG output: digit frequencies per position pass a chi-square test with a threshold
   so loose (p < 1e-12 for 9 degrees of freedom) that a failure means a real bias; codes do not
   repeat. */
static int cmp_codes(const void *a, const void *b)
{
    return memcmp(a, b, VC_CODE_LEN + 1);
}

static void test_distribution_sanity(void **state)
{
    (void)state;
    enum { N = 20000 };
    char(*codes)[VC_CODE_LEN + 1] = calloc(N, VC_CODE_LEN + 1);
    assert_non_null(codes);
    long count[VC_CODE_RANDOM_DIGITS][10];
    memset(count, 0, sizeof(count));
    for (int i = 0; i < N; i++) {
        assert_int_equal(vc_code_generate(codes[i]), 0);
        for (int p = 0; p < VC_CODE_RANDOM_DIGITS; p++)
            count[p][codes[i][p] - '0']++;
    }
    double expected = N / 10.0;
    for (int p = 0; p < VC_CODE_RANDOM_DIGITS; p++) {
        double chi2 = 0;
        for (int d = 0; d < 10; d++)
            chi2 += (count[p][d] - expected) * (count[p][d] - expected) / expected;
        if (chi2 > 75.0) fail_msg("position %d: chi-square %.1f", p, chi2);
    }
    qsort(codes, N, VC_CODE_LEN + 1, cmp_codes);
    for (int i = 1; i < N; i++)
        assert_string_not_equal(codes[i - 1], codes[i]);
    free(codes);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generated_format),
        cmocka_unit_test(test_known_values),
        cmocka_unit_test(test_table_properties),
        cmocka_unit_test(test_catches_typos_exhaustively),
        cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_rejection_sampling_is_exact),
        cmocka_unit_test(test_distribution_sanity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
