/*
 * vc_money.h - money as int64 minor units (cents, fen, yen), never floating point.
 *
 * Every amount on a money path is an int64_t count of the currency's minor unit plus, where it
 * matters, a 3-letter ISO 4217 code. Arithmetic goes through the checked helpers below so an
 * overflow is an error the caller sees, never a silent wrap. Text conversion (format/parse) is
 * for humans and CLIs; the wire format is always the integer.
 *
 * Thread-safety: every function is pure (no state, no allocation) and safe from any thread.
 */
#ifndef VC_MONEY_H
#define VC_MONEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest text vc_money_format() can produce, NUL included: "-9223372036854775808" with a
 * decimal point, a space and a 3-letter code. */
#define VC_MONEY_FMT_MAX 32

/* Checked arithmetic: *out = a op b and true, or false on int64 overflow (*out left unchanged). */
bool vc_money_add(int64_t a, int64_t b, int64_t *out);
bool vc_money_sub(int64_t a, int64_t b, int64_t *out);
bool vc_money_mul(int64_t a, int64_t b, int64_t *out);

/* True if code is exactly 3 ASCII upper-case letters. Says nothing about whether ISO 4217 knows
 * the code: the platform accepts any well-formed code and treats unknown ones as 2-decimal. */
bool vc_currency_valid(const char *code);

/* Number of minor-unit digits of a currency: 0 (JPY, KRW, VND, ...), 3 (BHD, KWD, OMR, ...),
 * 4 (CLF, UYW) or 2 for everything else. VC_EINVAL if !vc_currency_valid(code). */
int vc_currency_exponent(const char *code);

/* Writes "<amount> <code>" into buf, e.g. -1234 CNY -> "-12.34 CNY", 1500 JPY -> "1500 JPY".
 * Returns 0, VC_EINVAL for a NULL buf or an invalid code, VC_EOVERFLOW if n is too small
 * (VC_MONEY_FMT_MAX always suffices; buf then holds ""). */
int vc_money_format(int64_t minor, const char *currency, char *buf, size_t n);

/* Strict decimal parser for human input: "12.34" with exponent 2 -> 1234, "12.3" -> 1230,
 * "-0.05" -> -5, "12" -> 1200. Accepts an optional leading '-', at least one digit before the
 * point and, if there is a point, 1..exponent digits after it. Rejects whitespace, '+', "1.",
 * ".5", exponents, thousands separators and more decimals than the currency has (VC_EINVAL);
 * values outside int64 give VC_EOVERFLOW. exponent must be 0..4. *out is set only on success. */
int vc_money_parse(const char *s, int exponent, int64_t *out);

#endif
