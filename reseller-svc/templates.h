/*
 * templates.h - voucher templates (SPEC §2): the row type, the issuance hook and the
 * converters between the templates table and the reseller.v1 messages.
 *
 * A template is what every voucher issued from it looks like. It stays editable until the
 * first voucher (or redemption code) is issued from it; issued_count > 0 locks it for good.
 * `version` is the etag: every edit is one conditional UPDATE on (template_id, reseller_id,
 * version, issued_count = 0) that bumps it, and issuance bumps issued_count with a conditional
 * UPDATE on the same row (rs_template_lock_for_issue). The row lock orders the two, so an edit
 * racing an issue either commits first (the voucher copies the new terms) or fails.
 *
 * Columns <-> protobuf:
 *   funding, scope_kind, use_limit   the Reseller__V1__Funding / ProductScopeKind / UseLimit
 *                                    numbers (1 or 2; 0 never stored)
 *   product_codes, excluded_...      comma-separated product codes ("" = none). Codes are
 *                                    1..64 of [A-Za-z0-9_.-] and compared case-sensitively,
 *                                    so FIND_IN_SET(?, col COLLATE ascii_bin) is exact
 *   payment_modes                    bitmask RS_PAY_PREPAID | RS_PAY_POSTPAID
 *   validity                         validity_days (N days from activation) xor the fixed
 *                                    window valid_from_us..valid_until_us (both set)
 *
 * Threads: functions here keep no state; a vc_db_conn belongs to one thread (vc_db.h).
 * Memory: everything returned is allocated in the caller's arena (nothing to free). Errors:
 * 0 or a negative VC_E* code.
 */
#ifndef RS_TEMPLATES_H
#define RS_TEMPLATES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/vc_arena.h"
#include "db/vc_db.h"
#include "reseller/v1/types.pb-c.h"

/* Input limits (characters, not bytes, for the texts: the columns are utf8mb4 VARCHARs). */
#define RS_TEMPLATE_NAME_MAX    128
#define RS_TEMPLATE_REMARKS_MAX 1024
#define RS_FACE_VALUE_MAX       1000000000000LL
#define RS_PRODUCT_CODE_MAX     64
#define RS_PRODUCT_CODES_MAX    100 /* per list (covered or excluded) */
#define RS_VALIDITY_DAYS_MAX    3650
#define RS_PURCHASE_MONTHS_MAX  120

/* templates.payment_modes bits. */
#define RS_PAY_PREPAID  1u
#define RS_PAY_POSTPAID 2u

/* A template row as issuance needs it. String pointers point into the arena. name holds up to
   RS_TEMPLATE_NAME_MAX characters of UTF-8 (up to 4 bytes each). */
typedef struct rs_template {
    char template_id[41];
    char name[4 * RS_TEMPLATE_NAME_MAX + 1];
    int64_t face_value_minor;
    char currency_code[4];
    int funding;
    int scope_kind;
    char *product_codes;          /* comma-separated, "" when none */
    char *excluded_product_codes; /* comma-separated, "" when none */
    int payment_modes;            /* RS_PAY_* bits */
    bool has_days;                /* true: validity_days; false: the fixed window */
    int validity_days;
    int64_t valid_from_us, valid_until_us;
    int64_t min_order_minor;
    int min_purchase_months, max_purchase_months; /* 0 = no limit */
    int use_limit;
    int64_t version; /* the etag */
    int64_t issued_count;
    /* Not needed by issuance, carried for the Template message: */
    char *remarks;
    int64_t created_us, updated_us;
} rs_template;

/* Locks the template for issuing n (>= 0) vouchers or codes: UPDATE templates SET issued_count
   = issued_count + n WHERE template_id = ? AND reseller_id = ?, then reads it under that row
   lock into *out (its issued_count includes the n). Call inside the caller's transaction; the
   lock is held until it ends, so a concurrent UpdateTemplate waits and then fails
   (FAILED_PRECONDITION), or committed before and *out has its terms. VC_ENOENT when the
   template does not exist for this reseller, VC_EINVAL for n < 0, VC_E* from the database. */
int rs_template_lock_for_issue(vc_db_conn *c, vc_arena *a, const char *reseller_id,
                               const char *template_id, int64_t n, rs_template *out);

/* Reads one template of the reseller (no lock). VC_ENOENT when unknown or another reseller's. */
int rs_template_get(vc_db_conn *c, vc_arena *a, const char *reseller_id, const char *template_id,
                    rs_template *out);

/* Builds the Template message of a row, with the output-only fields (state, issued_count, etag
   = decimal version, times). Everything is copied into the arena, so `t` may be a stack
   object. 0 or VC_ENOMEM. */
int rs_template_to_pb(vc_arena *a, const char *reseller_id, const rs_template *t,
                      Reseller__V1__Template **out);

/* Column converters, shared with the voucher code (vouchers copy these columns). Each
   allocates in the arena and returns 0 or VC_ENOMEM. */
int rs_scope_to_pb(vc_arena *a, int kind, const char *codes, const char *excluded,
                   Reseller__V1__ProductScope **out);
/* has_days: days_after_activation = days; else fixed_window [from_us, until_us). */
int rs_validity_to_pb(vc_arena *a, bool has_days, int days, int64_t from_us, int64_t until_us,
                      Reseller__V1__Validity **out);
int rs_conditions_to_pb(vc_arena *a, int64_t min_order_minor, int min_months, int max_months,
                        int use_limit, Reseller__V1__UsageConditions **out);
/* PREPAID/POSTPAID values to RS_PAY_* bits (other values are ignored: validate first). */
unsigned rs_payment_modes_mask(const Reseller__V1__PaymentMode *modes, size_t n);
/* RS_PAY_* bits to the repeated enum, PREPAID first. */
int rs_payment_modes_to_pb(vc_arena *a, unsigned mask, Reseller__V1__PaymentMode **modes,
                           size_t *n);
/* Splits a comma-separated column into an arena array (*n = 0 and *out = NULL for ""). */
int rs_codes_split(vc_arena *a, const char *list, char ***out, size_t *n);
/* Joins codes with commas into an arena string ("" for none). NULL on ENOMEM. */
char *rs_codes_join(vc_arena *a, char *const *codes, size_t n);

#endif
