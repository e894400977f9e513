/*
 * vc_code.h - paper-voucher redemption codes: 18 decimal digits, the first 17 drawn from the
 * kernel CSPRNG and the last a check digit (SPEC §5).
 *
 * Check digit: Damm's algorithm (H. M. Damm, 2004), not Luhn. Both cost a table lookup per digit,
 * but Damm detects every single-digit substitution AND every transposition of two adjacent
 * digits, while Luhn misses the transposition 09 <-> 90. Those are the two mistakes people make
 * when they copy a number off paper, so a typo is caught locally ("mistyped?") instead of being
 * sent to the server as a wrong guess that counts against the customer's throttle. The table is
 * a totally anti-symmetric quasigroup of order 10: each row and column is a permutation of 0-9
 * (a substituted digit always changes the result) and T[T[c][a]][b] != T[T[c][b]][a] for a != b
 * (a swapped pair always changes it). A code is valid when running the table over all 18 digits
 * ends in 0.
 *
 * Randomness: each random digit comes from one CSPRNG byte b, accepted only when b < 250 and
 * then taken as b % 10; bytes 250..255 are thrown away (rejection sampling), because 256 is not
 * a multiple of 10 and keeping them would make 0-5 more likely than 6-9. 17 uniform digits give
 * 10^17 codes, about 56.5 bits: guessing one of a batch's codes is hopeless, and wrong guesses
 * are also throttled by the service.
 *
 * Everything here is pure (no state besides the kernel's randomness, no allocation) and safe from
 * any thread. Errors are negative VC_E* codes (base/vc_err.h).
 */
#ifndef VC_CODE_H
#define VC_CODE_H

#include <stdbool.h>
#include <stddef.h>

/* Digits in a code; a code buffer is char[VC_CODE_LEN + 1] (NUL-terminated). */
#define VC_CODE_LEN 18
/* Random digits in front of the check digit. */
#define VC_CODE_RANDOM_DIGITS (VC_CODE_LEN - 1)

/* The Damm check digit (0-9) of n ASCII digits; VC_EINVAL if one of them is not a digit. */
int vc_code_damm(const char *digits, size_t n);

/* True when code is exactly VC_CODE_LEN digits whose check digit is right. */
bool vc_code_valid(const char *code);

/* Makes a new code into out. 0, or VC_EIO when the kernel gives no randomness. */
int vc_code_generate(char out[VC_CODE_LEN + 1]);

/* The deterministic core of vc_code_generate, for tests: builds a code from the random bytes
   rnd[0..n), using them in order and skipping the ones >= 250. *used (may be NULL) gets how
   many bytes it consumed. VC_EAGAIN when the bytes ran out before 17 digits were found (out is
   then ""). */
int vc_code_from_bytes(const unsigned char *rnd, size_t n, char out[VC_CODE_LEN + 1], size_t *used);

/* How people type codes: strips spaces and dashes (the printed form groups digits, e.g.
   "123456-789012-345678") and copies the rest into out. VC_EINVAL unless what is left is
   exactly VC_CODE_LEN ASCII digits (out is then ""). The check digit is not looked at. */
int vc_code_normalize(const char *in, char out[VC_CODE_LEN + 1]);

/* Writes the printed form, three groups of six digits joined by dashes, into out (at least
   VC_CODE_LEN + 3 bytes). VC_EINVAL for anything but VC_CODE_LEN digits. */
int vc_code_format(const char *code, char *out, size_t cap);

#endif
