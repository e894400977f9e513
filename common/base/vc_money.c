#include "base/vc_money.h"

#include "base/vc_err.h"

#include <stdio.h>
#include <string.h>

#define VC__MONEY_MAX_EXPONENT 4

bool vc_money_add(int64_t a, int64_t b, int64_t *out)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) return false;
    *out = r;
    return true;
}

bool vc_money_sub(int64_t a, int64_t b, int64_t *out)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r)) return false;
    *out = r;
    return true;
}

bool vc_money_mul(int64_t a, int64_t b, int64_t *out)
{
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r)) return false;
    *out = r;
    return true;
}

bool vc_currency_valid(const char *code)
{
    if (code == NULL) return false;
    for (int i = 0; i < 3; i++) {
        if (code[i] < 'A' || code[i] > 'Z') return false;
    }
    return code[3] == '\0';
}

/* ISO 4217 currencies whose minor unit is not 1/100. Kept sorted only for the reader. */
static const struct {
    char code[4];
    int exponent;
} vc__currency_exceptions[] = {
    {"BHD", 3}, {"BIF", 0}, {"CLF", 4}, {"CLP", 0}, {"DJF", 0}, {"GNF", 0}, {"IQD", 3},
    {"ISK", 0}, {"JOD", 3}, {"JPY", 0}, {"KMF", 0}, {"KRW", 0}, {"KWD", 3}, {"LYD", 3},
    {"OMR", 3}, {"PYG", 0}, {"RWF", 0}, {"TND", 3}, {"UGX", 0}, {"UYI", 0}, {"UYW", 4},
    {"VND", 0}, {"VUV", 0}, {"XAF", 0}, {"XOF", 0}, {"XPF", 0},
};

int vc_currency_exponent(const char *code)
{
    if (!vc_currency_valid(code)) return VC_EINVAL;
    for (size_t i = 0; i < sizeof(vc__currency_exceptions) / sizeof(vc__currency_exceptions[0]);
         i++) {
        if (memcmp(vc__currency_exceptions[i].code, code, 3) == 0)
            return vc__currency_exceptions[i].exponent;
    }
    return 2;
}

int vc_money_format(int64_t minor, const char *currency, char *buf, size_t n)
{
    if (buf == NULL || n == 0) return VC_EINVAL;
    buf[0] = '\0';
    int exp = vc_currency_exponent(currency);
    if (exp < 0) return exp;

    /* Work on the unsigned magnitude so INT64_MIN needs no special case. */
    uint64_t mag = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
    uint64_t scale = 1;
    for (int i = 0; i < exp; i++)
        scale *= 10;

    int len;
    if (exp == 0)
        len =
            snprintf(buf, n, "%s%llu %s", minor < 0 ? "-" : "", (unsigned long long)mag, currency);
    else
        len = snprintf(buf, n, "%s%llu.%0*llu %s", minor < 0 ? "-" : "",
                       (unsigned long long)(mag / scale), exp, (unsigned long long)(mag % scale),
                       currency);
    if (len < 0 || (size_t)len >= n) {
        buf[0] = '\0';
        return VC_EOVERFLOW;
    }
    return 0;
}

/* Accumulates decimal digits into *acc (acc = acc*10 + d), failing on uint64 overflow. */
static bool vc__push_digit(uint64_t *acc, char c)
{
    return !__builtin_mul_overflow(*acc, 10u, acc) &&
           !__builtin_add_overflow(*acc, (uint64_t)(c - '0'), acc);
}

static bool vc__is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int vc_money_parse(const char *s, int exponent, int64_t *out)
{
    if (s == NULL || out == NULL || exponent < 0 || exponent > VC__MONEY_MAX_EXPONENT)
        return VC_EINVAL;

    bool neg = false;
    if (*s == '-') {
        neg = true;
        s++;
    }
    if (!vc__is_digit(*s)) return VC_EINVAL;

    uint64_t mag = 0;
    bool overflow = false;
    for (; vc__is_digit(*s); s++)
        overflow = overflow || !vc__push_digit(&mag, *s);

    int decimals = 0;
    if (*s == '.') {
        s++;
        if (!vc__is_digit(*s)) return VC_EINVAL;
        for (; vc__is_digit(*s); s++, decimals++) {
            if (decimals >= exponent) return VC_EINVAL;
            overflow = overflow || !vc__push_digit(&mag, *s);
        }
    }
    if (*s != '\0') return VC_EINVAL;
    for (; decimals < exponent; decimals++)
        overflow = overflow || !vc__push_digit(&mag, '0');

    /* The negative range is one larger than the positive one. */
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX;
    if (overflow || mag > limit) return VC_EOVERFLOW;
    *out = neg ? (int64_t)((uint64_t)0 - mag) : (int64_t)mag;
    return 0;
}
