/* vc_code.c - redemption codes: Damm check digit, CSPRNG digits without modulo bias. */
#include "base/vc_code.h"

#include <string.h>

#include "base/vc_err.h"
#include "base/vc_id.h"

/* Damm's totally anti-symmetric quasigroup of order 10 (row = interim digit, column = next
   digit). tests/unit/test_codes.c proves both properties over the whole table. */
static const unsigned char vc__damm[10][10] = {
    {0, 3, 1, 7, 5, 9, 8, 6, 4, 2}, {7, 0, 9, 2, 1, 5, 4, 8, 6, 3}, {4, 2, 0, 6, 8, 7, 1, 3, 5, 9},
    {1, 7, 5, 0, 9, 8, 3, 4, 2, 6}, {6, 1, 2, 3, 0, 4, 5, 9, 7, 8}, {3, 6, 7, 4, 2, 0, 9, 5, 8, 1},
    {5, 8, 6, 9, 7, 2, 0, 1, 3, 4}, {8, 9, 4, 5, 3, 6, 2, 0, 1, 7}, {9, 4, 3, 8, 6, 1, 7, 2, 0, 5},
    {2, 5, 8, 1, 4, 3, 6, 7, 9, 0},
};

/* Largest multiple of 10 that fits a byte: bytes from here on would bias the digits. */
#define VC__BYTE_LIMIT 250

static bool vc__is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

int vc_code_damm(const char *digits, size_t n)
{
    unsigned interim = 0;
    for (size_t i = 0; i < n; i++) {
        if (!vc__is_digit(digits[i])) return VC_EINVAL;
        interim = vc__damm[interim][digits[i] - '0'];
    }
    return (int)interim;
}

bool vc_code_valid(const char *code)
{
    if (!code || strlen(code) != VC_CODE_LEN) return false;
    /* Appending the check digit makes the interim 0 (the diagonal of the table is 0). */
    return vc_code_damm(code, VC_CODE_LEN) == 0;
}

int vc_code_from_bytes(const unsigned char *rnd, size_t n, char out[VC_CODE_LEN + 1], size_t *used)
{
    size_t got = 0, i = 0;
    for (; i < n && got < VC_CODE_RANDOM_DIGITS; i++)
        if (rnd[i] < VC__BYTE_LIMIT) out[got++] = (char)('0' + rnd[i] % 10);
    if (used) *used = i;
    if (got < VC_CODE_RANDOM_DIGITS) {
        out[0] = '\0';
        return VC_EAGAIN;
    }
    out[VC_CODE_RANDOM_DIGITS] = (char)('0' + vc_code_damm(out, VC_CODE_RANDOM_DIGITS));
    out[VC_CODE_LEN] = '\0';
    return 0;
}

int vc_code_generate(char out[VC_CODE_LEN + 1])
{
    /* 17 digits need 17 accepted bytes; 6 of 256 are rejected, so 32 bytes nearly always do
       (a shortfall has probability below 1e-20 and just draws a fresh buffer). */
    unsigned char rnd[32];
    for (;;) {
        int rc = vc_random_bytes(rnd, sizeof(rnd));
        if (rc != 0) {
            out[0] = '\0';
            return rc;
        }
        rc = vc_code_from_bytes(rnd, sizeof(rnd), out, NULL);
        if (rc != VC_EAGAIN) {
            memset(rnd, 0, sizeof(rnd));
            return rc;
        }
    }
}

int vc_code_normalize(const char *in, char out[VC_CODE_LEN + 1])
{
    size_t n = 0;
    out[0] = '\0';
    if (!in) return VC_EINVAL;
    for (const char *p = in; *p; p++) {
        if (*p == ' ' || *p == '-') continue;
        if (!vc__is_digit(*p) || n == VC_CODE_LEN) {
            out[0] = '\0';
            return VC_EINVAL;
        }
        out[n++] = *p;
    }
    out[n] = '\0';
    if (n != VC_CODE_LEN) {
        out[0] = '\0';
        return VC_EINVAL;
    }
    return 0;
}

int vc_code_format(const char *code, char *out, size_t cap)
{
    if (!code || strlen(code) != VC_CODE_LEN || vc_code_damm(code, VC_CODE_LEN) < 0 ||
        cap < VC_CODE_LEN + 3)
        return VC_EINVAL;
    size_t o = 0;
    for (size_t i = 0; i < VC_CODE_LEN; i++) {
        if (i && i % 6 == 0) out[o++] = '-';
        out[o++] = code[i];
    }
    out[o] = '\0';
    return 0;
}
