/*
 * vc_auth.h - who is calling: HS256 JWT bearer tokens (libjwt).
 *
 * Every RPC carries "authorization: Bearer <jwt>". vc_auth_verify() checks the token against
 * the shared secret and turns its claims into a vc_caller, which handlers use for role checks
 * and tenant scoping. vc_auth_mint() makes tokens (tools, tests, service-to-service calls).
 *
 * Token claims:
 *   iss            "vcplatform" (required)
 *   sub            subject, e.g. an operator or account id (required, < 128 bytes)
 *   role           "reseller" | "customer" | "billing" | "staff" | "service" (required)
 *   reseller_id    tenant (required for reseller and customer tokens, < 64 bytes)
 *   customer_id    customer account (required for customer tokens, < 64 bytes)
 *   customer_role  "owner" | "collaborator" (customer tokens; absent = collaborator)
 *   perms          array of strings; "finance" marks a collaborator allowed to use vouchers
 *   iat, exp, nbf  NumericDate seconds; exp required, nbf optional; 30 s leeway for clock skew
 * Only {"alg":"HS256"} is accepted: "none", other HMAC sizes and public-key algorithms are
 * refused before any signature check, so an attacker cannot pick the algorithm.
 *
 * Thread-safety: a vc_auth is immutable after vc_auth_new(); any number of threads may call
 * vc_auth_verify() and vc_auth_mint() on it concurrently. Each call uses its own libjwt and
 * jansson objects; vc_auth_new() performs the one-time library initialisation (jansson's hash
 * seed) so that it never races on a worker thread.
 */
#ifndef VC_AUTH_H
#define VC_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum vc_role {
    VC_ROLE_NONE = 0,
    VC_ROLE_RESELLER = 1 << 0,
    VC_ROLE_CUSTOMER = 1 << 1,
    VC_ROLE_BILLING = 1 << 2,
    VC_ROLE_STAFF = 1 << 3,
    VC_ROLE_SERVICE = 1 << 4,
} vc_role;

/* The authenticated caller. Strings are NUL-terminated and empty when absent. Fields that do
 * not apply to the role are empty/false: only reseller and customer callers have reseller_id,
 * only customers have customer_id, owner and finance. */
typedef struct vc_caller {
    vc_role role;
    char subject[128];
    char reseller_id[64]; /* tenant: reseller callers and customers (the customer's reseller) */
    char customer_id[64]; /* customer callers: the customer account */
    bool owner;           /* customer: account owner (else a collaborator) */
    bool finance;         /* customer collaborator with the finance permission */
} vc_caller;

/* Key material shorter than this is refused: HS256 wants at least its 256-bit output size. */
#define VC_AUTH_MIN_KEY 32

/* Default token lifetime for minted tokens when the caller has no better idea. */
#define VC_AUTH_DEFAULT_TTL 3600

typedef struct vc_auth vc_auth;

/* Loads the signing secret from exactly one of secret (the bytes of the string) or secret_file
 * (the file's contents with trailing "\n"/"\r\n" stripped); an empty string counts as unset.
 * On success *key is a heap copy (caller frees with free()) of *len bytes.
 * Errors: VC_EINVAL (neither or both given, or shorter than VC_AUTH_MIN_KEY), VC_ENOENT (no such
 * file), VC_EIO (unreadable or larger than 64 KiB), VC_ENOMEM. */
int vc_auth_load_secret(const char *secret, const char *secret_file, unsigned char **key,
                        size_t *len);

/* Creates a verifier/minter holding a copy of key (the caller keeps ownership of key).
 * VC_EINVAL if len < VC_AUTH_MIN_KEY, VC_ENOMEM. Free with vc_auth_free(). */
int vc_auth_new(const unsigned char *key, size_t len, vc_auth **out);

/* Wipes the key copy and frees a. NULL is ignored. */
void vc_auth_free(vc_auth *a);

/* Verifies authorization, the value of the "authorization" metadata ("Bearer <jwt>"; the
 * scheme is case-insensitive). Returns 0 and fills *out, or VC_EAUTH with *out zeroed and
 * *reason (if reason is not NULL) set to a static, log-safe explanation such as
 * "missing bearer token", "malformed token", "unsupported algorithm", "bad signature",
 * "token expired", "token not yet valid", "wrong issuer", "unknown role", "missing reseller_id".
 * Never put the token itself in logs. */
int vc_auth_verify(const vc_auth *a, const char *authorization, vc_caller *out,
                   const char **reason);

/* Mints an HS256 token for c valid ttl_seconds (> 0) from now, with the claims above.
 * *token is a NUL-terminated heap string, caller frees with free().
 * VC_EINVAL if c is not something vc_auth_verify() would accept (no subject, unknown role,
 * missing reseller_id/customer_id) or ttl_seconds <= 0; VC_ENOMEM. */
int vc_auth_mint(const vc_auth *a, const vc_caller *c, int64_t ttl_seconds, char **token);

/* "reseller", "customer", "billing", "staff", "service"; "none" for VC_ROLE_NONE and "unknown"
 * for anything else. Never NULL. */
const char *vc_role_name(vc_role r);

/* Inverse of vc_role_name() for the five real roles (exact, lower case): 0 or VC_EINVAL. */
int vc_role_parse(const char *s, vc_role *out);

#endif
